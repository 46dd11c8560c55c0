//! The assembled router, called in-process: a service's routes and the fallbacks are behind the
//! one guard and answer in the one error shape; the gate's endpoints keep sessions apart, take
//! JSON only and refuse `remote.llm`.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{Request, header};
use axum::routing::get;
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use sov_core::store::Store;
use sov_gate::{Gate, Policy, Side};
use sov_toolapi::{AgentSession, ApiResult, Routes, SESSION_HEADER, ToolApi};
use tower::ServiceExt;

struct Setup {
    _dir: tempfile::TempDir,
    gate: Arc<Gate>,
    router: Router,
}

/// A service of the kind the messaging one is: its own state, which yields the gate.
#[derive(Clone)]
struct Echo(Arc<Gate>);

impl axum::extract::FromRef<Echo> for Arc<Gate> {
    fn from_ref(echo: &Echo) -> Arc<Gate> {
        echo.0.clone()
    }
}

async fn whoami(State(_): State<Echo>, AgentSession(session): AgentSession) -> ApiResult {
    Ok(axum::Json(json!({"session": session.id})))
}

fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sovereign.db");
    let gate = Arc::new(Gate::new(Store::open(&db).unwrap(), Some(dir.path().join("audit.head")), Policy::default()));
    let echo = Routes::new(Router::new().route("/whoami", get(whoami)).with_state(Echo(gate.clone())));
    let router = ToolApi::new(gate.clone(), "http://127.0.0.1:7000/").service(echo).router();
    Setup { _dir: dir, gate, router }
}

/// Status, the two headers every answer carries, and the JSON body.
async fn call(router: &Router, request: Request<Body>) -> (u16, (Option<String>, Option<String>), Value) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status().as_u16();
    let text = |name: header::HeaderName| response.headers().get(name).map(|v| v.to_str().unwrap().to_owned());
    let headers = (text(header::CACHE_CONTROL), text(header::X_CONTENT_TYPE_OPTIONS));
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
    (status, headers, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Request<Body> {
    let mut builder = Request::builder().method(method).uri(path).header(header::HOST, "127.0.0.1:6000");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Body::from(body.to_owned())).unwrap()
}

const JSON: (&str, &str) = ("content-type", "application/json");
const GUARDED: (Option<&str>, Option<&str>) = (Some("no-store"), Some("nosniff"));

fn guarded(headers: &(Option<String>, Option<String>)) -> (Option<&str>, Option<&str>) {
    (headers.0.as_deref(), headers.1.as_deref())
}

