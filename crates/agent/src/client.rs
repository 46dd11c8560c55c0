//! The model, over HTTP: any OpenAI-compatible `/v1/chat/completions` (Sovereign's own LLM API
//! first of all), streamed, so text shows as it is generated and a step can be cancelled at once.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::session::{AgentError, Model, Reply};

/// Sampling options sent with each request.
#[derive(Debug, Clone, Default)]
pub struct Sampling {
    /// Temperature (0 = greedy); the server's default when `None`.
    pub temperature: Option<f32>,
    /// A fixed seed.
    pub seed: Option<u32>,
    /// At most this many tokens per answer.
    pub max_tokens: Option<u32>,
}

/// A chat model behind an OpenAI-compatible API.
#[derive(Clone)]
pub struct HttpModel {
    base: String,
    model: String,
    api_key: Option<String>,
    sampling: Sampling,
    cancel: Arc<AtomicBool>,
    http: ureq::Agent,
}

impl std::fmt::Debug for HttpModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpModel")
            .field("base", &self.base)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "[redacted]"))
            .field("sampling", &self.sampling)
            .finish()
    }
}

/// One piece of a streamed answer, handed from the reading thread to the agent.
enum Piece {
    Text(String),
    Done(Result<Reply, String>),
}

impl HttpModel {
    /// `model` at `base` (such as `http://127.0.0.1:8080`); `cancel` stops a step in progress.
    pub fn new(base: &str, model: &str, api_key: Option<String>, cancel: Arc<AtomicBool>) -> HttpModel {
        let http = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        HttpModel {
            base: base.trim_end_matches('/').to_owned(),
            model: model.to_owned(),
            api_key,
            sampling: Sampling::default(),
            cancel,
            http,
        }
    }

    /// Samples with `sampling`.
    pub fn with_sampling(mut self, sampling: Sampling) -> HttpModel {
        self.sampling = sampling;
        self
    }

    /// The model's context window in tokens, if the server says (Sovereign's `/v1/models`
    /// reports `context_length` for a loaded or configured model).
    pub fn context_window(&self) -> Option<usize> {
        let models = server_models(&self.base, self.api_key.as_deref());
        let entry = models.iter().find(|(id, _)| *id == self.model).or(if self.model == "default" {
            models.first()
        } else {
            None
        })?;
        entry.1.and_then(|n| usize::try_from(n).ok())
    }

    fn body(&self, messages: &[Value], tools: &Value) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        if tools.as_array().is_some_and(|t| !t.is_empty()) {
            body["tools"] = tools.clone();
        }
        if let Some(t) = self.sampling.temperature {
            body["temperature"] = json!(t);
        }
        if let Some(seed) = self.sampling.seed {
            body["seed"] = json!(seed);
        }
        if let Some(n) = self.sampling.max_tokens {
            body["max_tokens"] = json!(n);
        }
        body
    }
}

impl Model for HttpModel {
    fn complete(
        &mut self,
        messages: &[Value],
        tools: &Value,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Reply, AgentError> {
        let url = format!("{}/v1/chat/completions", self.base);
        let mut request = self.http.post(&url);
        if let Some(key) = &self.api_key {
            request = request.header("Authorization", &format!("Bearer {key}"));
        }
        let body = self.body(messages, tools);
        // The request runs on its own thread so that Ctrl-C returns at once even while the
        // server is still reading the prompt; the abandoned thread ends at its next chunk and
        // drops the connection, which frees the server's slot.
        let (tx, rx) = mpsc::channel();
        let failing_url = url.clone();
        std::thread::spawn(move || {
            let result = request
                .send_json(&body)
                .map_err(|e| format!("cannot reach the model at {failing_url}: {e}; is `sov serve` running?"))
                .and_then(|response| read_stream(response, &tx));
            let _ = tx.send(Piece::Done(result));
        });
        loop {
            if self.cancel.load(Ordering::SeqCst) {
                return Err(AgentError::Cancelled);
            }
            match rx.recv_timeout(Duration::from_millis(50)) {
                Ok(Piece::Text(text)) => on_text(&text),
                Ok(Piece::Done(result)) => return result.map_err(AgentError::Model),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(AgentError::Model("the model's answer ended without a result".into()));
                }
            }
        }
    }
}

/// The models an OpenAI-compatible server at `base` lists, each with its context window when the
/// server reports one; empty when it cannot be asked.
pub fn server_models(base: &str, api_key: Option<&str>) -> Vec<(String, Option<u64>)> {
    let http: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut request = http.get(format!("{}/v1/models", base.trim_end_matches('/')));
    if let Some(key) = api_key {
        request = request.header("Authorization", &format!("Bearer {key}"));
    }
    let Ok(mut response) = request.call() else { return Vec::new() };
    let Ok(list) = response.body_mut().read_json::<Value>() else { return Vec::new() };
    list["data"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| Some((m["id"].as_str()?.to_owned(), m["context_length"].as_u64())))
        .collect()
}

