//! One agent session: the conversation, the steps that answer the model's tool calls, and the
//! JSONL file it is saved to (one message per line, so a session can be resumed).

use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::tools::{Tools, definitions};

/// Steps (model answers) one task may take before the agent stops and says so.
pub const DEFAULT_MAX_STEPS: usize = 50;

/// A chat model in the OpenAI chat-completions shape.
pub trait Model {
    /// The assistant's next message (`content` and/or `tool_calls`) for `messages`.
    fn complete(&mut self, messages: &[Value], tools: &Value) -> Result<Value, String>;
}

/// What happened, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// The model said something.
    Text(String),
    /// The model called a tool.
    ToolCall {
        /// The tool.
        name: String,
        /// Its arguments, as the model wrote them.
        arguments: String,
    },
    /// A tool answered (`ok` false: the error the model is told).
    ToolResult {
        /// The tool.
        name: String,
        /// Whether it worked.
        ok: bool,
        /// What the model is told.
        output: String,
    },
}

/// A conversation with its tools, saved as it goes.
pub struct Session {
    messages: Vec<Value>,
    tools: Tools,
    log: Option<PathBuf>,
    max_steps: usize,
}

impl Session {
    /// A new session with `system` as its system prompt, saved to `log` if given.
    pub fn new(system: &str, tools: Tools, log: Option<PathBuf>) -> std::io::Result<Session> {
        let mut session = Session { messages: Vec::new(), tools, log, max_steps: DEFAULT_MAX_STEPS };
        session.push(json!({"role": "system", "content": system}))?;
        Ok(session)
    }

    /// A saved session, to continue.
    pub fn resume(log: &Path, tools: Tools) -> std::io::Result<Session> {
        let text = std::fs::read_to_string(log)?;
        let messages = text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(serde_json::from_str)
            .collect::<Result<Vec<Value>, _>>()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, format!("{}: {e}", log.display())))?;
        Ok(Session { messages, tools, log: Some(log.to_owned()), max_steps: DEFAULT_MAX_STEPS })
    }

    /// The conversation so far.
    pub fn messages(&self) -> &[Value] {
        &self.messages
    }

    fn push(&mut self, message: Value) -> std::io::Result<()> {
        if let Some(log) = &self.log {
            let mut file = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
            writeln!(file, "{message}")?;
        }
        self.messages.push(message);
        Ok(())
    }

    /// Works on `task` until the model answers without calling a tool; returns that answer.
    pub fn run(
        &mut self,
        model: &mut dyn Model,
        task: &str,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<String, String> {
        let io = |e: std::io::Error| format!("saving the session: {e}");
        self.push(json!({"role": "user", "content": task})).map_err(io)?;
        let tools = definitions();
        for _ in 0..self.max_steps {
            let reply = model.complete(&self.messages, &tools)?;
            let text = reply.get("content").and_then(Value::as_str).unwrap_or_default().to_owned();
            let calls = reply.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut message = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls.clone());
            }
            self.push(message).map_err(io)?;
            if !text.is_empty() {
                on_event(&Event::Text(text.clone()));
            }
            if calls.is_empty() {
                return Ok(text);
            }
            for (i, call) in calls.iter().enumerate() {
                let id = call.get("id").and_then(Value::as_str).map_or_else(|| format!("call_{i}"), str::to_owned);
                let function = call.get("function");
                let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned();
                let arguments = match function.and_then(|f| f.get("arguments")) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                on_event(&Event::ToolCall { name: name.clone(), arguments: arguments.clone() });
                let (ok, output) = if name.is_empty() {
                    (false, "the tool call has no function name; call one of the listed tools".to_owned())
                } else {
                    match self.tools.call(&name, &arguments) {
                        Ok(out) => (true, out),
                        Err(e) => (false, format!("error: {e}")),
                    }
                };
                on_event(&Event::ToolResult { name: name.clone(), ok, output: output.clone() });
                self.push(json!({"role": "tool", "tool_call_id": id, "name": name, "content": output})).map_err(io)?;
            }
        }
        Err(format!("stopped after {} steps without a final answer", self.max_steps))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// A model that answers from a script, one reply per step, and records what it was shown.
    struct Scripted {
        replies: Vec<Value>,
        seen: Vec<Vec<Value>>,
    }

    impl Model for Scripted {
        fn complete(&mut self, messages: &[Value], _tools: &Value) -> Result<Value, String> {
            self.seen.push(messages.to_vec());
            if self.replies.is_empty() {
                return Err("script exhausted".into());
            }
            Ok(self.replies.remove(0))
        }
    }

    fn call(id: &str, name: &str, arguments: Value) -> Value {
        json!({"id": id, "type": "function", "function": {"name": name, "arguments": arguments.to_string()}})
    }

    #[test]
    fn a_scripted_model_creates_edits_and_runs_a_file_and_the_session_resumes() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("session.jsonl");
        let mut model = Scripted {
            replies: vec![
                json!({"content": "", "tool_calls": [call("1", "write", json!({"path": "hello.sh", "content": "echo hello\n"}))]}),
                json!({"content": "", "tool_calls": [call("2", "edit", json!({"path": "hello.sh", "old_text": "hello", "new_text": "hello, sandbox"}))]}),
                json!({"content": "", "tool_calls": [call("3", "bash", json!({"command": "sh hello.sh"}))]}),
                json!({"content": "", "tool_calls": [
                    {"id": "4", "type": "function", "function": {"name": "edit", "arguments": "{not json"}},
                    {"id": "5", "type": "function", "function": {"arguments": "{}"}},
                ]}),
                json!({"content": "It prints: hello, sandbox"}),
            ],
            seen: Vec::new(),
        };
        let mut session = Session::new("system", Tools::new(dir.path()), Some(log.clone())).unwrap();
        let mut events = Vec::new();
        let answer = session.run(&mut model, "make a script and run it", &mut |e| events.push(e.clone())).unwrap();
        assert_eq!(answer, "It prints: hello, sandbox");
        assert!(
            events.contains(&Event::ToolResult { name: "bash".into(), ok: true, output: "hello, sandbox\n".into() }),
            "{events:?}"
        );
        let errors: Vec<_> = events
            .iter()
            .filter_map(|e| match e {
                Event::ToolResult { ok: false, output, .. } => Some(output.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert!(
            errors[0].contains("arguments of edit are not valid") && errors[1].contains("no function name"),
            "{errors:?}"
        );
        // The model saw each tool's answer, tied to its call.
        let last_seen = model.seen.last().unwrap();
        assert!(
            last_seen
                .iter()
                .any(|m| m["role"] == "tool" && m["tool_call_id"] == "3" && m["content"] == "hello, sandbox\n")
        );

        let resumed = Session::resume(&log, Tools::new(dir.path())).unwrap();
        assert_eq!(resumed.messages(), session.messages());
    }

    #[test]
    fn a_model_that_never_stops_is_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let looping = json!({"content": "", "tool_calls": [call("1", "read", json!({"path": "x"}))]});
        let mut model = Scripted { replies: vec![looping; DEFAULT_MAX_STEPS + 5], seen: Vec::new() };
        let mut session = Session::new("system", Tools::new(dir.path()), None).unwrap();
        let err = session.run(&mut model, "loop", &mut |_| {}).unwrap_err();
        assert!(err.contains("stopped after 50 steps"), "{err}");
    }
}
