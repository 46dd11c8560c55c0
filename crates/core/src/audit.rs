//! The hash-chained, append-only audit log.
//!
//! Every entry records who (`actor`) did what (`action`, `detail`) and when (`ts_ms`), numbered
//! by `seq` from 1 without gaps. Each entry stores the hash of the entry before it (`prev_hash`;
//! 64 zeros for the first) and its own `hash`:
//!
//! ```text
//! hash = hex(sha256("sovereign/audit-entry/v1\0"
//!                   ‖ len‖prev_hash ‖ len‖seq ‖ len‖ts_ms ‖ len‖actor ‖ len‖action ‖ len‖detail))
//! ```
//!
//! where `len` is the field's byte length as a big-endian `u64`, `seq` and `ts_ms` are big-endian
//! `i64`, and `detail` is the canonical JSON text stored in the row (object keys sorted, no
//! whitespace). The encoding is unambiguous: no two different entries hash the same input.
//!
//! After every append the latest `seq` and `hash` are written to a **head file** outside the
//! database (`<seq> <hash>\n`, mode `0600`, replaced atomically by rename).
//!
//! # What [`AuditLog::verify`] detects
//! - an entry whose stored fields were changed ([`AuditProblem::EditedEntry`]);
//! - a gap in the numbering ([`AuditProblem::MissingEntry`]);
//! - an entry that does not link to its predecessor, which is what deleting and renumbering,
//!   reordering, or rewriting an earlier entry and recomputing its hash all leave behind
//!   ([`AuditProblem::ChainMismatch`]);
//! - entries removed from the end, which leave an intact but shorter chain: the head file still
//!   names the old last entry ([`AuditProblem::TruncatedTail`]);
//! - a rewritten last entry (or head file) whose hash no longer matches the head file
//!   ([`AuditProblem::HeadMismatch`]);
//! - a head file that has gone while the table has entries ([`AuditProblem::HeadMissing`]).
//!
//! The head file may lag one entry behind the table (a crash between commit and head write); that
//! is not reported. [`AuditLog::append`] refuses to write when the head file shows truncation or
//! a rewrite, so a new entry can never overwrite the evidence.
//!
//! # At every start
//! [`AuditLog::check_at_start`] runs before a daemon (`sov serve`, `sov msg serve`) does anything
//! else, so a tampered log is noticed when Sovereign starts, not only when someone asks:
//! 1. It looks at the table's append-only triggers. If one is missing, altered, or a trigger
//!    Sovereign never creates sits on the table, someone changed the schema with raw SQL, and the
//!    whole chain is verified, however long.
//! 2. Otherwise only the entries after the **checkpoint** are verified: the `(seq, hash)` of the
//!    last entry the previous start verified, in `audit.verified` beside the head file, written
//!    like it. The checkpointed entry must still be there with that hash and recompute to it.
//!    Without a checkpoint (first start, or no head file) the whole chain is verified.
//! 3. With an anchor file (see below), every head recorded there must still be part of the log.
//! 4. On a broken log it refuses ([`Error::AuditBroken`], naming the first bad entry) and changes
//!    nothing, unless the caller accepts the break; the acceptance is then an entry of the log
//!    (`audit.accepted_broken`, naming the entry and the problem), appended even where the head
//!    file disagrees, since the entry records what the head file showed.
//! 5. Then it recreates the triggers that were missing or altered, drops foreign ones (an entry
//!    `audit.triggers_restored` says which), moves the checkpoint to the last entry and appends
//!    the head to the anchor file.
//!
//! The incremental check costs one indexed read and a hash per entry written since the last start
//! (a start after 100 000 entries: see `benches/audit_start.rs`).
//!
//! # What it cannot detect
//! Someone who can write both the database **and** the head file can rebuild a consistent log from
//! scratch, or cut the end of the log and rewrite `audit.head` to match; nothing inside the data
//! directory can tell, and the same attacker can move the checkpoint too, so an edit behind it
//! whose author also put the triggers back is found only by a full [`AuditLog::verify`]
//! (`sov audit verify`). The defence is a copy of the head **outside** the data directory:
//! `sov audit verify` prints the head (entry count and hash), and with `audit.anchor_file` set
//! (a path the user keeps elsewhere, e.g. on another machine's mount or a removable drive) each
//! start and each `sov audit verify` append a line `<ISO time> <count> <hash>` to it.
//! [`AuditLog::verify_anchors`] (`sov audit verify --anchor FILE`) then checks that every head
//! ever anchored is still a prefix of the log: a cut or a rewrite below an anchored head shows.
//! What was appended after the last anchor can still be cut unseen. Deleting the head file is
//! reported, but the next append writes a fresh one. Timestamps come from the system clock and
//! are recorded, not checked. The table's UPDATE/DELETE triggers only stop mistakes; raw access
//! to the file bypasses them, which is what the chain is for.

use std::fmt;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::types::Type;
use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::store::Store;
use crate::{Error, Result, now_ms};

/// `prev_hash` of the first entry: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Conventional name of the head file, next to the database.
pub const HEAD_FILE_NAME: &str = "audit.head";

/// Name of the start check's checkpoint file, next to the head file.
pub const CHECKPOINT_FILE_NAME: &str = "audit.verified";

/// The append-only triggers as migration 1 created them (compared with whitespace collapsed).
const TRIGGERS: [(&str, &str); 2] = [
    (
        "audit_no_update",
        "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ),
    (
        "audit_no_delete",
        "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    ),
];

/// Domain separator so an audit hash can never be confused with any other SHA-256 in Sovereign.
const DOMAIN: &[u8] = b"sovereign/audit-entry/v1\0";

const COLUMNS: &str = "seq, ts_ms, actor, action, detail, prev_hash, hash";

/// One entry of the audit log, as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEntry {
    /// Position in the log, from 1, without gaps.
    pub seq: i64,
    /// When it was appended, in milliseconds since the Unix epoch (system clock).
    pub ts_ms: i64,
    /// Who acted, e.g. `user` or `agent:<name>`.
    pub actor: String,
    /// What was done, e.g. `sandbox.exec`.
    pub action: String,
    /// Structured details of the action.
    pub detail: serde_json::Value,
    /// Hash of the previous entry ([`GENESIS_HASH`] for the first).
    pub prev_hash: String,
    /// Hash of this entry, lowercase hex SHA-256.
    pub hash: String,
}

/// Outcome of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum AuditVerdict {
    /// Every entry checks out, and so does the head file (if one is used).
    Intact {
        /// Number of entries.
        entries: u64,
        /// `(seq, hash)` of the last entry, `None` for an empty log. Keeping a copy elsewhere
        /// lets a later check detect even a consistent rewrite of database and head file.
        head: Option<(i64, String)>,
    },
    /// The first problem found, in `seq` order; the log after it was not examined.
    Broken {
        /// The entry where the problem shows.
        seq: i64,
        /// What is wrong.
        problem: AuditProblem,
    },
}

impl AuditVerdict {
    /// True for [`AuditVerdict::Intact`].
    pub fn is_intact(&self) -> bool {
        matches!(self, AuditVerdict::Intact { .. })
    }
}

impl fmt::Display for AuditVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditVerdict::Intact { entries, head: None } => {
                write!(f, "audit log intact ({entries} entries)")
            }
            AuditVerdict::Intact { entries, head: Some((seq, hash)) } => {
                write!(f, "audit log intact ({entries} entries, last is {seq} with hash {hash})")
            }
            AuditVerdict::Broken { seq, problem } => {
                write!(f, "audit log broken at entry {seq}: {problem}")
            }
        }
    }
}

