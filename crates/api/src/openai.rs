//! The OpenAI-compatible endpoints.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use sov_engine::{ChatMessage, Constraint, Event, FinishReason, Generate, Prompt, Residency, Sampling, Usage};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::error::{ApiError, Dialect};
use crate::remote::{REMOTE_PREFIX, Target};
use crate::tools::{self, Tool, ToolChoice, ToolOutput};
use crate::{AppState, complete, parse_body, random_hex, start, timings, unix_time};

const D: Dialect = Dialect::OpenAi;

/// Either one string or several (`stop`, `prompt`).
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            Self::One(s) => vec![s],
            Self::Many(v) => v,
        }
    }
}

/// Sampling fields shared by both endpoints (llama-server's extensions included).
#[derive(Debug, Default, Deserialize)]
struct SamplingFields {
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<i32>,
    min_p: Option<f32>,
    repeat_penalty: Option<f32>,
    repeat_last_n: Option<i32>,
    presence_penalty: Option<f32>,
    frequency_penalty: Option<f32>,
    seed: Option<i64>,
    max_tokens: Option<u32>,
    max_completion_tokens: Option<u32>,
    n_predict: Option<i64>,
    stop: Option<OneOrMany>,
    n: Option<u32>,
    grammar: Option<String>,
    json_schema: Option<Value>,
    #[serde(default)]
    ignore_eos: bool,
}

impl SamplingFields {
    /// The request's sampling over the model's defaults `d`.
    fn sampling(&self, d: Sampling) -> Result<Sampling, ApiError> {
        let seed = match self.seed {
            None => d.seed,
            Some(-1) => None,
            Some(s) => Some(u32::try_from(s).map_err(|_| {
                ApiError::invalid(D, format!("`seed` is {s}; use a value from 0 to {} (or -1 for random)", u32::MAX))
            })?),
        };
        Ok(Sampling {
            temperature: self.temperature.unwrap_or(d.temperature),
            top_p: self.top_p.unwrap_or(d.top_p),
            top_k: self.top_k.unwrap_or(d.top_k),
            min_p: self.min_p.unwrap_or(d.min_p),
            repeat_penalty: self.repeat_penalty.unwrap_or(d.repeat_penalty),
            repeat_last_n: self.repeat_last_n.unwrap_or(d.repeat_last_n),
            presence_penalty: self.presence_penalty.unwrap_or(d.presence_penalty),
            frequency_penalty: self.frequency_penalty.unwrap_or(d.frequency_penalty),
            seed,
        })
    }

    fn max_tokens(&self) -> Option<u32> {
        let n_predict = self.n_predict.and_then(|n| u32::try_from(n).ok());
        self.max_completion_tokens.or(self.max_tokens).or(n_predict)
    }

    fn check_n(&self) -> Result<(), ApiError> {
        match self.n {
            None | Some(1) => Ok(()),
            Some(n) => Err(ApiError::invalid(D, format!("`n` is {n}; this server returns one choice per request"))),
        }
    }

    fn constraint(&self) -> Option<Constraint> {
        if let Some(grammar) = &self.grammar {
            return Some(Constraint::Grammar(grammar.clone()));
        }
        self.json_schema.as_ref().map(|s| Constraint::JsonSchema(s.to_string()))
    }
}

#[derive(Debug, Deserialize)]
struct ChatRequest {
    #[serde(default)]
    model: String,
    messages: Vec<Message>,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    response_format: Option<ResponseFormat>,
    tools: Option<Vec<ToolDef>>,
    tool_choice: Option<Value>,
    #[serde(flatten)]
    sampling: SamplingFields,
}

#[derive(Debug, Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: bool,
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ResponseFormat {
    Text,
    JsonObject,
    JsonSchema { json_schema: JsonSchemaFormat },
}

#[derive(Debug, Deserialize)]
struct JsonSchemaFormat {
    schema: Option<Value>,
}

