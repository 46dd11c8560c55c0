//! How fast the nullifier stores spend tickets once they hold many: fills a store with
//! `--entries` spent nullifiers, then times spends of new nullifiers (an insert) and of spent ones
//! (a lookup that finds a replay), and prints p50/p99 latency and throughput.
//!
//! ```text
//! cargo run --release -p sov-zkapi --example store_bench -- [--entries N] [--ops N] [--threads N] [--postgres]
//! ```
//!
//! SQLite is the real [`SqliteStore`] on a file in a temporary directory (write-ahead log,
//! `synchronous=FULL`). With `--postgres`, PostgreSQL is a server of the benchmark's own, started
//! as the tests start theirs (it needs `apt-get install -y postgresql`), with its default
//! durability: every commit is flushed, as SQLite's are. Both live on the disk holding the
//! temporary directory. The fill bypasses the store (one transaction per batch, not per ticket),
//! since only the timed spends are the store's to answer for.

#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};
use ark_ff::UniformRand as _;
use common::{Durability, PgServer};
use rand::seq::SliceRandom as _;
use rln::prelude::Proof;
use sov_zkapi::field::to_bytes;
use sov_zkapi::{Fr, NullifierStore, PostgresStore, Spend, SqliteStore, Ticket};

/// Rows per transaction while filling.
const BATCH: usize = 10_000;

struct Options {
    entries: usize,
    ops: usize,
    threads: usize,
    postgres: bool,
}

/// A spent ticket's public values: nullifier, x, y.
type Row = (Fr, Fr, Fr);

