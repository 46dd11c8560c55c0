//! The gate's state machine: sessions, submitting, review, the human's decision, expiry, and
//! exactly-once execution. The records it moves are in [`crate::record`], how a move is made
//! durable in `durable.rs`, the human's decision rule in [`crate::approval`].
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
//! idempotent by key; otherwise it is marked failed as interrupted and never run twice. Each
//! kind has its own lane ([`Gate::run_approved_of`]); claiming is one transaction, so two lanes
//! never run one action.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use sov_core::store::Store;

use crate::action::{ANONYMOUS_SESSION, ActionRequest, Kind, Label, Session, Side};
use crate::approval::{self, Outcome, secs_to_ms};
use crate::crash;
use crate::durable::{Durability, Durable, db};
use crate::error::GateError;
use crate::exec::{ExecError, Executor, Executors};
use crate::policy::{Policy, Rule, Usage};
use crate::record::{COLUMNS, record_from_row, to_json};

pub use crate::record::{ActionRecord, Decision, HumanDecision, NewSession, Review, Status, Verdict};
pub use crate::state::State;

/// A clock in ms since the epoch; tests move it.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

const DAY_MS: i64 = 24 * 3600 * 1000;

/// The gate: one per daemon (the terminal's `sov confirm` opens its own on the same database).
///
/// To keep a decision's latency to one durable commit, two chores run on a maintenance thread:
/// moving the audit head file forward (it may lag the table by the last moments' entries, which
/// [`sov_core::audit::AuditLog::verify`] accepts) and checkpointing SQLite's write-ahead log.
/// Dropping the gate finishes both.
pub struct Gate {
    pub(crate) db: Durable,
    policy: RwLock<Arc<Policy>>,
    clock: Clock,
    pub(crate) contacts: crate::signals::Contacts,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("audit_head", &self.db.audit_head()).finish_non_exhaustive()
    }
}

impl Gate {
    /// A gate on `store` (audit head file `audit_head`) with `policy`, on the system clock.
    pub fn new(store: Store, audit_head: Option<PathBuf>, policy: Policy) -> Gate {
        Gate::with_clock(store, audit_head, policy, Arc::new(sov_core::now_ms))
    }

