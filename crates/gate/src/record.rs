//! The gate's records: an action as stored ([`ActionRecord`]) with its [`Review`] and
//! [`HumanDecision`], what the human answers ([`Decision`]), a new session's token
//! ([`NewSession`]), the status counts, and how a row of `gate_actions` becomes a record.

use std::collections::BTreeMap;

use rusqlite::Row;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::action::{ActionRequest, Session};
use crate::policy::Rule;
use crate::signals::Signals;
use crate::state::State;

/// The reviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Looks like what the user would want.
    Approve,
    /// Possibly fine, but the human should look closely.
    Warn,
    /// Looks like an attack or a mistake.
    Deny,
}

impl Verdict {
    /// The verdict's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Approve => "approve",
            Verdict::Warn => "warn",
            Verdict::Deny => "deny",
        }
    }

    /// The verdict named `name`.
    pub fn parse(name: &str) -> Option<Verdict> {
        [Verdict::Approve, Verdict::Warn, Verdict::Deny].into_iter().find(|v| v.as_str() == name)
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
    /// The model that gave the verdict; `None` when no model did (the reviewer failed, so the
    /// gate counted it as a denial) or the action was reviewed before models were recorded.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
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
    /// What the gate's code found when it was asked for ([`crate::signals`]); shown to the
    /// reviewer model and the human, never to the agent (a signal can name the user's contacts).
    #[serde(skip)]
    pub signals: Signals,
}

impl ActionRecord {
    /// The reviewer's verdict and reason as the agent that asked may be shown them. A denial
    /// that rests on a look-alike names no contact here (the human is shown which), so an agent
    /// cannot learn the user's address book by trying look-alikes.
    pub fn review_for_agent(&self) -> Option<(Verdict, String)> {
        let review = self.review.as_ref()?;
        let look_alike = self.signals.iter().any(|s| matches!(s, crate::signals::Signal::LookAlike { .. }));
        if review.verdict == Verdict::Deny && look_alike {
            return Some((
                Verdict::Deny,
                "denied by Sovereign's code: a recipient or a value in it imitates one of the user's contacts (the user is shown which)".into(),
            ));
        }
        Some((review.verdict, review.reason.clone()))
    }
}

/// A session's secret token (given to the sandbox) and its public record. Its `Debug` shows the
/// session and never the token.
#[derive(Clone)]
pub struct NewSession {
    /// The session.
    pub session: Session,
    /// The secret the sandbox presents (`SOV_SESSION`); stored only as a hash.
    pub token: String,
}

impl std::fmt::Debug for NewSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewSession").field("session", &self.session).field("token", &"[redacted]").finish()
    }
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

/// The columns of `gate_actions` that [`record_from_row`] reads, in its order.
pub(crate) const COLUMNS: &str = "id, created_ms, request, session, decision, reasons, state, ai_verdict, ai_reason, \
                                  ai_ms, human, human_ms, expires_ms, idempotency_key, attempts, outcome, finished_ms, \
                                  ai_model, signals";

/// A row of `SELECT {COLUMNS} FROM gate_actions` as a record; a row that does not parse is an
/// error naming the column, never a default.
pub(crate) fn record_from_row(row: &Row<'_>) -> rusqlite::Result<ActionRecord> {
    let bad = |i, e: String| rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into());
    let request: String = row.get(2)?;
    let request = serde_json::from_str(&request).map_err(|e| bad(2, e.to_string()))?;
    let decision: String = row.get(4)?;
    let reasons: String = row.get(5)?;
    let state: String = row.get(6)?;
    let review =
        match (row.get::<_, Option<String>>(7)?, row.get::<_, Option<String>>(8)?, row.get::<_, Option<i64>>(9)?) {
            (Some(v), Some(reason), Some(at_ms)) => Some(Review {
                verdict: Verdict::parse(&v).ok_or_else(|| bad(7, v.clone()))?,
                reason,
                at_ms,
                model: row.get(17)?,
            }),
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
        // Actions asked for before signals were computed have none.
        signals: match row.get::<_, Option<String>>(18)? {
            None => Signals::default(),
            Some(text) => serde_json::from_str(&text).map_err(|e| bad(18, e.to_string()))?,
        },
    })
}

/// `value` as JSON text for a column.
pub(crate) fn to_json(value: &impl Serialize) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::action::Side;

    #[test]
    fn a_new_session_prints_its_session_and_never_its_token() {
        let new = NewSession {
            session: Session { id: "s-0a1b2c".into(), side: Side::Open, labels: Default::default() },
            token: "5ec7e75ec7e75ec7e75ec7e7".into(),
        };
        for shown in [format!("{new:?}"), format!("{new:#?}")] {
            assert!(!shown.contains("5ec7e7"), "{shown}");
            assert!(shown.contains("s-0a1b2c") && shown.contains("[redacted]"), "{shown}");
        }
    }

    #[test]
    fn verdicts_parse_back_from_their_names_only() {
        for v in [Verdict::Approve, Verdict::Warn, Verdict::Deny] {
            assert_eq!(Verdict::parse(v.as_str()), Some(v));
        }
        assert_eq!(Verdict::parse("Approve"), None);
        assert_eq!(Verdict::parse("yes"), None);
    }
}
