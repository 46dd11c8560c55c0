//! The sandbox's init: `sbox-init` (else the running binary re-entered), which bubblewrap
//! executes from a descriptor `sbox` handed down ([`crate::launch`]); its orders (the plan)
//! arrive in the environment variable [`PLAN_VAR`], which the command never sees.
//!
//! Order matters and is this:
//! 0. the descriptor it was executed from is closed ([`crate::inherited`]), so the command
//!    never holds a handle on a host file; then every other descriptor above 2 but the ones
//!    kept on purpose (`--keep-fd`, [`Plan::keep_fds`]), whatever bubblewrap left open;
//! 1. Landlock (which sets `no_new_privs`), then seccomp, on this process: every thread and
//!    process started afterwards, the relays and the command included, inherits both;
//! 2. the port relays start listening on the sandbox's loopback;
//! 3. the command starts; signals that reach PID 1 are forwarded to it; orphans are reaped;
//! 4. PID 1 exits with the command's status (128 + N for a signal), which ends the namespace.
//!
//! Steps 2–4 are for sandboxes that relay ports or own a terminal ([`Plan::keeps_init`]). In
//! all others the init, once confined, executes the command in its own place, and bubblewrap's
//! PID 1 does the reaping; `sbox` outside sends forwarded signals to the command itself.

use std::ffi::OsString;
use std::io::ErrorKind;
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::process::{Pid, Signal, WaitOptions};
use serde::{Deserialize, Serialize};

use crate::plan::Plan;
use crate::{Error, Result, bwrap, confine, relay, seccomp};

/// The hidden subcommand that marks an init invocation.
pub const INIT_SUBCOMMAND: &str = "__sbox-init";

/// The environment variable that carries [`InitOrders`] (JSON) to the init. It holds no secret
/// (the plan's environment is not part of it) and is removed before the command starts.
pub const PLAN_VAR: &str = "SOV_SBOX_PLAN";

/// What `sbox` tells the init.
#[derive(Debug, Serialize, Deserialize)]
pub struct InitOrders {
    /// What the sandbox contains.
    pub plan: Plan,
    /// `sandbox.insecure_allow_without_landlock`: run even where the kernel enforces no Landlock.
    pub allow_without_landlock: bool,
}

/// Signals passed on to the command, by `sbox` outside and by the init inside.
pub const FORWARDED_SIGNALS: [i32; 7] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];

/// Exit status when the sandbox itself fails (as `env` and container runtimes use it).
pub const EXIT_SANDBOX_FAILED: i32 = 125;
/// Exit status when the command exists but cannot be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// Exit status when the command is not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Arguments for the init, after the program name, which is `/proc/self/fd/EXE_FD`:
/// `__sbox-init EXE_FD`.
pub fn init_args(exe_fd: i32) -> [OsString; 2] {
    [INIT_SUBCOMMAND.into(), exe_fd.to_string().into()]
}

impl InitOrders {
    /// The value of [`PLAN_VAR`].
    pub fn encode(&self) -> Result<String> {
        serde_json::to_string(self).map_err(|e| Error::Os { action: "encoding the plan".into(), source: e.into() })
    }
}

/// Runs the init with the arguments that follow [`INIT_SUBCOMMAND`]; returns the exit status.
pub fn main(args: &[OsString]) -> i32 {
    match run(args) {
        Ok(status) => status,
        Err(e) => {
            eprintln!("sbox: {e}");
            EXIT_SANDBOX_FAILED
        }
    }
}

fn run(args: &[OsString]) -> Result<i32> {
    let bad_usage = || Error::Os { action: "reading init arguments".into(), source: ErrorKind::InvalidInput.into() };
    let [exe_fd] = args else { return Err(bad_usage()) };
    let exe_fd: i32 = exe_fd.to_str().and_then(|fd| fd.parse().ok()).ok_or_else(bad_usage)?;
    crate::inherited::close_exec_source(exe_fd)?;
    let orders = std::env::var_os(PLAN_VAR).ok_or_else(|| Error::Os {
        action: format!("reading the plan from {PLAN_VAR} (sbox gives it; this init is not meant to be run by hand)"),
        source: ErrorKind::NotFound.into(),
    })?;
    let InitOrders { plan, allow_without_landlock } = serde_json::from_slice(orders.as_encoded_bytes())
        .map_err(|e| Error::Os { action: "decoding the plan".into(), source: e.into() })?;
    crate::inherited::close_all_but(&plan.keep_fds)?;

    confine::apply(&plan, allow_without_landlock)?;
    seccomp::install(&seccomp::program()?)?;
    let Some((program, rest)) = plan.command.split_first() else {
        return Err(Error::Os { action: "starting the command".into(), source: ErrorKind::InvalidInput.into() });
    };
    if !plan.keeps_init() {
        // Become the command; only returns when it could not be executed.
        let error = Command::new(program).args(rest).arg0(program).env_remove(PLAN_VAR).exec();
        return Ok(not_started(program, &error));
    }
    if !plan.ports.is_empty() {
        relay::serve_sandbox(&bwrap::ports_path(), &plan.ports)?;
    }

    let mut signals =
        signal_hook::iterator::Signals::new(FORWARDED_SIGNALS).map_err(Error::os("installing signal handlers"))?;

    // Executed from a descriptor, this process is named after its number; name it for `ps`.
    let _ = rustix::thread::set_name(c"sbox-init");

    if plan.terminal {
        // bubblewrap made us a session leader; take the sandbox's own pty as our terminal so the
        // command gets job control.
        rustix::process::ioctl_tiocsctty(std::io::stdin()).map_err(Error::sys("taking the sandbox terminal"))?;
    }

    // PID 1 ignores default-action signals; the command must not inherit handlers or masks.
    let child = match Command::new(program).args(rest).arg0(program).env_remove(PLAN_VAR).spawn() {
        Ok(child) => child,
        Err(e) => return Ok(not_started(program, &e)),
    };
    let child_pid = Pid::from_raw(child.id() as i32);

    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if let (Some(pid), Some(sig)) = (child_pid, Signal::from_named_raw(signal)) {
                    let _ = rustix::process::kill_process(pid, sig);
                }
            }
        })
        .map_err(Error::os("starting the signal thread"))?;

    loop {
        match rustix::process::wait(WaitOptions::empty()) {
            Ok(Some((pid, status))) if Some(pid) == child_pid => {
                return Ok(match (status.exit_status(), status.terminating_signal()) {
                    (Some(code), _) => code,
                    (None, Some(signal)) => 128 + signal,
                    (None, None) => EXIT_SANDBOX_FAILED,
                });
            }
            Ok(_) => continue, // a reaped orphan
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(Error::Os { action: "waiting for the command".into(), source: e.into() }),
        }
    }
}

/// Reports a command that could not be started; returns the exit status for it.
fn not_started(program: &std::ffi::OsStr, error: &std::io::Error) -> i32 {
    let name = program.to_string_lossy();
    if error.kind() == ErrorKind::NotFound {
        eprintln!("sbox: {name}: command not found inside the sandbox (is it under a path the sandbox can see?)");
        EXIT_NOT_FOUND
    } else {
        eprintln!("sbox: {name}: {error}");
        EXIT_NOT_EXECUTABLE
    }
}
