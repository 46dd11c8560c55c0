//! One agent session: the conversation, the steps that answer the model's tool calls, and the
//! JSONL file it is saved to (one message per line, so a session can be resumed).

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::{Value, json};

use crate::tools::Tools;

/// Steps (model answers) one task may take before the agent stops and says so.
pub const DEFAULT_MAX_STEPS: usize = 50;

/// Tool answers that are never elided: the model is usually working on them.
const KEEP_RECENT_TOOL_OUTPUTS: usize = 2;

/// Tokens per byte of the conversation's JSON before the server has counted any: a
/// deliberately high guess (real text is 0.25–0.3), so the first request errs towards fitting.
const FIRST_TOKENS_PER_BYTE: f64 = 0.4;

/// Tokens of a context window of `window` kept free for the model's answer: a quarter, at
/// most 2048.
pub fn answer_room(window: usize) -> usize {
    (window / 4).min(2048)
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Reply {
    /// The assistant message: `content` and/or `tool_calls`.
    pub message: Value,
    /// Prompt and completion tokens, as the model's own tokenizer counted them (if reported).
    pub usage: Option<(usize, usize)>,
}

/// Why a task ended without an answer.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum AgentError {
    /// The user cancelled the step (Ctrl-C).
    #[error("cancelled")]
    Cancelled,
    /// The model could not be asked, or its answer was broken.
    #[error("{0}")]
    Model(String),
    /// The session could not be saved.
    #[error("saving the session: {0}")]
    Save(String),
    /// The model kept calling tools.
    #[error("stopped after {0} steps without a final answer")]
    TooManySteps(usize),
    /// Even with old tool output elided the conversation does not fit.
    #[error(
        "the conversation needs about {needed} tokens, more than the {budget} the model's context window leaves, even with old tool output elided; start a new session"
    )]
    ContextFull {
        /// Estimated tokens.
        needed: usize,
        /// What fits.
        budget: usize,
    },
}

/// A chat model in the OpenAI chat-completions shape.
pub trait Model {
    /// The assistant's next message for `messages`, with its text also handed to `on_text` as it
    /// is generated.
    fn complete(
        &mut self,
        messages: &[Value],
        tools: &Value,
        on_text: &mut dyn FnMut(&str),
    ) -> Result<Reply, AgentError>;
}

/// What happened, as it happens.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A piece of the model's text, as it streams.
    TextDelta(String),
    /// The model said something (the whole text of one answer).
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
    /// Old tool output was elided from what the model sees, to stay inside its context window
    /// (the session file keeps it all).
    Compacted {
        /// Tool answers elided so far.
        elided: usize,
        /// Estimated prompt tokens after eliding.
        tokens: usize,
        /// The most the prompt may take.
        budget: usize,
    },
}

/// A conversation with its tools, saved as it goes.
pub struct Session {
    messages: Vec<Value>,
    tools: Tools,
    /// The session file, open for appending (one message per line, written as it happens).
    log: Option<std::fs::File>,
    max_steps: usize,
    cancel: Arc<AtomicBool>,
    /// Most tokens a prompt may take (the context window less room for the answer).
    budget: Option<usize>,
    /// Indices of tool answers the model now sees elided.
    elided: BTreeSet<usize>,
    /// Tokens per byte of the conversation's JSON, as last measured by the server.
    tokens_per_byte: f64,
}

impl Session {
    /// A new session with `system` as its system prompt, saved to `log` if given.
    pub fn new(system: &str, tools: Tools, log: Option<PathBuf>) -> std::io::Result<Session> {
        let log = log.map(|path| std::fs::OpenOptions::new().create(true).append(true).open(path)).transpose()?;
        let mut session = Session::with_messages(Vec::new(), tools, log);
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
        let file = std::fs::OpenOptions::new().append(true).open(log)?;
        Ok(Session::with_messages(messages, tools, Some(file)))
    }

