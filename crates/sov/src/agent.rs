//! `sov agent`: Sovereign's own agent. This process (outside) registers a gate session, picks the
//! session file and starts a copy of itself inside `sov sbox`, rooted at the current directory and
//! granted only the LLM API's and the Tool API's ports. The copy inside (`--in-sandbox`) talks
//! to the model and runs the tools; there is no way to run it outside a sandbox.

use std::ffi::OsString;
use std::io::{BufRead, IsTerminal, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sov_agent::client::Sampling;
use sov_agent::services::{RemoteTool, ToolApi};
use sov_agent::{AgentError, Event, HttpModel, Session, Tools, context};
use sov_core::config::Config;
use sov_core::paths::Paths;

/// Context window assumed when neither `--context` nor the server says (the engine's default).
const FALLBACK_CONTEXT: usize = 4096;

/// `sov agent` flags.
#[derive(Debug, Args)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "Examples:\n  sov agent                          talk to the agent in this directory (Ctrl-C cancels a step, Ctrl-D ends)\n  sov agent -p \"add a test for parse()\"   one task; prints the answer\n  sov agent -p \"…\" --json             one task; a JSON event stream on stdout\n  sov agent --resume                 continue this directory's latest session\n  sov agent setup pi                 point the pi coding agent at Sovereign"
)]
pub struct AgentArgs {
    /// Do one task and print the answer, without the interactive prompt.
    #[arg(short = 'p', long = "print", value_name = "TASK")]
    pub task: Option<String>,
    /// With -p: print one JSON event per line (text, tool calls and results, the answer).
    #[arg(long, requires = "task")]
    pub json: bool,
    /// Continue a saved session: this directory's latest, or the given session file.
    #[arg(long, value_name = "FILE", num_args = 0..=1, default_missing_value = "latest")]
    pub resume: Option<String>,
    /// The model to use (default: the server's default model).
    #[arg(long, short, value_name = "NAME", default_value = "default")]
    pub model: String,
    /// The LLM API's base URL (default: from `serve.listen`); it must be on this machine.
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The model's context window in tokens (default: what the server reports, else 4096).
    #[arg(long, value_name = "TOKENS")]
    pub context: Option<usize>,
    /// Sampling temperature (0 = greedy).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Fixed seed for repeatable answers.
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
    /// Stop a task after this many model answers.
    #[arg(long, value_name = "N", default_value_t = sov_agent::session::DEFAULT_MAX_STEPS)]
    pub max_steps: usize,
    /// Also let the agent read PATH (repeatable).
    #[arg(long, value_name = "PATH")]
    pub ro: Vec<PathBuf>,
    /// Also let the agent write PATH (repeatable).
    #[arg(long, value_name = "PATH")]
    pub rw: Vec<PathBuf>,
    /// Set by `sov agent` for the copy of itself it starts inside the sandbox; refused elsewhere.
    #[arg(long, hide = true)]
    pub in_sandbox: bool,
    /// The Tool API's base URL (default: from `gate.tool_listen`); it must be on this machine.
    #[arg(long, value_name = "URL")]
    pub tool_url: Option<String>,
    /// Inside: the session file.
    #[arg(long, hide = true, value_name = "FILE")]
    pub session_file: Option<PathBuf>,
    /// Inside: a directory of skills besides the project's (repeatable).
    #[arg(long, hide = true, value_name = "DIR")]
    pub skill_root: Vec<PathBuf>,
    /// Set up another agent to use Sovereign.
    #[command(subcommand)]
    pub setup: Option<AgentCommand>,
}

/// `sov agent …` subcommands.
#[derive(Debug, Subcommand)]
pub enum AgentCommand {
    /// Point another agent at Sovereign's LLM API.
    #[command(subcommand)]
    Setup(SetupCommand),
}

/// `sov agent setup …`
#[derive(Debug, Subcommand)]
pub enum SetupCommand {
    /// Write pi's model configuration (~/.pi/agent/models.json) so `sbox --port 8080 -- pi` uses Sovereign.
    Pi(crate::agent_setup::PiArgs),
}

/// `sov agent`
pub fn run(args: AgentArgs, config: &Config, paths: &Paths) -> Result<i32> {
    if let Some(AgentCommand::Setup(SetupCommand::Pi(pi))) = args.setup {
        return crate::agent_setup::pi(&pi, config);
    }
    if args.in_sandbox { inside(args) } else { outside(args, config, paths) }
}

