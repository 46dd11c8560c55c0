//! The gate itself: sessions, the durable action queue, the review and approval state machine,
//! and exactly-once execution.
//!
//! An action moves through these states; every move is one SQLite transaction together with the
//! audit entry that records it, so the log and the queue never disagree, even after `kill -9`:
//!
//! ```text
//! submit ─► denied                       (policy: deny)
//!        ─► approved ─► executing ─► executed | failed      (policy: allow)
//!        ─► reviewing ─► awaiting_human ─► approved ─► …    (policy: confirm; AI, then human)
//!                    └──────────────────┴─► denied | expired
//! ```
//!
//! Execution: `approved → executing` is committed before the executor runs, with the action's
//! idempotency key; `executing → executed | failed` after. An action found `executing` at start
//! (the process died while running it) is run again with the same key only if its executor is
//! idempotent by key; otherwise it is marked failed as interrupted and never run twice.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError, RwLock};
use std::time::Duration;

use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sov_core::audit::{AuditEntry, AuditLog};
use sov_core::store::Store;

use crate::action::{ANONYMOUS_SESSION, ActionRequest, Label, Session, Side};
use crate::exec::{ExecError, Executors};
use crate::policy::{Policy, Rule, Usage};
use crate::review::Verdict;
use crate::{GateError, crash};

/// Where an action stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for the AI reviewer.
    Reviewing,
    /// Reviewed; waiting for the human.
    AwaitingHuman,
    /// Both approved (or policy allowed it); waiting to run.
    Approved,
    /// Running now (or interrupted while running).
    Executing,
    /// Done.
    Executed,
    /// Ran and failed, or was interrupted and cannot safely run again.
    Failed,
    /// Refused by policy or by the human.
    Denied,
    /// Nobody decided in time.
    Expired,
}

impl State {
    /// Every state, in the order of an action's life.
    pub const ALL: [State; 8] = [
        State::Reviewing,
        State::AwaitingHuman,
        State::Approved,
        State::Executing,
        State::Executed,
        State::Failed,
        State::Denied,
        State::Expired,
    ];

    /// The state's name.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Reviewing => "reviewing",
            State::AwaitingHuman => "awaiting_human",
            State::Approved => "approved",
            State::Executing => "executing",
            State::Executed => "executed",
            State::Failed => "failed",
            State::Denied => "denied",
            State::Expired => "expired",
        }
    }

    fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Still waiting for a decision.
    pub fn is_pending(self) -> bool {
        matches!(self, State::Reviewing | State::AwaitingHuman)
    }
}

/// The AI reviewer's verdict on an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Review {
    /// approve, warn or deny.
    pub verdict: Verdict,
    /// One sentence.
    pub reason: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// The human's decision on an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HumanDecision {
    /// Approved (true) or denied.
    pub approved: bool,
    /// Where it was made: `console`, `terminal`.
    pub by: String,
    /// When, ms since the epoch.
    pub at_ms: i64,
}

/// One action as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ActionRecord {
    /// Unguessable id; also what the confirm URL names.
    pub id: String,
    /// When it was asked for.
    pub created_ms: i64,
    /// What was asked.
    pub request: ActionRequest,
    /// The public id of the session that asked.
    pub session: String,
    /// The policy's rule for it.
    pub decision: Rule,
    /// The policy's reasons.
    pub reasons: Vec<String>,
    /// Where it stands.
    pub state: State,
    /// The AI reviewer's verdict, once in.
    pub review: Option<Review>,
    /// The human's decision, once made.
    pub human: Option<HumanDecision>,
    /// When an undecided action expires.
    pub expires_ms: i64,
    /// Passed to the executor on every attempt.
    #[serde(skip)]
    pub idempotency_key: String,
    /// Executor runs started.
    pub attempts: i64,
    /// What the executor returned (or the error).
    pub outcome: Option<Value>,
    /// When it reached executed, failed, denied or expired.
    pub finished_ms: Option<i64>,
}

/// A session's secret token (given to the sandbox) and its public record.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// The session.
    pub session: Session,
    /// The secret the sandbox presents (`SOV_SESSION`); stored only as a hash.
    pub token: String,
}

/// The human's answer, from the console or the terminal.
#[derive(Debug, Clone)]
pub struct Decision {
    /// Approve (true) or deny.
    pub approve: bool,
    /// Needed only to approve over an AI "deny": the recipient (and amount) typed again.
    pub confirm_text: Option<String>,
    /// `console` or `terminal`.
    pub by: String,
}

