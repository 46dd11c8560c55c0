//! What the messaging tests share: the messaging service on a real gate and a loopback HTTP
//! port, the signal-cli stand-in, and (in `mail`) real Dovecot and OpenSMTPD servers.
#![allow(dead_code, unreachable_pub, missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod bare_cr_smtp;
pub mod mail;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sov_core::store::Store;
use sov_gate::Executors;
use sov_gate::{Decision, Gate, Kind, Policy, State, Verdict};
use sov_msg::{MessageSender, Messaging};

/// The messaging service as `sov serve` runs it, minus the LLM: a gate on a fresh database, the
/// `message.send` executor on a thread, and the Tool API with the messaging endpoints on a
/// loopback port.
pub struct Daemon {
    pub dir: tempfile::TempDir,
    pub gate: Arc<Gate>,
    pub messaging: Messaging,
    pub url: String,
    stop: Arc<AtomicBool>,
    executor: Option<std::thread::JoinHandle<()>>,
    _server: std::thread::JoinHandle<()>,
}

impl Daemon {
    pub fn start(policy: Policy) -> Daemon {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sovereign.db");
        let gate = Arc::new(Gate::new(Store::open(&db).unwrap(), Some(dir.path().join("audit.head")), policy));
        let messaging =
            Messaging::open(gate.clone(), &db, dir.path(), "http://127.0.0.1:7000", Duration::from_secs(3600)).unwrap();
        let mut executors = Executors::new();
        executors.register(Kind::MessageSend, Arc::new(MessageSender::open(&db, dir.path()).unwrap())).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let executor = {
            let (gate, stop) = (gate.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut seen = 0;
                while !stop.load(Ordering::SeqCst) {
                    gate.run_approved(&executors).unwrap();
                    gate.wait_for_change(&mut seen, Duration::from_millis(200));
                }
            })
        };
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        // As `sov serve` serves them: on the Tool API, behind its guard.
        let router =
            sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:7000").service(messaging.routes()).router();
        let server = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                axum::serve(listener, router).await.unwrap();
            });
        });
        Daemon { dir, gate, messaging, url, stop, executor: Some(executor), _server: server }
    }

    pub fn database(&self) -> PathBuf {
        self.dir.path().join("sovereign.db")
    }

    fn agent() -> ureq::Agent {
        ureq::Agent::config_builder().http_status_as_error(false).build().new_agent()
    }

    fn answer(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> (u16, Value) {
        let mut response = response.unwrap();
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or_else(|_| json!({"raw": text})))
    }

    /// GET `path` (with its query string, already encoded).
    pub fn get(&self, path: &str) -> (u16, Value) {
        Self::answer(Self::agent().get(&format!("{}{path}", self.url)).call())
    }

    pub fn get_query(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let mut request = Self::agent().get(&format!("{}{path}", self.url));
        for (k, v) in query {
            request = request.query(*k, *v);
        }
        Self::answer(request.call())
    }

    pub fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        Self::answer(Self::agent().post(&format!("{}{path}", self.url)).send_json(body))
    }

    pub fn post_form(&self, path: &str, form: &[(&str, &str)]) -> (u16, Value) {
        Self::answer(Self::agent().post(&format!("{}{path}", self.url)).send_form(form.iter().copied()))
    }

    /// The AI reviewer and the human both approve action `id`.
    pub fn approve(&self, id: &str) {
        assert_eq!(self.gate.get(id).unwrap().state, State::Reviewing);
        self.gate.record_review(id, Verdict::Approve, "looks fine").unwrap();
        self.gate.decide(id, &Decision { approve: true, confirm_text: None, by: "terminal".into() }).unwrap();
    }

    /// Waits until action `id` settled (executed, failed, denied, expired).
    pub fn settled(&self, id: &str) -> sov_gate::ActionRecord {
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        let mut seen = 0;
        loop {
            let record = self.gate.get(id).unwrap();
            if matches!(record.state, State::Executed | State::Failed | State::Denied | State::Expired) {
                return record;
            }
            assert!(std::time::Instant::now() < deadline, "action {id} did not settle: {record:?}");
            self.gate.wait_for_change(&mut seen, Duration::from_millis(200));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.gate.wake();
        if let Some(t) = self.executor.take() {
            let _ = t.join();
        }
    }
}

/// The signal-cli stand-in (tests/support/signal_cli_standin.py): the Signal network is
/// unreachable here, so this script speaks signal-cli's JSON-RPC in its place.
pub struct SignalStandIn {
    child: Child,
    pub rpc: String,
    control: String,
    pub sent_log: PathBuf,
}

pub fn python() -> String {
    std::env::var("SOV_TEST_PYTHON").unwrap_or_else(|_| "python3".into())
}

impl SignalStandIn {
    pub fn start(account: &str, dir: &Path) -> SignalStandIn {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/signal_cli_standin.py");
        let sent_log = dir.join(format!("signal-sent-{account}.jsonl"));
        let mut child = Command::new(python())
            .arg(&script)
            .args([
                "--account",
                account,
                "--tcp",
                "127.0.0.1:0",
                "--control",
                "127.0.0.1:0",
                "--receive-mode",
                "manual",
            ])
            .arg("--sent-log")
            .arg(&sent_log)
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 runs the signal-cli stand-in");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        // "signal-cli stand-in: listening on HOST:PORT (control HOST:PORT2)"
        let rest = line.trim().strip_prefix("signal-cli stand-in: listening on ").unwrap_or_else(|| panic!("{line}"));
        let (rpc, control) = rest.split_once(" (control ").unwrap();
        SignalStandIn { child, rpc: rpc.into(), control: control.trim_end_matches(')').into(), sent_log }
    }

    pub fn control(&self, request: Value) -> Value {
        let stream = TcpStream::connect(&self.control).unwrap();
        (&stream).write_all(format!("{request}\n").as_bytes()).unwrap();
        let mut line = String::new();
        BufReader::new(&stream).read_line(&mut line).unwrap();
        serde_json::from_str(&line).unwrap()
    }

    /// Successful sends so far, from the sent log.
    pub fn sends(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.sent_log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|l| l["method"] == "send" && l["ok"] == true)
            .collect()
    }
}

impl Drop for SignalStandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
