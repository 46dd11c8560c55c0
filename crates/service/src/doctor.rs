//! The checks of `sov doctor`: each reads what it is given and returns a [`Finding`] that says
//! what it found and, for a problem, the exact fix for this machine's distribution.
//!
//! What the checks cover: bubblewrap on `PATH`; unprivileged user namespaces (the Debian/Arch
//! `kernel.unprivileged_userns_clone` switch, `user.max_user_namespaces`, and Ubuntu's AppArmor
//! restriction from 23.10 on); Landlock (enabled among the kernel's security modules, and which
//! ABI the kernel version gives); seccomp; the permissions of the data directory and of each
//! secret file; a listen address already taken. The model files, the sandbox run itself and the
//! service state are checked by `sov doctor` with these types.
//!
//! What they cannot tell: whether a program other than `sov serve` holds a port (only that it
//! is taken), whether AppArmor confines bubblewrap by a profile other than Ubuntu's, and
//! anything about a GPU.

use std::io::ErrorKind;
use std::net::{SocketAddr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Fine.
    Ok,
    /// Works, but worse than it could (a partial Landlock, no models yet).
    Warn,
    /// Something will not work until it is fixed; `sov doctor` exits non-zero.
    Fail,
}

/// One check's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Short name of what was checked (`bubblewrap`, `port serve.listen`, …).
    pub check: String,
    /// How it came out.
    pub status: Status,
    /// What was found, in a sentence.
    pub found: String,
    /// For a warning or a failure: what to do, as exact as this machine allows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

impl Finding {
    /// A check that passed.
    pub fn ok(check: impl Into<String>, found: impl Into<String>) -> Self {
        Self { check: check.into(), status: Status::Ok, found: found.into(), fix: None }
    }
    /// A check that works only partly.
    pub fn warn(check: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { check: check.into(), status: Status::Warn, found: found.into(), fix: Some(fix.into()) }
    }
    /// A check that failed.
    pub fn fail(check: impl Into<String>, found: impl Into<String>, fix: impl Into<String>) -> Self {
        Self { check: check.into(), status: Status::Fail, found: found.into(), fix: Some(fix.into()) }
    }
}

/// The Linux distribution, from `/etc/os-release`, for fixes that differ by distribution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Distro {
    /// `ID=` (`debian`, `ubuntu`, `arch`, `nixos`, …).
    pub id: String,
    /// `VERSION_ID=`, when there is one.
    pub version: Option<String>,
}

impl Distro {
    /// Reads an os-release file; an unreadable one is an unknown distribution.
    pub fn read(path: &Path) -> Self {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
                .map(|v| v.trim().trim_matches('"').to_owned())
        };
        Self { id: field("ID").unwrap_or_else(|| "unknown".into()), version: field("VERSION_ID") }
    }

    fn install(&self, package: &str) -> String {
        match self.id.as_str() {
            "debian" | "ubuntu" => format!("sudo apt install {package}"),
            "arch" => format!("sudo pacman -S {package}"),
            "fedora" => format!("sudo dnf install {package}"),
            "nixos" => format!("add pkgs.{package} to environment.systemPackages (the Sovereign module does)"),
            _ => format!("install your distribution's {package} package"),
        }
    }

    fn sysctl(&self, key: &str, value: &str) -> String {
        if self.id == "nixos" {
            return format!("set boot.kernel.sysctl.\"{key}\" = {value}; and nixos-rebuild switch");
        }
        format!(
            "sudo sysctl -w {key}={value} (now), and echo '{key} = {value}' | sudo tee /etc/sysctl.d/90-sovereign.conf (after reboots)"
        )
    }
}

/// bubblewrap: `program` (`sandbox.bwrap`) found as a path or on `path_env`.
pub fn bubblewrap(program: &Path, path_env: Option<&std::ffi::OsStr>, distro: &Distro) -> Finding {
    const CHECK: &str = "bubblewrap";
    match find_program(program, path_env) {
        Some(found) => Finding::ok(CHECK, format!("{} (sandbox.bwrap)", found.display())),
        None => Finding::fail(
            CHECK,
            format!("`{}` is not found (sandbox.bwrap; searched PATH)", program.display()),
            format!("{}, or set sandbox.bwrap to its path in the config file", distro.install("bubblewrap")),
        ),
    }
}

