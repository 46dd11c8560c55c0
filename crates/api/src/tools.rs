//! Tool calls for any model: the tools are described in the system prompt and the answer is
//! constrained by a grammar to either a call of one of them or a plain response, so even a small
//! model whose chat template knows nothing of tools produces a well-formed call.

use serde_json::{Value, json};
use sov_engine::{ChatMessage, Constraint};

/// A tool the model may call.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tool {
    pub(crate) name: String,
    pub(crate) description: String,
    /// JSON schema of the arguments.
    pub(crate) parameters: Value,
}

/// Whether and which tool the model must call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ToolChoice {
    Auto,
    Required,
    Named(String),
}

/// What the model answered.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ToolOutput {
    Call { name: String, arguments: Value },
    Text(String),
}

/// Tells the model about `tools` in the system message (creating one if needed) and returns the
/// constraint its answer must follow.
pub(crate) fn offer(messages: &mut Vec<ChatMessage>, tools: &[Tool], choice: &ToolChoice) -> Constraint {
    let instructions = instructions(tools, choice);
    match messages.iter_mut().find(|m| m.role == "system") {
        Some(system) => system.content = format!("{}\n\n{instructions}", system.content),
        None => messages.insert(0, ChatMessage { role: "system".into(), content: instructions }),
    }
    constraint(tools, choice)
}

/// The system-prompt text that tells the model about the tools.
fn instructions(tools: &[Tool], choice: &ToolChoice) -> String {
    let mut out = String::from("You can call these tools:\n");
    for tool in tools {
        out.push_str(&format!(
            "- {}: {}\n  arguments (JSON schema): {}\n",
            tool.name, tool.description, tool.parameters
        ));
    }
    out.push_str(
        "To call a tool, answer only with JSON: {\"tool_call\": {\"name\": \"<tool name>\", \"arguments\": {…}}}\n",
    );
    if *choice == ToolChoice::Auto {
        out.push_str("To answer without a tool, answer only with JSON: {\"response\": \"<your answer>\"}\n");
    }
    out
}

/// The grammar (as a JSON schema) every answer must follow.
fn constraint(tools: &[Tool], choice: &ToolChoice) -> Constraint {
    let mut options: Vec<Value> = tools
        .iter()
        .filter(|t| match choice {
            ToolChoice::Named(name) => &t.name == name,
            _ => true,
        })
        .map(|t| {
            let parameters = if t.parameters.is_object() { t.parameters.clone() } else { json!({"type": "object"}) };
            json!({
                "type": "object",
                "properties": {
                    "tool_call": {
                        "type": "object",
                        "properties": { "name": { "const": t.name }, "arguments": parameters },
                        "required": ["name", "arguments"]
                    }
                },
                "required": ["tool_call"]
            })
        })
        .collect();
    if *choice == ToolChoice::Auto {
        options.push(json!({
            "type": "object",
            "properties": { "response": { "type": "string" } },
            "required": ["response"]
        }));
    }
    Constraint::JsonSchema(json!({ "anyOf": options }).to_string())
}

/// Reads the constrained answer back. Text that is not the expected JSON (the grammar makes that
/// unlikely, but a length cut-off can leave it incomplete) is returned as text.
pub(crate) fn parse(text: &str) -> ToolOutput {
    let Ok(value) = serde_json::from_str::<Value>(text.trim()) else {
        return ToolOutput::Text(text.to_owned());
    };
    if let Some(call) = value.get("tool_call")
        && let Some(name) = call.get("name").and_then(Value::as_str)
    {
        let arguments = call.get("arguments").cloned().unwrap_or_else(|| json!({}));
        return ToolOutput::Call { name: name.to_owned(), arguments };
    }
    match value.get("response").and_then(Value::as_str) {
        Some(response) => ToolOutput::Text(response.to_owned()),
        None => ToolOutput::Text(text.to_owned()),
    }
}

/// How an earlier tool call of the assistant is shown to the model again: as it wrote it.
pub(crate) fn render_call(name: &str, arguments: &Value) -> String {
    json!({ "tool_call": { "name": name, "arguments": arguments } }).to_string()
}

/// How a tool's result is shown to the model: as a user turn, which every chat template accepts.
pub(crate) fn render_result(call_id: &str, content: &str) -> String {
    format!("Result of tool call {call_id}:\n{content}")
}

/// A fresh identifier for a tool call.
pub(crate) fn call_id(prefix: &str) -> String {
    format!("{prefix}{}", crate::random_hex(12))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn reads_calls_and_responses_and_keeps_anything_else_as_text() {
        assert_eq!(
            parse(r#"{"tool_call": {"name": "add", "arguments": {"a": 1}}}"#),
            ToolOutput::Call { name: "add".into(), arguments: json!({"a": 1}) }
        );
        assert_eq!(parse(r#" {"response": "hi"} "#), ToolOutput::Text("hi".into()));
        assert_eq!(parse(r#"{"tool_call": {"na"#), ToolOutput::Text(r#"{"tool_call": {"na"#.into()));
    }

    #[test]
    fn a_named_choice_allows_only_that_tool_and_no_plain_answer() {
        let tools = [
            Tool { name: "a".into(), description: String::new(), parameters: json!({"type": "object"}) },
            Tool { name: "b".into(), description: String::new(), parameters: json!(null) },
        ];
        let Constraint::JsonSchema(schema) = constraint(&tools, &ToolChoice::Named("b".into())) else {
            panic!("expected a JSON schema")
        };
        let schema: Value = serde_json::from_str(&schema).unwrap();
        let options = schema["anyOf"].as_array().unwrap();
        assert_eq!(options.len(), 1);
        assert_eq!(options[0]["properties"]["tool_call"]["properties"]["name"]["const"], "b");
    }
}
