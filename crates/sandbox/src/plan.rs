//! From what the user asked for to exactly what the sandbox will contain.
//!
//! [`Request`] is what was typed (flags plus the chosen profile); [`Plan`] is the resolved result:
//! absolute, existing paths, the final environment and the command. Resolution is where bad input
//! is caught and named; everything after it (the bubblewrap argv, the Landlock rules) is a pure
//! function of the plan.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sov_core::config::{SandboxProfile, expand_home, is_env_name};
use sov_core::protected::{Exposure, Protected, exposure};

use crate::{Error, Result};

/// Environment variables that pass into every sandbox when set on the host. Everything else
/// (tokens, keys, agent sockets, `LD_PRELOAD`) stays out unless named with `--env`.
pub const ENV_ALLOWLIST: &[&str] =
    &["HOME", "USER", "LOGNAME", "SHELL", "TERM", "COLORTERM", "LANG", "LANGUAGE", "TZ", "NO_COLOR"];

/// `PATH` inside the sandbox unless `--env PATH` passes the host's.
pub const SANDBOX_PATH: &str = "/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin";

/// Where the sandbox finds Sovereign's own pieces (init binary, relay sockets).
pub const RUN_DIR: &str = "/run/sovereign";

/// What the user asked for, before anything is checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    /// Extra read-only paths (`--ro`).
    pub ro: Vec<PathBuf>,
    /// Extra read-write paths (`--rw`).
    pub rw: Vec<PathBuf>,
    /// Extra granted loopback ports (`--port`).
    pub ports: Vec<u16>,
    /// Extra environment variable names (`--env`).
    pub env: Vec<String>,
    /// `--audio`.
    pub audio: bool,
    /// `--gpu`.
    pub gpu: bool,
    /// Inherited descriptors to pass in (`--keep-fd`); every other one above 2 is closed.
    pub keep_fds: Vec<i32>,
    /// The command and its arguments; empty means an interactive shell.
    pub command: Vec<OsString>,
}

/// One path made visible inside the sandbox, at the same path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bind {
    /// Host path (symlinks resolved).
    pub source: PathBuf,
    /// Path inside the sandbox (as the user named it).
    pub dest: PathBuf,
    /// Read-write when true, read-only otherwise.
    pub writable: bool,
}

/// Everything the sandbox will contain, resolved and checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The working directory: read-write, at the same path, and where the command starts.
    pub workdir: PathBuf,
    /// The user's home path; inside it is an empty tmpfs apart from granted paths.
    pub home: PathBuf,
    /// Working dir and granted paths, ordered so that a deeper path is mounted after (over) the
    /// path that contains it: `--ro workdir/secrets` stays read-only inside a writable workdir.
    pub binds: Vec<Bind>,
    /// Granted host loopback ports, sorted, without duplicates.
    pub ports: Vec<u16>,
    /// Sockets to bind for `--audio` (those that exist).
    pub audio_sockets: Vec<PathBuf>,
    /// `XDG_RUNTIME_DIR` inside, when audio is granted.
    pub audio_runtime_dir: Option<PathBuf>,
    /// Whether GPU device nodes are bound.
    pub gpu: bool,
    /// The final environment, in order.
    #[serde(skip)]
    pub env: Vec<(String, OsString)>,
    /// The inherited descriptors passed in (`--keep-fd`), sorted, without duplicates, each above
    /// 2. Every other descriptor above 2 is closed before the command starts ([`crate::inherited`]).
    pub keep_fds: Vec<i32>,
    /// The command to run inside.
    pub command: Vec<OsString>,
    /// Whether the command gets a terminal of its own ([`crate::pty`]), as its controlling terminal.
    pub terminal: bool,
}

impl Plan {
    /// Whether Sovereign's init stays in the sandbox as its PID 1, to relay granted ports or to
    /// own the sandbox's terminal. Otherwise the init confines itself and then *becomes* the
    /// command (one process start less), under bubblewrap's own PID 1, which reaps orphans and
    /// leaves the command the ordinary signal semantics of a process that is not PID 1.
    pub fn keeps_init(&self) -> bool {
        self.terminal || !self.ports.is_empty()
    }
}