/// Finds `program` like a shell would: a path with a `/` as is, else the first executable on PATH.
pub fn find_program(program: &Path, path_env: Option<&std::ffi::OsStr>) -> Option<PathBuf> {
    let executable = |p: &Path| p.metadata().is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
    if program.components().count() > 1 || program.is_absolute() {
        return executable(program).then(|| program.to_owned());
    }
    std::env::split_paths(path_env?).map(|dir| dir.join(program)).find(|p| executable(p))
}

/// Unprivileged user namespaces, from the files under `proc` (normally `/proc`).
pub fn user_namespaces(proc: &Path, distro: &Distro) -> Vec<Finding> {
    const CHECK: &str = "user namespaces";
    let read = |rel: &str| std::fs::read_to_string(proc.join(rel)).ok().map(|s| s.trim().to_owned());
    let mut findings = Vec::new();
    if read("sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        findings.push(Finding::fail(
            CHECK,
            "kernel.unprivileged_userns_clone is 0: users may not create user namespaces, so sbox cannot start",
            distro.sysctl("kernel.unprivileged_userns_clone", "1"),
        ));
    }
    if read("sys/user/max_user_namespaces").as_deref() == Some("0") {
        findings.push(Finding::fail(
            CHECK,
            "user.max_user_namespaces is 0: no user namespaces can be made",
            distro.sysctl("user.max_user_namespaces", "15000"),
        ));
    }
    if read("sys/kernel/apparmor_restrict_unprivileged_userns").as_deref() == Some("1") {
        findings.push(Finding::fail(
            CHECK,
            "AppArmor restricts unprivileged user namespaces (Ubuntu 23.10 and later): bubblewrap needs a profile that allows them",
            "write /etc/apparmor.d/bwrap with: abi <abi/4.0>, include <tunables/global> profile bwrap /usr/bin/bwrap flags=(unconfined) { userns, } \
             — then sudo apparmor_parser -r /etc/apparmor.d/bwrap (or, for every program: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0)",
        ));
    }
    if findings.is_empty() {
        let max = read("sys/user/max_user_namespaces").unwrap_or_else(|| "?".into());
        findings.push(Finding::ok(CHECK, format!("allowed for users (max_user_namespaces {max})")));
    }
    findings
}

/// Landlock: whether the kernel enables it (`sys/kernel/security/lsm` under `sys`, normally
/// `/sys`) and which ABI its version `release` (`uname -r`) brings.
pub fn landlock(sys: &Path, release: &str, allow_without: bool) -> Finding {
    const CHECK: &str = "landlock";
    let lsm = std::fs::read_to_string(sys.join("kernel/security/lsm")).ok();
    let abi = landlock_abi(release);
    let enabled = lsm.as_deref().map(|l| l.trim().split(',').any(|m| m == "landlock"));
    match (enabled, abi) {
        (Some(false), _) if allow_without => Finding::warn(
            CHECK,
            "the kernel has Landlock off; sandbox.insecure_allow_without_landlock lets sandboxes run without it",
            "add lsm=landlock,… to the kernel command line (keep the modules /sys/kernel/security/lsm lists) and reboot",
        ),
        (Some(false), _) => Finding::fail(
            CHECK,
            "the kernel has Landlock off (not in /sys/kernel/security/lsm): sbox refuses to run without it",
            "add lsm=landlock,… to the kernel command line (keep the modules /sys/kernel/security/lsm lists) and reboot",
        ),
        (_, Some(abi)) if abi < 4 => Finding::warn(
            CHECK,
            format!(
                "Landlock ABI {abi} (kernel {release}): files are confined, a sandbox's TCP connects are not (ABI 4, Linux 6.7)"
            ),
            "a kernel of 6.7 or later adds the TCP rules; until then the sandbox's own network namespace is the only wall",
        ),
        (_, Some(abi)) => Finding::ok(CHECK, format!("ABI {abi} from kernel {release}")),
        (_, None) => Finding::warn(
            CHECK,
            format!("kernel {release} is older than 5.13 or unreadable: no Landlock"),
            "a kernel of 6.7 or later gives every Landlock rule sbox uses",
        ),
    }
}

