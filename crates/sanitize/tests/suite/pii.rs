//! Recall and precision of the default rules on the labelled sets `tests/data/pii-dev.jsonl` and
//! `tests/data/pii-heldout.jsonl` (built by `tests/data/make-pii.py` from mimesis, a package the
//! sanitiser's word lists do not come from; see that script).
//!
//! Scoring is about what leaves the machine:
//! - a labelled value is found when every letter and digit of it is inside some replacement,
//!   whatever kind the replacement has (a leading article `a`/`an`/`the` is not private);
//! - a replacement is correct when it overlaps a labelled value; any other is a false positive;
//! - a clean text must come out unchanged.
//!
//! The held-out part was written before the detectors were tuned and is not tuned on: this test
//! prints only its totals. `SOV_PII_SHOW=1` also lists its misses (for a final report, not for
//! tuning). Run with `--nocapture` to see the tables.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Deserialize;
use sov_sanitize::{Config, Kind, Sanitizer};

#[derive(Deserialize)]
struct Case {
    id: String,
    text: String,
    expected: Vec<Expected>,
    #[serde(default)]
    clean: bool,
}

#[derive(Deserialize)]
struct Expected {
    kind: Kind,
    value: String,
}

#[derive(Default)]
struct Counts {
    labels: usize,
    found: usize,
    detections: usize,
    correct: usize,
}

struct Score {
    per_kind: BTreeMap<Kind, Counts>,
    clean_cases: usize,
    clean_changed: Vec<String>,
    misses: Vec<String>,
    false_positives: Vec<String>,
}

impl Score {
    fn total(&self) -> Counts {
        let mut t = Counts::default();
        for c in self.per_kind.values() {
            t.labels += c.labels;
            t.found += c.found;
            t.detections += c.detections;
            t.correct += c.correct;
        }
        t
    }
}

fn ratio(a: usize, b: usize) -> f64 {
    if b == 0 { 1.0 } else { a as f64 / b as f64 }
}

fn load(raw: &str) -> Vec<Case> {
    raw.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("a JSON case per line"))
        .collect()
}

/// The private part of a labelled value: without a leading article.
fn private_part(value: &str) -> &str {
    for article in ["a ", "an ", "the "] {
        if let Some(rest) = value.strip_prefix(article) {
            return rest;
        }
    }
    value
}

fn score(cases: &[Case], sanitizer: &Sanitizer) -> Score {
    let mut s = Score {
        per_kind: BTreeMap::new(),
        clean_cases: 0,
        clean_changed: Vec::new(),
        misses: Vec::new(),
        false_positives: Vec::new(),
    };
    for case in cases {
        let text = &case.text;
        let found = sanitizer.detect(text);
        let mut labelled: Vec<Range<usize>> = Vec::new();
        let mut from = 0;
        for e in &case.expected {
            let value = private_part(&e.value);
            let offset = e.value.len() - value.len();
            let at =
                text[from..].find(&e.value).map(|i| from + i).or_else(|| text.find(&e.value)).expect("value in text");
            from = at + e.value.len();
            let r = at + offset..at + e.value.len();
            let covered = text[r.clone()]
                .char_indices()
                .filter(|(_, c)| c.is_alphanumeric())
                .all(|(i, _)| found.iter().any(|d| d.range.start <= r.start + i && r.start + i < d.range.end));
            let c = s.per_kind.entry(e.kind).or_default();
            c.labels += 1;
            if covered {
                c.found += 1;
            } else {
                s.misses.push(format!("{}: missed {} {:?} in {:?}", case.id, e.kind, e.value, text));
            }
            labelled.push(r);
        }
        for d in &found {
            let c = s.per_kind.entry(d.kind).or_default();
            c.detections += 1;
            if labelled.iter().any(|l| l.start < d.range.end && d.range.start < l.end) {
                c.correct += 1;
            } else {
                s.false_positives.push(format!(
                    "{}: false {} {:?} in {:?}",
                    case.id,
                    d.kind,
                    &text[d.range.clone()],
                    text
                ));
            }
        }
        if case.clean {
            s.clean_cases += 1;
            if sanitizer.sanitize(text).text != *text {
                s.clean_changed.push(case.id.clone());
            }
        }
        let out = sanitizer.sanitize(text);
        assert_eq!(out.map.restore(&out.text), *text, "{}: restore is exact", case.id);
    }
    s
}

