//! `remote:NAME` for the API: sanitise, submit to the gate, wait, restore.
//!
//! Each call is sanitised here and becomes a `remote.llm` action in the gate, so the policy, the
//! taint rules, the AI reviewer and the human all apply, and the console shows exactly the text
//! that would leave. Only the gate's executor sends it. Its answer comes back piece by piece
//! ([`Streams`]) and is restored here; the placeholder map stays in this request's memory.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::Value;
use sov_api::{RemoteChat, RemoteError, RemoteEvent, RemoteFuture, RemoteModels};
use sov_core::config::Config;
use sov_gate::{ActionRecord, ActionRequest, Gate, Kind, State};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender};

use crate::params::{ParamMessage, RemoteLlmParams};
use crate::redact::Redactor;
use crate::streams::Streams;

/// The `remote:NAME` models of `sov serve`'s APIs, on the gate.
pub struct GatedRemote {
    gate: Arc<Gate>,
    config: Arc<Config>,
    redactor: Arc<Redactor>,
    streams: Streams,
}

impl GatedRemote {
    /// The route for `config`'s `[remote.NAME]` entries, on `gate`; `llm_base` is this server's
    /// LLM API (`http://ADDR`), which the sanitiser's model is asked through; `streams` is shared
    /// with the gate's [`crate::RemoteLlmExecutor`].
    pub fn new(
        gate: Arc<Gate>,
        config: Arc<Config>,
        llm_base: &str,
        streams: Streams,
    ) -> Result<GatedRemote, crate::error::Error> {
        let redactor = Arc::new(Redactor::new(&config, &config.sanitize.model, llm_base)?);
        Ok(GatedRemote { gate, config, redactor, streams })
    }
}

impl RemoteModels for GatedRemote {
    fn names(&self) -> Vec<String> {
        self.config.remote.keys().cloned().collect()
    }

    fn route(&self, model: &str) -> Option<String> {
        if let Some(name) = model.strip_prefix(sov_api::REMOTE_PREFIX) {
            return Some(name.to_owned());
        }
        self.config.remote.iter().find(|(_, remote)| remote.aliases.iter().any(|a| a == model)).map(|(n, _)| n.clone())
    }

    fn chat(&self, chat: RemoteChat) -> RemoteFuture {
        let asking = Asking {
            gate: self.gate.clone(),
            config: self.config.clone(),
            redactor: self.redactor.clone(),
            streams: self.streams.clone(),
        };
        Box::pin(asking.ask(chat))
    }
}

fn refused(status: u16, message: impl Into<String>) -> RemoteError {
    RemoteError { status, message: message.into() }
}

/// One call's share of the route.
struct Asking {
    gate: Arc<Gate>,
    config: Arc<Config>,
    redactor: Arc<Redactor>,
    streams: Streams,
}

impl Asking {
    async fn ask(self, chat: RemoteChat) -> Result<UnboundedReceiver<RemoteEvent>, RemoteError> {
        let name = chat.name.clone();
        let Some(remote) = self.config.remote.get(&name) else {
            let known: Vec<String> = self.config.remote.keys().map(|k| format!("remote:{k}")).collect();
            return Err(refused(
                404,
                format!(
                    "no remote model `remote:{name}`: configured are [{}]; add a [remote.{name}] section to the config",
                    known.join(", ")
                ),
            ));
        };

        let mut map = sov_sanitize::Map::new();
        let mut messages = Vec::new();
        for message in &chat.messages {
            let content = self.redactor.redact(&message.content, &mut map).await.map_err(|e| {
                refused(
                    503,
                    format!("not sent: the local model `{}` could not check the text: {e}", self.config.sanitize.model),
                )
            })?;
            messages.push(ParamMessage { role: message.role.clone(), content });
        }
        let params = RemoteLlmParams {
            remote: name.clone(),
            url: remote.url.clone(),
            model: remote.model.clone(),
            transport: self.config.remote_route(remote).0,
            messages,
            max_tokens: chat.max_tokens,
            temperature: chat.temperature,
            top_p: chat.top_p,
            stop: chat.stop,
            seed: chat.seed,
            response_format: chat.response_format,
        };
        let mut request = ActionRequest::new(Kind::RemoteLlm);
        request.summary =
            format!("ask the remote model {name} ({}), {} replacement(s) kept here", remote.model, map.len());
        request.recipients = vec![remote.url.clone()];
        request.params = params.to_params();

        // The wait ends with the action, or when the caller goes away (this future, or later the
        // task that forwards the answer, is dropped).
        let caller_gone = Arc::new(AtomicBool::new(false));
        let gone_on_drop = SetOnDrop(caller_gone.clone());
        let (piece_sender, mut pieces) = tokio::sync::mpsc::unbounded_channel();
        let (gate, streams, session_token) = (self.gate.clone(), self.streams.clone(), chat.session.clone());
        let id = tokio::task::spawn_blocking(move || -> Result<String, sov_gate::GateError> {
            let session = gate.session(session_token.as_deref())?;
            let (id, record) = streams.submit_and_register(piece_sender, || {
                gate.submit(&session, request).map(|record| (record.id.clone(), record))
            })?;
            if record.state.is_pending() {
                tracing::info!(id = %id, "a remote.llm action waits for the AI reviewer and you (`sov console`, `sov confirm`)");
            }
            Ok(id)
        })
        .await
        .map_err(|e| refused(500, format!("submitting to the gate: {e}")))?
        .map_err(|e| refused(e.http_status(), e.to_string()))?;
        let forget = Forget(self.streams.clone(), id.clone());

        let (gate, gone, waiting_id) = (self.gate.clone(), caller_gone.clone(), id.clone());
        let mut settled =
            tokio::task::spawn_blocking(move || gate.wait_until_settled(&waiting_id, &|| gone.load(Ordering::Relaxed)));

        // Until the first piece comes or the action settles: a refusal is an HTTP error.
        let first = tokio::select! {
            biased;
            piece = pieces.recv() => piece,
            record = &mut settled => return whole_answer(record, &map, &name),
        };
        // The executor ended without any text: its outcome says how.
        let Some(first) = first else { return whole_answer(settled.await, &map, &name) };
        let (events, answer) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let (_gone_on_drop, _forget) = (gone_on_drop, forget);
            forward(first, pieces, settled, &map, &name, &events).await;
        });
        Ok(answer)
    }
}

