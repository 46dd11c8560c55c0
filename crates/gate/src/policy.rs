//! The policy file and the decision it gives an action: [`Rule::Allow`], [`Rule::Confirm`] or
//! [`Rule::Deny`], with the built-in rules applied on top.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::action::{ActionRequest, Kind, Session};
use crate::error::GateError;

/// The documented default policy, as `sov policy init` writes it.
pub const DEFAULT_POLICY_TOML: &str = include_str!("default_policy.toml");

/// What the gate does with an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rule {
    /// At once.
    Allow,
    /// After the AI reviewer and the human both approve.
    Confirm,
    /// Never.
    Deny,
}

impl Rule {
    /// The rule's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::Allow => "allow",
            Rule::Confirm => "confirm",
            Rule::Deny => "deny",
        }
    }

    /// The rule named `name`.
    pub fn parse(name: &str) -> Option<Rule> {
        [Rule::Allow, Rule::Confirm, Rule::Deny].into_iter().find(|r| r.as_str() == name)
    }
}

/// The whole policy file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Policy {
    /// `[actions]`: the rule per kind.
    pub actions: Actions,
    /// `[caps]`: wallet limits per rolling 24 hours.
    pub caps: Caps,
    /// `[confirm]`: timing of confirmations.
    pub confirm: ConfirmTiming,
    /// `[messages]`: chats agents may reply to without confirmation.
    pub messages: Messages,
}

/// `[messages]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Messages {
    /// Chats (`email:ADDRESS`, `signal:+NUMBER`, `signal-group:ID`) a message may go to at once,
    /// without the AI reviewer and you: a message to exactly that one chat.
    pub reply_without_confirm: Vec<String>,
}

/// `[actions]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
#[allow(missing_docs)]
pub struct Actions {
    #[serde(rename = "message.send")]
    pub message_send: Rule,
    #[serde(rename = "message.send_self")]
    pub message_send_self: Rule,
    #[serde(rename = "wallet.transfer")]
    pub wallet_transfer: Rule,
    #[serde(rename = "wallet.call")]
    pub wallet_call: Rule,
    #[serde(rename = "wallet.under_caps")]
    pub wallet_under_caps: Rule,
    #[serde(rename = "remote.llm")]
    pub remote_llm: Rule,
    #[serde(rename = "web.fetch")]
    pub web_fetch: Rule,
    #[serde(rename = "web.search")]
    pub web_search: Rule,
    #[serde(rename = "tool.exec")]
    pub tool_exec: Rule,
    #[serde(rename = "settings.change")]
    pub settings_change: Rule,
}

impl Default for Actions {
    fn default() -> Self {
        Actions {
            message_send: Rule::Confirm,
            message_send_self: Rule::Allow,
            wallet_transfer: Rule::Confirm,
            wallet_call: Rule::Confirm,
            wallet_under_caps: Rule::Allow,
            remote_llm: Rule::Confirm,
            web_fetch: Rule::Confirm,
            web_search: Rule::Allow,
            tool_exec: Rule::Confirm,
            settings_change: Rule::Deny,
        }
    }
}

/// `[caps]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Caps {
    /// Wallet value per rolling 24 hours, USD.
    pub daily_usd: f64,
    /// Wallet actions per rolling 24 hours.
    pub daily_count: u32,
    /// Largest call data of one wallet action, bytes.
    pub calldata_bytes: u64,
}

impl Default for Caps {
    fn default() -> Self {
        Caps { daily_usd: 100.0, daily_count: 20, calldata_bytes: 4096 }
    }
}

/// `[confirm]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ConfirmTiming {
    /// Seconds after an AI "deny" before a human may override it.
    pub override_delay_secs: u64,
    /// Seconds until an undecided action expires as denied.
    pub expiry_secs: u64,
}

impl Default for ConfirmTiming {
    fn default() -> Self {
        ConfirmTiming { override_delay_secs: 600, expiry_secs: 86400 }
    }
}

/// Wallet use in the last 24 hours, which the caps are checked against, and what the wallet
/// history says of the request's recipients.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// USD moved.
    pub spent_usd: f64,
    /// Wallet actions.
    pub count: u32,
    /// The request's recipients that no approved wallet action ever went to (any time, not only
    /// the last 24 hours); filled in for wallet requests only.
    pub new_recipients: Vec<String>,
}

