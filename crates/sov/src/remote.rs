//! `sov attest …`, `sov sanitize` and `sov ask --remote`: the private remote path
//! ([`sov_private`]) at the terminal.

use std::io::{IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use sov_core::config::Config;
use sov_core::paths::Paths;

/// `sov attest …`
#[derive(Debug, Subcommand)]
pub enum AttestCommand {
    /// Verify a provider's attestation bundle, or a raw TDX/SGX quote or SEV-SNP report, and
    /// print the verdict: TCB status, measurements, the key it binds. Exit 0 only if it verifies.
    ///
    /// The policy is the config's `[attest]` section: only `UpToDate` platforms and only the
    /// measurements listed there. Nothing is fetched: collateral comes with a bundle or as a file.
    Verify {
        /// A bundle (JSON, as a provider serves it at /.well-known/sovereign-attestation), a raw
        /// or hex Intel quote, or a raw or hex SEV-SNP report.
        file: PathBuf,
        /// For a quote: the collateral JSON (dcap-qvl's QuoteCollateralV3). For an SNP report: the
        /// VCEK certificate, or a directory with vcek*.der and its cert_chain*.
        #[arg(long, value_name = "FILE")]
        collateral: Option<PathBuf>,
        /// Verify as of this time (RFC 3339, e.g. 2025-07-01T00:00:00Z) instead of now.
        #[arg(long, value_name = "TIME")]
        at: Option<String>,
        /// Also accept this TCB status (e.g. SWHardeningNeeded); repeatable.
        #[arg(long = "allow-status", value_name = "STATUS")]
        allow_status: Vec<String>,
        /// Also print the measurements of an image the allowlist refuses, as `[attest]` lines
        /// to add once you trust it. The exit status is still 1 unless it verifies.
        #[arg(long)]
        print_measurements: bool,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
}

pub use sov_private::attest_policy;

/// `sov attest …`
pub fn attest(cmd: AttestCommand, config: &Config) -> Result<i32> {
    match cmd {
        AttestCommand::Verify { file, collateral, at, allow_status, print_measurements, json } => {
            let mut policy = attest_policy(config)?;
            for status in &allow_status {
                policy = policy.with_allowed_status(status)?;
            }
            let at = match &at {
                Some(text) => sov_attest::parse_rfc3339(text)
                    .map_err(|e| anyhow::anyhow!("--at `{text}`: {e}; write e.g. 2025-07-01T00:00:00Z"))?,
                None => SystemTime::now(),
            };
            let path = Path::new(&file);
            let verified = sov_attest::verify_file(path, collateral.as_deref(), at, &policy);
            // With --print-measurements an image the allowlist refuses is still shown (its
            // measurements are what to add), but the exit status says it is not trusted: a
            // script that checks only the status must never take it for a verified one.
            let (verdict, refused) = match verified {
                Ok(verdict) => (verdict, None),
                Err(refusal) if print_measurements => {
                    let verdict = sov_attest::inspect_file(path, collateral.as_deref(), at, &policy)
                        .with_context(|| format!("{} does not verify", file.display()))?;
                    (verdict, Some(refusal))
                }
                Err(e) => return Err(e).with_context(|| format!("{} does not verify", file.display())),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&verdict)?);
            } else {
                let text = verdict.to_string();
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            }
            match refused {
                None => Ok(0),
                Some(refusal) => {
                    eprintln!(
                        "sov: {} is genuine but NOT trusted: {refusal}; add its measurements to [attest] once you trust this image",
                        file.display()
                    );
                    Ok(1)
                }
            }
        }
    }
}

/// `sov sanitize` flags.
#[derive(Debug, clap::Args)]
pub struct SanitizeArgs {
    /// Show the input with each replacement marked ({-private-}{+[EMAIL_1]+}) instead of only
    /// what would leave.
    #[arg(long)]
    pub diff: bool,
    /// Also ask this local model (via the running `sov serve`) for names, addresses and other
    /// private facts [default: `[sanitize] model`; empty: rules only].
    #[arg(long, value_name = "NAME")]
    pub model: Option<String>,
}

