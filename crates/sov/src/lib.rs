//! The `sov` command line: argument parsing and one library call per subcommand.
//!
//! What the user typed ([`Cli`]) is kept apart from the resolved configuration
//! ([`sov_core::config::Config`] plus [`sov_core::paths::Paths`]); each subcommand turns one into
//! the other and calls one library function.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{Parser, Subcommand};
use sov_core::config::{Config, DEFAULT_CONFIG_TOML};
use sov_core::paths::Paths;

pub mod agent;
pub mod agent_setup;
pub mod audit;
pub mod chat;
pub mod gate;
pub mod know;
pub mod llm;
pub mod msg;
pub mod net;
pub mod remote;
pub mod service;
pub mod wallet;
pub mod zkapi;

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
    /// Landlock and seccomp inside; if any of these cannot be enforced it refuses to run. Every
    /// inherited file descriptor other than 0, 1 and 2 is closed unless passed with --keep-fd.
    /// Also installed as `sbox`. Exit status: the command's own; 125 if the sandbox failed,
    /// 126 if the command could not run, 127 if it was not found.
    #[command(visible_alias = "sandbox")]
    Sbox(sov_sbox::SboxArgs),
    /// Show or create the configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Inspect and verify the hash-chained audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
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
        /// Ask the remote model configured as `[remote.NAME]` instead: the question is
        /// sanitised (you see exactly what leaves), sent only to a provider whose TEE attestation
        /// verified here, encrypted to its attested key, paid with a ZK-API ticket, over Tor.
        #[arg(long, value_name = "NAME")]
        remote: Option<String>,
        /// With --remote: send without asking for confirmation.
        #[arg(long, requires = "remote")]
        yes: bool,
        /// Which server and model, and how to sample.
        #[command(flatten)]
        client: llm::ClientArgs,
    },
    /// List, add or remove models.
    #[command(subcommand)]
    Models(llm::ModelsCommand),
    /// Decide actions waiting for your approval, from the terminal (the console's twin).
    ///
    /// Agents' risky actions (messages to others, payments above the caps, web access after
    /// reading private data…) wait until the AI reviewer and you both approve.
    #[command(subcommand)]
    Confirm(gate::ConfirmCommand),
    /// Print a one-time link that logs your browser in to the console (http://127.0.0.1:7000).
    ///
    /// The link works once, within 10 minutes, and logs in only the browser that opens it; no
    /// file or password logs anyone in. It names the console of the `sov serve` running on
    /// this data directory (else `gate.console_listen`; --console-listen to say another).
    Console(gate::ConsoleArgs),
    /// Show or create the gate's policy file (what is allowed, confirmed or denied).
    #[command(subcommand)]
    Policy(gate::PolicyCommand),
    /// Email and Signal for agents: accounts, polling, and the messaging daemon.
    ///
    /// Agents read messages and ask to send through the Tool API (127.0.0.1:6000: /messages,
    /// /send, /send/status, /accounts, /status). A send to one of your own accounts goes out at
    /// once; anything else waits for the AI reviewer and you.
    #[command(subcommand)]
    Msg(msg::MsgCommand),
    /// Your notes and offline documents, indexed here and searched by passage in milliseconds.
    ///
    /// Add folders (`sov know add ~/notes --private`), index them (`sov know index`: only what
    /// changed is read again), then `sov know search "…"`. Markdown, text, HTML, PDF, source code,
    /// Kiwix ZIM archives and MediaWiki dumps;
    /// the index lives in <data dir>/know/ and nothing leaves the machine. Agents search it
    /// through the Tool API (127.0.0.1:6000: /knowledge/search?q=, /knowledge/doc?id=); a
    /// result from a --private source marks their session as having read your notes.
    #[command(subcommand)]
    Know(know::KnowCommand),
    /// Sovereign's agent, in a sandbox of the current directory (or `setup` for other agents).
    ///
    /// It reads, writes and runs things only inside `sov sbox` rooted here, granted only the LLM
    /// API and the Tool API; messages to others and other risky actions go through the gate.
    /// Needs `sov serve` running. Sessions are saved and can be resumed.
    Agent(agent::AgentArgs),
    /// Your Ethereum accounts: the keystore of the wallet's keys (not the ZK-API credits, which
    /// are `sov zkapi`).
    ///
    /// Keys are kept encrypted under your passphrase (keystore v3 JSON, scrypt) in
    /// <data dir>/wallet/keystore/, one file per account, in the format geth and foundry use.
    /// Passphrases and keys are asked for with echo off or read from a file only you may read
    /// (mode 0600), never taken on the command line; `list` shows addresses only. Balances and
    /// sending come later.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
    /// Anonymous prepaid credits for remote APIs: deposit once, then pay each call with a
    /// zero-knowledge ticket the provider cannot link to you or to your other calls.
    #[command(subcommand)]
    Zkapi(zkapi::ZkapiCommand),
    /// Sell access to an API for ZK-API tickets: a proxy in front of any OpenAI-compatible
    /// server (e.g. `sov serve`) that checks and spends each call's ticket and slashes the
    /// deposit of anyone who spends one twice.
    Provider(zkapi::ProviderArgs),
    /// Check a remote TEE's attestation (Intel TDX/SGX, AMD SEV-SNP) on this machine.
    #[command(subcommand)]
    Attest(remote::AttestCommand),
    /// Print what of a text (read on stdin) would leave the machine for a remote model: private
    /// data replaced by placeholders that only this machine maps back.
    Sanitize(remote::SanitizeArgs),
    /// How connections leave this machine ([net]: Tor in process by default) and Tor's state.
    #[command(subcommand)]
    Net(net::NetCommand),
    /// Check this machine for what keeps Sovereign from working, and say how to fix each.
    ///
    /// bubblewrap, user namespaces (with the exact sysctl or AppArmor fix for your
    /// distribution), Landlock, seccomp, a real sandbox run, the permissions of the data
    /// directory and the secret files, the models (missing, truncated, bigger than free memory),
    /// the ports, the routes out ([net]), and whether a service unit is installed. Exit status 1
    /// when a check failed. Reaches nothing off this machine unless --tor.
    Doctor(service::DoctorArgs),
    /// Run `sov serve` as a systemd service: install, status, logs, uninstall.
    ///
    /// User units by default (~/.config/systemd/user/sovereign.service), so the daemon runs as
    /// the person whose mail, notes and models it serves, with hardening that still lets sbox
    /// build its sandboxes. --system writes /etc/systemd/system/sovereign.service for a
    /// dedicated `sovereign` account. On NixOS use the module in nix/module.nix instead.
    #[command(subcommand)]
    Service(service::ServiceCommand),
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
    let (config, paths) = sov_sbox::load_config(cli.config.as_deref())?;
    init_logging(&config, cli.verbose, cli.command.is_daemon());

    match cli.command {
        Command::Sbox(args) => Ok(sov_sbox::run(args, &config, &paths)),
        Command::Config(cmd) => config_command(cmd, &config, &paths),
        Command::Audit(cmd) => audit::command(cmd, &config, &paths),
        Command::Serve(args) => llm::serve(args, &config, &paths),
        Command::Chat(args) => llm::chat(&args, &config),
        Command::Ask { question, client, remote: Some(name), yes } => {
            remote::ask_remote(&name, &question, &client, yes, &config, &paths)
        }
        Command::Ask { question, client, remote: None, .. } => llm::ask(&client, &question, &config),
        Command::Models(cmd) => llm::models(cmd, &config, &paths),
        Command::Confirm(cmd) => gate::confirm(cmd, &config, &paths),
        Command::Console(args) => gate::console(&args, &config, &paths),
        Command::Policy(cmd) => gate::policy(cmd, &config, &paths),
        Command::Msg(cmd) => msg::run(cmd, &config, &paths),
        Command::Know(cmd) => know::run(cmd, &paths),
        Command::Agent(args) => agent::run(args, &config, &paths),
        Command::Wallet(cmd) => wallet::run(cmd, &paths),
        Command::Zkapi(cmd) => zkapi::run(cmd, &config, &paths),
        Command::Provider(args) => zkapi::provider(args, &config, &paths),
        Command::Attest(cmd) => remote::attest(cmd, &config),
        Command::Sanitize(args) => remote::sanitize(&args, &config),
        Command::Net(cmd) => net::run(cmd, &config, &paths),
        Command::Doctor(args) => service::doctor(&args, &config, &paths),
        Command::Service(cmd) => service::run(cmd, &paths),
    }
}

/// Daemons (and the programs they run) log at the configured level; a command that answers
/// and exits logs only warnings and errors unless `-v` asks for more, so what it prints is its
/// own plain answer, not log lines among it.
fn init_logging(config: &Config, verbose: u8, daemon: bool) {
    let level = match (daemon, verbose) {
        (false, 0) => "warn".to_owned(),
        _ => sov_sbox::log_level(config, verbose),
    };
    // llama.cpp reports every tensor it loads at info level; its warnings are what a user needs.
    let level = if level.contains("llama") { level } else { format!("{level},llama-cpp-2=warn") };
    sov_sbox::init_logging(&level);
}

impl Command {
    /// Whether the command runs until stopped (a server, the messaging daemon, an agent or a
    /// sandboxed program), whose logs are its record of what it did.
    fn is_daemon(&self) -> bool {
        matches!(
            self,
            Command::Sbox(_)
                | Command::Serve(_)
                | Command::Agent(_)
                | Command::Provider(_)
                | Command::Msg(msg::MsgCommand::Serve(_))
        )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
