//! `sbox`: run any command in a sandbox of the current directory. The same as `sov sbox`, as a
//! small program of its own: it links neither llama.cpp nor the API server, so starting it (and
//! the sandbox's init, which is this binary re-entered inside) stays fast.
//!
//! The sandbox, and every decision about what it may reach, is `sov_sandbox`'s (the protected
//! directories and ports: [`sov_sandbox::plan::keep_sovereign_out`]). This crate holds what the
//! two programs share of a command line: the flags, the config and paths they resolve to
//! (`--config`, `SOV_CONFIG`, `HOME`), the log set-up, and the call into the sandbox.

use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Args;
use sov_core::config::Config;
use sov_core::paths::Paths;

/// `sbox` / `sov sbox` flags.
#[derive(Debug, Args)]
#[command(
    after_help = "Examples:\n  sbox                          an interactive shell in a sandbox of the current directory\n  sbox -- make test             run a command\n  sbox --port 8080 -- pi        an agent that may reach only the local LLM API\n  sbox --ro ~/notes -- grep -r TODO ~/notes\n  sbox --dry-run -- true        show the bubblewrap command line instead of running it"
)]
pub struct SboxArgs {
    /// Start from this profile of the config file (default: the profile named "default").
    #[arg(long, short = 'P', value_name = "NAME")]
    pub profile: Option<String>,
    /// Make PATH visible read-only at the same path (repeatable).
    #[arg(long, value_name = "PATH")]
    pub ro: Vec<PathBuf>,
    /// Make PATH visible read-write at the same path (repeatable).
    #[arg(long, value_name = "PATH")]
    pub rw: Vec<PathBuf>,
    /// Grant the host loopback TCP PORT (repeatable): 127.0.0.1:PORT inside reaches 127.0.0.1:PORT outside.
    #[arg(long, short = 'p', value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub port: Vec<u16>,
    /// Pass the host's environment variable NAME in (repeatable); by default only a small allowlist passes.
    #[arg(long, short = 'e', value_name = "NAME")]
    pub env: Vec<String>,
    /// Let the sandbox play and record sound (binds the PipeWire/PulseAudio socket).
    #[arg(long)]
    pub audio: bool,
    /// Let the sandbox use the GPU (binds /dev/dri, /dev/nvidia*, /dev/kfd).
    #[arg(long)]
    pub gpu: bool,
    /// Pass the inherited file descriptor N (3 or above) into the sandbox (repeatable).
    ///
    /// Every other descriptor sbox inherited above 0, 1 and 2 is closed before the command starts
    /// (bubblewrap itself does not get them either), so a file or directory left open by the
    /// shell (`exec 7<file`) never reaches the sandbox unless named here. N must be open and
    /// inheritable in sbox, and may not lead into Sovereign's data, configuration or policy.
    #[arg(long = "keep-fd", value_name = "N", value_parser = clap::value_parser!(i32).range(3..))]
    pub keep_fd: Vec<i32>,
    /// Print the bubblewrap command line and the environment names instead of running.
    #[arg(long)]
    pub dry_run: bool,
    /// The command and its arguments (default: your $SHELL, else /bin/sh).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// The effective configuration and paths; `config_override` replaces the config file's location.
pub fn load_config(config_override: Option<&Path>) -> anyhow::Result<(Config, Paths)> {
    let mut paths = Paths::from_env()?;
    if let Some(file) = config_override {
        paths.config_file = file.to_owned();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = Config::load(&paths.config_file, home.as_deref())?;
    Ok((config, paths))
}

/// The log filter for `-v` count and the config's level.
pub fn log_level(config: &Config, verbose: u8) -> String {
    match verbose {
        0 => config.log.level.clone(),
        1 => "debug".into(),
        _ => "trace".into(),
    }
}

/// Logs to stderr at `level` (a level, or directives such as `info,sov_sandbox=debug`), unless
/// `RUST_LOG` says otherwise. A filter that does not parse is named and replaced by `info`. Colour
/// codes only when stderr is a terminal.
///
/// The filter is tracing's `Targets` rather than `EnvFilter`: the same directives except span and
/// field matching, without the regular-expression engine, whose tables alone made every start of
/// `sbox` (a static binary relocated at each start) fault in some fifty more pages.
pub fn init_logging(level: &str) {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::prelude::*;
    let directives = std::env::var("RUST_LOG").ok().filter(|v| !v.is_empty()).unwrap_or_else(|| level.to_owned());
    let filter = directives.parse::<Targets>().unwrap_or_else(|e| {
        eprintln!("sov: ignoring the log filter `{directives}` ({e}); logging at info");
        Targets::new().with_default(LevelFilter::INFO)
    });
    // Colours only for a person at a terminal: a log file, a pipe or the journal gets plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let output = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi).with_filter(filter);
    let _ = tracing_subscriber::registry().with(output).try_init();
}

/// Runs `sbox` with parsed flags; returns the exit status (the command's own, or 125 when the
/// sandbox could not be built).
pub fn run(args: SboxArgs, config: &Config, paths: &Paths) -> i32 {
    run_with_env(args, Vec::new(), None, config, paths)
}

/// [`run`], with variables set inside the sandbox by Sovereign itself (such as the gate session
/// token of an agent it starts), on top of what the flags pass in, and with bubblewrap perhaps
/// already started ([`start_early`]).
pub fn run_with_env(
    args: SboxArgs,
    set_env: Vec<(String, OsString)>,
    early: Option<sov_sandbox::Started>,
    config: &Config,
    paths: &Paths,
) -> i32 {
    match sandbox(args, set_env, early, config, paths) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sbox: {e}");
            sov_sandbox::init::EXIT_SANDBOX_FAILED
        }
    }
}

