//! Test-only: builds and runs a private Tor network from Debian's `tor` package, the way chutney does.
//!
//! Every tor is a separate process (tor is GPL; it is never linked). Everything listens on 127.0.0.x and
//! nothing addresses anything off this machine; [`in_private_netns`] additionally runs a test inside a fresh
//! network namespace that only has `lo`.
//!
//! The network: 3 directory authorities (keys from `tor-gencert`), `relays` non-exit middle relays, one exit
//! (`ExitPolicy accept *:*`, see [`TestNet::exit_address`]), an optional onion service and
//! a C-tor client with a SOCKS5 port and a control port.

pub mod torrc;

use std::fmt::Write as _;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};

use crate::torrc::{NetworkSpec, NodeKind, NodeSpec};

/// Environment variable marking a process that already runs inside the private network namespace.
pub const NETNS_ENV: &str = "SOV_TOR_TESTNET_NETNS";

/// How long [`TestNet::start`] waits for bootstrap (and the onion service) before failing.
pub const START_TIMEOUT: Duration = Duration::from_secs(120);

const EXIT_ADDRESS: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);
const AUTHORITIES: usize = 3;

/// If not already inside one, re-runs the current test binary for exactly `test_name` inside a fresh
/// network namespace (`unshare --net`, only `lo`, brought up with `ip link set lo up`), waits for it,
/// panics if it failed (forwarding its output), and returns false — the caller then returns.
/// Inside the namespace (env var `SOV_TOR_TESTNET_NETNS=1`) it brings `lo` up (once) and returns true.
///
/// The child is run as `current_exe <test_name> --exact --nocapture --test-threads 1` (libtest args), with
/// the same environment plus the marker variable. When not root, `unshare --map-root-user` is added.
pub fn in_private_netns(test_name: &str) -> bool {
    if std::env::var_os(NETNS_ENV).is_some_and(|v| v == "1") {
        static LO_UP: Once = Once::new();
        LO_UP.call_once(|| {
            let status = Command::new("ip").args(["link", "set", "lo", "up"]).status();
            match status {
                Ok(s) if s.success() => {}
                other => panic!("`ip link set lo up` failed inside the namespace: {other:?}"),
            }
        });
        return true;
    }
    let exe = match std::env::current_exe() {
        Ok(exe) => exe,
        Err(e) => panic!("cannot find the current test binary: {e}"),
    };
    let mut cmd = Command::new("unshare");
    cmd.arg("--net");
    if !is_root() {
        cmd.arg("--map-root-user");
    }
    cmd.arg("--")
        .arg(&exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(NETNS_ENV, "1")
        .stdin(Stdio::null());
    let output = match cmd.output() {
        Ok(o) => o,
        Err(e) => panic!("cannot run `unshare --net` (util-linux): {e}"),
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    print!("{stdout}");
    eprint!("{stderr}");
    if !output.status.success() {
        panic!("`{test_name}` failed inside the private network namespace ({})", output.status);
    }
    if !stdout.contains("running 1 test") {
        panic!("`{test_name}` did not run exactly one test inside the private network namespace");
    }
    false
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(2) == Some("0")))
        .unwrap_or(false)
}

/// What [`TestNet::start`] builds.
#[derive(Debug, Clone)]
pub struct Options {
    /// Number of non-exit middle relays (besides the 3 authorities and the one exit). Default 2.
    pub relays: usize,
    /// If set, an onion service forwarding virtual port 80 to this address.
    pub onion_target: Option<SocketAddr>,
    /// The onion service starts each connection to its target with a PROXY protocol v1 line naming
    /// the circuit ([`circuit_of_proxy_line`]). Default false (the target sees plain HTTP).
    pub export_circuit_id: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { relays: 2, onion_target: None, export_circuit_id: false }
    }
}

/// A directory authority of the test network (what an arti `[tor_network] authorities` entry needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    /// Tor nickname.
    pub nickname: String,
    /// v3 identity: SHA-1 of the authority identity key, 40 upper-case hex digits.
    pub v3ident: String,
    /// RSA identity fingerprint of the relay, 40 upper-case hex digits.
    pub rsa_identity: String,
    /// Ed25519 identity of the relay, base64 without padding (43 chars), as arti wants.
    pub ed25519_identity: String,
    /// ORPort on 127.0.0.1.
    pub or_port: u16,
    /// DirPort on 127.0.0.1.
    pub dir_port: u16,
}

/// A relay of the test network (what an arti fallback-cache entry needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Relay {
    /// Tor nickname.
    pub nickname: String,
    /// RSA identity fingerprint, 40 upper-case hex digits.
    pub rsa_identity: String,
    /// Ed25519 identity, base64 without padding (43 chars).
    pub ed25519_identity: String,
    /// ORPort on 127.0.0.1.
    pub or_port: u16,
    /// Whether this is the exit.
    pub is_exit: bool,
}

impl Relay {
    /// The relay's OR address, 127.0.0.1:`or_port`.
    pub fn or_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.or_port))
    }
}

struct Node {
    nickname: String,
    dir: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            unregister_through_process(child.id());
        }
    }
}

struct EventWatcher {
    stream: TcpStream,
    thread: Option<JoinHandle<()>>,
}

