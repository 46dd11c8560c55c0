//! `sov msg`: messaging accounts, a poll on demand, the chats list, and the daemon alone.

use std::io::{BufRead, BufReader, IsTerminal, Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_msg::accounts::{self, Secrets};
use sov_msg::{Accounts, Backend, EmailAccount, MessageStore, SignalAccount, Tls};

/// `sov msg …`
#[derive(Debug, Subcommand)]
pub enum MsgCommand {
    /// Email accounts (IMAP to read, SMTP to send).
    #[command(subcommand)]
    Email(EmailCommand),
    /// Signal accounts (through signal-cli's JSON-RPC daemon).
    #[command(subcommand)]
    Signal(SignalCommand),
    /// Poll every account once now and print how many messages were new.
    Poll,
    /// List the chats messages came from, named as the policy's
    /// `[messages] reply_without_confirm` list wants them.
    Chats {
        /// At most this many.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Run the messaging daemon alone: the Tool API (messaging and gate endpoints), the console
    /// and the gate's reviewer and executor, without the LLM API. `sov serve` includes all this.
    Serve(crate::llm::GateListen),
}

/// `sov msg email …`
#[derive(Debug, Subcommand)]
pub enum EmailCommand {
    /// Add (or replace) an account. The password is read from a prompt, or from the file given
    /// with --password-file (`-` for standard input); never from the command line. It is kept in
    /// a file only you can read (0600) under the data directory.
    Add(EmailAddArgs),
    /// Remove an account and its password file (its stored messages stay).
    Remove {
        /// The account's address.
        address: String,
    },
    /// List the accounts (never their passwords).
    List,
}

/// `sov msg email add` flags.
#[derive(Debug, Args)]
pub struct EmailAddArgs {
    /// The account's email address.
    pub address: String,
    /// IMAP server.
    #[arg(long, value_name = "HOST")]
    pub imap_host: String,
    /// IMAP port (default: 993 for tls, 143 otherwise).
    #[arg(long, value_name = "PORT")]
    pub imap_port: Option<u16>,
    /// How IMAP is secured: tls, starttls, or plain (only for a server on this machine).
    #[arg(long, value_name = "MODE", default_value = "tls")]
    pub imap_tls: Tls,
    /// SMTP submission server (default: the IMAP server).
    #[arg(long, value_name = "HOST")]
    pub smtp_host: Option<String>,
    /// SMTP port (default: 465 for tls, 587 for starttls, 25 for plain).
    #[arg(long, value_name = "PORT")]
    pub smtp_port: Option<u16>,
    /// How SMTP is secured: tls, starttls, or plain (only for a server on this machine).
    #[arg(long, value_name = "MODE", default_value = "tls")]
    pub smtp_tls: Tls,
    /// Login name (default: the address).
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,
    /// A folder to poll; repeat for several (default: INBOX).
    #[arg(long = "folder", value_name = "NAME")]
    pub folders: Vec<String>,
    /// Extra certificate authorities to trust, PEM (a self-hosted server's own CA).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<PathBuf>,
    /// Read the password from this file (`-`: standard input) instead of a prompt.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
}

/// `sov msg signal …`
#[derive(Debug, Subcommand)]
pub enum SignalCommand {
    /// Link signal-cli to your phone as a new device (runs `signal-cli link`; scan the
    /// `sgnl://` link it prints as a QR code, e.g. with `qrencode -t ansiutf8`), then add the
    /// account.
    Link {
        /// The device name your phone will show.
        #[arg(long, default_value = "Sovereign")]
        name: String,
        /// Where signal-cli's JSON-RPC daemon will listen (default: `msg.signal_rpc`).
        #[arg(long, value_name = "ADDR:PORT")]
        rpc: Option<String>,
    },
    /// Add an account already registered or linked in signal-cli.
    Add {
        /// The account's number, international form (+4915…).
        number: String,
        /// Where its signal-cli JSON-RPC daemon listens (default: `msg.signal_rpc`).
        #[arg(long, value_name = "ADDR:PORT")]
        rpc: Option<String>,
    },
    /// Remove an account from Sovereign (signal-cli keeps it).
    Remove {
        /// The account's number.
        number: String,
    },
    /// List the accounts.
    List,
}

/// Runs `sov msg …`.
pub fn run(cmd: MsgCommand, config: &Config, paths: &Paths) -> Result<i32> {
    let store = || MessageStore::open(&paths.database()).context("opening the messages database");
    let secrets = Secrets::new(&paths.data_dir);
    match cmd {
        MsgCommand::Email(EmailCommand::Add(args)) => {
            let password = read_password(args.password_file.as_deref(), &args.address)?;
            let smtp_port = args.smtp_port.unwrap_or(match args.smtp_tls {
                Tls::Tls => 465,
                Tls::Starttls => 587,
                Tls::Plain => 25,
            });
            let account = EmailAccount {
                imap_port: args.imap_port.unwrap_or(if args.imap_tls == Tls::Tls { 993 } else { 143 }),
                smtp_host: args.smtp_host.unwrap_or_else(|| args.imap_host.clone()),
                address: args.address,
                imap_host: args.imap_host,
                imap_tls: args.imap_tls,
                smtp_port,
                smtp_tls: args.smtp_tls,
                user: args.user.unwrap_or_default(),
                folders: args.folders,
                ca_file: args.ca_file.map(|f| std::path::absolute(&f).unwrap_or(f)),
            };
            let account = accounts::add_email(&store()?, &secrets, account, &password)?;
            println!(
                "added {} (IMAP {}:{} {}, SMTP {}:{} {}; folders {})",
                account.address,
                account.imap_host,
                account.imap_port,
                account.imap_tls,
                account.smtp_host,
                account.smtp_port,
                account.smtp_tls,
                account.folders.join(", ")
            );
            println!("`sov msg poll` fetches its mail now; `sov serve` polls every {} s", config.msg.poll_secs);
        }
        MsgCommand::Email(EmailCommand::Remove { address }) => {
            accounts::remove(&store()?, &secrets, Backend::Email, &address)?;
            println!("removed {address}");
        }
        MsgCommand::Email(EmailCommand::List) => {
            for a in Accounts::load(&store()?)?.email {
                println!(
                    "{}\tIMAP {}:{} {}\tSMTP {}:{} {}\tuser {}\tfolders {}",
                    a.address,
                    a.imap_host,
                    a.imap_port,
                    a.imap_tls,
                    a.smtp_host,
                    a.smtp_port,
                    a.smtp_tls,
                    a.user,
                    a.folders.join(",")
                );
            }
        }
        MsgCommand::Signal(SignalCommand::Add { number, rpc }) => {
            let rpc = rpc.unwrap_or_else(|| config.msg.signal_rpc.clone());
            let account = accounts::add_signal(&store()?, SignalAccount { number, rpc })?;
            println!("added {} (signal-cli JSON-RPC at {})", account.number, account.rpc);
            println!(
                "run signal-cli as: signal-cli -a {} daemon --tcp {} --receive-mode manual",
                account.number, account.rpc
            );
        }
        MsgCommand::Signal(SignalCommand::Link { name, rpc }) => {
            let number = link(config, &name)?;
            let rpc = rpc.unwrap_or_else(|| config.msg.signal_rpc.clone());
            let account = accounts::add_signal(&store()?, SignalAccount { number, rpc })?;
            println!("linked and added {} (signal-cli JSON-RPC at {})", account.number, account.rpc);
            println!(
                "run signal-cli as: signal-cli -a {} daemon --tcp {} --receive-mode manual",
                account.number, account.rpc
            );
        }
        MsgCommand::Signal(SignalCommand::Remove { number }) => {
            accounts::remove(&store()?, &secrets, Backend::Signal, &number)?;
            println!("removed {number}");
        }
        MsgCommand::Signal(SignalCommand::List) => {
            for a in Accounts::load(&store()?)?.signal {
                println!("{}\tsignal-cli JSON-RPC at {}", a.number, a.rpc);
            }
        }
        MsgCommand::Poll => {
            let gate = Arc::new(crate::gate::open_gate(config, paths)?);
            let console = format!("http://{}", config.gate.console_listen);
            let messaging = sov_msg::Messaging::open(
                gate,
                &paths.database(),
                &paths.data_dir,
                &console,
                Duration::from_secs(config.msg.poll_secs),
            )?;
            let added = messaging.poll_once().context("some accounts could not be polled")?;
            println!("{added} new messages");
        }
        MsgCommand::Chats { limit } => {
            for (chat, name, last_ms) in store()?.chats(limit)? {
                println!("{chat}\t{name}\tlast {last_ms}");
            }
        }
        MsgCommand::Serve(gate) => {
            let serve = crate::llm::ServeArgs { listen: None, model: None, lazy: true, gate, without_llm_api: true };
            return crate::llm::serve(serve, config, paths);
        }
    }
    Ok(0)
}

/// The password from `file` (`-`: stdin), or typed at a prompt without echo.
fn read_password(file: Option<&std::path::Path>, address: &str) -> Result<String> {
    let text = match file {
        Some(path) if path.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin().read_to_string(&mut text).context("reading the password from standard input")?;
            text
        }
        Some(path) => {
            std::fs::read_to_string(path).with_context(|| format!("reading the password from {}", path.display()))?
        }
        None => {
            if !std::io::stdin().is_terminal() {
                bail!("no terminal to ask for the password: pass --password-file FILE (or - for standard input)");
            }
            prompt_hidden(&format!("password for {address}: "))?
        }
    };
    let password = text.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        bail!("the password is empty");
    }
    Ok(password)
}

