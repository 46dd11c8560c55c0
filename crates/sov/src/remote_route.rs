//! The private remote path inside `sov serve`: `model: "remote:NAME"` in the OpenAI and
//! Anthropic APIs (and the agent's `remote` tool, which asks through them).
//!
//! Each call is sanitised here and becomes a `remote.llm` action in the gate, so the policy, the
//! taint rules, the AI reviewer and the human all apply, and the console shows exactly the text
//! that would leave. Only the gate's executor sends it, as approved: attested, sealed, paid
//! with a ZK-API ticket, through the configured transport. The answer comes back through the
//! gate and is restored here. The placeholder map stays in this handler's memory: it is in
//! no action, no log and no database.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result, bail};
use serde_json::{Map, Value, json};
use sov_api::{RemoteAnswer, RemoteChat, RemoteError, RemoteFuture, RemoteModels};
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_gate::queue::State;
use sov_gate::{ActionRecord, ActionRequest, Gate, Kind};
use sov_gate::{ExecError, Executor};

/// `remote:NAME` for the API: sanitise, submit to the gate, wait, restore.
pub struct GatedRemote {
    gate: Arc<Gate>,
    config: Arc<Config>,
    redactor: Arc<crate::remote::Redactor>,
}

impl GatedRemote {
    /// The route for `config`'s `[remote.NAME]` entries, on `gate`; `llm_base` is this server's
    /// LLM API (`http://ADDR`).
    pub fn new(gate: Arc<Gate>, config: Arc<Config>, llm_base: String) -> Result<GatedRemote> {
        let redactor = Arc::new(crate::remote::Redactor::new(&config, &config.sanitize.model, &llm_base)?);
        Ok(GatedRemote { gate, config, redactor })
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
        let (gate, config, redactor) = (self.gate.clone(), self.config.clone(), self.redactor.clone());
        Box::pin(async move { ask(gate, config, redactor, chat).await })
    }
}

fn refused(status: u16, message: impl Into<String>) -> RemoteError {
    RemoteError { status, message: message.into() }
}

async fn ask(
    gate: Arc<Gate>,
    config: Arc<Config>,
    redactor: Arc<crate::remote::Redactor>,
    chat: RemoteChat,
) -> Result<RemoteAnswer, RemoteError> {
    let name = chat.name.clone();
    let Some(remote) = config.remote.get(&name) else {
        let known: Vec<String> = config.remote.keys().map(|k| format!("remote:{k}")).collect();
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
        let content = redactor.redact(&message.content, &mut map).await.map_err(|e| {
            refused(
                503,
                format!("not sent: the local model `{}` could not check the text: {e:#}", config.sanitize.model),
            )
        })?;
        messages.push(json!({ "role": message.role, "content": content }));
    }

    let mut params = Map::new();
    params.insert("remote".into(), json!(name));
    params.insert("url".into(), json!(remote.url));
    params.insert("model".into(), json!(remote.model));
    params.insert("transport".into(), json!(remote.transport));
    params.insert("messages".into(), Value::Array(messages));
    params.insert("max_tokens".into(), json!(chat.max_tokens));
    params.insert("temperature".into(), json!(chat.temperature));
    let mut request = ActionRequest::new(Kind::RemoteLlm);
    request.summary = format!("ask the remote model {name} ({}), {} replacement(s) kept here", remote.model, map.len());
    request.recipients = vec![remote.url.clone()];
    request.params = params;

    // The wait ends with the action, or when the caller goes away (this future is dropped).
    let caller_gone = Arc::new(AtomicBool::new(false));
    let _gone_on_drop = SetOnDrop(caller_gone.clone());
    let session_token = chat.session.clone();
    let record = tokio::task::spawn_blocking(move || -> Result<Option<ActionRecord>, sov_gate::GateError> {
        let session = gate.session(session_token.as_deref())?;
        let record = gate.submit(&session, request)?;
        if record.state.is_pending() {
            tracing::info!(id = %record.id, "a remote.llm action waits for the AI reviewer and you (`sov console`, `sov confirm`)");
        }
        gate.wait_until_settled(&record.id, &|| caller_gone.load(Ordering::Relaxed))
    })
    .await
    .map_err(|e| refused(500, format!("waiting for the gate: {e}")))?
    .map_err(|e| refused(e.http_status(), e.to_string()))?;
    let Some(record) = record else { return Err(refused(499, "the caller went away")) };

    let outcome = record.outcome.clone().unwrap_or(Value::Null);
    match record.state {
        State::Executed => {
            let text = outcome["text"].as_str().unwrap_or_default();
            Ok(RemoteAnswer {
                text: map.restore(text),
                finish_reason: outcome["finish_reason"].as_str().unwrap_or("stop").to_owned(),
                prompt_tokens: count(&outcome["usage"]["prompt_tokens"]),
                completion_tokens: count(&outcome["usage"]["completion_tokens"]),
            })
        }
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
                outcome["error"].as_str().unwrap_or(&outcome.to_string())
            ),
        )),
    }
}