/// The Landlock ABI a kernel release brings (`6.12.1-arch1` → 6), `None` before 5.13.
pub fn landlock_abi(release: &str) -> Option<u32> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit()).filter(|p| !p.is_empty());
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    let v = (major, minor);
    [((6, 12), 6), ((6, 10), 5), ((6, 7), 4), ((6, 2), 3), ((5, 19), 2), ((5, 13), 1)]
        .into_iter()
        .find(|(since, _)| v >= *since)
        .map(|(_, abi)| abi)
}

/// seccomp filters, from `sys/kernel/seccomp/actions_avail` under `proc`.
pub fn seccomp(proc: &Path) -> Finding {
    match std::fs::read_to_string(proc.join("sys/kernel/seccomp/actions_avail")) {
        Ok(actions) if actions.split_whitespace().any(|a| a == "errno") => Finding::ok("seccomp", "filters available"),
        _ => Finding::fail(
            "seccomp",
            "the kernel offers no seccomp filters (no /proc/sys/kernel/seccomp/actions_avail with errno)",
            "use a kernel built with CONFIG_SECCOMP_FILTER (every distribution kernel is)",
        ),
    }
}

/// A directory only its owner may enter (the data directory, the keystore).
pub fn private_dir(check: &str, dir: &Path) -> Finding {
    match dir.metadata() {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Finding::ok(check, format!("{} does not exist yet; it is made private (0700)", dir.display()))
        }
        Err(e) => Finding::fail(check, format!("{}: {e}", dir.display()), "check the path and its permissions"),
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 == 0 {
                Finding::ok(check, format!("{} is private ({mode:04o})", dir.display()))
            } else {
                Finding::fail(
                    check,
                    format!("{} may be read by others (mode {mode:04o})", dir.display()),
                    format!("chmod 700 '{}'", dir.display()),
                )
            }
        }
    }
}

/// A secret file (a passphrase, an API key, a key file): absent is fine, present must be 0600 or
/// stricter.
pub fn secret_file(check: &str, file: &Path) -> Option<Finding> {
    let meta = file.metadata().ok()?;
    let mode = meta.permissions().mode() & 0o777;
    Some(if mode & 0o077 == 0 {
        Finding::ok(check, format!("{} ({mode:04o})", file.display()))
    } else {
        Finding::fail(
            check,
            format!("{} may be read by others (mode {mode:04o})", file.display()),
            format!("chmod 600 '{}' — and, as it was readable, consider it known: replace the secret", file.display()),
        )
    })
}

