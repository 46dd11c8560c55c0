//! The one outbound policy: how every connection Sovereign makes to anything that is not
//! loopback leaves this machine.
//!
//! # What it does
//! - [`Net`] holds the `[net]` config: a [`Route`] for each [`Class`] of destination (remote
//!   models, the web, the chain, ZK-API providers), each `tor` by default. [`Net::http`] gives
//!   an HTTP client ([`Http`]) on a class's route; it is the only way Sovereign's crates reach
//!   anything off the machine (a test in `sov` checks that no other code opens such sockets).
//! - **`tor`**: Tor inside the process ([`Tor`], arti with tokio and rustls), created on first use
//!   and bootstrapped once, its state (guards) and directory cache under `[net] tor_dir`.
//! - **`socks5`**: a SOCKS5 proxy (a system Tor, a Nym client) with fresh credentials for every
//!   connection.
//! - **`direct-insecure-dev`**: straight out. [`Net::new`] says so, as a warning, every time it
//!   starts with such a route.
//!
//! # Guarantees
//! - **Fail closed.** A request by Tor waits for the bootstrap (up to `[net]
//!   bootstrap_timeout_secs`) and then fails ([`Error::TorNotReady`]); a request by SOCKS5 fails
//!   if the proxy is down ([`Error::ProxyUnreachable`]). Neither ever falls back to another route.
//! - **No local DNS for an anonymised destination**: host names go to the exit (or the proxy)
//!   unresolved; `.onion` names work by Tor.
//! - **Unlinkable requests**: every request has a connection of its own (nothing is pooled) and,
//!   by Tor, a circuit of its own (an isolation token per request, or a spare circuit built ahead
//!   for that port and taken by this request alone, see `spare.rs`); by SOCKS5, fresh
//!   credentials, which Tor's `IsolateSOCKSAuth` turns into a fresh circuit.
//! - No redirect is followed, no `User-Agent` or other header is added but `Host`, and URLs'
//!   paths, queries, headers and bodies are never logged.
//! - Loopback destinations (`127.0.0.0/8`, `::1`, `localhost`) are reached directly by the `tor`
//!   and direct routes: nothing leaves the machine, and an exit could not reach them anyway. The
//!   `socks5` route hands them to the proxy like everything else (the proxy decides).
//!
//! # Timing and size
//! `[net] jitter_ms` delays each request by Tor or SOCKS5 by a random 0..=`jitter_ms` ms, so a
//! destination cannot link a conversation's turns by their exact spacing; [`pad_to_bucket`] is
//! the padding the remote path applies to every sealed request (its size then reveals only a
//! bucket). Tor itself carries everything in fixed 514-byte cells.
//!
//! # What it does not hide
//! - From the destination: what is asked (sanitise it first), the answer's size, and a
//!   conversation's rhythm beyond the jitter (a long answer takes long).
//! - From someone watching this machine's line: that it uses Tor, when, and how much.
//! - A destination that learns something identifying from the request itself (an account, a
//!   cookie, a ZK-API ticket reused by a broken client) links requests whatever the route.

mod error;
mod http;
mod socks;
mod spare;
mod tor;

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use sov_core::config::{NetConfig, Transport};

pub use error::Error;
pub use http::{AddressCheck, Body, BodyStream, Http, Timeouts};
pub use socks::Isolated;
pub use tor::{Circuit, Progress, Tor};

use crate::http::{IoBox, Target};

/// How many circuits, each fresh, a request through Tor tries before it fails: the stream
/// opens before a byte of the request is written, so a failed attempt sent nothing.
const TOR_ATTEMPTS: u32 = 3;

/// A class of destinations, each with its own route in `[net]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// Remote models and their providers' attestation bundles (`[net] remote`).
    Remote,
    /// Web search and web pages (`[net] web`).
    Web,
    /// Ethereum JSON-RPC (`[net] chain`).
    Chain,
    /// Paid calls to ZK-API providers (`[net] zkapi`).
    Zkapi,
}

impl Class {
    /// Every class, in the config's order.
    pub const ALL: [Class; 4] = [Class::Remote, Class::Web, Class::Chain, Class::Zkapi];

    /// The config key.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Remote => "remote",
            Class::Web => "web",
            Class::Chain => "chain",
            Class::Zkapi => "zkapi",
        }
    }
}

/// How connections of a class leave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Tor inside this process.
    Tor,
    /// The SOCKS5 proxy at this address, fresh credentials per connection.
    Socks5(SocketAddr),
    /// Straight out: reveals this machine's IP address. Development only.
    DirectInsecureDev,
}

impl Route {
    /// The route a config value names (`socks` is the proxy for `socks5`).
    ///
    /// # Errors
    /// [`Error::Config`] if `socks` is not an address and port.
    pub fn from_config(transport: Transport, socks: &str) -> Result<Self, Error> {
        Ok(match transport {
            Transport::Tor => Route::Tor,
            Transport::Socks5 => Route::Socks5(socks.parse().map_err(|e| {
                Error::Config(format!("`{socks}` is not a SOCKS5 proxy's address and port, e.g. 127.0.0.1:9050: {e}"))
            })?),
            Transport::DirectInsecureDev => Route::DirectInsecureDev,
        })
    }

