//! `sov attest …` and `sov sanitize`: the checks the private remote path makes, by hand.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};
use clap::Subcommand;
use sov_attest::Policy;
use sov_core::config::Config;

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
        /// Skip the measurement allowlist and print the measurements as `[attest]` lines to
        /// add, once you trust this image. Exit 0 does not mean trusted then.
        #[arg(long)]
        print_measurements: bool,
        /// Print the verdict as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// The config's `[attest]` section as a policy.
pub fn attest_policy(config: &Config) -> Result<Policy> {
    let policy: Policy =
        toml::Value::Table(config.attest.clone()).try_into().map_err(|e| anyhow::anyhow!("config [attest]: {e}"))?;
    policy.validate().context("config [attest]")?;
    Ok(policy)
}

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
            let check = if print_measurements { sov_attest::inspect_file } else { sov_attest::verify_file };
            let verdict = check(Path::new(&file), collateral.as_deref(), at, &policy)
                .with_context(|| format!("{} does not verify", file.display()))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&verdict)?);
            } else {
                let text = verdict.to_string();
                print!("{text}");
                if !text.ends_with('\n') {
                    println!();
                }
            }
            Ok(0)
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

/// The sanitiser for this user: the config's names and accounts, and the home directory.
pub fn sanitizer(config: &Config) -> Result<sov_sanitize::Sanitizer> {
    let rules = sov_sanitize::Config {
        home_dir: std::env::var_os("HOME").map(PathBuf::from),
        names: config.sanitize.names.clone(),
        accounts: config.sanitize.accounts.clone(),
        ..sov_sanitize::Config::default()
    };
    sov_sanitize::Sanitizer::new(rules).context("config [sanitize]")
}

/// `sov sanitize`: reads text on stdin and prints exactly what would leave the machine.
pub fn sanitize(args: &SanitizeArgs, config: &Config) -> Result<i32> {
    let mut text = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut text).context("reading the text from stdin")?;
    let sanitizer = sanitizer(config)?;
    let model = args.model.clone().unwrap_or_else(|| config.sanitize.model.clone());
    let sanitized = if model.is_empty() {
        sanitizer.sanitize(&text)
    } else {
        let base = format!("http://{}", config.serve.listen);
        let finder = sov_sanitize::OpenAiSpanFinder::new(&base, &model)?;
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
        runtime
            .block_on(sanitizer.sanitize_with(&text, &finder))
            .with_context(|| format!("asking the local model {model} at {base} (is `sov serve` running?)"))?
    };
    let style = if args.diff { sov_sanitize::DiffStyle::Inline } else { sov_sanitize::DiffStyle::Plain };
    print!("{}", sov_sanitize::render_diff(&sanitized.text, &sanitized.map, style));
    if args.diff {
        eprintln!("{} replacement(s); the map stays on this machine", sanitized.map.len());
    }
    Ok(0)
}
