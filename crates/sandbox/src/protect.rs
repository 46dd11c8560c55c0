//! What a sandbox must never reach, gathered: Sovereign's configuration and policy (only the
//! human changes them), its data (the database, the audit log, the console's login links) and
//! the human console's port. Both as this config and environment name them and as every running
//! daemon published them ([`sov_core::protected`]): a daemon started with another `HOME`, data
//! directory or console address is protected just the same.
//!
//! This module only reads (the config, the daemons' records, where kept descriptors lead); the
//! decision is [`crate::plan::keep_sovereign_out`], a pure function.

use std::path::PathBuf;

use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_core::protected::Protected;

use crate::Result;
use crate::plan::{Plan, keep_sovereign_out};

/// Refuses `plan` if it would reach anything protected by `config`, `paths` or a running daemon.
pub fn check(plan: &Plan, config: &Config, paths: &Paths) -> Result<()> {
    keep_sovereign_out(plan, &protected(config, paths)?, &kept_fd_targets(&plan.keep_fds))
}

/// Everything protected: this config's directories and console port, and every running
/// daemon's published record.
pub fn protected(config: &Config, paths: &Paths) -> Result<Vec<Protected>> {
    let mut protected: Vec<Protected> = sov_core::protected::protected_dirs(paths, &config.gate.policy_file)
        .into_iter()
        .map(|d| Protected::Dir { what: d.what, path: d.path })
        .collect();
    if let Ok(console) = config.gate.console_listen.parse::<std::net::SocketAddr>() {
        protected
            .push(Protected::Port { what: "the human console (gate.console_listen)".into(), port: console.port() });
    }
    for record in sov_core::protected::running()? {
        protected.extend(record.protected());
    }
    Ok(protected)
}

/// Where each of `fds` (this process's descriptors) leads; one whose link cannot be read is left
/// out (starting the sandbox refuses a kept descriptor that is not open).
pub fn kept_fd_targets(fds: &[i32]) -> Vec<(i32, PathBuf)> {
    fds.iter().filter_map(|fd| Some((*fd, std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?))).collect()
}
