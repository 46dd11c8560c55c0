//! What a caller asks the engine for, and what comes back.

use crate::EngineError;

/// One message of a conversation, after the API layer has flattened its content to text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The text.
    pub content: String,
}

/// The input of a generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Raw text, continued as is (`/v1/completions`).
    Text(String),
    /// A conversation, rendered with the model's chat template (`/v1/chat/completions`, `/v1/messages`).
    Chat(Vec<ChatMessage>),
}

/// How the next token is chosen. Defaults follow llama-server's.
#[derive(Debug, Clone, PartialEq)]
pub struct Sampling {
    /// 0 means greedy.
    pub temperature: f32,
    /// Nucleus sampling; 1.0 disables it.
    pub top_p: f32,
    /// 0 disables it.
    pub top_k: i32,
    /// 0.0 disables it.
    pub min_p: f32,
    /// 1.0 disables it.
    pub repeat_penalty: f32,
    /// How many recent tokens the penalties look at.
    pub repeat_last_n: i32,
    /// OpenAI's `presence_penalty`, -2..2.
    pub presence_penalty: f32,
    /// OpenAI's `frequency_penalty`, -2..2.
    pub frequency_penalty: f32,
    /// A fixed seed makes the output repeatable; `None` draws a fresh one.
    pub seed: Option<u32>,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.8,
            top_p: 0.95,
            top_k: 40,
            min_p: 0.05,
            repeat_penalty: 1.0,
            repeat_last_n: 64,
            presence_penalty: 0.0,
            frequency_penalty: 0.0,
            seed: None,
        }
    }
}

impl Sampling {
    /// Checks every value and names the first one out of range.
    pub fn validate(&self) -> Result<(), EngineError> {
        let finite = |field: &'static str, v: f32| {
            if v.is_finite() { Ok(()) } else { Err(EngineError::invalid(field, "must be a finite number")) }
        };
        finite("temperature", self.temperature)?;
        if !(0.0..=100.0).contains(&self.temperature) {
            return Err(EngineError::invalid("temperature", format!("is {}; use 0 (greedy) to 2", self.temperature)));
        }
        finite("top_p", self.top_p)?;
        if !(self.top_p > 0.0 && self.top_p <= 1.0) {
            return Err(EngineError::invalid("top_p", format!("is {}; use a value in (0, 1]", self.top_p)));
        }
        if self.top_k < 0 {
            return Err(EngineError::invalid("top_k", format!("is {}; use 0 (off) or more", self.top_k)));
        }
        finite("min_p", self.min_p)?;
        if !(0.0..=1.0).contains(&self.min_p) {
            return Err(EngineError::invalid("min_p", format!("is {}; use a value in [0, 1]", self.min_p)));
        }
        finite("repeat_penalty", self.repeat_penalty)?;
        if self.repeat_penalty <= 0.0 {
            return Err(EngineError::invalid(
                "repeat_penalty",
                format!("is {}; use 1.0 (off) or more", self.repeat_penalty),
            ));
        }
        if self.repeat_last_n < -1 {
            return Err(EngineError::invalid("repeat_last_n", "use -1 (whole context), 0 (off) or more"));
        }
        for (field, v) in [("presence_penalty", self.presence_penalty), ("frequency_penalty", self.frequency_penalty)] {
            finite(field, v)?;
            if !(-2.0..=2.0).contains(&v) {
                return Err(EngineError::invalid(field, format!("is {v}; use a value in [-2, 2]")));
            }
        }
        Ok(())
    }
}

/// Constrains the output's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// A GBNF grammar with root rule `root`.
    Grammar(String),
    /// A JSON schema (as JSON text), compiled to a grammar by llama.cpp.
    JsonSchema(String),
}

/// One generation request.
#[derive(Debug, Clone)]
pub struct Generate {
    /// The model's name.
    pub model: String,
    /// What to continue.
    pub prompt: Prompt,
    /// Sampling parameters.
    pub sampling: Sampling,
    /// At most this many new tokens; `None` means until the context is full.
    pub max_tokens: Option<u32>,
    /// Generation ends before any of these strings, which are not returned.
    pub stop: Vec<String>,
    /// Shape constraint, if any.
    pub constraint: Option<Constraint>,
    /// Keep generating past the model's end-of-turn tokens (llama-server's `ignore_eos`), up to
    /// `max_tokens` or the context size: for benchmarks and tests that need a fixed length.
    pub ignore_eos: bool,
}

/// Why a generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// The model ended its turn.
    Stop,
    /// One of the request's stop strings was reached.
    StopString,
    /// `max_tokens` or the context size was reached.
    Length,
}

/// Token counts and timings of one generation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: usize,
    /// Of those, how many were already in the KV cache from the previous request.
    pub cached_tokens: usize,
    /// Tokens generated.
    pub completion_tokens: usize,
    /// Milliseconds spent evaluating the prompt.
    pub prompt_ms: f64,
    /// Milliseconds spent generating.
    pub generation_ms: f64,
}

/// What a generation streams back.
#[derive(Debug, Clone)]
pub enum Event {
    /// The model is loaded and the prompt is accepted.
    Started {
        /// Tokens in the prompt.
        prompt_tokens: usize,
    },
    /// New text (never a partial UTF-8 character, never part of a stop string).
    Text(String),
    /// The generation ended.
    Done {
        /// Why.
        finish: FinishReason,
        /// Counts and timings.
        usage: Usage,
    },
    /// The generation failed; nothing follows.
    Failed(EngineError),
    /// The answer to an embedding request: one unit-length vector per input, in order.
    Embeddings {
        /// The vectors.
        vectors: Vec<Vec<f32>>,
        /// Tokens in all inputs together.
        prompt_tokens: usize,
    },
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_each_bad_value_is_named() {
        assert!(Sampling::default().validate().is_ok());
        let cases: [(&str, Sampling); 6] = [
            ("temperature", Sampling { temperature: -1.0, ..Sampling::default() }),
            ("temperature", Sampling { temperature: f32::NAN, ..Sampling::default() }),
            ("top_p", Sampling { top_p: 0.0, ..Sampling::default() }),
            ("top_k", Sampling { top_k: -3, ..Sampling::default() }),
            ("min_p", Sampling { min_p: 1.5, ..Sampling::default() }),
            ("presence_penalty", Sampling { presence_penalty: 9.0, ..Sampling::default() }),
        ];
        for (field, sampling) in cases {
            match sampling.validate() {
                Err(EngineError::InvalidParameter { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
    }
}
