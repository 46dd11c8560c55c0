//! What running Sovereign daemons protect from every sandbox, published where `sbox` looks
//! whatever its own configuration and environment say.
//!
//! A sandbox may never be granted the human console's port, nor see Sovereign's data (the
//! database, the audit log, the console's login links), configuration or policy. `sbox`'s own config and
//! environment name one set of these; a daemon started with other flags (`--console-listen`),
//! another `HOME` or another `SOV_DATA_DIR` protects another. So every daemon publishes a
//! [`Record`] of what it protects, and `sbox` refuses what any live record names, in addition to
//! what its own config names. The records live in directories whose location depends on no
//! environment variable:
//! - `/run/sovereign/protected/`, written by daemons running as root (the directory 0755, the
//!   records 0644, all owned by root): every user's `sbox` reads it;
//! - per user, `/run/user/UID/sovereign/protected/` when `/run/user/UID` exists and belongs to
//!   the user, else `/tmp/sovereign-UID/protected/`: 0700, refused when someone else owns it or
//!   may write to it (whoever can write there can remove a record). `sbox` reads both places,
//!   and as root also every user's `/run/user/UID/sovereign/protected/`.
//!
//! Guarantees:
//! - a record is complete when it appears: written under a temporary name, locked, renamed;
//! - a daemon holds an exclusive lock (`flock`) on its record for as long as it runs; a record
//!   whose lock is free belongs to a daemon that is gone (killed, crashed) and is ignored. Unlike
//!   a pid, the lock is not fooled by a later process that gets the same pid, nor hidden by a
//!   `/proc` mounted with `hidepid`;
//! - the record is removed when the daemon ends cleanly ([`Published`]'s drop);
//! - fail closed: a daemon that cannot publish refuses to start (`sov serve`), and a live record
//!   that cannot be read refuses every sandbox.
//!
//! What it does **not** do: nothing stops the user themselves, outside any sandbox, from removing
//! their own records (no sandbox sees these directories).

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::paths::Paths;
use crate::{Error, Result};

/// The system-wide registry, for daemons running as root.
pub const SYSTEM_REGISTRY: &str = "/run/sovereign/protected";

/// A record larger than this is not one Sovereign wrote.
const MAX_RECORD: u64 = 64 << 10;

/// What one running daemon protects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// The daemon's process id (for messages; liveness is the record's lock).
    pub pid: u32,
    /// The daemon's program.
    pub program: PathBuf,
    /// The ports of its human console.
    #[serde(default)]
    pub console_ports: Vec<u16>,
    /// Its data, configuration and policy directories, as physical paths.
    #[serde(default)]
    pub dirs: Vec<ProtectedDir>,
}

/// A directory no sandbox may see, with what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtectedDir {
    /// What it is, for messages: "Sovereign's data".
    pub what: String,
    /// The physical path (symlinks resolved as far as it exists).
    pub path: PathBuf,
}

/// One thing a sandbox may never reach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Protected {
    /// A directory: no bind may lie inside it or contain it.
    Dir {
        /// What it is and whose, for messages.
        what: String,
        /// The physical path.
        path: PathBuf,
    },
    /// A loopback port: never granted.
    Port {
        /// What it is and whose, for messages.
        what: String,
        /// The port.
        port: u16,
    },
}

/// What a sandbox's binds or ports would reach of a [`Protected`] thing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure<'a> {
    /// `bind` lies inside `dir` or contains it.
    Dir {
        /// The bind's (physical) source path.
        bind: &'a Path,
        /// What the directory is.
        what: &'a str,
        /// The protected directory.
        dir: &'a Path,
    },
    /// A granted port is protected.
    Port {
        /// The port.
        port: u16,
        /// What it is.
        what: &'a str,
    },
}

/// The directories a daemon (or `sbox`, for its own config) protects for `paths` and the
/// policy file `policy_file` (empty: beside the config file), as physical paths.
pub fn protected_dirs(paths: &Paths, policy_file: &Path) -> Vec<ProtectedDir> {
    let dir = |what: &str, path: &Path| ProtectedDir { what: what.to_owned(), path: physical(path) };
    let mut dirs = vec![dir("Sovereign's data", &paths.data_dir)];
    if let Some(config) = paths.config_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        dirs.push(dir("Sovereign's configuration", config));
    }
    if let Some(policy) = policy_file.parent().filter(|d| !d.as_os_str().is_empty()) {
        dirs.push(dir("the gate's policy", policy));
    }
    dirs
}

