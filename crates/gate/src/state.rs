//! Where an action stands: the [`State`]s of its life. See [`crate::queue`] for the moves
//! between them.

use serde::Serialize;

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

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<State> {
        State::ALL.into_iter().find(|s| s.as_str() == name)
    }

    /// Still waiting for a decision.
    pub fn is_pending(self) -> bool {
        matches!(self, State::Reviewing | State::AwaitingHuman)
    }

    /// Settled for good: executed, failed, denied or expired.
    pub fn is_settled(self) -> bool {
        matches!(self, State::Executed | State::Failed | State::Denied | State::Expired)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn every_state_parses_back_from_its_name_and_is_pending_settled_or_in_between() {
        for state in State::ALL {
            assert_eq!(State::parse(state.as_str()), Some(state));
            let running = matches!(state, State::Approved | State::Executing);
            assert_eq!(
                [state.is_pending(), state.is_settled(), running].iter().filter(|b| **b).count(),
                1,
                "{state:?} is exactly one of pending, settled, approved or running"
            );
        }
        assert_eq!(State::parse("Approved"), None);
    }
}
