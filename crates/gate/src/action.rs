//! What an agent asks Sovereign to do: an [`ActionRequest`], and the sandbox [`Session`] it
//! came from with the taint that session carries.

use std::collections::BTreeSet;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::GateError;

/// Every kind of side effect a Sovereign service performs for an agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Kind {
    /// Send an email or Signal message.
    #[serde(rename = "message.send")]
    MessageSend,
    /// Move money out of the wallet.
    #[serde(rename = "wallet.transfer")]
    WalletTransfer,
    /// Call a contract from the wallet (may move money, may cost gas).
    #[serde(rename = "wallet.call")]
    WalletCall,
    /// Ask a remote model.
    #[serde(rename = "remote.llm")]
    RemoteLlm,
    /// Fetch a web page.
    #[serde(rename = "web.fetch")]
    WebFetch,
    /// Search the web.
    #[serde(rename = "web.search")]
    WebSearch,
    /// Change Sovereign's settings, policy or allowlists: never possible from a sandbox.
    #[serde(rename = "settings.change")]
    SettingsChange,
    /// Any other tool's side effect.
    #[serde(rename = "tool.exec")]
    ToolExec,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 8] = [
        Kind::MessageSend,
        Kind::WalletTransfer,
        Kind::WalletCall,
        Kind::RemoteLlm,
        Kind::WebFetch,
        Kind::WebSearch,
        Kind::SettingsChange,
        Kind::ToolExec,
    ];

    /// The kind's name as it appears in requests, the policy file and the audit log.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::MessageSend => "message.send",
            Kind::WalletTransfer => "wallet.transfer",
            Kind::WalletCall => "wallet.call",
            Kind::RemoteLlm => "remote.llm",
            Kind::WebFetch => "web.fetch",
            Kind::WebSearch => "web.search",
            Kind::SettingsChange => "settings.change",
            Kind::ToolExec => "tool.exec",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// Moves money: counted against the daily caps.
    pub fn moves_money(self) -> bool {
        matches!(self, Kind::WalletTransfer | Kind::WalletCall)
    }

    /// Carries data off the machine to parties chosen by the request.
    pub fn reaches_internet(self) -> bool {
        matches!(self, Kind::WebFetch | Kind::WebSearch | Kind::RemoteLlm)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where the agent says a piece of the data an action carries came from.
///
/// This is the agent's claim, as it sent it to `/v1/actions`: nothing checks it, so a hacked
/// agent claims `"source": "user"` as easily as the truth. The policy and the gate decide nothing
/// from it (a test holds every verdict equal with and without it); the console, `sov confirm`
/// and the AI reviewer are shown it marked as the agent's claim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// `user` (typed by the human), `agent` (written by the model), `messages`, `notes`,
    /// `wallet`, `web`, `file`…
    pub source: String,
    /// Which item: a message id, a URL, a file path.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

/// One requested side effect, as the service that performs it describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRequest {
    /// What kind of side effect.
    pub kind: Kind,
    /// One line saying what would happen, shown to the reviewer and the human.
    #[serde(default)]
    pub summary: String,
    /// Exactly what would be sent or spent: `{"url": …}`, `{"to": …, "subject": …, "body": …}`.
    #[serde(default)]
    pub params: Map<String, Value>,
    /// Who receives it: addresses, phone numbers, wallet addresses, hosts.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// Every recipient is one of the user's own accounts. Set only by the Sovereign service that
    /// checked it; the Tool API never takes it from an agent.
    #[serde(default)]
    pub to_self: bool,
    /// The one chat a message goes to (`email:ADDRESS`, `signal:+NUMBER`, `signal-group:ID`),
    /// which the policy may allow replies to without confirmation. Set only by the messaging
    /// service from the recipient it parsed; the Tool API never takes it from an agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chat: Option<String>,
    /// Value moved, in US dollars (wallet actions).
    #[serde(default)]
    pub value_usd: Option<f64>,
    /// Size of the contract call data (wallet actions).
    #[serde(default)]
    pub calldata_bytes: u64,
    /// Where the agent says the data it carries came from: its unchecked claim (see
    /// [`Provenance`]), never a reason to allow anything.
    #[serde(default)]
    pub provenance: Vec<Provenance>,
    /// Why this action needs the human whatever the policy and the caps say (an ERC-20
    /// `approve`, a signature that can drain as surely as a transaction, a call whose data could
    /// not be decoded), one sentence each. Set only by the Sovereign service that built and
    /// decoded the action (the wallet); the Tool API never takes it from an agent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub must_confirm: Vec<String>,
}

