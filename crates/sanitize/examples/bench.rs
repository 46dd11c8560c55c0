//! Times the deterministic pass on a ~4 KB prompt with planted PII, and restore throughput.
//!
//! Run: `cargo run --release -p sov-sanitize --example sanitize-bench`

// A benchmark binary: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use sov_sanitize::{Config, Sanitizer};

const PARAGRAPH: &str = "Hi, this is Alice Liddell. Yesterday I looked at the deployment logs \
in /home/alice/projects/shop/logs/app.log and saw failed logins from 203.0.113.42 and \
2001:db8:85a3::8a2e:370:7334. Customer maria.gonzalez@example.com (phone +49 30 12345678) says her \
card 4111 1111 1111 1111 was charged twice; refund to DE89 3704 0044 0532 0130 00. Our config has \
OPENAI_API_KEY=sk-proj-4fG7hK2mN9pQ1rS3tU5vW7xY9zA1bC3dE5fG7h and password: \"Tr0ub4dor&3\". \
The treasury wallet is 0x742d35Cc6634C0532925a3b844Bc454e4438f44e, cold storage \
bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4. Please review version 1.2.3.4 of the release notes, \
commit e83c5163316f89bfbde7d9ab23ca2e25604af290, and tell me what to fix first.\n";

const CLEAN: &str = "Will this compile on Rust 1.95 if I use let-else? The borrow checker rejects \
the closure because it captures the vector by reference while the loop mutates it. Bill the \
customer at the end of the month and mark the invoice as paid. Our office in Paris moved in May; \
the Julia and Go services still run on Kubernetes. Grant read access to the service account, then \
restart the pod and watch the logs in Grafana. Merge the pull request after the review, tag the \
release and publish the crate.\n";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn main() {
    let t = Instant::now();
    let sanitizer = Sanitizer::new(Config {
        home_dir: Some("/home/alice".into()),
        names: vec!["Alice Liddell".into()],
        accounts: vec!["alice_l".into()],
        ..Config::default()
    })
    .unwrap();
    let build = t.elapsed();

    let mut prompt = String::new();
    while prompt.len() < 4096 {
        prompt.push_str(PARAGRAPH);
    }
    let runs = 500;
    let mut times = Vec::with_capacity(runs);
    let mut out = sanitizer.sanitize(&prompt);
    for _ in 0..runs {
        let t = Instant::now();
        out = sanitizer.sanitize(&prompt);
        times.push(t.elapsed());
    }
    times.sort_unstable();
    println!("Sanitizer::new: {build:?}");
    println!(
        "sanitize {} B prompt, {} replacements ({} distinct): p50 {:?}, p90 {:?}, max {:?} over {runs} runs",
        prompt.len(),
        out.text.matches('[').count(),
        out.map.len(),
        percentile(&times, 0.5),
        percentile(&times, 0.9),
        times[times.len() - 1],
    );

    let mb_s = |bytes: usize, d: Duration| bytes as f64 / 1e6 / d.as_secs_f64();
    println!("sanitize throughput on that prompt: {:.1} MB/s (p50)", mb_s(prompt.len(), percentile(&times, 0.5)));

    // A clean technical text of the same size: nothing to replace, every detector still runs.
    let mut clean = String::new();
    while clean.len() < 4096 {
        clean.push_str(CLEAN);
    }
    let mut clean_times = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let c = sanitizer.sanitize(&clean);
        clean_times.push(t.elapsed());
        assert_eq!(c.text, clean, "the clean text passes unchanged");
    }
    clean_times.sort_unstable();
    println!(
        "sanitize {} B clean technical text: p50 {:?} ({:.1} MB/s), p90 {:?}",
        clean.len(),
        percentile(&clean_times, 0.5),
        mb_s(clean.len(), percentile(&clean_times, 0.5)),
        percentile(&clean_times, 0.9),
    );

    // Adversarial input: 1 MB of long runs that look like the start of many detections.
    let mut hostile = String::new();
    for unit in ["a.b-c%d+e_f", "1234 ", "deadbeef", "1a:", "abandon ", "x@", "[EMAIL_"] {
        let reps = 150_000 / unit.len();
        hostile.push_str(&unit.repeat(reps));
        hostile.push_str("@example.org ");
    }
    let t = Instant::now();
    let h = sanitizer.sanitize(&hostile);
    println!(
        "sanitize {} KB of adversarial runs: {:?} ({} replacements)",
        hostile.len() / 1024,
        t.elapsed(),
        h.map.len()
    );

    // Restore: an "answer" of ~4 MB that echoes the placeholders.
    let answer = out.text.repeat(4 * 1024 * 1024 / out.text.len());
    let t = Instant::now();
    let restored = out.map.restore(&answer);
    let one_shot = t.elapsed();
    assert_eq!(restored.len(), prompt.len() * (answer.len() / out.text.len()));
    let mb = answer.len() as f64 / 1e6;
    println!("restore {mb:.1} MB in one go: {one_shot:?} ({:.0} MB/s)", mb / one_shot.as_secs_f64());

    // Streaming restore with SSE-sized chunks (16 bytes, on char boundaries).
    let mut chunks = Vec::new();
    let mut i = 0;
    while i < answer.len() {
        let mut j = (i + 16).min(answer.len());
        while !answer.is_char_boundary(j) {
            j += 1;
        }
        chunks.push(&answer[i..j]);
        i = j;
    }
    let t = Instant::now();
    let mut r = out.map.restorer();
    let mut streamed = String::with_capacity(restored.len());
    for c in &chunks {
        streamed.push_str(&r.push(c));
    }
    streamed.push_str(&r.finish());
    let streaming = t.elapsed();
    assert_eq!(streamed, restored);
    println!(
        "restore {mb:.1} MB streamed in {} chunks of 16 B: {streaming:?} ({:.0} MB/s)",
        chunks.len(),
        mb / streaming.as_secs_f64()
    );
}
