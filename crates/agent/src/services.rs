//! Sovereign's own tools for the agent, reached through the Tool API from inside the sandbox:
//! `messages` (read the user's mail and Signal), `send_message` and `message_status`. Every request carries the
//! session's token, so the gate knows which session read private data and what it asked for;
//! the gate, not the agent, decides whether a send goes out.

use serde::Deserialize;
use serde_json::{Value, json};

use crate::tools::{ToolError, cap, tool};

use sov_core::http::SESSION_HEADER;

/// The Tool API as seen from inside the sandbox.
#[derive(Debug, Clone)]
pub struct ToolApi {
    base: String,
    token: Option<String>,
    http: ureq::Agent,
}

/// The messaging tools' descriptions in the OpenAI `tools` format. Few optional fields each:
/// a grammar-constrained small model both decodes faster and chooses better with short schemas.
pub(crate) fn definitions() -> Vec<Value> {
    vec![
        tool(
            "messages",
            "Read the user's email and Signal messages, newest first.",
            json!({
                "sender": {"type": "string", "description": "only from this address or number"},
                "thread_id": {"type": "string"},
                "limit": {"type": "integer", "description": "at most this many, default 20"}
            }),
            &[],
        ),
        tool(
            "send_message",
            "Ask to send a message. To the user's own accounts it goes out at once; to anyone else it waits for an AI reviewer and the user's approval (the answer says which).",
            json!({
                "to": {"type": "string", "description": "one email address or E.164 number"},
                "body": {"type": "string"},
                "subject": {"type": "string"}
            }),
            &["to", "body"],
        ),
        tool(
            "message_status",
            "Whether a message asked for with send_message was approved and sent.",
            json!({"id": {"type": "string", "description": "the id send_message answered"}}),
            &["id"],
        ),
    ]
}

/// The names of the messaging tools.
pub(crate) const TOOL_NAMES: [&str; 3] = ["messages", "send_message", "message_status"];

