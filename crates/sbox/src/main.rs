//! `sbox`: the same as `sov sbox`, under the short name the reference setup already uses.
//!
//! It does without Rust's usual `main`: the runtime's set-up around it (the main thread's stack
//! guard found by reading /proc/self/maps, an alternate signal stack and handlers for stack
//! overflow) measured ~30 µs of every start. What of it `sbox` needs, [`main`] does itself.

#![no_main]
// The one `unsafe` here is exporting the C `main` symbol, which this program defines once.
#![allow(unsafe_code)]

use std::ffi::{c_char, c_int};
use std::path::PathBuf;

use clap::Parser;

/// Run a command (or a shell) in a sandbox rooted at the current directory.
///
/// Inside, the command sees the current directory read-write at its own path, a read-only
/// minimal system, an empty /tmp and home, and what you grant: nothing else. It has no network at
/// all except the host loopback ports you grant with --port. Built on bubblewrap, with Landlock
/// and seccomp inside; if any of these cannot be enforced it refuses to run. Every inherited file
/// descriptor other than 0, 1 and 2 is closed unless passed with --keep-fd. Exit status: the
/// command's own; 125 if the sandbox failed, 126 if the command could not run, 127 if not found.
#[derive(Debug, Parser)]
#[command(name = "sbox", version, max_term_width = 100)]
struct Cli {
    /// Config file to use instead of the default ($SOV_CONFIG, else ~/.config/sovereign/config.toml).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// More log output (-v debug, -vv trace).
    #[arg(short, long, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(flatten)]
    sandbox: sov_sbox::SboxArgs,
}

/// The C entry point. Before anything else it makes the standard descriptors valid (so that no
/// file opened later takes their place), makes writes to a closed pipe or socket fail instead of
/// killing the process (a relayed connection's peer may go away), and ends a panic with 101. The
/// arguments come from `std::env::args_os`, which glibc initialises before `main`.
#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: c_int, _argv: *const *const c_char) -> c_int {
    open_standard_descriptors();
    let _ = signal_hook::flag::register(signal_hook::consts::SIGPIPE, Default::default());
    let status = std::panic::catch_unwind(run).unwrap_or(101);
    let _ = std::io::Write::flush(&mut std::io::stdout());
    status
}

fn open_standard_descriptors() {
    use rustix::stdio::{dup2_stderr, dup2_stdin, dup2_stdout, stderr, stdin, stdout};
    use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd};
    type Reopen = fn(&std::fs::File) -> rustix::io::Result<()>;
    let standard: [(BorrowedFd<'static>, Reopen); 3] =
        [(stdin(), |f| dup2_stdin(f)), (stdout(), |f| dup2_stdout(f)), (stderr(), |f| dup2_stderr(f))];
    for (fd, reopen) in standard {
        if rustix::io::fcntl_getfd(fd) != Err(rustix::io::Errno::BADF) {
            continue;
        }
        let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") else { return };
        if null.as_raw_fd() == fd.as_raw_fd() {
            // It took the free number itself: keep it open there, for the children too.
            let _ = rustix::io::fcntl_setfd(&null, rustix::io::FdFlags::empty());
            let _ = null.into_raw_fd();
        } else {
            let _ = reopen(&null);
        }
    }
}

fn run() -> c_int {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The sandbox's init re-enters this binary inside the sandbox: no config, no logging set-up.
    if args.get(1).is_some_and(|a| a == sov_sandbox::init::INIT_SUBCOMMAND) {
        return sov_sandbox::init::main(&args[2..]);
    }
    let early = sov_sbox::start_early(&args);
    let cli = match Cli::try_parse_from(args) {
        Ok(cli) => cli,
        Err(e) => {
            drop(early);
            e.exit()
        }
    };
    let (config, paths) = match sov_sbox::load_config(cli.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("sbox: {e:#}");
            return 1;
        }
    };
    // What fails is printed, not logged: sbox's own events are all debug-level, so below that
    // there is nothing to show, and setting up a logger would cost every start ~50 µs.
    let level = sov_sbox::log_level(&config, cli.verbose);
    if std::env::var_os("RUST_LOG").is_some() || !matches!(level.as_str(), "off" | "error" | "warn" | "info") {
        sov_sbox::init_logging(&level);
    }
    sov_sbox::run_with_env(cli.sandbox, Vec::new(), early, &config, &paths)
}