/// A running private Tor network. Dropping it kills every tor it started.
pub struct TestNet {
    nodes: Vec<Node>,
    authorities: Vec<Authority>,
    relays: Vec<Relay>,
    client_socks: SocketAddr,
    client_control: SocketAddr,
    client_dir: PathBuf,
    onion_address: Option<String>,
    stream_circuits: Arc<Mutex<Vec<String>>>,
    watcher: Option<EventWatcher>,
    _probe: Option<TcpListener>,
    timings: Vec<(&'static str, Duration)>,
    // Last: removed after every tor is dead.
    dir: tempfile::TempDir,
}

impl std::fmt::Debug for TestNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestNet")
            .field("dir", &self.dir.path())
            .field("authorities", &self.authorities)
            .field("relays", &self.relays)
            .field("client_socks", &self.client_socks)
            .field("onion_address", &self.onion_address)
            .finish_non_exhaustive()
    }
}

fn free_ports(n: usize) -> Result<Vec<u16>> {
    // Hold every listener until all are chosen, so the OS hands out distinct ports.
    let listeners = (0..n).map(|_| TcpListener::bind(("127.0.0.1", 0))).collect::<std::io::Result<Vec<_>>>()?;
    listeners.iter().map(|l| Ok(l.local_addr()?.port())).collect()
}

/// The last `lines` lines of a file, or a note that it could not be read.
pub fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let all: Vec<&str> = s.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(e) => format!("(cannot read {}: {e})", path.display()),
    }
}

fn read_fingerprint_file(path: &Path) -> Result<String> {
    let s = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    s.split_whitespace().nth(1).map(str::to_owned).ok_or_else(|| anyhow!("malformed {}", path.display()))
}