/// Reads a line from the terminal with echo off, restoring the terminal after.
fn prompt_hidden(prompt: &str) -> Result<String> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    let saved = tcgetattr(&stdin).context("reading the terminal settings")?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO);
    eprint!("{prompt}");
    std::io::stderr().flush()?;
    tcsetattr(&stdin, OptionalActions::Now, &quiet).context("turning off echo")?;
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    let _ = tcsetattr(&stdin, OptionalActions::Now, &saved);
    eprintln!();
    read.context("reading the password")?;
    Ok(line)
}

/// Runs `signal-cli link`, shows its link, and answers the number it was linked to.
fn link(config: &Config, name: &str) -> Result<String> {
    let program = &config.msg.signal_cli;
    let mut child = Command::new(program)
        .args(["link", "-n", name])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {} (install signal-cli, or set msg.signal_cli)", program.display()))?;
    let stdout = child.stdout.take().context("signal-cli's output")?;
    let mut number = None;
    for line in BufReader::new(stdout).lines() {
        let line = line.context("reading signal-cli's output")?;
        if line.starts_with("sgnl://") {
            println!(
                "On your phone: Signal → Settings → Linked devices → Link new device, and scan this link as a QR code"
            );
            println!("(for example: qrencode -t ansiutf8 '{line}'):\n\n{line}\n");
            std::io::stdout().flush()?;
        } else if let Some(n) = line.strip_prefix("Associated with: ") {
            number = Some(n.trim().to_owned());
        }
    }
    let status = child.wait().context("waiting for signal-cli")?;
    match number {
        Some(number) if status.success() => Ok(number),
        _ => bail!("signal-cli link did not finish ({status}); run it again and scan the new link within a minute"),
    }
}
