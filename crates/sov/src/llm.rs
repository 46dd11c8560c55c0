//! `sov serve`, `sov chat`, `sov ask` and `sov models`.

use std::io::{BufRead, BufReader, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sov_core::config::{Config, ModelConfig};
use sov_core::paths::Paths;
use sov_engine::{Engine, EngineOptions, ModelSpec, Sampling, gguf};

/// `sov serve` flags.
#[derive(Debug, Args)]
#[command(
    after_help = "Point tools at it:\n  OpenAI clients:     OPENAI_BASE_URL=http://127.0.0.1:8080/v1\n  Anthropic clients:  ANTHROPIC_BASE_URL=http://127.0.0.1:8080 (and ANTHROPIC_MODEL=<model name>)\n\nEndpoints: /v1/chat/completions /v1/completions /v1/models /v1/messages /health /metrics"
)]
pub struct ServeArgs {
    /// Listen on this address instead of `serve.listen` from the config.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<SocketAddr>,
    /// Load this model at start (default: the default model). Others load on first request.
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
    /// Do not load any model until a request asks for one.
    #[arg(long, conflicts_with = "model")]
    pub lazy: bool,
    /// Where the Tool API and the console listen.
    #[command(flatten)]
    pub gate: GateListen,
    /// Serve only the Tool API and the console (`sov msg serve`); models serve the AI reviewer.
    #[arg(skip)]
    pub without_llm_api: bool,
}

/// Where the gate's servers listen, instead of the config's `gate.tool_listen` and
/// `gate.console_listen`, and how the gate starts (`sov serve` and `sov msg serve`).
#[derive(Debug, Args)]
pub struct GateListen {
    /// The Tool API's address instead of `gate.tool_listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub tool_listen: Option<SocketAddr>,
    /// The human console's address instead of `gate.console_listen`.
    #[arg(long, value_name = "ADDR:PORT")]
    pub console_listen: Option<SocketAddr>,
    /// Start even though the audit log is broken (an entry edited, removed or cut off).
    ///
    /// Without it the server refuses to start on a broken log and names the first bad entry.
    /// Accepting is itself recorded as an entry of the log (`audit.accepted_broken`); later
    /// starts check only what comes after it, while `sov audit verify` keeps reporting the break.
    #[arg(long)]
    pub accept_broken_audit: bool,
}

/// `sov chat` / `sov ask` flags.
#[derive(Debug, Args)]
pub struct ClientArgs {
    /// The model to ask (default: the server's default model).
    #[arg(long, short, value_name = "NAME", default_value = "default")]
    pub model: String,
    /// The server's base URL (default: from `serve.listen`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// A system prompt.
    #[arg(long, short, value_name = "TEXT")]
    pub system: Option<String>,
    /// Sampling temperature (0 = greedy).
    #[arg(long, value_name = "T")]
    pub temperature: Option<f32>,
    /// Fixed seed for repeatable answers.
    #[arg(long, value_name = "N")]
    pub seed: Option<u32>,
    /// At most this many tokens per answer.
    #[arg(long, value_name = "N")]
    pub max_tokens: Option<u32>,
}

/// `sov models` subcommands.
#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// List the models: configured ones and the GGUF files in the models directory.
    List,
    /// Make a GGUF file available by name (a symbolic link in the models directory).
    Add {
        /// The GGUF file.
        file: PathBuf,
        /// The name requests will use (default: the file name without `.gguf`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Remove a model's link from the models directory (the GGUF file it points to is kept).
    Rm {
        /// The model's name.
        name: String,
    },
}

fn models_dir(config: &Config, paths: &Paths) -> PathBuf {
    if config.engine.models_dir.as_os_str().is_empty() {
        paths.data_dir.join("models")
    } else {
        config.engine.models_dir.clone()
    }
}

