//! The outbound policy's HTTP client as a transport: by in-process Tor, a SOCKS5 proxy, or
//! directly, as `[net]` (or the remote's own `transport`) says.

use bytes::Bytes;
use futures_util::StreamExt as _;

use super::{BoxFuture, ResponseBody, Transport};
use crate::Error;

impl Transport for sov_net::Http {
    fn name(&self) -> &'static str {
        self.route().name()
    }

    fn send(&self, request: http::Request<Bytes>) -> BoxFuture<'_, Result<http::Response<ResponseBody>, Error>> {
        Box::pin(async move {
            let response = sov_net::Http::send(self, request).await?;
            let (parts, body) = response.into_parts();
            let body = ResponseBody::from_stream(body.map(|chunk| chunk.map_err(Error::from)));
            Ok(http::Response::from_parts(parts, body))
        })
    }
}
