//! The parameters of a `remote.llm` action: what the gate shows and the executor sends.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use sov_core::config::Transport;

use crate::error::Error;

/// One sanitised message, as it leaves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamMessage {
    /// `system`, `user`, `assistant` or `tool`.
    pub role: String,
    /// The sanitised text.
    pub content: String,
}

/// A `remote.llm` action's `params`: stored with the action, shown to the reviewer and the
/// human (`sov confirm show`, the console) under these keys, and read back by the executor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RemoteLlmParams {
    /// The `NAME` of `[remote.NAME]`.
    pub remote: String,
    /// The provider's URL when the call was asked (the executor refuses another).
    pub url: String,
    /// The model asked there.
    pub model: String,
    /// How the call travels.
    pub transport: Transport,
    /// Exactly the messages that leave, sanitised.
    pub messages: Vec<ParamMessage>,
    /// At most this many new tokens.
    pub max_tokens: Option<u32>,
    /// Sampling temperature.
    pub temperature: f32,
    /// Nucleus sampling, when narrowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// Stop strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// A fixed seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
    /// OpenAI's `response_format`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_format: Option<Value>,
}

impl RemoteLlmParams {
    /// As an action's `params`.
    pub fn to_params(&self) -> Map<String, Value> {
        match serde_json::to_value(self) {
            Ok(Value::Object(map)) => map,
            // A struct of strings, numbers and JSON values always serialises to an object.
            _ => Map::new(),
        }
    }

    /// Read back from an action's `params`.
    pub fn from_params(params: &Map<String, Value>) -> Result<RemoteLlmParams, Error> {
        serde_json::from_value(Value::Object(params.clone())).map_err(|e| Error::Params(e.to_string()))
    }

    /// The streamed OpenAI chat request to send for `model` (the config's current model name).
    pub fn body(&self, model: &str) -> Value {
        let mut body = json!({
            "model": model,
            "messages": self.messages,
            "stream": true,
            "stream_options": {"include_usage": true},
            "temperature": self.temperature,
        });
        let optional = [
            ("max_tokens", self.max_tokens.map(|n| json!(n))),
            ("top_p", self.top_p.map(|p| json!(p))),
            ("stop", (!self.stop.is_empty()).then(|| json!(self.stop))),
            ("seed", self.seed.map(|s| json!(s))),
            ("response_format", self.response_format.clone()),
        ];
        for (key, value) in optional {
            if let Some(value) = value {
                body[key] = value;
            }
        }
        body
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn params() -> RemoteLlmParams {
        RemoteLlmParams {
            remote: "big".into(),
            url: "http://p.example".into(),
            model: "m".into(),
            transport: Transport::Socks5,
            messages: vec![ParamMessage { role: "user".into(), content: "hi [EMAIL_1]".into() }],
            max_tokens: None,
            temperature: 0.5,
            top_p: None,
            stop: vec![],
            seed: None,
            response_format: None,
        }
    }

    #[test]
    fn params_keep_the_keys_the_console_shows_and_read_back_whole() {
        let plain = params();
        assert_eq!(
            Value::Object(plain.to_params()),
            json!({"remote": "big", "url": "http://p.example", "model": "m", "transport": "socks5",
                   "messages": [{"role": "user", "content": "hi [EMAIL_1]"}], "max_tokens": null, "temperature": 0.5})
        );
        let full = RemoteLlmParams {
            max_tokens: Some(9),
            top_p: Some(0.5),
            stop: vec!["END".into()],
            seed: Some(7),
            response_format: Some(json!({"type": "json_object"})),
            ..plain
        };
        assert_eq!(RemoteLlmParams::from_params(&full.to_params()).unwrap(), full);
        assert_eq!(
            full.body("m2"),
            json!({"model": "m2", "messages": [{"role": "user", "content": "hi [EMAIL_1]"}], "stream": true,
                   "stream_options": {"include_usage": true}, "temperature": 0.5, "max_tokens": 9, "top_p": 0.5,
                   "stop": ["END"], "seed": 7, "response_format": {"type": "json_object"}})
        );
    }

    #[test]
    fn params_of_another_kind_are_refused_by_name() {
        let mut map = params().to_params();
        map.remove("remote");
        let err = RemoteLlmParams::from_params(&map).unwrap_err().to_string();
        assert!(err.contains("remote"), "{err}");
        map.insert("remote".into(), json!("big"));
        map.insert("transport".into(), json!("carrier-pigeon"));
        let err = RemoteLlmParams::from_params(&map).unwrap_err().to_string();
        assert!(err.contains("tor, socks5, direct-insecure-dev"), "{err}");
    }
}
