//! The direct transport: plain TCP (and TLS) from this machine to the provider. Development only.

use bytes::Bytes;

use super::{BoxFuture, ResponseBody, Timeouts, Transport, client_builder, execute, target};
use crate::Error;
use crate::error::chain;

/// Connects straight to the provider. **For development only**: the provider (and everyone on the
/// path) sees this machine's IP address, and host names are resolved by the local resolver.
///
/// Connections are pooled and may be reused across requests, which links them too. Use
/// [`Socks5`](super::Socks5) for private remote inference.
#[derive(Debug, Clone)]
pub struct Direct {
    client: reqwest::Client,
}

impl Direct {
    /// Creates the transport with default [`Timeouts`], logging a warning that it reveals the IP.
    ///
    /// # Errors
    /// [`Error::ClientBuild`] if the TLS backend cannot be initialised.
    pub fn insecure_dev() -> Result<Self, Error> {
        Self::insecure_dev_with_timeouts(Timeouts::default())
    }

    /// Creates the transport with the given timeouts, logging a warning that it reveals the IP.
    ///
    /// # Errors
    /// [`Error::ClientBuild`] if the TLS backend cannot be initialised.
    pub fn insecure_dev_with_timeouts(timeouts: Timeouts) -> Result<Self, Error> {
        tracing::warn!(
            "DIRECT TRANSPORT IN USE - FOR DEVELOPMENT ONLY: requests go straight to the provider \
             and reveal this machine's IP address; use the SOCKS5 transport (Tor or Nym) for \
             private remote inference"
        );
        let client = client_builder(&timeouts).no_proxy().build().map_err(|e| Error::ClientBuild(chain(&e)))?;
        Ok(Self { client })
    }
}

impl Transport for Direct {
    fn name(&self) -> &'static str {
        "direct"
    }

    fn send(&self, request: http::Request<Bytes>) -> BoxFuture<'_, Result<http::Response<ResponseBody>, Error>> {
        Box::pin(async move {
            let host = target(request.uri())?;
            tracing::debug!(transport = "direct", %host, "sending request");
            execute(&self.client, request, host, |e, host| async move {
                if e.is_timeout() {
                    Error::Timeout { host }
                } else if e.is_connect() {
                    Error::Connect { host, reason: chain(&e) }
                } else {
                    Error::Http { host, reason: chain(&e) }
                }
            })
            .await
        })
    }
}
