//! Real mail servers for integration tests: Dovecot (IMAP + LMTP) and OpenSMTPD,
//! started on free `127.0.0.1` ports, without systemd, with every file they use
//! (configuration, certificates, queue, sockets, logs, mail) in one temp dir.
//!
//! ```text
//!  test ──SMTP──▶ OpenSMTPD ─┬─ mx_port          no auth, any recipient (an inbound MX)
//!                            ├─ submission_port  STARTTLS + AUTH PLAIN/LOGIN
//!                            └─ smtps_port       implicit TLS + AUTH PLAIN/LOGIN
//!                                 │ every recipient, any domain: nothing leaves the machine
//!                                 ▼ LMTP over <dir>/lmtp.sock
//!  test ──IMAP──▶ Dovecot ──▶ <dir>/mail/<domain>/<local>/Maildir
//!                 imap_port (STARTTLS or plaintext), imaps_port (implicit TLS)
//! ```
//!
//! Where mail lands: an address is lower-cased (ASCII) and split at its first `@`;
//! `Alice@Example.org` and `alice@example.org` both map to
//! `<dir>/mail/example.org/alice/Maildir`, and so does every address, whether or not it
//! is one of the users given to [`MailServers::start`] (those users can also log in).
//! There is no sub-addressing: `alice+tag@example.org` has its own Maildir. Folders
//! other than INBOX are Maildir++ (`Sent` is `Maildir/.Sent`, `a/b` is `Maildir/.a.b`);
//! the IMAP hierarchy separator is `/`.
//!
//! Needs root (OpenSMTPD insists on it), the Debian packages `dovecot-imapd
//! dovecot-lmtpd opensmtpd openssl` and, for OpenSMTPD 6.x, a C compiler (`cc`).
//! Their system services are neither needed nor touched.
//!
//! Two details worth knowing:
//! - OpenSMTPD has its control socket (`/var/run/smtpd.sock`) and spool
//!   (`/var/spool/smtpd`) compiled in. Each instance therefore runs in its own mount
//!   namespace (`unshare -m`) with private dirs bound over `/var/run` and `/var/spool`,
//!   so any number of instances run at once, in one process or many. Where mount
//!   namespaces are not allowed (a container without `CAP_SYS_ADMIN`, or
//!   `SOV_TEST_MAIL_NO_NAMESPACE=1`) the system paths are used instead and OpenSMTPD
//!   instances are serialised by an exclusive lock on
//!   `/var/run/sov-test-opensmtpd.lock`: a second [`MailServers`] waits until the first
//!   is dropped (so one test must not hold two at once there), and a running system
//!   OpenSMTPD makes `start` panic.
//! - OpenSMTPD 6.8 linked against OpenSSL 3 (Debian 12) fails every TLS handshake
//!   ("EVP lib", OpenSMTPD issue #1171: its privilege-separated RSA key is looked up in
//!   `RSA_get_ex_data`, which OpenSSL 3 no longer carries over). For 6.x the harness
//!   builds a 20-line `LD_PRELOAD` shim that answers that lookup with the one key's name
//!   (only for public-only RSA keys, i.e. exactly the lookups that fail) and preloads it
//!   into `smtpd`.
//!
//! Delivered messages gain headers on the way: OpenSMTPD prepends `Return-Path`,
//! `Delivered-To` (the original recipient) and `Received`, and adds `Date` and
//! `Message-ID` if missing; Dovecot prepends a second `Return-Path`.
//!
//! Everything here blocks (start-up takes about 0.3 s, drop some 20 ms). In async
//! tests, call it through `spawn_blocking` when a client must keep running meanwhile.
//!
//! If the test process dies without dropping a [`MailServers`] (a panic is fine, a
//! `SIGKILL` or a nextest timeout is not), a watchdog shell notices within a second,
//! stops both servers and removes the temp dir.
//!
//! Use it from an integration test with `#[path = "support/mail.rs"] mod mail;`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, unreachable_pub, dead_code)]