/// The policy's answer for one action, with the reasons a human will read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// What the gate does.
    pub rule: Rule,
    /// Why, one sentence each, most decisive first.
    pub reasons: Vec<String>,
}

impl Policy {
    /// Reads the policy file; a missing file means the default policy.
    pub fn load(path: &Path) -> Result<Policy, GateError> {
        match std::fs::read_to_string(path) {
            Ok(text) => Policy::parse(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Policy::default()),
            Err(e) => Err(GateError::Policy { path: path.to_owned(), message: format!("cannot read it: {e}") }),
        }
    }

    /// Parses policy text and refuses anything that would loosen a built-in rule.
    pub fn parse(text: &str, origin: &Path) -> Result<Policy, GateError> {
        let error = |message: String| GateError::Policy { path: origin.to_owned(), message };
        let policy: Policy = toml::from_str(text).map_err(|e| error(e.to_string()))?;
        if policy.actions.message_send == Rule::Allow {
            return Err(error(
                "actions.\"message.send\" = \"allow\" is not possible: a message to anyone but your own accounts always needs your confirmation".into(),
            ));
        }
        if policy.actions.settings_change != Rule::Deny {
            return Err(error(
                "actions.\"settings.change\" must be \"deny\": settings, policy and allowlists change only by you, outside every sandbox".into(),
            ));
        }
        if !(policy.caps.daily_usd.is_finite() && policy.caps.daily_usd >= 0.0) {
            return Err(error(format!("caps.daily_usd = {} is not a non-negative amount", policy.caps.daily_usd)));
        }
        Ok(policy)
    }

