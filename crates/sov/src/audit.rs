//! `sov audit …` and the audit log's check when `sov serve` (or `sov msg serve`) starts.
//!
//! The start check refuses to run on a broken log unless `--accept-broken-audit` says so (which
//! is then an entry of the log), and puts back the append-only triggers; see
//! [`sov_core::audit`], "At every start". With `audit.anchor_file` set, every start and every
//! `sov audit verify` append the head (`<ISO time> <entry count> <hash>`) to that file, kept
//! outside the data directory; `sov audit verify --anchor FILE` checks every head recorded there.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Subcommand;
use sov_core::audit::{AuditLog, AuditVerdict, GENESIS_HASH, StartCheck, anchor_line, append_anchor};
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_core::store::Store;

/// `sov audit …`
#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Check every entry's hash and the chain between them, print the head (entry count and
    /// hash) to keep elsewhere; exit 1 if anything was edited, dropped, reordered or truncated.
    ///
    /// With `audit.anchor_file` set, that file is checked and the head appended to it. Someone
    /// who can write the data directory can cut the log's end and rewrite audit.head to match;
    /// only a head kept outside it shows that.
    Verify {
        /// Check that every head recorded in FILE (lines `<ISO time> <count> <hash>`, as
        /// `audit.anchor_file` collects them) is still part of the log (default: the
        /// configured `audit.anchor_file`).
        #[arg(long, value_name = "FILE")]
        anchor: Option<PathBuf>,
    },
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

fn anchor_file(config: &Config) -> Option<&Path> {
    let file = config.audit.anchor_file.as_path();
    (!file.as_os_str().is_empty()).then_some(file)
}

/// The audit log's start check for `sov serve`: verifies what was appended since the last
/// start (all of it when the triggers were touched or there is no checkpoint), refuses a broken
/// log unless `accept_broken`, restores the triggers, anchors the head.
pub fn check_at_start(config: &Config, paths: &Paths, accept_broken: bool) -> Result<StartCheck> {
    let store = Store::open(&paths.database())?;
    let log = AuditLog::new(&store, Some(paths.audit_head()));
    let started = std::time::Instant::now();
    let check = log.check_at_start(accept_broken, anchor_file(config))?;
    tracing::info!(
        verified_after = check.verified_after,
        head = ?check.head,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "audit log checked"
    );
    if let Some((seq, problem)) = &check.accepted {
        eprintln!(
            "sov serve: WARNING: running on a broken audit log (entry {seq}: {problem}), as --accept-broken-audit asked; this is recorded in the log"
        );
    }
    if !check.restored_triggers.is_empty() {
        eprintln!(
            "sov serve: WARNING: the audit log's append-only triggers had been changed ({}); restored them. Someone edited the database directly: run `sov audit verify`",
            check.restored_triggers.join(", ")
        );
    }
    Ok(check)
}

/// `sov audit …`
pub fn command(cmd: AuditCommand, config: &Config, paths: &Paths) -> Result<i32> {
    let store = Store::open(&paths.database())?;
    let log = AuditLog::new(&store, Some(paths.audit_head()));
    match cmd {
        AuditCommand::Verify { anchor } => verify(&log, anchor.as_deref(), anchor_file(config)),
        AuditCommand::Show { after, limit } => {
            let mut out = std::io::stdout().lock();
            for entry in log.entries(after, limit)? {
                writeln!(out, "{}", serde_json::to_string(&entry)?)?;
            }
            Ok(0)
        }
    }
}

fn verify(log: &AuditLog<'_>, check: Option<&Path>, configured: Option<&Path>) -> Result<i32> {
    let (count, hash) = match log.verify()? {
        AuditVerdict::Intact { entries, head } => {
            match &head {
                Some((seq, hash)) => println!("audit log intact: {entries} entries, head #{seq} {hash}"),
                None => println!("audit log intact: {entries} entries"),
            }
            head.unwrap_or_else(|| (0, GENESIS_HASH.to_owned()))
        }
        AuditVerdict::Broken { seq, problem } => {
            println!("audit log BROKEN at entry #{seq}: {problem}");
            return Ok(1);
        }
    };
    let repair = log.trigger_repair()?;
    if !repair.is_empty() {
        println!(
            "warning: the append-only triggers are not as Sovereign made them ({}): someone changed the database directly; `sov serve` restores them at its next start",
            repair.join(", ")
        );
    }
    if let Some(file) = check.or(configured) {
        if let Some(AuditVerdict::Broken { seq, problem }) = log.verify_anchors(file)? {
            println!("audit log BROKEN at entry #{seq}: {problem}");
            return Ok(1);
        }
        if file.exists() {
            println!("anchor file {}: every head recorded there is part of the log", file.display());
        }
    }
    let now = sov_core::now_ms();
    // The head as a line to keep elsewhere (what `audit.anchor_file` collects).
    println!("head: {}", anchor_line(now, count, &hash));
    if let Some(file) = configured {
        append_anchor(file, now, count, &hash)
            .with_context(|| format!("appending the head to audit.anchor_file {}", file.display()))?;
        println!("appended the head to {}", file.display());
    }
    Ok(0)
}
