//! The SOCKS5 transport: every request through a local SOCKS5 proxy (Tor, a Nym client), with
//! per-request stream isolation and remote DNS, and no direct fallback.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::{BoxFuture, ResponseBody, Timeouts, Transport, client_builder, execute, target};
use crate::Error;
use crate::error::chain;

/// How requests are kept apart at the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StreamIsolation {
    /// Fresh random SOCKS5 username and password for every request (only the username/password
    /// method is offered, so a proxy cannot silently skip it). Tor's `IsolateSOCKSAuth` (on by
    /// default) then puts each request on its own circuit, so the provider and exits cannot link
    /// requests by circuit.
    #[default]
    PerRequestCredentials,
    /// No authentication (SOCKS5 method "no authentication required"). Tor then lets requests
    /// share circuits, which makes them linkable. Only for proxies that refuse username/password
    /// authentication or isolate by other means.
    Off,
}

/// Sends each request through a SOCKS5 proxy, never directly.
///
/// - The host name is handed to the proxy (`socks5h`): nothing is resolved locally.
/// - Each request gets a fresh HTTP client (no connection reuse) and, by default, fresh random
///   SOCKS credentials ([`StreamIsolation::PerRequestCredentials`]).
/// - If the proxy cannot be reached the request fails with [`Error::ProxyUnreachable`] naming the
///   proxy; nothing is sent by another route.
#[derive(Debug, Clone)]
pub struct Socks5 {
    proxy: SocketAddr,
    isolation: StreamIsolation,
    timeouts: Timeouts,
}

impl Socks5 {
    /// A transport through the SOCKS5 proxy at `proxy` (e.g. Tor's `127.0.0.1:9050`), with
    /// per-request isolation and default [`Timeouts`].
    pub fn new(proxy: SocketAddr) -> Self {
        Self { proxy, isolation: StreamIsolation::default(), timeouts: Timeouts::default() }
    }

    /// Sets the isolation mode; [`StreamIsolation::Off`] logs a warning.
    #[must_use]
    pub fn with_isolation(mut self, isolation: StreamIsolation) -> Self {
        if isolation == StreamIsolation::Off {
            tracing::warn!(
                proxy = %self.proxy,
                "SOCKS5 stream isolation is off: requests may share a circuit and be linked"
            );
        }
        self.isolation = isolation;
        self
    }

    /// Sets the timeouts.
    #[must_use]
    pub fn with_timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The proxy's address.
    pub fn proxy(&self) -> SocketAddr {
        self.proxy
    }

    /// The isolation mode.
    pub fn isolation(&self) -> StreamIsolation {
        self.isolation
    }

    /// The proxy URL for one request (with fresh credentials when isolating).
    fn proxy_url(&self) -> Result<String, Error> {
        Ok(match self.isolation {
            StreamIsolation::PerRequestCredentials => {
                let mut creds = [0u8; 32];
                crate::random(&mut creds)?;
                let (user, pass) = creds.split_at(16);
                format!("socks5h://{}:{}@{}", hex::encode(user), hex::encode(pass), self.proxy)
            }
            StreamIsolation::Off => format!("socks5h://{}", self.proxy),
        })
    }

    fn client(&self) -> Result<reqwest::Client, Error> {
        // An explicit proxy disables reqwest's environment proxies, and with no `NoProxy` list
        // every host goes through it.
        let proxy = reqwest::Proxy::all(self.proxy_url()?).map_err(|e| Error::ClientBuild(chain(&e)))?;
        client_builder(&self.timeouts)
            .proxy(proxy)
            .pool_max_idle_per_host(0)
            .build()
            .map_err(|e| Error::ClientBuild(chain(&e)))
    }
}

/// Whether a TCP connection to the proxy can be opened now (to tell "proxy down" apart from "the
/// proxy could not reach the provider" after a failure).
async fn proxy_reachable(proxy: SocketAddr) -> Result<(), String> {
    match tokio::time::timeout(Duration::from_secs(5), tokio::net::TcpStream::connect(proxy)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("connection attempt timed out".to_owned()),
    }
}

impl Transport for Socks5 {
    fn name(&self) -> &'static str {
        "socks5"
    }

    fn send(&self, request: http::Request<Bytes>) -> BoxFuture<'_, Result<http::Response<ResponseBody>, Error>> {
        Box::pin(async move {
            let host = target(request.uri())?;
            let client = self.client()?;
            let proxy = self.proxy;
            tracing::debug!(transport = "socks5", %proxy, %host, "sending request");
            execute(&client, request, host, |e, host| async move {
                if e.is_connect() {
                    match proxy_reachable(proxy).await {
                        Err(reason) => Error::ProxyUnreachable { proxy, reason },
                        Ok(()) => Error::ProxyConnect { proxy, host, reason: chain(&e) },
                    }
                } else if e.is_timeout() {
                    Error::Timeout { host }
                } else {
                    Error::Http { host, reason: chain(&e) }
                }
            })
            .await
        })
    }
}
