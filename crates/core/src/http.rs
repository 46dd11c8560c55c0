//! What every HTTP server of Sovereign checks in a request's head before any handler runs, as
//! pure functions (the servers apply them in their own guard layers and error shapes).
//!
//! - [`authority`]: the one authority a request names. Two `Host` headers, a `Host` that is not
//!   text, or an absolute-form target (`GET http://evil.example/ HTTP/1.1`) naming another
//!   authority than its `Host` are refused: a proxy, a cache or a browser in front and the server
//!   itself could each read a different host from such a request.
//! - [`loopback_authority`]: the same, and the authority must be loopback: a DNS-rebinding page
//!   reaches 127.0.0.1 but its requests name the page's own host.
//! - [`is_loopback_origin`]: the browser origins (`Origin` header) of pages served from loopback.
//!
//! Nothing here opens a socket.

use http::header::HOST;

/// The HTTP header carrying a sandbox session's gate token (`SOV_SESSION` inside the sandbox),
/// on the LLM API and the Tool API alike; a request without it belongs to the anonymous session.
pub const SESSION_HEADER: &str = "x-sov-session";

/// The environment variable that holds a sandbox session's token inside the sandbox.
pub const SESSION_ENV: &str = "SOV_SESSION";
use http::{HeaderMap, StatusCode, Uri};

/// Why a request's authority is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostProblem {
    /// More than one `Host` header.
    Several,
    /// A `Host` header that is not visible ASCII text.
    NotText,
    /// An absolute-form target whose authority is not the one the `Host` header names.
    TargetDiffers,
    /// Neither a `Host` header nor an absolute-form target (only with [`loopback_authority`]).
    Missing,
    /// An authority other than `localhost`, `127.0.0.1` or `[::1]` (with any port).
    NotLoopback,
}

impl HostProblem {
    /// 400 for a malformed request, 421 for one addressed to another server.
    pub fn status(self) -> StatusCode {
        match self {
            HostProblem::Several | HostProblem::NotText | HostProblem::TargetDiffers => StatusCode::BAD_REQUEST,
            HostProblem::Missing | HostProblem::NotLoopback => StatusCode::MISDIRECTED_REQUEST,
        }
    }

    /// What is wrong, for the error body.
    pub fn message(self) -> &'static str {
        match self {
            HostProblem::Several => "the request has more than one Host header; send exactly one",
            HostProblem::NotText => "the Host header is not plain text",
            HostProblem::TargetDiffers => {
                "the request target names another host than the Host header; send a path (`GET /v1/models`) and one Host"
            }
            HostProblem::Missing | HostProblem::NotLoopback => {
                "this server answers only requests addressed to localhost, 127.0.0.1 or [::1]"
            }
        }
    }
}

/// The authority a request is addressed to (`None`: it names none, as HTTP/1.0 may), or why
/// it is ambiguous.
pub fn authority<'a>(headers: &'a HeaderMap, target: &'a Uri) -> Result<Option<&'a str>, HostProblem> {
    let mut hosts = headers.get_all(HOST).iter();
    let host = match (hosts.next(), hosts.next()) {
        (Some(_), Some(_)) => return Err(HostProblem::Several),
        (Some(host), None) => Some(host.to_str().map_err(|_| HostProblem::NotText)?),
        (None, _) => None,
    };
    match (target.authority().map(|a| a.as_str()), host) {
        (Some(in_target), Some(host)) if !in_target.eq_ignore_ascii_case(host) => Err(HostProblem::TargetDiffers),
        (Some(in_target), _) => Ok(Some(in_target)),
        (None, host) => Ok(host),
    }
}

/// The request's authority, which must be loopback (see [`is_loopback_host`]).
pub fn loopback_authority<'a>(headers: &'a HeaderMap, target: &'a Uri) -> Result<&'a str, HostProblem> {
    match authority(headers, target)? {
        Some(host) if is_loopback_host(host) => Ok(host),
        Some(_) => Err(HostProblem::NotLoopback),
        None => Err(HostProblem::Missing),
    }
}

/// `localhost`, `127.0.0.1` or `[::1]`, each with an optional port: the `Host` headers a
/// loopback-only server accepts (anything else may be DNS rebinding).
pub fn is_loopback_host(host_and_port: &str) -> bool {
    let host = if let Some(v6) = host_and_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((addr, "")) => return addr == "::1",
            Some((addr, rest)) => return addr == "::1" && rest.strip_prefix(':').is_some_and(is_port),
            None => return false,
        }
    } else {
        host_and_port.split(':').next().unwrap_or_default()
    };
    let port_ok = host_and_port.split_once(':').is_none_or(|(_, port)| is_port(port));
    port_ok && (host.eq_ignore_ascii_case("localhost") || host == "127.0.0.1")
}

