//! `sov confirm`, `sov console`, `sov policy`, and the gate's part of `sov serve`.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use sov_core::config::{Config, Transport};
use sov_core::paths::Paths;
use sov_core::store::Store;
use sov_gate::Executors;
use sov_gate::display::{ReviewShown, for_terminal, lines_for_terminal, request_has_hidden, review_shown};
use sov_gate::policy::DEFAULT_POLICY_TOML;
use sov_gate::queue::State;
use sov_gate::review::{REVIEWER_PROMPT, parse_verdict, review_message, verdict_schema};
use sov_gate::{ActionRecord, Decision, Gate, Kind, Policy, ReviewError, Verdict};

/// `sov confirm …`
#[derive(Debug, Subcommand)]
pub enum ConfirmCommand {
    /// List actions waiting for you (with --all: recent ones in every state).
    List {
        /// Every state, not only pending.
        #[arg(long)]
        all: bool,
    },
    /// Show one action: exactly what would be sent or spent, who asked, what the gate's code
    /// found (look-alike recipients, secrets, unusual amounts…), the AI's verdict.
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

/// `sov console`
#[derive(Debug, clap::Args)]
pub struct ConsoleArgs {
    /// The console's address, instead of the one the running daemon published.
    ///
    /// Without it, the link names the console of the `sov serve` that runs on this data
    /// directory, else `gate.console_listen`.
    #[arg(long, value_name = "ADDR")]
    pub console_listen: Option<SocketAddr>,
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
    pub workers: sov_gate::Workers,
    /// The messaging poller (stops when dropped).
    pub poller: sov_msg::service::Poller,
}

/// Builds the gate for `sov serve`: reviewer on `engine`, console URLs at `console_addr`, the
/// web's model pass over queries through the LLM API at `llm_base` (`http://ADDR`) when it runs.
/// Must run inside the server's Tokio runtime, which the remote-model executor does its I/O on;
/// it streams answers to the requests registered in `remote_streams`.
pub fn gate_servers(
    config: &Config,
    paths: &Paths,
    engine: sov_engine::Engine,
    console_addr: SocketAddr,
    llm_base: Option<&str>,
    remote_streams: sov_private::Streams,
) -> Result<GateServers> {
    let gate = Arc::new(open_gate(config, paths)?);
    // The signals compare recipients with the mail and Signal history.
    gate.set_address_book(Arc::new(sov_msg::History::open(&paths.database())?));
    let model =
        if config.gate.reviewer_model.is_empty() { "default".to_owned() } else { config.gate.reviewer_model.clone() };
    let chat = Arc::new(crate::chat::EngineChat(engine.clone()));
    let reviewer = Arc::new(EngineReviewer::new(engine, model));
    let console_url = format!("http://{console_addr}");
    let messaging = sov_msg::Messaging::open(
        gate.clone(),
        &paths.database(),
        &paths.data_dir,
        &console_url,
        Duration::from_secs(config.msg.poll_secs),
    )?;
    let sender = sov_msg::MessageSender::open(&paths.database(), &paths.data_dir)?;
    let net = crate::net::open(config, paths)?;
    if !config.remote.is_empty() && config.remote.values().any(|r| config.remote_route(r).0 == Transport::Tor) {
        // Bootstrapped now, so the first remote call does not wait for the directory.
        let early = net.clone();
        tokio::spawn(async move {
            if let Err(e) = crate::net::ready(&early, &sov_net::Route::Tor).await {
                tracing::warn!("{e:#}");
            }
        });
    }
    let tickets = WebTickets(sov_private::ProviderTickets::new(config, paths.clone(), net.clone()));
    let web = sov_web::Web::new(config, net.http(sov_net::Class::Web))
        .and_then(|web| match llm_base {
            // `[sanitize] model` checks each query through this server's LLM API.
            Some(base) => web.with_model_pass(base),
            None => Ok(web),
        })
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let web = Arc::new(web.with_tickets(Arc::new(tickets)));
    let runtime = tokio::runtime::Handle::current();
    let mut executors = Executors::new();
    executors
        .register(Kind::WebFetch, Arc::new(sov_web::FetchExecutor { web: web.clone(), runtime: runtime.clone() }))?
        .register(Kind::WebSearch, Arc::new(sov_web::SearchExecutor { web: web.clone(), runtime }))?
        .register(Kind::MessageSend, Arc::new(sender))?
        .register(
            Kind::RemoteLlm,
            Arc::new(sov_private::RemoteLlmExecutor::new(
                Arc::new(config.clone()),
                paths.clone(),
                tokio::runtime::Handle::current(),
                remote_streams,
                net.clone(),
            )),
        )?;
    let wallet = if config.wallet.rpc.is_empty() {
        None
    } else {
        Some(wallet_service(config, paths, &net, &console_url, &mut executors)?)
    };
    let workers = sov_gate::Workers::start(gate.clone(), reviewer, executors)?;
    let poller = messaging.start_polling()?;
    let mut tool_api = sov_toolapi::ToolApi::new(gate.clone(), &console_url)
        .service(messaging.routes())
        .service(sov_web::api::routes(gate.clone(), web));
    if let Some((reader, keystore, sends)) = wallet {
        tool_api = tool_api.service(sov_wallet::api::routes(gate.clone(), reader, keystore, sends));
    }
    // Always mounted, opened on the first request that finds an index: a first `sov know index`
    // while this runs needs no restart (until then its routes answer 503 and say why).
    let library = Arc::new(sov_know::api::Library::new(sov_know::Knowledge::dir_in(&paths.data_dir)));
    tool_api = tool_api.service(sov_know::api::routes(gate.clone(), library));
    Ok(GateServers {
        gate: gate.clone(),
        tool_api: tool_api.router(),
        console: sov_console::console::Console::new(gate, paths.database(), paths.audit_head())
            .with_chat(chat)
            .router(),
        workers,
        poller,
    })
}

/// The wallet's part of `sov serve`: reads by `[net] chain` to `[wallet] rpc` for the keystore's
/// accounts and, when `[wallet] passphrase_file` unlocks them, sends: the builder for the Tool
/// API and the executor of `wallet.transfer` and `wallet.call` (registered in `executors`).
fn wallet_service(
    config: &Config,
    paths: &Paths,
    net: &Arc<sov_net::Net>,
    console_url: &str,
    executors: &mut Executors,
) -> Result<(Arc<sov_wallet::Reader>, sov_wallet::Keystore, Option<sov_wallet::api::Sends>)> {
    let wallet = |e: sov_wallet::Error| anyhow::anyhow!("[wallet]: {e}");
    let reader =
        Arc::new(sov_wallet::Reader::from_config(&config.wallet, &net.http(sov_net::Class::Chain)).map_err(wallet)?);
    let keystore = sov_wallet::Keystore::open(sov_wallet::Keystore::dir_in(&paths.data_dir)).map_err(wallet)?;
    if config.wallet.passphrase_file.as_os_str().is_empty() {
        tracing::info!("the wallet is locked ([wallet] passphrase_file is empty): agents may read it, not send");
        return Ok((reader, keystore, None));
    }
    let passphrase = sov_wallet::Passphrase::from_file(&config.wallet.passphrase_file).map_err(wallet)?;
    let signers = sov_wallet::exec::Signers::unlock(&keystore, &passphrase).map_err(wallet)?;
    tracing::info!("the wallet is unlocked for sends from {} account(s)", signers.addresses().len());
    let outbox = Arc::new(sov_wallet::send::Outbox::open(&paths.data_dir.join("wallet/outbox.db")).map_err(wallet)?);
    let executor = Arc::new(sov_wallet::exec::WalletExecutor::new(
        outbox.clone(),
        signers,
        reader.provider().clone(),
        tokio::runtime::Handle::current(),
    ));
    executors.register(Kind::WalletTransfer, executor.clone())?.register(Kind::WalletCall, executor)?;
    let builder = Arc::new(sov_wallet::build::Builder::new(reader.clone(), keystore.clone(), &config.wallet));
    Ok((reader, keystore, Some(sov_wallet::api::Sends { builder, outbox, console_url: console_url.to_owned() })))
}

/// The wallet's tickets ([`sov_private::ProviderTickets`]) as sov-web's port, for `zkapi`
/// search engines: sov-web asks for a ticket per query and learns no chain and no proof.
struct WebTickets(sov_private::ProviderTickets);

impl sov_web::Tickets for WebTickets {
    fn ticket<'a>(
        &'a self,
        request: sov_web::TicketFor<'a>,
    ) -> sov_web::paid::BoxFuture<'a, Result<(String, String), String>> {
        Box::pin(async move {
            let sov_web::TicketFor { contract, external_nullifier, method, path_and_query, body, fresh_tree } = request;
            self.0
                .ticket(contract, external_nullifier, method, path_and_query, body, fresh_tree)
                .await
                .map_err(|e| e.to_string())
        })
    }
}

