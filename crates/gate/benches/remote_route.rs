//! What routing a remote-model call through the gate adds, network and model excluded: the
//! local part of `model: "remote:NAME"` in `sov serve` (sanitise a 4 KB prompt, submit it as a
//! `remote.llm` action, the executor thread claiming it durably, its outcome stored durably, the
//! waiting request woken, the answer restored) beside the same call without the gate (`sov ask
//! --remote`'s local part: sanitise and restore), p50/p99 on a database file. The executor
//! answers at once: it stands in for the provider, the network and the model, which are not
//! measured here (bench/remote.sh has attestation, sealing and the proof).
//!
//! `cargo bench -p sov-gate --bench remote_route [-- RUNS]`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use sov_core::store::Store;
use sov_gate::{ActionRecord, ActionRequest, Gate, Kind, Policy, Side, State};
use sov_gate::{ExecError, Executor, Executors};
use support::{measure, percentile};

/// Answers with a placeholder-bearing text at once, as the provider would after the network.
struct AnswersAtOnce;

impl Executor for AnswersAtOnce {
    fn execute(&self, action: &ActionRecord, _key: &str) -> Result<Value, ExecError> {
        let asked = action.request.params["messages"][0]["content"].as_str().unwrap_or_default();
        let first_placeholder = asked.split_whitespace().find(|w| w.starts_with('[')).unwrap_or("nothing");
        Ok(json!({ "text": format!("You asked about {first_placeholder}."), "finish_reason": "stop" }))
    }

    fn idempotent(&self) -> bool {
        false
    }
}

fn prompt() -> String {
    let paragraph = "Dear support, I am Alice Liddell (alice.liddell@example.org, +44 20 7946 0958). My card \
                     4111 1111 1111 1111 was charged twice for order 7731; the refund should go to IBAN \
                     GB82 WEST 1234 5698 7654 32. The logs are in /home/alice/logs/app.log and the server \
                     is 203.0.113.7. Please explain what could cause a double charge in a payment flow \
                     that retries on timeouts, and how to make the retry idempotent. ";
    paragraph.repeat(4096 / paragraph.len() + 1)[..4096].to_owned()
}

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(500);
    let dir = tempfile::tempdir().unwrap();
    let policy = Policy::parse("[actions]\n\"remote.llm\" = \"allow\"\n", std::path::Path::new("bench")).unwrap();
    let gate = Arc::new(Gate::new(
        Store::open(&dir.path().join("sov.db")).unwrap(),
        Some(dir.path().join("audit.head")),
        policy,
    ));
    let session = gate.create_session(Side::Open, "bench").unwrap().session;
    let sanitizer = sov_sanitize::Sanitizer::new(sov_sanitize::Config {
        names: vec!["Alice Liddell".into()],
        ..sov_sanitize::Config::default()
    })
    .unwrap();
    let prompt = prompt();

    // The daemon's executor thread, as `sov serve` runs it.
    let stop = Arc::new(AtomicBool::new(false));
    let worker = {
        let (gate, stop) = (gate.clone(), stop.clone());
        let mut executors = Executors::new();
        executors.register(Kind::RemoteLlm, Arc::new(AnswersAtOnce)).unwrap();
        std::thread::spawn(move || {
            let mut seen = 0;
            while !stop.load(Ordering::Relaxed) {
                gate.run_approved(&executors).unwrap();
                gate.wait_for_change(&mut seen, Duration::from_millis(100));
            }
        })
    };

    let direct = measure(runs, || {
        let mut map = sov_sanitize::Map::new();
        let sent = sanitizer.sanitize_into(&prompt, &mut map);
        let answer = format!("You asked about {}.", sent.split_whitespace().find(|w| w.starts_with('[')).unwrap());
        std::hint::black_box(map.restore(&answer));
    });
    let gated = measure(runs, || {
        let mut map = sov_sanitize::Map::new();
        let sent = sanitizer.sanitize_into(&prompt, &mut map);
        let mut request = ActionRequest::new(Kind::RemoteLlm);
        request.summary = "ask the remote model bench".into();
        request.recipients = vec!["http://provider.invalid:8090".into()];
        request.params.insert("messages".into(), json!([{ "role": "user", "content": sent }]));
        let record = gate.submit(&session, request).unwrap();
        let record = gate.wait_until_settled(&record.id, &|| false).unwrap().unwrap();
        assert_eq!(record.state, State::Executed, "{:?}", record.outcome);
        let answer = map.restore(record.outcome.as_ref().unwrap()["text"].as_str().unwrap());
        assert!(answer.contains("Alice Liddell") || answer.contains("alice.liddell@example.org"), "{answer}");
    });
    stop.store(true, Ordering::Relaxed);
    gate.wake();
    worker.join().unwrap();

    println!("remote call, local overhead only, {runs} runs, 4 KB prompt, database on {}", dir.path().display());
    println!("{:<58} {:>10} {:>10}", "", "p50", "p99");
    let (mut direct, mut gated) = (direct, gated);
    direct.sort();
    gated.sort();
    for (name, samples) in [
        ("sov ask --remote: sanitise + restore", &direct),
        ("sov serve remote:NAME: + gate submit, execute, settle, wake", &gated),
    ] {
        println!("{name:<58} {:>10} {:>10}", fmt(percentile(samples, 50)), fmt(percentile(samples, 99)));
    }
    let added = percentile(&gated, 50).saturating_sub(percentile(&direct, 50));
    println!(
        "the gate adds {} at p50 (ratio {:.1}x); goal: the whole client side <= 250 ms with the proof (bench/remote.sh)",
        fmt(added),
        percentile(&gated, 50).as_secs_f64() / percentile(&direct, 50).as_secs_f64()
    );
}

fn fmt(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}