/// Largest accepted `params`, as JSON text.
pub const MAX_PARAMS_BYTES: usize = 256 * 1024;
/// Longest accepted summary.
pub const MAX_SUMMARY_CHARS: usize = 500;

impl ActionRequest {
    /// A request of `kind` with nothing else set.
    pub fn new(kind: Kind) -> ActionRequest {
        ActionRequest {
            kind,
            summary: String::new(),
            params: Map::new(),
            recipients: Vec::new(),
            to_self: false,
            chat: None,
            value_usd: None,
            calldata_bytes: 0,
            provenance: Vec::new(),
            must_confirm: Vec::new(),
        }
    }

    /// Checks the request's shape; the error names the field and what is wrong with it.
    pub fn validate(&self) -> Result<(), GateError> {
        let invalid = |field: &str, message: String| Err(GateError::Invalid { field: field.into(), message });
        if self.summary.chars().count() > MAX_SUMMARY_CHARS {
            return invalid("summary", format!("is longer than {MAX_SUMMARY_CHARS} characters"));
        }
        if self.summary.chars().any(|c| c.is_control()) {
            return invalid("summary", "contains control characters (CR, LF, NUL…); write one plain line".into());
        }
        if serde_json::to_string(&self.params).map_or(0, |s| s.len()) > MAX_PARAMS_BYTES {
            return invalid("params", format!("is larger than {MAX_PARAMS_BYTES} bytes as JSON"));
        }
        for (i, r) in self.recipients.iter().enumerate() {
            if r.trim().is_empty() || r.chars().any(|c| c.is_control()) {
                return invalid(
                    &format!("recipients[{i}]"),
                    "is empty or contains control characters (CR, LF, NUL…), which could smuggle a second recipient or header".into(),
                );
            }
            // A recipient is what a human compares and retypes: a direction override or a
            // zero-width character would make two different recipients look the same.
            if let Some(c) = r.chars().find(|c| crate::hidden::is_hidden(*c)) {
                return invalid(
                    &format!("recipients[{i}]"),
                    format!(
                        "contains the invisible or direction-changing character U+{:04X}, which would make it look like another recipient; write it without",
                        u32::from(c)
                    ),
                );
            }
        }
        if let Some(v) = self.value_usd
            && !(v.is_finite() && v >= 0.0)
        {
            return invalid("value_usd", format!("{v} is not a non-negative amount"));
        }
        if self.kind.moves_money() && self.value_usd.is_none() {
            return invalid("value_usd", format!("is missing: a {} must state the value it moves", self.kind));
        }
        for (i, reason) in self.must_confirm.iter().enumerate() {
            if reason.trim().is_empty()
                || reason.chars().count() > MAX_SUMMARY_CHARS
                || reason.chars().any(char::is_control)
            {
                return invalid(
                    &format!("must_confirm[{i}]"),
                    format!("is not one plain sentence of at most {MAX_SUMMARY_CHARS} characters"),
                );
            }
        }
        if self.chat.is_some() && (self.kind != Kind::MessageSend || self.recipients.len() != 1) {
            return invalid("chat", "names the chat of a message.send with exactly one recipient".into());
        }
        if self.kind == Kind::WebFetch && self.url().is_none() {
            return invalid("params.url", "is missing: web.fetch needs the URL to fetch".into());
        }
        if self.kind == Kind::WebSearch && self.query().is_none_or(|q| q.trim().is_empty()) {
            return invalid("params.query", "is missing: web.search needs the words to search for".into());
        }
        if let Some(query) = self.query().filter(|q| q.chars().count() > MAX_QUERY_CHARS) {
            return invalid(
                "params.query",
                format!("is {} characters long; a search query is at most {MAX_QUERY_CHARS}", query.chars().count()),
            );
        }
        Ok(())
    }

    /// `params.url`, for web actions.
    pub fn url(&self) -> Option<&str> {
        self.params.get("url").and_then(Value::as_str)
    }

    /// `params.query`, for `web.search`.
    pub fn query(&self) -> Option<&str> {
        self.params.get("query").and_then(Value::as_str)
    }

    /// One line for lists: the summary (or the kind), the recipients, the value.
    pub fn headline(&self) -> String {
        let mut text = if self.summary.is_empty() { self.kind.as_str().to_owned() } else { self.summary.clone() };
        if !self.recipients.is_empty() {
            text.push_str(&format!(" → {}", self.recipients.join(", ")));
        }
        if let Some(v) = self.value_usd {
            text.push_str(&format!(" ({v:.2} USD)"));
        }
        text
    }