fn wait_all(children: Vec<(String, Child)>) -> Result<()> {
    for (what, child) in children {
        let out = child.wait_with_output().with_context(|| format!("waiting for {what}"))?;
        if !out.status.success() {
            bail!(
                "{what} failed ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(())
}

impl TestNet {
    /// Starts 3 directory authorities (keys from tor-gencert), `relays` middle relays, exactly one exit
    /// (`ExitPolicy accept *:*` — arti reads only microdescriptors, whose exit summaries ignore private
    /// addresses, so the policy must be accept *:*; `ExitPolicyRejectPrivate 0`, `ExitPolicyRejectLocalInterfaces 0`),
    /// the optional onion service, and a C-tor client (SocksPort with IsolateSOCKSAuth — the default —, a
    /// ControlPort with cookie authentication, `UseMicrodescriptors 0` so it will use the exit for 127.0.0.1
    /// targets). All with `TestingTorNetwork 1`, `AssumeReachable 1`, 10 s voting intervals,
    /// `TestingDirAuthVoteGuard`/`HSDir` for all, `TestingDirAuthVoteExit` for the exit only, authorities and
    /// middles with `ExitPolicy reject *:*`. The exit (and the onion service) set `OutboundBindAddressExit` to
    /// [`exit_address`](Self::exit_address) (127.0.0.2). C-tor skips that bind for loopback destinations, so
    /// for 127.0.0.1 targets the exit's (and onion service's) processes are also registered with
    /// [`ExitOnlyServer`], which recognises their connections by the owner of the peer socket (/proc).
    ///
    /// Returns once the C-tor client reports bootstrapped 100% (control port `GETINFO status/bootstrap-phase`)
    /// and, if an onion service was asked for, the client can open a stream to it; or fails with the tail of
    /// the relevant tor log after [`START_TIMEOUT`].
    pub fn start(options: Options) -> Result<TestNet> {
        let dir = tempfile::Builder::new().prefix("sov-tor-testnet-").tempdir().context("creating the temp dir")?;
        let root = dir.path().to_path_buf();
        let t0 = Instant::now();
        let deadline = t0 + START_TIMEOUT;

        // Nodes: authorities, middles, the exit, then (optionally) the onion service, then the client.
        let mut specs: Vec<NodeSpec> = Vec::new();
        let relay_count = AUTHORITIES + options.relays + 1;
        let ports = free_ports(relay_count * 2 + 4)?;
        let mut port = ports.into_iter();
        let mut next_port = || port.next().ok_or_else(|| anyhow!("ran out of ports"));
        for i in 0..relay_count {
            let (nickname, kind) = if i < AUTHORITIES {
                (format!("auth{i}"), NodeKind::Authority)
            } else if i < AUTHORITIES + options.relays {
                (format!("relay{}", i - AUTHORITIES), NodeKind::Middle)
            } else {
                ("exit0".to_owned(), NodeKind::Exit)
            };
            let dir_port = if kind == NodeKind::Authority { next_port()? } else { 0 };
            specs.push(NodeSpec {
                data_dir: root.join(&nickname),
                nickname,
                kind,
                or_port: next_port()?,
                dir_port,
                socks_port: 0,
                control_port: 0,
            });
        }
        let probe = match options.onion_target {
            Some(target) => {
                // Never accepted: the kernel completes the handshake, which is all the readiness probe needs.
                let probe = TcpListener::bind(("127.0.0.1", 0)).context("binding the onion probe listener")?;
                specs.push(NodeSpec {
                    nickname: "onion0".into(),
                    data_dir: root.join("onion0"),
                    kind: NodeKind::OnionService {
                        target,
                        probe: probe.local_addr()?,
                        export_circuit_id: options.export_circuit_id,
                    },
                    or_port: 0,
                    dir_port: 0,
                    socks_port: 0,
                    control_port: next_port()?,
                });
                Some(probe)
            }
            None => None,
        };
        let client_socks = SocketAddr::from(([127, 0, 0, 1], next_port()?));
        let client_control = SocketAddr::from(([127, 0, 0, 1], next_port()?));
        specs.push(NodeSpec {
            nickname: "client0".into(),
            data_dir: root.join("client0"),
            kind: NodeKind::Client,
            or_port: 0,
            dir_port: 0,
            socks_port: client_socks.port(),
            control_port: client_control.port(),
        });
        for spec in &specs {
            std::fs::create_dir_all(spec.data_dir.join("keys"))?;
            set_mode_700(&spec.data_dir)?;
        }

        // Authority keys (tor-gencert, in parallel) and every relay's identity keys (tor --list-fingerprint).
        let mut jobs = Vec::new();
        for spec in specs.iter().filter(|s| s.kind == NodeKind::Authority) {
            let keys = spec.data_dir.join("keys");
            let mut child = Command::new("tor-gencert")
                .current_dir(&keys)
                .args(["--create-identity-key", "-m", "12", "-a"])
                .arg(format!("127.0.0.1:{}", spec.dir_port))
                .args(["-i", "authority_identity_key", "-s", "authority_signing_key", "-c", "authority_certificate"])
                .args(["--passphrase-fd", "0"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running tor-gencert")?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin.write_all(b"\n")?;
            }
            jobs.push((format!("tor-gencert for {}", spec.nickname), child));
        }
        for spec in specs.iter().filter(|s| s.or_port != 0) {
            let pre = spec.data_dir.join("torrc.keygen");
            std::fs::write(
                &pre,
                format!(
                    "DataDirectory {}\nORPort 127.0.0.1:{}\nAddress 127.0.0.1\nNickname {}\nContactInfo keygen@test.invalid\n",
                    spec.data_dir.display(),
                    spec.or_port,
                    spec.nickname
                ),
            )?;
            let child = Command::new("tor")
                .args(["--defaults-torrc", "/dev/null", "-f"])
                .arg(&pre)
                .args(["--list-fingerprint", "--quiet"])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .context("running tor --list-fingerprint")?;
            jobs.push((format!("tor --list-fingerprint for {}", spec.nickname), child));
        }
        wait_all(jobs)?;
        let keys_done = t0.elapsed();

        let mut authorities = Vec::new();
        let mut relays = Vec::new();
        for spec in specs.iter().filter(|s| s.or_port != 0) {
            let rsa_identity = read_fingerprint_file(&spec.data_dir.join("fingerprint"))?;
            let ed25519_identity = read_fingerprint_file(&spec.data_dir.join("fingerprint-ed25519"))?;
            if spec.kind == NodeKind::Authority {
                let cert_path = spec.data_dir.join("keys/authority_certificate");
                let cert =
                    std::fs::read_to_string(&cert_path).with_context(|| format!("reading {}", cert_path.display()))?;
                let v3ident = cert
                    .lines()
                    .find_map(|l| l.strip_prefix("fingerprint "))
                    .map(|s| s.trim().to_uppercase())
                    .ok_or_else(|| anyhow!("no fingerprint in {}", cert_path.display()))?;
                authorities.push(Authority {
                    nickname: spec.nickname.clone(),
                    v3ident,
                    rsa_identity: rsa_identity.clone(),
                    ed25519_identity: ed25519_identity.clone(),
                    or_port: spec.or_port,
                    dir_port: spec.dir_port,
                });
            }
            relays.push(Relay {
                nickname: spec.nickname.clone(),
                rsa_identity,
                ed25519_identity,
                or_port: spec.or_port,
                is_exit: spec.kind == NodeKind::Exit,
            });
        }
        let exit_fingerprint =
            relays.iter().find(|r| r.is_exit).map(|r| r.rsa_identity.clone()).ok_or_else(|| anyhow!("no exit"))?;
        let net = NetworkSpec {
            dir_authorities: authorities
                .iter()
                .map(|a| torrc::dir_authority_line(&a.nickname, a.or_port, &a.v3ident, a.dir_port, &a.rsa_identity))
                .collect(),
            exit_fingerprint,
            exit_address: EXIT_ADDRESS,
            owner_pid: Some(std::process::id()),
        };

        let mut testnet = TestNet {
            nodes: Vec::new(),
            authorities,
            relays,
            client_socks,
            client_control,
            client_dir: root.join("client0"),
            onion_address: None,
            stream_circuits: Arc::new(Mutex::new(Vec::new())),
            watcher: None,
            _probe: probe,
            timings: vec![("keys generated", keys_done)],
            dir,
        };
        for spec in &specs {
            let torrc_path = spec.data_dir.join("torrc");
            std::fs::write(&torrc_path, torrc::torrc(spec, &net))?;
            if spec.kind == NodeKind::Exit {
                std::fs::write(spec.data_dir.join("resolv.conf"), "nameserver 127.0.0.1\n")?;
            }
            let out = std::fs::File::create(spec.data_dir.join("stdout.log"))?;
            let child = Command::new("tor")
                .args(["--defaults-torrc", "/dev/null", "-f"])
                .arg(&torrc_path)
                .stdin(Stdio::null())
                .stdout(out.try_clone()?)
                .stderr(out)
                .spawn()
                .with_context(|| format!("starting tor for {}", spec.nickname))?;
            if matches!(spec.kind, NodeKind::Exit | NodeKind::OnionService { .. }) {
                register_through_process(EXIT_ADDRESS, child.id());
            }
            testnet.nodes.push(Node {
                nickname: spec.nickname.clone(),
                dir: spec.data_dir.clone(),
                child: Some(child),
            });
        }

        // Subscribe to the client's STREAM events from the start.
        let conn = testnet.wait_for(deadline, "the client's control port", |t| t.client_connection().ok())?;
        testnet.watcher = Some(spawn_stream_watcher(conn, Arc::clone(&testnet.stream_circuits))?);
        testnet.timings.push(("tors started", t0.elapsed()));

        testnet.wait_for(deadline, "the client to bootstrap", |t| {
            let phase = t.control("GETINFO status/bootstrap-phase").ok()?;
            phase.contains("PROGRESS=100").then_some(())
        })?;
        testnet.timings.push(("client bootstrapped", t0.elapsed()));

        if let Some(onion) = specs.iter().find(|s| matches!(s.kind, NodeKind::OnionService { .. })) {
            let hostname = onion.data_dir.join("hs/hostname");
            let address = testnet.wait_for(deadline, "the onion service's hostname", |_| {
                let s = std::fs::read_to_string(&hostname).ok()?;
                let s = s.trim();
                s.ends_with(".onion").then(|| s.to_owned())
            })?;
            testnet.onion_address = Some(address.clone());
            let mut attempt = 0u32;
            testnet.wait_for(deadline, "the onion service to become reachable", |t| {
                attempt += 1;
                let user = format!("onion-probe-{attempt}");
                match socks5_connect(t.client_socks, &address, 9, Some((&user, "x")), Duration::from_secs(20)) {
                    Ok(_) => Some(()),
                    Err(_) => {
                        // Forget failed descriptor lookups (C-tor would otherwise not re-ask the HSDirs for a while).
                        let _ = t.control("SIGNAL NEWNYM");
                        std::thread::sleep(Duration::from_secs(1));
                        None
                    }
                }
            })?;
            testnet.timings.push(("onion service reachable", t0.elapsed()));
        }
        testnet.timings.push(("ready", t0.elapsed()));
        Ok(testnet)
    }

    /// Polls `f` every 200 ms until it returns `Some`, a tor dies, or `deadline` passes.
    fn wait_for<T>(&mut self, deadline: Instant, what: &str, mut f: impl FnMut(&Self) -> Option<T>) -> Result<T> {
        loop {
            if let Some(v) = f(self) {
                return Ok(v);
            }
            for node in &mut self.nodes {
                if let Some(child) = node.child.as_mut()
                    && let Ok(Some(status)) = child.try_wait()
                {
                    bail!(
                        "tor {} exited ({status}) while waiting for {what}; {}/notice.log:\n{}\nstdout:\n{}",
                        node.nickname,
                        node.dir.display(),
                        tail(&node.dir.join("notice.log"), 30),
                        tail(&node.dir.join("stdout.log"), 30)
                    );
                }
            }
            if Instant::now() > deadline {
                let mut msg = format!("timed out waiting for {what}; client notice.log:\n");
                msg.push_str(&tail(&self.client_dir.join("notice.log"), 40));
                for node in self.nodes.iter().filter(|n| n.nickname.starts_with("onion") || n.nickname == "auth0") {
                    let _ = write!(msg, "\n{} notice.log:\n{}", node.nickname, tail(&node.dir.join("notice.log"), 25));
                }
                bail!(msg);
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    fn client_connection(&self) -> Result<ControlConnection> {
        ControlConnection::open(self.client_control, &self.client_dir.join("control_auth_cookie"))
    }

    /// Milestones of [`start`](Self::start), each with the time since it began: "keys generated", "tors started",
    /// "client bootstrapped", optionally "onion service reachable", and "ready".
    pub fn start_timings(&self) -> &[(&'static str, Duration)] {
        &self.timings
    }

    /// The directory authorities (for arti's `tor_network.authorities`).
    pub fn authorities(&self) -> &[Authority] {
        &self.authorities
    }

    /// Every relay, including the authorities and the exit (arti may use them all as fallback caches).
    pub fn relays(&self) -> &[Relay] {
        &self.relays
    }

    /// The exit's `OutboundBindAddressExit`, 127.0.0.2: the source of its connections to non-loopback targets.
    /// Pass it to [`ExitOnlyServer::start`], which also recognises this network's exit and onion service
    /// when they connect from 127.0.0.1 (C-tor never binds for loopback destinations).
    pub fn exit_address(&self) -> Ipv4Addr {
        EXIT_ADDRESS
    }

    /// The C-tor client's SOCKS5 port (IsolateSOCKSAuth: distinct credentials get distinct circuits).
    pub fn client_socks(&self) -> SocketAddr {
        self.client_socks
    }

    /// The onion service's address, `<56 chars>.onion`, if one was asked for.
    pub fn onion_address(&self) -> Option<&str> {
        self.onion_address.as_deref()
    }

    /// Sends one control-port command to the C-tor client (cookie authentication, on a fresh connection) and
    /// returns the reply lines joined by `\n`. Fails if the final status is not 2xx.
    pub fn control(&self, command: &str) -> Result<String> {
        let mut conn = self.client_connection()?;
        let lines = conn.command(command)?;
        Ok(lines.join("\n"))
    }

    /// The circuit id of each SOCKS stream with credentials that the C-tor client opened so far (one per
    /// stream, in order), from `STREAM` events the client has been reporting since start. The client's
    /// own directory streams and the start-up's onion probes are left out.
    pub fn client_stream_circuits(&self) -> Vec<String> {
        self.stream_circuits.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Kills the exit relay and waits for it.
    pub fn stop_exit(&mut self) {
        self.stop_node("exit0");
    }

    /// Kills the onion service and waits for it.
    pub fn stop_onion_service(&mut self) {
        self.stop_node("onion0");
    }

    fn stop_node(&mut self, nickname: &str) {
        for node in self.nodes.iter_mut().filter(|n| n.nickname == nickname) {
            node.stop();
        }
    }

    /// The temp dir holding every node's data dir and torrc (`<dir>/<nickname>/torrc`, logs at
    /// `<dir>/<nickname>/notice.log`). Nicknames: `auth0..2`, `relay0..`, `exit0`, `onion0`, `client0`.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            node.stop();
        }
        if let Some(mut w) = self.watcher.take() {
            let _ = w.stream.shutdown(Shutdown::Both);
            if let Some(t) = w.thread.take() {
                let _ = t.join();
            }
        }
    }
}

fn set_mode_700(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700))?;
    Ok(())
}

/// An authenticated control-port connection.
struct ControlConnection {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl ControlConnection {
    fn open(addr: SocketAddr, cookie: &Path) -> Result<Self> {
        let cookie = std::fs::read(cookie).with_context(|| format!("reading {}", cookie.display()))?;
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
        stream.set_read_timeout(Some(Duration::from_secs(30)))?;
        let mut conn = Self { reader: BufReader::new(stream.try_clone()?), writer: stream };
        let hex: String = cookie.iter().map(|b| format!("{b:02X}")).collect();
        conn.command(&format!("AUTHENTICATE {hex}"))?;
        Ok(conn)
    }

    fn read_line(&mut self) -> Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            bail!("control connection closed");
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Reads one (possibly multi-line) reply; returns its lines and whether it is asynchronous (650).
    fn read_reply(&mut self) -> Result<(Vec<String>, bool)> {
        let mut lines = Vec::new();
        loop {
            let line = self.read_line()?;
            if line.len() < 4 {
                bail!("malformed control reply line {line:?}");
            }
            let sep = line.as_bytes()[3];
            let is_async = line.starts_with("650");
            lines.push(line);
            match sep {
                b' ' => return Ok((lines, is_async)),
                b'+' => loop {
                    let data = self.read_line()?;
                    if data == "." {
                        break;
                    }
                    lines.push(data);
                },
                _ => {}
            }
        }
    }

    fn command(&mut self, command: &str) -> Result<Vec<String>> {
        self.writer.write_all(format!("{command}\r\n").as_bytes())?;
        loop {
            let (lines, is_async) = self.read_reply()?;
            if is_async {
                continue;
            }
            let last = lines.last().map(String::as_str).unwrap_or_default();
            if !last.starts_with('2') {
                bail!(
                    "control command {:?} failed: {}",
                    command.split(' ').next().unwrap_or_default(),
                    lines.join("\n")
                );
            }
            return Ok(lines);
        }
    }
}

fn spawn_stream_watcher(mut conn: ControlConnection, circuits: Arc<Mutex<Vec<String>>>) -> Result<EventWatcher> {
    conn.command("SETEVENTS STREAM")?;
    conn.writer.set_read_timeout(None)?;
    let stream = conn.writer.try_clone()?;
    let thread = std::thread::Builder::new().name("tor-stream-events".into()).spawn(move || {
        while let Ok((lines, true)) = conn.read_reply() {
            for line in lines {
                // 650 STREAM <StreamID> <StreamStatus> <CircuitID> <Target> ...
                let mut words = line.split(' ');
                // Only streams a SOCKS client opened with credentials count: C-tor's own directory
                // fetches (BEGIN_DIR) report STREAM events too, at any time, and the start-up's
                // onion probes may report theirs late.
                if words.next() == Some("650")
                    && words.next() == Some("STREAM")
                    && let (Some(_id), Some("SUCCEEDED"), Some(circ)) = (words.next(), words.next(), words.next())
                    && let Some(user) = line.split(' ').find_map(|w| w.strip_prefix("SOCKS_USERNAME="))
                    && !user.trim_matches('"').starts_with("onion-probe-")
                    && let Ok(mut v) = circuits.lock()
                {
                    v.push(circ.to_owned());
                }
            }
        }
    })?;
    Ok(EventWatcher { stream, thread: Some(thread) })
}

/// Opens a TCP stream to `host:port` through the SOCKS5 proxy at `proxy` (hostname resolved by the proxy),
/// optionally with username/password authentication (which C-tor uses for stream isolation).
pub fn socks5_connect(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    credentials: Option<(&str, &str)>,
    timeout: Duration,
) -> Result<TcpStream> {
    let mut s = TcpStream::connect_timeout(&proxy, timeout).with_context(|| format!("connecting to {proxy}"))?;
    s.set_read_timeout(Some(timeout))?;
    s.set_write_timeout(Some(timeout))?;
    let method = if credentials.is_some() { 2 } else { 0 };
    s.write_all(&[5, 1, method])?;
    let mut reply = [0u8; 2];
    s.read_exact(&mut reply)?;
    if reply != [5, method] {
        bail!("SOCKS5 proxy refused method {method}: {reply:?}");
    }
    if let Some((user, pass)) = credentials {
        let (u, p) = (user.as_bytes(), pass.as_bytes());
        if u.len() > 255 || p.len() > 255 {
            bail!("SOCKS5 credentials too long");
        }
        let mut msg = vec![1, u.len() as u8];
        msg.extend_from_slice(u);
        msg.push(p.len() as u8);
        msg.extend_from_slice(p);
        s.write_all(&msg)?;
        s.read_exact(&mut reply)?;
        if reply[1] != 0 {
            bail!("SOCKS5 authentication failed: {reply:?}");
        }
    }
    if host.len() > 255 {
        bail!("host name too long");
    }
    let mut req = vec![5, 1, 0, 3, host.len() as u8];
    req.extend_from_slice(host.as_bytes());
    req.extend_from_slice(&port.to_be_bytes());
    s.write_all(&req)?;
    let mut head = [0u8; 4];
    s.read_exact(&mut head)?;
    if head[1] != 0 {
        bail!("SOCKS5 CONNECT to {host}:{port} failed with reply code {:#04x}", head[1]);
    }
    let skip = match head[3] {
        1 => 4 + 2,
        4 => 16 + 2,
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len)?;
            usize::from(len[0]) + 2
        }
        other => bail!("SOCKS5 reply with unknown address type {other}"),
    };
    let mut rest = vec![0u8; skip];
    s.read_exact(&mut rest)?;
    Ok(s)
}

/// Sends `GET path` for `http://host:port` through the SOCKS5 proxy and returns the whole response
/// (status line, headers and body) as text.
pub fn http_get_via_socks5(
    proxy: SocketAddr,
    host: &str,
    port: u16,
    path: &str,
    credentials: Option<(&str, &str)>,
    timeout: Duration,
) -> Result<String> {
    let mut s = socks5_connect(proxy, host, port, credentials, timeout)?;
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())?;
    let mut response = Vec::new();
    s.read_to_end(&mut response).context("reading the HTTP response")?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

#[derive(Default)]
struct ServerState {
    served: Mutex<Vec<(String, String, Ipv4Addr)>>,
    direct: AtomicUsize,
    stop: AtomicBool,
}

/// A loopback HTTP/1.1 server for targets "behind the exit": binds 127.0.0.1:0, answers every request from
/// `through` with 200 and the body `hello from <path>` (with `Content-Length`, `Connection: close`) and
/// records it; counts connections from any other address as direct and answers those with 403 without
/// recording them as served.
pub struct ExitOnlyServer {
    addr: SocketAddr,
    state: Arc<ServerState>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for ExitOnlyServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitOnlyServer").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl ExitOnlyServer {
    /// Starts the server; connections whose peer is `through` count as having come through the exit.
    pub fn start(through: Ipv4Addr) -> Result<ExitOnlyServer> {
        Self::start_on(Ipv4Addr::LOCALHOST, through)
    }

    /// Like [`ExitOnlyServer::start`], listening on `bind` (e.g. an address the test added to `lo` in
    /// its namespace, so that clients treat it as off the machine).
    pub fn start_on(bind: Ipv4Addr, through: Ipv4Addr) -> Result<ExitOnlyServer> {
        let listener = TcpListener::bind((bind, 0)).with_context(|| format!("binding {bind}:0"))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(ServerState::default());
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new().name("exit-only-server".into()).spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let st = Arc::clone(&st);
                let _ = std::thread::Builder::new().name("exit-only-conn".into()).spawn(move || {
                    let _ = serve(conn, through, &st);
                });
            }
        })?;
        Ok(ExitOnlyServer { addr, state, thread: Some(thread) })
    }

    /// The address the server listens on (127.0.0.1, an OS-chosen port).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `(method, path)` of each request that came through the exit, in order.
    pub fn served(&self) -> Vec<(String, String)> {
        self.state.served.lock().map(|v| v.iter().map(|(m, p, _)| (m.clone(), p.clone())).collect()).unwrap_or_default()
    }

    /// `(method, path, peer ip)` of each request that came through the exit, in order.
    pub fn served_with_peers(&self) -> Vec<(String, String, Ipv4Addr)> {
        self.state.served.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Number of connections that came from anywhere but the exit address.
    pub fn direct_connections(&self) -> usize {
        self.state.direct.load(Ordering::SeqCst)
    }
}

impl Drop for ExitOnlyServer {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop (from 127.0.0.1; the loop exits before counting it).
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(mut conn: TcpStream, through: Ipv4Addr, state: &ServerState) -> Result<()> {
    let peer = match conn.peer_addr()?.ip() {
        std::net::IpAddr::V4(ip) => ip,
        std::net::IpAddr::V6(ip) => ip.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
    };
    let direct = peer != through && !owned_by_through_process(conn.peer_addr()?, conn.local_addr()?, through);
    if direct {
        state.direct.fetch_add(1, Ordering::SeqCst);
    }
    conn.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = conn.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 64 * 1024 {
            bail!("request head too large");
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.lines().next().unwrap_or_default().split(' ');
    let method = words.next().unwrap_or_default().to_owned();
    let path = words.next().unwrap_or_default().to_owned();
    let (status, body) = if direct {
        ("403 Forbidden", format!("direct connection from {peer} refused\n"))
    } else {
        if let Ok(mut v) = state.served.lock() {
            v.push((method, path.clone(), peer));
        }
        ("200 OK", format!("hello from {path}\n"))
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    conn.write_all(response.as_bytes())?;
    let _ = conn.shutdown(Shutdown::Write);
    Ok(())
}

/// Tor processes whose connections count as coming from an exit address (see [`ExitOnlyServer`]).
///
/// C-tor never applies `OutboundBindAddress*` to connections towards loopback addresses (`connection_connect`
/// skips the bind when the destination is in 127.0.0.0/8 or is ::1), so the exit's connections to a 127.0.0.1
/// target come from 127.0.0.1 like everybody else's. The server therefore also recognises them by the process
/// that owns the peer socket: [`TestNet`] registers its exit (and onion service) here under its exit address.
static THROUGH_PROCESSES: Mutex<Vec<(Ipv4Addr, u32)>> = Mutex::new(Vec::new());

fn register_through_process(address: Ipv4Addr, pid: u32) {
    if let Ok(mut v) = THROUGH_PROCESSES.lock() {
        v.push((address, pid));
    }
}

fn unregister_through_process(pid: u32) {
    if let Ok(mut v) = THROUGH_PROCESSES.lock() {
        v.retain(|&(_, p)| p != pid);
    }
}

/// Formats an address as /proc/net/tcp{,6} does: `0100007F:1F90`.
fn proc_net_addr(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("{:08X}:{:04X}", u32::from_ne_bytes(a.ip().octets()), a.port()),
        SocketAddr::V6(a) => {
            let words: String = a
                .ip()
                .octets()
                .chunks(4)
                .map(|c| format!("{:08X}", u32::from_ne_bytes([c[0], c[1], c[2], c[3]])))
                .collect();
            format!("{words}:{:04X}", a.port())
        }
    }
}

/// The inode of the TCP socket whose local end is `peer` and whose remote end is `local`.
fn peer_socket_inode(peer: SocketAddr, local: SocketAddr) -> Option<String> {
    let table = if peer.is_ipv4() { "/proc/net/tcp" } else { "/proc/net/tcp6" };
    let (peer_s, local_s) = (proc_net_addr(peer), proc_net_addr(local));
    let text = std::fs::read_to_string(table).ok()?;
    text.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 9 && f[1] == peer_s && f[2] == local_s).then(|| f[9].to_owned())
    })
}

fn process_has_socket(pid: u32, inode: &str) -> bool {
    let wanted = format!("socket:[{inode}]");
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return false };
    fds.flatten().any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t.as_os_str() == wanted.as_str()))
}