/// Counts of actions by state, and the sessions, for the status page.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Status {
    /// Actions per state name.
    pub actions: BTreeMap<String, i64>,
    /// Wallet use in the last 24 hours.
    pub spent_usd_24h: f64,
    /// Wallet actions in the last 24 hours.
    pub wallet_actions_24h: u32,
    /// Sessions registered.
    pub sessions: i64,
}

/// A clock in ms since the epoch; tests move it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

const DAY_MS: i64 = 24 * 3600 * 1000;
const COLUMNS: &str = "id, created_ms, request, session, decision, reasons, state, ai_verdict, ai_reason, ai_ms, \
                       human, human_ms, expires_ms, idempotency_key, attempts, outcome, finished_ms";

/// The gate: one per daemon (the terminal's `sov confirm` opens its own on the same database).
///
/// To keep a decision's latency to one durable commit, two chores run on a maintenance thread:
/// moving the audit head file forward (it may lag the table by the last moments' entries, which
/// [`AuditLog::verify`] accepts) and checkpointing SQLite's write-ahead log. Dropping the gate
/// finishes both.
pub struct Gate {
    store: Mutex<Store>,
    audit_head: Option<PathBuf>,
    policy: RwLock<Arc<Policy>>,
    clock: Clock,
    changes: (Mutex<u64>, Condvar),
    head_anchored: std::sync::atomic::AtomicBool,
    chores: Arc<Chores>,
    maintenance: Option<std::thread::JoinHandle<()>>,
}

/// How far a commit must survive before it returns.
///
/// Decisions (submit, review, taint, expiry) commit in write-ahead-log mode without waiting for
/// the disk: they survive `kill -9` at once, and power loss once the next durable commit or the
/// maintenance thread's checkpoint (within [`CHECKPOINT_INTERVAL`]) syncs the log. Everything
/// that leads to an effect (a human approval, claiming an action to run it, its outcome) waits
/// for the disk, and its sync covers every earlier decision too: nothing takes effect on the
/// strength of a decision that power loss could still undo.
#[derive(Debug, Clone, Copy)]
enum Durability {
    /// Survives the process dying.
    Crash,
    /// Survives the machine losing power.
    PowerLoss,
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

/// How often the maintenance thread checkpoints the write-ahead log while commits happen.
const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);

impl Drop for Gate {
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

/// The longest the audit head file lags the table while decisions keep coming.
const ANCHOR_INTERVAL: Duration = Duration::from_millis(200);

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("audit_head", &self.audit_head).finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate on `store` (audit head file `audit_head`) with `policy`, on the system clock.
    pub fn new(store: Store, audit_head: Option<PathBuf>, policy: Policy) -> Gate {
        Gate::with_clock(store, audit_head, policy, Arc::new(sov_core::now_ms))
    }

    /// As [`Gate::new`] with another clock.
    pub fn with_clock(store: Store, audit_head: Option<PathBuf>, policy: Policy, clock: Clock) -> Gate {
        let on_disk = store.path() != std::path::Path::new(":memory:");
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
        Gate {
            store: Mutex::new(store),
            policy: RwLock::new(Arc::new(policy)),
            clock,
            changes: (Mutex::new(0), Condvar::new()),
            head_anchored: std::sync::atomic::AtomicBool::new(audit_head.as_ref().is_none_or(|h| h.exists())),
            chores,
            maintenance,
            audit_head,
        }
    }