fn main() -> Result<()> {
    let options = parse(std::env::args().skip(1))?;
    println!(
        "{} entries, {} timed spends of each kind on {} thread(s)\n",
        options.entries, options.ops, options.threads
    );
    let mut report = vec![format!(
        "{:<10} {:>10} {:<14} {:>9} {:>9} {:>10} {:>9}",
        "store", "entries", "spend", "p50 µs", "p99 µs", "ops/s", "fill s"
    )];

    let dir = tempfile::Builder::new().prefix("sov-store-bench-").tempdir()?;
    let path = dir.path().join("sov.db");
    let sqlite = SqliteStore::open(&path)?;
    let started = Instant::now();
    let existing = fill_sqlite(&path, options.entries, options.ops)?;
    report.extend(measure("sqlite", Arc::new(sqlite), &options, existing, started.elapsed())?);

    if options.postgres {
        eprintln!("starting PostgreSQL");
        let server = PgServer::start(Durability::Full)?;
        let store = PostgresStore::connect(&server.url())?;
        let started = Instant::now();
        let existing = fill_postgres(&server.url(), options.entries, options.ops)?;
        report.extend(measure("postgres", Arc::new(store), &options, existing, started.elapsed())?);
    }
    println!("{}", report.join("\n"));
    Ok(())
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Options> {
    let mut options = Options { entries: 1_000_000, ops: 10_000, threads: 1, postgres: false };
    while let Some(arg) = args.next() {
        let mut number = |name: &str| -> Result<usize> {
            let value = args.next().with_context(|| format!("{name} needs a number"))?;
            value.replace('_', "").parse().with_context(|| format!("{name} {value}: not a number"))
        };
        match arg.as_str() {
            "--entries" => options.entries = number("--entries")?,
            "--ops" => options.ops = number("--ops")?,
            "--threads" => options.threads = number("--threads")?.max(1),
            "--postgres" => options.postgres = true,
            other => bail!("unknown argument {other}; use --entries N, --ops N, --threads N, --postgres"),
        }
    }
    Ok(options)
}

/// `entries` random spent nullifiers, made in batches; `f` stores each batch. Returns up to
/// `keep` of the rows, spread over the whole fill, for timing replays.
fn fill(entries: usize, keep: usize, mut f: impl FnMut(&[Row]) -> Result<()>) -> Result<Vec<Row>> {
    let mut rng = rand::thread_rng();
    let every = (entries / keep.max(1)).max(1);
    let mut kept = Vec::with_capacity(keep);
    let mut batch = Vec::with_capacity(BATCH);
    for i in 0..entries {
        let row = (Fr::rand(&mut rng), Fr::rand(&mut rng), Fr::rand(&mut rng));
        if i % every == 0 && kept.len() < keep {
            kept.push(row);
        }
        batch.push(row);
        if batch.len() == BATCH || i + 1 == entries {
            f(&batch)?;
            batch.clear();
            if (i + 1) % (BATCH * 50) == 0 {
                eprintln!("  filled {}", i + 1);
            }
        }
    }
    Ok(kept)
}

fn fill_sqlite(path: &Path, entries: usize, keep: usize) -> Result<Vec<Row>> {
    eprintln!("filling SQLite with {entries} nullifiers");
    let mut conn = rusqlite::Connection::open(path)?;
    fill(entries, keep, |rows| {
        let tx = conn.transaction()?;
        {
            let mut insert = tx.prepare("INSERT INTO zkapi_spent (nullifier, x, y) VALUES (?1, ?2, ?3)")?;
            for (nullifier, x, y) in rows {
                insert.execute((to_bytes(nullifier), to_bytes(x), to_bytes(y)))?;
            }
        }
        Ok(tx.commit()?)
    })
}

fn fill_postgres(url: &str, entries: usize, keep: usize) -> Result<Vec<Row>> {
    eprintln!("filling PostgreSQL with {entries} nullifiers");
    let mut client = postgres::Client::connect(url, postgres::NoTls)?;
    let kept = fill(entries, keep, |rows| {
        let column = |i: usize| -> Vec<Vec<u8>> {
            rows.iter().map(|row| to_bytes([&row.0, &row.1, &row.2][i]).to_vec()).collect()
        };
        client.execute(
            "INSERT INTO zkapi_spent (nullifier, x, y) SELECT * FROM unnest($1::bytea[], $2::bytea[], $3::bytea[])",
            &[&column(0), &column(1), &column(2)],
        )?;
        Ok(())
    })?;
    // What a long-running server would have done by itself: statistics gathered and dirty pages
    // written, so neither lands in the timed part.
    // (Two calls: a multi-statement string is one transaction, and VACUUM refuses to run in one.)
    client.batch_execute("VACUUM ANALYZE zkapi_spent")?;
    client.batch_execute("CHECKPOINT")?;
    Ok(kept)
}

/// Times `options.ops` spends of new nullifiers, then as many of `existing` ones.
fn measure(
    name: &str,
    store: Arc<dyn NullifierStore>,
    options: &Options,
    mut existing: Vec<Row>,
    fill: Duration,
) -> Result<Vec<String>> {
    let mut rng = rand::thread_rng();
    let new: Vec<Row> =
        (0..options.ops).map(|_| (Fr::rand(&mut rng), Fr::rand(&mut rng), Fr::rand(&mut rng))).collect();
    existing.shuffle(&mut rng);
    let mut lines = Vec::new();
    for (kind, rows, expected) in [("new (insert)", new, Spend::New), ("spent (replay)", existing, Spend::Replay)] {
        eprintln!("timing {name}: {kind}");
        let (mut latencies, elapsed) = run(&store, rows, &expected, options.threads)?;
        latencies.sort_unstable();
        let quantile = |q: f64| {
            let at = ((latencies.len() as f64 * q).ceil() as usize).clamp(1, latencies.len().max(1)) - 1;
            latencies.get(at).map_or(0.0, |d| d.as_secs_f64() * 1e6)
        };
        lines.push(format!(
            "{name:<10} {:>10} {kind:<14} {:>9.1} {:>9.1} {:>10.0} {:>9.1}",
            options.entries,
            quantile(0.50),
            quantile(0.99),
            latencies.len() as f64 / elapsed.as_secs_f64(),
            fill.as_secs_f64()
        ));
    }
    let spent = store.spent()?;
    let expected = (options.entries + options.ops) as u64;
    if spent != expected {
        bail!("{name} holds {spent} spent nullifiers after the run; expected {expected}");
    }
    Ok(lines)
}

/// Spends every row on `threads` threads; each spend's latency, and the wall time of all.
fn run(
    store: &Arc<dyn NullifierStore>,
    rows: Vec<Row>,
    expected: &Spend,
    threads: usize,
) -> Result<(Vec<Duration>, Duration)> {
    let chunk = rows.len().div_ceil(threads).max(1);
    let started = Instant::now();
    let workers: Vec<_> = rows
        .chunks(chunk)
        .map(|rows| {
            let (store, rows, expected) = (store.clone(), rows.to_vec(), expected.clone());
            std::thread::spawn(move || -> Result<Vec<Duration>> {
                rows.iter()
                    .map(|&(nullifier, x, y)| {
                        let ticket = Ticket { proof: Proof::default(), root: Fr::from(0u32), nullifier, x, y };
                        let start = Instant::now();
                        let spend = store.spend(&ticket)?;
                        let took = start.elapsed();
                        if spend != expected {
                            bail!("expected {expected:?}, the store said {spend:?}");
                        }
                        Ok(took)
                    })
                    .collect()
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(rows.len());
    for worker in workers {
        match worker.join() {
            Ok(result) => latencies.extend(result?),
            Err(_) => bail!("a benchmark thread panicked"),
        }
    }
    Ok((latencies, started.elapsed()))
}
