//! `sbox`: the same as `sov sbox`, under the short name the reference setup already uses.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Run a command (or a shell) in a sandbox rooted at the current directory.
///
/// Inside, the command sees the current directory read-write at its own path, a read-only
/// minimal system, an empty /tmp and home, and what you grant: nothing else. It has no network at
/// all except the host loopback ports you grant with --port. Built on bubblewrap, with Landlock
/// and seccomp inside; if any of these cannot be enforced it refuses to run. Exit status: the
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

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // The sandbox's init re-enters this binary inside the sandbox: no config, no logging set-up.
    if args.get(1).is_some_and(|a| a == sov_sandbox::init::INIT_SUBCOMMAND) {
        return exit_code(sov_sandbox::init::main(&args[2..]));
    }
    let early = sov_sbox::start_early();
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
            return ExitCode::from(1);
        }
    };
    // What fails is printed, not logged: sbox's own events are all debug-level, so below that
    // there is nothing to show, and setting up a logger would cost every start ~50 µs.
    let level = sov_sbox::log_level(&config, cli.verbose);
    if std::env::var_os("RUST_LOG").is_some() || !matches!(level.as_str(), "off" | "error" | "warn" | "info") {
        sov_sbox::init_logging(&level);
    }
    exit_code(sov_sbox::run_with_env(cli.sandbox, Vec::new(), early, &config, &paths))
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
