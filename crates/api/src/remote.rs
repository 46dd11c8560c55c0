//! `model: "remote:NAME"`: a request for a model outside this machine. The API only recognises
//! it and answers in the caller's dialect; what happens in between (sanitising, the gate,
//! attestation, sealing, payment, the transport) is the [`RemoteModels`] that `sov serve`
//! plugs in. Without one, such a model is unknown here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use sov_engine::{ChatMessage, Constraint, EngineError, Event, FinishReason, Generate, Prompt, Sampling, Usage};
use tokio::sync::mpsc::UnboundedReceiver;

use crate::error::{ApiError, Dialect};
use crate::{Answer, AppState};

/// Model names with this prefix go to a remote model: `remote:NAME` names `[remote.NAME]`.
pub const REMOTE_PREFIX: &str = "remote:";

pub use sov_core::http::SESSION_HEADER;

/// One chat for a remote model, exactly as the caller sent it (before any sanitising).
#[derive(Debug, Clone)]
pub struct RemoteChat {
    /// The `NAME` of `remote:NAME`.
    pub name: String,
    /// The conversation.
    pub messages: Vec<ChatMessage>,
    /// At most this many new tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus sampling, when the caller narrowed it (`None`: the remote's default, which for
    /// OpenAI's API is 1.0, no narrowing).
    pub top_p: Option<f32>,
    /// Generation ends before any of these strings.
    pub stop: Vec<String>,
    /// A fixed seed, when the caller asked for repeatable answers.
    pub seed: Option<u32>,
    /// OpenAI's `response_format` (`{"type": "json_object"}` or `{"type": "json_schema", …}`).
    pub response_format: Option<serde_json::Value>,
    /// The caller's gate session token, if it presented one.
    pub session: Option<String>,
}

/// What a remote model's answer brings, in order: text, then one `Done` or one `Failed`.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteEvent {
    /// More of the answer, placeholders already restored.
    Text(String),
    /// The answer is complete.
    Done {
        /// The remote's `finish_reason` (`stop`, `length`, …).
        finish_reason: String,
        /// Prompt tokens, as the remote counted them.
        prompt_tokens: usize,
        /// Generated tokens, as the remote counted them.
        completion_tokens: usize,
    },
    /// The answer broke off; nothing follows. What happened and what to do.
    Failed(String),
}

/// Why a remote chat got no answer.
#[derive(Debug, Clone)]
pub struct RemoteError {
    /// The HTTP status to answer with (403 when refused by the gate or the human).
    pub status: u16,
    /// What happened and what to do.
    pub message: String,
}

/// The future a [`RemoteModels`] answers with: the answer's events once it has started, or why
/// there is none (so that refusals become HTTP errors, not errors inside a 200 stream).
pub type RemoteFuture = Pin<Box<dyn Future<Output = Result<UnboundedReceiver<RemoteEvent>, RemoteError>> + Send>>;

/// Where `remote:NAME` requests go.
pub trait RemoteModels: Send + Sync {
    /// The configured names, listed by `/v1/models` as `remote:NAME`.
    fn names(&self) -> Vec<String>;
    /// The `NAME` a request for `model` goes to: `remote:NAME`, or another name the user's
    /// configuration routes to a remote model; `None` for local models.
    fn route(&self, model: &str) -> Option<String> {
        model.strip_prefix(REMOTE_PREFIX).map(str::to_owned)
    }
    /// Answers `chat`; may wait long (for a human's confirmation) before the answer starts, and
    /// then hands over its events as they come.
    fn chat(&self, chat: RemoteChat) -> RemoteFuture;
}

/// A [`RemoteModels`] in the API's options.
#[derive(Clone)]
pub struct RemoteRoute(pub Arc<dyn RemoteModels>);

impl std::fmt::Debug for RemoteRoute {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("RemoteRoute").field(&self.0.names()).finish()
    }
}

/// Where a request's model runs: the local engine, or remote model `NAME`.
pub(crate) enum Target {
    Local,
    Remote(String),
}

impl Target {
    /// The target of a request for `model`.
    pub(crate) fn of(state: &AppState, model: &str) -> Target {
        let name = match &state.options.remote {
            Some(route) => route.0.route(model),
            // Recognised, to be answered with how to configure it.
            None => model.strip_prefix(REMOTE_PREFIX).map(str::to_owned),
        };
        name.map_or(Target::Local, Target::Remote)
    }

    /// The sampling defaults for `model` (a remote model's own are not known here; `top_p`
    /// 1.0, no narrowing, is not sent).
    pub(crate) fn sampling_defaults(&self, state: &AppState, model: &str) -> Sampling {
        match self {
            Target::Local => state.engine.sampling_defaults(model),
            Target::Remote(_) => Sampling { top_p: 1.0, ..Sampling::default() },
        }
    }

    /// Checks that `generate` can go to this target and names its model: a local name resolved
    /// (aliases, the default), a remote one as asked.
    pub(crate) fn prepare(
        &self,
        state: &AppState,
        generate: &mut Generate,
        tools_in_play: bool,
        dialect: Dialect,
    ) -> Result<(), ApiError> {
        match self {
            Target::Local => {
                generate.model = state.engine.resolve(&generate.model).map_err(|e| ApiError::engine(dialect, &e))?;
            }
            Target::Remote(_) if tools_in_play => {
                return Err(ApiError::invalid(
                    dialect,
                    "`tools` are not sent to remote models; ask without tools, or use a local model",
                ));
            }
            Target::Remote(_) => {}
        }
        Ok(())
    }

