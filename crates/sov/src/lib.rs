//! The `sov` command line: argument parsing and one library call per subcommand.
//!
//! What the user typed ([`Cli`]) is kept apart from the resolved configuration
//! ([`sov_core::config::Config`] plus [`sov_core::paths::Paths`]); each subcommand turns one into
//! the other and calls one library function.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use sov_core::audit::{AuditLog, AuditVerdict};
use sov_core::config::{Config, DEFAULT_CONFIG_TOML};
use sov_core::paths::Paths;
use sov_core::store::Store;

pub mod llm;

/// Sovereign: a self-sovereign, local-first, private and secure LLM setup.
///
/// Everything runs on this machine; agents and tools run sandboxed; risky actions need both an AI
/// review and your approval. Configuration: one TOML file (see `sov config show`).
#[derive(Debug, Parser)]
#[command(name = "sov", version, propagate_version = true, max_term_width = 100)]
pub struct Cli {
    /// Config file to use instead of the default.
    ///
    /// Default: $SOV_CONFIG, else $XDG_CONFIG_HOME/sovereign/config.toml
    /// (~/.config/sovereign/config.toml). A missing file means built-in defaults.
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// More log output (-v debug, -vv trace); logs go to stderr and never contain secrets.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a command (or a shell) in a sandbox rooted at the current directory.
    ///
    /// Inside, the command sees the current directory read-write at its own path, a read-only
    /// minimal system, an empty /tmp and home, and what you grant: nothing else. It has no network
    /// at all except the host loopback ports you grant with --port. Built on bubblewrap, with
    /// Landlock and seccomp inside; if any of these cannot be enforced it refuses to run.
    /// Also installed as `sbox`. Exit status: the command's own; 125 if the sandbox failed,
    /// 126 if the command could not run, 127 if it was not found.
    #[command(visible_alias = "sandbox")]
    Sbox(SboxArgs),
    /// Show or create the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect and verify the hash-chained audit log.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Serve local GGUF models on an OpenAI- and Anthropic-compatible API (127.0.0.1:8080).
    ///
    /// One daemon instead of llama-server plus llama-swap: models load by the name a request
    /// asks for, at most `engine.max_resident` stay in memory, idle ones unload.
    Serve(llm::ServeArgs),
    /// Chat with a model of the running `sov serve` in the terminal.
    Chat(llm::ClientArgs),
    /// Ask the running `sov serve` one question; the answer streams to stdout.
    Ask {
        /// The question.
        question: String,
        /// Which server and model, and how to sample.
        #[command(flatten)]
        client: llm::ClientArgs,
    },
    /// List, add or remove models.
    #[command(subcommand)]
    Models(llm::ModelsCommand),
}

/// `sov sbox` flags.
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
    /// Print the bubblewrap command line and the environment names instead of running.
    #[arg(long)]
    pub dry_run: bool,
    /// The command and its arguments (default: your $SHELL, else /bin/sh).
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

/// `sov config …`
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print the effective configuration (defaults merged with your file) as TOML.
    Show,
    /// Print the path of the config file in use.
    Path,
    /// Write the documented default configuration to the config file.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// `sov audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash and the chain between them; exit 1 if anything was edited,
    /// dropped, reordered or truncated.
    Verify,
    /// Print entries as JSON lines, oldest first.
    Show {
        /// Only entries after this sequence number.
        #[arg(long, default_value_t = 0)]
        after: i64,
        /// At most this many entries.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
}