fn parse<T: for<'de> Deserialize<'de>>(tool: &str, arguments: &str) -> Result<T, ToolError> {
    serde_json::from_str(arguments).map_err(|e| {
        ToolError(format!("the arguments of {tool} are not valid: {e}; send a JSON object with the documented fields"))
    })
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReadCall {
    sender: Option<String>,
    thread_id: Option<String>,
    limit: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SendCall {
    to: String,
    body: String,
    subject: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct StatusCall {
    id: String,
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

    /// Runs one call of a messaging tool (`name`, with the model's JSON `arguments`).
    pub(crate) fn call(&self, name: &str, arguments: &str) -> Result<String, ToolError> {
        match name {
            "messages" => {
                let call: ReadCall = parse(name, arguments)?;
                let mut query: Vec<(&str, String)> = vec![("limit", call.limit.unwrap_or(20).to_string())];
                for (field, value) in [("sender", call.sender), ("thread_id", call.thread_id)] {
                    if let Some(value) = value {
                        query.push((field, value));
                    }
                }
                self.get("/messages", &query)
            }
            "send_message" => {
                let call: SendCall = parse(name, arguments)?;
                let mut request = json!({"to": call.to, "body": call.body});
                if let Some(subject) = call.subject {
                    request["subject"] = json!(subject);
                }
                let answer = self.post("/send", &request)?;
                Ok(if answer.contains("\"pending\":true") {
                    format!(
                        "{answer}\n[not sent yet: it waits for the AI reviewer and the user; ask with message_status]"
                    )
                } else {
                    answer
                })
            }
            "message_status" => {
                let call: StatusCall = parse(name, arguments)?;
                self.get("/send/status", &[("id", call.id)])
            }
            other => Err(ToolError(format!("{other} is not a messaging tool"))),
        }
    }

    fn get(&self, path: &str, query: &[(&str, String)]) -> Result<String, ToolError> {
        let mut request = self.http.get(format!("{}{path}", self.base));
        for (name, value) in query {
            request = request.query(*name, value);
        }
        if let Some(token) = &self.token {
            request = request.header(SESSION_HEADER, token);
        }
        answer(path, request.call())
    }

    fn post(&self, path: &str, body: &Value) -> Result<String, ToolError> {
        let mut request = self.http.post(format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.header(SESSION_HEADER, token);
        }
        answer(path, request.send_json(body))
    }
}

fn answer(path: &str, response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Result<String, ToolError> {
    let mut response = response.map_err(|e| ToolError(format!("the Tool API ({path}) cannot be reached: {e}")))?;
    let status = response.status();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    if status.is_success() {
        Ok(cap(text))
    } else {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message").or_else(|| v.get("error")).and_then(Value::as_str).map(str::to_owned)
            })
            .unwrap_or(text);
        Err(ToolError(format!("{path} answered {}: {message}", status.as_u16())))
    }
}

/// The `remote` tool: a question for a stronger model outside this machine, asked through the
/// LLM API as `model: "remote:NAME"`. Sovereign sanitises it, and the gate has the AI reviewer
/// and the user approve it, before anything leaves; the answer comes back with the user's
/// private details restored.
#[derive(Debug, Clone)]
pub struct RemoteTool {
    base: String,
    token: Option<String>,
    api_key: Option<String>,
    names: Vec<String>,
    max_tokens: Option<u32>,
    http: ureq::Agent,
}

/// How long a remote question may wait for the user's approval and the answer.
const REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

impl RemoteTool {
    /// The remote models `names` (each `NAME` of a `remote:NAME` the server lists) behind the
    /// LLM API at `base`, for the session with `token`.
    pub fn new(base: &str, token: Option<String>, api_key: Option<String>, names: Vec<String>) -> RemoteTool {
        let http = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(REMOTE_TIMEOUT))
            .build()
            .into();
        RemoteTool { base: base.trim_end_matches('/').to_owned(), token, api_key, names, max_tokens: None, http }
    }

    /// Bounds each remote answer to `max_tokens` (by default the remote model decides).
    pub fn with_max_tokens(mut self, max_tokens: u32) -> RemoteTool {
        self.max_tokens = Some(max_tokens);
        self
    }

    /// The `NAME`s of the `remote:NAME` models in a server's model list.
    pub fn names_in(models: &[(String, Option<u64>)]) -> Vec<String> {
        models.iter().filter_map(|(id, _)| id.strip_prefix("remote:").map(str::to_owned)).collect()
    }

    pub(crate) fn definition(&self) -> Value {
        let mut properties = json!({
            "question": {"type": "string", "description": "the whole question, with the context it needs"}
        });
        if self.names.len() > 1 {
            properties["model"] = json!({"type": "string", "enum": self.names});
        }
        tool(
            "remote",
            "Ask a stronger remote model a hard question. Private details are replaced before it leaves, and the user approves each question, so it can take a while.",
            properties,
            &["question"],
        )
    }

    pub(crate) fn call(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Call {
            question: String,
            model: Option<String>,
        }
        let call: Call = parse("remote", arguments)?;
        let name = match call.model {
            Some(name) if self.names.contains(&name) => name,
            Some(name) => {
                return Err(ToolError(format!(
                    "there is no remote model {name:?}; use one of {}",
                    self.names.join(", ")
                )));
            }
            None => self.names.first().cloned().ok_or_else(|| ToolError("no remote model is configured".into()))?,
        };
        let mut body = json!({
            "model": format!("remote:{name}"),
            "messages": [{"role": "user", "content": call.question}],
        });
        if let Some(n) = self.max_tokens {
            body["max_tokens"] = json!(n);
        }
        let mut request = self.http.post(format!("{}/v1/chat/completions", self.base));
        if let Some(token) = &self.token {
            request = request.header(SESSION_HEADER, token);
        }
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let answer = answer("/v1/chat/completions", request.send_json(&body))?;
        let answer: Value = serde_json::from_str(&answer)
            .map_err(|e| ToolError(format!("the remote answer is not the expected JSON: {e}")))?;
        Ok(cap(answer.pointer("/choices/0/message/content").and_then(Value::as_str).unwrap_or_default().to_owned()))
    }
}