/// The port of a loopback URL such as `http://127.0.0.1:8080`; anything else is refused, since
/// the sandbox can only be granted ports of this machine's loopback.
fn loopback_port(url: &str, what: &str) -> Result<u16> {
    let rest = url.strip_prefix("http://").with_context(|| format!("{what} {url} must start with http://"))?;
    let authority = rest.split('/').next().unwrap_or_default();
    let addrs: Vec<SocketAddr> = authority
        .to_socket_addrs()
        .with_context(|| format!("{what} {url} needs a host and port, such as http://127.0.0.1:8080"))?
        .collect();
    match addrs.first() {
        Some(addr) if addrs.iter().all(|a| a.ip().is_loopback()) => Ok(addr.port()),
        _ => {
            bail!("{what} {url} is not on this machine's loopback; the agent's sandbox can reach only 127.0.0.1 or ::1")
        }
    }
}

fn reachable(port: u16) -> bool {
    TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], port)), Duration::from_millis(500)).is_ok()
}

/// Where this directory's sessions are kept: one directory per working directory.
fn sessions_dir(paths: &Paths, workdir: &Path) -> PathBuf {
    let slug: String = workdir
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '.' || c == '_' { c } else { '-' })
        .collect();
    paths.state_dir.join("agent/sessions").join(slug.trim_matches('-'))
}

fn latest_session(dir: &Path) -> Option<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    // Names start with the creation time, so the last in order is the newest.
    files.sort();
    files.pop()
}

fn new_session_file(dir: &Path) -> Result<PathBuf> {
    sov_core::paths::ensure_private_dir(dir)?;
    let stamp = sov_core::now_ms();
    let name = format!("{stamp}-{}.jsonl", sov_core::random_hex(4)?);
    let file = dir.join(name);
    std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&file)
        .with_context(|| format!("creating the session file {}", file.display()))?;
    Ok(file)
}

fn outside(args: AgentArgs, config: &Config, paths: &Paths) -> Result<i32> {
    let workdir = std::env::current_dir().context("reading the current directory")?;
    let llm_url = args.url.clone().unwrap_or_else(|| format!("http://{}", config.serve.listen));
    let llm_port = loopback_port(&llm_url, "the LLM API")?;
    if !reachable(llm_port) {
        bail!("nothing answers at {llm_url}: start the model server with `sov serve` (or pass --url)");
    }
    let tool_url = args.tool_url.clone().unwrap_or_else(|| format!("http://{}", config.gate.tool_listen));
    let tool_port = loopback_port(&tool_url, "the Tool API (gate.tool_listen)")?;
    let tools_up = reachable(tool_port);
    if !tools_up {
        eprintln!("sov agent: no Tool API at {tool_url}, so no messages tool (it runs with `sov serve`)");
    }

    let dir = sessions_dir(paths, &workdir);
    let session_file = match args.resume.as_deref() {
        None => new_session_file(&dir)?,
        Some("latest") => latest_session(&dir).with_context(|| {
            format!("there is no saved session for {} to resume; start one with `sov agent`", workdir.display())
        })?,
        Some(file) => {
            let file = PathBuf::from(file);
            if !file.is_file() {
                bail!("{} is not a session file; `sov agent --resume` alone continues the latest", file.display());
            }
            std::fs::canonicalize(&file)?
        }
    };

    let gate = crate::gate::open_gate(config, paths)?;
    let origin = format!("sov agent in {}", workdir.display());
    let gate_session = gate.create_session(sov_gate::Side::Open, &origin)?;
    drop(gate);

    let exe = std::env::current_exe().context("finding the sov binary to start inside the sandbox")?;
    let mut command: Vec<OsString> = vec![
        exe.clone().into(),
        "agent".into(),
        "--in-sandbox".into(),
        "--session-file".into(),
        session_file.clone().into(),
        "--url".into(),
        llm_url.into(),
        "--model".into(),
        args.model.into(),
    ];
    if tools_up {
        command.extend(["--tool-url".into(), tool_url.into()]);
    }
    if let Some(task) = args.task {
        command.extend(["-p".into(), task.into()]);
    }
    if args.json {
        command.push("--json".into());
    }
    for (flag, value) in [
        ("--max-steps", Some(args.max_steps.to_string())),
        ("--context", args.context.map(|v| v.to_string())),
        ("--temperature", args.temperature.map(|v| v.to_string())),
        ("--seed", args.seed.map(|v| v.to_string())),
    ] {
        if let Some(value) = value {
            command.extend([flag.into(), value.into()]);
        }
    }
    let mut ro = vec![exe];
    ro.extend(args.ro);
    if let Some(home) = std::env::var_os("HOME").map(PathBuf::from) {
        let user_skills = home.join(".agents/skills");
        if user_skills.is_dir() {
            command.extend(["--skill-root".into(), user_skills.clone().into()]);
            ro.push(user_skills);
        }
    }
    let mut rw = vec![session_file];
    rw.extend(args.rw);
    let mut ports = vec![llm_port];
    if tools_up {
        ports.push(tool_port);
    }
    let sbox = sov_sbox::SboxArgs {
        profile: None,
        ro,
        rw,
        port: ports,
        env: Vec::new(),
        audio: false,
        gpu: false,
        keep_fd: Vec::new(),
        dry_run: false,
        command,
    };
    let mut set_env = vec![(sov_gate::SESSION_ENV.to_owned(), OsString::from(gate_session.token))];
    if let Some(key) = crate::llm::api_key(config)? {
        set_env.push(("SOV_API_KEY".to_owned(), key.into()));
    }
    Ok(sov_sbox::run_with_env(sbox, set_env, None, config, paths))
}