    fn with_messages(messages: Vec<Value>, tools: Tools, log: Option<std::fs::File>) -> Session {
        Session {
            messages,
            tools,
            log,
            max_steps: DEFAULT_MAX_STEPS,
            cancel: Arc::new(AtomicBool::new(false)),
            budget: None,
            elided: BTreeSet::new(),
            tokens_per_byte: FIRST_TOKENS_PER_BYTE,
        }
    }

    /// A step stops (between model answers and tool calls) when `cancel` becomes true.
    pub fn with_cancel(mut self, cancel: Arc<AtomicBool>) -> Session {
        self.cancel = cancel;
        self
    }

    /// Stops a task after `steps` model answers.
    pub fn with_max_steps(mut self, steps: usize) -> Session {
        self.max_steps = steps.max(1);
        self
    }

    /// Keeps what the model sees inside a context window of `tokens`, leaving
    /// [`answer_room`] for its answer.
    pub fn with_context_window(mut self, tokens: usize) -> Session {
        self.budget = Some(tokens - answer_room(tokens));
        self
    }

    /// The conversation so far, in full.
    pub fn messages(&self) -> &[Value] {
        &self.messages
    }

    fn push(&mut self, message: Value) -> std::io::Result<()> {
        if let Some(file) = &mut self.log {
            // One write per line, so a crash leaves whole lines behind.
            file.write_all(format!("{message}\n").as_bytes())?;
        }
        self.messages.push(message);
        Ok(())
    }

