//! The Anthropic-compatible `/v1/messages`, so Claude Code and other Anthropic clients work with
//! `ANTHROPIC_BASE_URL=http://127.0.0.1:8080`.

use std::convert::Infallible;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures_util::stream::{self, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use sov_engine::{ChatMessage, Event, FinishReason, Generate, Prompt, Sampling, Usage};
use tokio_stream::wrappers::UnboundedReceiverStream;

use crate::error::{ApiError, Dialect};
use crate::remote::Target;
use crate::tools::{self, Tool, ToolChoice, ToolOutput};
use crate::{AppState, parse_body, random_hex};

const D: Dialect = Dialect::Anthropic;

#[derive(Debug, Deserialize)]
struct MessagesRequest {
    #[serde(default)]
    model: String,
    max_tokens: u32,
    messages: Vec<Message>,
    system: Option<Content>,
    #[serde(default)]
    stop_sequences: Vec<String>,
    temperature: Option<f32>,
    top_p: Option<f32>,
    top_k: Option<i32>,
    #[serde(default)]
    stream: bool,
    #[serde(default)]
    tools: Vec<ToolDef>,
    tool_choice: Option<ToolChoiceDef>,
}

#[derive(Debug, Deserialize)]
struct Message {
    role: String,
    content: Content,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Blocks(Vec<Block>),
}

#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Block {
    Text {
        text: String,
    },
    ToolUse {
        name: String,
        #[serde(default)]
        input: Value,
    },
    ToolResult {
        tool_use_id: String,
        #[serde(default)]
        content: Option<Content>,
        #[serde(default)]
        is_error: bool,
    },
    /// The model's own reasoning from an earlier turn: not shown to a local model again.
    Thinking {},
    RedactedThinking {},
    #[serde(other)]
    Unsupported,
}

#[derive(Debug, Deserialize)]
struct ToolDef {
    name: String,
    #[serde(default)]
    description: String,
    #[serde(default)]
    input_schema: Value,
}

#[derive(Debug, Deserialize)]
struct ToolChoiceDef {
    #[serde(rename = "type")]
    kind: String,
    name: Option<String>,
}

fn flatten(content: Content) -> Result<String, ApiError> {
    match content {
        Content::Text(t) => Ok(t),
        Content::Blocks(blocks) => {
            let mut out = String::new();
            for block in blocks {
                // Blocks are separate pieces (Claude Code sends a reminder and the prompt as two).
                if !out.is_empty() && !out.ends_with('\n') {
                    out.push('\n');
                }
                match block {
                    Block::Text { text } => out.push_str(&text),
                    Block::ToolUse { name, input } => out.push_str(&tools::render_call(&name, &input)),
                    Block::ToolResult { tool_use_id, content, is_error } => {
                        let mut result = match content {
                            Some(c) => flatten(c)?,
                            None => String::new(),
                        };
                        if is_error {
                            result = format!("Error: {result}");
                        }
                        out.push_str(&tools::render_result(&tool_use_id, &result));
                    }
                    Block::Thinking {} | Block::RedactedThinking {} => {}
                    Block::Unsupported => {
                        return Err(ApiError::invalid(
                            D,
                            "a content block type is not supported (local models here read text only); send text, tool_use and tool_result blocks",
                        ));
                    }
                }
            }
            Ok(out)
        }
    }
}

fn stop_reason(finish: FinishReason) -> &'static str {
    match finish {
        FinishReason::Stop => "end_turn",
        FinishReason::StopString => "stop_sequence",
        FinishReason::Length => "max_tokens",
    }
}

fn usage_json(usage: &Usage) -> Value {
    json!({
        "input_tokens": usage.prompt_tokens.saturating_sub(usage.cached_tokens),
        "cache_read_input_tokens": usage.cached_tokens,
        "output_tokens": usage.completion_tokens,
    })
}

fn content_blocks(text: String, tools_in_play: bool) -> (Vec<Value>, bool) {
    if tools_in_play {
        match tools::parse(&text) {
            ToolOutput::Call { name, arguments } => {
                let block =
                    json!({ "type": "tool_use", "id": tools::call_id("toolu_"), "name": name, "input": arguments });
                return (vec![block], true);
            }
            ToolOutput::Text(text) => return (vec![json!({ "type": "text", "text": text })], false),
        }
    }
    (vec![json!({ "type": "text", "text": text })], false)
}