#[tokio::test]
async fn a_services_routes_and_the_fallbacks_are_behind_the_guard() {
    let Setup { router, .. } = setup();
    let (status, headers, body) = call(&router, request("GET", "/whoami", &[], "")).await;
    assert_eq!((status, guarded(&headers)), (200, GUARDED), "{body}");
    assert!(body["session"].is_string(), "the anonymous session: {body}");

    for path in ["/whoami", "/health", "/v1/actions/abc", "/no/such/path"] {
        for browser in [("origin", "http://evil.example"), ("sec-fetch-site", "cross-site")] {
            let (status, headers, body) = call(&router, request("GET", path, &[browser], "")).await;
            assert_eq!((status, guarded(&headers)), (403, GUARDED), "{path} {browser:?}: {body}");
            assert!(body["error"]["message"].as_str().unwrap().contains("browser"), "{body}");
        }
        let rebinding = Request::builder().uri(path).header(header::HOST, "evil.example:6000").body(Body::empty());
        let (status, headers, body) = call(&router, rebinding.unwrap()).await;
        assert_eq!((status, guarded(&headers)), (421, GUARDED), "{path}: {body}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_answer_in_the_one_error_shape() {
    let Setup { router, .. } = setup();
    let (status, headers, body) = call(&router, request("GET", "/nothing", &[], "")).await;
    assert_eq!((status, guarded(&headers)), (404, GUARDED));
    assert_eq!(body, json!({"error": {"message": "no such endpoint; see `sov help`", "field": null}}));
    let (status, headers, body) = call(&router, request("DELETE", "/whoami", &[], "")).await;
    assert_eq!((status, guarded(&headers)), (405, GUARDED));
    assert_eq!(body["error"]["field"], Value::Null, "{body}");
    let (status, _, body) = call(&router, request("GET", "/health", &[], "")).await;
    assert_eq!((status, body), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn sessions_are_resolved_once_and_never_fall_back_to_the_anonymous_one() {
    let Setup { router, gate, .. } = setup();
    let mine = gate.create_session(Side::Open, "test").unwrap();
    let (status, _, body) = call(&router, request("GET", "/whoami", &[(SESSION_HEADER, &mine.token)], "")).await;
    assert_eq!((status, &body["session"]), (200, &json!(mine.session.id)));
    let (status, _, body) = call(&router, request("GET", "/whoami", &[(SESSION_HEADER, "forged")], "")).await;
    assert_eq!((status, &body["error"]["field"]), (401, &json!(SESSION_HEADER)), "{body}");
    let twice = [(SESSION_HEADER, mine.token.as_str()), (SESSION_HEADER, mine.token.as_str())];
    let (status, _, body) = call(&router, request("GET", "/whoami", &twice, "")).await;
    assert_eq!(status, 401, "{body}");
}

#[tokio::test]
async fn an_agent_sees_only_its_own_actions_and_sends_json_only() {
    let Setup { router, gate, .. } = setup();
    let (a, b) = (gate.create_session(Side::Open, "a").unwrap(), gate.create_session(Side::Open, "b").unwrap());
    let action = r#"{"kind": "web.fetch", "summary": "fetch a page", "params": {"url": "https://example.org/"}}"#;
    let (status, _, view) =
        call(&router, request("POST", "/v1/actions", &[JSON, (SESSION_HEADER, &a.token)], action)).await;
    assert_eq!(status, 200, "{view}");
    let id = view["id"].as_str().unwrap().to_owned();
    if view["pending"] == true {
        assert_eq!(view["confirm_url"], json!(format!("http://127.0.0.1:7000/actions/{id}")), "{view}");
    }

    let path = format!("/v1/actions/{id}");
    let (status, _, mine) = call(&router, request("GET", &path, &[(SESSION_HEADER, &a.token)], "")).await;
    assert_eq!((status, &mine["id"]), (200, &json!(id)), "{mine}");
    let (status, _, theirs) = call(&router, request("GET", &path, &[(SESSION_HEADER, &b.token)], "")).await;
    assert_eq!((status, &theirs["error"]["field"]), (404, &json!("id")), "another session's action: {theirs}");
    let (status, _, _) = call(&router, request("GET", &path, &[], "")).await;
    assert_eq!(status, 404, "nor the anonymous session's");
    let (status, _, bad) =
        call(&router, request("GET", &format!("{path}?wait=soon"), &[(SESSION_HEADER, &a.token)], "")).await;
    assert_eq!(status, 400, "{bad}");

    let count = || gate.list(&sov_gate::State::ALL, 100).unwrap().len();
    for (headers, expected) in [(vec![("content-type", "text/plain")], 415), (vec![], 415)] {
        let (status, _, body) = call(&router, request("POST", "/v1/actions", &headers, action)).await;
        assert_eq!(status, expected, "{headers:?}: {body}");
    }
    let remote = r#"{"kind": "remote.llm", "params": {"messages": []}}"#;
    let (status, _, body) = call(&router, request("POST", "/v1/actions", &[JSON], remote)).await;
    assert_eq!((status, &body["error"]["field"]), (400, &json!("kind")), "{body}");
    // A transfer of 1000 ETH declared as worth nothing, and a call: the wallet builds those.
    for drainer in [
        r#"{"kind": "wallet.transfer", "value_usd": 0, "recipients": ["0x00000000000000000000000000000000deadbeef"], "params": {"amount_eth": "1000"}}"#,
        r#"{"kind": "wallet.call", "value_usd": 0, "calldata_bytes": 68, "params": {"to": "0x00000000000000000000000000000000deadbeef"}}"#,
    ] {
        let (status, _, body) = call(&router, request("POST", "/v1/actions", &[JSON], drainer)).await;
        assert_eq!((status, &body["error"]["field"]), (400, &json!("kind")), "{body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("come from Sovereign's wallet"), "{body}");
    }
    let (status, _, body) =
        call(&router, request("POST", "/v1/actions", &[JSON], r#"{"kind": "web.fetch", "cc": 1}"#)).await;
    assert_eq!(status, 400, "unknown fields are refused: {body}");
    assert_eq!(count(), 1, "none of those made an action");
}