    /// The policy in force.
    pub fn policy(&self) -> Arc<Policy> {
        self.policy.read().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// Replaces the policy (the human edited the file; never reachable from a sandbox).
    pub fn set_policy(&self, policy: Policy) {
        *self.policy.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(policy);
    }

    fn now(&self) -> i64 {
        (self.clock)()
    }

    fn lock(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `f` in one IMMEDIATE transaction whose audit entries are anchored after commit.
    fn write<T>(
        &self,
        durability: Durability,
        f: impl FnOnce(&Transaction<'_>, &mut Audit<'_>) -> Result<T, GateError>,
    ) -> Result<T, GateError> {
        let store = self.lock();
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
        let first_anchor = !self.head_anchored.load(std::sync::atomic::Ordering::Relaxed);
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
            self.head_anchored.store(true, std::sync::atomic::Ordering::Relaxed);
        }
        self.notify();
        Ok(value)
    }

    /// Wakes everything waiting in [`Gate::wait_for_change`] (e.g. workers being stopped).
    pub fn wake(&self) {
        self.notify();
    }

    fn notify(&self) {
        let (count, condvar) = &self.changes;
        *count.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        condvar.notify_all();
    }

    /// Waits until something changes (or `timeout` passes); for the daemon's workers.
    pub fn wait_for_change(&self, seen: &mut u64, timeout: Duration) {
        let (count, condvar) = &self.changes;
        let guard = count.lock().unwrap_or_else(PoisonError::into_inner);
        let (guard, _) =
            condvar.wait_timeout_while(guard, timeout, |now| *now == *seen).unwrap_or_else(PoisonError::into_inner);
        *seen = *guard;
    }

    /// Waits until action `id` is settled (executed, failed, denied or expired) and returns it,
    /// or `None` once `give_up` says so (asked at least twice a second): for a caller waiting on
    /// its own action, such as a request to a remote model.
    pub fn wait_until_settled(&self, id: &str, give_up: &dyn Fn() -> bool) -> Result<Option<ActionRecord>, GateError> {
        let mut seen = 0;
        loop {
            let record = self.get(id)?;
            if matches!(record.state, State::Executed | State::Failed | State::Denied | State::Expired) {
                return Ok(Some(record));
            }
            if give_up() {
                return Ok(None);
            }
            self.wait_for_change(&mut seen, Duration::from_millis(500));
        }
    }

    // ---- sessions ----

    /// Registers a sandbox session on `side`; `origin` says what started it (shown to the human).
    pub fn create_session(&self, side: Side, origin: &str) -> Result<NewSession, GateError> {
        let token = sov_core::random_hex(32)?;
        let session = Session { id: format!("s-{}", sov_core::random_hex(6)?), side, labels: BTreeSet::new() };
        let now = self.now();
        self.write(Durability::Crash, |tx, audit| {
            tx.execute(
                "INSERT INTO gate_sessions (id, token_hash, created_ms, side, labels, origin) VALUES (?1, ?2, ?3, ?4, '[]', ?5)",
                params![session.id, token_hash(&token), now, side.as_str(), origin],
            )
            .map_err(db)?;
            audit.record(tx, "sbox", "gate.session", json!({"session": session.id, "side": side.as_str(), "origin": origin}))
        })?;
        Ok(NewSession { session, token })
    }

    /// The session a request belongs to: the anonymous session without a token; an error for a
    /// token no session has.
    pub fn session(&self, token: Option<&str>) -> Result<Session, GateError> {
        let Some(token) = token.filter(|t| !t.is_empty()) else { return Ok(Session::anonymous()) };
        let store = self.lock();
        let row: Option<(String, String, String)> = store
            .conn()
            .query_row("SELECT id, side, labels FROM gate_sessions WHERE token_hash = ?1", [token_hash(token)], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .optional()
            .map_err(db)?;
        let (id, side, labels) = row.ok_or(GateError::UnknownSession)?;
        Ok(Session {
            id,
            side: Side::parse(&side).unwrap_or(Side::Private),
            labels: serde_json::from_str(&labels).unwrap_or_default(),
        })
    }

    /// Records that `session` reads private data `label`; refused for an internet-side session.
    /// The label sticks for the session's life: nothing an agent does removes it.
    pub fn note_read(&self, session: &mut Session, label: Label) -> Result<(), GateError> {
        if session.side == Side::Internet {
            return Err(GateError::Refused(format!(
                "session {} was started with internet-facing tools, so it cannot read private {}",
                session.id,
                format!("{label:?}").to_lowercase()
            )));
        }
        if session.id == ANONYMOUS_SESSION || !session.labels.insert(label) {
            return Ok(());
        }
        let labels = serde_json::to_string(&session.labels).unwrap_or_else(|_| "[]".into());
        let id = session.id.clone();
        self.write(Durability::Crash, |tx, audit| {
            tx.execute("UPDATE gate_sessions SET labels = ?1 WHERE id = ?2", params![labels, id]).map_err(db)?;
            audit.record(tx, "gate", "gate.taint", json!({"session": id, "read": label}))
        })
    }

    // ---- submitting ----

    /// Decides `request` from `session` and stores it: denied, approved (allowed at once) or
    /// pending review. Every submission is in the audit log, whatever the decision.
    pub fn submit(&self, session: &Session, request: ActionRequest) -> Result<ActionRecord, GateError> {
        request.validate()?;
        let policy = self.policy();
        let id = sov_core::random_hex(16)?;
        let key = sov_core::random_hex(16)?;
        let now = self.now();
        let record = self.write(Durability::Crash, |tx, audit| {
            let usage = usage(tx, now)?;
            let evaluation = policy.evaluate(&request, session, usage);
            let state = match evaluation.rule {
                Rule::Allow => State::Approved,
                Rule::Confirm => State::Reviewing,
                Rule::Deny => State::Denied,
            };
            let record = ActionRecord {
                id: id.clone(),
                created_ms: now,
                request,
                session: session.id.clone(),
                decision: evaluation.rule,
                reasons: evaluation.reasons,
                state,
                review: None,
                human: None,
                expires_ms: now.saturating_add(secs_to_ms(policy.confirm.expiry_secs)),
                idempotency_key: key,
                attempts: 0,
                outcome: None,
                finished_ms: (state == State::Denied).then_some(now),
            };
            tx.execute(
                &format!("INSERT INTO gate_actions (kind, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, NULL, NULL, NULL, ?9, ?10, 0, NULL, ?11)"),
                params![
                    record.request.kind.as_str(),
                    record.id,
                    record.created_ms,
                    to_json(&record.request),
                    record.session,
                    record.decision.as_str(),
                    to_json(&record.reasons),
                    record.state.as_str(),
                    record.expires_ms,
                    record.idempotency_key,
                    record.finished_ms,
                ],
            )
            .map_err(db)?;
            if state == State::Approved {
                add_spend(tx, &record, now)?;
            }
            audit.record(tx, "agent", "gate.request", request_detail(&record))?;
            Ok(record)
        })?;
        tracing::info!(id = %record.id, kind = %record.request.kind, decision = record.decision.as_str(), "action requested");
        crash::point("after-submit");
        Ok(record)
    }

    // ---- reading ----

    /// The action `id`.
    pub fn get(&self, id: &str) -> Result<ActionRecord, GateError> {
        let store = self.lock();
        store
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM gate_actions WHERE id = ?1"), [id], record_from_row)
            .optional()
            .map_err(db)?
            .ok_or_else(|| GateError::NotFound(id.to_owned()))
    }

    /// Actions in any of `states` (all when empty), newest first, at most `limit`.
    pub fn list(&self, states: &[State], limit: usize) -> Result<Vec<ActionRecord>, GateError> {
        let store = self.lock();
        let names: Vec<&str> = states.iter().map(|s| s.as_str()).collect();
        let mut stmt = store
            .conn()
            .prepare(&format!(
                "SELECT {COLUMNS} FROM gate_actions WHERE ?1 = '[]' OR state IN (SELECT value FROM json_each(?1))
                 ORDER BY created_ms DESC, id LIMIT ?2"
            ))
            .map_err(db)?;
        let rows = stmt
            .query_map(params![to_json(&names), i64::try_from(limit).unwrap_or(i64::MAX)], record_from_row)
            .map_err(db)?;
        rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db)
    }

    /// Counts for the status page.
    pub fn status(&self) -> Result<Status, GateError> {
        let now = self.now();
        let store = self.lock();
        let conn = store.conn();
        let mut status = Status::default();
        let mut stmt = conn.prepare("SELECT state, COUNT(*) FROM gate_actions GROUP BY state").map_err(db)?;
        for row in stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))).map_err(db)? {
            let (state, count) = row.map_err(db)?;
            status.actions.insert(state, count);
        }
        let usage = usage(conn, now)?;
        status.spent_usd_24h = usage.spent_usd;
        status.wallet_actions_24h = usage.count;
        status.sessions = conn.query_row("SELECT COUNT(*) FROM gate_sessions", [], |r| r.get(0)).map_err(db)?;
        Ok(status)
    }

    // ---- review ----

    /// The oldest action waiting for the AI reviewer.
    pub fn next_for_review(&self) -> Result<Option<ActionRecord>, GateError> {
        let store = self.lock();
        store
            .conn()
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM gate_actions WHERE state = 'reviewing' ORDER BY created_ms, id LIMIT 1"
                ),
                [],
                record_from_row,
            )
            .optional()
            .map_err(db)
    }

    /// Stores the AI reviewer's verdict; the action then waits for the human. A verdict for an
    /// action no longer under review (denied or expired meanwhile) is recorded nowhere.
    pub fn record_review(&self, id: &str, verdict: Verdict, reason: &str) -> Result<ActionRecord, GateError> {
        let now = self.now();
        self.write(Durability::Crash, |tx, audit| {
            let changed = tx
                .execute(
                    "UPDATE gate_actions SET state = 'awaiting_human', ai_verdict = ?2, ai_reason = ?3, ai_ms = ?4
                     WHERE id = ?1 AND state = 'reviewing'",
                    params![id, verdict.as_str(), reason, now],
                )
                .map_err(db)?;
            if changed == 1 {
                audit.record(tx, "reviewer", "gate.review", json!({"id": id, "verdict": verdict, "reason": reason}))?;
            }
            Ok(())
        })?;
        crash::point("after-review");
        self.get(id)
    }

    // ---- the human ----

    /// Applies the human's decision. Approving needs the AI's verdict first; approving over an
    /// AI "deny" needs the override delay to have passed and [`ActionRequest::confirm_fact`]
    /// typed again. A decided action cannot be decided again (a replayed approval does nothing).
    pub fn decide(&self, id: &str, decision: &Decision) -> Result<ActionRecord, GateError> {
        self.expire_due()?;
        let policy = self.policy();
        let now = self.now();
        self.write(Durability::PowerLoss, |tx, audit| {
            let record = tx
                .query_row(&format!("SELECT {COLUMNS} FROM gate_actions WHERE id = ?1"), [id], record_from_row)
                .optional()
                .map_err(db)?
                .ok_or_else(|| GateError::NotFound(id.to_owned()))?;
            if !record.state.is_pending() {
                return Err(GateError::AlreadyDecided { id: id.to_owned(), state: record.state });
            }
            let mut overridden = false;
            if decision.approve {
                let Some(review) = &record.review else {
                    return Err(GateError::Refused(
                        "the AI reviewer has not answered yet; both must approve, so wait for its verdict".into(),
                    ));
                };
                if review.verdict == Verdict::Deny {
                    let ready_at = review.at_ms.saturating_add(secs_to_ms(policy.confirm.override_delay_secs));
                    if now < ready_at {
                        return Err(GateError::Refused(format!(
                            "the AI reviewer denied this action; you can override it in {} s (confirm.override_delay_secs)",
                            (ready_at - now + 999) / 1000
                        )));
                    }
                    let expected = normalise_fact(&record.request.confirm_fact());
                    if decision.confirm_text.as_deref().map(normalise_fact) != Some(expected) {
                        return Err(GateError::Refused(format!(
                            "to override the AI reviewer's denial, type exactly: {}",
                            record.request.confirm_fact()
                        )));
                    }
                    overridden = true;
                }
            }
            let state = if decision.approve { State::Approved } else { State::Denied };
            tx.execute(
                "UPDATE gate_actions SET state = ?2, human = ?3, human_ms = ?4, finished_ms = ?5 WHERE id = ?1",
                params![
                    id,
                    state.as_str(),
                    to_json(&json!({"approved": decision.approve, "by": decision.by})),
                    now,
                    (!decision.approve).then_some(now)
                ],
            )
            .map_err(db)?;
            if decision.approve {
                add_spend(tx, &record, now)?;
            }
            let action = if decision.approve { "gate.approve" } else { "gate.deny" };
            audit.record(
                tx,
                "human",
                action,
                json!({"id": id, "by": decision.by, "ai_verdict": record.review.as_ref().map(|r| r.verdict), "override": overridden}),
            )?;
            Ok(())
        })?;
        tracing::info!(id, approve = decision.approve, by = %decision.by, "human decision");
        crash::point("after-approve");
        self.get(id)
    }

    /// Marks every undecided action past its expiry as expired (denied). Returns how many.
    pub fn expire_due(&self) -> Result<usize, GateError> {
        let now = self.now();
        self.write(Durability::Crash, |tx, audit| {
            let mut stmt = tx
                .prepare(
                    "SELECT id FROM gate_actions WHERE state IN ('reviewing', 'awaiting_human') AND expires_ms <= ?1",
                )
                .map_err(db)?;
            let ids = stmt.query_map([now], |r| r.get::<_, String>(0)).map_err(db)?;
            let ids = ids.collect::<rusqlite::Result<Vec<_>>>().map_err(db)?;
            for id in &ids {
                tx.execute(
                    "UPDATE gate_actions SET state = 'expired', finished_ms = ?2 WHERE id = ?1",
                    params![id, now],
                )
                .map_err(db)?;
                audit.record(tx, "gate", "gate.expire", json!({"id": id}))?;
            }
            Ok(ids.len())
        })
    }

    // ---- execution ----

    /// Settles actions a previous process left `executing`: back to `approved` (to run again
    /// with the same key) where the executor is idempotent, otherwise `failed` as interrupted.
    pub fn recover(&self, executors: &Executors) -> Result<usize, GateError> {
        let interrupted = self.list(&[State::Executing], usize::MAX)?;
        let now = self.now();
        for record in &interrupted {
            let again = executors.get(record.request.kind).is_some_and(|e| e.idempotent());
            self.write(Durability::PowerLoss, |tx, audit| {
                if again {
                    tx.execute("UPDATE gate_actions SET state = 'approved' WHERE id = ?1 AND state = 'executing'", [&record.id])
                        .map_err(db)?;
                    audit.record(tx, "gate", "gate.execute.resume", json!({"id": record.id, "attempts": record.attempts}))
                } else {
                    let outcome = json!({"error": "interrupted: Sovereign stopped while this action ran, so whether it took effect is unknown; it is not run again, so it cannot happen twice"});
                    tx.execute(
                        "UPDATE gate_actions SET state = 'failed', outcome = ?2, finished_ms = ?3 WHERE id = ?1 AND state = 'executing'",
                        params![record.id, to_json(&outcome), now],
                    )
                    .map_err(db)?;
                    audit.record(tx, "gate", "gate.execute.interrupted", json!({"id": record.id}))
                }
            })?;
        }
        Ok(interrupted.len())
    }

    /// Runs every approved action whose kind has an executor, one at a time; returns how many
    /// ran. Actions of other kinds stay approved until their service runs them.
    pub fn run_approved(&self, executors: &Executors) -> Result<usize, GateError> {
        let mut ran = 0;
        while let Some(record) = self.claim(executors)? {
            let Some(executor) = executors.get(record.request.kind) else { break };
            crash::point("after-claim");
            let result = executor.execute(&record, &record.idempotency_key);
            crash::point("after-effect");
            self.finish(&record, result)?;
            crash::point("after-finish");
            ran += 1;
        }
        Ok(ran)
    }

    /// Moves the oldest approved action with an executor to `executing`.
    fn claim(&self, executors: &Executors) -> Result<Option<ActionRecord>, GateError> {
        let kinds: Vec<&str> = executors.kinds().map(|k| k.as_str()).collect();
        let claimed = self.write(Durability::PowerLoss, |tx, audit| {
            let record = tx
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM gate_actions WHERE state = 'approved'
                         AND kind IN (SELECT value FROM json_each(?1)) ORDER BY created_ms, id LIMIT 1"
                    ),
                    [to_json(&kinds)],
                    record_from_row,
                )
                .optional()
                .map_err(db)?;
            let Some(mut record) = record else { return Ok(None) };
            tx.execute(
                "UPDATE gate_actions SET state = 'executing', attempts = attempts + 1 WHERE id = ?1 AND state = 'approved'",
                [&record.id],
            )
            .map_err(db)?;
            record.attempts += 1;
            record.state = State::Executing;
            audit.record(tx, "gate", "gate.execute", json!({"id": record.id, "attempt": record.attempts}))?;
            Ok(Some(record))
        })?;
        Ok(claimed)
    }

    fn finish(&self, record: &ActionRecord, result: Result<Value, ExecError>) -> Result<(), GateError> {
        let now = self.now();
        let (state, outcome) = match result {
            Ok(value) => (State::Executed, value),
            Err(error) => (State::Failed, json!({ "error": error.to_string(), "effect": error.effect() })),
        };
        tracing::info!(id = %record.id, state = state.as_str(), "action finished");
        self.write(Durability::PowerLoss, |tx, audit| {
            tx.execute(
                "UPDATE gate_actions SET state = ?2, outcome = ?3, finished_ms = ?4 WHERE id = ?1 AND state = 'executing'",
                params![record.id, state.as_str(), to_json(&outcome), now],
            )
            .map_err(db)?;
            let detail = match &outcome {
                Value::Object(o) if o.contains_key("error") => json!({"id": record.id, "error": o["error"]}),
                _ => json!({"id": record.id}),
            };
            audit.record(tx, "gate", if state == State::Executed { "gate.executed" } else { "gate.failed" }, detail)
        })
    }
}

