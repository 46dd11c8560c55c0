//! The seam every tool of the agent plugs into: [`Tool`] says what the model is offered (a name,
//! a description, a JSON schema of the arguments) and runs one call. A new tool is one type that
//! implements it, registered with [`crate::Tools::register`]; nothing else needs to learn its name.
//!
//! This module depends on nothing else in the crate, so every tool can use it and the registry
//! can use every tool without either importing the other back.

use serde::Deserialize;
use serde_json::{Value, json};

/// Most bytes of tool output handed back to the model; the rest is cut with a note.
pub const OUTPUT_CAP: usize = 30 * 1024;

/// Why a tool call failed: said to the model as the tool's answer.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0}")]
pub struct ToolError(pub String);

/// One tool the model may call.
///
/// A tool guards against the model, not against the sandbox's limits: a malformed call gets a
/// precise error (see [`parse`]), output is capped (see [`cap`]), and what the sandbox refuses is
/// refused by the kernel.
pub trait Tool: Send + Sync {
    /// The name the model calls it by (unique among the tools offered).
    fn name(&self) -> &str;

    /// What it does, as the model reads it.
    fn description(&self) -> &str;

    /// The JSON schema of its arguments (an object; see [`object_schema`]).
    fn schema(&self) -> Value;

    /// Runs one call with `arguments`, the model's JSON text (`{}` when the model sent none);
    /// the answer, or the error, is what the model sees next.
    fn run(&self, arguments: &str) -> Result<String, ToolError>;

    /// The tool's description in the OpenAI `tools` format.
    fn definition(&self) -> Value {
        json!({"type": "function", "function": {
            "name": self.name(),
            "description": self.description(),
            "parameters": self.schema(),
        }})
    }
}

/// The schema of an arguments object with `properties`, of which `required` must be given and
/// no others may be.
pub fn object_schema(properties: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": properties, "required": required, "additionalProperties": false})
}

/// The arguments of a call of `tool`, or an error that tells the model what to send instead.
pub fn parse<T: for<'de> Deserialize<'de>>(tool: &str, arguments: &str) -> Result<T, ToolError> {
    serde_json::from_str(arguments).map_err(|e| {
        ToolError(format!("the arguments of {tool} are not valid: {e}; send a JSON object with the documented fields"))
    })
}

/// Cuts `text` to [`OUTPUT_CAP`] bytes on a character boundary, saying how much was left out.
pub fn cap(mut text: String) -> String {
    if text.len() <= OUTPUT_CAP {
        return text;
    }
    let total = text.len();
    let mut cut = OUTPUT_CAP;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push_str(&format!("\n[output cut: {} of {total} bytes shown]", cut));
    text
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn cap_cuts_on_a_character_boundary_and_says_so() {
        assert_eq!(cap("short".into()), "short");
        let long = "é".repeat(OUTPUT_CAP);
        let cut = cap(long);
        assert!(cut.ends_with(&format!("[output cut: {} of {} bytes shown]", OUTPUT_CAP, 2 * OUTPUT_CAP)), "{cut}");
    }
}
