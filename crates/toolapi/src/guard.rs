//! The one guard layer in front of every route of the Tool API, whichever service added it, and
//! in front of the fallbacks; it runs before any handler, in this order:
//! 1. one `Host`, naming loopback, and no absolute-form target naming another host (400/421):
//!    a DNS-rebinding page reaches 127.0.0.1 but names its own host;
//! 2. no browser (403): the Tool API serves agents and has no browser clients, so a request with
//!    an `Origin` header (any value, `null` too), a `Sec-Fetch-Site` other than `none` or a
//!    browser's `User-Agent` (`Mozilla/…`, which browsers without Fetch Metadata still send on a
//!    cross-site `<img>` or link) is refused, whatever it asks;
//! 3. every answer, refusals included, carries `Cache-Control: no-store` and
//!    `X-Content-Type-Options: nosniff`.
//!
//! The decision is the pure [`refusal`]; [`guard`] applies it.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// The guard layer (see the module's documentation): answers what [`refusal`] refuses in the
/// Tool API's error shape before any handler runs, and sets the no-store and nosniff headers on
/// every answer.
pub async fn guard(request: Request, next: Next) -> Response {
    let mut response = match refusal(request.uri(), request.headers()) {
        Some(refused) => {
            tracing::warn!(
                status = refused.status().as_u16(),
                path = %request.uri().path(),
                "tool API refused a request: {}",
                refused.message()
            );
            refused.into_response()
        }
        None => next.run(request).await,
    };
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

/// Why the Tool API refuses a request with this target and these headers, or `None` to serve it.
pub fn refusal(target: &Uri, headers: &HeaderMap) -> Option<ApiError> {
    if let Err(problem) = sov_core::http::loopback_authority(headers, target) {
        return Some(ApiError::new(problem.status(), problem.message()));
    }
    let text = |name: header::HeaderName| {
        headers.get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).escape_debug().to_string())
    };
    let browser = if let Some(origin) = text(header::ORIGIN) {
        Some(format!("Origin: {origin}"))
    } else if let Some(site) = text(header::HeaderName::from_static("sec-fetch-site")).filter(|s| s != "none") {
        Some(format!("Sec-Fetch-Site: {site}"))
    } else {
        text(header::USER_AGENT).filter(|ua| ua.starts_with("Mozilla/")).map(|_| "a browser's User-Agent".to_owned())
    };
    browser.map(|mark| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            format!(
                "refused: this is a web browser's request ({mark}); the Tool API serves agents on this machine, never web pages"
            ),
        )
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn decide(target: &str, headers: &[(&str, &str)]) -> Option<u16> {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.append(header::HeaderName::from_bytes(name.as_bytes()).unwrap(), HeaderValue::from_str(value).unwrap());
        }
        refusal(&target.parse().unwrap(), &map).map(|refused| refused.status().as_u16())
    }

    const HOST: (&str, &str) = ("host", "127.0.0.1:6000");

    #[test]
    fn agents_pass_and_browsers_never_do() {
        assert_eq!(decide("/send?to=me", &[HOST]), None);
        assert_eq!(decide("/status", &[HOST, ("sec-fetch-site", "none"), ("user-agent", "curl/8")]), None);
        for browser in [
            ("origin", "http://evil.example"),
            ("origin", "null"),
            ("origin", "http://127.0.0.1:6000"),
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "same-site"),
            ("user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/605.1.15 Safari/605.1.15"),
        ] {
            assert_eq!(decide("/send?to=me", &[HOST, browser]), Some(403), "{browser:?}");
        }
    }

    #[test]
    fn only_one_loopback_host() {
        assert_eq!(decide("/status", &[("host", "evil.example")]), Some(421));
        assert_eq!(decide("/status", &[]), Some(421));
        assert_eq!(decide("/status", &[HOST, ("host", "evil.example")]), Some(400));
        assert_eq!(decide("http://evil.example/status", &[HOST]), Some(400));
    }

    #[test]
    fn a_refusal_says_why_and_quotes_the_header_harmlessly() {
        let mut headers = HeaderMap::new();
        headers.insert(header::HOST, HeaderValue::from_static("localhost:6000"));
        headers.insert(header::ORIGIN, HeaderValue::from_bytes(b"http://e\xffvil\"").unwrap());
        let refused = refusal(&"/send".parse().unwrap(), &headers).unwrap();
        assert_eq!(
            refused.message(),
            "refused: this is a web browser's request (Origin: http://e\u{fffd}vil\\\"); the Tool API serves agents on this machine, never web pages"
        );
    }
}
