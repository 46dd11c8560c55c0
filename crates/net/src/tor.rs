//! Tor inside the process (arti): created on first use, bootstrapped once, every stream on a
//! circuit of its own.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arti_client::config::{CfgPath, TorClientConfigBuilder};
use arti_client::{BootstrapBehavior, DataStream, StreamPrefs, TorClient};
use futures_util::StreamExt as _;
use tor_rtcompat::PreferredRuntime;

use crate::Error;
use crate::error::chain;
use crate::spare::Spares;

/// The in-process Tor client.
pub struct Tor {
    client: Arc<TorClient<PreferredRuntime>>,
    bootstrap_timeout: Duration,
    streams: AtomicU64,
    spares: Arc<Spares>,
    spares_used: AtomicU64,
}

impl std::fmt::Debug for Tor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tor").field("status", &self.client.bootstrap_status().to_string()).finish_non_exhaustive()
    }
}

/// One bootstrap progress report.
#[derive(Debug, Clone, PartialEq)]
pub struct Progress {
    /// 0.0 to 1.0.
    pub fraction: f32,
    /// Whether streams can be opened.
    pub ready: bool,
    /// Arti's words for where it is.
    pub message: String,
}

impl Tor {
    /// Creates the client (nothing is sent yet) with its state and directory cache under `dir`
    /// and arti's own settings from `arti` (the `[net.arti]` table), keeping `spare_circuits`
    /// circuits ready per recently used port ([`crate::spare`]). Must run inside a tokio runtime.
    pub(crate) fn new(
        dir: &Path,
        arti: &toml::Table,
        bootstrap_timeout: Duration,
        spare_circuits: usize,
    ) -> Result<Self, Error> {
        let bad = |e: &dyn std::error::Error| Error::Config(format!("config [net.arti]: {}", chain(e)));
        let mut builder: TorClientConfigBuilder =
            toml::Value::Table(arti.clone()).try_into().map_err(|e: toml::de::Error| bad(&e))?;
        builder
            .storage()
            .state_dir(CfgPath::new_literal(dir.join("state")))
            .cache_dir(CfgPath::new_literal(dir.join("cache")));
        let config = builder.build().map_err(|e| bad(&e))?;
        // rustls needs one process-wide crypto provider; a second install is refused, harmlessly.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = TorClient::builder()
            .config(config)
            .bootstrap_behavior(BootstrapBehavior::Manual)
            .create_unbootstrapped()
            .map_err(|e| Error::Tor { host: "the Tor network".into(), reason: chain(&e) })?;
        Ok(Self {
            client,
            bootstrap_timeout,
            streams: AtomicU64::new(0),
            spares: Arc::new(Spares::new(spare_circuits, arti)),
            spares_used: AtomicU64::new(0),
        })
    }

    /// Waits (up to `[net] bootstrap_timeout_secs`) until streams can be opened; bootstraps on
    /// the first call. Fails closed: nothing is sent while this fails.
    pub async fn ready(&self) -> Result<(), Error> {
        if self.client.bootstrap_status().ready_for_traffic() {
            return Ok(());
        }
        match tokio::time::timeout(self.bootstrap_timeout, self.client.bootstrap()).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::TorNotReady {
                waited: self.bootstrap_timeout,
                status: format!("{}: {}", self.client.bootstrap_status(), chain(&e)),
            }),
            Err(_) => {
                let status = self.client.bootstrap_status();
                let status = match status.blocked() {
                    Some(why) => format!("{status}; {why}"),
                    None => status.to_string(),
                };
                Err(Error::TorNotReady { waited: self.bootstrap_timeout, status })
            }
        }
    }

    /// Bootstrap progress, now and as it changes, until ready.
    pub fn progress(&self) -> impl futures_util::Stream<Item = Progress> + Send + 'static {
        let now = self.client.bootstrap_status();
        futures_util::stream::once(async move { now }).chain(self.client.bootstrap_events()).map(|status| Progress {
            fraction: status.as_frac(),
            ready: status.ready_for_traffic(),
            message: status.to_string(),
        })
    }

    /// The current bootstrap status.
    pub fn status(&self) -> Progress {
        let status = self.client.bootstrap_status();
        Progress { fraction: status.as_frac(), ready: status.ready_for_traffic(), message: status.to_string() }
    }

    /// How many streams this client opened.
    pub fn streams_opened(&self) -> u64 {
        self.streams.load(Ordering::Relaxed)
    }

    /// How many streams went on a spare circuit, built ahead ([`crate::spare`]).
    pub fn spares_used(&self) -> u64 {
        self.spares_used.load(Ordering::Relaxed)
    }

    /// How many spare circuits are ready for `port` now.
    pub fn spares_ready(&self, port: u16) -> usize {
        self.spares.ready(port)
    }

    /// Opens a stream to `host:port` through an exit (or to an onion service) on a circuit no
    /// other stream uses: a spare built ahead for this port if one is ready, else a new one
    /// under an isolation token of its own. The host name is resolved by the exit, never here.
    pub async fn connect(&self, host: &str, port: u16) -> Result<Circuit<DataStream>, Error> {
        self.ready().await?;
        let opened = match self.spares.take(host, port).await {
            Some(stream) => {
                self.streams.fetch_add(1, Ordering::Relaxed);
                self.spares_used.fetch_add(1, Ordering::Relaxed);
                let circuit = circuit_id(&stream);
                Ok(Circuit { stream, circuit })
            }
            None => self.connect_isolated(host, port, arti_client::IsolationToken::new()).await,
        };
        self.spares.refill(&self.client, host, port);
        opened
    }

    /// Opens a stream to `host:port` on a circuit shared only with streams of the same
    /// `isolation` token. Sovereign itself never reuses a token ([`Tor::connect`]); this is for
    /// measuring what that costs (`bench/net.sh`).
    pub async fn connect_isolated(
        &self,
        host: &str,
        port: u16,
        isolation: arti_client::IsolationToken,
    ) -> Result<Circuit<DataStream>, Error> {
        self.ready().await?;
        let mut prefs = StreamPrefs::new();
        prefs.set_isolation(isolation);
        prefs.connect_to_onion_services(arti_client::config::BoolOrAuto::Explicit(true));
        let stream = self
            .client
            .connect_with_prefs((host, port), &prefs)
            .await
            .map_err(|e| Error::Tor { host: format!("{host}:{port}"), reason: chain(&e) })?;
        self.streams.fetch_add(1, Ordering::Relaxed);
        let circuit = circuit_id(&stream);
        Ok(Circuit { stream, circuit })
    }
}

/// A stream and the circuit it is on.
#[derive(Debug)]
pub struct Circuit<S> {
    /// The stream.
    pub stream: S,
    /// The circuit's process-unique id (`Circ 3.1`), if known.
    pub circuit: Option<String>,
}

fn circuit_id(stream: &DataStream) -> Option<String> {
    use tor_proto::client::stream::ClientStreamCtrl as _;
    let tunnel = stream.client_stream_ctrl()?.tunnel()?;
    let circ = tunnel.as_single_circ().ok()?;
    Some(circ.unique_id().to_string())
}
