//! The human's decision rule, as a pure function of the stored action, the answer and the time:
//! [`check`]. The state machine ([`crate::queue::Gate::decide`]) applies its result inside the
//! transaction that read the action.
//!
//! The rule (principle 3, "2-of-2"):
//! - An action that is no longer pending cannot be decided again, so a replayed approval does
//!   nothing.
//! - Denying needs nothing more: the human can always say no.
//! - Approving needs the AI reviewer's verdict first.
//! - Approving over an AI "deny" needs the override delay (`confirm.override_delay_secs`, counted
//!   from the review) to have passed **and** the action's [`ActionRequest::confirm_fact`] typed
//!   again, compared after [`normalise_fact`] (runs of whitespace as one space, case folded).
//!
//! [`ActionRequest::confirm_fact`]: crate::action::ActionRequest::confirm_fact

use crate::error::GateError;
use crate::record::{ActionRecord, Decision, Verdict};

/// What the human's answer does to a pending action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The human denied it.
    Deny,
    /// Both the reviewer (approve or warn) and the human approved.
    Approve,
    /// The human approved over the reviewer's denial, after the delay and with the fact retyped.
    ApproveOverAiDeny,
}

impl Outcome {
    /// Whether the action is approved.
    pub fn approves(self) -> bool {
        self != Outcome::Deny
    }
}

/// Decides what `decision` does to `record` at `now_ms` with an override delay of
/// `override_delay_secs`; an error says what is missing (see the module docs).
pub fn check(
    record: &ActionRecord,
    decision: &Decision,
    now_ms: i64,
    override_delay_secs: u64,
) -> Result<Outcome, GateError> {
    if !record.state.is_pending() {
        return Err(GateError::AlreadyDecided { id: record.id.clone(), state: record.state });
    }
    if !decision.approve {
        return Ok(Outcome::Deny);
    }
    let Some(review) = &record.review else {
        return Err(GateError::Refused(
            "the AI reviewer has not answered yet; both must approve, so wait for its verdict".into(),
        ));
    };
    if review.verdict != Verdict::Deny {
        return Ok(Outcome::Approve);
    }
    let ready_at = review.at_ms.saturating_add(secs_to_ms(override_delay_secs));
    if now_ms < ready_at {
        return Err(GateError::Refused(format!(
            "the AI reviewer denied this action; you can override it in {} s (confirm.override_delay_secs)",
            (ready_at - now_ms).saturating_add(999) / 1000
        )));
    }
    let fact = record.request.confirm_fact();
    if decision.confirm_text.as_deref().map(normalise_fact) != Some(normalise_fact(&fact)) {
        return Err(GateError::Refused(format!("to override the AI reviewer's denial, type exactly: {fact}")));
    }
    Ok(Outcome::ApproveOverAiDeny)
}

