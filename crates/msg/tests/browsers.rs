//! The messaging Tool API against web pages, over a real socket with hand-written requests, with
//! real Dovecot and OpenSMTPD behind it: a page's cross-site request (a fetch, a form, an
//! `<img>`, a `text/plain` POST), a rebinding page's and an ambiguous `Host` are refused before
//! any handler runs, and no mail leaves and no action is created for them.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::{Read, Write};
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::Value;
use sov_gate::{Policy, State};
use sov_msg::accounts::{Secrets, add_email};
use sov_msg::{EmailAccount, MessageStore, Tls};
use support::Daemon;
use support::mail::MailServers;

const ALICE: &str = "alice@example.org";
const PASSWORD: &str = "correct horse battery staple";

fn setup() -> (MailServers, Daemon) {
    let servers = MailServers::start(&[(ALICE, PASSWORD)]);
    let daemon = Daemon::start(Policy::default());
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
    let store = MessageStore::open(&daemon.database()).unwrap();
    add_email(&store, &Secrets::new(daemon.dir.path()), account, PASSWORD).unwrap();
    (servers, daemon)
}

/// The answer to `request` written as it is: status, lowercased head, JSON body.
fn raw(daemon: &Daemon, request: &str) -> (u16, String, Value) {
    let mut socket = std::net::TcpStream::connect(daemon.url.trim_start_matches("http://")).unwrap();
    socket.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    socket.read_to_string(&mut answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or_else(|| panic!("{answer:?}"));
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), serde_json::from_str(body).unwrap_or(Value::Null))
}

const SEND: &str =
    "/send?backend=email&to=alice%40example.org&subject=Your%20account&body=Log%20in%20at%20evil.example";
const FORM: &str = "backend=email&to=alice%40example.org&subject=Your%20account&body=Log%20in%20at%20evil.example";
const JSON: &str =
    r#"{"backend":"email","to":"alice@example.org","subject":"Your account","body":"Log in at evil.example"}"#;

#[test]
fn a_web_page_cannot_send_mail_or_queue_anything_through_the_tool_api() {
    let (servers, daemon) = setup();
    let host = daemon.url.trim_start_matches("http://").to_owned();
    let get = |path: &str, headers: &str| {
        format!("GET {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Connection: close\r\n\r\n")
    };
    let post = |path: &str, headers: &str, body: &str| {
        format!(
            "POST {path} HTTP/1.1\r\nHost: {host}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    };
    let attacks = [
        ("a cross-site fetch", get(SEND, "Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\n"), 403),
        ("an <img> in a current browser", get(SEND, "Sec-Fetch-Site: cross-site\r\nSec-Fetch-Mode: no-cors\r\n"), 403),
        ("a sandboxed frame", get(SEND, "Origin: null\r\n"), 403),
        (
            "a page on this very origin",
            get(SEND, &format!("Origin: http://{host}\r\nSec-Fetch-Site: same-origin\r\n")),
            403,
        ),
        (
            "an <img> in a browser without Fetch Metadata",
            get(
                SEND,
                "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 Safari/605.1.15\r\n",
            ),
            403,
        ),
        (
            "a form POST",
            post(
                "/send",
                "Origin: http://evil.example\r\nSec-Fetch-Site: cross-site\r\nContent-Type: application/x-www-form-urlencoded\r\n",
                FORM,
            ),
            403,
        ),
        ("a text/plain POST of JSON", post("/send", "Content-Type: text/plain\r\n", JSON), 415),
        ("a POST of JSON without a type", post("/send", "", JSON), 415),
        ("a form POST without a type", post("/send", "", FORM), 415),
        ("a multipart POST", post("/send", "Content-Type: multipart/form-data; boundary=x\r\n", FORM), 415),
        ("two Host headers", get(SEND, "Host: evil.example\r\n"), 400),
        ("an absolute target naming another host", get(&format!("http://evil.example{SEND}"), ""), 400),
        (
            "a rebinding page",
            format!(
                "GET {SEND} HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
                daemon.url.rsplit(':').next().unwrap()
            ),
            421,
        ),
    ];
    for (what, request, expected) in &attacks {
        let (status, head, body) = raw(&daemon, request);
        assert_eq!(status, *expected, "{what}: {head}\n{body}");
        let message = body["error"]["message"].as_str().unwrap_or_else(|| panic!("{what}: no JSON error: {body}"));
        assert!(!message.is_empty(), "{what}");
        if *expected == 403 {
            assert!(message.contains("browser"), "{what}: the answer says why: {message}");
        }
        assert!(
            head.contains("cache-control: no-store") && head.contains("x-content-type-options: nosniff"),
            "{what}: {head}"
        );
    }
    // Whatever a worker might still be doing, nothing may come of those requests.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(servers.mailbox(ALICE).is_empty(), "no mail may leave for a web page");
    assert_eq!(daemon.gate.list(&State::ALL, 100).unwrap().len(), 0, "no action may be created for a web page");

    // The same send from an agent (no browser marks) goes out: the harness sees a mail that leaves.
    let (status, head, body) = raw(&daemon, &get(SEND, "User-Agent: curl/8.5.0\r\n"));
    assert_eq!((status, &body["ok"]), (200, &Value::Bool(true)), "{body}");
    assert!(head.contains("cache-control: no-store") && head.contains("x-content-type-options: nosniff"), "{head}");
    assert_eq!(servers.wait_for_mail(ALICE, 1).len(), 1);
    let (status, _, body) = raw(&daemon, &post("/send", "Content-Type: application/x-www-form-urlencoded\r\n", FORM));
    assert_eq!(status, 200, "a form POST of the documented type works: {body}");
    let (status, _, body) = raw(&daemon, &post("/send", "Content-Type: application/json; charset=utf-8\r\n", JSON));
    assert_eq!(status, 200, "{body}");
    assert_eq!(servers.wait_for_mail(ALICE, 3).len(), 3);
}
