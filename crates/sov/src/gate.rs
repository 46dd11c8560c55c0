//! `sov confirm`, `sov console`, `sov policy`, and the gate's part of `sov serve`.

use std::io::{BufRead, Write};
use std::net::SocketAddr;
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_core::store::Store;
use sov_gate::policy::DEFAULT_POLICY_TOML;
use sov_gate::queue::{Executor, State};
use sov_gate::{ActionRecord, Decision, Gate, Kind, Policy, Verdict};

/// `sov confirm …`
#[derive(Debug, Subcommand)]
pub enum ConfirmCommand {
    /// List actions waiting for you (with --all: recent ones in every state).
    List {
        /// Every state, not only pending.
        #[arg(long)]
        all: bool,
    },
    /// Show one action: exactly what would be sent or spent, who asked, the AI's verdict.
    Show {
        /// The action's id (from `list`, or the end of its console URL).
        id: String,
    },
    /// Approve an action the AI reviewer has looked at. Over an AI "deny" you are asked to type
    /// the recipient (and amount) again, once the override delay has passed.
    Approve {
        /// The action's id.
        id: String,
    },
    /// Deny an action.
    Deny {
        /// The action's id.
        id: String,
    },
}

/// `sov policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the policy in force (the file merged over the defaults).
    Show,
    /// Print the policy file's path.
    Path,
    /// Write the documented default policy to the policy file.
    Init {
        /// Overwrite an existing file.
        #[arg(long)]
        force: bool,
    },
}

/// The policy file: `gate.policy_file`, else `policy.toml` beside the config file.
pub fn policy_file(config: &Config, paths: &Paths) -> PathBuf {
    if config.gate.policy_file.as_os_str().is_empty() {
        paths.config_file.with_file_name("policy.toml")
    } else {
        config.gate.policy_file.clone()
    }
}

/// The gate on the user's database, with the policy in force.
pub fn open_gate(config: &Config, paths: &Paths) -> Result<Gate> {
    let policy = Policy::load(&policy_file(config, paths))?;
    let store = Store::open(&paths.database())?;
    Ok(Gate::new(store, Some(paths.audit_head()), policy))
}

/// The console secret's file: in the data directory, which no sandbox can see.
pub fn console_secret_file(paths: &Paths) -> PathBuf {
    paths.data_dir.join("console.secret")
}

/// The console secret, created (0600) on first use.
pub fn console_secret(paths: &Paths) -> Result<String> {
    let file = console_secret_file(paths);
    match std::fs::read_to_string(&file) {
        Ok(secret) if !secret.trim().is_empty() => return Ok(secret.trim().to_owned()),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading the console secret {}", file.display())),
    }
    sov_core::paths::ensure_private_dir(&paths.data_dir)?;
    let secret = sov_core::random_hex(32)?;
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&file)
        .with_context(|| format!("creating the console secret {}", file.display()))?;
    writeln!(out, "{secret}").with_context(|| format!("writing {}", file.display()))?;
    Ok(secret)
}

/// The gate's part of `sov serve`: the Tool API (gate and messaging endpoints) and the console
/// routers, the workers and the messaging poller.
pub struct GateServers {
    /// The gate itself.
    pub gate: Arc<Gate>,
    /// Serves `/v1/actions` and the messaging endpoints for agents.
    pub tool_api: axum::Router,
    /// Serves the console for the human.
    pub console: axum::Router,
    /// The reviewer and executor threads (stop when dropped).
    pub workers: sov_console::workers::Workers,
    /// The messaging poller (stops when dropped).
    pub poller: sov_msg::service::Poller,
}

/// Builds the gate for `sov serve`: reviewer on `engine`, console URLs at `console_addr`.
/// Must run inside the server's Tokio runtime, which the remote-model executor does its I/O on.
pub fn gate_servers(
    config: &Config,
    paths: &Paths,
    engine: sov_engine::Engine,
    console_addr: SocketAddr,
) -> Result<GateServers> {
    let gate = Arc::new(open_gate(config, paths)?);
    let secret = console_secret(paths)?;
    let model =
        if config.gate.reviewer_model.is_empty() { "default".to_owned() } else { config.gate.reviewer_model.clone() };
    let reviewer = Arc::new(sov_console::workers::EngineReviewer::new(engine, model));
    let console_url = format!("http://{console_addr}");
    let messaging = sov_msg::Messaging::open(
        gate.clone(),
        &paths.database(),
        &paths.data_dir,
        &console_url,
        Duration::from_secs(config.msg.poll_secs),
    )?;
    let sender = sov_msg::MessageSender::open(&paths.database(), &paths.data_dir)?;
    let executors: std::collections::BTreeMap<Kind, Arc<dyn Executor>> = [
        (Kind::WebFetch, Arc::new(sov_gate::exec::WebFetch::default()) as Arc<dyn Executor>),
        (Kind::MessageSend, Arc::new(sender) as Arc<dyn Executor>),
        (
            Kind::RemoteLlm,
            Arc::new(crate::remote_route::RemoteLlmExecutor::new(
                Arc::new(config.clone()),
                paths.clone(),
                tokio::runtime::Handle::current(),
            )) as Arc<dyn Executor>,
        ),
    ]
    .into();
    let workers = sov_console::workers::Workers::start(gate.clone(), reviewer, executors)?;
    let poller = messaging.start_polling()?;
    Ok(GateServers {
        gate: gate.clone(),
        tool_api: sov_console::tool_api::ToolApi::new(gate.clone(), &console_url).router(messaging.router()),
        console: sov_console::console::Console::new(gate, secret, paths.database(), paths.audit_head()).router(),
        workers,
        poller,
    })
}