/// What [`AuditLog::check_at_start`] found and did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StartCheck {
    /// Entries up to this seq had been verified before and were taken as checked (0: every
    /// entry was verified now).
    pub verified_after: i64,
    /// `(seq, hash)` of the last entry after the check (with its own entries), `None` if empty.
    pub head: Option<(i64, String)>,
    /// Triggers recreated (by name) or dropped (`drop:NAME`).
    pub restored_triggers: Vec<String>,
    /// The break that was accepted: the entry and the problem.
    pub accepted: Option<(i64, AuditProblem)>,
    /// Whether the head was appended to the anchor file.
    pub anchored: bool,
}

/// What [`AuditLog::verify`] found wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum AuditProblem {
    /// The entry's hash does not recompute from its fields: its contents were changed.
    EditedEntry,
    /// The numbering skips `expected_seq`: that entry was deleted.
    MissingEntry {
        /// The seq that should have come next.
        expected_seq: i64,
    },
    /// The entry's `prev_hash` is not the hash of the entry before it: entries were deleted and
    /// renumbered, reordered, or an earlier entry was rewritten with a recomputed hash.
    ChainMismatch,
    /// The head file names a later entry than the last one in the table: the end was cut off.
    TruncatedTail {
        /// Last seq according to the head file.
        head_seq: i64,
        /// Last seq in the table (0 when empty).
        last_seq: i64,
    },
    /// The head file's hash differs from the stored hash of the entry it names.
    HeadMismatch,
    /// The table has entries but the head file does not exist.
    HeadMissing,
    /// A head recorded earlier (a line of the anchor file, or the start check's checkpoint) is no
    /// longer part of the log: entries up to it were cut or rewritten, and the chain and the head
    /// file were made consistent again.
    NotAPrefix {
        /// Where the head was recorded, e.g. `anchor file /mnt/usb/sov.anchor, line 3`.
        recorded_in: String,
        /// The number of entries the log had then.
        count: i64,
        /// The hash of its last entry then.
        hash: String,
        /// The number of entries the log has now.
        last_seq: i64,
    },
}

impl fmt::Display for AuditProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditProblem::EditedEntry => {
                f.write_str("the entry was changed after it was written (its hash does not match its contents)")
            }
            AuditProblem::MissingEntry { expected_seq } => {
                write!(f, "entry {expected_seq} is missing (the numbering skips it, so it was deleted)")
            }
            AuditProblem::ChainMismatch => f.write_str(
                "the entry does not link to the one before it (entries were deleted, reordered, \
                 or an earlier entry was rewritten)",
            ),
            AuditProblem::TruncatedTail { head_seq, last_seq } => write!(
                f,
                "the log ends at entry {last_seq} but the head file records entry {head_seq} \
                 (entries at the end were deleted)"
            ),
            AuditProblem::HeadMismatch => f.write_str(
                "the head file records a different hash for this entry (the entry or the head \
                 file was rewritten)",
            ),
            AuditProblem::HeadMissing => f.write_str(
                "the head file is missing although the log has entries (deleted entries at the \
                 end would go unnoticed)",
            ),
            AuditProblem::NotAPrefix { recorded_in, count, hash, last_seq } => write!(
                f,
                "{recorded_in} recorded the log at {count} entries ending in hash {hash}, which is no longer \
                 part of it (it now has {last_seq} entries): entries were cut or rewritten, together with the \
                 head file"
            ),
        }
    }
}

/// The audit log on a [`Store`], with an optional head file.
#[derive(Debug)]
pub struct AuditLog<'a> {
    store: &'a Store,
    head_file: Option<PathBuf>,
}