impl Record {
    /// The record for this process, protecting `console_ports` and the directories of `paths`.
    pub fn for_this_process(paths: &Paths, policy_file: &Path, console_ports: &[u16]) -> Self {
        Self {
            pid: std::process::id(),
            program: std::env::current_exe().unwrap_or_default(),
            console_ports: console_ports.to_vec(),
            dirs: protected_dirs(paths, policy_file),
        }
    }

    /// What this record protects, each named with the daemon it belongs to.
    pub fn protected(&self) -> Vec<Protected> {
        let name = self.program.file_name().map_or_else(|| "sov".into(), |n| n.to_string_lossy());
        let whose = format!("of the running `{name}` (pid {})", self.pid);
        let ports = self
            .console_ports
            .iter()
            .map(|port| Protected::Port { what: format!("the human console {whose}"), port: *port });
        let dirs =
            self.dirs.iter().map(|d| Protected::Dir { what: format!("{} {whose}", d.what), path: d.path.clone() });
        ports.chain(dirs).collect()
    }
}

/// Whether a bind of `bind` would expose `dir`: it lies inside it, or contains it (both physical).
pub fn overlaps(bind: &Path, dir: &Path) -> bool {
    bind.starts_with(dir) || dir.starts_with(bind)
}

/// The first of `binds` (physical source paths) or `ports` that would reach something in
/// `protected`, or `None` when nothing would.
pub fn exposure<'a>(binds: &[&'a Path], ports: &[u16], protected: &'a [Protected]) -> Option<Exposure<'a>> {
    for bind in binds {
        for item in protected {
            if let Protected::Dir { what, path } = item
                && overlaps(bind, path)
            {
                return Some(Exposure::Dir { bind, what, dir: path });
            }
        }
    }
    protected.iter().find_map(|item| match item {
        Protected::Port { what, port } if ports.contains(port) => Some(Exposure::Port { port: *port, what }),
        _ => None,
    })
}

/// `path` made absolute and physical: symlinks resolved for the part of it that exists.
pub fn physical(path: &Path) -> PathBuf {
    let absolute = match path.is_absolute() {
        true => path.to_owned(),
        false => std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_owned()),
    };
    let mut existing = absolute.as_path();
    let mut rest = Vec::new();
    loop {
        if let Ok(real) = std::fs::canonicalize(existing) {
            return rest.iter().rev().fold(real, |path: PathBuf, name| path.join(name));
        }
        match (existing.parent(), existing.file_name()) {
            (Some(parent), Some(name)) => {
                rest.push(name.to_owned());
                existing = parent;
            }
            _ => return absolute,
        }
    }
}

/// A published record: removed when dropped. Holding it holds the record's lock, which is what
/// tells readers that this daemon still runs.
#[derive(Debug)]
pub struct Published {
    path: PathBuf,
    _locked: File,
}

impl Published {
    /// Where the record is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Where this process publishes: the system-wide registry as root, else the user's own.
pub fn registry_dir() -> PathBuf {
    match crate::paths::current_uid() {
        0 => PathBuf::from(SYSTEM_REGISTRY),
        uid => user_registry(uid),
    }
}

/// The user's own registry: under `/run/user/UID` when that exists and belongs to them.
fn user_registry(uid: u32) -> PathBuf {
    let run_user = PathBuf::from(format!("/run/user/{uid}"));
    let owned = std::fs::symlink_metadata(&run_user).is_ok_and(|m| m.is_dir() && m.uid() == uid);
    let base = if owned { run_user.join("sovereign") } else { PathBuf::from(format!("/tmp/sovereign-{uid}")) };
    base.join("protected")
}

/// Publishes `record` (see the module docs); fails when the registry directory cannot be made
/// or is not safely the user's (root's, for the system-wide one).
pub fn publish(record: &Record) -> Result<Published> {
    let uid = crate::paths::current_uid();
    let dir = registry_dir();
    let (dir_mode, file_mode) = if uid == 0 { (0o755, 0o644) } else { (0o700, 0o600) };
    if let Some(parent) = dir.parent() {
        trusted_dir(parent, uid, dir_mode)?;
    }
    trusted_dir(&dir, uid, dir_mode)?;
    remove_stale(&dir);

    let io = |action: &'static str, path: &Path| {
        let path = path.to_owned();
        move |source| Error::Io { action, path, source }
    };
    let path = dir.join(format!("protected-{}.json", record.pid));
    let scratch = dir.join(format!(".protected-{}.json.tmp", record.pid));
    let _ = std::fs::remove_file(&scratch);
    let json = serde_json::to_vec_pretty(record)
        .map_err(|e| io("encoding the sandbox protection record", &path)(std::io::Error::other(e)))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(file_mode)
        .open(&scratch)
        .map_err(io("creating the sandbox protection record", &scratch))?;
    let written = file
        .set_permissions(std::fs::Permissions::from_mode(file_mode))
        .and_then(|()| file.write_all(&json))
        .and_then(|()| file.try_lock().map_err(std::io::Error::from))
        .and_then(|()| std::fs::rename(&scratch, &path));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&scratch);
        return Err(io("writing the sandbox protection record", &path)(e));
    }
    Ok(Published { path, _locked: file })
}

