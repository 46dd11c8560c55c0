//! `sov agent setup pi`: other agents against Sovereign. pi reads its models from
//! `~/.pi/agent/models.json` (or `$PI_CODING_AGENT_DIR/models.json`); this adds a `sovereign`
//! provider there that points at the LLM API, keeping every other provider the file has.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::Args;
use serde_json::{Value, json};
use sov_core::config::Config;

/// `sov agent setup pi` flags.
#[derive(Debug, Args)]
pub struct PiArgs {
    /// pi's configuration directory (default: $PI_CODING_AGENT_DIR, else ~/.pi/agent).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// The model names to offer pi (default: the server's models, else "default").
    #[arg(long = "model", value_name = "NAME")]
    pub models: Vec<String>,
    /// The LLM API's base URL (default: from `serve.listen`).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// The context window to tell pi (default: what the server reports, else 4096).
    #[arg(long, value_name = "TOKENS")]
    pub context: Option<u64>,
    /// Print the file instead of writing it.
    #[arg(long)]
    pub print: bool,
}

/// The `sovereign` provider entry for pi's models.json.
pub fn pi_provider(base: &str, api_key: &str, models: &[(String, Option<u64>)], context: Option<u64>) -> Value {
    let models: Vec<Value> = models
        .iter()
        .map(|(id, reported)| {
            let window = context.or(*reported).unwrap_or(4096);
            json!({
                "id": id,
                "name": format!("{id} (Sovereign, local)"),
                "reasoning": false,
                "input": ["text"],
                "contextWindow": window,
                "maxTokens": (window / 4).clamp(256, 8192),
                "cost": {"input": 0, "output": 0, "cacheRead": 0, "cacheWrite": 0},
            })
        })
        .collect();
    json!({
        "baseUrl": format!("{base}/v1"),
        "api": "openai-completions",
        "apiKey": api_key,
        // Sovereign's API is OpenAI's chat completions without OpenAI's newer extras.
        "compat": {"supportsDeveloperRole": false, "supportsStore": false, "supportsReasoningEffort": false},
        "models": models,
    })
}

/// `sov agent setup pi`
pub fn pi(args: &PiArgs, config: &Config) -> Result<i32> {
    let base = args.url.clone().unwrap_or_else(|| format!("http://{}", config.serve.listen));
    let base = base.trim_end_matches('/').trim_end_matches("/v1").to_owned();
    let key = crate::llm::api_key(config)?;
    let mut models: Vec<(String, Option<u64>)> = args.models.iter().map(|m| (m.clone(), None)).collect();
    if models.is_empty() {
        models = sov_agent::client::server_models(&base, key.as_deref());
    }
    if models.is_empty() {
        eprintln!("sov agent setup pi: {base} did not list models (is `sov serve` running?); offering \"default\"");
        models.push(("default".into(), None));
    }
    // pi needs some key; with none configured the server takes any, so say so in the value.
    let api_key = key.unwrap_or_else(|| "none-needed-on-loopback".into());
    let provider = pi_provider(&base, &api_key, &models, args.context);

    let dir = match (&args.dir, std::env::var_os("PI_CODING_AGENT_DIR")) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) => PathBuf::from(dir),
        (None, None) => PathBuf::from(std::env::var_os("HOME").context("HOME is not set")?).join(".pi/agent"),
    };
    let file = dir.join("models.json");
    let mut document: Value = match std::fs::read_to_string(&file) {
        Ok(text) => serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON; fix or move it, then run this again", file.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => json!({}),
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    };
    if !document.is_object() {
        bail!("{} is not a JSON object; fix or move it, then run this again", file.display());
    }
    if !document["providers"].is_object() {
        document["providers"] = json!({});
    }
    document["providers"]["sovereign"] = provider;
    let text = serde_json::to_string_pretty(&document)? + "\n";
    if args.print {
        print!("{text}");
        return Ok(0);
    }
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(&file, text).with_context(|| format!("writing {}", file.display()))?;
    let first = &models[0].0;
    println!("Wrote the `sovereign` provider to {}.", file.display());
    println!("Run pi in a sandbox that reaches only Sovereign's LLM API:");
    let port = base.rsplit(':').next().unwrap_or("8080");
    // pi writes auth.json (and sessions) into its directory; its code must be visible too.
    let code = pi_install_dir().map(|d| format!(" --ro {}", d.display())).unwrap_or_default();
    println!(
        "  sbox --port {port} --rw {}{code} --env PI_OFFLINE -- pi --provider sovereign --model {first}",
        dir.display()
    );
    Ok(0)
}

/// The `node_modules` directory pi is installed in, when it is outside the system directories the
/// sandbox shows anyway.
fn pi_install_dir() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let pi = std::env::split_paths(&path).map(|d| d.join("pi")).find(|p| p.is_file())?;
    let real = std::fs::canonicalize(pi).ok()?;
    let modules = real.ancestors().find(|a| a.file_name().is_some_and(|n| n == "node_modules"))?;
    (!modules.starts_with("/usr")).then(|| modules.to_owned())
}