/// The local model as the gate's AI reviewer: a fresh conversation per action with the fixed reviewer
/// prompt, greedy sampling, no tools, and the answer constrained to the verdict schema.
pub struct EngineReviewer {
    engine: sov_engine::Engine,
    model: String,
}

impl std::fmt::Debug for EngineReviewer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineReviewer").field("model", &self.model).finish_non_exhaustive()
    }
}

impl EngineReviewer {
    /// Reviews with `model` (a name the engine resolves; `default` for the default model).
    pub fn new(engine: sov_engine::Engine, model: String) -> EngineReviewer {
        EngineReviewer { engine, model }
    }
}

impl sov_gate::Reviewer for EngineReviewer {
    fn review(&self, record: &ActionRecord) -> Result<(Verdict, String), ReviewError> {
        use sov_engine::{ChatMessage, Constraint, Event, Generate, Prompt, Sampling};
        let request = Generate {
            model: self.model.clone(),
            prompt: Prompt::Chat(vec![
                ChatMessage { role: "system".into(), content: REVIEWER_PROMPT.into() },
                ChatMessage { role: "user".into(), content: review_message(record) },
            ]),
            sampling: Sampling { temperature: 0.0, ..Sampling::default() },
            max_tokens: Some(200),
            stop: Vec::new(),
            constraint: Some(Constraint::JsonSchema(verdict_schema().to_string())),
            ignore_eos: false,
        };
        let mut events = self.engine.generate(request).map_err(|e| ReviewError::Unavailable(e.to_string()))?;
        let mut text = String::new();
        while let Some(event) = events.blocking_recv() {
            match event {
                Event::Text(t) => text.push_str(&t),
                Event::Done { .. } => return parse_verdict(&text),
                Event::Failed(e) => return Err(ReviewError::Unavailable(e.to_string())),
                Event::Started { .. } | Event::Embeddings { .. } => {}
            }
        }
        Err(ReviewError::Malformed("the model stopped without finishing its answer".into()))
    }