/// Whether this process is inside a Sovereign sandbox: sbox marks the environment, and the
/// network namespace has no interface but loopback (the host almost always has one).
fn in_sovereign_sandbox() -> bool {
    let marked = std::env::var_os("SOV_SANDBOX").is_some_and(|v| v == "1");
    let only_loopback = std::fs::read_to_string("/proc/net/dev")
        .is_ok_and(|text| text.lines().skip(2).filter_map(|l| l.split(':').next()).all(|name| name.trim() == "lo"));
    marked && only_loopback
}

fn inside(args: AgentArgs) -> Result<i32> {
    if !in_sovereign_sandbox() {
        bail!(
            "--in-sandbox is what `sov agent` passes to the copy of itself inside its sandbox; run `sov agent` instead"
        );
    }
    let workdir = std::env::current_dir().context("reading the working directory")?;
    let cancel = Arc::new(AtomicBool::new(false));
    let at_prompt = Arc::new(AtomicBool::new(false));
    // Ctrl-C at the prompt ends the agent; during a step it cancels the step.
    signal_hook::flag::register_conditional_shutdown(signal_hook::consts::SIGINT, 130, at_prompt.clone())?;
    signal_hook::flag::register(signal_hook::consts::SIGINT, cancel.clone())?;

    let mut roots = vec![workdir.join(".agents/skills"), workdir.join(".sov/skills")];
    roots.extend(args.skill_root.iter().cloned());
    let (skills, warnings) = context::skills(&roots);
    let agents = context::agents_files(&workdir);
    let mut tools = Tools::new(&workdir).with_skills(skills.clone()).with_cancel(cancel.clone());
    if let Some(url) = &args.tool_url {
        let services = ToolApi::new(url, std::env::var(sov_gate::SESSION_ENV).ok());
        tools = tools.with_services(services.clone()).with_wallet(&services).with_knowledge(&services);
    }
    let url = args.url.clone().context("--url is missing")?;
    let api_key = std::env::var("SOV_API_KEY").ok().filter(|k| !k.is_empty());
    let remote_names = RemoteTool::names_in(&sov_agent::client::server_models(&url, api_key.as_deref()));
    if !remote_names.is_empty() {
        let token = std::env::var(sov_gate::SESSION_ENV).ok();
        tools = tools.with_remote(RemoteTool::new(&url, token, api_key.clone(), remote_names));
    }
    let model = HttpModel::new(&url, &args.model, api_key, cancel.clone());
    let window = args.context.or_else(|| model.context_window()).unwrap_or(FALLBACK_CONTEXT);
    // An answer may take what the session leaves free of the window, so a model that rambles
    // is stopped rather than filling the context.
    let answer_room = u32::try_from(sov_agent::session::answer_room(window)).unwrap_or(u32::MAX);
    let mut model =
        model.with_sampling(Sampling { temperature: args.temperature, seed: args.seed, max_tokens: Some(answer_room) });

    let log = args.session_file.clone().context("--session-file is missing")?;
    let fresh = std::fs::metadata(&log).map(|m| m.len() == 0).unwrap_or(true);
    let session = if fresh {
        Session::new(
            &context::system_prompt(&workdir, &agents, &skills, &tools.names()),
            tools.clone(),
            Some(log.clone()),
        )?
    } else {
        Session::resume(&log, tools.clone())?
    };
    let mut session = session.with_cancel(cancel.clone()).with_context_window(window).with_max_steps(args.max_steps);

    let mut out = Output::new(args.json);
    out.event(&json!({
        "type": "session",
        "file": log,
        "resumed": !fresh,
        "workdir": workdir,
        "model": args.model,
        "context_window": window,
        "tools": tools.names(),
        "skills": skills.iter().map(|s| &s.name).collect::<Vec<_>>(),
        "warnings": warnings,
    }));

    if let Some(task) = &args.task {
        return Ok(one_task(&mut session, &mut model, task, &mut out));
    }
    interactive(&mut session, &mut model, &mut out, &cancel, &at_prompt, &log)
}

fn one_task(session: &mut Session, model: &mut HttpModel, task: &str, out: &mut Output) -> i32 {
    let result = session.run(model, task, &mut |e| out.show(e));
    out.finish(&result)
}