impl<'a> AuditLog<'a> {
    /// An audit log on `store`. With `head_file` (normally [`head_file_beside`] the database),
    /// truncation of the table's end is detected; without it (tests, in-memory stores) only the
    /// chain itself is checked.
    pub fn new(store: &'a Store, head_file: Option<PathBuf>) -> AuditLog<'a> {
        AuditLog { store, head_file }
    }

    /// The head file, if one is used.
    pub fn head_file(&self) -> Option<&Path> {
        self.head_file.as_deref()
    }

    /// Appends an entry and returns it as stored.
    ///
    /// Runs in one IMMEDIATE transaction (so concurrent writers are serialised and `seq` stays
    /// contiguous), then replaces the head file. Refuses with [`Error::AuditTampered`] if the
    /// head file shows that entries were removed or rewritten. If the head file cannot be written
    /// the entry is already committed and the I/O error is returned; the next append repairs
    /// the head.
    pub fn append(&self, actor: &str, action: &str, detail: &serde_json::Value) -> Result<AuditEntry> {
        let db = |e| self.store.db_error(e);
        let tx = Transaction::new_unchecked(self.store.conn(), TransactionBehavior::Immediate).map_err(db)?;
        let entry = self.record(&tx, actor, action, detail)?;
        tx.commit().map_err(db)?;
        self.anchor(&entry)?;
        Ok(entry)
    }

    /// Appends an entry inside the caller's transaction `tx`, so the entry commits (or rolls
    /// back) together with the change it records. `tx` must be IMMEDIATE (or already hold the
    /// write lock) and be on this log's store. After committing, call [`AuditLog::anchor`] with
    /// the entry to move the head file forward.
    pub fn record(
        &self,
        tx: &Transaction<'_>,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
    ) -> Result<AuditEntry> {
        self.record_after_head_check(tx, actor, action, detail, true)
    }

    fn record_after_head_check(
        &self,
        tx: &Transaction<'_>,
        actor: &str,
        action: &str,
        detail: &serde_json::Value,
        check_head: bool,
    ) -> Result<AuditEntry> {
        let db = |e| self.store.db_error(e);
        // Cached statements: the gate records an entry with every decision, on its hot path.
        let last: Option<(i64, String)> = tx
            .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")
            .and_then(|mut stmt| stmt.query_row([], |row| Ok((row.get(0)?, row.get(1)?))).optional())
            .map_err(db)?;
        if check_head {
            self.check_head_before_append(tx, last.as_ref().map_or(0, |(seq, _)| *seq))?;
        }

        let (seq, prev_hash) = match last {
            Some((seq, hash)) => (seq + 1, hash),
            None => (1, GENESIS_HASH.to_owned()),
        };
        let ts_ms = now_ms();
        let detail_json = canonical_json(detail);
        let hash = entry_hash(&prev_hash, seq, ts_ms, actor, action, &detail_json);
        tx.prepare_cached(&format!("INSERT INTO audit ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"))
            .and_then(|mut stmt| stmt.execute(params![seq, ts_ms, actor, action, detail_json, prev_hash, hash]))
            .map_err(db)?;
        tracing::debug!(seq, actor, action, "audit entry recorded");
        Ok(AuditEntry {
            seq,
            ts_ms,
            actor: actor.to_owned(),
            action: action.to_owned(),
            detail: detail.clone(),
            prev_hash,
            hash,
        })
    }

    /// Moves the head file to `entry` once the transaction that recorded it has committed.
    /// Anchoring an older entry than the head already names is a no-op, so callers that commit
    /// concurrently cannot move the head backwards.
    pub fn anchor(&self, entry: &AuditEntry) -> Result<()> {
        match &self.head_file {
            Some(path) => anchor_head(path, entry),
            None => Ok(()),
        }
    }

    /// Up to `limit` entries with `seq > after_seq`, in `seq` order. Does not verify them.
    pub fn entries(&self, after_seq: i64, limit: usize) -> Result<Vec<AuditEntry>> {
        let db = |e| self.store.db_error(e);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut stmt = self
            .store
            .conn()
            .prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2"))
            .map_err(db)?;
        let rows = stmt
            .query_map(params![after_seq, limit], |row| {
                let raw = RawEntry::from_row(row)?;
                let detail = serde_json::from_str(&raw.detail)
                    .map_err(|e| rusqlite::Error::FromSqlConversionFailure(4, Type::Text, Box::new(e)))?;
                Ok(AuditEntry {
                    seq: raw.seq,
                    ts_ms: raw.ts_ms,
                    actor: raw.actor,
                    action: raw.action,
                    detail,
                    prev_hash: raw.prev_hash,
                    hash: raw.hash,
                })
            })
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    /// Walks every entry in `seq` order and checks numbering, chain and hashes, then the head
    /// file. Returns the first problem found; `Err` only when the check itself could not run
    /// (database unreadable, head file unreadable or malformed).
    pub fn verify(&self) -> Result<AuditVerdict> {
        match self.verify_since(None)? {
            Some(verdict) => Ok(verdict),
            // Unreachable without a checkpoint; answer as an empty walk would.
            None => Ok(AuditVerdict::Intact { entries: 0, head: None }),
        }
    }

    /// Like [`AuditLog::verify`], but from the entry `checkpoint` names (`(seq, hash)`, verified
    /// before) on: that entry must still recompute to that hash, and every later one must link.
    /// `None` when the checkpointed entry is not there with that hash.
    fn verify_since(&self, checkpoint: Option<&(i64, String)>) -> Result<Option<AuditVerdict>> {
        let db = |e| self.store.db_error(e);
        // Read the head before the table: the head only ever names committed entries, so a
        // concurrent append cannot make it look ahead of the table we read next.
        let head = match &self.head_file {
            Some(path) => read_head(path)?,
            None => None,
        };
        let conn = self.store.conn();
        let (from_seq, checkpoint_hash) = match checkpoint {
            Some((seq, hash)) => (*seq, Some(hash.as_str())),
            None => (1, None),
        };
        // A head older than the checkpoint (it lags a crash's last entries) is looked up alone.
        let mut hash_at_head_seq: Option<String> = match &head {
            Some((head_seq, _)) if *head_seq < from_seq => conn
                .query_row("SELECT hash FROM audit WHERE seq = ?1", [head_seq], |row| row.get(0))
                .optional()
                .map_err(db)?,
            _ => None,
        };
        let mut stmt =
            conn.prepare_cached(&format!("SELECT {COLUMNS} FROM audit WHERE seq >= ?1 ORDER BY seq")).map_err(db)?;
        // One statement reads one consistent snapshot.
        let mut rows = stmt.query([from_seq]).map_err(db)?;
        let mut expected_seq = from_seq;
        let mut prev_hash = GENESIS_HASH.to_owned();
        if let Some(hash) = checkpoint_hash {
            let Some(row) = rows.next().map_err(db)? else { return Ok(None) };
            let raw = RawEntry::from_row(row).map_err(db)?;
            if raw.seq != from_seq || raw.hash != hash || check_entry(&raw, from_seq, &raw.prev_hash).is_some() {
                return Ok(None);
            }
            if head.as_ref().is_some_and(|(seq, _)| *seq == raw.seq) {
                hash_at_head_seq = Some(raw.hash.clone());
            }
            prev_hash = raw.hash;
            expected_seq += 1;
        }
        while let Some(row) = rows.next().map_err(db)? {
            let raw = RawEntry::from_row(row).map_err(db)?;
            if let Some(problem) = check_entry(&raw, expected_seq, &prev_hash) {
                return Ok(Some(AuditVerdict::Broken { seq: raw.seq, problem }));
            }
            if head.as_ref().is_some_and(|(seq, _)| *seq == raw.seq) {
                hash_at_head_seq = Some(raw.hash.clone());
            }
            prev_hash = raw.hash;
            expected_seq += 1;
        }
        let last_seq = expected_seq - 1;
        // The numbering is contiguous from 1 (verified up to the checkpoint before).
        let entries = u64::try_from(last_seq).unwrap_or(0);
        let last = (entries > 0).then_some((last_seq, prev_hash));

        if self.head_file.is_some()
            && let Some(verdict) = judge_head(head, last_seq, hash_at_head_seq.as_deref())
        {
            return Ok(Some(verdict));
        }
        Ok(Some(AuditVerdict::Intact { entries, head: last }))
    }

    /// Checks that every head recorded in `records` (`(where, count, hash)`) is still part of
    /// the log: entry `count` has hash `hash` (for a count of 0, the hash is [`GENESIS_HASH`]).
    /// On an intact chain ([`AuditLog::verify`]) that means the first `count` entries are exactly
    /// those that were there when the head was recorded. Answers the first that is not.
    pub fn verify_recorded_heads(&self, records: &[(String, i64, String)]) -> Result<Option<AuditVerdict>> {
        let db = |e| self.store.db_error(e);
        let conn = self.store.conn();
        let last_seq: i64 =
            conn.query_row("SELECT coalesce(max(seq), 0) FROM audit", [], |row| row.get(0)).map_err(db)?;
        let mut stmt = conn.prepare_cached("SELECT hash FROM audit WHERE seq = ?1").map_err(db)?;
        for (recorded_in, count, hash) in records {
            let found: Option<String> = match *count {
                0 => Some(GENESIS_HASH.to_owned()),
                n => stmt.query_row([n], |row| row.get(0)).optional().map_err(db)?,
            };
            if found.as_deref() != Some(hash.as_str()) {
                let problem = AuditProblem::NotAPrefix {
                    recorded_in: recorded_in.clone(),
                    count: *count,
                    hash: hash.clone(),
                    last_seq,
                };
                return Ok(Some(AuditVerdict::Broken { seq: (*count).min(last_seq + 1).max(1), problem }));
            }
        }
        Ok(None)
    }

    /// Checks the anchor file at `path` (see the module docs): every line's head must still be
    /// part of the log. A missing file has nothing to check. Call after an intact
    /// [`AuditLog::verify`]; `Ok(None)` when every anchored head is a prefix of the log.
    pub fn verify_anchors(&self, path: &Path) -> Result<Option<AuditVerdict>> {
        let records = read_anchors(path)?;
        self.verify_recorded_heads(&records)
    }

    /// The start-up check; see the module docs ("At every start"). With `accept_broken`, a broken
    /// log is accepted and the acceptance recorded; without it a broken log is refused with
    /// [`Error::AuditBroken`] and nothing is changed. `anchor_file` is `audit.anchor_file`.
    pub fn check_at_start(&self, accept_broken: bool, anchor_file: Option<&Path>) -> Result<StartCheck> {
        let db = |e| self.store.db_error(e);
        let triggers = self.trigger_repair()?;
        let checkpoint_file = self.checkpoint_file();
        let checkpoint = match (&checkpoint_file, triggers.is_empty()) {
            (Some(path), true) => read_head(path)?,
            _ => None,
        };
        let (mut verdict, verified_after) = match self.verify_since(checkpoint.as_ref())? {
            Some(verdict) => (verdict, checkpoint.as_ref().map_or(0, |(seq, _)| *seq)),
            None => {
                // The checkpointed entry is gone or changed: walk it all, and if the chain is
                // consistent by itself, it was rebuilt below the checkpoint.
                let full = self.verify()?;
                match (&full, &checkpoint, &checkpoint_file) {
                    (AuditVerdict::Intact { .. }, Some((seq, hash)), Some(path)) => {
                        let record = (format!("the start check's checkpoint {}", path.display()), *seq, hash.clone());
                        (self.verify_recorded_heads(&[record])?.unwrap_or(full), 0)
                    }
                    _ => (full, 0),
                }
            }
        };
        if verdict.is_intact()
            && let Some(path) = anchor_file
            && let Some(broken) = self.verify_anchors(path)?
        {
            verdict = broken;
        }
        let mut accepted = None;
        if let AuditVerdict::Broken { seq, problem } = &verdict {
            if !accept_broken {
                return Err(Error::AuditBroken { seq: *seq, problem: problem.clone() });
            }
            tracing::warn!(seq, %problem, "starting on a broken audit log, as --accept-broken-audit asks");
            let detail = serde_json::json!({"seq": seq, "problem": problem, "description": problem.to_string()});
            let tx = Transaction::new_unchecked(self.store.conn(), TransactionBehavior::Immediate).map_err(db)?;
            let entry = self.record_after_head_check(&tx, "user", "audit.accepted_broken", &detail, false)?;
            tx.commit().map_err(db)?;
            if let Some(path) = &self.head_file {
                write_head(path, entry.seq, &entry.hash)?;
            }
            accepted = Some((*seq, problem.clone()));
        }
        if !triggers.is_empty() {
            self.restore_triggers(&triggers)?;
        }
        let last: Option<(i64, String)> = self
            .store
            .conn()
            .query_row("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1", [], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()
            .map_err(db)?;
        if let (Some(path), Some((seq, hash))) = (&checkpoint_file, &last) {
            write_head(path, *seq, hash)?;
        }
        let (count, hash) = last.clone().unwrap_or_else(|| (0, GENESIS_HASH.to_owned()));
        let anchored = match anchor_file {
            Some(path) => match append_anchor(path, now_ms(), count, &hash) {
                Ok(()) => true,
                Err(e) => {
                    tracing::warn!("the audit head was not anchored: {e}");
                    false
                }
            },
            None => false,
        };
        Ok(StartCheck { verified_after, head: last, restored_triggers: triggers, accepted, anchored })
    }

    /// The checkpoint file of the start check, beside the head file (none without one).
    pub fn checkpoint_file(&self) -> Option<PathBuf> {
        self.head_file.as_ref().map(|head| head.with_file_name(CHECKPOINT_FILE_NAME))
    }

    /// The triggers on the audit table that are not as Sovereign creates them: missing or
    /// altered ones by name, and foreign ones (Sovereign creates no others) as `drop:NAME`.
    pub fn trigger_repair(&self) -> Result<Vec<String>> {
        let db = |e| self.store.db_error(e);
        let mut stmt = self
            .store
            .conn()
            .prepare("SELECT name, coalesce(sql, '') FROM sqlite_schema WHERE type = 'trigger' AND tbl_name = 'audit'")
            .map_err(db)?;
        let found = stmt
            .query_map([], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(db)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db)?;
        Ok(triggers_to_repair(&found))
    }

    /// Recreates the triggers [`AuditLog::trigger_repair`] named and drops the foreign ones, in
    /// one transaction with an `audit.triggers_restored` entry saying so.
    fn restore_triggers(&self, repair: &[String]) -> Result<()> {
        let db = |e| self.store.db_error(e);
        let tx = Transaction::new_unchecked(self.store.conn(), TransactionBehavior::Immediate).map_err(db)?;
        for item in repair {
            let name = item.strip_prefix("drop:").unwrap_or(item);
            tx.execute_batch(&format!("DROP TRIGGER IF EXISTS \"{}\"", name.replace('"', "\"\""))).map_err(db)?;
            if let Some((_, sql)) = TRIGGERS.iter().find(|(n, _)| *n == item.as_str()) {
                tx.execute_batch(sql).map_err(db)?;
            }
        }
        let restored: Vec<&str> = repair.iter().filter(|i| !i.starts_with("drop:")).map(String::as_str).collect();
        let dropped: Vec<&str> = repair.iter().filter_map(|i| i.strip_prefix("drop:")).collect();
        tracing::warn!(?restored, ?dropped, "the audit log's append-only triggers had been changed; restored them");
        let entry = self.record(
            &tx,
            "sov",
            "audit.triggers_restored",
            &serde_json::json!({"restored": restored, "dropped": dropped}),
        )?;
        tx.commit().map_err(db)?;
        self.anchor(&entry)
    }

    /// Inside the append transaction: refuse if the head file shows truncation or a rewrite.
    /// A missing head file is accepted (the append writes a new one); see the module docs.
    fn check_head_before_append(&self, tx: &Transaction<'_>, last_seq: i64) -> Result<()> {
        let Some(path) = &self.head_file else {
            return Ok(());
        };
        let Some((head_seq, head_hash)) = read_head(path)? else {
            return Ok(());
        };
        let stored: Option<String> = if head_seq <= last_seq {
            tx.prepare_cached("SELECT hash FROM audit WHERE seq = ?1")
                .and_then(|mut stmt| stmt.query_row([head_seq], |row| row.get(0)).optional())
                .map_err(|e| self.store.db_error(e))?
        } else {
            None
        };
        let problem = if head_seq > last_seq {
            AuditProblem::TruncatedTail { head_seq, last_seq }
        } else if stored.as_deref() != Some(head_hash.as_str()) {
            AuditProblem::HeadMismatch
        } else {
            return Ok(());
        };
        Err(Error::AuditTampered { seq: head_seq.min(last_seq + 1), problem })
    }
}

/// Moves the head file `path` to `entry` (committed), unless it already names that entry or a
/// later one. For writers that anchor off their hot path; see [`AuditLog::anchor`].
pub fn anchor_head(path: &Path, entry: &AuditEntry) -> Result<()> {
    if read_head(path)?.is_some_and(|(seq, _)| seq >= entry.seq) {
        return Ok(());
    }
    write_head(path, entry.seq, &entry.hash)
}

/// The conventional head file for the database at `db_path`: [`HEAD_FILE_NAME`] in the same
/// directory.
pub fn head_file_beside(db_path: &Path) -> PathBuf {
    db_path.parent().unwrap_or_else(|| Path::new("")).join(HEAD_FILE_NAME)
}

/// A row as stored, with `detail` as its JSON text (hashes are over the text, not a re-encoding).
struct RawEntry {
    seq: i64,
    ts_ms: i64,
    actor: String,
    action: String,
    detail: String,
    prev_hash: String,
    hash: String,
}

impl RawEntry {
    /// Reads a row selected with [`COLUMNS`].
    fn from_row(row: &Row<'_>) -> rusqlite::Result<RawEntry> {
        Ok(RawEntry {
            seq: row.get(0)?,
            ts_ms: row.get(1)?,
            actor: row.get(2)?,
            action: row.get(3)?,
            detail: row.get(4)?,
            prev_hash: row.get(5)?,
            hash: row.get(6)?,
        })
    }
}

/// Checks one entry against its expected position and predecessor. Numbering first (a gap is
/// the most specific finding), then the link (which names reordering and renumbering), then the
/// entry's own hash.
fn check_entry(raw: &RawEntry, expected_seq: i64, prev_hash: &str) -> Option<AuditProblem> {
    if raw.seq != expected_seq {
        return Some(AuditProblem::MissingEntry { expected_seq });
    }
    if raw.prev_hash != prev_hash {
        return Some(AuditProblem::ChainMismatch);
    }
    let recomputed = entry_hash(&raw.prev_hash, raw.seq, raw.ts_ms, &raw.actor, &raw.action, &raw.detail);
    if recomputed != raw.hash {
        return Some(AuditProblem::EditedEntry);
    }
    None
}

/// Compares the head file with an intact chain whose last seq is `last_seq` (0 when empty) and
/// whose entry at the head's seq has `hash_at_head_seq`. `None` when they agree.
fn judge_head(head: Option<(i64, String)>, last_seq: i64, hash_at_head_seq: Option<&str>) -> Option<AuditVerdict> {
    let broken = |seq, problem| Some(AuditVerdict::Broken { seq, problem });
    match head {
        None if last_seq > 0 => broken(last_seq, AuditProblem::HeadMissing),
        None => None,
        Some((head_seq, _)) if head_seq > last_seq => {
            broken(last_seq + 1, AuditProblem::TruncatedTail { head_seq, last_seq })
        }
        Some((head_seq, head_hash)) if hash_at_head_seq != Some(head_hash.as_str()) => {
            broken(head_seq, AuditProblem::HeadMismatch)
        }
        Some(_) => None,
    }
}

/// Which of the audit table's triggers `found` (`(name, sql)` from `sqlite_schema`) need
/// repair: each of [`TRIGGERS`] that is missing or whose SQL differs (whitespace aside), by
/// name, then every other trigger on the table as `drop:NAME`.
fn triggers_to_repair(found: &[(String, String)]) -> Vec<String> {
    let squeeze = |sql: &str| sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut repair: Vec<String> = TRIGGERS
        .iter()
        .filter(|(name, sql)| !found.iter().any(|(n, s)| n == name && squeeze(s) == squeeze(sql)))
        .map(|(name, _)| (*name).to_owned())
        .collect();
    let mut foreign: Vec<String> = found
        .iter()
        .filter(|(n, _)| !TRIGGERS.iter().any(|(name, _)| name == n))
        .map(|(n, _)| format!("drop:{n}"))
        .collect();
    foreign.sort();
    repair.extend(foreign);
    repair
}

/// `ms` since the Unix epoch as an ISO 8601 UTC time, `2023-11-14T22:13:20Z`.
pub fn iso_utc(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// One line of an anchor file: `<ISO time> <count> <hash>`.
pub fn anchor_line(ms: i64, count: i64, hash: &str) -> String {
    format!("{} {count} {hash}", iso_utc(ms))
}

/// Parses one anchor file line into `(count, hash)`.
fn parse_anchor_line(line: &str) -> std::result::Result<(i64, String), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [time, count, hash] = fields[..] else {
        return Err("it is not `<ISO time> <entry count> <hash>`".to_owned());
    };
    if !time.ends_with('Z') || !time.contains('T') {
        return Err(format!("`{time}` is not an ISO 8601 UTC time"));
    }
    let count: i64 =
        count.parse().ok().filter(|c| *c >= 0).ok_or_else(|| format!("`{count}` is not an entry count"))?;
    let is_hex = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !is_hex {
        return Err("the hash is not 64 lowercase hex digits".to_owned());
    }
    Ok((count, hash.to_owned()))
}

/// Every head in the anchor file at `path`, as `(where, count, hash)`; blank lines and `#`
/// comments are skipped, a missing file holds none.
fn read_anchors(path: &Path) -> Result<Vec<(String, i64, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(Error::Io { action: "reading audit anchor file", path: path.to_path_buf(), source }),
    };
    let mut records = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (count, hash) = parse_anchor_line(line).map_err(|message| Error::AuditAnchorMalformed {
            path: path.to_path_buf(),
            line: i + 1,
            message,
        })?;
        records.push((format!("the anchor file {}, line {}", path.display(), i + 1), count, hash));
    }
    Ok(records)
}

/// Appends `anchor_line(ms, count, hash)` to the anchor file at `path` (created `0600` if
/// missing; its directory must exist) and syncs it.
pub fn append_anchor(path: &Path, ms: i64, count: i64, hash: &str) -> Result<()> {
    let io = |action, source| Error::Io { action, path: path.to_path_buf(), source };
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io("opening audit anchor file", e))?;
    file.write_all(format!("{}\n", anchor_line(ms, count, hash)).as_bytes())
        .map_err(|e| io("writing audit anchor file", e))?;
    file.sync_all().map_err(|e| io("syncing audit anchor file", e))
}