/// Starts the default bubblewrap program before the command line and the config are even read,
/// so that it can load meanwhile. It waits for its options, and is killed unused when dropped
/// (help, a dry run, an error, a config naming another program, or `--keep-fd`s that the
/// parsed command line names otherwise than [`early_kept_fds`] read them).
pub fn start_early(args: &[OsString]) -> Option<sov_sandbox::Started> {
    sov_sandbox::start(Path::new(sov_core::config::DEFAULT_BWRAP), &early_kept_fds(args)).ok()
}

/// The `--keep-fd N` and `--keep-fd=N` in `args` before `--`, read before the parser has run:
/// the descriptors to keep out of [`start_early`]'s sealing. The parser accepts a `--keep-fd`
/// only from such words, so what it finds is among these.
pub fn early_kept_fds(args: &[OsString]) -> Vec<i32> {
    let mut kept = Vec::new();
    let mut words = args.iter().skip(1).take_while(|w| *w != "--").map(|w| w.to_str());
    while let Some(word) = words.next() {
        let value = match word {
            Some("--keep-fd") => words.next().flatten(),
            Some(w) => w.strip_prefix("--keep-fd="),
            None => None,
        };
        kept.extend(value.and_then(|v| v.parse::<i32>().ok()).filter(|fd| *fd >= 3));
    }
    sov_sandbox::plan::kept_fd_set(&kept)
}

fn sandbox(
    args: SboxArgs,
    set_env: Vec<(String, OsString)>,
    early: Option<sov_sandbox::Started>,
    config: &Config,
    paths: &Paths,
) -> anyhow::Result<i32> {
    // bubblewrap loads while the plan is resolved and checked; on any refusal below it is
    // dropped, which kills it before it has built anything.
    let keep_fds = sov_sandbox::plan::kept_fd_set(&args.keep_fd);
    let started = match early {
        _ if args.dry_run => None,
        Some(started) if started.program() == config.sandbox.bwrap && started.kept_fds() == keep_fds => Some(started),
        early => {
            // Killed before another starts: its descriptors are not handed on twice.
            drop(early);
            Some(sov_sandbox::start(&config.sandbox.bwrap, &keep_fds)?)
        }
    };
    let profile_name = args.profile.as_deref().unwrap_or("default");
    let default_profile = sov_core::config::SandboxProfile::default();
    let profile = match config.sandbox_profile(profile_name) {
        Ok(profile) => profile,
        Err(_) if args.profile.is_none() => &default_profile,
        Err(e) => return Err(e.into()),
    };
    let request = sov_sandbox::Request {
        ro: args.ro,
        rw: args.rw,
        ports: args.port,
        env: args.env,
        audio: args.audio,
        gpu: args.gpu,
        keep_fds,
        command: args.command,
    };
    let mut plan = sov_sandbox::resolve(&request, profile, &sov_sandbox::HostEnv::current()?)?;
    for (name, value) in set_env {
        plan.env.retain(|(k, _)| *k != name);
        plan.env.push((name, value));
    }
    sov_sandbox::protect::check(&plan, config, paths)?;
    let prepared = sov_sandbox::prepare(plan, &config.sandbox, paths)?;
    match started {
        Some(started) => Ok(prepared.run(started)?),
        None => {
            let names: Vec<&str> = prepared.plan.env.iter().map(|(k, _)| k.as_str()).collect();
            let command_line = prepared.command_line(&config.sandbox)?;
            let mut out = std::io::stdout().lock();
            let shown = writeln!(out, "# environment passed in (values not shown): {}", names.join(" "))
                .and_then(|()| writeln!(out, "# granted ports: {:?}", prepared.plan.ports))
                .and_then(|()| writeln!(out, "{command_line}"))
                .and_then(|()| out.flush());
            // A reader that stopped early (`| head`) is not an error.
            match shown {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
                _ => Ok(0),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_early_scan_reads_both_spellings_of_keep_fd_before_the_command_only() {
        let args = |words: &[&str]| words.iter().map(OsString::from).collect::<Vec<_>>();
        let scanned = early_kept_fds(&args(&[
            "sbox",
            "--keep-fd",
            "9",
            "--keep-fd=7",
            "--ro",
            "x",
            "--keep-fd",
            "9",
            "--",
            "cmd",
            "--keep-fd",
            "8",
        ]));
        assert_eq!(scanned, [7, 9]);
        // What the parser refuses is not kept either.
        assert_eq!(early_kept_fds(&args(&["sbox", "--keep-fd", "2", "--keep-fd=x", "--keep-fd"])), Vec::<i32>::new());
    }
}
