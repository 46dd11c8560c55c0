//! The sandbox's init: `sbox-init` (else the running binary re-entered), bound read-only at `/run/sovereign/sbox-init`.
//!
//! Order matters and is this:
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

use crate::plan::Plan;
use crate::{Error, Result, bwrap, confine, relay, seccomp};

/// The hidden subcommand that marks an init invocation.
pub const INIT_SUBCOMMAND: &str = "__sbox-init";

/// Signals passed on to the command, by `sbox` outside and by the init inside.
pub const FORWARDED_SIGNALS: [i32; 7] =
    [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT, libc::SIGUSR1, libc::SIGUSR2, libc::SIGWINCH];

/// Exit status when the sandbox itself fails (as `env` and container runtimes use it).
pub const EXIT_SANDBOX_FAILED: i32 = 125;
/// Exit status when the command exists but cannot be executed.
pub const EXIT_NOT_EXECUTABLE: i32 = 126;
/// Exit status when the command is not found.
pub const EXIT_NOT_FOUND: i32 = 127;

/// Arguments for the init, after the program name: `__sbox-init [--insecure-allow-without-landlock] PLAN_JSON`.
pub fn init_args(plan: &Plan, allow_without_landlock: bool) -> Result<Vec<OsString>> {
    let json =
        serde_json::to_string(plan).map_err(|e| Error::Os { action: "encoding the plan".into(), source: e.into() })?;
    let mut args = vec![OsString::from(INIT_SUBCOMMAND)];
    if allow_without_landlock {
        args.push("--insecure-allow-without-landlock".into());
    }
    args.push(json.into());
    Ok(args)
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
    let (allow_without_landlock, json) = match args {
        [flag, json] if flag == "--insecure-allow-without-landlock" => (true, json),
        [json] => (false, json),
        _ => return Err(Error::Os { action: "reading init arguments".into(), source: ErrorKind::InvalidInput.into() }),
    };
    let plan: Plan = serde_json::from_slice(json.as_encoded_bytes())
        .map_err(|e| Error::Os { action: "decoding the plan".into(), source: e.into() })?;

    confine::apply(&plan, allow_without_landlock)?;
    seccomp::install(&seccomp::program()?)?;
    let Some((program, rest)) = plan.command.split_first() else {
        return Err(Error::Os { action: "starting the command".into(), source: ErrorKind::InvalidInput.into() });
    };
    if !plan.keeps_init() {
        // Become the command; only returns when it could not be executed.
        let error = Command::new(program).args(rest).arg0(program).exec();
        return Ok(not_started(program, &error));
    }
    if !plan.ports.is_empty() {
        relay::serve_sandbox(&bwrap::ports_path(), &plan.ports)?;
    }

    let mut signals =
        signal_hook::iterator::Signals::new(FORWARDED_SIGNALS).map_err(Error::os("installing signal handlers"))?;

    if plan.terminal {
        // bubblewrap made us a session leader; take the sandbox's own pty as our terminal so the
        // command gets job control.
        rustix::process::ioctl_tiocsctty(std::io::stdin()).map_err(Error::sys("taking the sandbox terminal"))?;
    }

    // PID 1 ignores default-action signals; the command must not inherit handlers or masks.
    let child = match Command::new(program).args(rest).arg0(program).spawn() {
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