    /// The model's name as the engine knows it (`default` resolved to the default model's name).
    fn model(&self) -> Option<String> {
        Some(self.engine.resolve(&self.model).unwrap_or_else(|_| self.model.clone()))
    }
}

/// `sov console`: mints a one-time login link ([`sov_console::login`]) and prints it. The token
/// rides in the fragment, which the browser never sends over the network.
///
/// The link names the console that runs on this data directory: `--console-listen` if given,
/// else the console port the running daemon published ([`sov_core::protected`]), else
/// `gate.console_listen`.
pub fn console(args: &ConsoleArgs, config: &Config, paths: &Paths) -> Result<i32> {
    let running = match sov_core::protected::running() {
        Ok(records) => {
            let data = sov_core::protected::physical(&paths.data_dir);
            records
                .into_iter()
                .filter(|r| r.dirs.iter().any(|d| d.path == data))
                .flat_map(|r| r.console_ports)
                .collect::<Vec<_>>()
        }
        Err(e) => {
            eprintln!("sov console: cannot read which daemons run ({e:#}); using gate.console_listen");
            Vec::new()
        }
    };
    let addr = console_address(args.console_listen, &running, &config.gate.console_listen)?;
    let store = Store::open(&paths.database())?;
    let token = sov_console::login::mint(&store, Some(paths.audit_head()), sov_core::now_ms())?;
    println!("http://{addr}/login#{}", token.expose());
    eprintln!("sov console: the link works once, in one browser, for the next 10 minutes");
    Ok(0)
}

