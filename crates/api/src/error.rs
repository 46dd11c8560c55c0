use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sov_engine::{EngineError, ErrorClass};

/// Which API's error shape to answer in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    OpenAi,
    Anthropic,
}

/// An error answered with an HTTP status and a JSON body in the caller's API dialect.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub(crate) status: StatusCode,
    pub(crate) message: String,
    pub(crate) param: Option<String>,
    pub(crate) dialect: Dialect,
}

impl ApiError {
    pub(crate) fn invalid(dialect: Dialect, message: impl Into<String>) -> Self {
        Self { status: StatusCode::BAD_REQUEST, message: message.into(), param: None, dialect }
    }

    pub(crate) fn engine(dialect: Dialect, error: &EngineError) -> Self {
        let status = match error.class() {
            ErrorClass::InvalidRequest => StatusCode::BAD_REQUEST,
            ErrorClass::NotFound => StatusCode::NOT_FOUND,
            ErrorClass::ModelUnusable => StatusCode::BAD_REQUEST,
            ErrorClass::Busy => StatusCode::SERVICE_UNAVAILABLE,
            ErrorClass::Server => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let param = match error {
            EngineError::InvalidParameter { field, .. } => Some((*field).to_owned()),
            EngineError::UnknownModel { .. } | EngineError::BadModelFile { .. } | EngineError::LoadFailed { .. } => {
                Some("model".to_owned())
            }
            _ => None,
        };
        Self { status, message: error.to_string(), param, dialect }
    }

    fn kind(&self) -> &'static str {
        match (self.dialect, self.status) {
            (_, StatusCode::UNAUTHORIZED) => "authentication_error",
            (Dialect::Anthropic, StatusCode::FORBIDDEN) => "permission_error",
            (Dialect::OpenAi, StatusCode::SERVICE_UNAVAILABLE) => "server_busy_error",
            (Dialect::Anthropic, StatusCode::SERVICE_UNAVAILABLE) => "overloaded_error",
            (_, StatusCode::NOT_FOUND) => "not_found_error",
            (_, s) if s.is_client_error() => "invalid_request_error",
            (Dialect::OpenAi, _) => "server_error",
            (Dialect::Anthropic, _) => "api_error",
        }
    }

    /// The JSON body, also used for errors inside an event stream.
    pub(crate) fn body(&self) -> serde_json::Value {
        match self.dialect {
            Dialect::OpenAi => json!({
                "error": { "message": self.message, "type": self.kind(), "param": self.param, "code": self.status.as_u16() }
            }),
            Dialect::Anthropic => json!({ "type": "error", "error": { "type": self.kind(), "message": self.message } }),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}
