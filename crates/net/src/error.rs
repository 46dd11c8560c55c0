//! The crate's one error type: every message names the destination (never a URL's path or
//! query) and, where it helps, what to do.

use std::net::SocketAddr;
use std::time::Duration;

/// Everything that can go wrong on the way out.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The config names something unusable.
    #[error("{0}")]
    Config(String),
    /// The request cannot be sent as it is (not an absolute http/https URL, ...).
    #[error("{0}")]
    InvalidRequest(String),
    /// Tor did not finish bootstrapping in time; nothing was sent by another route.
    #[error(
        "Tor is not ready after {}s ({status}); nothing was sent. Check that this machine reaches \
         the Tor network (or set [net] arti bridges), then try again; `sov net status` shows the progress",
        waited.as_secs()
    )]
    TorNotReady {
        /// How long the request waited.
        waited: Duration,
        /// Arti's last bootstrap status and, if it gave one, why it is stuck.
        status: String,
    },
    /// The in-process Tor client could not be created or failed to build a circuit or stream.
    #[error("Tor could not reach {host}: {reason}")]
    Tor {
        /// `host:port` asked for.
        host: String,
        /// Arti's explanation.
        reason: String,
    },
    /// The SOCKS5 proxy is not reachable; nothing was sent by another route.
    #[error(
        "the SOCKS5 proxy {proxy} is not reachable ({reason}); nothing was sent. Start it (a system \
         Tor listens on 127.0.0.1:9050), or set [net] socks, or use transport \"tor\""
    )]
    ProxyUnreachable {
        /// The proxy's address.
        proxy: SocketAddr,
        /// Why connecting failed.
        reason: String,
    },
    /// The SOCKS5 proxy refused the connection or spoke something else than SOCKS5.
    #[error("the SOCKS5 proxy {proxy} did not connect to {host}: {reason}")]
    Proxy {
        /// The proxy's address.
        proxy: SocketAddr,
        /// `host:port` asked for.
        host: String,
        /// What the proxy answered.
        reason: String,
    },
    /// A direct (or loopback) connection failed.
    #[error("could not connect to {host}: {reason}")]
    Connect {
        /// `host:port`.
        host: String,
        /// Why.
        reason: String,
    },
    /// The caller's address check refused every address the name resolved to; nothing was
    /// sent.
    #[error("refused to connect to {host}: {reason}; nothing was sent")]
    Refused {
        /// `host:port`.
        host: String,
        /// The address and why it is refused.
        reason: String,
    },
    /// TLS with the destination failed (bad certificate, wrong name, ...).
    #[error("TLS with {host} failed: {reason}")]
    Tls {
        /// `host:port`.
        host: String,
        /// Why.
        reason: String,
    },
    /// A timeout (connecting, or between two reads of the answer).
    #[error("{host} did not answer in time ({what})")]
    Timeout {
        /// `host:port`.
        host: String,
        /// Which limit ran out.
        what: &'static str,
    },
    /// The HTTP exchange failed after connecting.
    #[error("HTTP with {host} failed: {reason}")]
    Http {
        /// `host:port`.
        host: String,
        /// Why.
        reason: String,
    },
    /// The answer is larger than the caller accepts.
    #[error("the answer is larger than {limit} bytes")]
    BodyTooLarge {
        /// The caller's limit.
        limit: usize,
    },
}

/// `e` and its sources, joined by ": ".
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}
