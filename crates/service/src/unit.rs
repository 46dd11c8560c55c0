//! systemd units for `sov serve` (and optionally `sov provider`), rendered from a [`Unit`].
//!
//! A pure function of its input: nothing here touches the file system. Values are quoted the
//! way systemd reads them (`"…"` around anything with a space, `\` and `"` escaped, `%` as `%%`
//! and `$` as `$$` in command lines), so a path with a space or a percent sign is one argument.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Hardening set on every unit, in this order: `(directive, value)`. `nix/module.nix` sets the
/// same; `crates/sov/tests/suite/service.rs` checks that it does.
pub const HARDENING: &[(&str, &str)] = &[
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "read-only"),
    ("PrivateTmp", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    // Netlink: bubblewrap brings up the sandbox's own loopback through it.
    ("RestrictAddressFamilies", "AF_UNIX AF_INET AF_INET6 AF_NETLINK"),
    ("SystemCallArchitectures", "native"),
    // A deny list, not `@system-service`: sandboxes need `@mount`, `sethostname`, `pivot_root`
    // (in `@privileged`), `seccomp` and Landlock's calls, which no allow-group of systemd 252 has.
    ("SystemCallFilter", "~@clock @cpu-emulation @debug @module @obsolete @raw-io @reboot @swap"),
    ("SystemCallErrorNumber", "EPERM"),
    ("UMask", "0077"),
];

/// Which service manager the unit is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `systemctl --user`: runs as the person whose mail, notes and models it serves.
    User,
    /// The system manager, as the dedicated `user`.
    System {
        /// The account it runs as (`sovereign` by default).
        user: &'static str,
    },
}

/// What a unit runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    /// `Description=`.
    pub description: String,
    /// The command line: the `sov` binary and its arguments.
    pub exec: Vec<String>,
    /// User or system unit.
    pub scope: Scope,
    /// Environment the command gets (`SOV_CONFIG`, `SOV_DATA_DIR`, …).
    pub environment: Vec<(String, String)>,
    /// The only paths it may write (its data and state directories).
    pub read_write: Vec<PathBuf>,
}

impl Unit {
    /// The unit file's text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "# Written by `sov service install`; `sov service uninstall` removes it.");
        let _ = writeln!(out, "[Unit]");
        let _ = writeln!(out, "Description={}", self.description);
        let _ = writeln!(out, "After=network-online.target");
        let _ = writeln!(out, "Wants=network-online.target");
        let _ = writeln!(out);
        let _ = writeln!(out, "[Service]");
        let _ = writeln!(out, "Type=simple");
        let exec: Vec<String> = self.exec.iter().map(|a| quote_exec(a)).collect();
        let _ = writeln!(out, "ExecStart={}", exec.join(" "));
        let _ = writeln!(out, "Restart=on-failure");
        let _ = writeln!(out, "RestartSec=5");
        if let Scope::System { user } = self.scope {
            let _ = writeln!(out, "User={user}");
            let _ = writeln!(out, "Group={user}");
            let _ = writeln!(out, "StateDirectory=sovereign");
            let _ = writeln!(out, "StateDirectoryMode=0700");
        }
        for (key, value) in &self.environment {
            let _ = writeln!(out, "Environment={}", quote_value(&format!("{key}={value}")));
        }
        for (key, value) in HARDENING {
            let _ = writeln!(out, "{key}={value}");
        }
        if !self.read_write.is_empty() {
            let paths: Vec<String> = self.read_write.iter().map(|p| quote_value(&p.to_string_lossy())).collect();
            let _ = writeln!(out, "ReadWritePaths={}", paths.join(" "));
        }
        let _ = writeln!(out);
        let _ = writeln!(out, "[Install]");
        let target = match self.scope {
            Scope::User => "default.target",
            Scope::System { .. } => "multi-user.target",
        };
        let _ = writeln!(out, "WantedBy={target}");
        out
    }
}

/// One word of a unit file value: as is when it is plain, else in double quotes with `\` and `"`
/// escaped and control characters written as `\xNN`.
pub fn quote_value(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,@".contains(c) || (!c.is_ascii() && !c.is_control()));
    if plain {
        return word.to_owned();
    }
    let mut out = String::from("\"");
    for c in word.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            c if c.is_control() => {
                let _ = write!(out, "\\x{:02x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One argument of `ExecStart=`: [`quote_value`] after `%` → `%%` (specifiers) and `$` → `$$`
/// (variable expansion), so the command gets the argument exactly.
pub fn quote_exec(arg: &str) -> String {
    quote_value(&arg.replace('%', "%%").replace('$', "$$"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn arguments_with_spaces_quotes_and_specifiers_stay_one_argument_each() {
        assert_eq!(quote_exec("/usr/bin/sov"), "/usr/bin/sov");
        assert_eq!(quote_exec("/home/a b/sov"), "\"/home/a b/sov\"");
        assert_eq!(quote_exec("50%"), "\"50%%\"");
        assert_eq!(quote_exec("$HOME"), "\"$$HOME\"");
        assert_eq!(quote_exec("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
        assert_eq!(quote_exec(""), "\"\"");
        assert_eq!(quote_value("a\nb"), "\"a\\x0ab\"");
    }

    #[test]
    fn a_user_unit_has_no_user_line_and_a_system_unit_runs_as_its_account() {
        let mut unit = Unit {
            description: "Sovereign".into(),
            exec: vec!["/usr/bin/sov".into(), "serve".into()],
            scope: Scope::User,
            environment: vec![("SOV_CONFIG".into(), "/home/a/.config/sovereign/config.toml".into())],
            read_write: vec!["/home/a/.local/share/sovereign".into()],
        };
        let user = unit.render();
        assert!(!user.contains("User="), "{user}");
        assert!(user.contains("ExecStart=/usr/bin/sov serve\n"), "{user}");
        assert!(user.contains("Environment=SOV_CONFIG=/home/a/.config/sovereign/config.toml\n"), "{user}");
        assert!(user.contains("ReadWritePaths=/home/a/.local/share/sovereign\n"), "{user}");
        assert!(user.ends_with("WantedBy=default.target\n"), "{user}");
        for (key, value) in HARDENING {
            assert!(user.contains(&format!("\n{key}={value}\n")), "{key} missing");
        }
        unit.scope = Scope::System { user: "sovereign" };
        let system = unit.render();
        assert!(system.contains("User=sovereign\nGroup=sovereign\nStateDirectory=sovereign\n"), "{system}");
        assert!(system.ends_with("WantedBy=multi-user.target\n"), "{system}");
    }
}
