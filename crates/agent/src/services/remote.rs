//! The `remote` tool: a question for a stronger model outside this machine, asked through the
//! LLM API as `model: "remote:NAME"`. Sovereign sanitises it, and the gate has the AI reviewer
//! and the user approve it, before anything leaves; the answer comes back with the user's
//! private details restored.

use serde::Deserialize;
use serde_json::{Value, json};
use sov_core::http::SESSION_HEADER;

use super::http::answer;
use crate::tool::{Tool, ToolError, cap, object_schema, parse};

/// The tool's name.
pub const NAME: &str = "remote";

/// Why the tool is missing when it is (said to a model that calls it anyway).
pub(crate) const WHY_ABSENT: &str = "the model server lists no remote model";

/// How long a remote question may wait for the user's approval and the answer.
const REMOTE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// `remote`: asks one of the server's `remote:NAME` models.
#[derive(Clone)]
pub struct RemoteTool {
    base: String,
    token: Option<String>,
    api_key: Option<String>,
    names: Vec<String>,
    max_tokens: Option<u32>,
    http: ureq::Agent,
}

impl std::fmt::Debug for RemoteTool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteTool")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("names", &self.names)
            .field("max_tokens", &self.max_tokens)
            .finish()
    }
}

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
}

impl Tool for RemoteTool {
    fn name(&self) -> &str {
        NAME
    }

    fn description(&self) -> &str {
        "Ask a stronger remote model a hard question. Private details are replaced before it leaves, and the user approves each question, so it can take a while."
    }

    fn schema(&self) -> Value {
        let mut properties = json!({
            "question": {"type": "string", "description": "the whole question, with the context it needs"}
        });
        if self.names.len() > 1 {
            properties["model"] = json!({"type": "string", "enum": self.names});
        }
        object_schema(properties, &["question"])
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Call {
            question: String,
            model: Option<String>,
        }
        let call: Call = parse(NAME, arguments)?;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn neither_the_session_token_nor_the_api_key_prints() {
        let (token, key) = ("gate-session-token-5f1e", "sk-api-key-93ab");
        let tool = RemoteTool::new("http://127.0.0.1:8080", Some(token.into()), Some(key.into()), vec!["big".into()]);
        let debug = format!("{tool:?}");
        assert!(!debug.contains(token) && !debug.contains(key), "{debug}");
        assert!(debug.contains("[redacted]") && debug.contains("big"), "{debug}");
    }
}