fn count(value: &Value) -> usize {
    value.as_u64().and_then(|n| usize::try_from(n).ok()).unwrap_or(0)
}

struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}

/// Runs approved `remote.llm` actions: sends exactly the approved messages, the private way.
pub struct RemoteLlmExecutor {
    config: Arc<Config>,
    paths: Paths,
    runtime: tokio::runtime::Handle,
    /// Verified attestation bundles, kept until their collateral or epoch expires.
    attestations: Arc<sov_attest::Cache>,
}

impl RemoteLlmExecutor {
    /// An executor for `config`'s remotes, paying from the wallet under `paths`, doing its I/O
    /// on `runtime`.
    pub fn new(config: Arc<Config>, paths: Paths, runtime: tokio::runtime::Handle) -> RemoteLlmExecutor {
        RemoteLlmExecutor { config, paths, runtime, attestations: Arc::new(sov_attest::Cache::new()) }
    }

    fn run(&self, action: &ActionRecord) -> Result<Value> {
        let params = &action.request.params;
        let name =
            params.get("remote").and_then(Value::as_str).context("the action names no remote (params.remote)")?;
        let remote =
            self.config.remote.get(name).with_context(|| format!("no [remote.{name}] in the config any more"))?;
        let approved_url = params.get("url").and_then(Value::as_str).unwrap_or_default();
        if approved_url != remote.url {
            bail!("remote.{name}.url is now {}, not the {approved_url} that was approved; ask again", remote.url);
        }
        let mut body = json!({ "model": remote.model, "messages": params["messages"], "stream": false });
        for field in ["max_tokens", "temperature"] {
            if let Some(value) = params.get(field).filter(|v| !v.is_null()) {
                body[field] = value.clone();
            }
        }
        self.runtime.block_on(async {
            let response =
                crate::remote::send_private(name, remote, &body, self.attestations.clone(), &self.config, &self.paths)
                    .await?;
            whole_answer(name, response).await
        })
    }
}

impl Executor for RemoteLlmExecutor {
    fn execute(&self, action: &ActionRecord, _key: &str) -> Result<Value, ExecError> {
        self.run(action).map_err(|e| ExecError::Failed(format!("{e:#}")))
    }

    /// Each attempt pays a ticket and asks again: an interrupted call is not repeated.
    fn idempotent(&self) -> bool {
        false
    }
}

/// The remote's answer, whole or streamed, as `{text, finish_reason, usage}`.
async fn whole_answer(name: &str, response: sov_remote::RemoteResponse) -> Result<Value> {
    let status = response.status;
    let (text, finish, usage) = match response.body {
        sov_remote::RemoteBody::Whole(bytes) => {
            if !status.is_success() {
                bail!(
                    "{name} answered {status}: {}",
                    String::from_utf8_lossy(&bytes).chars().take(500).collect::<String>()
                );
            }
            let answer: Value = serde_json::from_slice(&bytes).context("the remote answer is not JSON")?;
            let choice = &answer["choices"][0];
            (
                choice["message"]["content"].as_str().unwrap_or_default().to_owned(),
                choice["finish_reason"].as_str().unwrap_or("stop").to_owned(),
                answer["usage"].clone(),
            )
        }
        sov_remote::RemoteBody::Stream(mut stream) => {
            let (mut pending, mut text, mut finish, mut usage) = (Vec::new(), String::new(), None, Value::Null);
            while let Some(chunk) = stream.next_chunk().await? {
                pending.extend_from_slice(&chunk);
                for event in crate::remote::take_events(&mut pending) {
                    if let Some(error) = event.get("error") {
                        bail!("{name} failed while answering: {error}");
                    }
                    let choice = &event["choices"][0];
                    text.push_str(choice["delta"]["content"].as_str().unwrap_or_default());
                    if let Some(reason) = choice["finish_reason"].as_str() {
                        finish = Some(reason.to_owned());
                    }
                    if event["usage"].is_object() {
                        usage = event["usage"].clone();
                    }
                }
            }
            if !status.is_success() {
                bail!("{name} answered {status}: {}", String::from_utf8_lossy(&pending));
            }
            (text, finish.unwrap_or_else(|| "stop".into()), usage)
        }
    };
    Ok(json!({ "text": text, "finish_reason": finish, "usage": usage }))
}