/// The host environment a plan is resolved against (pure input, so resolution is testable).
#[derive(Debug, Clone)]
pub struct HostEnv {
    /// Current working directory (physical).
    pub workdir: PathBuf,
    /// `HOME`.
    pub home: PathBuf,
    /// The host's environment variables.
    pub vars: Vec<(String, OsString)>,
}

impl HostEnv {
    /// Reads the real process environment.
    pub fn current() -> Result<Self> {
        let workdir = std::env::current_dir().map_err(Error::os("reading the current directory"))?;
        let home =
            std::env::var_os("HOME").map(PathBuf::from).ok_or(Error::Core(sov_core::Error::MissingEnv("HOME")))?;
        let vars = std::env::vars_os().filter_map(|(k, v)| Some((k.into_string().ok()?, v))).collect();
        Ok(Self { workdir, home, vars })
    }

    fn var(&self, name: &str) -> Option<&OsString> {
        self.vars.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// Resolves `request` on top of `profile` against the host. Checks every path and name and says
/// precisely what is wrong.
pub fn resolve(request: &Request, profile: &SandboxProfile, host: &HostEnv) -> Result<Plan> {
    let workdir = &host.workdir;
    if workdir == Path::new("/") {
        return Err(Error::BadWorkingDir(
            workdir.clone(),
            "the root directory would expose the whole system; cd into a project directory first",
        ));
    }
    if !workdir.is_absolute() {
        return Err(Error::BadWorkingDir(workdir.clone(), "it is not an absolute path"));
    }

    let mut binds = vec![Bind { source: workdir.clone(), dest: workdir.clone(), writable: true }];
    let grants = [
        ("profile ro", &profile.ro, false),
        ("profile rw", &profile.rw, true),
        ("--ro", &request.ro, false),
        ("--rw", &request.rw, true),
    ];
    for (what, paths, writable) in grants {
        for path in paths {
            binds.push(resolve_bind(what, path, writable, host)?);
        }
    }
    // Later duplicates replace earlier ones so the command line wins over the profile.
    let mut unique: Vec<Bind> = Vec::with_capacity(binds.len());
    for bind in binds {
        unique.retain(|b| b.dest != bind.dest);
        unique.push(bind);
    }
    unique.sort_by_key(|b| b.dest.components().count());

    let mut ports: Vec<u16> = profile.ports.iter().chain(&request.ports).copied().collect();
    if ports.contains(&0) {
        return Err(Error::BadGrant {
            what: "--port".into(),
            path: "0".into(),
            reason: "0 is not a port; use 1-65535".into(),
        });
    }
    ports.sort_unstable();
    ports.dedup();

    let extra_env: Vec<&String> = profile.env.iter().chain(&request.env).collect();
    if let Some(bad) = extra_env.iter().find(|n| !is_env_name(n)) {
        return Err(Error::BadEnvName((*bad).clone()));
    }
    let mut env: Vec<(String, OsString)> = Vec::new();
    let mut set = |name: &str, value: OsString| {
        env.retain(|(k, _)| k != name);
        env.push((name.to_owned(), value));
    };
    set("PATH", SANDBOX_PATH.into());
    for (name, value) in &host.vars {
        let allowed = ENV_ALLOWLIST.contains(&name.as_str()) || name.starts_with("LC_");
        if allowed || extra_env.contains(&name) {
            set(name, value.clone());
        }
    }
    set("HOME", host.home.clone().into());
    set("SOV_SANDBOX", "1".into());

    let audio = request.audio || profile.audio;
    let (audio_sockets, audio_runtime_dir) = match (audio, host.var("XDG_RUNTIME_DIR")) {
        (true, Some(dir)) => {
            let dir = PathBuf::from(dir);
            let sockets: Vec<PathBuf> =
                ["pipewire-0", "pulse/native"].iter().map(|s| dir.join(s)).filter(|p| p.exists()).collect();
            if sockets.is_empty() {
                return Err(Error::BadGrant {
                    what: "--audio".into(),
                    path: dir,
                    reason: "no PipeWire (pipewire-0) or PulseAudio (pulse/native) socket there; is the sound server running?".into(),
                });
            }
            set("XDG_RUNTIME_DIR", dir.clone().into());
            (sockets, Some(dir))
        }
        (true, None) => {
            return Err(Error::BadGrant {
                what: "--audio".into(),
                path: "$XDG_RUNTIME_DIR".into(),
                reason: "XDG_RUNTIME_DIR is not set, so the sound server's socket cannot be found".into(),
            });
        }
        (false, _) => (Vec::new(), None),
    };

    if let Some(fd) = request.keep_fds.iter().copied().find(|fd| *fd <= 2) {
        return Err(Error::KeptFd { fd, reason: "0, 1 and 2 always pass; name descriptors from 3 up" });
    }
    let keep_fds = kept_fd_set(&request.keep_fds);

    let command = if request.command.is_empty() {
        let shell = host.var("SHELL").filter(|s| Path::new(s).is_absolute() && Path::new(s).exists());
        vec![shell.cloned().unwrap_or_else(|| "/bin/sh".into())]
    } else {
        request.command.clone()
    };

    Ok(Plan {
        workdir: workdir.clone(),
        home: host.home.clone(),
        binds: unique,
        ports,
        audio_sockets,
        audio_runtime_dir,
        gpu: request.gpu || profile.gpu,
        env,
        keep_fds,
        command,
        terminal: false,
    })
}

/// The descriptors in `keep_fds`, sorted and without duplicates.
pub fn kept_fd_set(keep_fds: &[i32]) -> Vec<i32> {
    let mut keep = keep_fds.to_vec();
    keep.sort_unstable();
    keep.dedup();
    keep
}

/// Refuses a plan that would reach what a sandbox must never reach, whatever it is granted:
/// `protected` (Sovereign's configuration, policy and data, the human console's port, as this
/// process and every running daemon name them: see [`crate::protect`]). A bind may neither lie
/// inside a protected directory nor contain one, no granted port may be protected, and a kept
/// descriptor (`kept_fd_targets`: each `--keep-fd` with the path it leads to) is a grant too.
///
/// A pure function of its inputs, so every refusal is tested without a running daemon.
pub fn keep_sovereign_out(plan: &Plan, protected: &[Protected], kept_fd_targets: &[(i32, PathBuf)]) -> Result<()> {
    let binds: Vec<&Path> = plan.binds.iter().map(|b| b.source.as_path()).collect();
    match exposure(&binds, &plan.ports, protected) {
        Some(Exposure::Dir { bind, what, dir }) => {
            let role = if bind == plan.workdir { "the working directory" } else { "a granted path" };
            return Err(Error::ExposesProtected {
                role,
                bind: bind.to_owned(),
                what: what.to_owned(),
                dir: dir.to_owned(),
            });
        }
        Some(Exposure::Port { port, what }) => return Err(Error::ProtectedPort { port, what: what.to_owned() }),
        None => {}
    }
    for (fd, target) in kept_fd_targets {
        if let Some(Exposure::Dir { what, dir, .. }) = exposure(&[target], &[], protected) {
            return Err(Error::KeptFdExposes {
                fd: *fd,
                target: target.clone(),
                what: what.to_owned(),
                dir: dir.to_owned(),
            });
        }
    }
    Ok(())
}

fn resolve_bind(what: &str, path: &Path, writable: bool, host: &HostEnv) -> Result<Bind> {
    let bad = |reason: String| Error::BadGrant { what: what.to_owned(), path: path.to_owned(), reason };
    let dest = expand_home(path, Some(&host.home)).or_else(|_| {
        // A relative path on the command line means relative to the working directory.
        if path.is_relative() { Ok(host.workdir.join(path)) } else { Err(bad("not an absolute path".into())) }
    })?;
    let dest = normalize(&dest).ok_or_else(|| bad("`..` may not climb above /".into()))?;
    let source = std::fs::canonicalize(&dest).map_err(|e| bad(format!("{e}; create it first or fix the path")))?;
    if source == Path::new("/") {
        return Err(bad("granting / would expose the whole system".into()));
    }
    Ok(Bind { source, dest, writable })
}

/// Removes `.` and resolves `..` lexically, so `--ro ../x` names the path it looks like.
fn normalize(path: &Path) -> Option<PathBuf> {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                if !out.pop() || out.as_os_str().is_empty() {
                    return None;
                }
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    fn host(dir: &Path) -> HostEnv {
        HostEnv {
            workdir: dir.to_owned(),
            home: "/home/ada".into(),
            vars: vec![
                ("TERM".into(), "xterm".into()),
                ("GITHUB_TOKEN".into(), "ghp_secret".into()),
                ("LC_ALL".into(), "C.UTF-8".into()),
                ("AWS_SECRET_ACCESS_KEY".into(), "k".into()),
                ("EDITOR".into(), "vim".into()),
            ],
        }
    }

    #[test]
    fn env_is_an_allowlist_and_tokens_stay_out() {
        let dir = tempfile::tempdir().unwrap();
        let request = Request { env: vec!["EDITOR".into()], ..Request::default() };
        let plan = resolve(&request, &SandboxProfile::default(), &host(dir.path())).unwrap();
        let names: Vec<&str> = plan.env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["PATH", "TERM", "LC_ALL", "EDITOR", "HOME", "SOV_SANDBOX"]);
    }

    #[test]
    fn deeper_grants_mount_after_the_paths_that_contain_them() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/secret")).unwrap();
        let request = Request { ro: vec!["a/secret".into()], rw: vec![dir.path().join("a")], ..Request::default() };
        let plan = resolve(&request, &SandboxProfile::default(), &host(dir.path())).unwrap();
        let order: Vec<(PathBuf, bool)> = plan.binds.iter().map(|b| (b.dest.clone(), b.writable)).collect();
        assert_eq!(
            order,
            vec![(dir.path().to_owned(), true), (dir.path().join("a"), true), (dir.path().join("a/secret"), false)]
        );
    }

