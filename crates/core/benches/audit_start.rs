//! What the audit log's start check ([`AuditLog::check_at_start`]) costs `sov serve`'s start on a
//! log of N entries (default 100,000): without a checkpoint (the first start, or after the
//! triggers were touched: every entry verified), with one (nothing new since the last start), and
//! with one and 1,000 entries appended since; next to a full [`AuditLog::verify`].
//!
//! `cargo bench -p sov-core --bench audit_start [-- ENTRIES]`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use rusqlite::{Transaction, TransactionBehavior};
use serde_json::json;
use sov_core::audit::{AuditLog, CHECKPOINT_FILE_NAME, head_file_beside};
use sov_core::store::Store;

/// Appends `n` entries shaped like the gate's in one transaction (the bench is about reading).
fn fill(store: &Store, log: &AuditLog<'_>, from: usize, n: usize) {
    let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate).unwrap();
    let mut last = None;
    for i in from..from + n {
        let detail = json!({"id": format!("{i:032x}"), "kind": "message.send", "verdict": "approve", "reason": "the user's own address"});
        last = Some(log.record(&tx, "gate", "gate.review", &detail).unwrap());
    }
    tx.commit().unwrap();
    log.anchor(&last.unwrap()).unwrap();
}

fn best_of(runs: usize, mut f: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .min()
        .unwrap()
}

fn main() {
    let entries: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(100_000);
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sovereign.db");
    let store = Store::open(&db).unwrap();
    let log = AuditLog::new(&store, Some(head_file_beside(&db)));
    fill(&store, &log, 0, entries);
    let checkpoint = dir.path().join(CHECKPOINT_FILE_NAME);

    let full_verify = best_of(5, || assert!(log.verify().unwrap().is_intact()));
    let without = best_of(5, || {
        let _ = std::fs::remove_file(&checkpoint);
        let check = log.check_at_start(false, None).unwrap();
        assert_eq!(check.verified_after, 0);
    });
    let with = best_of(5, || {
        let check = log.check_at_start(false, None).unwrap();
        assert!(check.verified_after > 0);
    });
    let mut with_new = Duration::MAX;
    for round in 0..5 {
        fill(&store, &log, entries + round * 1000, 1000);
        let start = Instant::now();
        let check = log.check_at_start(false, None).unwrap();
        with_new = with_new.min(start.elapsed());
        assert!(check.verified_after > 0);
    }
    println!("audit start check on {entries} entries (best of 5):");
    println!("  full AuditLog::verify                     {:>9.2} ms", full_verify.as_secs_f64() * 1e3);
    println!("  start check without a checkpoint          {:>9.2} ms", without.as_secs_f64() * 1e3);
    println!("  start check with a checkpoint, none new   {:>9.2} ms", with.as_secs_f64() * 1e3);
    println!("  start check with a checkpoint, 1,000 new  {:>9.2} ms", with_new.as_secs_f64() * 1e3);
}