    /// As [`Gate::new`] with another clock.
    pub fn with_clock(store: Store, audit_head: Option<PathBuf>, policy: Policy, clock: Clock) -> Gate {
        Gate {
            db: Durable::open(store, audit_head),
            policy: RwLock::new(Arc::new(policy)),
            clock,
            contacts: crate::signals::Contacts::default(),
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

    /// Wakes everything waiting in [`Gate::wait_for_change`] (e.g. workers being stopped).
    pub fn wake(&self) {
        self.db.notify();
    }

    /// Waits until something changes (or `timeout` passes); for the daemon's workers.
    pub fn wait_for_change(&self, seen: &mut u64, timeout: Duration) {
        self.db.wait_for_change(seen, timeout);
    }

    /// Waits until action `id` is settled (executed, failed, denied or expired) and returns it,
    /// or `None` once `give_up` says so (asked at least twice a second): for a caller waiting on
    /// its own action, such as a request to a remote model.
    pub fn wait_until_settled(&self, id: &str, give_up: &dyn Fn() -> bool) -> Result<Option<ActionRecord>, GateError> {
        let mut seen = 0;
        loop {
            let record = self.get(id)?;
            if record.state.is_settled() {
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
        self.db.write(Durability::Crash, |tx, audit| {
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
        let store = self.db.read();
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
        // The side in the database wins over the caller's copy: a search since it was looked up
        // put the session on the internet side.
        if session.id != ANONYMOUS_SESSION {
            let side: Option<String> = self
                .db
                .read()
                .conn()
                .query_row("SELECT side FROM gate_sessions WHERE id = ?1", [&session.id], |r| r.get(0))
                .optional()
                .map_err(db)?;
            if let Some(side) = side.as_deref().and_then(Side::parse) {
                session.side = side;
            }
        }
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
        self.db.write(Durability::Crash, |tx, audit| {
            tx.execute("UPDATE gate_sessions SET labels = ?1 WHERE id = ?2", params![labels, id]).map_err(db)?;
            audit.record(tx, "gate", "gate.taint", json!({"session": id, "read": label}))
        })
    }

    // ---- submitting ----

    /// Decides `request` from `session` and stores it: denied, approved (allowed at once) or
    /// pending review. Every submission is in the audit log, whatever the decision. Its
    /// [`crate::Signals`] are computed first and stored with it; those that weigh `confirm` or
    /// more make an `allow` a `confirm` ([`crate::Signals::raise`]).
    pub fn submit(&self, session: &Session, request: ActionRequest) -> Result<ActionRecord, GateError> {
        request.validate()?;
        let signals = self.signals(session, &request);
        let policy = self.policy();
        let id = sov_core::random_hex(16)?;
        let key = sov_core::random_hex(16)?;
        let now = self.now();
        let record = self.db.write(Durability::Crash, |tx, audit| {
            let mut usage = usage(tx, now)?;
            // To the user's own accounts (set only by the wallet, which checked it) is no one's
            // first payment.
            if request.kind.moves_money() && !request.to_self {
                usage.new_recipients = never_paid(tx, &request.recipients)?;
            }
            let evaluation = signals.raise(policy.evaluate(&request, session, &usage));
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
                signals,
            };
            tx.execute(
                &format!("INSERT INTO gate_actions (kind, {COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, NULL, NULL, NULL, NULL, ?9, ?10, 0, NULL, ?11, NULL, ?12)"),
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
                    (!record.signals.is_empty()).then(|| to_json(&record.signals)),
                ],
            )
            .map_err(db)?;
            if state == State::Approved {
                add_spend(tx, &record, now)?;
            }
            audit.record(tx, "agent", "gate.request", request_detail(&record))?;
            // A clean session that searches or fetches is on the internet side from now on:
            // what it reads there may carry instructions, so it may no longer read private data.
            if matches!(record.request.kind, Kind::WebFetch | Kind::WebSearch)
                && state != State::Denied
                && session.side == Side::Open
                && session.labels.is_empty()
                && session.id != ANONYMOUS_SESSION
            {
                tx.execute("UPDATE gate_sessions SET side = 'internet' WHERE id = ?1 AND side = 'open' AND labels = '[]'", [&session.id])
                    .map_err(db)?;
                audit.record(tx, "gate", "gate.internet", json!({"session": session.id, "by": record.request.kind}))?;
            }
            Ok(record)
        })?;
        tracing::info!(id = %record.id, kind = %record.request.kind, decision = record.decision.as_str(), "action requested");
        crash::point("after-submit");
        Ok(record)
    }

    // ---- reading ----

    /// The action `id`.
    pub fn get(&self, id: &str) -> Result<ActionRecord, GateError> {
        let store = self.db.read();
        store
            .conn()
            .query_row(&format!("SELECT {COLUMNS} FROM gate_actions WHERE id = ?1"), [id], record_from_row)
            .optional()
            .map_err(db)?
            .ok_or_else(|| GateError::NotFound(id.to_owned()))
    }

    /// Actions in any of `states` (all when empty), newest first, at most `limit`.
    pub fn list(&self, states: &[State], limit: usize) -> Result<Vec<ActionRecord>, GateError> {
        let store = self.db.read();
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
        let store = self.db.read();
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
        let store = self.db.read();
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

    /// Stores a verdict no model gave (tests, scripted reviewers); see [`Gate::record_review_by`].
    pub fn record_review(&self, id: &str, verdict: Verdict, reason: &str) -> Result<ActionRecord, GateError> {
        self.record_review_by(id, None, verdict, reason)
    }

    /// Stores the AI reviewer's verdict, and the `model` that gave it; the action then waits
    /// for the human. A verdict for an action no longer under review (denied or expired
    /// meanwhile) is recorded nowhere.
    pub fn record_review_by(
        &self,
        id: &str,
        model: Option<&str>,
        verdict: Verdict,
        reason: &str,
    ) -> Result<ActionRecord, GateError> {
        let now = self.now();
        self.db.write(Durability::Crash, |tx, audit| {
            let changed = tx
                .execute(
                    "UPDATE gate_actions SET state = 'awaiting_human', ai_verdict = ?2, ai_reason = ?3, ai_ms = ?4,
                     ai_model = ?5 WHERE id = ?1 AND state = 'reviewing'",
                    params![id, verdict.as_str(), reason, now, model],
                )
                .map_err(db)?;
            if changed == 1 {
                let mut detail = json!({"id": id, "verdict": verdict, "reason": reason});
                if let Some(model) = model {
                    detail["model"] = json!(model);
                }
                audit.record(tx, "reviewer", "gate.review", detail)?;
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
        self.db.write(Durability::PowerLoss, |tx, audit| {
            let record = tx
                .query_row(&format!("SELECT {COLUMNS} FROM gate_actions WHERE id = ?1"), [id], record_from_row)
                .optional()
                .map_err(db)?
                .ok_or_else(|| GateError::NotFound(id.to_owned()))?;
            let outcome = approval::check(&record, decision, now, policy.confirm.override_delay_secs)?;
            let state = if outcome.approves() { State::Approved } else { State::Denied };
            tx.execute(
                "UPDATE gate_actions SET state = ?2, human = ?3, human_ms = ?4, finished_ms = ?5 WHERE id = ?1",
                params![
                    id,
                    state.as_str(),
                    to_json(&json!({"approved": outcome.approves(), "by": decision.by})),
                    now,
                    (!outcome.approves()).then_some(now)
                ],
            )
            .map_err(db)?;
            if outcome.approves() {
                add_spend(tx, &record, now)?;
            }
            let action = if outcome.approves() { "gate.approve" } else { "gate.deny" };
            audit.record(
                tx,
                "human",
                action,
                json!({
                    "id": id,
                    "by": decision.by,
                    "ai_verdict": record.review.as_ref().map(|r| r.verdict),
                    "override": outcome == Outcome::ApproveOverAiDeny,
                }),
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
        self.db.write(Durability::Crash, |tx, audit| {
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
            self.db.write(Durability::PowerLoss, |tx, audit| {
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

    /// Runs every approved action whose kind has an executor, oldest first, one at a time, on
    /// this thread; returns how many ran. Actions of other kinds stay approved until their
    /// service runs them. The daemon runs one lane per kind instead
    /// ([`crate::workers::Workers`], [`Gate::run_approved_of`]).
    pub fn run_approved(&self, executors: &Executors) -> Result<usize, GateError> {
        let kinds: Vec<Kind> = executors.kinds().collect();
        let mut ran = 0;
        while let Some(record) = self.claim(&kinds)? {
            let Some(executor) = executors.get(record.request.kind) else { break };
            self.run_claimed(&record, executor.as_ref())?;
            ran += 1;
        }
        Ok(ran)
    }

    /// One kind's lane: runs every approved action of `kind` with `executor`, oldest first, one
    /// at a time; returns how many ran. Lanes of different kinds run side by side, each
    /// claiming only its own kind, so a slow executor holds up only actions of its kind.
    pub fn run_approved_of(&self, kind: Kind, executor: &dyn Executor) -> Result<usize, GateError> {
        let mut ran = 0;
        while let Some(record) = self.claim(&[kind])? {
            self.run_claimed(&record, executor)?;
            ran += 1;
        }
        Ok(ran)
    }

    /// Runs a claimed action and records how it ended.
    fn run_claimed(&self, record: &ActionRecord, executor: &dyn Executor) -> Result<(), GateError> {
        crash::point("after-claim");
        let result = executor.execute(record, &record.idempotency_key);
        crash::point("after-effect");
        self.finish(record, result)?;
        crash::point("after-finish");
        Ok(())
    }

    /// Moves the oldest approved action of one of `kinds` to `executing`, in one durable
    /// transaction: two lanes (or two processes) never claim the same action.
    fn claim(&self, kinds: &[Kind]) -> Result<Option<ActionRecord>, GateError> {
        let kinds: Vec<&str> = kinds.iter().map(|k| k.as_str()).collect();
        self.db.write(Durability::PowerLoss, |tx, audit| {
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
        })
    }

    fn finish(&self, record: &ActionRecord, result: Result<Value, ExecError>) -> Result<(), GateError> {
        let now = self.now();
        let (state, outcome) = match result {
            Ok(value) => (State::Executed, value),
            Err(error) => (State::Failed, json!({ "error": error.to_string(), "effect": error.effect() })),
        };
        tracing::info!(id = %record.id, state = state.as_str(), "action finished");
        // What a web action brought back is untrusted text this session is about to read.
        if state == State::Executed
            && matches!(record.request.kind, Kind::WebFetch | Kind::WebSearch)
            && let Some(text) = outcome.get("text").and_then(Value::as_str)
        {
            let what = match (record.request.url(), record.request.query()) {
                (Some(url), _) => format!("the web page {url}"),
                (None, Some(query)) => format!("the web search results for \"{query}\""),
                _ => "a web answer".to_owned(),
            };
            if let Err(e) = self.note_served(&record.session, crate::provenance::Origin::Untrusted, &what, None, text) {
                tracing::warn!(id = %record.id, "remembering what the web answered: {e}");
            }
        }
        self.db.write(Durability::PowerLoss, |tx, audit| {
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

/// What the audit log keeps of a request: what and to whom, never message bodies or secrets.
fn request_detail(record: &ActionRecord) -> Value {
    let mut detail = json!({
        "id": record.id,
        "kind": record.request.kind,
        "session": record.session,
        "summary": record.request.summary,
        "recipients": record.request.recipients,
        "value_usd": record.request.value_usd,
        // The query or the URL of a web action (never what came back).
        "query": record.request.query(),
        "url": record.request.url(),
        "decision": record.decision,
        "reasons": record.reasons,
    });
    // What the code found, by name only (a signal's sentence can name a contact).
    if !record.signals.is_empty() {
        detail["signals"] = json!(record.signals.names());
    }
    detail
}

fn usage(conn: &rusqlite::Connection, now: i64) -> Result<Usage, GateError> {
    conn.query_row(
        "SELECT COALESCE(SUM(value_usd), 0.0), COUNT(*) FROM gate_spend WHERE ts_ms > ?1",
        [now - DAY_MS],
        |r| {
            Ok(Usage {
                spent_usd: r.get(0)?,
                count: u32::try_from(r.get::<_, i64>(1)?).unwrap_or(u32::MAX),
                new_recipients: Vec::new(),
            })
        },
    )
    .map_err(db)
}

/// The `recipients` no approved wallet action ever went to (compared without case: an Ethereum
/// address in checksum case and in lower case is one address). A wallet action counts once it is
/// approved (by the policy or by you), whether or not it then ran.
fn never_paid(conn: &rusqlite::Connection, recipients: &[String]) -> Result<Vec<String>, GateError> {
    let mut stmt = conn
        .prepare(
            "SELECT EXISTS (SELECT 1 FROM gate_spend s JOIN gate_actions a ON a.id = s.action_id, \
             json_each(a.request, '$.recipients') r WHERE lower(r.value) = lower(?1))",
        )
        .map_err(db)?;
    let mut new = Vec::new();
    for recipient in recipients {
        let paid: bool = stmt.query_row([recipient], |r| r.get(0)).map_err(db)?;
        if !paid {
            new.push(recipient.clone());
        }
    }
    Ok(new)
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

fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(format!("sovereign/session-token/v1\0{token}")))
}