    #[test]
    fn bad_grants_name_the_path_and_the_fix() {
        let dir = tempfile::tempdir().unwrap();
        let request = Request { ro: vec!["/does/not/exist".into()], ..Request::default() };
        let err = resolve(&request, &SandboxProfile::default(), &host(dir.path())).unwrap_err().to_string();
        assert!(err.contains("--ro /does/not/exist") && err.contains("create it first"), "{err}");
        let request = Request { rw: vec!["/".into()], ..Request::default() };
        let err = resolve(&request, &SandboxProfile::default(), &host(dir.path())).unwrap_err().to_string();
        assert!(err.contains("whole system"), "{err}");
        let request = Request { env: vec!["NOT-A-NAME".into()], ..Request::default() };
        let err = resolve(&request, &SandboxProfile::default(), &host(dir.path())).unwrap_err().to_string();
        assert!(err.contains("`NOT-A-NAME`"), "{err}");
    }

    #[test]
    fn root_as_working_dir_is_refused() {
        let err = resolve(&Request::default(), &SandboxProfile::default(), &host(Path::new("/"))).unwrap_err();
        assert!(err.to_string().contains("cd into a project directory"), "{err}");
    }

    #[test]
    fn ports_merge_sorted_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let profile = SandboxProfile { ports: vec![8080, 6000], ..SandboxProfile::default() };
        let request = Request { ports: vec![6000, 9000], ..Request::default() };
        assert_eq!(resolve(&request, &profile, &host(dir.path())).unwrap().ports, vec![6000, 8080, 9000]);
    }

    fn protected() -> Vec<Protected> {
        vec![
            Protected::Dir { what: "Sovereign's data".into(), path: "/home/ada/.local/share/sovereign".into() },
            Protected::Dir { what: "Sovereign's configuration".into(), path: "/home/ada/.config/sovereign".into() },
            Protected::Port { what: "the human console (gate.console_listen)".into(), port: 7000 },
        ]
    }

    fn plan_of(workdir: &str, grants: &[&str], ports: &[u16]) -> Plan {
        let bind = |path: &str, writable| Bind { source: path.into(), dest: path.into(), writable };
        Plan {
            workdir: workdir.into(),
            home: "/home/ada".into(),
            binds: std::iter::once(bind(workdir, true)).chain(grants.iter().map(|g| bind(g, false))).collect(),
            ports: ports.to_vec(),
            audio_sockets: Vec::new(),
            audio_runtime_dir: None,
            gpu: false,
            env: Vec::new(),
            keep_fds: Vec::new(),
            command: vec!["sh".into()],
            terminal: false,
        }
    }

    #[test]
    fn a_project_with_ordinary_grants_passes() {
        let plan = plan_of("/home/ada/src/app", &["/home/ada/notes", "/home/ada/.config/git"], &[8080, 6000]);
        keep_sovereign_out(&plan, &protected(), &[(7, "/home/ada/notes/today.md".into())]).unwrap();
    }

    #[test]
    fn a_working_directory_inside_or_around_the_data_is_refused() {
        for workdir in ["/home/ada/.local/share/sovereign/attack", "/home/ada", "/home/ada/.local"] {
            let err = keep_sovereign_out(&plan_of(workdir, &[], &[]), &protected(), &[]).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "the working directory {workdir} would expose Sovereign's data (/home/ada/.local/share/sovereign); a sandbox may never see it. Run sbox from a project directory and grant narrower paths."
                )
            );
        }
    }

    #[test]
    fn a_grant_that_contains_or_enters_the_configuration_is_refused() {
        for grant in ["/home/ada/.config", "/home/ada/.config/sovereign/policy.toml"] {
            let plan = plan_of("/home/ada/src/app", &["/home/ada/notes", grant], &[]);
            let err = keep_sovereign_out(&plan, &protected(), &[]).unwrap_err().to_string();
            assert!(
                err.starts_with(&format!("a granted path {grant} would expose Sovereign's configuration")),
                "{err}"
            );
        }
        // A sibling whose name merely starts the same is no overlap.
        let plan = plan_of("/home/ada/src/app", &["/home/ada/.config/sovereign-themes"], &[]);
        keep_sovereign_out(&plan, &protected(), &[]).unwrap();
    }

    #[test]
    fn the_consoles_port_is_never_granted() {
        let err = keep_sovereign_out(&plan_of("/home/ada/src/app", &[], &[8080, 7000]), &protected(), &[]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "port 7000 is the human console (gate.console_listen); it is never granted to a sandbox"
        );
    }

    #[test]
    fn a_kept_descriptor_into_the_data_is_refused() {
        let plan = plan_of("/home/ada/src/app", &[], &[]);
        let kept = [(5, "/home/ada/notes".into()), (7, "/home/ada/.local/share/sovereign/sovereign.db".into())];
        let err = keep_sovereign_out(&plan, &protected(), &kept).unwrap_err();
        assert_eq!(
            err.to_string(),
            "--keep-fd 7 is /home/ada/.local/share/sovereign/sovereign.db, which would expose Sovereign's data (/home/ada/.local/share/sovereign); a sandbox may never see it"
        );
        // A descriptor of the directory that holds the data leads to it too.
        let err = keep_sovereign_out(&plan, &protected(), &[(9, "/home/ada/.local/share".into())]).unwrap_err();
        assert!(err.to_string().starts_with("--keep-fd 9 is /home/ada/.local/share, which would expose"), "{err}");
    }

    #[test]
    fn dotdot_cannot_climb_above_root() {
        assert_eq!(normalize(Path::new("/a/b/../c")), Some(PathBuf::from("/a/c")));
        assert_eq!(normalize(Path::new("/../etc")), None);
    }
}