/// The console's address for its login link: `flag`; else a console port a daemon on this data
/// directory published (`running`; the configured address when its port is one of them, else
/// that port on 127.0.0.1); else the `configured` one. Port 0 names no console (the port is
/// chosen when `sov serve` starts), so it is refused with what to pass.
fn console_address(flag: Option<SocketAddr>, running: &[u16], configured: &str) -> Result<SocketAddr> {
    let parsed = configured.parse::<SocketAddr>();
    let addr = match (flag, running.first(), &parsed) {
        (Some(addr), _, _) => addr,
        (None, Some(_), Ok(addr)) if running.contains(&addr.port()) => *addr,
        (None, Some(port), _) => SocketAddr::from(([127, 0, 0, 1], *port)),
        (None, None, _) => parsed
            .with_context(|| format!("gate.console_listen = {configured:?} is not an address like 127.0.0.1:7000"))?,
    };
    if addr.port() == 0 {
        bail!(
            "the console's port is chosen when `sov serve` starts ({addr}); pass --console-listen with the address \
             its \"console on http://…\" line printed"
        );
    }
    if !addr.ip().is_loopback() {
        bail!("{addr} is not a loopback address: the console listens on loopback only");
    }
    Ok(addr)
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
                    for_terminal(&r.request.headline())
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
                eprint!("The AI reviewer denied this. To approve anyway, type: {}\n> ", for_terminal(&fact));
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

/// An action for the terminal. Every text an agent, the reviewer or a third party wrote shows
/// invisible and direction-changing characters as `\u{…}` ([`sov_gate::display`]), with a
/// warning line first when there are any; the signals the gate's code found, one `signal` line
/// each; provenance is shown as the agent's claim it is.
fn describe(r: &ActionRecord) -> String {
    let params = serde_json::to_string_pretty(&r.request.params).unwrap_or_default();
    let mut out = String::new();
    if request_has_hidden(&r.request) {
        out.push_str(
            "WARNING   this action contains invisible or direction-changing characters, shown as \\u{…}:\n          \
             text with them can look like something it is not; read it as shown here\n",
        );
    }
    out.push_str(&format!(
        "action    {}\nkind      {}\nwhat      {}\nsession   {}\npolicy    {}: {}\nstate     {}\n",
        r.id,
        r.request.kind,
        for_terminal(&r.request.headline()),
        for_terminal(&r.session),
        r.decision.as_str(),
        for_terminal(&r.reasons.join(" ")),
        r.state.as_str()
    ));
    // What the gate's code found, strongest first: `deny` was denied by code, `warn` needs you
    // whatever the policy says, `note` is for your eyes and the reviewer's.
    for signal in r.signals.iter() {
        out.push_str(&format!("signal    {} {}\n", signal.weight().as_str(), for_terminal(&signal.sentence())));
    }
    if let Some(review) = review_shown(r) {
        let said = match review.reason {
            Some(reason) => format!(": {}", for_terminal(reason)),
            None => format!(" {}", ReviewShown::ECHO),
        };
        out.push_str(&format!("AI        {} {}{said}\n", review.verdict.as_str(), for_terminal(&review.by())));
    }
    out.push_str(&format!("params    {}\n", lines_for_terminal(&params, "          ")));
    for claim in &r.request.provenance {
        let detail =
            if claim.detail.is_empty() { String::new() } else { format!(" ({})", for_terminal(&claim.detail)) };
        out.push_str(&format!("source    claimed by the agent, unchecked: {}{detail}\n", for_terminal(&claim.source)));
    }
    if let Some(outcome) = &r.outcome {
        out.push_str(&format!("outcome   {}\n", for_terminal(&outcome.to_string())));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use sov_gate::{ActionRequest, Provenance, Rule};

    fn record(request: ActionRequest) -> ActionRecord {
        ActionRecord {
            id: "0123456789abcdef0123456789abcdef".into(),
            created_ms: 1_800_000_000_000,
            request,
            session: "anonymous".into(),
            decision: Rule::Confirm,
            reasons: vec!["a message to someone else: policy says confirm".into()],
            state: State::AwaitingHuman,
            review: None,
            human: None,
            expires_ms: 1_800_000_600_000,
            idempotency_key: String::new(),
            attempts: 0,
            outcome: None,
            finished_ms: None,
            signals: Default::default(),
        }
    }

    #[test]
    fn the_terminal_shows_hidden_characters_as_escapes_and_provenance_as_a_claim() {
        let mut request = ActionRequest::new(Kind::MessageSend);
        request.summary = "pay alice\u{202E}0001$".into();
        request.recipients = vec!["bo\u{200B}b@example.org".into()];
        request.params.insert("to".into(), "bo\u{200B}b@example.org".into());
        request.provenance = vec![Provenance { source: "user".into(), detail: String::new() }];
        let shown = describe(&record(request));
        assert!(!shown.contains(['\u{202E}', '\u{200B}']), "{shown}");
        assert_eq!(
            shown,
            "WARNING   this action contains invisible or direction-changing characters, shown as \\u{…}:\n          \
             text with them can look like something it is not; read it as shown here\n\
             action    0123456789abcdef0123456789abcdef\n\
             kind      message.send\n\
             what      pay alice\\u{202e}0001$ → bo\\u{200b}b@example.org\n\
             session   anonymous\n\
             policy    confirm: a message to someone else: policy says confirm\n\
             state     awaiting_human\n\
             params    {\n            \"to\": \"bo\\u{200b}b@example.org\"\n          }\n\
             source    claimed by the agent, unchecked: user\n"
        );
    }

    #[test]
    fn the_reviewers_reason_shows_only_when_it_adds_to_the_policy_and_names_its_model() {
        let mut r = record(ActionRequest::new(Kind::WebFetch));
        r.reasons = vec!["policy says confirm for web.fetch".into()];
        let ai_line = |r: &ActionRecord| describe(r).lines().find(|l| l.starts_with("AI ")).map(str::to_owned);
        assert_eq!(ai_line(&r), None, "not reviewed yet");
        let review = |reason: &str, model: Option<&str>| sov_gate::Review {
            verdict: Verdict::Approve,
            reason: reason.into(),
            at_ms: 1_800_000_000_000,
            model: model.map(str::to_owned),
        };
        r.review = Some(review("policy says confirm for web.fetch", Some("SmolLM2-135M-Instruct")));
        assert_eq!(
            ai_line(&r).as_deref(),
            Some("AI        approve by SmolLM2-135M-Instruct (its reason only repeated the policy's)")
        );
        r.review = Some(review("the page is a public weather forecast", Some("SmolLM2-135M-Instruct")));
        assert_eq!(
            ai_line(&r).as_deref(),
            Some("AI        approve by SmolLM2-135M-Instruct: the page is a public weather forecast")
        );
        r.review = Some(review("the page is a public weather forecast", None));
        assert_eq!(
            ai_line(&r).as_deref(),
            Some("AI        approve by the reviewer: the page is a public weather forecast")
        );
    }

    #[test]
    fn the_console_link_names_the_console_that_runs() {
        let addr = |s: &str| s.parse::<SocketAddr>().unwrap();
        // A running daemon's published port wins over the config.
        assert_eq!(console_address(None, &[17000], "127.0.0.1:7000").unwrap(), addr("127.0.0.1:17000"));
        assert_eq!(console_address(None, &[17000], "127.0.0.1:0").unwrap(), addr("127.0.0.1:17000"));
        assert_eq!(console_address(None, &[7001, 7002], "[::1]:7002").unwrap(), addr("[::1]:7002"));
        // The flag wins over both.
        assert_eq!(console_address(Some(addr("127.0.0.1:18000")), &[17000], "x").unwrap(), addr("127.0.0.1:18000"));
        // No daemon: the config.
        assert_eq!(console_address(None, &[], "[::1]:7001").unwrap(), addr("[::1]:7001"));
        let zero = console_address(None, &[], "127.0.0.1:0").unwrap_err().to_string();
        assert!(zero.contains("--console-listen"), "{zero}");
        assert!(console_address(None, &[], "localhost:7000").is_err());
        assert!(console_address(Some(addr("192.0.2.1:7000")), &[], "127.0.0.1:7000").is_err());
    }
}