use std::fmt::Write as _;
use std::fs::{self, File};
use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::os::unix::fs::{PermissionsExt, chown};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const DOVECOT: &str = "/usr/sbin/dovecot";
const SMTPD: &str = "/usr/sbin/smtpd";
const SMTPCTL: &str = "/usr/sbin/smtpctl";
/// Name of the OpenSMTPD `pki` entry (and the certificate's host name).
const PKI: &str = "localhost";
const FALLBACK_LOCK: &str = "/var/run/sov-test-opensmtpd.lock";
const SYSTEM_SMTPD_SOCKET: &str = "/var/run/smtpd.sock";
const START_TIMEOUT: Duration = Duration::from_secs(20);
const MAIL_TIMEOUT: Duration = Duration::from_secs(10);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// `RSA_get_ex_data` override, see the module docs. Compiled with `cc` for OpenSMTPD 6.x.
const SMTPD_TLS_SHIM: &str = r#"
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>
static char pki_name[] = "localhost";
typedef void *(*get_ex_data_fn)(const void *, int);
typedef void (*get0_key_fn)(const void *, const void **, const void **, const void **);
void *RSA_get_ex_data(const void *rsa, int idx) {
    static get_ex_data_fn real;
    static get0_key_fn get0_key;
    if (!real) real = (get_ex_data_fn)dlsym(RTLD_NEXT, "RSA_get_ex_data");
    if (!get0_key) get0_key = (get0_key_fn)dlsym(RTLD_NEXT, "RSA_get0_key");
    void *value = real ? real(rsa, idx) : NULL;
    if (value == NULL && idx == 0 && get0_key) {
        const void *n = NULL, *e = NULL, *d = NULL;
        get0_key(rsa, &n, &e, &d);
        if (d == NULL) return pki_name;
    }
    return value;
}
"#;

/// A running Dovecot and OpenSMTPD pair; both are stopped and their temp dir removed
/// on drop.
pub struct MailServers {
    smtpd: Option<Child>,
    dovecot: Option<Child>,
    watchdog: Option<Child>,
    /// Held while OpenSMTPD runs without a private mount namespace.
    smtpd_lock: Option<File>,
    ports: Ports,
    root: PathBuf,
    ca_pem: PathBuf,
    vmail: (u32, u32),
    seq: AtomicU64,
    startup: Duration,
    /// Last field: removed after the servers have stopped.
    dir: tempfile::TempDir,
}

#[derive(Clone, Copy, Debug)]
struct Ports {
    imap: u16,
    imaps: u16,
    submission: u16,
    smtps: u16,
    mx: u16,
}

/// What the host offers, found out once per process.
struct Host {
    /// uid and gid of the `dovecot` user, which owns all mail.
    vmail: (u32, u32),
    /// Whether OpenSMTPD can get a private mount namespace.
    namespaces: bool,
    /// Whether OpenSMTPD needs the TLS shim (version 6.x).
    smtpd_shim: bool,
}

impl MailServers {
    /// Whether this host can run the servers: `Err` says what is missing (not root,
    /// a package, `cc`). Lets a test skip instead of failing where that is wanted.
    pub fn prerequisites() -> Result<(), String> {
        host().map(|_| ())
    }

