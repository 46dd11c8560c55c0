//! The host side of `sbox`: starts bubblewrap, hands it the options and Sovereign's init, forwards
//! signals, and returns the command's exit status.
//!
//! Start-up is arranged so that bubblewrap can load while `sbox` is still resolving the plan
//! (each takes a few hundred microseconds), and it stays fail-closed throughout:
//! 1. [`start`] first marks every descriptor above 2 close-on-exec but the ones the user keeps
//!    ([`crate::inherited`]), then spawns bubblewrap, with [`HARDENING`] on its command line and
//!    `--args FD`: it loads, then blocks reading the rest of its options from a pipe. Sovereign's
//!    init program is opened here and handed down as a descriptor that bubblewrap executes as
//!    `/proc/self/fd/N`, so it needs no bind mount; the generated `/etc` files go down as one pipe
//!    each, which bubblewrap copies into the sandbox's own root (`--file FD PATH`), so they need
//!    no host file and no bind mount either.
//! 2. Meanwhile [`prepare`] resolves and checks everything on the host. When anything is refused,
//!    dropping [`Started`] kills the waiting bubblewrap before it has built anything.
//! 3. [`Prepared::run`] writes the `/etc` files and the options (mounts, environment, the init's
//!    plan), closes the pipes and waits. Should `sbox` die before that, bubblewrap reads no
//!    options and the init finds no plan, so nothing runs.
//!
//! The environment reaches the sandbox through that pipe (`--setenv`), never a command line.
//! The descriptors handed down are inheritable only from their creation to the spawn, so a
//! process that another thread of the same program spawns in that instant may inherit them
//! too; all are read-only (the init program and the read ends of pipes).
//!
//! Descriptors are not handed down through `Command::pre_exec`, which would make the standard
//! library fork instead of `posix_spawn` and slow every start: the process's own descriptors are
//! marked before the spawn instead, which is why [`start`] changes them for good.

use std::ffi::OsString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, Signal};
use signal_hook::iterator::backend::SignalDelivery;
use signal_hook::iterator::exfiltrator::SignalOnly;
use sov_core::config::SandboxConfig;
use sov_core::paths::{Paths, ensure_private_dir};

use crate::bwrap::{ETC_GENERATED, HARDENING, HostLayout, bwrap_args, etc_files};
use crate::init::{FORWARDED_SIGNALS, InitOrders, PLAN_VAR, init_args};
use crate::plan::{Plan, kept_fd_set};
use crate::pty::Pty;
use crate::{Error, Result, relay};

/// bubblewrap, spawned and waiting for its options; killed when dropped unused.
#[derive(Debug)]
pub struct Started {
    program: PathBuf,
    bwrap: Option<Child>,
    options: Option<File>,
    /// The write ends of the pipes bubblewrap reads the generated `/etc` files from, in the order
    /// of [`ETC_GENERATED`], and the numbers bubblewrap knows their read ends by.
    etc: Vec<File>,
    etc_fds: Vec<i32>,
    kept: Vec<i32>,
    pty: Option<Pty>,
}

impl Started {
    /// The bubblewrap program as it was asked for (`sandbox.bwrap`), before the `PATH` search.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// The inherited descriptors this bubblewrap was given to pass in (`--keep-fd`), sorted.
    pub fn kept_fds(&self) -> &[i32] {
        &self.kept
    }
}

