//! Recall and precision of the deterministic detectors on `tests/data/pii_cases.json`.
//!
//! Each case lists the spans that should be replaced (kind + exact value). A detection counts as
//! a true positive only if both kind and value match an expected span; every other detection is a
//! false positive, every unmatched expected span a miss. Run with `--nocapture` to see the table.

use std::collections::BTreeMap;

use serde::Deserialize;
use sov_sanitize::{Config, Kind, Sanitizer};

#[derive(Deserialize)]
struct Data {
    config: Config,
    cases: Vec<Case>,
}

#[derive(Deserialize)]
struct Case {
    id: String,
    text: String,
    expected: Vec<Expected>,
}

#[derive(Deserialize, Clone, PartialEq, Eq, Debug)]
struct Expected {
    kind: Kind,
    value: String,
}

fn load() -> Data {
    let raw = include_str!("../data/pii_cases.json");
    serde_json::from_str(raw).expect("tests/data/pii_cases.json parses")
}

#[derive(Default)]
struct Counts {
    tp: usize,
    fp: usize,
    fn_: usize,
}

impl Counts {
    fn precision(&self) -> f64 {
        if self.tp + self.fp == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fp) as f64 }
    }
    fn recall(&self) -> f64 {
        if self.tp + self.fn_ == 0 { 1.0 } else { self.tp as f64 / (self.tp + self.fn_) as f64 }
    }
}

#[test]
fn recall_and_precision_on_planted_pii() {
    let data = load();
    assert!(data.cases.len() >= 40, "the set should stay varied");
    let sanitizer = Sanitizer::new(data.config).unwrap();
    let mut per_kind: BTreeMap<Kind, Counts> = BTreeMap::new();
    let mut problems = Vec::new();
    for case in &data.cases {
        let found: Vec<Expected> = sanitizer
            .detect(&case.text)
            .into_iter()
            .map(|d| Expected { kind: d.kind, value: case.text[d.range].to_owned() })
            .collect();
        let mut missing = case.expected.clone();
        for f in &found {
            if let Some(i) = missing.iter().position(|e| e == f) {
                missing.remove(i);
                per_kind.entry(f.kind).or_default().tp += 1;
            } else {
                per_kind.entry(f.kind).or_default().fp += 1;
                problems.push(format!("{}: false positive {:?} {:?}", case.id, f.kind, f.value));
            }
        }
        for m in missing {
            per_kind.entry(m.kind).or_default().fn_ += 1;
            problems.push(format!("{}: missed {:?} {:?}", case.id, m.kind, m.value));
        }
        // Whatever was found, the round trip is exact.
        let s = sanitizer.sanitize(&case.text);
        assert_eq!(s.map.restore(&s.text), case.text, "{}", case.id);
    }

    let mut total = Counts::default();
    println!();
    println!("{:<12} {:>4} {:>4} {:>4} {:>9} {:>7}", "kind", "tp", "fp", "fn", "precision", "recall");
    for (kind, c) in &per_kind {
        println!("{:<12} {:>4} {:>4} {:>4} {:>9.3} {:>7.3}", kind.name(), c.tp, c.fp, c.fn_, c.precision(), c.recall());
        total.tp += c.tp;
        total.fp += c.fp;
        total.fn_ += c.fn_;
    }
    println!(
        "{:<12} {:>4} {:>4} {:>4} {:>9.3} {:>7.3}",
        "ALL",
        total.tp,
        total.fp,
        total.fn_,
        total.precision(),
        total.recall()
    );
    println!("{} cases", data.cases.len());
    for p in &problems {
        println!("  {p}");
    }
    assert!(total.recall() >= 0.95, "recall {:.3} < 0.95", total.recall());
    assert!(total.precision() >= 0.95, "precision {:.3} < 0.95", total.precision());
}
