//! The host side of `sbox`: checks that a sandbox can be built (and refuses otherwise), prepares
//! the generated `/etc` and relay sockets, starts bubblewrap, forwards signals, and returns the
//! command's exit status.

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use rustix::process::{Pid, Signal};
use sov_core::config::SandboxConfig;
use sov_core::paths::{Paths, ensure_private_dir};

use crate::bwrap::{HostLayout, bwrap_args, write_etc_files};
use crate::init::init_args;
use crate::plan::Plan;
use crate::{Error, Result, relay};

/// A sandbox ready to start: the resolved plan, the bubblewrap program and its argv.
#[derive(Debug)]
pub struct Prepared {
    /// The resolved plan.
    pub plan: Plan,
    /// The bubblewrap executable.
    pub bwrap: PathBuf,
    /// bubblewrap's arguments.
    pub args: Vec<OsString>,
    ports_dir: Option<TempDir>,
}

/// Checks the host and prepares everything outside the sandbox. Nothing is started yet.
pub fn prepare(mut plan: Plan, config: &SandboxConfig, paths: &Paths) -> Result<Prepared> {
    plan.terminal = crate::pty::interactive();
    let bwrap = find_program(&config.bwrap).ok_or_else(|| Error::BwrapMissing(config.bwrap.clone()))?;
    check_user_namespaces()?;
    if let Some(port) = plan.ports.iter().find(|p| **p < 1024).filter(|_| ids().0 != 0) {
        return Err(Error::BadGrant {
            what: "--port".into(),
            path: port.to_string().into(),
            reason: "ports below 1024 can be granted only when sbox runs as root (unprivileged bubblewrap \
                     cannot bind them in the sandbox's network namespace); serve it on a port from 1024 up"
                .into(),
        });
    }

    ensure_private_dir(&paths.runtime_dir)?;
    let etc_dir = paths.runtime_dir.join("etc");
    ensure_private_dir(&etc_dir)?;
    let (uid, gid) = ids();
    let user = plan.env.iter().find(|(k, _)| k == "USER").map(|(_, v)| v.to_string_lossy().into_owned());
    write_etc_files(&etc_dir, uid, gid, user.as_deref().unwrap_or("user"), &plan.home)
        .map_err(Error::os(format!("writing sandbox /etc files in {}", etc_dir.display())))?;

    // Created, and its sockets bound, only when the sandbox really starts (not for --dry-run).
    let ports_dir =
        (!plan.ports.is_empty()).then(|| TempDir(paths.runtime_dir.join(format!("sbox-{}", std::process::id()))));

    let init_exe = init_executable()?;
    let layout = HostLayout::probe(init_exe, etc_dir, ports_dir.as_ref().map(|d| d.0.clone()), plan.gpu);
    let args = bwrap_args(&plan, &layout, &init_args(&plan, config.insecure_allow_without_landlock)?);
    Ok(Prepared { plan, bwrap, args, ports_dir })
}

/// The program that becomes the sandbox's init: `sbox-init` installed beside the running binary
/// when there is one (only the init, so it starts fastest), else `sbox` (`sov` links llama.cpp
/// and would load its libraries into every sandbox start), else the running binary itself.
/// All carry the same init.
fn init_executable() -> Result<PathBuf> {
    let current = std::env::current_exe().map_err(Error::os("finding the running executable"))?;
    let sibling = ["sbox-init", "sbox"].into_iter().map(|name| current.with_file_name(name)).find(|p| p.is_file());
    Ok(sibling.unwrap_or(current))
}