/// Reads an SSE chat-completion stream into one assistant message, sending text as it comes.
fn read_stream(mut response: ureq::http::Response<ureq::Body>, tx: &mpsc::Sender<Piece>) -> Result<Reply, String> {
    let status = response.status();
    if !status.is_success() {
        let text = response.body_mut().read_to_string().unwrap_or_default();
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or(text);
        return Err(format!("the model server answered {}: {message}", status.as_u16()));
    }
    let reader = std::io::BufReader::new(response.body_mut().as_reader());
    let mut text = String::new();
    let mut calls: Vec<Value> = Vec::new();
    let mut usage = None;
    for line in reader.lines() {
        let line = line.map_err(|e| format!("reading the model's answer: {e}"))?;
        let Some(data) = line.strip_prefix("data:").map(str::trim_start) else { continue };
        if data == "[DONE]" {
            break;
        }
        let chunk: Value =
            serde_json::from_str(data).map_err(|e| format!("the model server sent an event that is not JSON: {e}"))?;
        if let Some(message) = chunk.pointer("/error/message").and_then(Value::as_str) {
            return Err(format!("the model server failed: {message}"));
        }
        if let Some(u) = chunk.get("usage").filter(|u| u.is_object()) {
            usage = Some((
                u["prompt_tokens"].as_u64().unwrap_or(0) as usize,
                u["completion_tokens"].as_u64().unwrap_or(0) as usize,
            ));
        }
        let Some(delta) = chunk.pointer("/choices/0/delta") else { continue };
        if let Some(piece) = delta.get("content").and_then(Value::as_str).filter(|p| !p.is_empty()) {
            text.push_str(piece);
            if tx.send(Piece::Text(piece.to_owned())).is_err() {
                return Err("cancelled".into());
            }
        }
        for call in delta.get("tool_calls").and_then(Value::as_array).into_iter().flatten() {
            merge_call_delta(&mut calls, call);
        }
    }
    let mut message = json!({"role": "assistant", "content": text});
    if !calls.is_empty() {
        message["tool_calls"] = Value::Array(calls);
    }
    Ok(Reply { message, usage })
}

/// Streams send a tool call in pieces, tied by `index`: the id and name first, the arguments
/// in fragments.
fn merge_call_delta(calls: &mut Vec<Value>, delta: &Value) {
    let index = delta.get("index").and_then(Value::as_u64).map_or(calls.len().saturating_sub(1), |i| i as usize);
    while calls.len() <= index {
        calls.push(json!({"id": "", "type": "function", "function": {"name": "", "arguments": ""}}));
    }
    let call = &mut calls[index];
    if let Some(id) = delta.get("id").and_then(Value::as_str) {
        call["id"] = json!(id);
    }
    if let Some(name) = delta.pointer("/function/name").and_then(Value::as_str) {
        let joined = format!("{}{name}", call["function"]["name"].as_str().unwrap_or_default());
        call["function"]["name"] = json!(joined);
    }
    match delta.pointer("/function/arguments") {
        Some(Value::String(piece)) => {
            let joined = format!("{}{piece}", call["function"]["arguments"].as_str().unwrap_or_default());
            call["function"]["arguments"] = json!(joined);
        }
        Some(other) if !other.is_null() => call["function"]["arguments"] = json!(other.to_string()),
        _ => {}
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn the_api_key_never_prints() {
        let key = "sk-api-key-93ab";
        let model = HttpModel::new("http://127.0.0.1:8080", "default", Some(key.into()), Arc::default());
        let debug = format!("{model:?}");
        assert!(!debug.contains(key) && debug.contains("[redacted]"), "{debug}");
    }

    #[test]
    fn tool_call_fragments_join_by_index() {
        let mut calls = Vec::new();
        for delta in [
            json!({"index": 0, "id": "call_1", "function": {"name": "bash", "arguments": ""}}),
            json!({"index": 0, "function": {"arguments": "{\"comm"}}),
            json!({"index": 1, "id": "call_2", "function": {"name": "read", "arguments": "{}"}}),
            json!({"index": 0, "function": {"arguments": "and\": \"ls\"}"}}),
        ] {
            merge_call_delta(&mut calls, &delta);
        }
        assert_eq!(calls[0]["function"]["arguments"], "{\"command\": \"ls\"}");
        assert_eq!(calls[0]["id"], "call_1");
        assert_eq!(calls[1]["function"]["name"], "read");
    }
}