    /// Starts Dovecot and OpenSMTPD on free 127.0.0.1 ports and waits until every port
    /// accepts connections. `users` are (address, password) pairs that can log in to
    /// IMAP and to SMTP submission; mail to any other address is still delivered and
    /// kept (see [`MailServers::mailbox`]). Panics, with the servers' logs, if they do
    /// not come up within 20 s.
    pub fn start(users: &[(&str, &str)]) -> MailServers {
        let started = Instant::now();
        let host = host().unwrap_or_else(|e| panic!("MailServers cannot run here: {e}"));

        let dir = tempfile::Builder::new()
            .prefix("sov-mail.")
            .tempdir_in(temp_base())
            .expect("create temp dir for mail servers");
        let root = dir.path().to_path_buf();
        // Dovecot's unprivileged processes and OpenSMTPD's delivery agent (`nobody`)
        // must reach files and sockets in here.
        fs::set_permissions(&root, fs::Permissions::from_mode(0o755)).unwrap();
        for sub in ["tls", "dovecot/run", "dovecot/state", "smtpd/run", "smtpd/spool", "mail"] {
            fs::create_dir_all(root.join(sub)).unwrap();
        }
        chown(root.join("mail"), Some(host.vmail.0), Some(host.vmail.1)).unwrap();

        let shim = root.join("smtpd/tls-shim.so");
        let mut shim_build = host.smtpd_shim.then(|| {
            let source = root.join("smtpd/tls-shim.c");
            fs::write(&source, SMTPD_TLS_SHIM).unwrap();
            Command::new("cc")
                .args(["-shared", "-fPIC", "-O2", "-o"])
                .arg(&shim)
                .arg(&source)
                .arg("-ldl")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .expect("run cc to build the OpenSMTPD TLS shim")
        });

        let ports = Ports::pick();
        make_certificates(&root.join("tls"));
        write_dovecot_config(&root, ports, host.vmail, users);
        write_smtpd_config(&root, ports, users);

        if let Some(cc) = shim_build.take() {
            let out = cc.wait_with_output().unwrap();
            assert!(
                out.status.success(),
                "building the OpenSMTPD TLS shim failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }

        let mut servers = MailServers {
            smtpd: None,
            dovecot: None,
            watchdog: None,
            smtpd_lock: None,
            ports,
            ca_pem: root.join("tls/ca.pem"),
            root: root.clone(),
            vmail: host.vmail,
            seq: AtomicU64::new(0),
            startup: Duration::ZERO,
            dir,
        };
        // From here a panic drops `servers`, which stops whatever was started.
        servers.dovecot = Some(spawn_logged(
            Command::new(DOVECOT).arg("-F").arg("-c").arg(root.join("dovecot/dovecot.conf")),
            &root.join("dovecot.stderr.log"),
        ));
        let mut smtpd = if host.namespaces {
            // Private /var/run (control socket, pid file) and /var/spool (queue chroot).
            let mut cmd = Command::new("unshare");
            cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(
                    "run=$1 spool=$2; shift 2; \
                     mount -n --bind \"$run\" /var/run && mount -n --bind \"$spool\" /var/spool && exec \"$@\"",
                )
                .arg("sh")
                .arg(root.join("smtpd/run"))
                .arg(root.join("smtpd/spool"))
                .arg(SMTPD);
            cmd
        } else {
            servers.smtpd_lock = Some(lock_system_smtpd_paths());
            Command::new(SMTPD)
        };
        // `-d`: foreground, log to stderr. `-B queue=ram`: nothing is written to a spool.
        smtpd.args(["-d", "-B", "queue=ram", "-f"]).arg(root.join("smtpd/smtpd.conf"));
        if host.smtpd_shim {
            smtpd.env("LD_PRELOAD", &shim);
        }
        servers.smtpd = Some(spawn_logged(&mut smtpd, &root.join("smtpd.log")));
        servers.watchdog = Some(servers.spawn_watchdog());

        servers.wait_ready();
        servers.startup = started.elapsed();
        servers
    }

    /// IMAP over implicit TLS.
    pub fn imaps_port(&self) -> u16 {
        self.ports.imaps
    }

    /// Plain IMAP: STARTTLS is offered and LOGIN / AUTHENTICATE PLAIN|LOGIN work with or
    /// without it (`disable_plaintext_auth = no`).
    pub fn imap_port(&self) -> u16 {
        self.ports.imap
    }

    /// SMTP submission: STARTTLS, then AUTH PLAIN/LOGIN (required before MAIL FROM).
    pub fn submission_port(&self) -> u16 {
        self.ports.submission
    }

    /// SMTP submission over implicit TLS, AUTH PLAIN/LOGIN required.
    pub fn smtps_port(&self) -> u16 {
        self.ports.smtps
    }

    /// SMTP without auth or TLS that accepts mail for any recipient, like an inbound MX.
    pub fn mx_port(&self) -> u16 {
        self.ports.mx
    }

    /// PEM of the CA that signed the servers' certificate, which is valid for
    /// `localhost`, `127.0.0.1` and `::1`.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    /// The temp dir holding configuration, logs and mail.
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// How long [`MailServers::start`] took.
    pub fn startup_time(&self) -> Duration {
        self.startup
    }

    /// The Maildir (INBOX) of `address`; see the module docs for the mapping.
    pub fn maildir(&self, address: &str) -> PathBuf {
        let address = address.to_ascii_lowercase();
        let (local, domain) = address.split_once('@').unwrap_or((address.as_str(), ""));
        self.root.join("mail").join(domain).join(local).join("Maildir")
    }

    /// The Maildir++ directory of `folder` ("INBOX", "Sent", "a/b", …) of `address`.
    pub fn folder_dir(&self, address: &str, folder: &str) -> PathBuf {
        let maildir = self.maildir(address);
        if folder.eq_ignore_ascii_case("INBOX") {
            maildir
        } else {
            maildir.join(format!(".{}", folder.replace('/', ".")))
        }
    }

    /// Delivers `raw` (RFC 5322) through the MX port: EHLO, MAIL FROM, RCPT TO for each
    /// of `to`, DATA (line ends normalised to CRLF, dot-stuffed), QUIT. Returns once
    /// OpenSMTPD has queued it; use [`MailServers::wait_for_mail`] to see it arrive.
    /// Panics if any reply is not a success.
    pub fn deliver(&self, from: &str, to: &[&str], raw: &[u8]) {
        if let Err(e) = self.try_deliver(from, to, raw) {
            panic!("delivery through the MX port failed: {e}\n{}", self.logs());
        }
    }

    /// [`MailServers::deliver`] that returns the failing command and reply instead of
    /// panicking.
    pub fn try_deliver(&self, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
        smtp_send(self.ports.mx, from, to, raw)
    }

    /// Writes `raw` straight into the INBOX Maildir of `address` (as a new, unseen
    /// message) for fast bulk seeding; Dovecot picks it up on the next IMAP access.
    pub fn seed_maildir(&self, address: &str, raw: &[u8]) {
        self.seed_folder(address, "INBOX", raw, false);
    }

    /// Writes `raw` into `folder` of `address`, creating the folder if needed; `seen`
    /// stores it with the `\Seen` flag. The file's mtime (Dovecot's INTERNALDATE) is now.
    pub fn seed_folder(&self, address: &str, folder: &str, raw: &[u8], seen: bool) {
        let dir = self.folder_dir(address, folder);
        for sub in ["cur", "new", "tmp"] {
            self.create_owned(&dir.join(sub));
        }
        if !folder.eq_ignore_ascii_case("INBOX") && !dir.join("maildirfolder").exists() {
            self.write_owned(&dir.join("maildirfolder"), b"");
        }
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let name = format!(
            "{}.M{}P{}Q{}.sovtest,S={}",
            now.as_secs(),
            now.subsec_micros(),
            std::process::id(),
            self.seq.fetch_add(1, Ordering::Relaxed),
            raw.len()
        );
        let tmp = dir.join("tmp").join(&name);
        self.write_owned(&tmp, raw);
        let dest = if seen { dir.join("cur").join(format!("{name}:2,S")) } else { dir.join("new").join(&name) };
        fs::rename(&tmp, &dest).unwrap();
    }

    /// Raw messages in the INBOX of `address` (any address), read from the Maildir's
    /// `new/` and `cur/`, oldest first. Empty if nothing was delivered there.
    pub fn mailbox(&self, address: &str) -> Vec<Vec<u8>> {
        self.folder(address, "INBOX")
    }

    /// Raw messages in `folder` of `address`, oldest first.
    pub fn folder(&self, address: &str, folder: &str) -> Vec<Vec<u8>> {
        let dir = self.folder_dir(address, folder);
        let mut files = Vec::new();
        for sub in ["new", "cur"] {
            let Ok(entries) = fs::read_dir(dir.join(sub)) else { continue };
            for entry in entries.flatten() {
                // Dovecot may move a file from new/ to cur/ while we look: skip it here,
                // the next call sees it.
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_file() {
                    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
                    files.push((mtime, entry.file_name(), entry.path()));
                }
            }
        }
        files.sort();
        files.into_iter().filter_map(|(_, _, path)| fs::read(path).ok()).collect()
    }

    /// Polls (every 50 ms, up to 10 s) until the INBOX of `address` holds at least `n`
    /// messages and returns them; panics with the servers' logs otherwise.
    pub fn wait_for_mail(&self, address: &str, n: usize) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + MAIL_TIMEOUT;
        loop {
            let messages = self.mailbox(address);
            if messages.len() >= n {
                return messages;
            }
            assert!(
                Instant::now() < deadline,
                "{address}: {} of {n} message(s) after {MAIL_TIMEOUT:?} in {}\n{}",
                messages.len(),
                self.maildir(address).display(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The last lines of Dovecot's and OpenSMTPD's logs, for assertion messages.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for name in ["smtpd.log", "dovecot.log", "dovecot.stderr.log"] {
            let text = fs::read_to_string(self.root.join(name)).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = &lines[lines.len().saturating_sub(60)..];
            let _ = writeln!(out, "----- {name} (last {} lines) -----", tail.len());
            for line in tail {
                let _ = writeln!(out, "{line}");
            }
        }
        out
    }

    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let lmtp = self.root.join("lmtp.sock");
        let ports = [
            ("dovecot imap", self.ports.imap),
            ("dovecot imaps", self.ports.imaps),
            ("smtpd mx", self.ports.mx),
            ("smtpd submission", self.ports.submission),
            ("smtpd smtps", self.ports.smtps),
        ];
        let mut ready = [false; 5];
        let mut lmtp_ready = false;
        loop {
            for (name, exited) in [("dovecot", exited(&mut self.dovecot)), ("smtpd", exited(&mut self.smtpd))] {
                if let Some(status) = exited {
                    panic!("{name} exited during start-up ({status})\n{}", self.logs());
                }
            }
            for (i, (_, port)) in ports.iter().enumerate() {
                ready[i] = ready[i]
                    || TcpStream::connect_timeout(&(Ipv4Addr::LOCALHOST, *port).into(), Duration::from_millis(200))
                        .is_ok();
            }
            lmtp_ready = lmtp_ready || UnixStream::connect(&lmtp).is_ok();
            if lmtp_ready && ready.iter().all(|r| *r) {
                return;
            }
            if Instant::now() >= deadline {
                let missing: Vec<String> = ports
                    .iter()
                    .zip(ready)
                    .filter(|(_, r)| !r)
                    .map(|((name, port), _)| format!("{name} ({port})"))
                    .chain((!lmtp_ready).then(|| "dovecot lmtp socket".to_string()))
                    .collect();
                panic!(
                    "mail servers not ready after {START_TIMEOUT:?}: {} not accepting connections\n{}",
                    missing.join(", "),
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A shell that stops both servers and removes the temp dir if this process dies
    /// without dropping `self`.
    fn spawn_watchdog(&self) -> Child {
        let pids: Vec<String> =
            [&self.dovecot, &self.smtpd].into_iter().flatten().map(|c| c.id().to_string()).collect();
        Command::new("sh")
            .arg("-c")
            .arg(
                "parent=$1 dir=$2; shift 2; \
                 while kill -0 \"$parent\" 2>/dev/null; do sleep 1; done; \
                 kill -TERM \"$@\" 2>/dev/null; sleep 3; kill -KILL \"$@\" 2>/dev/null; rm -rf \"$dir\"",
            )
            .arg("sh")
            .arg(std::process::id().to_string())
            .arg(&self.root)
            .args(pids)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn watchdog shell")
    }

    /// Creates `dir` and its missing parents below the mail root, owned by Dovecot's
    /// mail user.
    fn create_owned(&self, dir: &Path) {
        let mail_root = self.root.join("mail");
        let mut missing = Vec::new();
        let mut cur = dir;
        while cur != mail_root && !cur.exists() {
            missing.push(cur.to_path_buf());
            cur = cur.parent().expect("maildir below the mail root");
        }
        for path in missing.into_iter().rev() {
            match fs::create_dir(&path) {
                Ok(()) => chown(&path, Some(self.vmail.0), Some(self.vmail.1)).unwrap(),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => panic!("create {}: {e}", path.display()),
            }
        }
    }

    fn write_owned(&self, path: &Path, contents: &[u8]) {
        fs::write(path, contents).unwrap();
        chown(path, Some(self.vmail.0), Some(self.vmail.1)).unwrap();
    }
}

impl Drop for MailServers {
    fn drop(&mut self) {
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        // OpenSMTPD first, so nothing is mid-delivery when Dovecot goes.
        if let Some(mut smtpd) = self.smtpd.take() {
            stop(&mut smtpd);
        }
        self.smtpd_lock = None;
        if let Some(mut dovecot) = self.dovecot.take() {
            stop_dovecot(&mut dovecot);
        }
    }
}

fn exited(child: &mut Option<Child>) -> Option<std::process::ExitStatus> {
    child.as_mut().and_then(|c| c.try_wait().ok().flatten())
}

/// Dovecot's master sleeps a second after SIGTERM before it exits, and its state goes
/// with the temp dir anyway: SIGKILL the master and its children (all direct children),
/// then wait until they are gone. Falls back to [`stop`] without `/proc/…/children`.
fn stop_dovecot(master: &mut Child) {
    let pid = master.id();
    let Ok(children) = fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")) else {
        return stop(master);
    };
    let _ = master.kill();
    let _ = master.wait();
    let children: Vec<&str> = children.split_whitespace().collect();
    if children.is_empty() {
        return;
    }
    let _ = Command::new("sh").args(["-c", "kill -KILL \"$@\" 2>/dev/null", "sh"]).args(&children).status();
    // Not our children: gone once /proc has no entry or shows a zombie.
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline
        && children.iter().any(|pid| {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .is_ok_and(|stat| stat.rsplit_once(") ").is_some_and(|(_, rest)| !rest.starts_with('Z')))
        })
    {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// SIGTERM, then SIGKILL after [`STOP_GRACE`]; always reaps.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let _ = Command::new("sh").args(["-c", "kill -TERM \"$1\"", "sh"]).arg(child.id().to_string()).status();
    let deadline = Instant::now() + STOP_GRACE;
    loop {
        match child.try_wait() {
            Ok(Some(_)) => return,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(10)),
            _ => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
}

impl Ports {
    /// Binds five listeners on port 0 at once (so the ports differ), then frees them.
    fn pick() -> Ports {
        let listeners: Vec<TcpListener> =
            (0..5).map(|_| TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap()).collect();
        let port = |i: usize| listeners[i].local_addr().unwrap().port();
        Ports { imap: port(0), imaps: port(1), submission: port(2), smtps: port(3), mx: port(4) }
    }
}

fn host() -> Result<&'static Host, String> {
    static HOST: OnceLock<Result<Host, String>> = OnceLock::new();
    HOST.get_or_init(probe_host).as_ref().map_err(Clone::clone)
}

fn probe_host() -> Result<Host, String> {
    let status = fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid =
        status.lines().find_map(|l| l.strip_prefix("Uid:")).and_then(|l| l.split_whitespace().nth(1)).unwrap_or("?");
    if euid != "0" {
        return Err(format!("must run as root (OpenSMTPD requires it); effective uid is {euid}"));
    }
    for (path, package) in [
        (DOVECOT, "dovecot-core"),
        ("/usr/lib/dovecot/imap", "dovecot-imapd"),
        ("/usr/lib/dovecot/lmtp", "dovecot-lmtpd"),
        (SMTPD, "opensmtpd"),
        (SMTPCTL, "opensmtpd"),
    ] {
        if !Path::new(path).exists() {
            return Err(format!("{path} is missing: apt-get install {package}"));
        }
    }
    if !runs(Command::new("openssl").arg("version")) {
        return Err("the openssl command is missing: apt-get install openssl".into());
    }
    let vmail = (id_of("-u")?, id_of("-g")?);
    if !runs(Command::new("id").arg("dovenull")) || !runs(Command::new("id").arg("nobody")) {
        return Err("users dovenull and nobody must exist (dovecot-core creates dovenull)".into());
    }

    let version = Command::new(SMTPD).arg("-h").output().map_err(|e| format!("run {SMTPD} -h: {e}"))?;
    let version = String::from_utf8_lossy(&version.stderr).into_owned() + &String::from_utf8_lossy(&version.stdout);
    let smtpd_shim = version.contains("OpenSMTPD 6.");
    if smtpd_shim && !runs(Command::new("cc").arg("--version")) {
        return Err("OpenSMTPD 6.x needs a C compiler (cc) for its TLS shim: apt-get install gcc".into());
    }

    let namespaces = std::env::var_os("SOV_TEST_MAIL_NO_NAMESPACE").is_none_or(|v| v.is_empty() || v == "0")
        && runs(Command::new("unshare").args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            "mount -n -t tmpfs tmpfs /var/run && mount -n -t tmpfs tmpfs /var/spool",
        ]));
    Ok(Host { vmail, namespaces, smtpd_shim })
}

/// uid (`-u`) or gid (`-g`) of the `dovecot` user.
fn id_of(flag: &str) -> Result<u32, String> {
    let out = Command::new("id").args([flag, "dovecot"]).output().map_err(|e| format!("run id: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "user dovecot does not exist: apt-get install dovecot-core".to_string())
}

fn runs(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok_and(|s| s.success())
}

/// The system temp dir, unless it is hidden by OpenSMTPD's private mounts or so long
/// that Dovecot's socket paths would not fit.
fn temp_base() -> PathBuf {
    let base = std::env::temp_dir();
    let hidden = ["/run", "/var/run", "/var/spool"].iter().any(|p| base.starts_with(p));
    if hidden || base.as_os_str().len() > 40 { PathBuf::from("/tmp") } else { base }
}

/// Without a private namespace, instances share `/var/run/smtpd.sock`: one at a time.
fn lock_system_smtpd_paths() -> File {
    let lock = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(FALLBACK_LOCK)
        .unwrap_or_else(|e| panic!("open {FALLBACK_LOCK}: {e}"));
    lock.lock().unwrap_or_else(|e| panic!("lock {FALLBACK_LOCK}: {e}"));
    assert!(
        UnixStream::connect(SYSTEM_SMTPD_SOCKET).is_err(),
        "an OpenSMTPD is already listening on {SYSTEM_SMTPD_SOCKET} and mount namespaces are not \
         available, so the test OpenSMTPD cannot start: stop the system service (or allow unshare -m)"
    );
    lock
}

fn spawn_logged(cmd: &mut Command, log: &Path) -> Child {
    let file = File::create(log).unwrap();
    cmd.stdin(Stdio::null())
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"))
}

fn run(cmd: &mut Command) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("run {cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// A P-256 CA and an RSA-2048 server certificate it signs (RSA: OpenSMTPD's
/// privilege-separated TLS only handles RSA keys with the shim).
fn make_certificates(tls: &Path) {
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
        .args(["-days", "3650", "-subj", "/CN=Sovereign test CA"])
        .args(["-addext", "basicConstraints=critical,CA:TRUE"])
        .args(["-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        .arg("-keyout")
        .arg(tls.join("ca.key"))
        .arg("-out")
        .arg(tls.join("ca.pem")));
    run(Command::new("openssl")
        .args(["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3650", "-subj", "/CN=localhost"])
        .arg("-CA")
        .arg(tls.join("ca.pem"))
        .arg("-CAkey")
        .arg(tls.join("ca.key"))
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-addext", "keyUsage=critical,digitalSignature,keyEncipherment"])
        .args(["-addext", "extendedKeyUsage=serverAuth"])
        .arg("-keyout")
        .arg(tls.join("server.key"))
        .arg("-out")
        .arg(tls.join("server.pem")));
    for key in ["ca.key", "server.key"] {
        fs::set_permissions(tls.join(key), fs::Permissions::from_mode(0o600)).unwrap();
    }
}

fn write_dovecot_config(root: &Path, ports: Ports, vmail: (u32, u32), users: &[(&str, &str)]) {
    let r = root.display();
    let (uid, gid) = vmail;
    let Ports { imap, imaps, .. } = ports;
    let instance = root.file_name().unwrap().to_string_lossy();
    let config = format!(
        r"# Written by tests/support/mail.rs. Nothing from /etc/dovecot is read.
protocols = imap lmtp
instance_name = {instance}
base_dir = {r}/dovecot/run
state_dir = {r}/dovecot/state
log_path = {r}/dovecot.log
info_log_path = {r}/dovecot.log
hostname = localhost
listen = 127.0.0.1
ssl = yes
ssl_cert = <{r}/tls/server.pem
ssl_key = <{r}/tls/server.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_verbose = yes
auth_username_format = %Lu
auth_username_chars =
recipient_delimiter =
first_valid_uid = 1
first_valid_gid = 1
mail_uid = {uid}
mail_gid = {gid}
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
mail_fsync = never
lmtp_add_received_header = no
lmtp_hdr_delivery_address = none
namespace inbox {{
  inbox = yes
  separator = /
  mailbox Drafts {{
    special_use = \Drafts
    auto = subscribe
  }}
  mailbox Sent {{
    special_use = \Sent
    auto = subscribe
  }}
  mailbox Trash {{
    special_use = \Trash
    auto = subscribe
  }}
  mailbox Junk {{
    special_use = \Junk
    auto = subscribe
  }}
  mailbox Archive {{
    special_use = \Archive
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = username_format=%Lu {r}/dovecot/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={r}/mail/%Ld/%Ln allow_all_users=yes
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps}
    ssl = yes
  }}
}}
service lmtp {{
  unix_listener {r}/lmtp.sock {{
    mode = 0666
  }}
}}
"
    );
    fs::write(root.join("dovecot/dovecot.conf"), config).unwrap();
    // `{PLAIN.b64}`: any password bytes survive the `:`-separated file.
    let mut passwd = String::new();
    for (address, password) in users {
        let _ = writeln!(passwd, "{}:{{PLAIN.b64}}{}", address.to_ascii_lowercase(), base64(password.as_bytes()));
    }
    let users_file = root.join("dovecot/users");
    fs::write(&users_file, passwd).unwrap();
    fs::set_permissions(&users_file, fs::Permissions::from_mode(0o644)).unwrap();
}

fn write_smtpd_config(root: &Path, ports: Ports, users: &[(&str, &str)]) {
    let r = root.display();
    let Ports { submission, smtps, mx, .. } = ports;
    let config = format!(
        r#"# Written by tests/support/mail.rs. Every recipient, any domain, goes to Dovecot over LMTP.
pki {PKI} cert "{r}/tls/server.pem"
pki {PKI} key "{r}/tls/server.key"
table creds file:{r}/smtpd/creds
table catchall file:{r}/smtpd/catchall
listen on 127.0.0.1 port {mx} tag MX hostname localhost
listen on 127.0.0.1 port {submission} tls pki {PKI} auth <creds> hostname localhost
listen on 127.0.0.1 port {smtps} smtps pki {PKI} auth <creds> hostname localhost
action "dovecot" lmtp "{r}/lmtp.sock" rcpt-to virtual <catchall>
match from any tag MX for any action "dovecot"
match from any auth for any action "dovecot"
"#
    );
    // OpenSMTPD refuses files that are not root's or that others may write.
    let write_private = |name: &str, contents: &str| {
        let path = root.join("smtpd").join(name);
        fs::write(&path, contents).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    };
    write_private("smtpd.conf", &config);
    // The catch-all maps every recipient to the system user `nobody`, who runs the LMTP
    // client; `rcpt-to` still hands Dovecot the original recipient.
    write_private("catchall", "@ nobody\n");

    let mut creds = String::new();
    if !users.is_empty() {
        let mut encrypt = Command::new(SMTPCTL)
            .arg("encrypt")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run smtpctl encrypt");
        let mut stdin = encrypt.stdin.take().unwrap();
        for (_, password) in users {
            assert!(!password.contains('\n'), "SMTP passwords cannot contain a newline");
            writeln!(stdin, "{password}").unwrap();
        }
        drop(stdin);
        let out = encrypt.wait_with_output().unwrap();
        assert!(out.status.success(), "smtpctl encrypt: {}", String::from_utf8_lossy(&out.stderr));
        let hashes = String::from_utf8(out.stdout).unwrap();
        let hashes: Vec<&str> = hashes.lines().collect();
        assert_eq!(hashes.len(), users.len(), "smtpctl encrypt output");
        for ((address, _), hash) in users.iter().zip(hashes) {
            assert!(!address.contains(char::is_whitespace), "user {address:?} contains whitespace");
            let lower = address.to_ascii_lowercase();
            let _ = writeln!(creds, "{lower} {hash}");
            if lower != *address {
                let _ = writeln!(creds, "{address} {hash}");
            }
        }
    }
    write_private("creds", &creds);
}

/// Sends one message over plain SMTP to 127.0.0.1:`port`.
fn smtp_send(port: u16, from: &str, to: &[&str], raw: &[u8]) -> Result<(), String> {
    let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).map_err(|e| format!("connect to port {port}: {e}"))?;
    stream.set_read_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    stream.set_write_timeout(Some(Duration::from_secs(30))).map_err(|e| e.to_string())?;
    let mut reader = BufReader::new(stream.try_clone().map_err(|e| e.to_string())?);
    let mut writer = stream;

    reply(&mut reader, "greeting", &[220])?;
    let ehlo = command(&mut writer, &mut reader, "EHLO localhost", &[250])?;
    let mut mail_from = format!("MAIL FROM:<{from}>");
    if raw.iter().any(|b| *b >= 0x80) {
        mail_from.push_str(" BODY=8BITMIME");
    }
    if (from.chars().chain(to.iter().flat_map(|t| t.chars()))).any(|c| !c.is_ascii())
        && ehlo.to_ascii_uppercase().contains("SMTPUTF8")
    {
        mail_from.push_str(" SMTPUTF8");
    }
    command(&mut writer, &mut reader, &mail_from, &[250])?;
    for rcpt in to {
        command(&mut writer, &mut reader, &format!("RCPT TO:<{rcpt}>"), &[250, 251])?;
    }
    command(&mut writer, &mut reader, "DATA", &[354])?;
    writer.write_all(&dot_stuff(raw)).map_err(|e| format!("DATA: {e}"))?;
    command(&mut writer, &mut reader, ".", &[250])?;
    let _ = command(&mut writer, &mut reader, "QUIT", &[221]);
    Ok(())
}

fn command(writer: &mut TcpStream, reader: &mut impl BufRead, line: &str, ok: &[u16]) -> Result<String, String> {
    writer.write_all(format!("{line}\r\n").as_bytes()).map_err(|e| format!("{line}: {e}"))?;
    reply(reader, line, ok)
}

/// Reads a (multi-line) reply; `Err` unless its code is in `ok`.
fn reply(reader: &mut impl BufRead, what: &str, ok: &[u16]) -> Result<String, String> {
    let mut text = String::new();
    loop {
        let mut line = String::new();
        match reader.read_line(&mut line) {
            Ok(0) => return Err(format!("{what}: connection closed after {text:?}")),
            Ok(_) => {}
            Err(e) => return Err(format!("{what}: {e} after {text:?}")),
        }
        text.push_str(&line);
        if line.len() < 4 || line.as_bytes()[3] != b'-' {
            break;
        }
    }
    match text.get(..3).and_then(|c| c.parse::<u16>().ok()) {
        Some(code) if ok.contains(&code) => Ok(text),
        _ => Err(format!("{what} -> {}", text.trim_end())),
    }
}

/// CRLF line ends and a leading `.` doubled; the terminating `.` line is not included.
fn dot_stuff(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 2);
    let body = raw.strip_suffix(b"\n").unwrap_or(raw);
    if raw.is_empty() {
        return out;
    }
    for line in body.split(|b| *b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first() == Some(&b'.') {
            out.push(b'.');
        }
        out.extend_from_slice(line);
        out.extend_from_slice(b"\r\n");
    }
    out
}

fn base64(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