/// Whether the peer socket of an accepted connection belongs to a tor registered for `through`.
fn owned_by_through_process(peer: SocketAddr, local: SocketAddr, through: Ipv4Addr) -> bool {
    let pids: Vec<u32> = match THROUGH_PROCESSES.lock() {
        Ok(v) => v.iter().filter(|&&(a, _)| a == through).map(|&(_, p)| p).collect(),
        Err(_) => return false,
    };
    if pids.is_empty() {
        return false;
    }
    let Some(inode) = peer_socket_inode(peer, local) else { return false };
    pids.into_iter().any(|pid| process_has_socket(pid, &inode))
}

/// A TCP relay that puts a real server (on loopback) "behind the exit": listens on `bind` (an address
/// from [`add_lo_address`]), forwards each connection whose peer is `through` to `upstream`, both ways
/// until either side closes, and closes and counts any other connection without forwarding a byte.
pub struct ExitOnlyRelay {
    addr: SocketAddr,
    state: Arc<RelayState>,
    thread: Option<JoinHandle<()>>,
}

#[derive(Default)]
struct RelayState {
    relayed: AtomicUsize,
    direct: AtomicUsize,
    stop: AtomicBool,
}

impl std::fmt::Debug for ExitOnlyRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExitOnlyRelay").field("addr", &self.addr).finish_non_exhaustive()
    }
}

