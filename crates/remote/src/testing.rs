//! A Dante SOCKS5 server for tests (feature `testing`), standing in for Tor's or a Nym client's
//! SOCKS port: started on 127.0.0.1 with a free port and no authentication, logging connections
//! to a file, stopped when dropped. Nothing here reaches beyond the loopback interface.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::{Ipv4Addr, SocketAddr, TcpListener as StdListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How the tests find Dante's server: `$SOV_TEST_DANTED`, else `danted` on `PATH`, else
/// `/usr/sbin/danted`. Missing is a failure, not a skip.
pub fn find_danted() -> PathBuf {
    if let Some(p) = std::env::var_os("SOV_TEST_DANTED") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "SOV_TEST_DANTED={} is not a file", p.display());
        return p;
    }
    let on_path = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .map(|dir| dir.join("danted"))
        .find(|p| p.is_file());
    if let Some(p) = on_path {
        return p;
    }
    let sbin = PathBuf::from("/usr/sbin/danted");
    if sbin.is_file() {
        return sbin;
    }
    panic!(
        "danted (Dante SOCKS server) not found: run scripts/test.sh, which installs the Debian \
         package `dante-server`, or `apt-get install -y dante-server`, or set SOV_TEST_DANTED to \
         the danted binary"
    );
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(1).map(|uid| uid == "0"))
        })
        .unwrap_or(false)
}

/// A `danted` on 127.0.0.1:<free port>, no authentication, logging connections (and, at debug
/// level, the address each request names) to a file in a temporary directory.
pub struct Danted {
    pub addr: SocketAddr,
    log: PathBuf,
    child: Child,
    _dir: tempfile::TempDir,
}

impl Danted {
    pub fn start() -> Self {
        let bin = find_danted();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("danted.log");
        let mut last_log = String::new();
        for _attempt in 0..5 {
            let port = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap().local_addr().unwrap().port();
            let conf = dir.path().join("danted.conf");
            std::fs::write(&conf, danted_config(&log, port)).unwrap();
            let out = std::fs::File::create(dir.path().join("danted.out")).unwrap();
            let mut child = Command::new(&bin)
                .arg("-f")
                .arg(&conf)
                .arg("-p")
                .arg(dir.path().join("danted.pid"))
                .stdin(Stdio::null())
                .stdout(out.try_clone().unwrap())
                .stderr(out)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if std::net::TcpStream::connect(addr).is_ok() {
                    return Self { addr, log, child, _dir: dir };
                }
                if child.try_wait().unwrap().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = std::fs::read_to_string(&log).unwrap_or_default()
                + &std::fs::read_to_string(dir.path().join("danted.out")).unwrap_or_default();
        }
        panic!("danted did not start; its log:\n{last_log}");
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits (up to 5 s) for the log to contain `needle`; returns whether it did.
    pub fn wait_for_log(&self, needle: &str) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn danted_config(log: &Path, port: u16) -> String {
    let users = if running_as_root() { "user.privileged: root\nuser.unprivileged: nobody\n" } else { "" };
    format!(
        "logoutput: {log}\n\
         debug: 1\n\
         internal: 127.0.0.1 port = {port}\n\
         external: lo\n\
         clientmethod: none\n\
         socksmethod: none\n\
         {users}\
         client pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  log: error connect disconnect\n}}\n\
         socks pass {{\n  from: 127.0.0.0/8 to: 0.0.0.0/0\n  command: connect\n  log: error connect disconnect\n}}\n",
        log = log.display()
    )
}

impl Drop for Danted {
    fn drop(&mut self) {
        // SIGTERM lets the mother process stop its children; SIGKILL only if it does not.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