fn interactive(
    session: &mut Session,
    model: &mut HttpModel,
    out: &mut Output,
    cancel: &AtomicBool,
    at_prompt: &AtomicBool,
    log: &Path,
) -> Result<i32> {
    eprintln!(
        "Sovereign agent in {} (sandboxed). Session: {}\nCtrl-C cancels a step; Ctrl-D or /exit ends; `sov agent --resume` continues later.",
        std::env::current_dir().unwrap_or_default().display(),
        log.display()
    );
    let stdin = std::io::stdin();
    loop {
        cancel.store(false, Ordering::SeqCst);
        at_prompt.store(true, Ordering::SeqCst);
        eprint!("\n{}› {}", out.style.bold, out.style.reset);
        let mut line = String::new();
        let read = stdin.lock().read_line(&mut line);
        at_prompt.store(false, Ordering::SeqCst);
        if read? == 0 || line.trim() == "/exit" {
            eprintln!();
            return Ok(0);
        }
        let task = line.trim();
        if task.is_empty() {
            continue;
        }
        let result = session.run(model, task, &mut |e| out.show(e));
        out.finish(&result);
    }
}

/// Colours when writing to a terminal.
struct Style {
    bold: &'static str,
    dim: &'static str,
    red: &'static str,
    cyan: &'static str,
    reset: &'static str,
}

/// How events reach the user: text and tool calls on a terminal (or plain text), or JSON lines.
struct Output {
    json: bool,
    style: Style,
    streamed: bool,
}

impl Output {
    fn new(json: bool) -> Output {
        let style = if !json && std::io::stderr().is_terminal() {
            Style { bold: "\x1b[1m", dim: "\x1b[2m", red: "\x1b[31m", cyan: "\x1b[36m", reset: "\x1b[0m" }
        } else {
            Style { bold: "", dim: "", red: "", cyan: "", reset: "" }
        };
        Output { json, style, streamed: false }
    }

    fn event(&self, value: &Value) {
        if self.json {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{value}");
            let _ = stdout.flush();
        }
    }

    fn show(&mut self, event: &Event) {
        let s = &self.style;
        match event {
            Event::TextDelta(piece) => {
                if self.json {
                    self.event(&json!({"type": "text_delta", "text": piece}));
                } else {
                    let mut stdout = std::io::stdout().lock();
                    let _ = stdout.write_all(piece.as_bytes());
                    let _ = stdout.flush();
                    self.streamed = true;
                }
            }
            Event::Text(text) => {
                self.event(&json!({"type": "text", "text": text}));
                if !self.json {
                    if self.streamed {
                        println!();
                    } else {
                        println!("{text}");
                    }
                    self.streamed = false;
                }
            }
            Event::ToolCall { name, arguments } => {
                self.event(&json!({"type": "tool_call", "name": name, "arguments": arguments}));
                if !self.json {
                    eprintln!("{}→ {name}{} {}", s.cyan, s.reset, one_line(arguments, 200));
                }
            }
            Event::ToolResult { name, ok, output } => {
                self.event(&json!({"type": "tool_result", "name": name, "ok": ok, "output": output}));
                if !self.json {
                    let colour = if *ok { s.dim } else { s.red };
                    let shown: Vec<&str> = output.lines().take(4).collect();
                    let more = output.lines().count().saturating_sub(shown.len());
                    for line in shown {
                        eprintln!("{colour}  {}{}", one_line(line, 160), s.reset);
                    }
                    if more > 0 {
                        eprintln!("{}  … {more} more lines{}", s.dim, s.reset);
                    }
                }
            }
            Event::Compacted { elided, tokens, budget } => {
                self.event(&json!({"type": "compacted", "elided": elided, "tokens": tokens, "budget": budget}));
                if !self.json {
                    eprintln!(
                        "{}[{elided} old tool outputs elided to fit the context: ~{tokens} of {budget} tokens]{}",
                        s.dim, s.reset
                    );
                }
            }
        }
    }

    /// Reports how a task ended; returns the exit status for `-p`.
    fn finish(&mut self, result: &Result<String, AgentError>) -> i32 {
        match result {
            Ok(answer) => {
                self.event(&json!({"type": "answer", "text": answer}));
                0
            }
            Err(AgentError::Cancelled) => {
                self.event(&json!({"type": "cancelled"}));
                if !self.json {
                    eprintln!("\n{}[cancelled]{}", self.style.red, self.style.reset);
                }
                130
            }
            Err(e) => {
                self.event(&json!({"type": "error", "message": e.to_string()}));
                if !self.json {
                    eprintln!("\n{}sov agent: {e}{}", self.style.red, self.style.reset);
                }
                1
            }
        }
    }
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if flat.chars().count() <= max { flat } else { format!("{}…", flat.chars().take(max).collect::<String>()) }
}