/// `POST /v1/messages`
pub(crate) async fn messages(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let request: MessagesRequest = match parse_body(D, &body) {
        Ok(r) => r,
        Err(e) => return e.into_response(),
    };
    let target = Target::of(&state, &request.model);
    let defaults = target.sampling_defaults(&state, &request.model);
    let (mut generate, tools_in_play, streaming) = match build(request, defaults) {
        Ok(parts) => parts,
        Err(e) => return e.into_response(),
    };
    if let Err(e) = target.prepare(&state, &mut generate, tools_in_play, D) {
        return e.into_response();
    }
    let model = generate.model.clone();
    let id = format!("msg_{}", random_hex(12));
    if !streaming {
        return match target.complete(&state, generate, &headers, D).await {
            Ok(answer) => {
                let (content, called) = content_blocks(answer.text, tools_in_play);
                let reason = if called { "tool_use" } else { stop_reason(answer.finish) };
                axum::Json(json!({
                    "id": id,
                    "type": "message",
                    "role": "assistant",
                    "model": model,
                    "content": content,
                    "stop_reason": reason,
                    "stop_sequence": null,
                    "usage": usage_json(&answer.usage),
                }))
                .into_response()
            }
            Err(e) => e.into_response(),
        };
    }
    let (prompt_tokens, events) = match target.start(&state, generate, &headers, D).await {
        Ok(started) => started,
        Err(e) => return e.into_response(),
    };
    let mut opening = vec![(
        "message_start",
        json!({
            "type": "message_start",
            "message": {
                "id": id, "type": "message", "role": "assistant", "model": model, "content": [],
                "stop_reason": null, "stop_sequence": null,
                "usage": { "input_tokens": prompt_tokens, "output_tokens": 0 },
            }
        }),
    )];
    if !tools_in_play {
        opening.push((
            "content_block_start",
            json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
        ));
    }
    let mut buffered = String::new();
    let body = UnboundedReceiverStream::new(events).flat_map(move |event| {
        let items: Vec<(&'static str, Value)> = match event {
            Event::Text(text) if tools_in_play => {
                buffered.push_str(&text);
                vec![]
            }
            Event::Text(text) => vec![(
                "content_block_delta",
                json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }),
            )],
            Event::Done { finish, usage } => {
                let mut items = Vec::new();
                let mut reason = stop_reason(finish);
                if tools_in_play {
                    let (blocks, called) = content_blocks(std::mem::take(&mut buffered), true);
                    if called {
                        reason = "tool_use";
                    }
                    for (index, block) in blocks.into_iter().enumerate() {
                        let (start_block, delta) = match block["type"].as_str() {
                            Some("tool_use") => (
                                json!({ "type": "tool_use", "id": block["id"], "name": block["name"], "input": {} }),
                                json!({ "type": "input_json_delta", "partial_json": block["input"].to_string() }),
                            ),
                            _ => (
                                json!({ "type": "text", "text": "" }),
                                json!({ "type": "text_delta", "text": block["text"] }),
                            ),
                        };
                        items.push((
                            "content_block_start",
                            json!({ "type": "content_block_start", "index": index, "content_block": start_block }),
                        ));
                        items.push((
                            "content_block_delta",
                            json!({ "type": "content_block_delta", "index": index, "delta": delta }),
                        ));
                        items.push(("content_block_stop", json!({ "type": "content_block_stop", "index": index })));
                    }
                } else {
                    items.push(("content_block_stop", json!({ "type": "content_block_stop", "index": 0 })));
                }
                items.push((
                    "message_delta",
                    json!({
                        "type": "message_delta",
                        "delta": { "stop_reason": reason, "stop_sequence": null },
                        "usage": { "output_tokens": usage.completion_tokens },
                    }),
                ));
                items.push(("message_stop", json!({ "type": "message_stop" })));
                items
            }
            Event::Failed(e) => vec![("error", ApiError::engine(D, &e).body())],
            Event::Started { .. } | Event::Embeddings { .. } => vec![],
        };
        stream::iter(items)
    });
    let events = stream::iter(opening)
        .chain(body)
        .map(|(name, data)| Ok::<_, Infallible>(SseEvent::default().event(name).data(data.to_string())));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