/// Creates `dir` (mode `mode`) if it is missing, and checks that it is a real directory owned by
/// `uid` that nobody else may write to.
fn trusted_dir(dir: &Path, uid: u32, mode: u32) -> Result<()> {
    let io = |action: &'static str| {
        let path = dir.to_owned();
        move |source| Error::Io { action, path, source }
    };
    match std::fs::DirBuilder::new().mode(mode).create(dir) {
        Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .map_err(io("restricting the sandbox registry directory"))?,
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io("creating the sandbox registry directory")(e)),
    }
    let meta = std::fs::symlink_metadata(dir).map_err(io("checking the sandbox registry directory"))?;
    check_trust(meta.is_dir(), meta.uid(), meta.mode(), uid).map_err(|reason| {
        io("refusing the sandbox registry directory")(std::io::Error::new(ErrorKind::PermissionDenied, reason))
    })
}

/// Why a registry directory with this type, owner and mode cannot be trusted by `uid`, if it
/// cannot: it must be a directory (not a symlink) of `uid`'s that no group or other may write.
fn check_trust(is_dir: bool, owner: u32, mode: u32, uid: u32) -> std::result::Result<(), String> {
    if !is_dir {
        return Err("it is not a directory (a symlink or a file is never followed here); remove it".into());
    }
    if owner != uid {
        return Err(format!(
            "it belongs to uid {owner}, not to you (uid {uid}), who could then remove what your daemon protects; remove it"
        ));
    }
    if mode & 0o022 != 0 {
        return Err(format!("others may write to it (mode {:o}); `chmod go-w` it", mode & 0o7777));
    }
    Ok(())
}