    /// Its config name.
    pub fn name(&self) -> &'static str {
        match self {
            Route::Tor => "tor",
            Route::Socks5(_) => "socks5",
            Route::DirectInsecureDev => "direct-insecure-dev",
        }
    }
}

/// The outbound policy of one process.
pub struct Net {
    routes: [Route; 4],
    jitter: Duration,
    bootstrap_timeout: Duration,
    spare_circuits: usize,
    tor_dir: PathBuf,
    arti: toml::Table,
    tor: OnceLock<Result<Arc<Tor>, String>>,
}

impl std::fmt::Debug for Net {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Net").field("routes", &self.routes).field("jitter", &self.jitter).finish_non_exhaustive()
    }
}

impl Net {
    /// The policy of `config`, Tor's files under `[net] tor_dir` or else `data_dir/tor`. Logs a
    /// warning for every class that goes out directly. Nothing is sent yet.
    ///
    /// # Errors
    /// [`Error::Config`] for a bad SOCKS5 address.
    pub fn new(config: &NetConfig, data_dir: &std::path::Path) -> Result<Arc<Self>, Error> {
        let route = |t| Route::from_config(t, &config.socks);
        let routes = [route(config.remote)?, route(config.web)?, route(config.chain)?, route(config.zkapi)?];
        for (class, route) in Class::ALL.iter().zip(&routes) {
            if *route == Route::DirectInsecureDev {
                warn_direct(&format!("[net] {}", class.as_str()));
            }
        }
        let tor_dir = if config.tor_dir.as_os_str().is_empty() { data_dir.join("tor") } else { config.tor_dir.clone() };
        Ok(Arc::new(Self {
            routes,
            jitter: Duration::from_millis(config.jitter_ms),
            bootstrap_timeout: Duration::from_secs(config.bootstrap_timeout_secs),
            spare_circuits: config.spare_circuits,
            tor_dir,
            arti: config.arti.clone(),
            tor: OnceLock::new(),
        }))
    }

    /// The route of a class.
    pub fn route(&self, class: Class) -> Route {
        self.routes[Class::ALL.iter().position(|c| *c == class).unwrap_or(0)]
    }

    /// An HTTP client on `class`'s route.
    pub fn http(self: &Arc<Self>, class: Class) -> Http {
        Http { net: Arc::clone(self), route: self.route(class), timeouts: Timeouts::default(), address_check: None }
    }

    /// An HTTP client on `route` (a `[remote.NAME]` entry's own `transport`), warning if it is
    /// direct.
    pub fn http_on(self: &Arc<Self>, route: Route, what: &str) -> Http {
        if route == Route::DirectInsecureDev {
            warn_direct(what);
        }
        Http { net: Arc::clone(self), route, timeouts: Timeouts::default(), address_check: None }
    }

    /// Where Tor keeps its state and cache.
    pub fn tor_dir(&self) -> &std::path::Path {
        &self.tor_dir
    }

