//! Durability: the gate's database behind one lock, the transaction helper every change goes
//! through ([`Durable::write`], with the [`Audit`] entries it records in the same transaction),
//! how far a commit must survive ([`Durability`]), the maintenance thread's [`Chores`], and the
//! change counter workers wait on.
//!
//! Ordering that matters: a change and its audit entry commit in one IMMEDIATE transaction; the
//! audit head file moves after the commit (on the maintenance thread, inline for the first
//! entry), so it may lag the table, never lead it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Transaction, TransactionBehavior};
use serde_json::Value;
use sov_core::audit::{AuditEntry, AuditLog};
use sov_core::store::Store;

use crate::error::GateError;

/// How far a commit must survive before it returns.
///
/// Decisions (submit, review, taint, expiry) commit in write-ahead-log mode without waiting for
/// the disk: they survive `kill -9` at once, and power loss once the next durable commit or the
/// maintenance thread's checkpoint (within [`CHECKPOINT_INTERVAL`]) syncs the log. Everything
/// that leads to an effect (a human approval, claiming an action to run it, its outcome) waits
/// for the disk, and its sync covers every earlier decision too: nothing takes effect on the
/// strength of a decision that power loss could still undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Durability {
    /// Survives the process dying.
    Crash,
    /// Survives the machine losing power.
    PowerLoss,
}

/// How often the maintenance thread checkpoints the write-ahead log while commits happen.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

/// The longest the audit head file lags the table while decisions keep coming.
const ANCHOR_INTERVAL: Duration = Duration::from_millis(200);

/// The database, its audit head file and the maintenance thread. Dropping it finishes the
/// thread's chores (the head file moved to the last entry, a final checkpoint).
pub(crate) struct Durable {
    store: Mutex<Store>,
    audit_head: Option<PathBuf>,
    changes: (Mutex<u64>, Condvar),
    head_anchored: AtomicBool,
    chores: Arc<Chores>,
    maintenance: Option<std::thread::JoinHandle<()>>,
}

/// Work for the maintenance thread.
#[derive(Default)]
struct Chores {
    state: Mutex<ChoreState>,
    wake: Condvar,
}

#[derive(Default)]
struct ChoreState {
    unanchored: Option<AuditEntry>,
    commits: u64,
    stop: bool,
}

impl Durable {
    /// Takes over `store` (audit head file `audit_head`) and starts the maintenance thread.
    pub(crate) fn open(store: Store, audit_head: Option<PathBuf>) -> Durable {
        let on_disk = store.path() != Path::new(":memory:");
        // Checkpoints happen on the maintenance thread instead of inside a decision's commit.
        if on_disk && let Err(e) = store.conn().pragma_update(None, "wal_autocheckpoint", 0) {
            tracing::warn!("leaving checkpoints to SQLite: {e}");
        }
        let database = on_disk.then(|| store.path().to_owned());
        let chores = Arc::new(Chores::default());
        let maintenance = {
            let chores = chores.clone();
            let head = audit_head.clone();
            std::thread::Builder::new()
                .name("gate-maintenance".into())
                .spawn(move || maintain(&chores, head, database))
                .map_err(|e| tracing::warn!("no maintenance thread ({e}); the audit head is moved inline"))
                .ok()
        };
        Durable {
            store: Mutex::new(store),
            changes: (Mutex::new(0), Condvar::new()),
            head_anchored: AtomicBool::new(audit_head.as_ref().is_none_or(|h| h.exists())),
            chores,
            maintenance,
            audit_head,
        }
    }

    /// The audit head file.
    pub(crate) fn audit_head(&self) -> Option<&Path> {
        self.audit_head.as_deref()
    }

