//! `OpenAiSpanFinder` over a real socket.
//!
//! STAND-IN: the axum server below plays the local model with a fixed answer. It tests the HTTP
//! plumbing only (request shape, JSON-schema response format, answer parsing, locating spans,
//! errors) — not whether a real model finds anything. The real-model test runs against `sov serve`.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use serde_json::{Value, json};
use sov_sanitize::{Config, Error, OpenAiSpanFinder, Sanitizer};

type Seen = Arc<Mutex<Vec<Value>>>;

/// Starts the stand-in on 127.0.0.1:0; it answers every request with `status` and `body`.
async fn stand_in(status: StatusCode, body: Value) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route(
            "/v1/chat/completions",
            post(move |State(seen): State<Seen>, Json(req): Json<Value>| async move {
                seen.lock().unwrap().push(req);
                (status, Json(body))
            }),
        )
        .with_state(Arc::clone(&seen));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), seen)
}

fn completion(content: &str) -> Value {
    json!({
        "id": "chatcmpl-standin",
        "object": "chat.completion",
        "choices": [{ "index": 0, "finish_reason": "stop",
                      "message": { "role": "assistant", "content": content } }]
    })
}

fn assert_send<T: Send>(_: &T) {}

const TEXT: &str = "Dr. Priya Natarajan (priya@labs.example.org) treats my asthma; \
                    Priya works at Example Labs, 12 Elm Street, Springfield.";

#[tokio::test]
async fn spans_from_the_model_are_located_and_replaced() {
    let answer = json!({ "spans": [
        { "kind": "person", "text": "Priya Natarajan" },
        { "kind": "person", "text": "Priya" },
        { "kind": "health", "text": "asthma" },
        { "kind": "employer", "text": "Example Labs" },
        { "kind": "address", "text": "12 Elm Street, Springfield" },
        { "kind": "financial", "text": "salary of 90,000 EUR" }
    ]})
    .to_string();
    let (base, seen) = stand_in(StatusCode::OK, completion(&answer)).await;
    let finder = OpenAiSpanFinder::new(&base, "local-model").unwrap();
    let sanitizer = Sanitizer::new(Config::default()).unwrap();

    let fut = sanitizer.sanitize_with(TEXT, &finder);
    assert_send(&fut); // callers may `tokio::spawn` it
    let out = fut.await.unwrap();

    assert_eq!(
        out.text,
        "Dr. [PERSON_1] ([EMAIL_1]) treats my [HEALTH_1]; \
                    [PERSON_2] works at [EMPLOYER_1], [ADDRESS_1]."
    );
    assert_eq!(out.map.restore(&out.text), TEXT);
    // The invented "salary" span did not occur, so it added nothing.
    assert_eq!(out.map.len(), 6);

    let requests = seen.lock().unwrap();
    assert_eq!(requests.len(), 1);
    let req = &requests[0];
    assert_eq!(req["model"], "local-model");
    assert_eq!(req["response_format"]["type"], "json_schema");
    assert_eq!(req["response_format"]["json_schema"]["name"], "pii_spans");
    assert_eq!(
        req["response_format"]["json_schema"]["schema"]["properties"]["spans"]["items"]["properties"]["kind"]["enum"],
        json!(["person", "address", "employer", "health", "financial", "other"])
    );
    assert_eq!(req["messages"][1]["role"], "user");
    assert_eq!(req["messages"][1]["content"], TEXT);
}

#[tokio::test]
async fn http_errors_name_the_status_and_the_server_message() {
    let body = json!({ "error": { "message": "model not loaded", "type": "server_error" } });
    let (base, _) = stand_in(StatusCode::SERVICE_UNAVAILABLE, body).await;
    let finder = OpenAiSpanFinder::new(&base, "m").unwrap();
    let sanitizer = Sanitizer::new(Config::default()).unwrap();
    let err = sanitizer.sanitize_with(TEXT, &finder).await.unwrap_err();
    assert!(matches!(&err, Error::Status { status: 503, message, .. } if message == "model not loaded"), "{err}");
    assert!(err.to_string().contains("HTTP 503: model not loaded"), "{err}");
}

#[tokio::test]
async fn an_answer_outside_the_schema_is_an_error() {
    let (base, _) = stand_in(StatusCode::OK, completion("I found Priya.")).await;
    let finder = OpenAiSpanFinder::new(&base, "m").unwrap();
    let sanitizer = Sanitizer::new(Config::default()).unwrap();
    let err = sanitizer.sanitize_with(TEXT, &finder).await.unwrap_err();
    assert!(matches!(err, Error::BadAnswer(_)), "{err}");
}

#[tokio::test]
async fn an_unreachable_model_is_an_error() {
    // Bind and drop to get a port that nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let finder = OpenAiSpanFinder::new(&format!("http://127.0.0.1:{port}/v1"), "m").unwrap();
    let sanitizer = Sanitizer::new(Config::default()).unwrap();
    let err = sanitizer.sanitize_with(TEXT, &finder).await.unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
}
