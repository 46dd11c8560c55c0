//! Whose request it is: the gate session named by the [`SESSION_HEADER`] token that sbox put in
//! the sandbox's environment as `SOV_SESSION`. A request without the header (or with an empty
//! one) belongs to the anonymous session, which counts as having read private data. A token no
//! session has is refused (401), and so is a header that is not text or comes twice: such a
//! request is never served as the anonymous session instead.

use std::sync::Arc;

use axum::extract::{FromRef, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode};
use sov_core::http::SESSION_HEADER;
use sov_gate::{Gate, GateError, Session};

use crate::blocking::blocking;
use crate::error::ApiError;

/// An extractor: the request's gate session. Any state that yields the gate
/// (`Arc<Gate>: FromRef<State>`) can use it; the lookup runs off the async threads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentSession(pub Session);

impl<S> FromRequestParts<S> for AgentSession
where
    Arc<Gate>: FromRef<S>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<AgentSession, ApiError> {
        let token = token(&parts.headers)?;
        let gate = Arc::<Gate>::from_ref(state);
        blocking(move || Ok(gate.session(token.as_deref())?)).await.map(AgentSession)
    }
}

/// The session token in `headers`, if there is one.
fn token(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let mut values = headers.get_all(SESSION_HEADER).iter();
    match (values.next(), values.next()) {
        (None, _) => Ok(None),
        (Some(_), Some(_)) => Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("the request has more than one {SESSION_HEADER} header; send exactly one, $SOV_SESSION"),
        )
        .with_field(SESSION_HEADER)),
        (Some(value), None) => match value.to_str() {
            Ok(token) => Ok(Some(token.to_owned())),
            Err(_) => Err(ApiError::from(GateError::UnknownSession)),
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use pretty_assertions::assert_eq;

    fn headers(values: &[&[u8]]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(SESSION_HEADER, HeaderValue::from_bytes(value).unwrap());
        }
        headers
    }

    #[test]
    fn one_text_token_or_none_and_nothing_else() {
        assert_eq!(token(&headers(&[])), Ok(None));
        assert_eq!(token(&headers(&[b"abc"])), Ok(Some("abc".into())));
        assert_eq!(token(&headers(&[b""])), Ok(Some(String::new())), "the gate takes an empty token as none");
        for bad in [headers(&[b"abc", b"def"]), headers(&[b"ab\xffc"])] {
            let refused = token(&bad).unwrap_err();
            assert_eq!((refused.status(), refused.field()), (StatusCode::UNAUTHORIZED, Some(SESSION_HEADER)));
        }
    }
}
