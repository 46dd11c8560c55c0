//! Spare circuits: circuits built ahead of need, each handed to exactly one request.
//!
//! A fresh circuit per request is what keeps two requests unlinkable, and building one costs
//! round trips to three relays before the first byte can move (on the public network, most of a
//! second). So after a request to a port, the client builds up to `[net] spare_circuits`
//! circuits for that port in the background; the next request to it takes one and begins its
//! stream at once, and another is built behind it. This is what Tor's own "preemptive circuits"
//! do, except that arti builds those at most one per port every ten seconds, which a burst of
//! requests (a search and three page fetches) drains at once.
//!
//! What stays true:
//! - **One request per circuit.** A spare is built under an isolation of its own (a new owner and
//!   stream token, which no other stream can ever carry), so arti never lends it to anything
//!   else, and it leaves the pool by being taken: it is used for one stream, then dropped.
//! - **Unused, and not old.** A spare is used within [`MAX_AGE`] (Tor's own limit for reusing a
//!   circuit, ten minutes) or thrown away; a spare whose circuit closed is skipped.
//! - **Nothing learned from the destination.** Spares are keyed by port only; the host is sent in
//!   the stream's BEGIN, as on any circuit. What the guard sees does change a little: a circuit
//!   is built right after a request, before the next one. Tor's preemptive circuits show the
//!   same pattern.
//! - **Arti's address rules are kept.** An IP address literal takes a spare only when
//!   `[net.arti] address_filter.allow_local_addrs` is set; otherwise it goes through arti's own
//!   path, which refuses local addresses. `.onion` addresses never take a spare (their circuits
//!   end at a rendezvous point, not an exit).
//!
//! Not a goal: spares for ports never used (no traffic before the first request), or across
//! restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use arti_client::{DataStream, IsolationToken, TorClient};
use tor_circmgr::isolation::StreamIsolation;
use tor_circmgr::{ClientDataTunnel, TargetPort};
use tor_rtcompat::PreferredRuntime;

/// A spare older than this is thrown away, not used (Tor's `MaxCircuitDirtiness`).
const MAX_AGE: Duration = Duration::from_secs(10 * 60);
/// Spares are kept only for ports used this recently...
const PORT_LIFETIME: Duration = Duration::from_secs(30 * 60);
/// ...and for at most this many ports (the most recently used).
const MAX_PORTS: usize = 4;
/// How long a BEGIN on a spare may take before the request goes to a fresh circuit (arti's own
/// default connect timeout).
const BEGIN_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Default)]
struct Port {
    ready: Vec<(ClientDataTunnel, Instant)>,
    building: usize,
    last_used: Option<Instant>,
}

/// The pool of one Tor client.
pub(crate) struct Spares {
    want: usize,
    allow_ip_literals: bool,
    ports: Mutex<HashMap<u16, Port>>,
}

impl Spares {
    /// `want` spares per recently used port; `allow_ip_literals` from `[net.arti]`.
    pub(crate) fn new(want: usize, arti: &toml::Table) -> Self {
        let allow_ip_literals = arti
            .get("address_filter")
            .and_then(|f| f.get("allow_local_addrs"))
            .and_then(toml::Value::as_bool)
            .unwrap_or(false);
        Self { want, allow_ip_literals, ports: Mutex::new(HashMap::new()) }
    }

