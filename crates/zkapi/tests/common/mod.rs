//! A PostgreSQL server of the caller's own, for the PostgreSQL store's tests and the store
//! benchmark: a fresh cluster in a temporary directory, listening on a free loopback port and on a
//! Unix socket in that directory, shut down when dropped.
//!
//! PostgreSQL refuses to run as root, and the tests run as root in CI, so as root the cluster
//! belongs to, and the server runs as, the `postgres` system user Debian's package creates (or
//! `nobody` without it).

// The test and the benchmark each use part of this module.
#![allow(dead_code)]

use std::fs::File;
use std::net::TcpListener;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use tempfile::TempDir;

/// How long a server may take to start or to stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// What the server trades for speed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Durability {
    /// Nothing is flushed to disk: for tests, where the cluster is thrown away.
    Off,
    /// PostgreSQL's defaults (every commit flushed), so timings are those a provider would see.
    Full,
}

/// A running PostgreSQL server; stopped, and its files removed, on drop.
pub(crate) struct PgServer {
    bin: PathBuf,
    /// `uid, gid` to run as, when this process is root.
    owner: Option<(u32, u32)>,
    durability: Durability,
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl PgServer {
    /// A new cluster, started.
    pub(crate) fn start(durability: Durability) -> Result<Self> {
        let bin = bin_dir()?;
        let owner = owner()?;
        let dir = tempfile::Builder::new().prefix("sov-pg-").tempdir().context("creating the cluster's directory")?;
        std::fs::create_dir(dir.path().join("socket")).context("creating the socket directory")?;
        if let Some((uid, gid)) = owner {
            for path in [dir.path().to_owned(), dir.path().join("socket")] {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                    .with_context(|| format!("handing {} to uid {uid}", path.display()))?;
            }
        }
        let log = dir.path().join("initdb.log");
        let status = command(&bin, "initdb", owner, dir.path())
            .args(["--pgdata", "data", "--username", "postgres", "--auth", "trust", "--encoding", "UTF8"])
            .args(["--locale", "C", "--no-sync", "--no-instructions"])
            .stdout(File::create(&log)?)
            .stderr(File::options().append(true).open(&log)?)
            .status()
            .context("running initdb")?;
        if !status.success() {
            bail!("initdb failed ({status}):\n{}", read_log(&log));
        }
        let mut server = Self { bin, owner, durability, port: 0, child: None, dir };
        // Another process may take the free port before the server binds it: try a few.
        let mut last = None;
        for _ in 0..3 {
            server.port = free_port()?;
            match server.run() {
                Ok(()) => return Ok(server),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| anyhow!("the server did not start")))
    }

    /// The server over TCP on loopback.
    pub(crate) fn url(&self) -> String {
        format!("postgresql://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The server over its Unix socket.
    pub(crate) fn socket_url(&self) -> String {
        format!("host={} port={} user=postgres dbname=postgres", self.socket_dir().display(), self.port)
    }

    /// The server's TCP port.
    pub(crate) fn port(&self) -> u16 {
        self.port
    }

    /// Shuts the server down (PostgreSQL's fast shutdown: sessions are ended, data kept).
    pub(crate) fn stop(&mut self) -> Result<()> {
        let Some(mut child) = self.child.take() else { return Ok(()) };
        // SIGINT is PostgreSQL's fast shutdown; a SIGKILLed postmaster would leave its shared
        // memory segment behind.
        let signalled = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
        if signalled.as_ref().is_ok_and(|status| status.success()) {
            let deadline = Instant::now() + PATIENCE;
            while Instant::now() < deadline {
                if child.try_wait()?.is_some() {
                    return Ok(());
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        child.kill()?;
        child.wait()?;
        bail!("the server did not shut down on SIGINT ({signalled:?}) within {PATIENCE:?}; it was killed")
    }

    /// Starts the stopped server again, on the same port and data.
    pub(crate) fn restart(&mut self) -> Result<()> {
        self.stop()?;
        self.run()
    }

    fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("socket")
    }

    fn run(&mut self) -> Result<()> {
        let log = self.dir.path().join("server.log");
        let out = File::options().create(true).append(true).open(&log)?;
        let mut postgres = command(&self.bin, "postgres", self.owner, self.dir.path());
        postgres.args(["-D", "data", "-p", &self.port.to_string(), "-k"]).arg(self.socket_dir());
        postgres.args(["-c", "listen_addresses=127.0.0.1"]);
        if self.durability == Durability::Off {
            postgres.args(["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]);
        }
        let child = postgres.stdout(out.try_clone()?).stderr(out).spawn().context("starting postgres")?;
        self.child = Some(child);
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.as_mut().and_then(|child| child.try_wait().ok().flatten()) {
                self.child = None;
                bail!("postgres exited ({status}) while starting:\n{}", read_log(&log));
            }
            if postgres::Client::connect(&self.url(), postgres::NoTls).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                let _ = self.stop();
                bail!("postgres did not accept connections within {PATIENCE:?}:\n{}", read_log(&log));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            eprintln!("stopping the test's PostgreSQL: {e:#}");
        }
    }
}

/// The directory with `initdb` and `postgres`: `SOV_TEST_PG_BIN`, else the newest
/// `/usr/lib/postgresql/*/bin` (where Debian puts them, off the `PATH`).
fn bin_dir() -> Result<PathBuf> {
    const INSTALL: &str = "install PostgreSQL's server (apt-get install -y postgresql), or set SOV_TEST_PG_BIN to \
                           the directory holding initdb and postgres";
    let has_both = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = std::env::var_os("SOV_TEST_PG_BIN") {
        let dir = PathBuf::from(dir);
        if !has_both(&dir) {
            bail!("SOV_TEST_PG_BIN={} holds no initdb and postgres; {INSTALL}", dir.display());
        }
        return Ok(dir);
    }
    let versions = std::fs::read_dir("/usr/lib/postgresql").into_iter().flatten().flatten();
    let newest = versions
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse::<u32>().ok()?, entry.path().join("bin"))))
        .filter(|(_, bin)| has_both(bin))
        .max();
    newest.map(|(_, bin)| bin).ok_or_else(|| anyhow!("no PostgreSQL server in /usr/lib/postgresql/*/bin; {INSTALL}"))
}

/// Whom the cluster belongs to: `None` to keep this process's user, or a user PostgreSQL accepts
/// when this process is root.
fn owner() -> Result<Option<(u32, u32)>> {
    let uid = Command::new("id").arg("-u").output().context("running id -u")?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Ok(None);
    }
    for user in ["postgres", "nobody"] {
        let entry = Command::new("getent").args(["passwd", user]).output().context("running getent")?;
        let line = String::from_utf8_lossy(&entry.stdout).into_owned();
        let fields: Vec<&str> = line.trim().split(':').collect();
        if let (Some(uid), Some(gid)) = (fields.get(2), fields.get(3)) {
            return Ok(Some((uid.parse()?, gid.parse()?)));
        }
    }
    bail!("running as root, and there is neither a postgres nor a nobody user to run PostgreSQL as")
}

fn command(bin: &Path, program: &str, owner: Option<(u32, u32)>, dir: &Path) -> Command {
    let mut command = Command::new(bin.join(program));
    // The server reads its locale and time zone from the environment; keep the host's out.
    command.current_dir(dir).env_clear().env("LC_ALL", "C").env("TZ", "UTC").stdin(Stdio::null());
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
    }
    command
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0").context("finding a free port")?.local_addr()?.port())
}

fn read_log(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read {}: {e})", path.display()))
}
