//! The Tool API's one error answer: a status and `{"error": {"message": "…", "field": "…"|null}}`,
//! for every route of every service, the guard's refusals and the fallbacks alike.
//!
//! A client's mistake gets a 4xx and a message that names what is wrong and what to do; a 500 is
//! logged here, when it is answered, so every service's internal faults reach the log once.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sov_gate::GateError;

/// An error answer of the Tool API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    field: Option<String>,
}

/// What a Tool API handler returns.
pub type ApiResult<T = Json<serde_json::Value>> = Result<T, ApiError>;

impl ApiError {
    /// An answer of `status` saying `message` (what is wrong and what to do).
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError { status, message: message.into(), field: None }
    }

    /// A 400: the request is malformed in the way `message` says.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    /// A 500 for a fault of ours, e.g. a blocking task that died.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// The same error, about request field (or header) `field`.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> ApiError {
        self.field = Some(field.into());
        self
    }

    /// Its status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What it says.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The request field (or header) it is about, if one.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!(field = self.field.as_deref(), "tool API: {}", self.message);
        }
        (self.status, Json(json!({"error": {"message": self.message, "field": self.field}}))).into_response()
    }
}

/// The gate's own status ([`GateError::http_status`]) and field; an unknown action is about
/// its `id`.
impl From<GateError> for ApiError {
    fn from(e: GateError) -> ApiError {
        let status = StatusCode::from_u16(e.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let field = match &e {
            GateError::NotFound(_) => Some("id"),
            e => e.field(),
        };
        let error = ApiError::new(status, e.to_string());
        match field {
            Some(field) => error.with_field(field),
            None => error,
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    async fn body(error: ApiError) -> (u16, serde_json::Value) {
        let response = error.into_response();
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn every_error_has_one_shape_and_the_gates_statuses() {
        assert_eq!(
            body(ApiError::bad_request("limit: not a number").with_field("limit")).await,
            (400, json!({"error": {"message": "limit: not a number", "field": "limit"}}))
        );
        assert_eq!(
            body(GateError::UnknownSession.into()).await,
            (
                401,
                json!({"error": {
                    "message": "unknown session token: it is not one sbox issued, or the database was replaced",
                    "field": "x-sov-session",
                }})
            )
        );
        assert_eq!(body(GateError::NotFound("ab".into()).into()).await.1["error"]["field"], "id");
        assert_eq!(body(GateError::Refused("over the cap".into()).into()).await.0, 403);
        assert_eq!(body(GateError::Database("disk full".into()).into()).await.0, 500);
        assert_eq!(body(ApiError::internal("the task died")).await.1["error"]["field"], serde_json::Value::Null);
    }
}
