//! `model: "remote:NAME"`: a request for a model outside this machine. The API only recognises
//! it and answers in the caller's dialect; what happens in between (sanitising, the gate,
//! attestation, sealing, payment, the transport) is the [`RemoteModels`] that `sov serve`
//! plugs in. Without one, such a model is unknown here.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::http::{HeaderMap, StatusCode};
use sov_engine::{ChatMessage, Event, FinishReason, Generate, Prompt, Sampling, Usage};
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
    /// The caller's gate session token, if it presented one.
    pub session: Option<String>,
}

/// A remote model's answer, placeholders already restored.
#[derive(Debug, Clone, Default)]
pub struct RemoteAnswer {
    /// The text.
    pub text: String,
    /// The remote's `finish_reason` (`stop`, `length`, …).
    pub finish_reason: String,
    /// Prompt tokens, as the remote counted them.
    pub prompt_tokens: usize,
    /// Generated tokens, as the remote counted them.
    pub completion_tokens: usize,
}

/// Why a remote chat got no answer.
#[derive(Debug, Clone)]
pub struct RemoteError {
    /// The HTTP status to answer with (403 when refused by the gate or the human).
    pub status: u16,
    /// What happened and what to do.
    pub message: String,
}

/// The future a [`RemoteModels`] answers with.
pub type RemoteFuture = Pin<Box<dyn Future<Output = Result<RemoteAnswer, RemoteError>> + Send>>;

/// Where `remote:NAME` requests go.
pub trait RemoteModels: Send + Sync {
    /// The configured names, listed by `/v1/models` as `remote:NAME`.
    fn names(&self) -> Vec<String>;
    /// The `NAME` a request for `model` goes to: `remote:NAME`, or another name the user's
    /// configuration routes to a remote model; `None` for local models.
    fn route(&self, model: &str) -> Option<String> {
        model.strip_prefix(REMOTE_PREFIX).map(str::to_owned)
    }
    /// Answers `chat`; may wait long (for a human's confirmation).
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

    /// The sampling defaults for `model` (a remote model's own are not known here).
    pub(crate) fn sampling_defaults(&self, state: &AppState, model: &str) -> Sampling {
        match self {
            Target::Local => state.engine.sampling_defaults(model),
            Target::Remote(_) => Sampling::default(),
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
            Target::Remote(name) => answer(state, name, generate, headers, dialect).await,
        }
    }

    /// The prompt's token count and the answer's events, once the answer has started.
    pub(crate) async fn start(
        &self,
        state: &AppState,
        generate: Generate,
        headers: &HeaderMap,
        dialect: Dialect,
    ) -> Result<(usize, UnboundedReceiver<Event>), ApiError> {
        match self {
            Target::Local => crate::start(&state.engine, generate).await.map_err(|e| ApiError::engine(dialect, &e)),
            Target::Remote(name) => answer(state, name, generate, headers, dialect)
                .await
                .map(|answer| (answer.usage.prompt_tokens, answer.into_events())),
        }
    }
}

/// Asks remote model `name` for the chat in `generate`.
async fn answer(
    state: &AppState,
    name: &str,
    generate: Generate,
    headers: &HeaderMap,
    dialect: Dialect,
) -> Result<Answer, ApiError> {
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
        session: headers.get(SESSION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned),
    };
    let answer = route
        .0
        .chat(chat)
        .await
        .map_err(|e| error(StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_GATEWAY), e.message))?;
    let finish = match answer.finish_reason.as_str() {
        "length" => FinishReason::Length,
        _ => FinishReason::Stop,
    };
    let usage =
        Usage { prompt_tokens: answer.prompt_tokens, completion_tokens: answer.completion_tokens, ..Usage::default() };
    Ok(Answer { text: answer.text, finish, usage })
}

impl Answer {
    /// The whole answer as the events of a generation, for the streaming responses.
    pub(crate) fn into_events(self) -> UnboundedReceiver<Event> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        let _ = sender.send(Event::Text(self.text));
        let _ = sender.send(Event::Done { finish: self.finish, usage: self.usage });
        receiver
    }
}