    fn eligible(&self, host: &str) -> bool {
        if self.want == 0 || host.to_ascii_lowercase().ends_with(".onion") {
            return false;
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok();
        !literal || self.allow_ip_literals
    }

    /// How many spares are ready for `port`.
    pub(crate) fn ready(&self, port: u16) -> usize {
        self.lock().get(&port).map_or(0, |p| p.ready.len())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u16, Port>> {
        self.ports.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Opens a stream to `host:port` on a spare, if one is ready and takes it. `None`: use a
    /// fresh circuit (nothing was sent on the spare's behalf but, at most, a BEGIN it refused).
    pub(crate) async fn take(&self, host: &str, port: u16) -> Option<DataStream> {
        if !self.eligible(host) {
            return None;
        }
        loop {
            let (tunnel, _) = {
                let mut ports = self.lock();
                let spares = &mut ports.get_mut(&port)?.ready;
                spares.retain(|(t, built)| built.elapsed() < MAX_AGE && !t.is_closed());
                spares.pop()?
            };
            match tokio::time::timeout(BEGIN_TIMEOUT, tunnel.begin_stream(host, port, None)).await {
                Ok(Ok(stream)) => return Some(stream),
                // A refused BEGIN sent nothing of the request; the spare is dropped, the next
                // one (or a fresh circuit) tries.
                Ok(Err(e)) => tracing::debug!(port, error = %e, "a spare circuit did not open a stream"),
                Err(_) => tracing::debug!(port, "a spare circuit did not answer in time"),
            }
        }
    }

    /// Notes a request to `port` and builds spares for it up to the wanted number, in the
    /// background. Forgets ports not used lately.
    pub(crate) fn refill(self: &Arc<Self>, client: &Arc<TorClient<PreferredRuntime>>, host: &str, port: u16) {
        if !self.eligible(host) {
            return;
        }
        let need = {
            let mut ports = self.lock();
            let now = Instant::now();
            ports.entry(port).or_default().last_used = Some(now);
            ports.retain(|_, p| p.last_used.is_some_and(|t| now.duration_since(t) < PORT_LIFETIME));
            while ports.len() > MAX_PORTS {
                let Some(oldest) = ports.iter().min_by_key(|(_, p)| p.last_used).map(|(k, _)| *k) else { break };
                ports.remove(&oldest);
            }
            let Some(entry) = ports.get_mut(&port) else { return };
            entry.ready.retain(|(t, built)| built.elapsed() < MAX_AGE && !t.is_closed());
            let need = self.want.saturating_sub(entry.ready.len() + entry.building);
            entry.building += need;
            need
        };
        for _ in 0..need {
            let (spares, client) = (Arc::clone(self), Arc::clone(client));
            tokio::spawn(async move {
                let built = build(&client, port).await;
                let mut ports = spares.lock();
                // The port may have been forgotten meanwhile; then the circuit is dropped.
                if let Some(entry) = ports.get_mut(&port) {
                    entry.building = entry.building.saturating_sub(1);
                    match built {
                        Ok(tunnel) => entry.ready.push((tunnel, Instant::now())),
                        Err(e) => tracing::debug!(port, error = %e, "no spare circuit built"),
                    }
                }
            });
        }
    }
}

/// Builds one circuit to an exit that allows `port`, under an isolation no stream but the one
/// that takes it will ever have.
async fn build(client: &TorClient<PreferredRuntime>, port: u16) -> Result<ClientDataTunnel, String> {
    let circmgr = client.circmgr().map_err(|e| e.to_string())?;
    let netdir = client.dirmgr().map_err(|e| e.to_string())?.timely_netdir().map_err(|e| e.to_string())?;
    let isolation = StreamIsolation::builder()
        .owner_token(IsolationToken::new())
        .stream_isolation(Box::new(IsolationToken::new()))
        .build()
        .map_err(|e| e.to_string())?;
    circmgr.get_or_launch_exit((&*netdir).into(), &[TargetPort::ipv4(port)], isolation).await.map_err(|e| e.to_string())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn onion_and_unpermitted_ip_literals_never_take_a_spare() {
        let plain = Spares::new(2, &toml::Table::new());
        assert!(plain.eligible("example.org"));
        assert!(!plain.eligible("abcdefghijklmnop.onion"));
        assert!(!plain.eligible("ABCDEFGHIJKLMNOP.ONION"));
        assert!(!plain.eligible("10.0.0.1"), "arti's own path checks local addresses");
        assert!(!plain.eligible("[::1]"));
        let local: toml::Table = toml::from_str("[address_filter]\nallow_local_addrs = true\n").unwrap();
        assert!(Spares::new(2, &local).eligible("10.0.0.1"));
        assert!(!Spares::new(0, &local).eligible("example.org"), "spare_circuits = 0 turns them off");
    }
}