/// `sov console`: prints the console's login link (the secret rides in the fragment, which the
/// browser never sends over the network).
pub fn console(config: &Config, paths: &Paths) -> Result<i32> {
    let secret = console_secret(paths)?;
    println!("http://{}/login#{secret}", config.gate.console_listen);
    Ok(0)
}

/// `sov policy …`
pub fn policy(cmd: PolicyCommand, config: &Config, paths: &Paths) -> Result<i32> {
    let file = policy_file(config, paths);
    match cmd {
        PolicyCommand::Show => {
            println!("# policy in force; file: {}", file.display());
            print!("{}", Policy::load(&file)?.to_toml());
        }
        PolicyCommand::Path => println!("{}", file.display()),
        PolicyCommand::Init { force } => {
            if file.exists() && !force {
                bail!("{} already exists; pass --force to overwrite it", file.display());
            }
            if let Some(dir) = file.parent() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
            std::fs::write(&file, DEFAULT_POLICY_TOML).with_context(|| format!("writing {}", file.display()))?;
            println!("wrote {}", file.display());
        }
    }
    Ok(0)
}

/// `sov confirm …`
pub fn confirm(cmd: ConfirmCommand, config: &Config, paths: &Paths) -> Result<i32> {
    let gate = open_gate(config, paths)?;
    gate.expire_due()?;
    match cmd {
        ConfirmCommand::List { all } => {
            let states: &[State] = if all { &[] } else { &[State::Reviewing, State::AwaitingHuman] };
            let records = gate.list(states, 200)?;
            if records.is_empty() {
                println!("nothing is waiting for you");
            }
            for r in records {
                println!(
                    "{}  {:<15} {:<14} ai:{:<8} {}",
                    r.id,
                    r.request.kind.as_str(),
                    r.state.as_str(),
                    r.review.as_ref().map_or("…", |v| v.verdict.as_str()),
                    r.request.headline()
                );
            }
        }
        ConfirmCommand::Show { id } => print!("{}", describe(&gate.get(&id)?)),
        ConfirmCommand::Deny { id } => {
            let r = gate.decide(&id, &Decision { approve: false, confirm_text: None, by: "terminal".into() })?;
            println!("{} {}", r.id, r.state.as_str());
        }
        ConfirmCommand::Approve { id } => {
            let record = gate.get(&id)?;
            print!("{}", describe(&record));
            let confirm_text = if record.review.as_ref().is_some_and(|r| r.verdict == Verdict::Deny) {
                let fact = record.request.confirm_fact();
                eprint!("The AI reviewer denied this. To approve anyway, type: {fact}\n> ");
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).context("reading your confirmation")?;
                Some(line.trim().to_owned())
            } else {
                None
            };
            let r = gate.decide(&id, &Decision { approve: true, confirm_text, by: "terminal".into() })?;
            println!(
                "{} {}{}",
                r.id,
                r.state.as_str(),
                if r.state == State::Approved { " (runs shortly)" } else { "" }
            );
        }
    }
    Ok(0)
}

fn describe(r: &ActionRecord) -> String {
    let params = serde_json::to_string_pretty(&r.request.params).unwrap_or_default();
    let mut out = format!(
        "action    {}\nkind      {}\nwhat      {}\nsession   {}\npolicy    {}: {}\nstate     {}\n",
        r.id,
        r.request.kind,
        r.request.headline(),
        r.session,
        r.decision.as_str(),
        r.reasons.join(" "),
        r.state.as_str()
    );
    if let Some(review) = &r.review {
        out.push_str(&format!("AI        {}: {}\n", review.verdict.as_str(), review.reason));
    }
    out.push_str(&format!("params    {}\n", params.replace('\n', "\n          ")));
    if let Some(outcome) = &r.outcome {
        out.push_str(&format!("outcome   {outcome}\n"));
    }
    out
}