/// `sov sanitize`: reads text on stdin and prints exactly what would leave the machine.
pub fn sanitize(args: &SanitizeArgs, config: &Config) -> Result<i32> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading the text from stdin")?;
    let model = args.model.clone().unwrap_or_else(|| config.sanitize.model.clone());
    let base = format!("http://{}", config.serve.listen);
    let redactor = sov_private::Redactor::new(config, &model, &base)?;
    let mut map = sov_sanitize::Map::new();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let text = runtime
        .block_on(redactor.redact(&text, &mut map))
        .with_context(|| format!("asking the local model {model} at {base} (is `sov serve` running?)"))?;
    let sanitized = sov_sanitize::Sanitized { text, map };
    let style = if args.diff { sov_sanitize::DiffStyle::Inline } else { sov_sanitize::DiffStyle::Plain };
    print!("{}", sov_sanitize::render_diff(&sanitized.text, &sanitized.map, style));
    if args.diff {
        eprintln!("{} replacement(s); the map stays on this machine", sanitized.map.len());
    }
    Ok(0)
}

/// `sov ask --remote NAME QUESTION`: the question, sanitised, to an attested provider, paid with
/// a ZK-API ticket, over the configured transport; the answer streams back restored.
pub fn ask_remote(
    name: &str,
    question: &str,
    client: &crate::llm::ClientArgs,
    yes: bool,
    config: &Config,
    paths: &Paths,
) -> Result<i32> {
    let Some(remote) = config.remote.get(name) else {
        let known: Vec<&str> = config.remote.keys().map(String::as_str).collect();
        bail!(
            "no remote model `{name}` in the config; configured: [{}]. Add a [remote.{name}] section (see `sov config init`)",
            known.join(", ")
        );
    };
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async {
        let base = format!("http://{}", config.serve.listen);
        let redactor = sov_private::Redactor::new(config, &config.sanitize.model, &base)?;
        let mut map = sov_sanitize::Map::new();
        let mut messages = Vec::new();
        if let Some(system) = &client.system {
            messages.push(json!({"role": "system", "content": redactor.redact(system, &mut map).await?}));
        }
        let sent_question = redactor.redact(question, &mut map).await?;
        messages.push(json!({"role": "user", "content": sent_question}));
        eprintln!("to {name} ({}), exactly this leaves the machine:\n{sent_question}", remote.url);
        if !yes {
            if !std::io::stdin().is_terminal() {
                bail!("not sent: confirm at a terminal, or pass --yes to send without asking");
            }
            eprint!("send? [y/N] ");
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !answer.trim().eq_ignore_ascii_case("y") {
                eprintln!("not sent");
                return Ok(1);
            }
        }

        let body = crate::llm::streamed_chat(client, &remote.model, &messages);
        let cache = Arc::new(sov_attest::Cache::new());
        let payers = sov_private::Payers::new();
        let net = crate::net::open(config, paths)?;
        crate::net::ready(&net, sov_private::transport(&net, config, name, remote)?.route()).await?;
        let response = sov_private::send_private(name, remote, &body, cache, &payers, config, paths, &net).await?;
        let status = response.status;
        let mut restorer = map.restorer();
        let mut out = std::io::stdout();
        match response.body {
            sov_remote::RemoteBody::Whole(bytes) => {
                if !status.is_success() {
                    bail!("{name} answered {status}: {}", String::from_utf8_lossy(&bytes));
                }
                let answer: Value = serde_json::from_slice(&bytes).context("the remote answer is not JSON")?;
                let text = answer["choices"][0]["message"]["content"].as_str().unwrap_or_default();
                write!(out, "{}", map.restore(text))?;
            }
            sov_remote::RemoteBody::Stream(mut stream) => {
                let mut pending = Vec::new();
                while let Some(chunk) = stream.next_chunk().await? {
                    pending.extend_from_slice(&chunk);
                    for delta in sov_private::take_events(&mut pending) {
                        if let Some(text) = delta["choices"][0]["delta"]["content"].as_str() {
                            write!(out, "{}", restorer.push(text))?;
                            out.flush()?;
                        }
                    }
                }
                if !status.is_success() {
                    bail!("{name} answered {status}: {}", String::from_utf8_lossy(&pending));
                }
            }
        }
        writeln!(out, "{}", restorer.finish())?;
        Ok(0)
    })
}
