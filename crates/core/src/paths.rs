//! Where Sovereign keeps things, following the XDG base directory spec.
//!
//! | what | default | override |
//! | --- | --- | --- |
//! | config file | `$XDG_CONFIG_HOME/sovereign/config.toml` (`~/.config/…`) | `SOV_CONFIG`, `--config` |
//! | data (database, audit head) | `$XDG_DATA_HOME/sovereign` (`~/.local/share/…`) | `SOV_DATA_DIR` |
//! | state (agent sessions) | `$XDG_STATE_HOME/sovereign` (`~/.local/state/…`) | `SOV_STATE_DIR` |
//! | runtime (sockets of running sandboxes) | `$XDG_RUNTIME_DIR/sovereign`, else `/tmp/sovereign-$UID` | — |

use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The directories and files Sovereign uses, resolved once from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    /// The config file (may not exist: then the defaults apply).
    pub config_file: PathBuf,
    /// The data directory: database, audit head file.
    pub data_dir: PathBuf,
    /// State that outlives a run but is no secret of Sovereign's: agent sessions. Kept apart from
    /// the data directory because a sandbox may be granted a file in it (its own session log),
    /// while it may never see the data directory.
    pub state_dir: PathBuf,
    /// Per-boot runtime directory for sockets; private to the user (0700).
    pub runtime_dir: PathBuf,
}

impl Paths {
    /// Resolves the paths from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::resolve(|name| std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from))
    }

    /// Resolves the paths with `lookup` standing in for the environment (pure, for tests).
    pub fn resolve(lookup: impl Fn(&str) -> Option<PathBuf>) -> Result<Self> {
        let home = || lookup("HOME").ok_or(Error::MissingEnv("HOME"));
        let absolute = |p: PathBuf| p.is_absolute().then_some(p);
        let config_file = match lookup("SOV_CONFIG") {
            Some(file) => file,
            None => match lookup("XDG_CONFIG_HOME").and_then(absolute) {
                Some(dir) => dir.join("sovereign/config.toml"),
                None => home()?.join(".config/sovereign/config.toml"),
            },
        };
        let data_dir = match lookup("SOV_DATA_DIR") {
            Some(dir) => dir,
            None => match lookup("XDG_DATA_HOME").and_then(absolute) {
                Some(dir) => dir.join("sovereign"),
                None => home()?.join(".local/share/sovereign"),
            },
        };
        let state_dir = match lookup("SOV_STATE_DIR") {
            Some(dir) => dir,
            None => match lookup("XDG_STATE_HOME").and_then(absolute) {
                Some(dir) => dir.join("sovereign"),
                None => home()?.join(".local/state/sovereign"),
            },
        };
        let runtime_dir = match lookup("XDG_RUNTIME_DIR").and_then(absolute) {
            Some(dir) => dir.join("sovereign"),
            None => PathBuf::from(format!("/tmp/sovereign-{}", current_uid())),
        };
        Ok(Self { config_file, data_dir, state_dir, runtime_dir })
    }

    /// The SQLite database file.
    pub fn database(&self) -> PathBuf {
        self.data_dir.join("sovereign.db")
    }

    /// The file that anchors the audit log's latest entry outside the database.
    pub fn audit_head(&self) -> PathBuf {
        self.data_dir.join("audit.head")
    }
}

/// Creates `dir` and its parents if needed, and makes `dir` itself private to the user (0700).
pub fn ensure_private_dir(dir: &Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // Most calls find it as it should be: one look, no change.
    if std::fs::symlink_metadata(dir).is_ok_and(|m| m.is_dir() && m.mode() & 0o7777 == 0o700) {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir).map_err(|source| Error::Io {
        action: "creating directory",
        path: dir.to_owned(),
        source,
    })?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(|source| Error::Io {
        action: "restricting directory",
        path: dir.to_owned(),
        source,
    })
}

pub(crate) fn current_uid() -> u32 {
    use std::os::unix::fs::MetadataExt;
    // The uid owning /proc/self is this process's uid; avoids unsafe getuid().
    std::fs::metadata("/proc/self").map(|m| m.uid()).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<PathBuf> {
        let pairs: Vec<(String, PathBuf)> = pairs.iter().map(|(k, v)| (k.to_string(), PathBuf::from(v))).collect();
        move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
    }

    #[test]
    fn xdg_defaults_under_home() {
        let paths = Paths::resolve(env(&[("HOME", "/home/ada"), ("XDG_RUNTIME_DIR", "/run/user/1000")])).unwrap();
        assert_eq!(
            paths,
            Paths {
                config_file: "/home/ada/.config/sovereign/config.toml".into(),
                data_dir: "/home/ada/.local/share/sovereign".into(),
                state_dir: "/home/ada/.local/state/sovereign".into(),
                runtime_dir: "/run/user/1000/sovereign".into(),
            }
        );
    }

    #[test]
    fn explicit_overrides_win_and_relative_xdg_is_ignored() {
        let paths = Paths::resolve(env(&[
            ("HOME", "/home/ada"),
            ("SOV_CONFIG", "/etc/sov.toml"),
            ("XDG_DATA_HOME", "relative/ignored"),
        ]))
        .unwrap();
        assert_eq!(paths.config_file, PathBuf::from("/etc/sov.toml"));
        assert_eq!(paths.data_dir, PathBuf::from("/home/ada/.local/share/sovereign"));
    }

    #[test]
    fn missing_home_is_a_clear_error() {
        let err = Paths::resolve(env(&[])).unwrap_err();
        assert!(err.to_string().contains("HOME"), "{err}");
    }
}