    /// What a human must type again to approve this action over the AI reviewer's denial: the
    /// recipients, and the amount when money moves; the URL for a fetch.
    pub fn confirm_fact(&self) -> String {
        let recipients = self.recipients.join(", ");
        match self.kind {
            Kind::WalletTransfer | Kind::WalletCall => {
                format!("{recipients} {:.2}", self.value_usd.unwrap_or_default()).trim().to_owned()
            }
            Kind::WebFetch => self.url().unwrap_or_default().to_owned(),
            Kind::WebSearch => self.query().unwrap_or_default().to_owned(),
            _ if !recipients.is_empty() => recipients,
            kind => kind.as_str().to_owned(),
        }
    }
}

/// The longest `web.search` query, in characters: longer is no search but a way to carry data out.
pub const MAX_QUERY_CHARS: usize = 1000;

/// Which side of the private/internet divide a sandbox session is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Side {
    /// Starts clean; reading private data taints it.
    Open,
    /// Treated as having read private data from the start.
    Private,
    /// Started with internet-facing tools: may never read private data.
    Internet,
}

impl Side {
    /// The side's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Open => "open",
            Side::Private => "private",
            Side::Internet => "internet",
        }
    }

    /// The side named `name`.
    pub fn parse(name: &str) -> Option<Side> {
        [Side::Open, Side::Private, Side::Internet].into_iter().find(|s| s.as_str() == name)
    }
}

/// Private data a session has read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Label {
    /// Email or Signal messages.
    Messages,
    /// The user's notes.
    Notes,
    /// Wallet balances and history.
    Wallet,
}

/// The sandbox session an action came from, with its taint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Session {
    /// Public id (shown in the console and the audit log; not the secret token).
    pub id: String,
    /// Its side of the divide.
    pub side: Side,
    /// Private data it has read.
    pub labels: BTreeSet<Label>,
}

/// Id of the session used for requests that carry no session token.
pub const ANONYMOUS_SESSION: &str = "anonymous";

impl Session {
    /// The session for requests without a token: it may read private data, so it is treated as
    /// having done so.
    pub fn anonymous() -> Session {
        Session { id: ANONYMOUS_SESSION.into(), side: Side::Private, labels: BTreeSet::new() }
    }

    /// Has read (or is assumed to have read) private data.
    pub fn is_tainted(&self) -> bool {
        self.side == Side::Private || !self.labels.is_empty()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn kinds_round_trip_by_name() {
        for kind in Kind::ALL {
            assert_eq!(Kind::parse(kind.as_str()), Some(kind));
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.as_str()));
        }
        assert_eq!(Kind::parse("message.sendd"), None);
    }

    #[test]
    fn header_injection_in_recipients_is_refused() {
        let mut req = ActionRequest::new(Kind::MessageSend);
        req.recipients = vec!["me@example.org\r\nBcc: them@example.org".into()];
        let err = req.validate().unwrap_err().to_string();
        assert!(err.contains("recipients[0]") && err.contains("control"), "{err}");
    }

    #[test]
    fn invisible_or_direction_changing_characters_in_recipients_are_refused_by_code_point() {
        for (recipient, code) in [
            ("bob\u{200B}@example.org", "U+200B"),
            ("0xAbC\u{202E}1234", "U+202E"),
            ("\u{2066}+4915112345678", "U+2066"),
            ("me@example.org\u{FEFF}", "U+FEFF"),
        ] {
            let mut req = ActionRequest::new(Kind::MessageSend);
            req.recipients = vec![recipient.into()];
            let err = req.validate().unwrap_err().to_string();
            assert!(err.contains("recipients[0]") && err.contains(code), "{recipient:?}: {err}");
        }
        let mut req = ActionRequest::new(Kind::MessageSend);
        req.recipients = vec!["bob@example.org".into()];
        req.validate().unwrap();
    }

    #[test]
    fn wallet_actions_must_state_their_value() {
        let mut req = ActionRequest::new(Kind::WalletTransfer);
        assert!(req.validate().unwrap_err().to_string().contains("value_usd"));
        req.value_usd = Some(f64::NAN);
        assert!(req.validate().unwrap_err().to_string().contains("not a non-negative amount"));
        req.value_usd = Some(5.0);
        req.validate().unwrap();
    }

    #[test]
    fn confirm_fact_is_what_a_human_retypes() {
        let mut req = ActionRequest::new(Kind::WalletTransfer);
        req.recipients = vec!["0xAbC".into()];
        req.value_usd = Some(12.5);
        assert_eq!(req.confirm_fact(), "0xAbC 12.50");
        let mut fetch = ActionRequest::new(Kind::WebFetch);
        fetch.params.insert("url".into(), json!("http://127.0.0.1:9/x"));
        assert_eq!(fetch.confirm_fact(), "http://127.0.0.1:9/x");
    }
}