/// Spawns bubblewrap `program` (a name looked up on `PATH`, or a path), which loads and then
/// waits for its options (see the module docs). Every descriptor above 2 of this process is
/// close-on-exec afterwards, except those in `keep_fds`, which must have been handed to this
/// process by its parent (open and inheritable) and are the only ones bubblewrap inherits
/// beside its own.
pub fn start(program: &Path, keep_fds: &[i32]) -> Result<Started> {
    // Checked before this function opens anything: a number it opened itself is no kept one.
    let kept = kept_fd_set(keep_fds);
    crate::inherited::check_kept(&kept)?;
    crate::inherited::seal(&kept)?;
    let bwrap = find_program(program).ok_or_else(|| Error::BwrapMissing(program.to_owned()))?;
    let init = init_executable()?;
    let exe: OwnedFd =
        File::open(&init).map_err(Error::os(format!("opening the sandbox's init {}", init.display())))?.into();
    let exe = inheritable(exe)?;
    let pipe = |what: &str| {
        rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).map_err(Error::sys(format!("creating {what}")))
    };
    let (options_read, options_write) = pipe("bubblewrap's options pipe")?;
    let options_read = inheritable(options_read)?;
    let (mut etc_read, mut etc) = (Vec::with_capacity(ETC_GENERATED.len()), Vec::with_capacity(ETC_GENERATED.len()));
    for _ in ETC_GENERATED {
        let (read, write) = pipe("a pipe for the sandbox's /etc")?;
        etc_read.push(inheritable(read)?);
        etc.push(File::from(write));
    }
    let etc_fds = etc_read.iter().map(AsRawFd::as_raw_fd).collect();
    let mut pty = if crate::pty::interactive() { Some(Pty::open()?) } else { None };

    let exe_fd = exe.as_raw_fd();
    let mut command = Command::new(&bwrap);
    command
        .arg0("bwrap")
        .args(HARDENING)
        .args(["--args".into(), options_read.as_raw_fd().to_string()])
        .arg("--")
        .arg(format!("/proc/self/fd/{exe_fd}"))
        .args(init_args(exe_fd))
        // bubblewrap needs no environment; the sandbox's comes with the options.
        .env_clear()
        // Own process group: a terminal's Ctrl-C reaches sbox, which forwards it to the
        // command, instead of killing bubblewrap (and with it the whole sandbox) outright.
        .process_group(0);
    if let Some(slave) = pty.as_mut().and_then(|p| p.slave.take()) {
        let clone = |fd: &OwnedFd| fd.try_clone().map_err(Error::os("sharing the pty"));
        command.stdin(clone(&slave)?).stdout(clone(&slave)?).stderr(slave);
    }
    let spawned = command.spawn();
    // Our copies of what bubblewrap inherited: the terminal's slave end must close, or its
    // output never reaches EOF; the pipe's read end, or bubblewrap never sees the options end.
    drop((command, exe, options_read, etc_read));
    let child = spawned.map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::BwrapMissing(bwrap.clone()),
        _ => Error::os(format!("starting {}", bwrap.display()))(e),
    })?;
    tracing::debug!(bwrap = %bwrap.display(), init = %init.display(), "bubblewrap started, waiting for its options");
    Ok(Started {
        program: program.to_owned(),
        bwrap: Some(child),
        options: Some(File::from(options_write)),
        etc,
        etc_fds,
        kept,
        pty,
    })
}

impl Drop for Started {
    fn drop(&mut self) {
        if let Some(mut bwrap) = self.bwrap.take() {
            let _ = bwrap.kill();
            let _ = bwrap.wait();
        }
    }
}

/// `fd`, without close-on-exec, so that bubblewrap inherits it.
fn inheritable(fd: OwnedFd) -> Result<OwnedFd> {
    rustix::io::fcntl_setfd(&fd, rustix::io::FdFlags::empty()).map_err(Error::sys("handing a descriptor down"))?;
    Ok(fd)
}

/// A sandbox resolved and checked on the host, ready to hand to a [`Started`] bubblewrap.
#[derive(Debug)]
pub struct Prepared {
    /// The resolved plan.
    pub plan: Plan,
    allow_without_landlock: bool,
    layout: HostLayout,
    /// The generated `/etc` files' contents, in the order of [`ETC_GENERATED`].
    etc: [String; 4],
    ports_dir: Option<TempDir>,
}

/// The descriptor numbers a `--dry-run` command line gives the init (3) and the `/etc` files.
const DRY_RUN_EXE_FD: i32 = 3;
const DRY_RUN_ETC_FDS: [i32; 4] = [4, 5, 6, 7];