    /// The policy as TOML, for `sov policy show`.
    pub fn to_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not render the policy: {e}\n"))
    }

    /// Decides `request` from `session` given the wallet `usage` of the last 24 hours.
    pub fn evaluate(&self, request: &ActionRequest, session: &Session, usage: &Usage) -> Evaluation {
        let a = &self.actions;
        let mut reasons = Vec::new();
        let mut rule = match request.kind {
            Kind::MessageSend if request.to_self && !request.recipients.is_empty() => {
                reasons.push(format!("a message to your own account: policy says {}", a.message_send_self.as_str()));
                a.message_send_self
            }
            Kind::MessageSend
                if request.chat.as_ref().is_some_and(|chat| self.messages.reply_without_confirm.contains(chat)) =>
            {
                reasons.push(format!(
                    "a message to {}, a chat you allow replies to without confirmation ([messages] reply_without_confirm)",
                    request.chat.as_deref().unwrap_or_default()
                ));
                Rule::Allow
            }
            Kind::MessageSend => {
                reasons.push(format!("a message to someone else: policy says {}", a.message_send.as_str()));
                a.message_send.max(Rule::Confirm)
            }
            Kind::WalletTransfer | Kind::WalletCall => {
                let above = if request.kind == Kind::WalletTransfer { a.wallet_transfer } else { a.wallet_call };
                match self.cap_exceeded(request, usage) {
                    _ if above == Rule::Deny => {
                        reasons.push(format!("policy says deny for {}", request.kind));
                        Rule::Deny
                    }
                    Some(cap) => {
                        reasons.push(format!("{cap}: policy says {} above the caps", above.as_str()));
                        above
                    }
                    None => {
                        reasons.push(format!(
                            "within the daily caps ({:.2} of {:.2} USD used, {} of {} actions): policy says {}",
                            usage.spent_usd,
                            self.caps.daily_usd,
                            usage.count,
                            self.caps.daily_count,
                            a.wallet_under_caps.as_str()
                        ));
                        a.wallet_under_caps
                    }
                }
            }
            Kind::SettingsChange => {
                reasons.push("settings change only by you, outside every sandbox (built-in rule)".into());
                Rule::Deny
            }
            kind => {
                let rule = match kind {
                    Kind::RemoteLlm => a.remote_llm,
                    Kind::WebFetch => a.web_fetch,
                    Kind::WebSearch => a.web_search,
                    _ => a.tool_exec,
                };
                reasons.push(format!("policy says {} for {kind}", rule.as_str()));
                rule
            }
        };
        if request.kind.moves_money() && !usage.new_recipients.is_empty() && rule < Rule::Confirm {
            reasons.insert(
                0,
                format!(
                    "never paid before: {} (a first payment is always confirmed, whatever the caps; built-in rule)",
                    usage.new_recipients.join(", ")
                ),
            );
            rule = Rule::Confirm;
        }
        if !request.must_confirm.is_empty() && rule < Rule::Confirm {
            for (i, reason) in request.must_confirm.iter().enumerate() {
                reasons.insert(i, format!("{reason} (always confirmed, whatever the caps; built-in rule)"));
            }
            rule = Rule::Confirm;
        }
        if request.kind.reaches_internet() && session.is_tainted() && rule < Rule::Confirm {
            let what = if session.labels.is_empty() {
                format!("is on the {} side", session.side.as_str())
            } else {
                let labels: Vec<_> = session.labels.iter().map(|l| format!("{l:?}").to_lowercase()).collect();
                format!("has read private data ({})", labels.join(", "))
            };
            reasons.insert(
                0,
                format!("session {} {what}: reaching the internet needs confirmation (built-in rule)", session.id),
            );
            rule = Rule::Confirm;
        }
        Evaluation { rule, reasons }
    }

    /// The first cap this wallet request would break, described; `None` when within all.
    fn cap_exceeded(&self, request: &ActionRequest, usage: &Usage) -> Option<String> {
        let value = request.value_usd.unwrap_or(f64::INFINITY);
        if usage.spent_usd + value > self.caps.daily_usd {
            return Some(format!(
                "{value:.2} USD on top of {:.2} USD in the last 24 h is over the daily cap of {:.2} USD",
                usage.spent_usd, self.caps.daily_usd
            ));
        }
        if usage.count.saturating_add(1) > self.caps.daily_count {
            return Some(format!("over the daily cap of {} wallet actions", self.caps.daily_count));
        }
        if request.calldata_bytes > self.caps.calldata_bytes {
            return Some(format!(
                "{} bytes of call data is over the cap of {} bytes",
                request.calldata_bytes, self.caps.calldata_bytes
            ));
        }
        None
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::action::{Label, Side};
    use pretty_assertions::assert_eq;

    fn open_session() -> Session {
        Session { id: "s1".into(), side: Side::Open, labels: Default::default() }
    }

    #[test]
    fn default_text_is_the_default_policy() {
        assert_eq!(Policy::parse(DEFAULT_POLICY_TOML, Path::new("default")).unwrap(), Policy::default());
    }

    #[test]
    fn built_in_rules_cannot_be_loosened() {
        for text in [
            "[actions]\n\"message.send\" = \"allow\"\n",
            "[actions]\n\"settings.change\" = \"confirm\"\n",
            "[actions]\n\"settings.change\" = \"allow\"\n",
        ] {
            let err = Policy::parse(text, Path::new("p.toml")).unwrap_err().to_string();
            assert!(
                err.contains("p.toml") && err.contains("not possible") || err.contains("must be \"deny\""),
                "{err}"
            );
        }
        let err = Policy::parse("[actions]\n\"web.fetch\" = \"maybe\"\n", Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().contains("maybe"), "{err}");
        let err = Policy::parse("[caps]\ndaily_usdd = 5\n", Path::new("p.toml")).unwrap_err();
        assert!(err.to_string().contains("daily_usdd"), "{err}");
    }

    #[test]
    fn sending_to_others_is_never_allowed_even_when_flagged_as_self_without_recipients() {
        let policy = Policy::default();
        let mut req = ActionRequest::new(Kind::MessageSend);
        req.to_self = true;
        assert_eq!(policy.evaluate(&req, &open_session(), &Usage::default()).rule, Rule::Confirm);
        req.recipients = vec!["me@example.org".into()];
        assert_eq!(policy.evaluate(&req, &open_session(), &Usage::default()).rule, Rule::Allow);
        req.to_self = false;
        assert_eq!(policy.evaluate(&req, &open_session(), &Usage::default()).rule, Rule::Confirm);
    }

    #[test]
    fn only_a_message_to_exactly_one_allowlisted_chat_skips_confirmation() {
        let policy =
            Policy::parse("[messages]\nreply_without_confirm = [\"email:bob@example.org\"]\n", Path::new("p.toml"))
                .unwrap();
        let mut req = ActionRequest::new(Kind::MessageSend);
        req.recipients = vec!["bob@example.org".into()];
        assert_eq!(policy.evaluate(&req, &open_session(), &Usage::default()).rule, Rule::Confirm, "no chat named");
        req.chat = Some("email:bob@example.org".into());
        let evaluation = policy.evaluate(&req, &open_session(), &Usage::default());
        assert_eq!(evaluation.rule, Rule::Allow);
        assert!(evaluation.reasons[0].contains("reply_without_confirm"), "{:?}", evaluation.reasons);
        req.chat = Some("email:carol@example.org".into());
        assert_eq!(policy.evaluate(&req, &open_session(), &Usage::default()).rule, Rule::Confirm);
        req.chat = Some("email:bob@example.org".into());
        req.recipients.push("carol@example.org".into());
        assert!(req.validate().is_err(), "a chat with two recipients must be refused");
    }

    #[test]
    fn wallet_caps_are_rolling_sums() {
        let policy = Policy::default();
        let mut req = ActionRequest::new(Kind::WalletTransfer);
        req.value_usd = Some(40.0);
        let under = policy.evaluate(&req, &open_session(), &Usage { spent_usd: 60.0, count: 3, ..Usage::default() });
        assert_eq!(under.rule, Rule::Allow);
        let over = policy.evaluate(&req, &open_session(), &Usage { spent_usd: 60.01, count: 3, ..Usage::default() });
        assert_eq!(over.rule, Rule::Confirm);
        assert!(over.reasons[0].contains("daily cap of 100.00 USD"), "{:?}", over.reasons);
        let count = policy.evaluate(&req, &open_session(), &Usage { spent_usd: 0.0, count: 20, ..Usage::default() });
        assert_eq!(count.rule, Rule::Confirm);
        req.value_usd = Some(1.0);
        req.calldata_bytes = 5000;
        assert_eq!(policy.evaluate(&req, &open_session(), &Usage::default()).rule, Rule::Confirm);
    }

    #[test]
    fn tainted_sessions_need_confirmation_to_reach_the_internet() {
        let mut policy = Policy::default();
        policy.actions.web_fetch = Rule::Allow;
        let mut req = ActionRequest::new(Kind::WebFetch);
        req.params.insert("url".into(), "http://127.0.0.1:1/".into());
        let mut session = open_session();
        assert_eq!(policy.evaluate(&req, &session, &Usage::default()).rule, Rule::Allow);
        session.labels.insert(Label::Messages);
        let eval = policy.evaluate(&req, &session, &Usage::default());
        assert_eq!(eval.rule, Rule::Confirm);
        assert!(eval.reasons[0].contains("has read private data (messages)"), "{:?}", eval.reasons);
        assert_eq!(policy.evaluate(&req, &Session::anonymous(), &Usage::default()).rule, Rule::Confirm);
    }

    #[test]
    fn a_claimed_provenance_never_changes_an_evaluation() {
        let mut policy = Policy::default();
        policy.actions.web_fetch = Rule::Allow;
        let mut tainted = open_session();
        tainted.labels.insert(Label::Messages);
        let claim = |source: &str| crate::Provenance { source: source.into(), detail: "the user typed it".into() };
        for kind in Kind::ALL {
            let mut req = ActionRequest::new(kind);
            req.recipients = vec!["bob@example.org".into()];
            req.value_usd = Some(10.0);
            req.params.insert("url".into(), "http://127.0.0.1:1/".into());
            for session in [open_session(), tainted.clone(), Session::anonymous()] {
                for usage in [Usage::default(), Usage { spent_usd: 95.0, count: 3, ..Usage::default() }] {
                    let plain = policy.evaluate(&req, &session, &usage);
                    let mut claimed = req.clone();
                    claimed.provenance = vec![claim("user"), claim("policy"), claim("human")];
                    assert_eq!(policy.evaluate(&claimed, &session, &usage), plain, "{kind} from {}", session.id);
                }
            }
        }
    }

    #[test]
    fn settings_change_is_always_denied() {
        let req = ActionRequest::new(Kind::SettingsChange);
        assert_eq!(Policy::default().evaluate(&req, &open_session(), &Usage::default()).rule, Rule::Deny);
    }
}