/// A listen address from the config (`key`, e.g. `serve.listen`): free, or taken.
pub fn port(key: &str, addr: &str, running: bool) -> Finding {
    let check = format!("port {key}");
    let Ok(sock) = addr.parse::<SocketAddr>() else {
        return Finding::fail(
            check,
            format!("`{addr}` is not an address:port"),
            format!("set {key} to e.g. 127.0.0.1:8080"),
        );
    };
    match TcpListener::bind(sock) {
        Ok(_) => Finding::ok(check, format!("{addr} is free")),
        Err(_) if running => Finding::ok(check, format!("{addr} is in use by the running sov serve")),
        Err(e) if e.kind() == ErrorKind::AddrInUse => Finding::fail(
            check,
            format!("{addr} is taken by another program"),
            format!("stop it (ss -ltnp 'sport = :{}' names it) or set {key} to a free port", sock.port()),
        ),
        Err(e) => Finding::fail(check, format!("{addr}: {e}"), format!("set {key} to an address of this machine")),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn proc_with(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (rel, text) in files {
            let path = dir.path().join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn debian() -> Distro {
        Distro { id: "debian".into(), version: Some("12".into()) }
    }

    #[test]
    fn each_namespace_switch_that_is_off_is_named_with_its_sysctl() {
        let proc = proc_with(&[
            ("sys/kernel/unprivileged_userns_clone", "0\n"),
            ("sys/user/max_user_namespaces", "0\n"),
            ("sys/kernel/apparmor_restrict_unprivileged_userns", "1\n"),
        ]);
        let found = user_namespaces(proc.path(), &debian());
        assert_eq!(found.len(), 3);
        assert!(found.iter().all(|f| f.status == Status::Fail));
        assert!(found[0].fix.as_deref().unwrap().starts_with("sudo sysctl -w kernel.unprivileged_userns_clone=1"));
        assert!(found[1].fix.as_deref().unwrap().contains("user.max_user_namespaces=15000"));
        assert!(found[2].fix.as_deref().unwrap().contains("userns,"));
        let nixos = Distro { id: "nixos".into(), version: None };
        let found = user_namespaces(proc.path(), &nixos);
        assert!(found[0].fix.as_deref().unwrap().starts_with("set boot.kernel.sysctl"));

        let fine =
            proc_with(&[("sys/kernel/unprivileged_userns_clone", "1\n"), ("sys/user/max_user_namespaces", "94000\n")]);
        let found = user_namespaces(fine.path(), &debian());
        assert_eq!((found.len(), found[0].status), (1, Status::Ok));
    }

    #[test]
    fn landlock_abi_follows_the_kernel_version_and_an_lsm_list_without_it_fails() {
        assert_eq!(landlock_abi("6.1.0-28-amd64"), Some(2));
        assert_eq!(landlock_abi("6.12.1-arch1-1"), Some(6));
        assert_eq!(landlock_abi("6.7.0"), Some(4));
        assert_eq!(landlock_abi("5.10.0"), None);
        assert_eq!(landlock_abi("garbage"), None);
        let sys = proc_with(&[("kernel/security/lsm", "lockdown,capability,yama,apparmor\n")]);
        assert_eq!(landlock(sys.path(), "6.12.0", false).status, Status::Fail);
        assert_eq!(landlock(sys.path(), "6.12.0", true).status, Status::Warn);
        let sys = proc_with(&[("kernel/security/lsm", "lockdown,capability,landlock,yama\n")]);
        assert_eq!(landlock(sys.path(), "6.12.0", false).status, Status::Ok);
        assert_eq!(landlock(sys.path(), "6.1.0", false).status, Status::Warn);
    }

    #[test]
    fn a_missing_bubblewrap_is_named_with_the_distributions_package() {
        let found = bubblewrap(Path::new("bwrap"), Some(std::ffi::OsStr::new("/nonexistent")), &debian());
        assert_eq!(found.status, Status::Fail);
        assert_eq!(
            found.fix.as_deref().unwrap(),
            "sudo apt install bubblewrap, or set sandbox.bwrap to its path in the config file"
        );
        let arch = Distro { id: "arch".into(), version: None };
        let found = bubblewrap(Path::new("/nonexistent/bwrap"), None, &arch);
        assert!(found.fix.as_deref().unwrap().starts_with("sudo pacman -S bubblewrap"));
    }

    #[test]
    fn modes_open_to_others_fail_with_the_chmod_that_fixes_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let found = private_dir("data dir", dir.path());
        assert_eq!(found.status, Status::Fail);
        assert_eq!(found.fix.unwrap(), format!("chmod 700 '{}'", dir.path().display()));
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        assert_eq!(private_dir("data dir", dir.path()).status, Status::Ok);

        let key = dir.path().join("key");
        assert_eq!(secret_file("key", &key), None);
        std::fs::write(&key, "secret").unwrap();
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(secret_file("key", &key).unwrap().status, Status::Fail);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(secret_file("key", &key).unwrap().status, Status::Ok);
    }

    #[test]
    fn a_taken_port_fails_unless_it_is_the_running_server() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap().to_string();
        let found = port("serve.listen", &addr, false);
        assert_eq!(found.status, Status::Fail);
        assert!(found.fix.unwrap().contains("set serve.listen to a free port"));
        assert_eq!(port("serve.listen", &addr, true).status, Status::Ok);
        assert_eq!(port("serve.listen", "localhost", false).status, Status::Fail);
        drop(taken);
        assert_eq!(port("serve.listen", &addr, false).status, Status::Ok);
    }

    #[test]
    fn the_distribution_comes_from_os_release() {
        let dir = proc_with(&[("os-release", "PRETTY_NAME=\"Debian GNU/Linux 12\"\nID=debian\nVERSION_ID=\"12\"\n")]);
        assert_eq!(Distro::read(&dir.path().join("os-release")), debian());
        assert_eq!(Distro::read(Path::new("/nonexistent")).id, "unknown");
    }
}
