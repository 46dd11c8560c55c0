//! What the web tests share: a loopback HTTP server that hands each request's head to the test
//! and sends back what it answers, a logging backend on it, and the gate with its Tool API.

#![allow(clippy::unwrap_used, dead_code)]

use std::sync::{Arc, Mutex};

use sov_gate::{ActionRecord, Executors, Gate, Kind, Policy, Verdict};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// A loopback server: the head of each request (its request line and headers, as text, up to
/// the blank line) goes to `answer`, whose `(status, content type, body)` is sent back with
/// `connection: close`. The base URL.
pub(crate) async fn serve<F>(answer: F) -> String
where
    F: Fn(&str) -> (u16, String, Vec<u8>) + Send + Sync + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let answer = Arc::new(answer);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let answer = answer.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, content_type, body) = answer(&String::from_utf8_lossy(&head));
                let mut reply = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    body.len()
                )
                .into_bytes();
                reply.extend_from_slice(&body);
                let _ = stream.write_all(&reply).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    base
}

/// The path of a request head (`GET /search?q=… HTTP/1.1`).
pub(crate) fn path_of(head: &str) -> &str {
    head.split(' ').nth(1).unwrap_or_default()
}

/// A loopback server answering every request with `answer(path)`, logging each request's path.
pub(crate) async fn backend(answer: fn(&str) -> (u16, &'static str, String)) -> (String, Arc<Mutex<Vec<String>>>) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let seen = log.clone();
    let base = serve(move |head| {
        let path = path_of(head).to_owned();
        seen.lock().unwrap().push(path.clone());
        let (status, content_type, body) = answer(&path);
        (status, content_type.to_owned(), body.into_bytes())
    })
    .await;
    (base, log)
}

/// The query parameter `name` of a request path (`/search?q=…`), decoded; empty when absent.
pub(crate) fn param(path: &str, name: &str) -> String {
    url::Url::parse(&format!("http://x{path}"))
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// An AI reviewer that approves everything (these tests are about what the human and the
/// taint rule hold back).
pub(crate) struct Approver;

impl sov_gate::Reviewer for Approver {
    fn review(&self, _: &ActionRecord) -> Result<(Verdict, String), sov_gate::ReviewError> {
        Ok((Verdict::Approve, "fine".into()))
    }
}

/// A real gate (its database in `dir`) running `web`'s search executor, and its Tool API with
/// the search endpoint served on loopback: the gate, its workers (stop when dropped) and the
/// Tool API's base URL.
pub(crate) async fn tool_api(dir: &std::path::Path, web: Arc<sov_web::Web>) -> (Arc<Gate>, sov_gate::Workers, String) {
    let store = sov_core::store::Store::open(&dir.join("sov.db")).unwrap();
    let gate = Arc::new(Gate::new(store, Some(dir.join("audit.head")), Policy::default()));
    let mut executors = Executors::new();
    executors
        .register(
            Kind::WebSearch,
            Arc::new(sov_web::SearchExecutor { web: web.clone(), runtime: tokio::runtime::Handle::current() }),
        )
        .unwrap();
    let workers = sov_gate::Workers::start(gate.clone(), Arc::new(Approver), executors).unwrap();
    let router = sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:1")
        .service(sov_web::api::routes(gate.clone(), web))
        .router();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (gate, workers, tool)
}