    /// The whole answer.
    pub(crate) async fn complete(
        &self,
        state: &AppState,
        generate: Generate,
        headers: &HeaderMap,
        dialect: Dialect,
    ) -> Result<Answer, ApiError> {
        match self {
            Target::Local => crate::complete(&state.engine, generate).await.map_err(|e| ApiError::engine(dialect, &e)),
            Target::Remote(name) => {
                let events = answer(state, name, generate, headers, dialect).await?;
                crate::collect(events).await.map_err(|e| match e {
                    Some(e) => ApiError { status: StatusCode::BAD_GATEWAY, ..ApiError::engine(dialect, &e) },
                    None => ApiError {
                        status: StatusCode::BAD_GATEWAY,
                        message: format!("remote:{name} stopped before it answered; retry"),
                        param: None,
                        dialect,
                    },
                })
            }
        }
    }

    /// The prompt's token count and the answer's events, once the answer has started. A remote
    /// answer's events come as the remote sends them; its prompt count is known only at the end
    /// (in `Done`), so it is 0 here.
    pub(crate) async fn start(
        &self,
        state: &AppState,
        generate: Generate,
        headers: &HeaderMap,
        dialect: Dialect,
    ) -> Result<(usize, UnboundedReceiver<Event>), ApiError> {
        match self {
            Target::Local => crate::start(&state.engine, generate).await.map_err(|e| ApiError::engine(dialect, &e)),
            Target::Remote(name) => answer(state, name, generate, headers, dialect).await.map(|events| (0, events)),
        }
    }
}

/// OpenAI's `response_format` for a constraint, or why it cannot go to a remote model.
fn response_format(constraint: Option<Constraint>, dialect: Dialect) -> Result<Option<serde_json::Value>, ApiError> {
    Ok(match constraint {
        None => None,
        Some(Constraint::Grammar(_)) => {
            return Err(ApiError::invalid(
                dialect,
                "`grammar` is not sent to remote models; use `response_format` with a JSON schema, or a local model",
            ));
        }
        Some(Constraint::JsonSchema(schema)) => {
            let schema: serde_json::Value = serde_json::from_str(&schema)
                .map_err(|e| ApiError::invalid(dialect, format!("the JSON schema is not JSON: {e}")))?;
            match schema == serde_json::json!({"type": "object"}) {
                true => Some(serde_json::json!({"type": "json_object"})),
                false => Some(serde_json::json!({
                    "type": "json_schema",
                    "json_schema": {"name": "response", "schema": schema},
                })),
            }
        }
    })
}

/// Asks remote model `name` for the chat in `generate`; its events as the engine's.
async fn answer(
    state: &AppState,
    name: &str,
    generate: Generate,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<UnboundedReceiver<Event>, ApiError> {
    let error = |status: StatusCode, message: String| ApiError { status, message, param: None, dialect };
    let Some(route) = &state.options.remote else {
        return Err(ApiError {
            param: Some("model".into()),
            ..error(
                StatusCode::NOT_FOUND,
                format!(
                    "`{REMOTE_PREFIX}{name}`: remote models are not configured on this server; add a [remote.{name}] section to the config of `sov serve`"
                ),
            )
        });
    };
    let Prompt::Chat(messages) = generate.prompt else {
        return Err(error(StatusCode::BAD_REQUEST, "remote models answer chats only".into()));
    };
    let chat = RemoteChat {
        name: name.to_owned(),
        messages,
        max_tokens: generate.max_tokens,
        temperature: generate.sampling.temperature,
        top_p: (generate.sampling.top_p < 1.0).then_some(generate.sampling.top_p),
        stop: generate.stop,
        seed: generate.sampling.seed,
        response_format: response_format(generate.constraint, dialect)?,
        session: headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let mut remote = route
        .0
        .chat(chat)
        .await
        .map_err(|e| error(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY), e.message))?;
    let (sender, events) = tokio::sync::mpsc::unbounded_channel();
    let model = format!("{REMOTE_PREFIX}{name}");
    tokio::spawn(async move {
        loop {
            // The caller went away: dropping `remote` tells the route.
            let event = tokio::select! {
                event = remote.recv() => event,
                () = sender.closed() => return,
            };
            let Some(event) = event else { return };
            let event = match event {
                RemoteEvent::Text(text) => Event::Text(text),
                RemoteEvent::Done { finish_reason, prompt_tokens, completion_tokens } => {
                    let finish = match finish_reason.as_str() {
                        "length" => FinishReason::Length,
                        _ => FinishReason::Stop,
                    };
                    Event::Done { finish, usage: Usage { prompt_tokens, completion_tokens, ..Usage::default() } }
                }
                RemoteEvent::Failed(problem) => Event::Failed(EngineError::Inference { model: model.clone(), problem }),
            };
            if sender.send(event).is_err() {
                return;
            }
        }
    });
    Ok(events)
}