/// Checks the host and prepares everything outside the sandbox. Nothing is started here.
pub fn prepare(mut plan: Plan, config: &SandboxConfig, paths: &Paths) -> Result<Prepared> {
    plan.terminal = crate::pty::interactive();
    if let Some(port) = plan.ports.iter().find(|p| **p < 1024).filter(|_| ids().0 != 0) {
        return Err(Error::BadGrant {
            what: "--port".into(),
            path: port.to_string().into(),
            reason: "ports below 1024 can be granted only when sbox runs as root (unprivileged bubblewrap \
                     cannot bind them in the sandbox's network namespace); serve it on a port from 1024 up"
                .into(),
        });
    }

    let (uid, gid) = ids();
    let user = plan.env.iter().find(|(k, _)| k == "USER").map(|(_, v)| v.to_string_lossy().into_owned());
    let etc = etc_files(uid, gid, user.as_deref().unwrap_or("user"), &plan.home);

    // Created, and its sockets bound, only when the sandbox really starts (not for --dry-run).
    let ports_dir =
        (!plan.ports.is_empty()).then(|| TempDir(paths.runtime_dir.join(format!("sbox-{}", std::process::id()))));
    let layout = HostLayout::probe(DRY_RUN_ETC_FDS.to_vec(), ports_dir.as_ref().map(|d| d.0.clone()), plan.gpu);
    Ok(Prepared { plan, allow_without_landlock: config.insecure_allow_without_landlock, layout, etc, ports_dir })
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
    /// bubblewrap's options: the mount plan, then the environment and the init's plan.
    fn options(&self, with_env_values: bool) -> Result<Vec<OsString>> {
        let mut options = bwrap_args(&self.plan, &self.layout);
        options.push("--clearenv".into());
        if with_env_values {
            for (name, value) in &self.plan.env {
                options.extend([OsString::from("--setenv"), name.into(), value.clone()]);
            }
        }
        let orders = InitOrders { plan: self.plan.clone(), allow_without_landlock: self.allow_without_landlock };
        options.extend([OsString::from("--setenv"), PLAN_VAR.into(), orders.encode()?.into()]);
        Ok(options)
    }

    /// For `--dry-run`: a command line with the same effect, except that the environment's
    /// values are left out (they may be secrets; [`Plan::env`] has the names).
    pub fn command_line(&self, config: &SandboxConfig) -> Result<String> {
        let bwrap = find_program(&config.bwrap).unwrap_or_else(|| config.bwrap.clone());
        let init = init_executable()?;
        let words = std::iter::once(bwrap.into_os_string())
            .chain(self.options(false)?)
            .chain(["--".into(), format!("/proc/self/fd/{DRY_RUN_EXE_FD}").into()])
            .chain(init_args(DRY_RUN_EXE_FD))
            .map(|word| shell_quote(&word))
            .collect::<Vec<_>>();
        // bash's process substitution stands in for the pipes that carry the /etc files; their
        // lines are quoted $'…' so that the command line stays one line.
        let etc = DRY_RUN_ETC_FDS
            .iter()
            .zip(&self.etc)
            .map(|(fd, content)| {
                let quoted = content.replace('\\', "\\\\").replace('\'', "\\'").replace('\n', "\\n");
                format!(" {fd}< <(printf %s $'{quoted}')")
            })
            .collect::<String>();
        Ok(format!("{} {DRY_RUN_EXE_FD}< {}{etc}", words.join(" "), shell_quote(init.as_os_str())))
    }

    /// Hands the plan to `started` and runs the sandbox to completion; returns the command's
    /// exit status.
    pub fn run(mut self, mut started: Started) -> Result<i32> {
        if started.kept != self.plan.keep_fds {
            return Err(Error::Os {
                action: format!(
                    "starting the sandbox: bubblewrap was started keeping descriptors {:?}, the plan keeps {:?}",
                    started.kept, self.plan.keep_fds
                ),
                source: std::io::ErrorKind::InvalidInput.into(),
            });
        }
        self.plan.terminal = started.pty.is_some();
        self.layout.etc_fds = started.etc_fds.clone();
        if let Some(dir) = &self.ports_dir {
            if let Some(runtime_dir) = dir.0.parent() {
                ensure_private_dir(runtime_dir)?;
            }
            ensure_private_dir(&dir.0)?;
            relay::serve_host(&dir.0, &self.plan.ports)?;
        }
        let mut options = Vec::new();
        for option in self.options(true)? {
            options.extend_from_slice(option.as_bytes());
            options.push(0);
        }
        // Signals are registered before bubblewrap has its options, so that none finds the sandbox
        // unattended. Then one poll waits for a signal to forward or for bubblewrap's end, which
        // its pidfd reports at once; nothing is forwarded once that end is known.
        let (signal_read, signal_write) =
            std::os::unix::net::UnixStream::pair().map_err(Error::os("creating the signal pipe"))?;
        let mut signals = SignalDelivery::with_pipe(signal_read, signal_write, SignalOnly, FORWARDED_SIGNALS)
            .map_err(Error::os("installing signal handlers"))?;
        let output = started.pty.as_mut().map(|p| p.start()).transpose()?;
        let resize = started.pty.as_ref().map(|p| p.resizer()).transpose()?;
        let gone =
            || Error::Os { action: "starting the sandbox".into(), source: std::io::ErrorKind::NotConnected.into() };
        let bwrap_pid = started.bwrap.as_ref().map(Pid::from_child).ok_or_else(gone)?;
        let bwrap_fd = rustix::process::pidfd_open(bwrap_pid, rustix::process::PidfdFlags::empty())
            .map_err(Error::sys("opening bubblewrap's pidfd"))?;
        // Until here a failure drops `started`, which kills bubblewrap; from here on nothing
        // fails before bubblewrap's end.
        let mut child = started.bwrap.take().ok_or_else(gone)?;
        // The /etc files first (each far smaller than a pipe holds, so no write waits): bubblewrap
        // reads them only once it has all its options. A failure means bubblewrap is gone
        // already; its exit status below says why.
        for (mut pipe, content) in started.etc.drain(..).zip(&self.etc) {
            let _ = pipe.write_all(content.as_bytes());
        }
        if let Some(mut pipe) = started.options.take() {
            let _ = pipe.write_all(&options);
        }

        let init_forwards = self.plan.keeps_init();
        loop {
            let mut events = [PollFd::new(&bwrap_fd, PollFlags::IN), PollFd::new(signals.get_read(), PollFlags::IN)];
            match rustix::event::poll(&mut events, None) {
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(Error::sys("waiting for bubblewrap")(e)),
            }
            let (ended, signalled) = (!events[0].revents().is_empty(), !events[1].revents().is_empty());
            if signalled {
                for signal in signals.pending() {
                    if let (libc::SIGWINCH, Some(resize)) = (signal, &resize) {
                        resize();
                    } else if let Some(sig) = Signal::from_named_raw(signal) {
                        // Sovereign's init passes signals on; otherwise the command is the child
                        // of bubblewrap's PID 1. Before either exists, bubblewrap takes it.
                        let sandbox_pid_1 = first_child(bwrap_pid);
                        let target = if init_forwards { sandbox_pid_1 } else { sandbox_pid_1.and_then(first_child) };
                        let _ = match target {
                            Some(pid) => rustix::process::kill_process(pid, sig),
                            None => rustix::process::pidfd_send_signal(&bwrap_fd, sig),
                        };
                    }
                }
            }
            if ended {
                break;
            }
        }
        let status = child.wait().map_err(Error::os("waiting for bubblewrap"))?;
        signals.handle().close();
        if let Some(output) = output {
            let _ = output.join();
        }
        drop(started);
        drop(self.ports_dir);
        // bubblewrap exits with 1 when it cannot build the sandbox (having said why); the
        // commonest cause gets its fix here, checked only then rather than on every start.
        if status.code() == Some(1) {
            check_user_namespaces()?;
        }
        use std::os::unix::process::ExitStatusExt;
        Ok(status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(crate::init::EXIT_SANDBOX_FAILED))
    }
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

/// Names the fix where the kernel forbids the user namespaces bubblewrap needs.
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
