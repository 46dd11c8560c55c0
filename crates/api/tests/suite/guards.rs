//! The LLM API's guard layers, with a real engine on a real model (SmolLM2-135M from
//! `$SOV_TEST_MODELS`): web pages of other origins and ambiguous `Host`s are refused before any
//! work, and every answer carries the no-store and nosniff headers. In-process (`oneshot`)
//! where the request can be built by axum, over a raw socket where it is what a client wrote.

use std::io::{Read, Write};
use std::path::PathBuf;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use pretty_assertions::assert_eq;
use serde_json::{Value, json};
use sov_api::{ApiOptions, router};
use sov_engine::{Engine, EngineOptions, ModelSpec, Residency, Sampling};
use tower::ServiceExt;

fn models_dir() -> PathBuf {
    let dir = std::env::var_os("SOV_TEST_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/sovereign/test-models"));
    assert!(
        dir.join("smollm2.gguf").exists(),
        "{} is missing: run scripts/test.sh (it installs the test models), or set SOV_TEST_MODELS",
        dir.join("smollm2.gguf").display()
    );
    dir
}

fn engine() -> Engine {
    let spec = ModelSpec {
        name: "smollm2".into(),
        path: models_dir().join("smollm2.gguf"),
        context: Some(512),
        threads: Some(1),
        gpu_layers: 0,
        template: None,
        sampling: Sampling::default(),
    };
    Engine::new(vec![spec], Some("smollm2".into()), EngineOptions::default(), |_, _| {}).unwrap()
}

fn app(engine: &Engine) -> Router {
    router(engine.clone(), ApiOptions { loopback_host_only: true, ..ApiOptions::default() })
}

const CHAT: &str = r#"{"model":"smollm2","messages":[{"role":"user","content":"Hi"}],"max_tokens":1}"#;

fn post(path: &str, body: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::post(path).header("host", "127.0.0.1:8080");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.body(Body::from(body.to_owned())).unwrap()
}

async fn send(app: &Router, request: Request<Body>) -> (StatusCode, HeaderMap, Value) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).to_string();
    (parts.status, parts.headers, serde_json::from_str(&text).unwrap_or(json!({ "raw": text })))
}

