//! Messaging throughput and latency, against a real Dovecot:
//!
//! 1. Ingest: a mailbox of N messages (default 10,000: plain, HTML and multipart with an
//!    attachment) polled into an empty database by `Messaging::poll_once` (IMAPS fetch, MIME
//!    decoding, SQLite), in messages/s, next to the same mailbox merely downloaded by Python's
//!    `imaplib` (UID FETCH of the raw bytes in the same batch size, nothing parsed or stored),
//!    which bounds what any client gets from this server.
//! 2. Query: `/messages` over HTTP with 100,000 stored messages: newest 100, a sender substring,
//!    a thread, a time window; p50 and p99 per query shape.
//!
//! `cargo bench -p sov-msg --bench ingest [-- MESSAGES QUERIES]` (as root: OpenSMTPD needs it).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use sov_gate::Policy;
use sov_msg::accounts::{Secrets, add_email};
use sov_msg::store::NewMessage;
use sov_msg::{Backend, EmailAccount, MessageStore, Tls};
use support::Daemon;
use support::mail::MailServers;

const ALICE: &str = "alice@example.org";
const PASSWORD: &str = "bench password";

fn raw_message(i: usize) -> Vec<u8> {
    let head = format!(
        "From: Sender {s} <sender{s}@example.net>\r\nTo: {ALICE}\r\nSubject: Message {i} about topic {t}\r\n\
Date: Sat, 21 Nov 2026 10:{m:02}:{sec:02} +0000\r\nMessage-ID: <m{i}@example.net>\r\nMIME-Version: 1.0\r\n",
        s = i % 97,
        t = i % 13,
        m = (i / 60) % 60,
        sec = i % 60
    );
    let paragraph = "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor. ".repeat(8);
    let body = match i % 3 {
        0 => format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{paragraph}\r\n"),
        1 => format!(
            "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>{paragraph}</p><p><b>Regards</b></p></body></html>\r\n"
        ),
        _ => format!(
            "Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{paragraph}\r\n\
--b{i}\r\nContent-Type: application/pdf; name=\"doc{i}.pdf\"\r\nContent-Disposition: attachment; filename=\"doc{i}.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--b{i}--\r\n",
            "JVBERi0xLjQKJcfsj6IKNSAwIG9iago8PC9MZW5ndGggNiAwIFIvRmlsdGVyIC9GbGF0ZURlY29kZT4+CnN0cmVhbQp4nCvkMlAwUDC1"
                .repeat(20)
        ),
    };
    format!("{head}{body}").into_bytes()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let messages = args.first().copied().unwrap_or(10_000);
    let queries = args.get(1).copied().unwrap_or(500);

    println!("== ingest: {messages} messages from Dovecot over IMAPS");
    let servers = MailServers::start(&[(ALICE, PASSWORD)]);
    for i in 0..messages {
        servers.seed_maildir(ALICE, &raw_message(i));
    }
    let baseline = python_download(&servers, messages);
    let daemon = Daemon::start(Policy::default());
    let store = MessageStore::open(&daemon.database()).unwrap();
    let account = EmailAccount {
        address: ALICE.into(),
        imap_host: "127.0.0.1".into(),
        imap_port: servers.imaps_port(),
        imap_tls: Tls::Tls,
        smtp_host: "127.0.0.1".into(),
        smtp_port: servers.smtps_port(),
        smtp_tls: Tls::Tls,
        user: ALICE.into(),
        folders: vec!["INBOX".into()],
        ca_file: Some(servers.ca_pem().to_owned()),
    };
    add_email(&store, &Secrets::new(daemon.dir.path()), account, PASSWORD).unwrap();
    let start = Instant::now();
    let added = daemon.messaging.poll_once().unwrap();
    let ours = start.elapsed();
    assert_eq!(added, messages);
    let rate = |d: Duration| messages as f64 / d.as_secs_f64();
    println!("sov poll (fetch + decode + store): {:>8.0} messages/s ({:.2} s)", rate(ours), ours.as_secs_f64());
    println!("python imaplib (download only):    {:>8.0} messages/s ({:.2} s)", rate(baseline), baseline.as_secs_f64());
    println!("ratio sov / download-only: {:.2}", rate(ours) / rate(baseline));

    println!("\n== /messages latency over HTTP at 100,000 stored messages ({queries} requests per shape)");
    let mut store = MessageStore::open(&daemon.database()).unwrap();
    let stored = store.count().unwrap() as usize;
    let batch: Vec<NewMessage> = (stored..100_000)
        .map(|i| NewMessage {
            backend: if i % 4 == 0 { Backend::Signal } else { Backend::Email },
            account: ALICE.into(),
            uid: format!("bench/{i}"),
            sender: format!("sender{}@example.net", i % 997),
            sender_name: format!("Sender {}", i % 997),
            recipient: ALICE.into(),
            subject: format!("Synthetic {i} topic {}", i % 13),
            body: "Lorem ipsum dolor sit amet, consectetur adipiscing elit. ".repeat(6),
            thread_id: format!("<t{}@example.net>", i % 5000),
            timestamp_ms: 1_700_000_000_000 + i as i64 * 60_000,
            metadata: json!({"folder": "INBOX"}),
        })
        .collect();
    for chunk in batch.chunks(5000) {
        store.insert(chunk, None).unwrap();
    }
    assert_eq!(store.count().unwrap(), 100_000);
    let window_start = 1_700_000_000_000_i64 + 50_000 * 60_000;
    for (name, query) in [
        ("newest 100", "/messages".to_owned()),
        ("sender substring", "/messages?sender=sender42%40&limit=20".to_owned()),
        ("thread", "/messages?thread_id=%3Ct1234%40example.net%3E".to_owned()),
        ("time window", format!("/messages?since={window_start}&until={}&limit=50", window_start + 3_600_000)),
        ("backend signal", "/messages?backend=signal&limit=20".to_owned()),
    ] {
        let mut times = Vec::with_capacity(queries);
        for _ in 0..queries {
            let start = Instant::now();
            let (status, answer) = daemon.get(&query);
            times.push(start.elapsed());
            assert_eq!(status, 200, "{answer}");
        }
        times.sort();
        println!(
            "{name:<17} p50 {:>7.2} ms   p99 {:>7.2} ms",
            percentile(&times, 0.5).as_secs_f64() * 1e3,
            percentile(&times, 0.99).as_secs_f64() * 1e3
        );
    }
}

/// Downloads the whole mailbox with Python's imaplib, as raw bytes, in batches like ours.
fn python_download(servers: &MailServers, messages: usize) -> Duration {
    let script = format!(
        r#"
import imaplib, ssl, time
ctx = ssl.create_default_context(cafile={ca:?})
start = time.monotonic()
imap = imaplib.IMAP4_SSL("127.0.0.1", {port}, ssl_context=ctx)
imap.login({user:?}, {password:?})
imap.select("INBOX", readonly=True)
got, uid = 0, 1
while got < {messages}:
    typ, data = imap.uid("FETCH", f"{{uid}}:{{uid + 499}}", "(UID BODY.PEEK[])")
    got += sum(1 for part in data if isinstance(part, tuple))
    uid += 500
imap.logout()
print(time.monotonic() - start)
"#,
        ca = servers.ca_pem().display().to_string(),
        port = servers.imaps_port(),
        user = ALICE,
        password = PASSWORD,
    );
    let out = std::process::Command::new(support::python()).args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    Duration::from_secs_f64(String::from_utf8_lossy(&out.stdout).trim().parse().unwrap())
}