impl ExitOnlyRelay {
    /// Starts the relay on `bind`, an OS-chosen port.
    pub fn start(bind: Ipv4Addr, through: Ipv4Addr, upstream: SocketAddr) -> Result<ExitOnlyRelay> {
        let listener = TcpListener::bind((bind, 0)).with_context(|| format!("binding {bind}:0"))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(RelayState::default());
        let st = Arc::clone(&state);
        let thread = std::thread::Builder::new().name("exit-only-relay".into()).spawn(move || {
            for conn in listener.incoming() {
                if st.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let from_exit = conn.peer_addr().is_ok_and(|peer| peer.ip() == std::net::IpAddr::V4(through));
                if !from_exit {
                    st.direct.fetch_add(1, Ordering::SeqCst);
                    continue;
                }
                st.relayed.fetch_add(1, Ordering::SeqCst);
                let _ = std::thread::Builder::new().name("exit-only-relay-conn".into()).spawn(move || {
                    let _ = splice(conn, upstream);
                });
            }
        })?;
        Ok(ExitOnlyRelay { addr, state, thread: Some(thread) })
    }

    /// The address the relay listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections that came through the exit and were forwarded.
    pub fn relayed(&self) -> usize {
        self.state.relayed.load(Ordering::SeqCst)
    }

