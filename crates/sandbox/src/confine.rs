//! Landlock rules that mirror the bind set, applied inside the sandbox before the command runs.
//!
//! Guarantees (where the kernel supports the ABI; the status is checked, see below):
//! - file system: only the paths the sandbox was built from are reachable at all; system paths
//!   are read and execute only; the working dir, `--rw` paths, `/tmp` and the tmpfs home are
//!   writable; `/dev` is limited to reading, writing and ioctl on device files;
//! - TCP: `connect` only to the granted ports (Landlock ABI 4, Linux ≥ 6.7);
//! - scopes: no signals to, and no abstract Unix sockets of, processes outside the sandbox's
//!   Landlock domain (ABI 6, Linux ≥ 6.12).
//!
//! If the kernel enforces no Landlock at all, [`apply`] fails unless the user opted out with
//! `sandbox.insecure_allow_without_landlock`; a partial enforcement (older kernel) is accepted
//! and logged, because bubblewrap's namespaces remain the primary wall.

use std::path::{Path, PathBuf};

use landlock::{
    ABI, Access, AccessFs, AccessNet, CompatLevel, Compatible, NetPort, PathBeneath, Ruleset, RulesetAttr,
    RulesetCreatedAttr, RulesetStatus, Scope,
};
use rustix::fs::{FileType, Mode, OFlags};

use crate::plan::{Plan, RUN_DIR};
use crate::{Error, Result};

/// The newest ABI whose rights this code was written and tested against.
const TESTED_ABI: ABI = ABI::V6;

/// Which paths get which access: `(path, writable)`, for the paths that exist inside.
pub fn path_rules(plan: &Plan) -> Vec<(PathBuf, bool)> {
    let mut rules: Vec<(PathBuf, bool)> =
        ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/nix", RUN_DIR]
            .iter()
            .map(|p| (PathBuf::from(p), false))
            .collect();
    rules.extend(["/run/current-system", "/proc"].iter().map(|p| (PathBuf::from(p), false)));
    rules.extend(["/tmp", "/dev"].iter().map(|p| (PathBuf::from(p), true)));
    rules.push((plan.home.clone(), true));
    rules.extend(plan.binds.iter().map(|b| (b.dest.clone(), b.writable)));
    rules.extend(plan.audio_sockets.iter().map(|s| (s.clone(), true)));
    rules
}

/// Applies the Landlock ruleset for `plan` to the calling process and its future children.
pub fn apply(plan: &Plan, allow_without_landlock: bool) -> Result<()> {
    let err = |e: landlock::RulesetError| Error::Landlock(e.to_string());
    let read = AccessFs::from_read(TESTED_ABI);
    let all = AccessFs::from_all(TESTED_ABI);

    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(err)?
        .handle_access(AccessNet::ConnectTcp)
        .map_err(err)?
        .scope(Scope::from_all(TESTED_ABI))
        .map_err(err)?
        .create()
        .map_err(err)?;

    for (path, writable) in path_rules(plan) {
        // Paths that do not exist inside get no rule. Nor do symlinks (`/bin` → `usr/bin` on
        // merged-/usr systems): access through one is decided by the rules for its target.
        let Some((fd, kind)) = open_path(&path) else { continue };
        if kind == FileType::Symlink {
            continue;
        }
        // A non-directory (a socket, a single granted file) may only get file rights.
        let access = match (writable, kind == FileType::Directory) {
            (true, true) => all,
            (true, false) => all & AccessFs::from_file(TESTED_ABI),
            (false, true) => read,
            (false, false) => read & AccessFs::from_file(TESTED_ABI),
        };
        // /proc needs writes to the process's own files (e.g. /proc/self/oom_score_adj, /proc/self/fd).
        let access = if path == Path::new("/proc") { access | AccessFs::WriteFile } else { access };
        ruleset = ruleset.add_rule(PathBeneath::new(fd, access)).map_err(err)?;
    }
    // Listing the sandbox's own root shows only what bubblewrap mounted; reading stays per path.
    if let Some((root, _)) = open_path(Path::new("/")) {
        ruleset = ruleset.add_rule(PathBeneath::new(root, AccessFs::ReadDir)).map_err(err)?;
    }
    for port in &plan.ports {
        ruleset = ruleset.add_rule(NetPort::new(*port, AccessNet::ConnectTcp)).map_err(err)?;
    }

    let status = ruleset.restrict_self().map_err(err)?;
    match status.ruleset {
        RulesetStatus::FullyEnforced => tracing::debug!("landlock fully enforced"),
        RulesetStatus::PartiallyEnforced => tracing::debug!("landlock partially enforced (older kernel ABI)"),
        RulesetStatus::NotEnforced if allow_without_landlock => {
            tracing::warn!("landlock is not enforced on this kernel; continuing as configured (insecure)");
        }
        RulesetStatus::NotEnforced => {
            return Err(Error::LandlockUnavailable(format!("{:?}", status.landlock)));
        }
    }
    if !status.no_new_privs {
        return Err(Error::Landlock("no_new_privs could not be set".into()));
    }
    Ok(())
}

/// `path` opened as a location only (`O_PATH`, its last component not followed), and its type.
fn open_path(path: &Path) -> Option<(std::os::fd::OwnedFd, FileType)> {
    let fd = rustix::fs::open(path, OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty()).ok()?;
    let kind = FileType::from_raw_mode(rustix::fs::fstat(&fd).ok()?.st_mode);
    Some((fd, kind))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::plan::Bind;

    #[test]
    fn rules_mirror_the_bind_set() {
        let plan = Plan {
            workdir: "/w".into(),
            home: "/home/ada".into(),
            binds: vec![
                Bind { source: "/w".into(), dest: "/w".into(), writable: true },
                Bind { source: "/n".into(), dest: "/n".into(), writable: false },
            ],
            ports: vec![],
            audio_sockets: vec![],
            audio_runtime_dir: None,
            gpu: false,
            env: vec![],
            keep_fds: vec![],
            command: vec![],
            terminal: false,
        };
        let rules = path_rules(&plan);
        assert!(rules.contains(&("/w".into(), true)));
        assert!(rules.contains(&("/n".into(), false)));
        assert!(rules.contains(&("/usr".into(), false)));
        assert!(!rules.iter().any(|(p, _)| p == Path::new("/") || p == Path::new("/home")));
    }
}