/// Parses `args` (program name first), runs, and maps the outcome to an exit code.
pub fn main(args: Vec<OsString>) -> ExitCode {
    // The sandbox init re-enters this binary inside the sandbox: no config, no logging set-up.
    if args.get(1).is_some_and(|a| a == sov_sandbox::init::INIT_SUBCOMMAND) {
        return exit_code(sov_sandbox::init::main(&args[2..]));
    }
    let cli = Cli::parse_from(args);
    match run(cli) {
        Ok(code) => exit_code(code),
        Err(e) => {
            eprintln!("sov: {e:#}");
            ExitCode::from(1)
        }
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}

/// Runs a parsed command line; returns the process exit status.
pub fn run(cli: Cli) -> Result<i32> {
    let mut paths = Paths::from_env()?;
    if let Some(file) = &cli.config {
        paths.config_file = file.clone();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from);
    let config = Config::load(&paths.config_file, home.as_deref())?;
    init_logging(&config, cli.verbose);

    match cli.command {
        Command::Sbox(args) => sbox(args, &config, &paths),
        Command::Config(cmd) => config_command(cmd, &config, &paths),
        Command::Audit(cmd) => audit_command(cmd, &paths),
        Command::Serve(args) => llm::serve(args, &config, &paths),
        Command::Chat(args) => llm::chat(&args, &config),
        Command::Ask { question, client } => llm::ask(&client, &question, &config),
        Command::Models(cmd) => llm::models(cmd, &config, &paths),
    }
}

fn init_logging(config: &Config, verbose: u8) {
    use tracing_subscriber::EnvFilter;
    let level = match verbose {
        0 => config.log.level.clone(),
        1 => "debug".into(),
        _ => "trace".into(),
    };
    // llama.cpp reports every tensor it loads at info level; its warnings are what a user needs.
    let level = if level.contains("llama") { level } else { format!("{level},llama-cpp-2=warn") };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

fn sbox(args: SboxArgs, config: &Config, paths: &Paths) -> Result<i32> {
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
        command: args.command,
    };
    let prepared = match sov_sandbox::HostEnv::current()
        .and_then(|host| sov_sandbox::resolve(&request, profile, &host))
        .and_then(|plan| sov_sandbox::prepare(plan, &config.sandbox, paths))
    {
        Ok(prepared) => prepared,
        Err(e) => {
            eprintln!("sbox: {e}");
            return Ok(sov_sandbox::init::EXIT_SANDBOX_FAILED);
        }
    };
    if args.dry_run {
        let names: Vec<&str> = prepared.plan.env.iter().map(|(k, _)| k.as_str()).collect();
        println!("# environment passed in: {}", names.join(" "));
        println!("# granted ports: {:?}", prepared.plan.ports);
        println!("{}", prepared.command_line());
        return Ok(0);
    }
    match prepared.run() {
        Ok(code) => Ok(code),
        Err(e) => {
            eprintln!("sbox: {e}");
            Ok(sov_sandbox::init::EXIT_SANDBOX_FAILED)
        }
    }
}

fn config_command(cmd: ConfigCommand, config: &Config, paths: &Paths) -> Result<i32> {
    match cmd {
        ConfigCommand::Show => {
            println!("# effective configuration; file: {}", paths.config_file.display());
            print!("{}", config.to_toml());
        }
        ConfigCommand::Path => println!("{}", paths.config_file.display()),
        ConfigCommand::Init { force } => {
            let file = &paths.config_file;
            if file.exists() && !force {
                bail!("{} already exists; pass --force to overwrite it", file.display());
            }
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(file, DEFAULT_CONFIG_TOML).with_context(|| format!("writing {}", file.display()))?;
            println!("wrote {}", file.display());
        }
    }
    Ok(0)
}

fn audit_command(cmd: AuditCommand, paths: &Paths) -> Result<i32> {
    let store = Store::open(&paths.database())?;
    let log = AuditLog::new(&store, Some(paths.audit_head()));
    match cmd {
        AuditCommand::Verify => match log.verify()? {
            AuditVerdict::Intact { entries, head } => {
                match head {
                    Some((seq, hash)) => println!("audit log intact: {entries} entries, head #{seq} {hash}"),
                    None => println!("audit log intact: {entries} entries"),
                }
                Ok(0)
            }
            AuditVerdict::Broken { seq, problem } => {
                println!("audit log BROKEN at entry #{seq}: {problem}");
                Ok(1)
            }
        },
        AuditCommand::Show { after, limit } => {
            let mut out = std::io::stdout().lock();
            for entry in log.entries(after, limit)? {
                writeln!(out, "{}", serde_json::to_string(&entry)?)?;
            }
            Ok(0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