    /// Connections from anywhere but the exit (closed, nothing forwarded).
    pub fn direct_connections(&self) -> usize {
        self.state.direct.load(Ordering::SeqCst)
    }
}

impl Drop for ExitOnlyRelay {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Copies `conn` to a new connection to `upstream` and back until both directions end.
fn splice(conn: TcpStream, upstream: SocketAddr) -> Result<()> {
    let server = TcpStream::connect_timeout(&upstream, Duration::from_secs(10))?;
    let (mut conn_read, mut server_write) = (conn.try_clone()?, server.try_clone()?);
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut conn_read, &mut server_write);
        let _ = server_write.shutdown(Shutdown::Write);
    });
    let (mut server_read, mut conn_write) = (server, conn);
    let _ = std::io::copy(&mut server_read, &mut conn_write);
    let _ = conn_write.shutdown(Shutdown::Write);
    let _ = up.join();
    Ok(())
}

/// The rendezvous circuit's id in the PROXY protocol v1 line an onion service with
/// [`Options::export_circuit_id`] sends first (`PROXY TCP6 fc00:dead:beef:4dad::0:2a ::1 65535 80`:
/// C-tor puts the circuit's global id in the last 32 bits of the source address); `None` for any
/// other line.
pub fn circuit_of_proxy_line(line: &str) -> Option<u32> {
    let mut words = line.trim_end().split(' ');
    if (words.next(), words.next()) != (Some("PROXY"), Some("TCP6")) {
        return None;
    }
    let source: std::net::Ipv6Addr = words.next()?.parse().ok()?;
    let segments = source.segments();
    (segments[..4] == [0xfc00, 0xdead, 0xbeef, 0x4dad]).then(|| (u32::from(segments[6]) << 16) | u32::from(segments[7]))
}