/// The answer of a settled action, whole, or why there is none.
fn whole_answer(
    record: Result<Result<Option<ActionRecord>, sov_gate::GateError>, tokio::task::JoinError>,
    map: &sov_sanitize::Map,
    name: &str,
) -> Result<UnboundedReceiver<RemoteEvent>, RemoteError> {
    let outcome = outcome_of(&settled_record(record, name)?, name)?;
    let (events, answer) = tokio::sync::mpsc::unbounded_channel();
    let text = outcome["text"].as_str().unwrap_or_default();
    let _ = events.send(RemoteEvent::Text(map.restore(text)));
    let _ = events.send(done(&outcome));
    Ok(answer)
}

/// Forwards the answer's pieces, restored, then its end, until the caller goes away.
async fn forward(
    first: String,
    mut pieces: UnboundedReceiver<String>,
    settled: tokio::task::JoinHandle<Result<Option<ActionRecord>, sov_gate::GateError>>,
    map: &sov_sanitize::Map,
    name: &str,
    events: &UnboundedSender<RemoteEvent>,
) {
    let mut restorer = map.restorer();
    let mut piece = Some(first);
    while let Some(text) = piece {
        let restored = restorer.push(&text);
        if !restored.is_empty() && events.send(RemoteEvent::Text(restored)).is_err() {
            return;
        }
        piece = tokio::select! {
            piece = pieces.recv() => piece,
            () = events.closed() => return,
        };
    }
    let rest = restorer.finish();
    if !rest.is_empty() {
        let _ = events.send(RemoteEvent::Text(rest));
    }
    let record = tokio::select! {
        record = settled => record,
        () = events.closed() => return,
    };
    let last = match settled_record(record, name).and_then(|record| outcome_of(&record, name)) {
        Ok(outcome) => done(&outcome),
        Err(e) => RemoteEvent::Failed(e.message),
    };
    let _ = events.send(last);
}

/// The settled record, or why there is none.
fn settled_record(
    record: Result<Result<Option<ActionRecord>, sov_gate::GateError>, tokio::task::JoinError>,
    name: &str,
) -> Result<ActionRecord, RemoteError> {
    let record = record
        .map_err(|e| refused(500, format!("waiting for the gate: {e}")))?
        .map_err(|e| refused(e.http_status(), e.to_string()))?;
    record.ok_or_else(|| refused(499, format!("the caller of remote:{name} went away")))
}

/// An executed action's outcome, or why the call got no answer.
fn outcome_of(record: &ActionRecord, name: &str) -> Result<Value, RemoteError> {
    let outcome = record.outcome.clone().unwrap_or(Value::Null);
    match record.state {
        State::Executed => Ok(outcome),
        State::Denied => {
            let by = match &record.human {
                Some(human) if !human.approved => format!("you denied it ({})", human.by),
                _ => format!("the policy refused it: {}", record.reasons.join("; ")),
            };
            Err(refused(403, format!("not sent to remote:{name}: {by} (action {})", record.id)))
        }
        State::Expired => Err(refused(
            403,
            format!(
                "not sent to remote:{name}: nobody confirmed action {} in time; approve remote calls in the console (`sov console`) or with `sov confirm`",
                record.id
            ),
        )),
        _ => Err(refused(
            502,
            format!(
                "remote:{name} failed (action {}): {}",
                record.id,
                outcome["error"].as_str().map_or_else(|| outcome.to_string(), str::to_owned)
            ),
        )),
    }
}

/// The end of an executed action's answer.
fn done(outcome: &Value) -> RemoteEvent {
    let count = |value: &Value| value.as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0);
    RemoteEvent::Done {
        finish_reason: outcome["finish_reason"].as_str().unwrap_or("stop").to_owned(),
        prompt_tokens: count(&outcome["usage"]["prompt_tokens"]),
        completion_tokens: count(&outcome["usage"]["completion_tokens"]),
    }
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Takes the action's sender out of [`Streams`] when the call ends, however it ends.
struct Forget(Streams, String);

impl Drop for Forget {
    fn drop(&mut self) {
        self.0.forget(&self.1);
    }
}