fn print(name: &str, s: &Score, cases: usize) {
    println!("\n{name}: {cases} cases, {} clean", s.clean_cases);
    println!(
        "{:<12} {:>6} {:>6} {:>7} {:>6} {:>7} {:>9}",
        "kind", "labels", "found", "recall", "repl.", "correct", "precision"
    );
    let mut rows: Vec<(&Kind, &Counts)> = s.per_kind.iter().collect();
    rows.sort_by_key(|(k, _)| k.name());
    for (k, c) in rows {
        println!(
            "{:<12} {:>6} {:>6} {:>7.3} {:>6} {:>7} {:>9.3}",
            k.name(),
            c.labels,
            c.found,
            ratio(c.found, c.labels),
            c.detections,
            c.correct,
            ratio(c.correct, c.detections)
        );
    }
    let t = s.total();
    println!(
        "{:<12} {:>6} {:>6} {:>7.3} {:>6} {:>7} {:>9.3}",
        "ALL",
        t.labels,
        t.found,
        ratio(t.found, t.labels),
        t.detections,
        t.correct,
        ratio(t.correct, t.detections)
    );
    println!("clean texts changed: {} of {}", s.clean_changed.len(), s.clean_cases);
}

fn sanitizer() -> Sanitizer {
    Sanitizer::new(Config::default()).unwrap()
}

#[test]
fn dev_set_recall_precision_and_clean_texts() {
    let cases = load(include_str!("../data/pii-dev.jsonl"));
    let s = score(&cases, &sanitizer());
    print("pii-dev", &s, cases.len());
    for p in s.misses.iter().chain(&s.false_positives) {
        println!("  {p}");
    }
    let t = s.total();
    assert!(ratio(t.found, t.labels) >= DEV_RECALL, "dev recall {:.3}", ratio(t.found, t.labels));
    assert!(ratio(t.correct, t.detections) >= DEV_PRECISION, "dev precision {:.3}", ratio(t.correct, t.detections));
    assert_eq!(s.clean_changed, Vec::<String>::new(), "clean dev texts changed");
}

#[test]
fn heldout_set_recall_precision_and_clean_texts() {
    let cases = load(include_str!("../data/pii-heldout.jsonl"));
    let s = score(&cases, &sanitizer());
    print("pii-heldout", &s, cases.len());
    if std::env::var_os("SOV_PII_SHOW").is_some() {
        for p in s.misses.iter().chain(&s.false_positives) {
            println!("  {p}");
        }
    }
    let t = s.total();
    assert!(ratio(t.found, t.labels) >= HELDOUT_RECALL, "held-out recall {:.3}", ratio(t.found, t.labels));
    assert!(
        ratio(t.correct, t.detections) >= HELDOUT_PRECISION,
        "held-out precision {:.3}",
        ratio(t.correct, t.detections)
    );
    assert!(
        s.clean_changed.len() <= HELDOUT_CLEAN_CHANGED,
        "{} clean held-out texts changed: {:?}",
        s.clean_changed.len(),
        s.clean_changed
    );
}

// Floors: what was measured when tuning stopped, minus a margin (the figures are in the README:
// dev recall 0.989, precision 1.000, no clean text changed; held-out recall 0.968, precision
// 0.997, one of 306 clean texts changed). The goal for held-out recall was 0.97.
const DEV_RECALL: f64 = 0.97;
const DEV_PRECISION: f64 = 0.99;
const HELDOUT_RECALL: f64 = 0.95;
const HELDOUT_PRECISION: f64 = 0.98;
const HELDOUT_CLEAN_CHANGED: usize = 1;
