//! What the service tools share: how an HTTP answer becomes a tool's answer.

use serde_json::Value;

use crate::tool::ToolError;

/// The whole body of a successful answer to `path` (ureq's limit, 10 MB, bounds it), for the
/// tool to read and then cap what it shows the model: capping here would cut JSON in half;
/// otherwise an error with the status and the server's own message.
pub(super) fn answer(
    path: &str,
    response: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<String, ToolError> {
    let mut response = response.map_err(|e| ToolError(format!("the Tool API ({path}) cannot be reached: {e}")))?;
    let status = response.status();
    let text = response.body_mut().read_to_string().unwrap_or_default();
    if status.is_success() {
        Ok(text)
    } else {
        let message = serde_json::from_str::<Value>(&text)
            .ok()
            .and_then(|v| {
                v.pointer("/error/message").or_else(|| v.get("error")).and_then(Value::as_str).map(str::to_owned)
            })
            .unwrap_or(text);
        Err(ToolError(format!("{path} answered {}: {message}", status.as_u16())))
    }
}