/// Removes the records in `dir` whose daemon is gone (hygiene; readers ignore them anyway).
fn remove_stale(dir: &Path) {
    for (path, live) in record_files(dir).into_iter().flatten() {
        if live.is_none() {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Every record of a daemon that still runs, from every registry `sbox` consults.
pub fn running() -> Result<Vec<Record>> {
    let uid = crate::paths::current_uid();
    let mut dirs = vec![PathBuf::from(SYSTEM_REGISTRY)];
    dirs.push(PathBuf::from(format!("/run/user/{uid}/sovereign/protected")));
    dirs.push(PathBuf::from(format!("/tmp/sovereign-{uid}/protected")));
    if uid == 0
        && let Ok(users) = std::fs::read_dir("/run/user")
    {
        dirs.extend(users.flatten().map(|user| user.path().join("sovereign/protected")));
    }
    dirs.sort();
    dirs.dedup();
    let mut records = Vec::new();
    for dir in dirs {
        for (path, live) in record_files(&dir)? {
            let Some(file) = live else { continue };
            let mut text = Vec::new();
            let read = file.take(MAX_RECORD).read_to_end(&mut text);
            let unreadable = |reason: String| Error::Io {
                action: "reading the protection record of a running Sovereign daemon (every sandbox is refused until it is readable or removed)",
                path: path.clone(),
                source: std::io::Error::new(ErrorKind::InvalidData, reason),
            };
            read.map_err(|e| unreadable(e.to_string()))?;
            records.push(serde_json::from_slice(&text).map_err(|e| unreadable(e.to_string()))?);
        }
    }
    Ok(records)
}

/// The record files in `dir` (none when it does not exist, or is not readable by this user, who
/// then cannot have published there), each with its open file when its daemon still runs.
fn record_files(dir: &Path) -> Result<Vec<(PathBuf, Option<File>)>> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied | ErrorKind::NotADirectory) => {
            return Ok(Vec::new());
        }
        Err(source) => return Err(Error::Io { action: "listing the sandbox registry", path: dir.to_owned(), source }),
    };
    let mut files = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !(name.starts_with("protected-") && name.ends_with(".json")) {
            continue;
        }
        // Regular files only: nothing here follows a link or opens a FIFO.
        if !entry.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.path();
        let Ok(file) = File::open(&path) else { continue };
        // The daemon holds an exclusive lock while it runs: a shared one is refused then.
        let live = match file.try_lock_shared() {
            Ok(()) => None,
            Err(std::fs::TryLockError::WouldBlock) => Some(file),
            // Cannot tell: count it as running.
            Err(std::fs::TryLockError::Error(_)) => Some(file),
        };
        files.push((path, live));
    }
    Ok(files)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    fn dir(what: &str, path: &str) -> Protected {
        Protected::Dir { what: what.into(), path: path.into() }
    }

    #[test]
    fn a_bind_inside_or_around_a_protected_dir_is_an_exposure_a_sibling_is_not() {
        let protected =
            [dir("data", "/home/ada/.local/share/sovereign"), Protected::Port { what: "console".into(), port: 17000 }];
        fn check<'a>(bind: &'a str, ports: &[u16], protected: &'a [Protected]) -> Option<Exposure<'a>> {
            exposure(&[Path::new("/w"), Path::new(bind)], ports, protected)
        }
        let check = |bind: &'static str, ports: &[u16]| check(bind, ports, &protected).map(|e| format!("{e:?}"));
        let expect = |e: Exposure<'_>| Some(format!("{e:?}"));
        let data = Path::new("/home/ada/.local/share/sovereign");
        let secret = "/home/ada/.local/share/sovereign/console.secret";
        assert_eq!(check(secret, &[]), expect(Exposure::Dir { bind: Path::new(secret), what: "data", dir: data }));
        assert_eq!(
            check("/home/ada", &[17000]),
            expect(Exposure::Dir { bind: Path::new("/home/ada"), what: "data", dir: data }),
            "a bind containing it (named before any port)"
        );
        assert_eq!(
            check("/home/ada/.local/share/sovereign", &[]),
            expect(Exposure::Dir { bind: data, what: "data", dir: data }),
            "the dir itself"
        );
        // Path components, not string prefixes: a sibling with a longer name is no exposure.
        assert_eq!(check("/home/ada/.local/share/sovereign-notes", &[8080]), None);
        assert_eq!(check("/srv", &[8080, 17000]), expect(Exposure::Port { port: 17000, what: "console" }));
    }

    #[test]
    fn a_record_names_its_daemon_in_what_it_protects() {
        let record = Record {
            pid: 42,
            program: "/usr/bin/sov".into(),
            console_ports: vec![17000],
            dirs: vec![ProtectedDir { what: "Sovereign's data".into(), path: "/d".into() }],
        };
        assert_eq!(
            record.protected(),
            vec![
                Protected::Port { what: "the human console of the running `sov` (pid 42)".into(), port: 17000 },
                dir("Sovereign's data of the running `sov` (pid 42)", "/d"),
            ]
        );
        let json = serde_json::to_string(&record).unwrap();
        assert_eq!(serde_json::from_str::<Record>(&json).unwrap(), record);
    }

    #[test]
    fn a_registry_directory_must_be_a_directory_of_the_user_that_no_one_else_may_write() {
        assert_eq!(check_trust(true, 1000, 0o40700, 1000), Ok(()));
        assert_eq!(check_trust(true, 0, 0o40755, 0), Ok(()));
        let err = check_trust(true, 1234, 0o40700, 1000).unwrap_err();
        assert!(err.contains("uid 1234") && err.contains("remove it"), "{err}");
        assert!(check_trust(true, 1000, 0o40777, 1000).unwrap_err().contains("mode 777"));
        assert!(check_trust(true, 1000, 0o40720, 1000).is_err(), "group-writable");
        assert!(check_trust(false, 1000, 0o120777, 1000).unwrap_err().contains("not a directory"));
    }

    #[test]
    fn physical_paths_resolve_what_exists_and_keep_the_rest() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        std::os::unix::fs::symlink(&real, tmp.path().join("link")).unwrap();
        let real = std::fs::canonicalize(&real).unwrap();
        assert_eq!(physical(&tmp.path().join("link")), real);
        assert_eq!(physical(&tmp.path().join("link/not/yet")), real.join("not/yet"));
    }

    #[test]
    fn a_record_counts_while_its_lock_is_held_and_not_after() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("protected-1.json");
        std::fs::write(&path, "{}").unwrap();
        let daemon = File::open(&path).unwrap();
        daemon.try_lock().unwrap();
        let live = |dir: &Path| record_files(dir).unwrap().into_iter().map(|(_, f)| f.is_some()).collect::<Vec<_>>();
        assert_eq!(live(tmp.path()), [true]);
        drop(daemon);
        assert_eq!(live(tmp.path()), [false]);
        remove_stale(tmp.path());
        assert!(!path.exists(), "a stale record is removed by the next daemon");
    }
}