    /// What the model is shown: the conversation with elided tool answers replaced by a note.
    fn view(&self) -> Vec<Value> {
        self.messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                if !self.elided.contains(&i) {
                    return m.clone();
                }
                let mut short = m.clone();
                let bytes = m["content"].as_str().map_or(0, str::len);
                short["content"] = json!(format!(
                    "[{bytes} bytes of {} output elided to stay inside the context window; call the tool again if you need it]",
                    m["name"].as_str().unwrap_or("tool")
                ));
                short
            })
            .collect()
    }

    fn estimate(&self, view: &[Value], tools: &Value) -> usize {
        let bytes = serde_json::to_string(view).map_or(0, |s| s.len()) + tools.to_string().len();
        (bytes as f64 * self.tokens_per_byte).ceil() as usize
    }

    /// Elides the oldest tool answers until the estimate fits the budget; the view to send.
    fn fit(&mut self, tools: &Value, on_event: &mut dyn FnMut(&Event)) -> Result<Vec<Value>, AgentError> {
        let mut view = self.view();
        let Some(budget) = self.budget else { return Ok(view) };
        let mut needed = self.estimate(&view, tools);
        if needed <= budget {
            return Ok(view);
        }
        let tool_answers: Vec<usize> =
            self.messages.iter().enumerate().filter(|(_, m)| m["role"] == "tool").map(|(i, _)| i).collect();
        let elidable = tool_answers.len().saturating_sub(KEEP_RECENT_TOOL_OUTPUTS);
        for &i in &tool_answers[..elidable] {
            if needed <= budget {
                break;
            }
            if self.elided.insert(i) {
                view = self.view();
                needed = self.estimate(&view, tools);
            }
        }
        on_event(&Event::Compacted { elided: self.elided.len(), tokens: needed, budget });
        if needed > budget {
            return Err(AgentError::ContextFull { needed, budget });
        }
        Ok(view)
    }

    fn check_cancel(&self) -> Result<(), AgentError> {
        if self.cancel.load(Ordering::SeqCst) { Err(AgentError::Cancelled) } else { Ok(()) }
    }

    /// Works on `task` until the model answers without calling a tool; returns that answer.
    pub fn run(
        &mut self,
        model: &mut dyn Model,
        task: &str,
        on_event: &mut dyn FnMut(&Event),
    ) -> Result<String, AgentError> {
        let save = |e: std::io::Error| AgentError::Save(e.to_string());
        self.push(json!({"role": "user", "content": task})).map_err(save)?;
        let tools = self.tools.definitions();
        for _ in 0..self.max_steps {
            self.check_cancel()?;
            let view = self.fit(&tools, on_event)?;
            let reply = model.complete(&view, &tools, &mut |piece| on_event(&Event::TextDelta(piece.to_owned())))?;
            if let Some((prompt_tokens, _)) = reply.usage.filter(|(p, _)| *p > 0) {
                let bytes = serde_json::to_string(&view).map_or(0, |s| s.len()) + tools.to_string().len();
                self.tokens_per_byte = prompt_tokens as f64 / bytes.max(1) as f64;
            }
            let text = reply.message.get("content").and_then(Value::as_str).unwrap_or_default().to_owned();
            let calls = reply.message.get("tool_calls").and_then(Value::as_array).cloned().unwrap_or_default();
            let mut message = json!({"role": "assistant", "content": text});
            if !calls.is_empty() {
                message["tool_calls"] = Value::Array(calls.clone());
            }
            self.push(message).map_err(save)?;
            if !text.is_empty() {
                on_event(&Event::Text(text.clone()));
            }
            if calls.is_empty() {
                return Ok(text);
            }
            // Every call gets an answer, even after a cancel, so the conversation stays well
            // formed for the next task.
            let mut cancelled = false;
            for (i, call) in calls.iter().enumerate() {
                let id = call.get("id").and_then(Value::as_str).filter(|id| !id.is_empty());
                let id = id.map_or_else(|| format!("call_{i}"), str::to_owned);
                let function = call.get("function");
                let name = function.and_then(|f| f.get("name")).and_then(Value::as_str).unwrap_or_default().to_owned();
                let arguments = match function.and_then(|f| f.get("arguments")) {
                    Some(Value::String(s)) => s.clone(),
                    Some(other) => other.to_string(),
                    None => String::new(),
                };
                cancelled |= self.cancel.load(Ordering::SeqCst);
                let (ok, output) = if cancelled {
                    (false, "not run: the user cancelled this step".to_owned())
                } else {
                    on_event(&Event::ToolCall { name: name.clone(), arguments: arguments.clone() });
                    if name.is_empty() {
                        (false, "the tool call has no function name; call one of the listed tools".to_owned())
                    } else {
                        match self.tools.call(&name, &arguments) {
                            Ok(out) => (true, out),
                            Err(e) => (false, format!("error: {e}")),
                        }
                    }
                };
                if !cancelled {
                    on_event(&Event::ToolResult { name: name.clone(), ok, output: output.clone() });
                }
                self.push(json!({"role": "tool", "tool_call_id": id, "name": name, "content": output}))
                    .map_err(save)?;
            }
            if cancelled || self.cancel.load(Ordering::SeqCst) {
                return Err(AgentError::Cancelled);
            }
        }
        Err(AgentError::TooManySteps(self.max_steps))
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
        fn complete(
            &mut self,
            messages: &[Value],
            _tools: &Value,
            on_text: &mut dyn FnMut(&str),
        ) -> Result<Reply, AgentError> {
            self.seen.push(messages.to_vec());
            if self.replies.is_empty() {
                return Err(AgentError::Model("script exhausted".into()));
            }
            let message = self.replies.remove(0);
            if let Some(text) = message["content"].as_str() {
                on_text(text);
            }
            let bytes = serde_json::to_string(messages).unwrap().len();
            Ok(Reply { message, usage: Some((bytes / 4, 1)) })
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
        assert_eq!(err, AgentError::TooManySteps(50));
        assert!(err.to_string().contains("stopped after 50 steps"), "{err}");
    }

    #[test]
    fn old_tool_output_is_elided_to_fit_the_window_and_the_log_keeps_it_all() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("big.txt"), "word ".repeat(2000)).unwrap();
        let read_big = |id: &str| json!({"content": "", "tool_calls": [call(id, "read", json!({"path": "big.txt"}))]});
        let mut model = Scripted {
            replies: vec![read_big("1"), read_big("2"), read_big("3"), read_big("4"), json!({"content": "done"})],
            seen: Vec::new(),
        };
        let log = dir.path().join("s.jsonl");
        let mut session =
            Session::new("system", Tools::new(dir.path()), Some(log.clone())).unwrap().with_context_window(12_000);
        let mut compactions = Vec::new();
        let answer = session
            .run(&mut model, "read it four times", &mut |e| {
                if let Event::Compacted { elided, tokens, budget } = e {
                    compactions.push((*elided, *tokens, *budget));
                }
            })
            .unwrap();
        assert_eq!(answer, "done");
        assert!(!compactions.is_empty(), "the window was exceeded, so something was elided");
        assert!(compactions.iter().all(|(_, tokens, budget)| tokens <= budget), "{compactions:?}");
        let last = model.seen.last().unwrap();
        let tool_answers: Vec<&str> =
            last.iter().filter(|m| m["role"] == "tool").map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(tool_answers.len(), 4);
        assert!(tool_answers[0].contains("elided to stay inside the context window"), "{}", tool_answers[0]);
        assert!(tool_answers[3].starts_with("1\tword"), "the newest answer is kept whole");
        // The saved session still has every byte.
        let resumed = Session::resume(&log, Tools::new(dir.path())).unwrap();
        assert!(
            resumed
                .messages()
                .iter()
                .filter(|m| m["role"] == "tool")
                .all(|m| m["content"].as_str().unwrap().len() > 10_000)
        );
    }

    #[test]
    fn a_conversation_that_cannot_fit_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let mut model = Scripted { replies: vec![json!({"content": "never asked"})], seen: Vec::new() };
        let mut session = Session::new("system", Tools::new(dir.path()), None).unwrap().with_context_window(100);
        let err = session.run(&mut model, &"a long task ".repeat(200), &mut |_| {}).unwrap_err();
        assert!(matches!(err, AgentError::ContextFull { .. }), "{err}");
        assert!(model.seen.is_empty(), "nothing was sent that could not fit");
    }

    /// A model that asks for a long command and cancels the step while it runs, as Ctrl-C would.
    struct CancelsDuringBash {
        cancel: Arc<AtomicBool>,
    }

    impl Model for CancelsDuringBash {
        fn complete(&mut self, _: &[Value], _: &Value, _: &mut dyn FnMut(&str)) -> Result<Reply, AgentError> {
            let cancel = self.cancel.clone();
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(300));
                cancel.store(true, Ordering::SeqCst);
            });
            Ok(Reply {
                message: json!({"content": "", "tool_calls": [
                    call("1", "bash", json!({"command": "sleep 30"})),
                    call("2", "write", json!({"path": "after.txt", "content": "x"})),
                ]}),
                usage: None,
            })
        }
    }

    #[test]
    fn cancelling_kills_the_running_command_and_skips_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = Arc::new(AtomicBool::new(false));
        let tools = Tools::new(dir.path()).with_cancel(cancel.clone());
        let mut session = Session::new("system", tools, None).unwrap().with_cancel(cancel.clone());
        let started = std::time::Instant::now();
        let err = session.run(&mut CancelsDuringBash { cancel }, "wait", &mut |_| {}).unwrap_err();
        assert_eq!(err, AgentError::Cancelled);
        assert!(started.elapsed() < std::time::Duration::from_secs(20), "sleep 30 was killed");
        assert!(!dir.path().join("after.txt").exists(), "the call after the cancel did not run");
        let answers: Vec<&str> =
            session.messages().iter().filter(|m| m["role"] == "tool").map(|m| m["content"].as_str().unwrap()).collect();
        assert_eq!(answers.len(), 2, "every call has an answer, so the conversation stays well formed");
        assert!(answers[0].contains("the user cancelled"), "{}", answers[0]);
        assert_eq!(answers[1], "not run: the user cancelled this step");
    }
}