fn is_port(port: &str) -> bool {
    !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && port.parse::<u16>().is_ok()
}

/// `http://` or `https://` and a loopback host with an optional port, nothing more: the
/// `Origin` of a page served from this machine. `null` (sandboxed frames, `file:` pages) is not.
pub fn is_loopback_origin(origin: &str) -> bool {
    origin.strip_prefix("http://").or_else(|| origin.strip_prefix("https://")).is_some_and(is_loopback_host)
}

/// Compares secrets without revealing through timing where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn head(hosts: &[&[u8]], target: &str) -> (HeaderMap, Uri) {
        let mut headers = HeaderMap::new();
        for host in hosts {
            headers.append(HOST, HeaderValue::from_bytes(host).unwrap());
        }
        (headers, target.parse().unwrap())
    }

    #[test]
    fn one_authority_or_a_refusal() {
        type Case = (&'static [&'static [u8]], &'static str, Result<Option<&'static str>, HostProblem>);
        let cases: [Case; 9] = [
            (&[b"127.0.0.1:8080"], "/v1/models", Ok(Some("127.0.0.1:8080"))),
            (&[], "/v1/models", Ok(None)),
            (&[b"127.0.0.1:8080", b"evil.example"], "/v1/models", Err(HostProblem::Several)),
            (&[b"127.0.0.1:8080", b"127.0.0.1:8080"], "/", Err(HostProblem::Several)),
            (&[b"127.0.0.1:8080"], "http://evil.example/v1/models", Err(HostProblem::TargetDiffers)),
            (&[b"127.0.0.1:8080"], "http://user@127.0.0.1:8080/", Err(HostProblem::TargetDiffers)),
            (&[b"LOCALHOST:8080"], "http://localhost:8080/v1/models", Ok(Some("localhost:8080"))),
            (&[], "http://evil.example/", Ok(Some("evil.example"))),
            (&[b"caf\xc3\xa9"], "/", Err(HostProblem::NotText)),
        ];
        for (hosts, target, expected) in cases {
            let (headers, uri) = head(hosts, target);
            assert_eq!(authority(&headers, &uri), expected, "{hosts:?} {target}");
        }
    }

    #[test]
    fn the_authority_of_a_loopback_server_is_loopback() {
        let (headers, uri) = head(&[b"127.0.0.1:6000"], "/send");
        assert_eq!(loopback_authority(&headers, &uri), Ok("127.0.0.1:6000"));
        let (headers, uri) = head(&[], "http://evil.example/send");
        assert_eq!(loopback_authority(&headers, &uri), Err(HostProblem::NotLoopback));
        let (headers, uri) = head(&[b"rebound.example"], "/send");
        assert_eq!(
            loopback_authority(&headers, &uri).map_err(HostProblem::status),
            Err(StatusCode::MISDIRECTED_REQUEST)
        );
        let (headers, uri) = head(&[], "/send");
        assert_eq!(loopback_authority(&headers, &uri), Err(HostProblem::Missing));
        let (headers, uri) = head(&[b"127.0.0.1", b"127.0.0.1"], "/send");
        assert_eq!(loopback_authority(&headers, &uri).map_err(HostProblem::status), Err(StatusCode::BAD_REQUEST));
    }

    #[test]
    fn only_loopback_hosts_and_origins_pass() {
        for ok in ["localhost", "localhost:8080", "127.0.0.1:8080", "[::1]:8080", "[::1]", "LOCALHOST"] {
            assert!(is_loopback_host(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "127.0.0.1.evil.example",
            "localhost.evil:80",
            "[::2]:80",
            "",
            "127.0.0.1:x",
            "127.0.0.1:",
            "127.0.0.1:+80",
            "[::1]x",
            "[::1]:",
            "localhost.",
        ] {
            assert!(!is_loopback_host(bad), "{bad}");
        }
        for ok in ["http://localhost:5173", "https://127.0.0.1", "http://[::1]:3000"] {
            assert!(is_loopback_origin(ok), "{ok}");
        }
        for bad in ["http://evil.example", "null", "http://localhost.evil.example", "http://localhost:5173/", "file://"]
        {
            assert!(!is_loopback_origin(bad), "{bad}");
        }
    }
}