    /// The in-process Tor client, created (not bootstrapped) on first use. Must run inside a
    /// tokio runtime.
    ///
    /// # Errors
    /// [`Error::Config`] if `[net.arti]` is not a valid arti configuration; [`Error::Tor`] if the
    /// client cannot start (its state directory is not writable, ...).
    pub fn tor(&self) -> Result<Arc<Tor>, Error> {
        self.tor
            .get_or_init(|| {
                Tor::new(&self.tor_dir, &self.arti, self.bootstrap_timeout, self.spare_circuits)
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .clone()
            .map_err(Error::Config)
    }

    /// Opens a connection to `target` by `route` (directly if `target` is loopback).
    pub(crate) async fn open(
        &self,
        route: &Route,
        target: &Target,
        check: Option<&http::AddressCheck>,
    ) -> Result<(Box<dyn IoBox>, Option<String>), Error> {
        let label = target.label();
        // A SOCKS5 proxy gets everything, loopback too: it is on this machine and decides (Dante
        // reaches loopback, a Tor proxy refuses it). Tor in process cannot reach this machine's
        // loopback through an exit, and nothing would leave: such destinations go directly.
        if is_loopback(&target.host) && !matches!(route, Route::Socks5(_)) {
            return Ok((Box::new(connect_here(target, check).await?), None));
        }
        match route {
            Route::Tor => {
                let tor = self.tor()?;
                tor.ready().await?;
                self.jitter().await;
                // A circuit can fail before its stream opens (a relay drops it, an exit refuses
                // the connection); nothing has been sent then, so another fresh circuit may try.
                let mut attempt = 1;
                let Circuit { stream, circuit } = loop {
                    match tor.connect(&target.host, target.port).await {
                        Ok(opened) => break opened,
                        Err(e) if attempt < TOR_ATTEMPTS => {
                            tracing::info!(host = %label, attempt, error = %e, "no Tor stream opened; trying a fresh circuit");
                            attempt += 1;
                        }
                        Err(e) => return Err(e),
                    }
                };
                tracing::debug!(route = "tor", host = %label, circuit = circuit.as_deref().unwrap_or("?"), "connected");
                Ok((Box::new(stream), circuit))
            }
            Route::Socks5(proxy) => {
                self.jitter().await;
                let (stream, isolated) = socks::connect(*proxy, &target.host, target.port).await?;
                if isolated == Isolated::No {
                    tracing::debug!(%proxy, "the SOCKS5 proxy took no credentials: it may share circuits between requests");
                }
                Ok((Box::new(stream), None))
            }
            Route::DirectInsecureDev => Ok((Box::new(connect_here(target, check).await?), None)),
        }
    }

    async fn jitter(&self) {
        let max = u64::try_from(self.jitter.as_millis()).unwrap_or(u64::MAX);
        if max == 0 {
            return;
        }
        let mut bytes = [0u8; 8];
        if random(&mut bytes).is_ok() {
            tokio::time::sleep(Duration::from_millis(u64::from_le_bytes(bytes) % (max + 1))).await;
        }
    }
}

/// A TCP connection from this machine to `target`, resolved here; with `check`, only to an
/// address it allows (each resolved address is checked before it is tried).
async fn connect_here(target: &Target, check: Option<&http::AddressCheck>) -> Result<tokio::net::TcpStream, Error> {
    let label = target.label();
    let Some(check) = check else {
        return tokio::net::TcpStream::connect((target.host.as_str(), target.port))
            .await
            .map_err(|e| Error::Connect { host: label, reason: e.to_string() });
    };
    let addrs = tokio::net::lookup_host((target.host.as_str(), target.port))
        .await
        .map_err(|e| Error::Connect { host: label.clone(), reason: format!("resolving: {e}") })?;
    let mut last = None;
    for addr in addrs {
        if let Err(why) = check(addr.ip()) {
            last = Some(Error::Refused { host: label.clone(), reason: format!("{} {why}", addr.ip()) });
            continue;
        }
        match tokio::net::TcpStream::connect(addr).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = Some(Error::Connect { host: label.clone(), reason: e.to_string() }),
        }
    }
    Err(last.unwrap_or(Error::Connect { host: label, reason: "the name resolves to no address".into() }))
}

fn warn_direct(what: &str) {
    tracing::warn!(
        "{what} = \"direct-insecure-dev\": these connections go straight from this machine and show \
         its IP address to the destination and everyone on the way; development only. Use \"tor\"."
    );
}

/// Whether `host` is this machine's loopback: `localhost`, `127.0.0.0/8` or `::1`.
pub fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost") || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// The size a sealed request of `len` bytes is padded to: the next power of two from 1 KiB up
/// to 64 KiB, then the next multiple of 64 KiB. A destination then learns only the bucket.
pub fn pad_to_bucket(len: usize) -> usize {
    const SMALLEST: usize = 1 << 10;
    const STEP: usize = 64 << 10;
    if len <= SMALLEST {
        SMALLEST
    } else if len <= STEP {
        len.next_power_of_two()
    } else {
        len.div_ceil(STEP).saturating_mul(STEP)
    }
}

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::Config(format!("no randomness from the operating system: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn loopback_is_only_this_machine() {
        for host in ["localhost", "127.0.0.1", "127.9.9.9", "::1", "[::1]", "LOCALHOST"] {
            assert!(is_loopback(host), "{host}");
        }
        for host in ["10.0.0.1", "192.168.1.1", "example.org", "localhost.example.org", "0.0.0.0", "::"] {
            assert!(!is_loopback(host), "{host}");
        }
    }

    #[test]
    fn buckets_grow_by_powers_of_two_then_by_64_kib() {
        assert_eq!(pad_to_bucket(0), 1024);
        assert_eq!(pad_to_bucket(1024), 1024);
        assert_eq!(pad_to_bucket(1025), 2048);
        assert_eq!(pad_to_bucket(40_000), 65_536);
        assert_eq!(pad_to_bucket(65_537), 131_072);
        assert_eq!(pad_to_bucket(200_000), 262_144);
    }

    #[test]
    fn routes_come_from_the_config_and_direct_is_named_as_dangerous() {
        let mut config = NetConfig::default();
        let net = Net::new(&config, std::path::Path::new("/nonexistent")).unwrap();
        for class in Class::ALL {
            assert_eq!(net.route(class), Route::Tor, "{class:?} is tor by default");
        }
        assert_eq!(net.tor_dir(), std::path::Path::new("/nonexistent/tor"));
        config.web = Transport::Socks5;
        config.chain = Transport::DirectInsecureDev;
        let net = Net::new(&config, std::path::Path::new("/x")).unwrap();
        assert_eq!(net.route(Class::Web), Route::Socks5("127.0.0.1:9050".parse().unwrap()));
        assert_eq!(net.route(Class::Chain).name(), "direct-insecure-dev");
        config.socks = "nine".into();
        assert!(Net::new(&config, std::path::Path::new("/x")).unwrap_err().to_string().contains("`nine`"));
    }
}