fn build(request: MessagesRequest, d: Sampling) -> Result<(Generate, bool, bool), ApiError> {
    if request.max_tokens == 0 {
        return Err(ApiError::invalid(D, "`max_tokens` is 0; ask for at least 1 token"));
    }
    if request.messages.is_empty() {
        return Err(ApiError::invalid(D, "`messages` is empty; send at least one message"));
    }
    let mut messages = Vec::new();
    let mut system = match request.system {
        Some(system) => flatten(system)?,
        None => String::new(),
    };
    for message in request.messages {
        match message.role.as_str() {
            "user" | "assistant" => {
                messages.push(ChatMessage { role: message.role.clone(), content: flatten(message.content)? })
            }
            // Claude Code sends context (agent types, skills, reminders) as system messages
            // among the turns; many chat templates accept a system message only first, so it
            // joins the system prompt.
            "system" => {
                let text = flatten(message.content)?;
                if !system.is_empty() && !text.is_empty() {
                    system.push_str("\n\n");
                }
                system.push_str(&text);
            }
            other => {
                return Err(ApiError::invalid(
                    D,
                    format!("message role `{other}` is unknown; use user, assistant or system"),
                ));
            }
        }
    }
    if !system.is_empty() {
        messages.insert(0, ChatMessage { role: "system".into(), content: system });
    }
    let tools: Vec<Tool> = request
        .tools
        .into_iter()
        .map(|t| Tool { name: t.name, description: t.description, parameters: t.input_schema })
        .collect();
    let choice = match request.tool_choice {
        _ if tools.is_empty() => None,
        None => Some(ToolChoice::Auto),
        Some(c) => match (c.kind.as_str(), c.name) {
            ("auto", _) => Some(ToolChoice::Auto),
            ("any", _) => Some(ToolChoice::Required),
            ("none", _) => None,
            ("tool", Some(name)) if tools.iter().any(|t| t.name == name) => Some(ToolChoice::Named(name)),
            ("tool", name) => {
                return Err(ApiError::invalid(D, format!("`tool_choice` names {name:?}, which is not in `tools`")));
            }
            (other, _) => {
                return Err(ApiError::invalid(
                    D,
                    format!("`tool_choice.type` is `{other}`; use auto, any, tool or none"),
                ));
            }
        },
    };
    let constraint = choice.as_ref().map(|choice| tools::offer(&mut messages, &tools, choice));
    let sampling = Sampling {
        temperature: request.temperature.unwrap_or(d.temperature),
        top_p: request.top_p.unwrap_or(d.top_p),
        top_k: request.top_k.unwrap_or(d.top_k),
        ..d
    };
    let generate = Generate {
        model: request.model,
        prompt: Prompt::Chat(messages),
        sampling,
        max_tokens: Some(request.max_tokens),
        stop: request.stop_sequences,
        constraint,
        ignore_eos: false,
    };
    Ok((generate, choice.is_some(), request.stream))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn prompt_of(body: Value) -> Vec<ChatMessage> {
        let request: MessagesRequest = serde_json::from_value(body).unwrap();
        match build(request, Sampling::default()).unwrap().0.prompt {
            Prompt::Chat(messages) => messages,
            other => panic!("not a chat prompt: {other:?}"),
        }
    }

    #[test]
    fn system_turns_join_the_system_prompt_and_failed_tools_say_so() {
        // The shapes Claude Code sends: system blocks with cache_control, a system message among
        // the turns, earlier thinking, and a tool_result marked as an error.
        let messages = prompt_of(json!({
            "model": "m", "max_tokens": 10,
            "system": [{"type": "text", "text": "You are Claude Code."},
                       {"type": "text", "text": "Be careful.", "cache_control": {"type": "ephemeral"}}],
            "messages": [
                {"role": "user", "content": [{"type": "text", "text": "run it"}]},
                {"role": "system", "content": "Skills: none."},
                {"role": "assistant", "content": [
                    {"type": "thinking", "thinking": "let me think", "signature": "abc"},
                    {"type": "tool_use", "id": "toolu_1", "name": "Bash", "input": {"command": "false"}}]},
                {"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": "toolu_1", "is_error": true,
                     "content": [{"type": "text", "text": "exit 1"}]}]}
            ]
        }));
        let roles: Vec<&str> = messages.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["system", "user", "assistant", "user"]);
        assert_eq!(messages[0].content, "You are Claude Code.\nBe careful.\n\nSkills: none.");
        assert!(!messages[2].content.contains("let me think"), "{}", messages[2].content);
        assert!(messages[3].content.contains("Error: exit 1"), "{}", messages[3].content);
    }

    #[test]
    fn images_are_refused_with_a_reason() {
        let request: MessagesRequest = serde_json::from_value(json!({
            "model": "m", "max_tokens": 10,
            "messages": [{"role": "user", "content": [{"type": "image", "source": {"type": "base64", "data": ""}}]}]
        }))
        .unwrap();
        let err = build(request, Sampling::default()).unwrap_err();
        assert!(format!("{err:?}").contains("read text only"), "{err:?}");
    }
}