/// Inside the namespace of [`in_private_netns`]: gives `lo` the extra address `addr` (e.g. 10.99.0.1),
/// an address on this machine that clients do not classify as loopback, so a server on it stands for a
/// destination off the machine while nothing can leave.
pub fn add_lo_address(addr: Ipv4Addr) -> Result<()> {
    anyhow::ensure!(
        std::env::var_os("SOV_TOR_TESTNET_NETNS").is_some(),
        "add_lo_address only inside the private network namespace (in_private_netns)"
    );
    let status = Command::new("ip").args(["addr", "add", &format!("{addr}/32"), "dev", "lo"]).status()?;
    anyhow::ensure!(status.success(), "`ip addr add {addr}/32 dev lo` failed: {status}");
    Ok(())
}

/// The settings an arti client needs for `net` (arti's own `arti.toml` keys, as Sovereign's `[net.arti]`
/// takes them): its authorities, every relay as a fallback cache, local addresses allowed, and no
/// same-subnet rule (every relay is on 127.0.0.1).
pub fn arti_toml(net: &TestNet) -> String {
    let idents: Vec<String> = net.authorities().iter().map(|a| format!("\"{}\"", a.v3ident)).collect();
    let mut text = format!("[tor_network.authorities]\nv3idents = [{}]\n", idents.join(", "));
    for relay in net.relays() {
        text += &format!(
            "[[tor_network.fallback_caches]]\nrsa_identity = \"{}\"\ned_identity = \"{}\"\norports = [\"{}\"]\n",
            relay.rsa_identity,
            relay.ed25519_identity,
            relay.or_addr()
        );
    }
    text += "[address_filter]\nallow_local_addrs = true\n\
             [path_rules]\nipv4_subnet_family_prefix = 33\nipv6_subnet_family_prefix = 129\n\
             [storage.permissions]\ndangerously_trust_everyone = true\n";
    text
}

#[cfg(test)]
mod tests {
    use super::circuit_of_proxy_line;

    #[test]
    fn the_circuit_id_is_read_from_the_proxy_line_and_nothing_else_is_taken_for_one() {
        assert_eq!(circuit_of_proxy_line("PROXY TCP6 fc00:dead:beef:4dad::0:2a ::1 65535 80\r\n"), Some(42));
        assert_eq!(circuit_of_proxy_line("PROXY TCP6 fc00:dead:beef:4dad::1:0 ::1 65535 80"), Some(65536));
        assert_eq!(circuit_of_proxy_line("PROXY TCP6 2001:db8::2a ::1 65535 80"), None);
        assert_eq!(circuit_of_proxy_line("GET / HTTP/1.1"), None);
        assert_eq!(circuit_of_proxy_line("PROXY TCP4 10.0.0.1 10.0.0.2 1 2"), None);
    }
}