#[derive(Debug, Deserialize)]
struct ToolDef {
    function: FunctionDef,
}

#[derive(Debug, Deserialize)]
struct FunctionDef {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    parameters: Value,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    #[serde(default)]
    content: Option<Content>,
    #[serde(default)]
    tool_calls: Vec<ToolCall>,
    tool_call_id: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Debug, Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ToolCall {
    function: CalledFunction,
}

#[derive(Debug, Deserialize)]
struct CalledFunction {
    name: String,
    #[serde(default)]
    arguments: String,
}

fn content_text(content: Option<Content>) -> Result<String, ApiError> {
    match content {
        None => Ok(String::new()),
        Some(Content::Text(t)) => Ok(t),
        Some(Content::Parts(parts)) => {
            let mut out = String::new();
            for part in parts {
                match (part.kind.as_str(), part.text) {
                    ("text", Some(text)) => out.push_str(&text),
                    (kind, _) => {
                        return Err(ApiError::invalid(
                            D,
                            format!("message content of type `{kind}` is not supported; send text parts only"),
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

fn tool_choice(value: Option<&Value>) -> Result<Option<ToolChoice>, ApiError> {
    Ok(Some(match value {
        None => ToolChoice::Auto,
        Some(Value::String(s)) => match s.as_str() {
            "auto" => ToolChoice::Auto,
            "required" => ToolChoice::Required,
            "none" => return Ok(None),
            other => {
                return Err(ApiError::invalid(D, format!("`tool_choice` is `{other}`; use auto, required or none")));
            }
        },
        Some(v) => match v.pointer("/function/name").and_then(Value::as_str) {
            Some(name) => ToolChoice::Named(name.to_owned()),
            None => return Err(ApiError::invalid(D, "`tool_choice` object needs `function.name`")),
        },
    }))
}

/// What a chat request asks of the engine and of the response.
struct ChatPlan {
    generate: Generate,
    streaming: bool,
    include_usage: bool,
    /// The answer is constrained to a tool call or a plain response, to be parsed at the end.
    tools_in_play: bool,
}

fn chat_request(request: ChatRequest, defaults: Sampling) -> Result<ChatPlan, ApiError> {
    request.sampling.check_n()?;
    if request.messages.is_empty() {
        return Err(ApiError::invalid(D, "`messages` is empty; send at least one message"));
    }
    let tools: Vec<Tool> = request
        .tools
        .unwrap_or_default()
        .into_iter()
        .map(|t| Tool { name: t.function.name, description: t.function.description, parameters: t.function.parameters })
        .collect();
    let choice = if tools.is_empty() { None } else { tool_choice(request.tool_choice.as_ref())? };
    if let Some(ToolChoice::Named(name)) = &choice
        && !tools.iter().any(|t| &t.name == name)
    {
        return Err(ApiError::invalid(D, format!("`tool_choice` names `{name}`, which is not in `tools`")));
    }

    let mut messages = Vec::new();
    for message in request.messages {
        let role = match message.role.as_str() {
            "system" | "developer" => "system",
            "user" => "user",
            "assistant" => "assistant",
            "tool" => "tool",
            other => {
                return Err(ApiError::invalid(
                    D,
                    format!("message role `{other}` is unknown; use system, user, assistant or tool"),
                ));
            }
        };
        let mut content = content_text(message.content)?;
        match role {
            "tool" => {
                let id = message.tool_call_id.unwrap_or_default();
                messages.push(ChatMessage { role: "user".into(), content: tools::render_result(&id, &content) });
            }
            "assistant" if !message.tool_calls.is_empty() => {
                for call in message.tool_calls {
                    let arguments: Value = serde_json::from_str(&call.function.arguments).unwrap_or(json!({}));
                    content.push_str(&tools::render_call(&call.function.name, &arguments));
                }
                messages.push(ChatMessage { role: role.into(), content });
            }
            _ => messages.push(ChatMessage { role: role.into(), content }),
        }
    }

    let mut constraint = request.sampling.constraint();
    match request.response_format {
        None | Some(ResponseFormat::Text) => {}
        Some(ResponseFormat::JsonObject) => constraint = Some(Constraint::JsonSchema(r#"{"type":"object"}"#.into())),
        Some(ResponseFormat::JsonSchema { json_schema }) => {
            let schema = json_schema.schema.unwrap_or_else(|| json!({"type": "object"}));
            constraint = Some(Constraint::JsonSchema(schema.to_string()));
        }
    }
    let tools_in_play = match choice {
        Some(choice) => {
            constraint = Some(tools::offer(&mut messages, &tools, &choice));
            true
        }
        None => false,
    };
    let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
    let generate = Generate {
        model: request.model,
        prompt: Prompt::Chat(messages),
        sampling: request.sampling.sampling(defaults)?,
        max_tokens: request.sampling.max_tokens(),
        stop: request.sampling.stop.map(OneOrMany::into_vec).unwrap_or_default(),
        constraint,
        ignore_eos: request.sampling.ignore_eos,
    };
    Ok(ChatPlan { generate, streaming: request.stream, include_usage, tools_in_play })
}

fn finish_reason(finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Stop | FinishReason::StopString => "stop",
        FinishReason::Length => "length",
    }
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "total_tokens": usage.prompt_tokens + usage.completion_tokens,
        "prompt_tokens_details": { "cached_tokens": usage.cached_tokens },
    })
}

/// The assistant message and finish reason for a finished answer.
fn assistant_message(text: String, finish: FinishReason, tools_in_play: bool) -> (Value, &'static str) {
    if tools_in_play {
        match tools::parse(&text) {
            ToolOutput::Call { name, arguments } => {
                let call = json!({
                    "id": tools::call_id("call_"),
                    "type": "function",
                    "function": { "name": name, "arguments": arguments.to_string() },
                });
                return (json!({ "role": "assistant", "content": null, "tool_calls": [call] }), "tool_calls");
            }
            ToolOutput::Text(text) => return (json!({ "role": "assistant", "content": text }), finish_reason(finish)),
        }
    }
    (json!({ "role": "assistant", "content": text }), finish_reason(finish))
}

/// `POST /v1/chat/completions`
pub(crate) async fn chat(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request: ChatRequest = match parse_body(D, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let target = Target::of(&state, &request.model);
    let defaults = target.sampling_defaults(&state, &request.model);
    let ChatPlan { mut generate, streaming, include_usage, tools_in_play } = match chat_request(request, defaults) {
        Ok(plan) => plan,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = target.prepare(&state, &mut generate, tools_in_play, D) {
        return e.into_response();
    }
    let id = format!("chatcmpl-{}", random_hex(12));
    let model = generate.model.clone();
    if !streaming {
        return match target.complete(&state, generate, &headers, D).await {
            Ok(answer) => {
                let (message, finish) = assistant_message(answer.text, answer.finish, tools_in_play);
                axum::Json(json!({
                    "id": id,
                    "object": "chat.completion",
                    "created": unix_time(),
                    "model": model,
                    "choices": [{ "index": 0, "message": message, "finish_reason": finish }],
                    "usage": usage_json(&answer.usage),
                    "timings": timings(&answer.usage),
                }))
                .into_response()
            }
            Err(e) => e.into_response(),
        };
    }
    let events = match target.start(&state, generate, &headers, D).await {
        Ok((_, events)) => events,
        Err(e) => return e.into_response(),
    };
    let created = unix_time();
    let chunk = move |delta: Value, finish: Option<&str>| {
        json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
        })
    };
    let first = chunk(json!({ "role": "assistant", "content": "" }), None);
    let mut buffered = String::new();
    let body = UnboundedReceiverStream::new(events).flat_map(move |event| {
        let items: Vec<Value> = match event {
            // Tool answers are JSON that is only meaningful whole; they are sent at the end.
            Event::Text(text) if tools_in_play => {
                buffered.push_str(&text);
                vec![]
            }
            Event::Text(text) => vec![chunk(json!({ "content": text }), None)],
            Event::Done { finish, usage } => {
                let mut items = Vec::new();
                let mut finish = finish_reason(finish);
                if tools_in_play {
                    let (message, reason) = assistant_message(std::mem::take(&mut buffered), FinishReason::Stop, true);
                    finish = if reason == "tool_calls" { reason } else { finish };
                    let mut delta = message;
                    if let Some(calls) = delta.get_mut("tool_calls").and_then(Value::as_array_mut) {
                        for (index, call) in calls.iter_mut().enumerate() {
                            call["index"] = json!(index);
                        }
                    }
                    items.push(chunk(delta, None));
                }
                let mut last = chunk(json!({}), Some(finish));
                last["timings"] = timings(&usage);
                items.push(last);
                if include_usage {
                    let mut usage_chunk = chunk(json!({}), None);
                    usage_chunk["choices"] = json!([]);
                    usage_chunk["usage"] = usage_json(&usage);
                    items.push(usage_chunk);
                }
                items
            }
            Event::Failed(e) => vec![ApiError::engine(D, &e).body()],
            Event::Started { .. } | Event::Embeddings { .. } => vec![],
        };
        stream::iter(items)
    });
    sse(stream::once(async move { first }).chain(body))
}

/// An SSE response of JSON events, ended with `[DONE]` as OpenAI clients expect.
fn sse(items: impl Stream<Item = Value> + Send + 'static) -> Response {
    let events = items
        .map(|v| Ok::<_, Infallible>(SseEvent::default().data(v.to_string())))
        .chain(stream::once(async { Ok(SseEvent::default().data("[DONE]")) }));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

#[derive(Debug, Deserialize)]
struct CompletionRequest {
    #[serde(default)]
    model: String,
    prompt: OneOrMany,
    #[serde(default)]
    stream: bool,
    stream_options: Option<StreamOptions>,
    #[serde(flatten)]
    sampling: SamplingFields,
}

/// `POST /v1/completions`
pub(crate) async fn completions(State(state): State<AppState>, body: Bytes) -> Response {
    let request: CompletionRequest = match parse_body(D, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = request.sampling.check_n() {
        return e.into_response();
    }
    let mut prompts = request.prompt.into_vec();
    if prompts.len() != 1 {
        return ApiError::invalid(D, format!("`prompt` has {} entries; send one prompt per request", prompts.len()))
            .into_response();
    }
    let sampling = match request.sampling.sampling(state.engine.sampling_defaults(&request.model)) {
        Ok(s) => s,
        Err(e) => return e.into_response(),
    };
    let model = match state.engine.resolve(&request.model) {
        Ok(name) => name,
        Err(e) => return ApiError::engine(D, &e).into_response(),
    };
    let generate = Generate {
        model: model.clone(),
        prompt: Prompt::Text(prompts.remove(0)),
        sampling,
        max_tokens: request.sampling.max_tokens(),
        constraint: request.sampling.constraint(),
        ignore_eos: request.sampling.ignore_eos,
        stop: request.sampling.stop.map(OneOrMany::into_vec).unwrap_or_default(),
    };
    let id = format!("cmpl-{}", random_hex(12));
    if !request.stream {
        return match complete(&state.engine, generate).await {
            Ok(answer) => axum::Json(json!({
                "id": id,
                "object": "text_completion",
                "created": unix_time(),
                "model": model,
                "choices": [{ "index": 0, "text": answer.text, "logprobs": null, "finish_reason": finish_reason(answer.finish) }],
                "usage": usage_json(&answer.usage),
                "timings": timings(&answer.usage),
            }))
            .into_response(),
            Err(e) => ApiError::engine(D, &e).into_response(),
        };
    }
    let events = match start(&state.engine, generate).await {
        Ok((_, events)) => events,
        Err(e) => return ApiError::engine(D, &e).into_response(),
    };
    let include_usage = request.stream_options.is_some_and(|o| o.include_usage);
    let created = unix_time();
    let chunk = move |text: &str, finish: Option<&str>| {
        json!({
            "id": id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [{ "index": 0, "text": text, "logprobs": null, "finish_reason": finish }],
        })
    };
    let body = UnboundedReceiverStream::new(events).flat_map(move |event| {
        let items = match event {
            Event::Text(text) => vec![chunk(&text, None)],
            Event::Done { finish, usage } => {
                let mut last = chunk("", Some(finish_reason(finish)));
                last["timings"] = timings(&usage);
                if include_usage {
                    last["usage"] = usage_json(&usage);
                }
                vec![last]
            }
            Event::Failed(e) => vec![ApiError::engine(D, &e).body()],
            Event::Started { .. } | Event::Embeddings { .. } => vec![],
        };
        stream::iter(items)
    });
    sse(body)
}

/// `GET /v1/models`
pub(crate) async fn models(State(state): State<AppState>) -> impl IntoResponse {
    let data: Vec<Value> = state
        .engine
        .models()
        .map(|m| {
            let (status, context) = match state.engine.residency(&m.name) {
                Residency::Unloaded => ("unloaded", m.context),
                Residency::Loading => ("loading", m.context),
                Residency::Loaded(info) => ("loaded", Some(info.context)),
            };
            let mut entry = json!({
                "id": m.name,
                "object": "model",
                "created": 0,
                "owned_by": "sovereign",
                "status": { "value": status },
            });
            // Agents size their conversations by this (known once loaded, or when configured).
            if let Some(context) = context {
                entry["context_length"] = json!(context);
            }
            entry
        })
        .chain(state.options.remote.iter().flat_map(|route| route.0.names()).map(|name| {
            json!({ "id": format!("{REMOTE_PREFIX}{name}"), "object": "model", "created": 0, "owned_by": "remote" })
        }))
        .collect();
    axum::Json(json!({ "object": "list", "data": data }))
}

#[derive(Debug, Deserialize)]
struct EmbeddingRequest {
    #[serde(default)]
    model: String,
    input: OneOrMany,
    encoding_format: Option<String>,
}

/// `POST /v1/embeddings`: mean-pooled, unit-length vectors from any GGUF model.
pub(crate) async fn embeddings(State(state): State<AppState>, body: Bytes) -> Response {
    let request: EmbeddingRequest = match parse_body(D, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    if let Some(format) = request.encoding_format.as_deref().filter(|f| *f != "float") {
        // The official clients ask for base64 by default and accept floats in its place.
        tracing::debug!(format, "answering an embedding request with floats");
    }
    let model = match state.engine.resolve(&request.model) {
        Ok(name) => name,
        Err(e) => return ApiError::engine(D, &e).into_response(),
    };
    let mut events = match state.engine.embed(&model, request.input.into_vec()) {
        Ok(events) => events,
        Err(e) => return ApiError::engine(D, &e).into_response(),
    };
    match events.recv().await {
        Some(Event::Embeddings { vectors, prompt_tokens }) => {
            let data: Vec<Value> = vectors
                .into_iter()
                .enumerate()
                .map(|(index, embedding)| json!({ "object": "embedding", "index": index, "embedding": embedding }))
                .collect();
            axum::Json(json!({
                "object": "list",
                "data": data,
                "model": model,
                "usage": { "prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens },
            }))
            .into_response()
        }
        Some(Event::Failed(e)) => ApiError::engine(D, &e).into_response(),
        _ => ApiError::engine(D, &sov_engine::EngineError::WorkerGone { model }).into_response(),
    }
}
