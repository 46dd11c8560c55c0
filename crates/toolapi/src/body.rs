//! What a request carries: a body says what it is by its `Content-Type` ([`body_type`], 415
//! otherwise): `application/json`, or the form type on the routes that take forms. A
//! `text/plain` body, which a web page may send without asking, is never parsed, nor is an
//! untyped one.

use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// What a request body is, by its `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyType {
    /// `application/json`.
    Json,
    /// `application/x-www-form-urlencoded`.
    Form,
}

/// The body's type, if the route takes it (`forms`: the route takes forms besides JSON); else
/// a 415 that says what to send. Anything else, `text/plain` above all, is never parsed.
pub fn body_type(headers: &HeaderMap, forms: bool) -> Result<BodyType, ApiError> {
    match media_type(headers).as_deref() {
        Some(JSON) => Ok(BodyType::Json),
        Some(FORM) if forms => Ok(BodyType::Form),
        _ => {
            let wanted = if forms { format!("{JSON} or {FORM}") } else { JSON.to_owned() };
            let sent = headers
                .get(header::CONTENT_TYPE)
                .map_or("none".to_owned(), |v| String::from_utf8_lossy(v.as_bytes()).escape_debug().to_string());
            Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("send Content-Type: {wanted} (this request's is {sent})"),
            ))
        }
    }
}

/// The body's media type without parameters, lowercased (`application/json; charset=utf-8`
/// is `application/json`).
fn media_type(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
    Some(value.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
}

/// `body` as JSON or a form, as its `Content-Type` says ([`body_type`] with forms); 415 for any
/// other type, 400 for a body that does not parse as `T`.
pub fn parse_body<T: DeserializeOwned>(headers: &HeaderMap, body: &[u8]) -> Result<T, ApiError> {
    match body_type(headers, true)? {
        BodyType::Json => serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("JSON body: {e}"))),
        BodyType::Form => {
            serde_urlencoded::from_bytes(body).map_err(|e| ApiError::bad_request(format!("form body: {e}")))
        }
    }
}

/// The query string (`None`: there is none) as `T`; 400 if it does not parse.
pub fn parse_query<T: DeserializeOwned>(query: Option<&str>) -> Result<T, ApiError> {
    serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| ApiError::bad_request(format!("query parameters: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;
    use pretty_assertions::assert_eq;
    use serde::Deserialize;

    fn typed(value: Option<&str>) -> HeaderMap {
        let mut headers = HeaderMap::new();
        if let Some(value) = value {
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn bodies_must_say_they_are_json_or_a_documented_form() {
        let kind = |value: Option<&str>, forms: bool| body_type(&typed(value), forms).map_err(|e| e.status().as_u16());
        assert_eq!(kind(Some("application/json; charset=utf-8"), false), Ok(BodyType::Json));
        assert_eq!(kind(Some("Application/JSON"), true), Ok(BodyType::Json));
        assert_eq!(kind(Some("application/x-www-form-urlencoded"), true), Ok(BodyType::Form));
        assert_eq!(kind(Some("application/x-www-form-urlencoded"), false), Err(415), "no form there");
        for bad in ["text/plain", "multipart/form-data; boundary=x", "application/jsonp", ""] {
            assert_eq!(kind(Some(bad), true), Err(415), "{bad}");
        }
        assert_eq!(kind(None, true), Err(415), "no Content-Type at all");
        assert_eq!(
            body_type(&typed(Some("text/plain")), false).unwrap_err().message(),
            "send Content-Type: application/json (this request's is text/plain)"
        );
    }

    #[derive(Debug, PartialEq, Deserialize)]
    struct Ask {
        to: String,
    }

    #[test]
    fn a_body_parses_as_its_type_says_and_never_as_another() {
        let json = br#"{"to":"me"}"#;
        assert_eq!(parse_body::<Ask>(&typed(Some("application/json")), json).unwrap(), Ask { to: "me".into() });
        assert_eq!(
            parse_body::<Ask>(&typed(Some("application/x-www-form-urlencoded")), b"to=me").unwrap(),
            Ask { to: "me".into() }
        );
        let status = |headers: &HeaderMap, body: &[u8]| parse_body::<Ask>(headers, body).unwrap_err().status().as_u16();
        assert_eq!(status(&typed(Some("text/plain")), json), 415);
        assert_eq!(status(&typed(Some("application/x-www-form-urlencoded")), json), 400);
        assert_eq!(status(&typed(Some("application/json")), b"to=me"), 400);
        assert_eq!(parse_query::<Ask>(Some("to=me")).unwrap(), Ask { to: "me".into() });
        assert_eq!(parse_query::<Ask>(None).unwrap_err().status(), StatusCode::BAD_REQUEST);
    }
}
