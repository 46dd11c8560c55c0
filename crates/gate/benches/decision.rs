//! Decision latency of the gate: an `allow` action (stored, audited, durable) and enqueueing a
//! `confirm` action, p50/p99 over many runs on a database file in a temporary directory. Also the
//! policy evaluation alone, to show where the time goes. Goal: `allow` p99 < 100 µs.
//!
//! `cargo bench -p sov-gate --bench decision [-- RUNS]`

#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::Duration;

use serde_json::json;
use sov_core::store::Store;
use sov_gate::policy::Usage;
use sov_gate::{ActionRequest, Decision, Gate, Kind, Policy, Session, Side, State, Verdict};
use support::{measure, percentile};

fn main() {
    let runs: usize = std::env::args().skip(1).find_map(|a| a.parse().ok()).unwrap_or(5000);
    let dir = tempfile::tempdir().unwrap();
    let gate = Gate::new(
        Store::open(&dir.path().join("sov.db")).unwrap(),
        Some(dir.path().join("audit.head")),
        Policy::default(),
    );
    let session = gate.create_session(Side::Open, "bench").unwrap().session;

    let mut to_self = ActionRequest::new(Kind::MessageSend);
    to_self.summary = "note to self".into();
    to_self.recipients = vec!["me@example.org".into()];
    to_self.to_self = true;
    to_self.params.insert("body".into(), json!("remember the milk"));
    let mut to_other = to_self.clone();
    to_other.recipients = vec!["someone@example.org".into()];
    to_other.to_self = false;

    let policy = Policy::default();
    let evaluate = measure(runs, || {
        std::hint::black_box(policy.evaluate(&to_self, &session, &Usage::default()));
    });
    let allow = measure(runs, || {
        let r = gate.submit(&session, to_self.clone()).unwrap();
        assert_eq!(r.state, State::Approved);
    });
    let confirm = measure(runs, || {
        let r = gate.submit(&session, to_other.clone()).unwrap();
        assert_eq!(r.state, State::Reviewing);
    });
    let reviewed: Vec<String> = (0..runs + runs / 10)
        .map(|_| {
            let id = gate.submit(&session, to_other.clone()).unwrap().id;
            gate.record_review(&id, Verdict::Approve, "fine").unwrap();
            id
        })
        .collect();
    let mut next = reviewed.iter();
    let human = Decision { approve: true, confirm_text: None, by: "bench".into() };
    let approve = measure(runs, || {
        let r = gate.decide(next.next().unwrap(), &human).unwrap();
        assert_eq!(r.state, State::Approved);
    });
    let anonymous = Session::anonymous();
    let lookup = measure(runs, || {
        std::hint::black_box(gate.session(None).unwrap() == anonymous);
    });

    println!("gate decision latency, {runs} runs each, database on {}", dir.path().display());
    println!("{:<44} {:>10} {:>10}", "", "p50", "p99");
    for (name, mut samples) in [
        ("policy evaluation alone (in memory)", evaluate),
        ("session lookup (anonymous)", lookup),
        ("allow: decided, stored, audited, committed", allow),
        ("confirm: decided, enqueued, audited", confirm),
        ("human approval (waits for the disk)", approve),
    ] {
        samples.sort();
        println!("{name:<44} {:>10} {:>10}", fmt(percentile(&samples, 50)), fmt(percentile(&samples, 99)));
    }
    println!("goal: allow p99 < 100 µs");
}

fn fmt(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}
