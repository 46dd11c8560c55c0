//! A small harness: a fresh working dir, a fake home with a planted SSH key, a private runtime
//! dir, and a command builder for the real `sov` binary.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const PLANTED_KEY: &str = "-----BEGIN OPENSSH PRIVATE KEY----- sov-test-planted-key";
pub const HOST_SECRET: &str = "ghp_sovTestHostSecretToken0123456789";

pub fn sov_bin() -> &'static str {
    env!("CARGO_BIN_EXE_sov")
}

/// The `sbox` program, built beside `sov`.
pub fn sbox_bin() -> PathBuf {
    Path::new(sov_bin()).with_file_name("sbox")
}

/// The escape probe, built beside `sov` by `cargo nextest run --workspace`.
pub fn probe_bin() -> PathBuf {
    let probe = Path::new(sov_bin()).with_file_name("sov-escape-probe");
    assert!(probe.exists(), "{} is missing: build the workspace (cargo nextest run --workspace)", probe.display());
    probe
}

pub struct World {
    pub workdir: tempfile::TempDir,
    pub home: tempfile::TempDir,
    pub runtime: tempfile::TempDir,
}

impl World {
    pub fn new() -> Self {
        let world = Self {
            workdir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
            runtime: tempfile::tempdir().unwrap(),
        };
        let ssh = world.home.path().join(".ssh");
        std::fs::create_dir_all(&ssh).unwrap();
        std::fs::write(ssh.join("id_ed25519"), PLANTED_KEY).unwrap();
        world
    }

    pub fn work(&self) -> &Path {
        self.workdir.path()
    }

    /// `sov ARGS` run from the working dir, with the fake home and a host secret in the env.
    pub fn sov(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(sov_bin());
        cmd.args(args)
            .current_dir(self.work())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("HOME", self.home.path())
            .env("XDG_RUNTIME_DIR", self.runtime.path())
            .env("SOV_CONFIG", self.home.path().join("config.toml"))
            .env("SOV_DATA_DIR", self.home.path().join("data"))
            .env("GITHUB_TOKEN", HOST_SECRET)
            .env("SOV_TEST_SECRET", HOST_SECRET)
            .env("TERM", "xterm");
        cmd
    }

    /// `program` run from the working dir with the environment [`World::sov`] gives.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let sov = self.sov(&[]);
        let mut cmd = Command::new(program);
        cmd.current_dir(self.work()).env_clear();
        cmd.envs(sov.get_envs().filter_map(|(k, v)| Some((k.to_owned(), v?.to_owned()))));
        cmd
    }

    /// The `sbox` program (built beside `sov`) with ARGS, set up like [`World::sov`].
    pub fn sbox(&self, args: &[&str]) -> Command {
        let mut sbox = self.command(sbox_bin());
        sbox.args(args);
        sbox
    }

    /// `sov sbox [grants] -- sh -c SCRIPT`, with the probe bound read-only.
    pub fn sbox_sh(&self, grants: &[&str], script: &str) -> Output {
        let probe = probe_bin();
        let mut args = vec!["sbox", "--ro", probe.to_str().unwrap()];
        args.extend_from_slice(grants);
        args.extend_from_slice(&["--", "sh", "-c", script]);
        self.sov(&args).output().unwrap()
    }

    /// Runs the probe inside the sandbox with `grants`.
    pub fn probe_inside(&self, grants: &[&str], attack: &[&str]) -> Probe {
        let probe = probe_bin();
        let mut args = vec!["sbox", "--ro", probe.to_str().unwrap()];
        args.extend_from_slice(grants);
        args.push("--");
        args.push(probe.to_str().unwrap());
        args.extend_from_slice(attack);
        Probe::from(self.sov(&args).output().unwrap())
    }
}

/// Runs the probe on the host, unsandboxed: the control that shows the attack would work.
pub fn probe_outside(attack: &[&str]) -> Probe {
    Probe::from(Command::new(probe_bin()).args(attack).output().unwrap())
}

#[derive(Debug)]
pub struct Probe {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Probe {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

impl Probe {
    #[track_caller]
    pub fn assert_contained(&self) {
        assert!(self.code == Some(0) && self.stdout.starts_with("CONTAINED"), "attack was not contained: {self:?}");
    }