/// Audit entries written inside a gate transaction; the last is anchored after commit.
struct Audit<'a> {
    log: &'a AuditLog<'a>,
    last: Option<AuditEntry>,
}

impl Audit<'_> {
    fn record(&mut self, tx: &Transaction<'_>, actor: &str, action: &str, detail: Value) -> Result<(), GateError> {
        self.last = Some(self.log.record(tx, actor, action, &detail)?);
        Ok(())
    }
}

/// What the audit log keeps of a request: what and to whom, never message bodies or secrets.
fn request_detail(record: &ActionRecord) -> Value {
    json!({
        "id": record.id,
        "kind": record.request.kind,
        "session": record.session,
        "summary": record.request.summary,
        "recipients": record.request.recipients,
        "value_usd": record.request.value_usd,
        "decision": record.decision,
        "reasons": record.reasons,
    })
}

fn usage(conn: &rusqlite::Connection, now: i64) -> Result<Usage, GateError> {
    conn.query_row(
        "SELECT COALESCE(SUM(value_usd), 0.0), COUNT(*) FROM gate_spend WHERE ts_ms > ?1",
        [now - DAY_MS],
        |r| Ok(Usage { spent_usd: r.get(0)?, count: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX) }),
    )
    .map_err(db)
}

fn add_spend(tx: &Transaction<'_>, record: &ActionRecord, now: i64) -> Result<(), GateError> {
    if !record.request.kind.moves_money() {
        return Ok(());
    }
    tx.execute(
        "INSERT OR IGNORE INTO gate_spend (action_id, ts_ms, value_usd, calldata_bytes) VALUES (?1, ?2, ?3, ?4)",
        params![
            record.id,
            now,
            record.request.value_usd.unwrap_or_default(),
            i64::try_from(record.request.calldata_bytes).unwrap_or(i64::MAX)
        ],
    )
    .map_err(db)?;
    Ok(())
}