fn assert_strict(headers: &HeaderMap, what: &str) {
    assert_eq!(headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{what}");
    assert_eq!(headers.get("x-content-type-options").map(|v| v.to_str().unwrap()), Some("nosniff"), "{what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_of_other_origins_are_refused_before_the_engine_sees_anything() {
    let engine = engine();
    let app = app(&engine);
    let evil = ("origin", "http://evil.example");
    let text_plain = ("content-type", "text/plain");
    // What a page may send without asking: a text/plain POST, from any origin, `null` included.
    for (path, body, headers) in [
        ("/v1/chat/completions", CHAT, vec![evil, text_plain, ("sec-fetch-site", "cross-site")]),
        ("/v1/chat/completions", CHAT, vec![("origin", "null"), text_plain]),
        ("/v1/completions", r#"{"model":"smollm2","prompt":"Hi","max_tokens":1}"#, vec![evil, text_plain]),
        ("/v1/chat/completions", CHAT, vec![("origin", "http://localhost.evil.example"), text_plain]),
        ("/v1/embeddings", r#"{"model":"smollm2","input":"Hi"}"#, vec![evil, text_plain]),
        // A model that does not exist: 403, not 404, as nothing asked the engine.
        ("/v1/chat/completions", &CHAT.replace("smollm2", "no-such-model"), vec![evil, text_plain]),
    ] {
        let (status, headers, error) = send(&app, post(path, body, &headers)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path} {headers:?}: {error}");
        assert_eq!(error["error"]["type"], "invalid_request_error", "OpenAI's shape: {error}");
        assert!(error["error"]["message"].as_str().unwrap().contains("refused"), "{error}");
        assert_strict(&headers, path);
    }
    let (status, _, error) = send(
        &app,
        post(
            "/v1/messages",
            r#"{"model":"smollm2","max_tokens":1,"messages":[{"role":"user","content":"Hi"}]}"#,
            &[evil, text_plain],
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!((&error["type"], &error["error"]["type"]), (&json!("error"), &json!("permission_error")), "{error}");
    // A cross-site request without an Origin (an <img>, a no-cors GET) is refused as well.
    let request = Request::get("/v1/models")
        .header("host", "127.0.0.1:8080")
        .header("sec-fetch-site", "cross-site")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&app, request).await.0, StatusCode::FORBIDDEN);

    assert_eq!(engine.metrics().requests, 0, "no generation ran for a foreign page");
    assert_eq!(engine.metrics().prompt_tokens, 0);
    assert_eq!(engine.residency("smollm2"), Residency::Unloaded, "not even a model load");

    // The same request from a client that is no web page, and from a page on loopback, runs.
    let (status, headers, reply) = send(&app, post("/v1/chat/completions", CHAT, &[text_plain])).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_strict(&headers, "a completion");
    assert_eq!(engine.metrics().requests, 1);
    let local = [("origin", "http://localhost:5173"), ("sec-fetch-site", "cross-site"), text_plain];
    let (status, headers, reply) = send(&app, post("/v1/chat/completions", CHAT, &local)).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(headers.get("access-control-allow-origin").unwrap(), "http://localhost:5173");
    assert_eq!(engine.metrics().requests, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_is_no_store_and_nosniff_streams_and_errors_included() {
    let engine = engine();
    let app = app(&engine);
    let stream = CHAT.replace("\"max_tokens\":1", "\"max_tokens\":2,\"stream\":true");
    let json = ("content-type", "application/json");
    let (status, headers, _) = send(&app, post("/v1/chat/completions", &stream, &[json])).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get("content-type").unwrap(), "text/event-stream");
    assert_strict(&headers, "an event stream");
    let cases = [
        ("a 400", post("/v1/chat/completions", "{", &[json])),
        ("a 404 model", post("/v1/chat/completions", &CHAT.replace("smollm2", "nope"), &[json])),
        ("a 421", Request::get("/health").header("host", "rebound.example").body(Body::empty()).unwrap()),
        ("an unknown path", Request::get("/nothing/here").header("host", "localhost").body(Body::empty()).unwrap()),
        ("health", Request::get("/health").header("host", "localhost").body(Body::empty()).unwrap()),
        (
            "a preflight",
            Request::options("/v1/chat/completions")
                .header("host", "localhost")
                .header("origin", "http://localhost:5173")
                .header("access-control-request-method", "POST")
                .body(Body::empty())
                .unwrap(),
        ),
    ];
    for (what, request) in cases {
        let (_, headers, _) = send(&app, request).await;
        assert_strict(&headers, what);
    }
}

/// Writes `request` as it is on a fresh connection and reads the status code of the answer.
fn raw(addr: std::net::SocketAddr, request: &str) -> (u16, String) {
    let mut socket = std::net::TcpStream::connect(addr).unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("{answer:?}"));
    (status, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_or_a_target_naming_another_host_are_refused_over_the_wire() {
    let engine = engine();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = app(&engine);
    tokio::spawn(async move { axum::serve(listener, served).await });
    let host = format!("127.0.0.1:{}", addr.port());
    let cases = [
        (format!("GET /v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), 200),
        (format!("GET /v1/models HTTP/1.1\r\nHost: {host}\r\nHost: evil.example\r\nConnection: close\r\n\r\n"), 400),
        (format!("GET /v1/models HTTP/1.1\r\nHost: evil.example\r\nHost: {host}\r\nConnection: close\r\n\r\n"), 400),
        (format!("GET http://evil.example/v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), 400),
        ("GET http://evil.example/v1/models HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n".into(), 421),
        (format!("GET http://{host}/v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"), 200),
        (
            format!(
                "POST http://evil.example/v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{CHAT}",
                CHAT.len()
            ),
            400,
        ),
    ];
    for (request, expected) in cases {
        let (status, answer) = tokio::task::spawn_blocking(move || raw(addr, &request)).await.unwrap();
        assert_eq!(status, expected, "{answer}");
        let lower = answer.to_ascii_lowercase();
        assert!(
            lower.contains("cache-control: no-store") && lower.contains("x-content-type-options: nosniff"),
            "{answer}"
        );
    }
    assert_eq!(engine.metrics().requests, 0, "nothing ran for the refused completion");
}