    #[track_caller]
    pub fn assert_escaped(&self) {
        assert!(
            self.code == Some(1) && self.stdout.starts_with("ESCAPED"),
            "control attack did not work (exit {:?}): {}{}",
            self.code,
            self.stdout,
            self.stderr
        );
    }
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

pub fn is_root() -> bool {
    rustix::process::getuid().is_root()
}

/// A loopback TCP server that answers every connection with `PONG:<what it received>` and
/// counts connections.
pub struct EchoServer {
    pub port: u16,
    pub connections: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl EchoServer {
    pub fn start() -> Self {
        Self::on(std::net::TcpListener::bind("127.0.0.1:0").unwrap())
    }

    pub fn on(listener: std::net::TcpListener) -> Self {
        use std::io::{Read, Write};
        let port = listener.local_addr().unwrap().port();
        let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = connections.clone();
        std::thread::spawn(move || {
            for mut conn in listener.incoming().flatten() {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                std::thread::spawn(move || {
                    conn.set_read_timeout(Some(std::time::Duration::from_secs(5))).ok();
                    let mut buf = [0u8; 4096];
                    let mut got = Vec::new();
                    while let Ok(n) = conn.read(&mut buf) {
                        if n == 0 {
                            break;
                        }
                        got.extend_from_slice(&buf[..n]);
                        if got.ends_with(b"\n") {
                            break;
                        }
                    }
                    let _ = conn.write_all(format!("PONG:{}", String::from_utf8_lossy(&got)).as_bytes());
                });
            }
        });
        Self { port, connections }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Two listeners on adjacent loopback ports (p, p+1).
pub fn adjacent_servers() -> (EchoServer, EchoServer) {
    for _ in 0..50 {
        let first = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = first.local_addr().unwrap().port();
        if port == u16::MAX {
            continue;
        }
        if let Ok(second) = std::net::TcpListener::bind(("127.0.0.1", port + 1)) {
            return (EchoServer::on(first), EchoServer::on(second));
        }
    }
    panic!("no two adjacent free loopback ports");
}

/// A fresh pseudo-terminal: the master end and the terminal (slave) end, as a test's "host terminal".
pub fn open_pty() -> (std::os::fd::OwnedFd, std::fs::File) {
    use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
    let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    grantpt(&master).unwrap();
    unlockpt(&master).unwrap();
    let slave_path = ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new().read(true).write(true).open(slave_path.to_str().unwrap()).unwrap();
    (master, slave)
}

/// A real `sov serve` on loopback ports of its own, with a home, config and data directory of its
/// own (not the [`World`]'s). Its models directory holds one stand-in `.gguf` file: started
/// `--lazy`, the server loads no model, so no test model is needed.
pub struct Serve {
    pub child: std::process::Child,
    pub home: tempfile::TempDir,
    pub console_port: u16,
}

impl Serve {
    pub fn start() -> Self {
        use std::io::BufRead;
        let home = tempfile::tempdir().unwrap();
        let models = home.path().join("models");
        std::fs::create_dir(&models).unwrap();
        std::fs::write(models.join("stand-in.gguf"), "not loaded: the server is --lazy").unwrap();
        std::fs::write(home.path().join("config.toml"), format!("[engine]\nmodels_dir = {:?}\n", models)).unwrap();
        let log = std::fs::File::create(home.path().join("serve.log")).unwrap();
        let mut child = Command::new(sov_bin())
            .args(["serve", "--lazy", "--listen", "127.0.0.1:0", "--tool-listen", "127.0.0.1:0"])
            .args(["--console-listen", "127.0.0.1:0"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()))
            .env("HOME", home.path())
            .env("SOV_CONFIG", home.path().join("config.toml"))
            .env("SOV_DATA_DIR", home.path().join("data"))
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let mut console_port = None;
        for _ in 0..3 {
            let line = lines.next().and_then(|l| l.ok()).unwrap_or_default();
            let log = || std::fs::read_to_string(home.path().join("serve.log")).unwrap_or_default();
            assert!(line.starts_with("sov serve: "), "sov serve did not start: {line:?}\n{}", log());
            if let Some(rest) = line.strip_prefix("sov serve: console on http://127.0.0.1:") {
                console_port = rest.split(' ').next().and_then(|p| p.parse().ok());
            }
        }
        Self { child, home, console_port: console_port.unwrap() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn data_dir(&self) -> PathBuf {
        self.home.path().join("data")
    }

    /// Where this server's protection record is while it runs.
    pub fn record(&self) -> PathBuf {
        sov_core::protected::registry_dir().join(format!("protected-{}.json", self.pid()))
    }

    /// Stops the server with `signal` and waits for it to end.
    pub fn stop(&mut self, signal: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_child(&self.child), signal).unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every process below `pid` on the host, found by the parent each names in /proc/PID/stat.
pub fn descendants(pid: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![pid];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    found.remove(0);
    found
}

/// What the open descriptors of process `pid` lead to, as /proc/PID/fd shows them.
pub fn open_files(pid: u32) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    entries.flatten().filter_map(|entry| std::fs::read_link(entry.path()).ok()).collect()
}