fn record_from_row(row: &Row<'_>) -> rusqlite::Result<ActionRecord> {
    let bad = |i, e: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into());
    let request: String = row.get(2)?;
    let request = serde_json::from_str(&request).map_err(|e| bad(2, e.to_string()))?;
    let decision: String = row.get(4)?;
    let reasons: String = row.get(5)?;
    let state: String = row.get(6)?;
    let review =
        match (row.get::<_, Option<String>>(7)?, row.get::<_, Option<String>>(8)?, row.get::<_, Option<i64>>(9)?) {
            (Some(v), Some(reason), Some(at_ms)) => {
                Some(Review { verdict: Verdict::parse(&v).ok_or_else(|| bad(7, v.clone()))?, reason, at_ms })
            }
            _ => None,
        };
    let human = match (row.get::<_, Option<String>>(10)?, row.get::<_, Option<i64>>(11)?) {
        (Some(h), Some(at_ms)) => {
            let h: Value = serde_json::from_str(&h).map_err(|e| bad(10, e.to_string()))?;
            Some(HumanDecision {
                approved: h["approved"].as_bool().unwrap_or(false),
                by: h["by"].as_str().unwrap_or_default().to_owned(),
                at_ms,
            })
        }
        _ => None,
    };
    Ok(ActionRecord {
        id: row.get(0)?,
        created_ms: row.get(1)?,
        request,
        session: row.get(3)?,
        decision: Rule::parse(&decision).ok_or_else(|| bad(4, decision.clone()))?,
        reasons: serde_json::from_str(&reasons).map_err(|e| bad(5, e.to_string()))?,
        state: State::parse(&state).ok_or_else(|| bad(6, state.clone()))?,
        review,
        human,
        expires_ms: row.get(12)?,
        idempotency_key: row.get(13)?,
        attempts: row.get(14)?,
        outcome: row.get::<_, Option<String>>(15)?.and_then(|o| serde_json::from_str(&o).ok()),
        finished_ms: row.get(16)?,
    })
}

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("sovereign/session-token/v1\0{token}")))
}

fn normalise_fact(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

fn db(source: rusqlite::Error) -> GateError {
    GateError::Database(source.to_string())
}