/// A typed fact as it is compared: words separated by one space, lowercase.
pub fn normalise_fact(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// `secs` in ms, saturating.
pub(crate) fn secs_to_ms(secs: u64) -> i64 {
    i64::try_from(secs).unwrap_or(i64::MAX / 1000).saturating_mul(1000)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::action::{ActionRequest, Kind};
    use crate::policy::Rule;
    use crate::record::Review;
    use crate::state::State;
    use pretty_assertions::assert_eq;

    const REVIEWED_AT: i64 = 1_800_000_000_000;
    const DELAY: u64 = 600;

    fn record(verdict: Option<Verdict>) -> ActionRecord {
        let mut request = ActionRequest::new(Kind::MessageSend);
        request.recipients = vec!["Mallory@Example.org".into()];
        ActionRecord {
            id: "a1".into(),
            created_ms: REVIEWED_AT - 1000,
            request,
            session: "s-1".into(),
            decision: Rule::Confirm,
            reasons: vec!["a message to someone else: policy says confirm".into()],
            state: if verdict.is_some() { State::AwaitingHuman } else { State::Reviewing },
            review: verdict.map(|verdict| Review {
                verdict,
                reason: "r".into(),
                at_ms: REVIEWED_AT,
                model: Some("m".into()),
            }),
            human: None,
            expires_ms: REVIEWED_AT + 86_400_000,
            idempotency_key: "k".into(),
            attempts: 0,
            outcome: None,
            finished_ms: None,
            signals: Default::default(),
        }
    }

    fn approve(typed: Option<&str>) -> Decision {
        Decision { approve: true, confirm_text: typed.map(str::to_owned), by: "console".into() }
    }

    fn deny() -> Decision {
        Decision { approve: false, confirm_text: None, by: "console".into() }
    }

    fn refusal(result: Result<Outcome, GateError>) -> String {
        match result {
            Err(GateError::Refused(message)) => message,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    #[test]
    fn approving_over_an_ai_deny_too_early_is_refused_with_the_seconds_left() {
        let r = record(Some(Verdict::Deny));
        let typed = approve(Some("mallory@example.org"));
        let message = refusal(check(&r, &typed, REVIEWED_AT, DELAY));
        assert!(message.contains("override it in 600 s"), "{message}");
        // One ms short of the delay still counts as a whole second left.
        let message = refusal(check(&r, &typed, REVIEWED_AT + 599_999, DELAY));
        assert!(message.contains("override it in 1 s"), "{message}");
        assert_eq!(check(&r, &typed, REVIEWED_AT + 600_000, DELAY).unwrap(), Outcome::ApproveOverAiDeny);
    }

    #[test]
    fn approving_over_an_ai_deny_with_the_wrong_text_or_none_is_refused_naming_the_text() {
        let r = record(Some(Verdict::Deny));
        let late = REVIEWED_AT + 3_600_000;
        for typed in [None, Some(""), Some("mallory@example.com"), Some("mallory@example.org x"), Some("yes")] {
            let message = refusal(check(&r, &approve(typed), late, DELAY));
            assert_eq!(message, "to override the AI reviewer's denial, type exactly: Mallory@Example.org", "{typed:?}");
        }
    }

    #[test]
    fn approving_over_an_ai_deny_with_the_right_text_after_the_delay_is_an_override() {
        let r = record(Some(Verdict::Deny));
        let late = REVIEWED_AT + 600_000;
        assert_eq!(check(&r, &approve(Some("Mallory@Example.org")), late, DELAY).unwrap(), Outcome::ApproveOverAiDeny);
    }

    #[test]
    fn the_typed_text_is_compared_with_whitespace_collapsed_and_case_folded() {
        assert_eq!(normalise_fact("  A@B.org,\t c@D.ORG  1.50\n"), "a@b.org, c@d.org 1.50");
        let r = record(Some(Verdict::Deny));
        let late = REVIEWED_AT + 600_000;
        for typed in ["  mallory@EXAMPLE.org ", "MALLORY@EXAMPLE.ORG", "\tmallory@example.org\n"] {
            assert_eq!(check(&r, &approve(Some(typed)), late, DELAY).unwrap(), Outcome::ApproveOverAiDeny, "{typed:?}");
        }
        // Whitespace inside a word is not collapsed away.
        assert!(check(&r, &approve(Some("mallory @example.org")), late, DELAY).is_err());
    }

    #[test]
    fn approving_before_the_review_is_refused_and_denying_is_not() {
        let r = record(None);
        let message = refusal(check(&r, &approve(None), REVIEWED_AT, DELAY));
        assert!(message.contains("has not answered yet"), "{message}");
        assert_eq!(check(&r, &deny(), REVIEWED_AT, DELAY).unwrap(), Outcome::Deny);
    }

    #[test]
    fn approve_and_warn_need_no_delay_or_text_and_deny_always_works() {
        for verdict in [Verdict::Approve, Verdict::Warn] {
            let r = record(Some(verdict));
            assert_eq!(check(&r, &approve(None), REVIEWED_AT, DELAY).unwrap(), Outcome::Approve, "{verdict:?}");
        }
        for verdict in [Verdict::Approve, Verdict::Warn, Verdict::Deny] {
            let r = record(Some(verdict));
            assert_eq!(check(&r, &deny(), REVIEWED_AT, DELAY).unwrap(), Outcome::Deny, "{verdict:?}");
            assert!(!Outcome::Deny.approves());
        }
        assert!(Outcome::Approve.approves() && Outcome::ApproveOverAiDeny.approves());
    }

    #[test]
    fn a_decided_action_cannot_be_decided_again() {
        for state in State::ALL.into_iter().filter(|s| !s.is_pending()) {
            let mut r = record(Some(Verdict::Approve));
            r.state = state;
            for d in [approve(None), deny()] {
                let err = check(&r, &d, REVIEWED_AT, DELAY).unwrap_err();
                assert!(matches!(err, GateError::AlreadyDecided { state: s, .. } if s == state), "{err}");
            }
        }
    }

    #[test]
    fn a_huge_delay_does_not_overflow() {
        let r = record(Some(Verdict::Deny));
        let message = refusal(check(&r, &approve(Some("mallory@example.org")), i64::MAX - 1, u64::MAX));
        assert!(message.contains("override it in"), "{message}");
    }
}