impl Prepared {
    /// The command line as a shell would show it, for `--dry-run`.
    pub fn command_line(&self) -> String {
        std::iter::once(self.bwrap.as_os_str())
            .chain(self.args.iter().map(|a| a.as_os_str()))
            .map(shell_quote)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Runs the sandbox to completion and returns the command's exit status.
    pub fn run(self) -> Result<i32> {
        if let Some(dir) = &self.ports_dir {
            ensure_private_dir(&dir.0)?;
            relay::serve_host(&dir.0, &self.plan.ports)?;
        }
        let (info_read, info_write) = rustix::pipe::pipe().map_err(Error::sys("creating the info pipe"))?;
        rustix::io::fcntl_setfd(&info_read, rustix::io::FdFlags::CLOEXEC)
            .map_err(Error::sys("configuring the info pipe"))?;

        // The write end has no O_CLOEXEC (rustix's `pipe`), so bubblewrap inherits it as `--info-fd`.
        let mut pty = if self.plan.terminal { Some(crate::pty::Pty::open()?) } else { None };
        let info_fd = info_write.as_fd().as_raw_fd().to_string();
        let mut command = Command::new(&self.bwrap);
        command
            .arg0("bwrap")
            .args(["--info-fd", info_fd.as_str()])
            .args(&self.args)
            .env_clear()
            .envs(self.plan.env.iter().map(|(k, v)| (k, v)))
            // Own process group: a terminal's Ctrl-C reaches sbox, which forwards it to the
            // command, instead of killing bubblewrap (and with it the whole sandbox) outright.
            .process_group(0);
        if let Some(slave) = pty.as_mut().and_then(|p| p.slave.take()) {
            let clone = |fd: &OwnedFd| fd.try_clone().map_err(Error::os("sharing the pty"));
            command.stdin(clone(&slave)?).stdout(clone(&slave)?).stderr(slave);
        }
        let spawned = command.spawn().map_err(Error::os(format!("starting {}", self.bwrap.display())));
        // Our copies of the terminal's slave end must close, or its output never reaches EOF.
        drop(command);
        let mut child = spawned?;
        let output = pty.as_mut().map(|p| p.start()).transpose()?;
        let resize = pty.as_ref().map(|p| p.resizer()).transpose()?;
        drop(info_write);

        let sandbox_pid = read_child_pid(info_read);
        let init_forwards = self.plan.keeps_init();
        // Signals are handled on this thread, which also learns of bubblewrap's end from SIGCHLD:
        // registered before the first look at the child, so its exit cannot be missed.
        let mut signals =
            signal_hook::iterator::Signals::new(crate::init::FORWARDED_SIGNALS.iter().copied().chain([libc::SIGCHLD]))
                .map_err(Error::os("installing signal handlers"))?;
        let status = 'sandbox: loop {
            if let Some(status) = child.try_wait().map_err(Error::os("waiting for bubblewrap"))? {
                break 'sandbox status;
            }
            for signal in signals.wait() {
                if signal == libc::SIGCHLD {
                    continue;
                } else if let (libc::SIGWINCH, Some(resize)) = (signal, &resize) {
                    resize();
                } else if let Some(sig) = Signal::from_named_raw(signal) {
                    // Sovereign's init passes signals on; otherwise the command is PID 1's child.
                    let target = if init_forwards { sandbox_pid } else { sandbox_pid.and_then(first_child) };
                    if let Some(pid) = target {
                        let _ = rustix::process::kill_process(pid, sig);
                    }
                }
            }
        };
        if let Some(output) = output {
            let _ = output.join();
        }
        drop(pty);
        drop(self.ports_dir);
        use std::os::unix::process::ExitStatusExt;
        Ok(status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(crate::init::EXIT_SANDBOX_FAILED))
    }
}

/// Reads bubblewrap's `{"child-pid": N}`: the sandbox's PID 1 as the host sees it.
fn read_child_pid(fd: OwnedFd) -> Option<Pid> {
    let mut text = String::new();
    std::fs::File::from(fd).read_to_string(&mut text).ok()?;
    let info: serde_json::Value = serde_json::from_str(&text).ok()?;
    Pid::from_raw(i32::try_from(info.get("child-pid")?.as_i64()?).ok()?)
}

/// The first child of `parent`, as the host sees it.
fn first_child(parent: Pid) -> Option<Pid> {
    let raw = parent.as_raw_nonzero().get();
    if let Ok(list) = std::fs::read_to_string(format!("/proc/{raw}/task/{raw}/children")) {
        return list.split_whitespace().next()?.parse().ok().and_then(Pid::from_raw);
    }
    // Kernels built without CONFIG_PROC_CHILDREN: find it by its parent.
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: i32 = entry.file_name().to_str()?.parse().ok()?;
        let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
        // "PID (COMM) STATE PPID ...", where COMM may hold spaces and parentheses.
        let ppid: i32 = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
        if ppid == raw { Pid::from_raw(pid) } else { None }
    })
}

/// Refuses early, with the fix, where the kernel forbids the user namespaces bubblewrap needs.
fn check_user_namespaces() -> Result<()> {
    let read = |path: &str| std::fs::read_to_string(path).ok().map(|s| s.trim().to_owned());
    if read("/proc/sys/user/max_user_namespaces").as_deref() == Some("0") {
        return Err(Error::UserNamespacesDisabled(
            "user.max_user_namespaces = 0".into(),
            "`sudo sysctl -w user.max_user_namespaces=15000` (and persist it in /etc/sysctl.d/)",
        ));
    }
    if ids().0 != 0 && read("/proc/sys/kernel/unprivileged_userns_clone").as_deref() == Some("0") {
        return Err(Error::UserNamespacesDisabled(
            "kernel.unprivileged_userns_clone = 0".into(),
            "`sudo sysctl -w kernel.unprivileged_userns_clone=1` (and persist it in /etc/sysctl.d/)",
        ));
    }
    Ok(())
}

fn find_program(program: &Path) -> Option<PathBuf> {
    if program.components().count() > 1 {
        return program.is_file().then(|| program.to_owned());
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    std::env::split_paths(&path).map(|dir| dir.join(program)).find(|p| p.is_file())
}

fn ids() -> (u32, u32) {
    (rustix::process::getuid().as_raw(), rustix::process::getgid().as_raw())
}

fn shell_quote(arg: &std::ffi::OsStr) -> String {
    let s = arg.to_string_lossy();
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        s.into_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// A directory removed when the sandbox ends.
#[derive(Debug)]
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