    /// The store, for reads.
    pub(crate) fn read(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one IMMEDIATE transaction whose audit entries are anchored after commit;
    /// wakes every waiter when it recorded one.
    pub(crate) fn write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&Transaction<'_>, &mut Audit<'_>) -> Result<T, GateError>,
    ) -> Result<T, GateError> {
        let store = self.read();
        let synchronous = match durability {
            Durability::Crash => "NORMAL",
            Durability::PowerLoss => "FULL",
        };
        store.conn().pragma_update(None, "synchronous", synchronous).map_err(db)?;
        let log = AuditLog::new(&store, self.audit_head.clone());
        let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate).map_err(db)?;
        let mut audit = Audit { log: &log, last: None };
        let value = f(&tx, &mut audit)?;
        tx.commit().map_err(db)?;
        let last = audit.last.take();
        drop(log);
        drop(store);
        // Every change records an audit entry; a transaction without one changed nothing, and
        // waking the workers for it would have them poll the database in a loop.
        let Some(entry) = last else { return Ok(value) };
        let first_anchor = !self.head_anchored.load(Ordering::Relaxed);
        if self.maintenance.is_some() && !first_anchor {
            let mut chores = self.chores.state.lock().unwrap_or_else(PoisonError::into_inner);
            chores.commits += 1;
            chores.unanchored = Some(entry);
            drop(chores);
            self.chores.wake.notify_one();
        } else if let Some(head) = &self.audit_head {
            // Inline at least once, so the head file exists from the first entry on and a
            // missing one always means it was removed.
            sov_core::audit::anchor_head(head, &entry)?;
            self.head_anchored.store(true, Ordering::Relaxed);
        }
        self.notify();
        Ok(value)
    }

    /// Wakes everything waiting in [`Durable::wait_for_change`].
    pub(crate) fn notify(&self) {
        let (count, condvar) = &self.changes;
        *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        condvar.notify_all();
    }

    /// Waits until something changed since `seen` (or `timeout` passes), and updates `seen`.
    pub(crate) fn wait_for_change(&self, seen: &mut u64, timeout: Duration) {
        let (count, condvar) = &self.changes;
        let guard = count.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) =
            condvar.wait_timeout_while(guard, timeout, |now| *now == *seen).unwrap_or_else(PoisonError::into_inner);
        *seen = *guard;
    }
}

impl Drop for Durable {
    fn drop(&mut self) {
        self.chores.state.lock().unwrap_or_else(PoisonError::into_inner).stop = true;
        self.chores.wake.notify_all();
        if let Some(thread) = self.maintenance.take() {
            let _ = thread.join();
        }
    }
}

/// The maintenance thread: anchors the newest audit entry and checkpoints, until told to stop.
fn maintain(chores: &Chores, head: Option<PathBuf>, database: Option<PathBuf>) {
    let checkpointer = database.and_then(|path| rusqlite::Connection::open(path).ok());
    let mut checkpointed_at = 0;
    loop {
        let (entry, commits, stop) = {
            let guard = chores.state.lock().unwrap_or_else(PoisonError::into_inner);
            let mut guard = chores
                .wake
                .wait_timeout_while(guard, CHECKPOINT_INTERVAL, |s| s.unanchored.is_none() && !s.stop)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
            (guard.unanchored.take(), guard.commits, guard.stop)
        };
        if let (Some(entry), Some(head)) = (&entry, &head)
            && let Err(e) = sov_core::audit::anchor_head(head, entry)
        {
            tracing::warn!("moving the audit head file forward: {e}");
        }
        if let Some(conn) = &checkpointer
            && commits != checkpointed_at
            && (stop || entry.is_none())
        {
            if let Err(e) = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)") {
                tracing::warn!("checkpointing the database: {e}");
            }
            checkpointed_at = commits;
        }
        if stop {
            return;
        }
        if entry.is_some() {
            // Coalesce: under load the head moves a few times a second, not once per decision,
            // so its fsyncs do not queue behind (or in front of) the decisions' own.
            let guard = chores.state.lock().unwrap_or_else(PoisonError::into_inner);
            drop(chores.wake.wait_timeout_while(guard, ANCHOR_INTERVAL, |s| !s.stop));
        }
    }
}

/// Audit entries written inside a gate transaction; the last is anchored after commit.
pub(crate) struct Audit<'a> {
    log: &'a AuditLog<'a>,
    last: Option<AuditEntry>,
}

impl Audit<'_> {
    /// Appends an entry in `tx`.
    pub(crate) fn record(
        &mut self,
        tx: &Transaction<'_>,
        actor: &str,
        action: &str,
        detail: Value,
    ) -> Result<(), GateError> {
        self.last = Some(self.log.record(tx, actor, action, &detail)?);
        Ok(())
    }
}

/// A database error as the gate reports it.
pub(crate) fn db(source: rusqlite::Error) -> GateError {
    GateError::Database(source.to_string())
}