/// The hash of an entry; see the module docs for the encoding.
fn entry_hash(prev_hash: &str, seq: i64, ts_ms: i64, actor: &str, action: &str, detail_json: &str) -> String {
    let mut hasher = Sha256::new();
    hasher.update(DOMAIN);
    let fields: [&[u8]; 6] = [
        prev_hash.as_bytes(),
        &seq.to_be_bytes(),
        &ts_ms.to_be_bytes(),
        actor.as_bytes(),
        action.as_bytes(),
        detail_json.as_bytes(),
    ];
    for field in fields {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hex::encode(hasher.finalize())
}

/// Compact JSON with object keys sorted at every level, whatever map order serde_json was built
/// with (another crate may enable `preserve_order`).
fn canonical_json(value: &serde_json::Value) -> String {
    fn sorted(value: &serde_json::Value) -> serde_json::Value {
        match value {
            serde_json::Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for key in keys {
                    if let Some(v) = map.get(key) {
                        out.insert(key.clone(), sorted(v));
                    }
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(items) => serde_json::Value::Array(items.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(value).to_string()
}

/// Reads the head file: `None` if it does not exist.
fn read_head(path: &Path) -> Result<Option<(i64, String)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(Error::Io { action: "reading audit head file", path: path.to_path_buf(), source });
        }
    };
    parse_head(&text).map(Some).map_err(|message| Error::AuditHeadMalformed { path: path.to_path_buf(), message })
}

/// Parses `<seq> <hash>\n`, strictly.
fn parse_head(text: &str) -> Result<(i64, String), String> {
    let line = text.strip_suffix('\n').ok_or_else(|| "it does not end with a newline".to_owned())?;
    let (seq, hash) = line.split_once(' ').ok_or_else(|| "it is not `<seq> <hash>`".to_owned())?;
    let seq: i64 = seq.parse().map_err(|_| format!("`{seq}` is not a sequence number"))?;
    if seq < 1 {
        return Err(format!("sequence number {seq} is below 1"));
    }
    let is_hex = hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if !is_hex {
        return Err("the hash is not 64 lowercase hex digits".to_owned());
    }
    Ok((seq, hash.to_owned()))
}

/// Replaces the head file atomically: a private temp file in the same directory, fsync, rename,
/// fsync of the directory.
fn write_head(path: &Path, seq: i64, hash: &str) -> Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let io = |action, source| Error::Io { action, path: path.to_path_buf(), source };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    if !dir.exists() {
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .map_err(|e| io("creating directory of audit head file", e))?;
    }
    let name = path.file_name().map_or_else(|| HEAD_FILE_NAME.into(), |n| n.to_string_lossy());
    let tmp = dir.join(format!(".{name}.{}.{}.tmp", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed)));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(|e| io("creating temporary audit head file", e))?;
        file.write_all(format!("{seq} {hash}\n").as_bytes()).map_err(|e| io("writing audit head file", e))?;
        file.sync_all().map_err(|e| io("syncing audit head file", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("replacing audit head file", e))?;
        File::open(dir).and_then(|d| d.sync_all()).map_err(|e| io("syncing directory of audit head file", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;
    use std::os::unix::fs::PermissionsExt;
    use tempfile::TempDir;

    /// A store on disk with its head file, in a temp dir that lives as long as the fixture.
    struct Fixture {
        dir: TempDir,
        store: Store,
    }

    impl Fixture {
        fn new() -> Fixture {
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(&dir.path().join("sov.db")).unwrap();
            Fixture { dir, store }
        }

        fn head_path(&self) -> PathBuf {
            head_file_beside(&self.dir.path().join("sov.db"))
        }

        fn log(&self) -> AuditLog<'_> {
            AuditLog::new(&self.store, Some(self.head_path()))
        }

        /// Appends `n` entries and returns them.
        fn fill(&self, n: i64) -> Vec<AuditEntry> {
            let log = self.log();
            (1..=n)
                .map(|i| {
                    log.append("agent:test", "sandbox.exec", &json!({ "n": i, "argv": ["ls", "-l"], "cwd": "/work" }))
                        .unwrap()
                })
                .collect()
        }

        /// Runs raw SQL the way an attacker with the file would: triggers dropped first.
        fn tamper(&self, sql: &str) {
            self.store
                .conn()
                .execute_batch(&format!(
                    "DROP TRIGGER IF EXISTS audit_no_update;
                     DROP TRIGGER IF EXISTS audit_no_delete;
                     {sql}"
                ))
                .unwrap();
        }

        fn verify(&self) -> AuditVerdict {
            self.log().verify().unwrap()
        }
    }

    fn broken(seq: i64, problem: AuditProblem) -> AuditVerdict {
        AuditVerdict::Broken { seq, problem }
    }

    #[test]
    fn empty_log_is_intact() {
        let fx = Fixture::new();
        assert_eq!(fx.verify(), AuditVerdict::Intact { entries: 0, head: None });
    }

    #[test]
    fn intact_log_of_100_entries_verifies() {
        let fx = Fixture::new();
        let appended = fx.fill(100);
        let last = appended.last().unwrap();
        assert_eq!(fx.verify(), AuditVerdict::Intact { entries: 100, head: Some((100, last.hash.clone())) });

        let stored = fx.log().entries(0, 1000).unwrap();
        assert_eq!(stored, appended);
        assert_eq!(stored[0].prev_hash, GENESIS_HASH);
        for (i, pair) in stored.windows(2).enumerate() {
            assert_eq!(pair[0].seq, i as i64 + 1);
            assert_eq!(pair[1].seq, pair[0].seq + 1);
            assert_eq!(pair[1].prev_hash, pair[0].hash);
        }
        assert_eq!(std::fs::read_to_string(fx.head_path()).unwrap(), format!("100 {}\n", last.hash));
    }

    #[test]
    fn entries_pages_in_seq_order() {
        let fx = Fixture::new();
        fx.fill(10);
        let seqs =
            |after, limit| -> Vec<i64> { fx.log().entries(after, limit).unwrap().iter().map(|e| e.seq).collect() };
        assert_eq!(seqs(3, 2), vec![4, 5]);
        assert_eq!(seqs(8, 100), vec![9, 10]);
        assert_eq!(seqs(10, 5), Vec::<i64>::new());
        assert_eq!(seqs(0, 0), Vec::<i64>::new());
    }

    #[test]
    fn edited_detail_is_detected() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.tamper(r#"UPDATE audit SET detail = '{"argv":["true"],"cwd":"/work","n":5}' WHERE seq = 5"#);
        assert_eq!(fx.verify(), broken(5, AuditProblem::EditedEntry));
    }

    #[test]
    fn edited_actor_is_detected() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.tamper("UPDATE audit SET actor = 'user' WHERE seq = 1");
        assert_eq!(fx.verify(), broken(1, AuditProblem::EditedEntry));
    }

    #[test]
    fn deleted_middle_entry_is_detected() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.tamper("DELETE FROM audit WHERE seq = 5");
        assert_eq!(fx.verify(), broken(6, AuditProblem::MissingEntry { expected_seq: 5 }));
    }

    #[test]
    fn deleted_first_entry_is_detected() {
        let fx = Fixture::new();
        fx.fill(3);
        fx.tamper("DELETE FROM audit WHERE seq = 1");
        assert_eq!(fx.verify(), broken(2, AuditProblem::MissingEntry { expected_seq: 1 }));
    }

    #[test]
    fn deleted_and_renumbered_entry_breaks_the_chain() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.tamper(
            "DELETE FROM audit WHERE seq = 5;
             UPDATE audit SET seq = seq - 1 WHERE seq > 5;",
        );
        assert_eq!(fx.verify(), broken(5, AuditProblem::ChainMismatch));
    }

    #[test]
    fn swapped_entries_are_detected() {
        let fx = Fixture::new();
        fx.fill(10);
        // Swap everything but the seq between entries 3 and 7.
        fx.tamper(
            "CREATE TEMP TABLE orig AS SELECT * FROM audit WHERE seq IN (3, 7);
             UPDATE audit SET
                 ts_ms     = (SELECT ts_ms     FROM orig WHERE orig.seq = 10 - audit.seq),
                 actor     = (SELECT actor     FROM orig WHERE orig.seq = 10 - audit.seq),
                 action    = (SELECT action    FROM orig WHERE orig.seq = 10 - audit.seq),
                 detail    = (SELECT detail    FROM orig WHERE orig.seq = 10 - audit.seq),
                 prev_hash = (SELECT prev_hash FROM orig WHERE orig.seq = 10 - audit.seq),
                 hash      = (SELECT hash      FROM orig WHERE orig.seq = 10 - audit.seq)
             WHERE seq IN (3, 7);",
        );
        assert_eq!(fx.verify(), broken(3, AuditProblem::ChainMismatch));
    }

    #[test]
    fn swapped_details_are_detected() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.tamper(
            "CREATE TEMP TABLE orig AS SELECT seq, detail FROM audit WHERE seq IN (2, 4);
             UPDATE audit SET detail = (SELECT detail FROM orig WHERE orig.seq = 6 - audit.seq)
             WHERE seq IN (2, 4);",
        );
        assert_eq!(fx.verify(), broken(2, AuditProblem::EditedEntry));
    }

    #[test]
    fn truncated_tail_is_detected_by_the_head_file() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.tamper("DELETE FROM audit WHERE seq = 10");
        assert_eq!(fx.verify(), broken(10, AuditProblem::TruncatedTail { head_seq: 10, last_seq: 9 }));
        // Without the head file the shortened chain is, by itself, consistent.
        assert!(AuditLog::new(&fx.store, None).verify().unwrap().is_intact(), "chain alone cannot see truncation");
    }

    #[test]
    fn fully_emptied_table_is_detected_by_the_head_file() {
        let fx = Fixture::new();
        fx.fill(3);
        fx.tamper("DELETE FROM audit");
        assert_eq!(fx.verify(), broken(1, AuditProblem::TruncatedTail { head_seq: 3, last_seq: 0 }));
    }

    #[test]
    fn append_after_truncation_is_refused_and_keeps_the_evidence() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.tamper("DELETE FROM audit WHERE seq >= 9");
        let err = fx.log().append("user", "noop", &json!({})).unwrap_err();
        assert!(
            matches!(
                &err,
                Error::AuditTampered { seq: 9, problem: AuditProblem::TruncatedTail { head_seq: 10, last_seq: 8 } }
            ),
            "{err:?}"
        );
        assert_eq!(fx.log().entries(0, 100).unwrap().len(), 8);
        assert!(!fx.verify().is_intact(), "evidence must survive");
    }

    #[test]
    fn rewritten_entry_with_recomputed_hash_breaks_the_next_link() {
        let fx = Fixture::new();
        let entries = fx.fill(10);
        let e = &entries[3];
        let detail = canonical_json(&json!({ "argv": ["true"] }));
        let hash = entry_hash(&e.prev_hash, e.seq, e.ts_ms, &e.actor, &e.action, &detail);
        fx.tamper(&format!("UPDATE audit SET detail = '{detail}', hash = '{hash}' WHERE seq = {}", e.seq));
        assert_eq!(fx.verify(), broken(5, AuditProblem::ChainMismatch));
    }

    #[test]
    fn rewritten_last_entry_with_recomputed_hash_mismatches_the_head() {
        let fx = Fixture::new();
        let entries = fx.fill(5);
        let e = &entries[4];
        let hash = entry_hash(&e.prev_hash, e.seq, e.ts_ms, "user", &e.action, "{}");
        fx.tamper(&format!("UPDATE audit SET actor = 'user', detail = '{{}}', hash = '{hash}' WHERE seq = 5"));
        assert_eq!(fx.verify(), broken(5, AuditProblem::HeadMismatch));
        let err = fx.log().append("user", "noop", &json!({})).unwrap_err();
        assert!(matches!(&err, Error::AuditTampered { seq: 5, problem: AuditProblem::HeadMismatch }), "{err:?}");
    }

    #[test]
    fn missing_head_file_is_reported_unless_none_is_used() {
        let fx = Fixture::new();
        fx.fill(4);
        std::fs::remove_file(fx.head_path()).unwrap();
        assert_eq!(fx.verify(), broken(4, AuditProblem::HeadMissing));
        assert!(AuditLog::new(&fx.store, None).verify().unwrap().is_intact(), "no head file in use");
    }

    #[test]
    fn head_lagging_one_entry_behind_is_accepted_and_repaired() {
        // A crash between commit and head write leaves the head one entry behind.
        let fx = Fixture::new();
        let entries = fx.fill(4);
        std::fs::write(fx.head_path(), format!("3 {}\n", entries[2].hash)).unwrap();
        assert!(fx.verify().is_intact(), "lagging head is fine");
        let fifth = fx.log().append("user", "noop", &json!({})).unwrap();
        assert_eq!(fx.verify(), AuditVerdict::Intact { entries: 5, head: Some((5, fifth.hash)) });
    }

    #[test]
    fn malformed_head_file_is_an_error() {
        let fx = Fixture::new();
        fx.fill(2);
        std::fs::write(fx.head_path(), "garbage").unwrap();
        let err = fx.log().verify().unwrap_err();
        assert!(matches!(err, Error::AuditHeadMalformed { .. }), "{err:?}");
    }

    #[test]
    fn head_file_is_private() {
        let fx = Fixture::new();
        fx.fill(1);
        let mode = std::fs::metadata(fx.head_path()).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let leftovers: Vec<_> = std::fs::read_dir(fx.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert_eq!(leftovers, Vec::<String>::new());
    }

    #[test]
    fn in_memory_log_without_head_file_works() {
        let store = Store::open_in_memory().unwrap();
        let log = AuditLog::new(&store, None);
        let first = log.append("user", "config.init", &json!(null)).unwrap();
        assert_eq!((first.seq, first.prev_hash.as_str()), (1, GENESIS_HASH));
        assert_eq!(log.verify().unwrap(), AuditVerdict::Intact { entries: 1, head: Some((1, first.hash)) });
    }

    #[test]
    fn detail_is_stored_as_canonical_json() {
        let store = Store::open_in_memory().unwrap();
        let log = AuditLog::new(&store, None);
        log.append("user", "x", &json!({ "b": 1, "a": { "d": [1, 2], "c": "é\"" } })).unwrap();
        let text: String = store.conn().query_row("SELECT detail FROM audit", [], |r| r.get(0)).unwrap();
        assert_eq!(text, r#"{"a":{"c":"é\"","d":[1,2]},"b":1}"#);
    }

    #[test]
    fn hash_encoding_is_pinned() {
        // Changing the encoding invalidates every existing log; this value must never change.
        assert_eq!(
            entry_hash(GENESIS_HASH, 1, 1_700_000_000_000, "user", "config.init", "{}"),
            "8bfe281f043ce7206629cd76250ef8aed1002a2f4f4bf3aebb1584d1d4a3697d"
        );
    }

    #[test]
    fn length_prefixes_keep_fields_apart() {
        let a = entry_hash(GENESIS_HASH, 1, 0, "ab", "c", "{}");
        let b = entry_hash(GENESIS_HASH, 1, 0, "a", "bc", "{}");
        assert_ne!(a, b);
    }

    #[test]
    fn head_file_parsing_is_strict() {
        let hash = "a".repeat(64);
        assert_eq!(parse_head(&format!("7 {hash}\n")), Ok((7, hash.clone())));
        for bad in [
            format!("7 {hash}"),
            format!("0 {hash}\n"),
            format!("x {hash}\n"),
            format!("7 {}\n", "A".repeat(64)),
            format!("7 {}\n", "a".repeat(63)),
            format!("7  {hash}\n"),
            String::new(),
        ] {
            assert!(parse_head(&bad).is_err(), "accepted {bad:?}");
        }
    }

    fn update_is_refused(fx: &Fixture) -> bool {
        fx.store.conn().execute("UPDATE audit SET actor = actor WHERE seq = 1", []).is_err()
    }

    fn last_action(fx: &Fixture) -> (String, serde_json::Value) {
        let entries = fx.log().entries(0, usize::MAX).unwrap();
        let last = entries.last().unwrap();
        (last.action.clone(), last.detail.clone())
    }

    #[test]
    fn a_first_start_verifies_everything_and_leaves_a_checkpoint() {
        let fx = Fixture::new();
        let entries = fx.fill(10);
        let check = fx.log().check_at_start(false, None).unwrap();
        assert_eq!(
            check,
            StartCheck {
                verified_after: 0,
                head: Some((10, entries[9].hash.clone())),
                restored_triggers: vec![],
                accepted: None,
                anchored: false,
            }
        );
        let checkpoint = fx.dir.path().join(CHECKPOINT_FILE_NAME);
        assert_eq!(std::fs::read_to_string(&checkpoint).unwrap(), format!("10 {}\n", entries[9].hash));
        fx.fill(5);
        let check = fx.log().check_at_start(false, None).unwrap();
        assert_eq!(check.verified_after, 10, "only what came after is verified");
        assert_eq!(check.head.unwrap().0, 15);
    }

    #[test]
    fn dropped_triggers_and_an_edit_behind_the_checkpoint_refuse_the_start_and_change_nothing() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.log().check_at_start(false, None).unwrap();
        fx.tamper("UPDATE audit SET actor = 'user' WHERE seq = 3");
        let err = fx.log().check_at_start(false, None).unwrap_err();
        assert!(matches!(&err, Error::AuditBroken { seq: 3, problem: AuditProblem::EditedEntry }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("entry 3") && text.contains("--accept-broken-audit"), "{text}");
        assert!(text.contains("sov audit show --after 2 --limit 1"), "{text}");
        assert!(!update_is_refused(&fx), "a refused start changes nothing, the triggers stay as found");
        assert_eq!(fx.log().entries(0, 100).unwrap().len(), 10);
    }

    #[test]
    fn an_accepted_break_is_recorded_and_the_triggers_come_back() {
        let fx = Fixture::new();
        fx.fill(10);
        fx.log().check_at_start(false, None).unwrap();
        fx.tamper("UPDATE audit SET actor = 'user' WHERE seq = 3");
        let check = fx.log().check_at_start(true, None).unwrap();
        assert_eq!(check.accepted, Some((3, AuditProblem::EditedEntry)));
        assert_eq!(check.restored_triggers, vec!["audit_no_update".to_owned(), "audit_no_delete".to_owned()]);
        let entries = fx.log().entries(0, 100).unwrap();
        let actions: Vec<&str> = entries[10..].iter().map(|e| e.action.as_str()).collect();
        assert_eq!(actions, ["audit.accepted_broken", "audit.triggers_restored"]);
        assert_eq!(entries[10].detail["seq"], 3);
        assert_eq!(entries[10].detail["problem"]["problem"], "edited_entry");
        assert!(update_is_refused(&fx));
        // The break stays visible to a full verify, and the next start does not ask again.
        assert_eq!(fx.verify(), broken(3, AuditProblem::EditedEntry));
        assert_eq!(fx.log().check_at_start(false, None).unwrap().verified_after, 12);
    }

    #[test]
    fn dropped_triggers_on_an_intact_log_are_restored_and_recorded() {
        let fx = Fixture::new();
        fx.fill(3);
        fx.tamper("");
        assert!(!update_is_refused(&fx));
        let check = fx.log().check_at_start(false, None).unwrap();
        assert_eq!(check.restored_triggers.len(), 2);
        assert!(update_is_refused(&fx), "UPDATE works again after the start");
        assert!(fx.store.conn().execute("DELETE FROM audit", []).is_err(), "DELETE too");
        assert_eq!(
            last_action(&fx),
            (
                "audit.triggers_restored".into(),
                json!({"dropped": [], "restored": ["audit_no_update", "audit_no_delete"]})
            )
        );
        assert!(fx.verify().is_intact());
    }

    #[test]
    fn an_altered_or_foreign_trigger_is_replaced_and_forces_a_full_verify() {
        let fx = Fixture::new();
        fx.fill(5);
        fx.log().check_at_start(false, None).unwrap();
        fx.tamper(
            "UPDATE audit SET detail = '{}' WHERE seq = 2;
             CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT 1; END;
             CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
                 BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
             CREATE TRIGGER sneaky AFTER INSERT ON audit BEGIN SELECT 1; END;",
        );
        assert_eq!(fx.log().trigger_repair().unwrap(), vec!["audit_no_update".to_owned(), "drop:sneaky".to_owned()]);
        let err = fx.log().check_at_start(false, None).unwrap_err();
        assert!(matches!(&err, Error::AuditBroken { seq: 2, problem: AuditProblem::EditedEntry }), "{err:?}");
        fx.log().check_at_start(true, None).unwrap();
        assert_eq!(fx.log().trigger_repair().unwrap(), Vec::<String>::new());
        assert!(update_is_refused(&fx));
    }

    #[test]
    fn an_edit_after_the_checkpoint_is_found_by_the_incremental_check() {
        let fx = Fixture::new();
        fx.fill(5);
        fx.log().check_at_start(false, None).unwrap();
        fx.fill(5);
        // Triggers put back as they were: only the chain can tell.
        fx.tamper(&format!("UPDATE audit SET actor = 'user' WHERE seq = 8; {}; {};", TRIGGERS[0].1, TRIGGERS[1].1));
        assert_eq!(fx.log().trigger_repair().unwrap(), Vec::<String>::new());
        let err = fx.log().check_at_start(false, None).unwrap_err();
        assert!(matches!(&err, Error::AuditBroken { seq: 8, problem: AuditProblem::EditedEntry }), "{err:?}");
    }

    #[test]
    fn a_log_rebuilt_below_the_checkpoint_is_caught_by_the_checkpoint() {
        // Everything from entry 3 on rewritten with recomputed hashes, the head file rewritten to
        // match, triggers put back: the chain is consistent, but the checkpoint's entry is gone.
        let fx = Fixture::new();
        let entries = fx.fill(5);
        fx.log().check_at_start(false, None).unwrap();
        let mut prev = entries[1].hash.clone();
        let mut sql = String::new();
        for e in &entries[2..] {
            let hash = entry_hash(&prev, e.seq, e.ts_ms, "user", &e.action, "{}");
            sql.push_str(&format!(
                "UPDATE audit SET actor = 'user', detail = '{{}}', prev_hash = '{prev}', hash = '{hash}' WHERE seq = {};",
                e.seq
            ));
            prev = hash;
        }
        fx.tamper(&format!("{sql} {}; {};", TRIGGERS[0].1, TRIGGERS[1].1));
        std::fs::write(fx.head_path(), format!("5 {prev}\n")).unwrap();
        assert!(fx.verify().is_intact(), "consistent by itself");
        let err = fx.log().check_at_start(false, None).unwrap_err();
        match &err {
            Error::AuditBroken {
                seq: 5,
                problem: AuditProblem::NotAPrefix { count: 5, last_seq: 5, recorded_in, .. },
            } => {
                assert!(recorded_in.contains(CHECKPOINT_FILE_NAME), "{recorded_in}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn an_anchor_file_catches_a_cut_log_with_a_rewritten_head() {
        let fx = Fixture::new();
        let anchor = fx.dir.path().join("elsewhere.anchor");
        fx.fill(10);
        let check = fx.log().check_at_start(false, Some(&anchor)).unwrap();
        assert!(check.anchored);
        let text = std::fs::read_to_string(&anchor).unwrap();
        assert!(text.ends_with(&format!(" 10 {}\n", check.head.as_ref().unwrap().1)), "{text}");
        assert_eq!(fx.log().verify_anchors(&anchor).unwrap(), None);
        // Cut entries 8 to 10 and rewrite the head file and the checkpoint to match.
        let entries = fx.log().entries(0, 100).unwrap();
        fx.tamper(&format!("DELETE FROM audit WHERE seq >= 8; {}; {};", TRIGGERS[0].1, TRIGGERS[1].1));
        std::fs::write(fx.head_path(), format!("7 {}\n", entries[6].hash)).unwrap();
        std::fs::write(fx.dir.path().join(CHECKPOINT_FILE_NAME), format!("7 {}\n", entries[6].hash)).unwrap();
        assert!(fx.verify().is_intact(), "the data directory alone cannot tell");
        let verdict = fx.log().verify_anchors(&anchor).unwrap().unwrap();
        match &verdict {
            AuditVerdict::Broken {
                seq: 8,
                problem: AuditProblem::NotAPrefix { count: 10, last_seq: 7, recorded_in, .. },
            } => {
                assert!(recorded_in.contains("line 1"), "{recorded_in}");
            }
            other => panic!("{other:?}"),
        }
        assert!(verdict.to_string().contains("no longer part of it"), "{verdict}");
        let err = fx.log().check_at_start(false, Some(&anchor)).unwrap_err();
        assert!(matches!(&err, Error::AuditBroken { seq: 8, .. }), "{err:?}");
    }

    #[test]
    fn an_accepted_truncation_is_recorded_although_the_head_file_disagrees() {
        let fx = Fixture::new();
        fx.fill(5);
        fx.tamper("DELETE FROM audit WHERE seq = 5");
        let check = fx.log().check_at_start(true, None).unwrap();
        assert_eq!(check.accepted, Some((5, AuditProblem::TruncatedTail { head_seq: 5, last_seq: 4 })));
        let entries = fx.log().entries(0, 100).unwrap();
        assert_eq!(entries[4].action, "audit.accepted_broken");
        assert!(fx.log().append("user", "noop", &json!({})).is_ok(), "appending works again");
    }

    #[test]
    fn anchor_lines_are_iso_time_count_and_hash() {
        assert_eq!(iso_utc(1_700_000_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(iso_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_utc(951_782_400_999), "2000-02-29T00:00:00Z");
        let hash = "a".repeat(64);
        let line = anchor_line(1_700_000_000_000, 12, &hash);
        assert_eq!(line, format!("2023-11-14T22:13:20Z 12 {hash}"));
        assert_eq!(parse_anchor_line(&line), Ok((12, hash.clone())));
        for bad in [format!("12 {hash}"), format!("2023-11-14T22:13:20Z -1 {hash}"), "x y z".into(), String::new()] {
            assert!(parse_anchor_line(&bad).is_err(), "accepted {bad:?}");
        }
    }

    #[test]
    fn problems_read_as_sentences() {
        assert_eq!(
            broken(10, AuditProblem::TruncatedTail { head_seq: 10, last_seq: 9 }).to_string(),
            "audit log broken at entry 10: the log ends at entry 9 but the head file records \
             entry 10 (entries at the end were deleted)"
        );
        assert_eq!(
            AuditProblem::MissingEntry { expected_seq: 5 }.to_string(),
            "entry 5 is missing (the numbering skips it, so it was deleted)"
        );
    }
}
