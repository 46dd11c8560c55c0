//! The messaging tools, through the Tool API: `messages` reads the user's email and Signal
//! messages, `send_message` asks to send one, `message_status` says whether it went out. Every
//! request carries the session's token; a send to anyone but the user waits for the AI reviewer
//! and the user.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};
use sov_core::http::SESSION_HEADER;

use super::http::answer;
use crate::tool::{Tool, ToolError, cap, object_schema, parse};

/// The names of the messaging tools, in the order they are offered.
pub const NAMES: [&str; 3] = ["messages", "send_message", "message_status"];

/// Why the messaging tools are missing when they are (said to a model that calls one anyway).
pub(crate) const WHY_ABSENT: &str = "the Tool API is not available in this session";

/// The Tool API as seen from inside the sandbox.
#[derive(Clone)]
pub struct ToolApi {
    base: String,
    token: Option<String>,
    http: ureq::Agent,
}

impl std::fmt::Debug for ToolApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolApi")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl ToolApi {
    /// The Tool API at `base` (such as `http://127.0.0.1:6000`), for the session with `token`.
    pub fn new(base: &str, token: Option<String>) -> ToolApi {
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(120)))
            .build()
            .into();
        ToolApi { base: base.trim_end_matches('/').to_owned(), token, http }
    }

    /// The messaging tools over this API, in the order of [`NAMES`]. Few optional fields each: a
    /// grammar-constrained small model both decodes faster and chooses better with short schemas.
    pub fn tools(&self) -> [Arc<dyn Tool>; 3] {
        [Arc::new(Messages(self.clone())), Arc::new(SendMessage(self.clone())), Arc::new(MessageStatus(self.clone()))]
    }

    pub(crate) fn get(&self, path: &str, query: &[(&str, String)]) -> Result<String, ToolError> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        if let Some(token) = &self.token {
            request = request.header(SESSION_HEADER, token);
        }
        answer(path, request.call())
    }

    /// The status `GET path` answers (no session sent, nothing read), or `None` when the Tool
    /// API cannot be reached: how a session learns which services `sov serve` runs.
    pub(crate) fn status_of(&self, path: &str) -> Option<u16> {
        self.http.get(format!("{}{path}", self.base)).call().ok().map(|r| r.status().as_u16())
    }

    pub(crate) fn post(&self, path: &str, body: &Value) -> Result<String, ToolError> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header(SESSION_HEADER, token);
        }
        answer(path, request.send_json(body))
    }
}

/// `messages`: the user's messages, newest first (`GET /messages`).
#[derive(Debug, Clone)]
pub struct Messages(pub ToolApi);

impl Tool for Messages {
    fn name(&self) -> &str {
        NAMES[0]
    }

    fn description(&self) -> &str {
        "Read the user's email and Signal messages, newest first."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({
                "sender": {"type": "string", "description": "only from this address or number"},
                "thread_id": {"type": "string"},
                "limit": {"type": "integer", "description": "at most this many, default 20"}
            }),
            &[],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct ReadCall {
            sender: Option<String>,
            thread_id: Option<String>,
            limit: Option<u32>,
        }
        let call: ReadCall = parse(self.name(), arguments)?;
        let mut query: Vec<(&str, String)> = vec![("limit", call.limit.unwrap_or(20).to_string())];
        for (field, value) in [("sender", call.sender), ("thread_id", call.thread_id)] {
            if let Some(value) = value {
                query.push((field, value));
            }
        }
        self.0.get("/messages", &query).map(cap)
    }
}

/// `send_message`: asks the gate to send a message (`POST /send`).
#[derive(Debug, Clone)]
pub struct SendMessage(pub ToolApi);

impl Tool for SendMessage {
    fn name(&self) -> &str {
        NAMES[1]
    }

    fn description(&self) -> &str {
        "Ask to send a message. To the user's own accounts it goes out at once; to anyone else it waits for an AI reviewer and the user's approval (the answer says which)."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({
                "to": {"type": "string", "description": "one email address or E.164 number"},
                "body": {"type": "string"},
                "subject": {"type": "string"}
            }),
            &["to", "body"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct SendCall {
            to: String,
            body: String,
            subject: Option<String>,
        }
        let call: SendCall = parse(self.name(), arguments)?;
        let mut request = json!({"to": call.to, "body": call.body});
        if let Some(subject) = call.subject {
            request["subject"] = json!(subject);
        }
        let answer = cap(self.0.post("/send", &request)?);
        Ok(if answer.contains("\"pending\":true") {
            format!("{answer}\n[not sent yet: it waits for the AI reviewer and the user; ask with message_status]")
        } else {
            answer
        })
    }
}

/// `message_status`: whether an asked-for message was approved and sent (`GET /send/status`).
#[derive(Debug, Clone)]
pub struct MessageStatus(pub ToolApi);

impl Tool for MessageStatus {
    fn name(&self) -> &str {
        NAMES[2]
    }

    fn description(&self) -> &str {
        "Whether a message asked for with send_message was approved and sent."
    }

    fn schema(&self) -> Value {
        object_schema(json!({"id": {"type": "string", "description": "the id send_message answered"}}), &["id"])
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct StatusCall {
            id: String,
        }
        let call: StatusCall = parse(self.name(), arguments)?;
        self.0.get("/send/status", &[("id", call.id)]).map(cap)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn the_session_token_never_prints() {
        let token = "gate-session-token-5f1e";
        let debug = format!("{:?}", ToolApi::new("http://127.0.0.1:6000", Some(token.into())));
        assert!(!debug.contains(token) && debug.contains("[redacted]"), "{debug}");
        let debug = format!("{:?}", Messages(ToolApi::new("http://127.0.0.1:6000", Some(token.into()))));
        assert!(!debug.contains(token), "{debug}");
    }
}