pub(crate) fn catalog(config: &Config, paths: &Paths) -> Result<Vec<ModelSpec>> {
    let default_threads = (config.engine.threads > 0).then(|| i32::try_from(config.engine.threads).unwrap_or(i32::MAX));
    let configured = config
        .models
        .iter()
        .map(|(name, m)| {
            let sampling = model_sampling(m);
            sampling
                .validate()
                .with_context(|| format!("config [models.{name}] sets a sampling default out of range"))?;
            Ok(ModelSpec {
                name: name.clone(),
                path: m.file.clone(),
                context: (m.context > 0).then_some(m.context),
                threads: (m.threads > 0).then(|| i32::try_from(m.threads).unwrap_or(i32::MAX)),
                gpu_layers: m.gpu_layers,
                template: (!m.template.is_empty()).then(|| m.template.clone()),
                sampling,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let mut models = sov_engine::catalog(configured, &models_dir(config, paths));
    for model in &mut models {
        model.threads = model.threads.or(default_threads);
    }
    Ok(models)
}

fn model_sampling(m: &ModelConfig) -> Sampling {
    let d = Sampling::default();
    Sampling {
        temperature: m.temperature.unwrap_or(d.temperature),
        top_p: m.top_p.unwrap_or(d.top_p),
        top_k: m.top_k.unwrap_or(d.top_k),
        min_p: m.min_p.unwrap_or(d.min_p),
        repeat_penalty: m.repeat_penalty.unwrap_or(d.repeat_penalty),
        seed: m.seed.or(d.seed),
        ..d
    }
}

/// The LLM API's key: `SOV_API_KEY`, else the file `serve.api_key_file` names, else none.
pub(crate) fn api_key(config: &Config) -> Result<Option<String>> {
    if let Some(key) = std::env::var("SOV_API_KEY").ok().filter(|k| !k.is_empty()) {
        return Ok(Some(key));
    }
    let file = &config.serve.api_key_file;
    if file.as_os_str().is_empty() {
        return Ok(None);
    }
    let key = std::fs::read_to_string(file)
        .with_context(|| format!("reading the API key file {} (serve.api_key_file)", file.display()))?;
    let key = key.trim().to_owned();
    if key.is_empty() {
        bail!("the API key file {} is empty (serve.api_key_file)", file.display());
    }
    Ok(Some(key))
}

/// A progress bar per model load on a terminal; log lines otherwise.
fn load_progress() -> impl Fn(&str, f32) + Send + Sync + 'static {
    let terminal = std::io::stderr().is_terminal();
    let bar: std::sync::Mutex<Option<(String, indicatif::ProgressBar)>> = std::sync::Mutex::new(None);
    move |name: &str, fraction: f32| {
        if !terminal {
            return;
        }
        let mut bar = bar.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let percent = (fraction.clamp(0.0, 1.0) * 100.0).round() as u64;
        let fresh = !matches!(&*bar, Some((n, b)) if n == name && !b.is_finished());
        if fresh {
            let b = indicatif::ProgressBar::new(100);
            b.set_style(
                indicatif::ProgressStyle::with_template("loading {msg} [{bar:40}] {pos}%")
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            b.set_message(name.to_owned());
            *bar = Some((name.to_owned(), b));
        }
        if let Some((_, b)) = &*bar {
            b.set_position(percent);
            if percent >= 100 {
                b.finish();
            }
        }
    }
}

/// `sov serve`
pub fn serve(args: ServeArgs, config: &Config, paths: &Paths) -> Result<i32> {
    // Before anything else: never run on a tampered audit log unless told to.
    crate::audit::check_at_start(config, paths, args.gate.accept_broken_audit)?;
    let models = catalog(config, paths)?;
    if models.is_empty() {
        return Err(sov_engine::EngineError::NoModels { dir: models_dir(config, paths) }.into());
    }
    let listen: SocketAddr = match args.listen {
        Some(addr) => addr,
        None => config.serve.listen.parse().context("serve.listen")?,
    };
    let api_key = api_key(config)?;
    if !listen.ip().is_loopback() && api_key.is_none() {
        tracing::warn!(%listen, "listening beyond loopback without an API key: anyone who can reach this port can use your models");
    }
    let default_model = (!config.engine.default_model.is_empty()).then(|| config.engine.default_model.clone());
    let options = EngineOptions {
        max_resident: config.engine.max_resident,
        idle_unload: (config.engine.idle_unload_secs > 0).then(|| Duration::from_secs(config.engine.idle_unload_secs)),
        queue: config.engine.queue,
    };
    let engine = Engine::new(models, default_model, options, load_progress())?;
    // One async thread is plenty for HTTP on loopback; every other core belongs to llama.cpp, and a
    // second runtime thread measurably competes with it for generation (bench/llm-serve.sh).
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().worker_threads(1).build()?;
    runtime.block_on(async move {
        let listener = match args.without_llm_api {
            true => None,
            false => Some(
                tokio::net::TcpListener::bind(listen)
                    .await
                    .with_context(|| format!("cannot listen on {listen} (is another server using the port?)"))?,
            ),
        };
        let actual = listener.as_ref().map_or(Ok(listen), |l| l.local_addr())?;
        let bind = |addr: Option<SocketAddr>, configured: &str, key: &'static str| {
            let addr = match addr {
                Some(addr) => Ok(addr),
                None => configured.parse::<SocketAddr>().context(key),
            };
            async move {
                let addr = addr?;
                if !addr.ip().is_loopback() {
                    bail!("{key} = {addr}: the gate listens on loopback only");
                }
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot listen on {addr} for {key} (is another server using the port?)"))
            }
        };
        let tool_listener = bind(args.gate.tool_listen, &config.gate.tool_listen, "gate.tool_listen").await?;
        let console_listener =
            bind(args.gate.console_listen, &config.gate.console_listen, "gate.console_listen").await?;
        let (tool_addr, console_addr) = (tool_listener.local_addr()?, console_listener.local_addr()?);
        // Every sbox refuses this console's port and these directories from now on, whatever its
        // own config and environment say; the record goes when the server ends (the guard's drop).
        let gate_policy = crate::gate::policy_file(config, paths);
        let record = sov_core::protected::Record::for_this_process(paths, &gate_policy, &[console_addr.port()]);
        let _protected = sov_core::protected::publish(&record).context(
            "cannot publish what this server protects from sandboxes (its console port and directories), \
             so it does not start: sandboxes could not tell",
        )?;
        // The remote route and the gate's remote executor share where answers stream to.
        let remote_streams = sov_private::Streams::new();
        let llm_base = listener.as_ref().map(|_| format!("http://{actual}"));
        let gate = crate::gate::gate_servers(
            config,
            paths,
            engine.clone(),
            console_addr,
            llm_base.as_deref(),
            remote_streams.clone(),
        )?;
        if !args.lazy {
            let name = args.model.as_deref().or(engine.default_model()).unwrap_or("default").to_owned();
            let info = engine.load(&name).await?;
            tracing::info!(model = %info.name, architecture = %info.architecture, context = info.context, "ready");
        }
        // Scripts wait for these lines (stdout) to know the ports, which matters with port 0. A
        // reader that stopped reading (a closed pipe) must not end the daemon, as `println!`
        // would by panicking: the lines are written, and a failure to write them ignored.
        let mut announced = format!(
            "sov serve: tool API on http://{tool_addr}\n\
             sov serve: console on http://{console_addr} (log in with the link `sov console` prints)\n"
        );
        if listener.is_some() {
            announced.push_str(&format!("sov serve: listening on http://{actual}\n"));
        }
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(announced.as_bytes()).and_then(|()| stdout.flush());
        drop(stdout);
        let remote = match config.remote.is_empty() {
            true => None,
            false => {
                let route = sov_private::GatedRemote::new(
                    gate.gate.clone(),
                    std::sync::Arc::new(config.clone()),
                    &format!("http://{actual}"),
                    remote_streams,
                )?;
                Some(sov_api::RemoteRoute(std::sync::Arc::new(route)))
            }
        };
        let api_options = sov_api::ApiOptions {
            api_key,
            cors_origins: config.serve.cors_origins.clone(),
            loopback_host_only: actual.ip().is_loopback(),
            remote,
        };
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let until_stopped = move || {
            let mut stopped = stopped.clone();
            async move {
                let _ = stopped.wait_for(|s| *s).await;
            }
        };
        tokio::spawn(async move {
            shutdown_signal().await;
            let _ = stop.send(true);
        });
        let tool = axum::serve(tool_listener, gate.tool_api).with_graceful_shutdown(until_stopped());
        let console = axum::serve(console_listener, gate.console).with_graceful_shutdown(until_stopped());
        match listener {
            None => {
                tokio::try_join!(tool.into_future(), console.into_future())?;
            }
            Some(listener) => {
                let llm = sov_api::serve(listener, engine, api_options, until_stopped());
                tokio::try_join!(llm, tool.into_future(), console.into_future())?;
            }
        }
        drop(gate.poller);
        drop(gate.workers);
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    })?;
    Ok(0)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else { return std::future::pending().await };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

fn base_url(args: &ClientArgs, config: &Config) -> String {
    match &args.url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => format!("http://{}", config.serve.listen),
    }
}

/// A streamed chat request to `model` with the sampling the flags set.
pub(crate) fn streamed_chat(args: &ClientArgs, model: &str, messages: &[Value]) -> Value {
    let mut body = json!({ "model": model, "messages": messages, "stream": true });
    for (key, value) in [
        ("temperature", args.temperature.map(|t| json!(t))),
        ("seed", args.seed.map(|s| json!(s))),
        ("max_tokens", args.max_tokens.map(|n| json!(n))),
    ] {
        if let Some(value) = value {
            body[key] = value;
        }
    }
    body
}

/// Streams one chat answer to `out`; returns the text.
fn stream_answer(args: &ClientArgs, config: &Config, messages: &[Value], out: &mut dyn Write) -> Result<String> {
    let url = format!("{}/v1/chat/completions", base_url(args, config));
    let body = streamed_chat(args, &args.model, messages);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = agent.post(&url);
    if let Some(key) = api_key(config)? {
        request = request.header("Authorization", &format!("Bearer {key}"));
    }
    let mut response =
        request.send_json(&body).with_context(|| format!("cannot reach {url}: is `sov serve` running?"))?;
    if !response.status().is_success() {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or(text);
        bail!("the server answered {}: {message}", response.status());
    }
    let reader = BufReader::new(response.body_mut().as_reader());
    let mut answer = String::new();
    for line in reader.lines() {
        let line = line?;
        let Some(data) = line.strip_prefix("data: ") else { continue };
        if data == "[DONE]" {
            break;
        }
        let chunk: Value = serde_json::from_str(data).context("the server sent an event that is not JSON")?;
        if let Some(message) = chunk.pointer("/error/message").and_then(Value::as_str) {
            bail!("{message}");
        }
        if let Some(piece) = chunk.pointer("/choices/0/delta/content").and_then(Value::as_str) {
            out.write_all(piece.as_bytes())?;
            out.flush()?;
            answer.push_str(piece);
        }
    }
    writeln!(out)?;
    Ok(answer)
}

fn opening(args: &ClientArgs) -> Vec<Value> {
    args.system.iter().map(|s| json!({ "role": "system", "content": s })).collect()
}

/// `sov ask`
pub fn ask(args: &ClientArgs, question: &str, config: &Config) -> Result<i32> {
    let mut messages = opening(args);
    messages.push(json!({ "role": "user", "content": question }));
    stream_answer(args, config, &messages, &mut std::io::stdout())?;
    Ok(0)
}

/// `sov chat`
pub fn chat(args: &ClientArgs, config: &Config) -> Result<i32> {
    let mut messages = opening(args);
    let interactive = std::io::stdin().is_terminal();
    if interactive {
        eprintln!("Chatting with {} at {} — an empty line or Ctrl-D ends.", args.model, base_url(args, config));
    }
    let stdin = std::io::stdin();
    loop {
        if interactive {
            eprint!("> ");
        }
        let mut line = String::new();
        if stdin.lock().read_line(&mut line)? == 0 || line.trim().is_empty() {
            break;
        }
        messages.push(json!({ "role": "user", "content": line.trim_end() }));
        let answer = stream_answer(args, config, &messages, &mut std::io::stdout())?;
        messages.push(json!({ "role": "assistant", "content": answer }));
    }
    Ok(0)
}

/// `sov models …`
pub fn models(cmd: ModelsCommand, config: &Config, paths: &Paths) -> Result<i32> {
    let dir = models_dir(config, paths);
    match cmd {
        ModelsCommand::List => {
            let models = catalog(config, paths)?;
            if models.is_empty() {
                eprintln!("no models; add one with `sov models add FILE.gguf` (models directory: {})", dir.display());
                return Ok(0);
            }
            println!("{:<24} {:<12} {:>9} {:>8}  FILE", "NAME", "ARCH", "SIZE", "CONTEXT");
            for model in models {
                let (arch, size, context) = match gguf::inspect(&model.path) {
                    Ok(info) => (
                        info.architecture,
                        format!("{:.0} MiB", info.file_size as f64 / (1 << 20) as f64),
                        info.context_length.map_or("?".into(), |c| c.to_string()),
                    ),
                    Err(e) => (format!("bad: {e}"), String::new(), String::new()),
                };
                println!("{:<24} {:<12} {:>9} {:>8}  {}", model.name, arch, size, context, model.path.display());
            }
        }
        ModelsCommand::Add { file, name } => {
            let file = std::path::absolute(&file).with_context(|| format!("resolving {}", file.display()))?;
            let info = gguf::inspect(&file).map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
            let name = match name {
                Some(name) => name,
                None => file
                    .file_stem()
                    .and_then(|s| s.to_str())
                    .context("the file name is not UTF-8; pass --name")?
                    .to_owned(),
            };
            if name.is_empty() || name.contains('/') || name.starts_with('.') {
                bail!("`{name}` cannot be a model name: use letters, digits, `-`, `_` and `.`, not starting with `.`");
            }
            sov_core::paths::ensure_private_dir(&dir)?;
            let link = dir.join(format!("{name}.gguf"));
            if link.symlink_metadata().is_ok() {
                bail!(
                    "a model named `{name}` already exists ({}); remove it first with `sov models rm {name}`",
                    link.display()
                );
            }
            std::os::unix::fs::symlink(&file, &link).with_context(|| format!("creating {}", link.display()))?;
            println!("added `{name}` ({}, {}) -> {}", info.architecture, human_size(info.file_size), file.display());
        }
        ModelsCommand::Rm { name } => {
            let link = dir.join(format!("{name}.gguf"));
            match link.symlink_metadata() {
                Ok(meta) if meta.file_type().is_symlink() => {
                    std::fs::remove_file(&link).with_context(|| format!("removing {}", link.display()))?;
                    println!("removed `{name}`");
                }
                Ok(_) => bail!(
                    "{} is a real file, not a link made by `sov models add`; delete it yourself if you mean to",
                    link.display()
                ),
                Err(_) if config.models.contains_key(&name) => {
                    bail!("`{name}` is defined in the config file ({}); edit it there", paths.config_file.display())
                }
                Err(_) => bail!("no model named `{name}` in {}", dir.display()),
            }
        }
    }
    Ok(0)
}

fn human_size(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / f64::from(1 << 20))
}
