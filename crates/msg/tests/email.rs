//! Email against real servers: Dovecot (IMAP, LMTP) and OpenSMTPD, started by the tests on
//! loopback ports with their own configuration, certificates and mail directories.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::{Value, json};
use sov_gate::{Policy, State};
use sov_msg::accounts::{Secrets, add_email, add_signal};
use sov_msg::{EmailAccount, MessageStore, SignalAccount, Tls};
use support::Daemon;
use support::mail::MailServers;

const ALICE: &str = "alice@example.org";
const PASSWORD: &str = "correct horse battery staple";

fn account(servers: &MailServers, imap: Tls, smtp: Tls) -> EmailAccount {
    EmailAccount {
        address: "Alice@Example.org".into(),
        imap_host: "127.0.0.1".into(),
        imap_port: if imap == Tls::Tls { servers.imaps_port() } else { servers.imap_port() },
        imap_tls: imap,
        smtp_host: "127.0.0.1".into(),
        smtp_port: if smtp == Tls::Tls { servers.smtps_port() } else { servers.submission_port() },
        smtp_tls: smtp,
        user: ALICE.into(),
        folders: vec!["INBOX".into()],
        ca_file: Some(servers.ca_pem().to_owned()),
    }
}

fn setup(imap: Tls, smtp: Tls) -> (MailServers, Daemon) {
    let servers = MailServers::start(&[(ALICE, PASSWORD), ("bob@example.org", "bobs password")]);
    let daemon = Daemon::start(Policy::default());
    let store = MessageStore::open(&daemon.database()).unwrap();
    add_email(&store, &Secrets::new(daemon.dir.path()), account(&servers, imap, smtp), PASSWORD).unwrap();
    (servers, daemon)
}

fn messages(daemon: &Daemon, query: &[(&str, &str)]) -> Vec<Value> {
    let (status, answer) = daemon.get_query("/messages", query);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["count"].as_u64().unwrap() as usize, answer["messages"].as_array().unwrap().len());
    answer["messages"].as_array().unwrap().clone()
}

const PLAIN: &str = "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: Lunch?\r\n\
Date: Sat, 21 Nov 2026 10:00:00 +0000\r\nMessage-ID: <lunch-1@example.org>\r\n\r\nShall we have lunch on Monday?\r\n";
const REPLY: &str = "From: Bob <bob@example.org>\r\nTo: alice@example.org\r\nSubject: Re: Lunch?\r\n\
Date: Sat, 21 Nov 2026 11:00:00 +0000\r\nMessage-ID: <lunch-3@example.org>\r\nIn-Reply-To: <lunch-2@example.org>\r\n\
References: <lunch-1@example.org> <lunch-2@example.org>\r\n\r\nNoon works.\r\n";
const HTML: &str = "From: Shop <orders@shop.example.net>\r\nTo: alice@example.org\r\nSubject: Your order\r\n\
Date: Sat, 21 Nov 2026 12:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: text/html; charset=utf-8\r\n\r\n\
<html><body><h1>Thanks!</h1><p>Order <b>#42</b> ships today.</p></body></html>\r\n";
const ALTERNATIVE: &str = "From: news@example.net\r\nTo: alice@example.org\r\nSubject: Newsletter\r\n\
Date: Sat, 21 Nov 2026 13:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n\
--alt\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe plain text edition.\r\n\
--alt\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>The HTML edition.</p>\r\n--alt--\r\n";
const ATTACHMENT: &str = "From: Carol <carol@example.org>\r\nTo: alice@example.org\r\nSubject: Invoice\r\n\
Date: Sat, 21 Nov 2026 14:00:00 +0000\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=mix\r\n\r\n\
--mix\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nInvoice attached.\r\n\
--mix\r\nContent-Type: application/pdf; name=\"invoice.pdf\"\r\nContent-Disposition: attachment; filename=\"invoice.pdf\"\r\n\
Content-Transfer-Encoding: base64\r\n\r\nJVBERi0xLjQKJcfsj6IK\r\n--mix--\r\n";
const LATIN1: &[u8] = b"From: =?iso-8859-1?q?J=FCrgen?= <juergen@example.de>\r\nTo: alice@example.org\r\n\
Subject: =?iso-8859-1?q?Gr=FC=DFe_aus_K=F6ln?=\r\nDate: Sat, 21 Nov 2026 15:00:00 +0000\r\nMIME-Version: 1.0\r\n\
Content-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nSch\xf6ne Gr\xfc\xdfe!\r\n";

#[test]
fn real_mime_mail_is_polled_once_decoded_and_served_in_the_reference_shape() {
    let (servers, daemon) = setup(Tls::Tls, Tls::Tls);
    for raw in
        [PLAIN.as_bytes(), REPLY.as_bytes(), HTML.as_bytes(), ALTERNATIVE.as_bytes(), ATTACHMENT.as_bytes(), LATIN1]
    {
        servers.deliver("sender@example.net", &[ALICE], raw);
    }
    servers.wait_for_mail(ALICE, 6);
    assert_eq!(daemon.messaging.poll_once().unwrap(), 6);
    assert_eq!(daemon.messaging.poll_once().unwrap(), 0, "a re-poll must not duplicate");

    let all = messages(&daemon, &[]);
    let subjects: Vec<_> = all.iter().map(|m| m["subject"].as_str().unwrap()).collect();
    assert_eq!(
        subjects,
        ["Grüße aus Köln", "Invoice", "Newsletter", "Your order", "Re: Lunch?", "Lunch?"],
        "newest first"
    );
    let mut keys: Vec<_> = all[0].as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "account",
            "backend",
            "body",
            "id",
            "metadata",
            "received_at",
            "recipient",
            "sender",
            "sender_name",
            "subject",
            "thread_id",
            "timestamp_ms",
            "uid"
        ]
    );
    let by = |subject: &str| all.iter().find(|m| m["subject"] == subject).unwrap().clone();
    let latin = by("Grüße aus Köln");
    assert_eq!((latin["body"].as_str(), latin["sender_name"].as_str()), (Some("Schöne Grüße!"), Some("Jürgen")));
    assert_eq!(latin["sender"], "juergen@example.de");
    assert_eq!(latin["backend"], "email");
    assert_eq!(latin["account"], ALICE);
    let html = by("Your order");
    assert!(html["body"].as_str().unwrap().contains("Order #42 ships today."), "{html}");
    assert!(!html["body"].as_str().unwrap().contains('<'), "{html}");
    assert_eq!(by("Newsletter")["body"], "The plain text edition.");
    let invoice = by("Invoice");
    assert_eq!(invoice["body"], "Invoice attached.");
    assert_eq!(
        invoice["metadata"]["attachments"],
        json!([{"filename": "invoice.pdf", "content_type": "application/pdf", "size": 15}])
    );
    assert_eq!(by("Re: Lunch?")["thread_id"], "<lunch-1@example.org>");
    assert_eq!(by("Lunch?")["thread_id"], "<lunch-1@example.org>");

    assert_eq!(messages(&daemon, &[("thread_id", "<lunch-1@example.org>")]).len(), 2);
    assert_eq!(messages(&daemon, &[("sender", "BOB")]).len(), 2);
    assert_eq!(messages(&daemon, &[("subject", "lunch"), ("limit", "1")])[0]["subject"], "Re: Lunch?");
    let noon = 1_795_262_400_000_i64; // 2026-11-21T12:00:00Z
    let window = messages(&daemon, &[("since", &noon.to_string()), ("until", &(noon + 3_600_000).to_string())]);
    assert_eq!(window.iter().map(|m| m["subject"].as_str().unwrap()).collect::<Vec<_>>(), ["Newsletter", "Your order"]);
    assert_eq!(messages(&daemon, &[("backend", "signal")]).len(), 0);
    let (status, answer) = daemon.get("/messages?colour=red");
    assert_eq!(status, 400, "an unknown filter is an error, not ignored: {answer}");

    // New mail after the first poll is fetched incrementally.
    servers.deliver("sender@example.net", &[ALICE], PLAIN.replace("lunch-1", "lunch-9").as_bytes());
    servers.wait_for_mail(ALICE, 7);
    assert_eq!(daemon.messaging.poll_once().unwrap(), 1);
    let (_, status) = daemon.get("/status");
    assert_eq!(status["message_count"], 7, "{status}");
    assert_eq!(status["accounts"], json!({"email": 1, "signal": 0}));
    assert!(status["last_poll_ms"].as_i64().unwrap() > 0, "{status}");
}

/// `GET /status` answers the reference daemon's keys, so that scripts written for it work, and
/// Sovereign's own beside them.
#[test]
fn status_answers_the_reference_daemons_keys_beside_sovereigns() {
    let (servers, daemon) = setup(Tls::Tls, Tls::Tls);
    let (code, status) = daemon.get("/status");
    assert_eq!(code, 200, "{status}");
    assert_eq!(status["last_poll"], Value::Null, "no poll yet: {status}");
    assert_eq!(status["last_poll_ms"], Value::Null, "{status}");
    assert_eq!((&status["message_count"], &status["pending_confirmations"]), (&json!(0), &json!(0)), "{status}");
    assert_eq!(status["backends"], json!({"email": [ALICE], "signal": []}));

    servers.deliver("sender@example.net", &[ALICE], PLAIN.as_bytes());
    servers.wait_for_mail(ALICE, 1);
    let before = sov_core::now_ms();
    assert_eq!(daemon.messaging.poll_once().unwrap(), 1);
    let after = sov_core::now_ms();
    let (code, answer) = daemon.post_json("/send", &json!({"backend": "email", "to": "bob@example.org", "body": "Hi"}));
    assert_eq!((code, &answer["pending"]), (200, &json!(true)), "{answer}");
    let store = MessageStore::open(&daemon.database()).unwrap();
    add_signal(&store, SignalAccount { number: "+1 555 000 0001".into(), rpc: "127.0.0.1:7583".into() }).unwrap();

    let (code, status) = daemon.get("/status");
    assert_eq!(code, 200, "{status}");
    // The reference's keys, with its types.
    let uptime = status["uptime_seconds"].as_u64().unwrap_or_else(|| panic!("uptime_seconds is an integer: {status}"));
    assert!(uptime < 600, "{status}");
    let last_poll = status["last_poll"].as_str().unwrap_or_else(|| panic!("last_poll is a string: {status}"));
    let last_poll_ms = status["last_poll_ms"].as_i64().unwrap();
    assert!((before..=after).contains(&last_poll_ms), "{status}");
    assert_eq!(last_poll, sov_core::audit::iso_utc(last_poll_ms), "RFC 3339 UTC, to the second");
    let rfc3339 = last_poll.len() == 20
        && last_poll.bytes().enumerate().all(|(i, b)| match i {
            4 | 7 => b == b'-',
            10 => b == b'T',
            13 | 16 => b == b':',
            19 => b == b'Z',
            _ => b.is_ascii_digit(),
        });
    assert!(rfc3339, "{last_poll}");
    assert_eq!(status["message_count"], 1, "{status}");
    assert_eq!(status["pending_confirmations"], 1, "the send to bob waits: {status}");
    assert_eq!(status["backends"], json!({"email": [ALICE], "signal": ["+15550000001"]}));
    // Sovereign's beside them.
    assert_eq!(status["uptime_secs"], status["uptime_seconds"], "{status}");
    assert_eq!(status["accounts"], json!({"email": 1, "signal": 1}));
    assert_eq!(status["polls"][format!("email:{ALICE}")]["added"], 1, "{status}");
}

#[test]
fn starttls_on_both_servers_sends_to_self_at_once_and_reads_it_back_over_imap() {
    let (servers, daemon) = setup(Tls::Starttls, Tls::Starttls);
    let (status, answer) = daemon.get_query(
        "/send",
        &[("backend", "email"), ("to", "ALICE@example.org"), ("subject", "Note to self"), ("body", "Buy milk.")],
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    let arrived = servers.wait_for_mail(ALICE, 1);
    let text = String::from_utf8_lossy(&arrived[0]).to_string();
    assert!(text.contains("Subject: Note to self") && text.contains("Buy milk."), "{text}");
    assert!(text.contains("@example.org>"), "the Message-ID is on the sender's domain: {text}");
    assert_eq!(daemon.messaging.poll_once().unwrap(), 1);
    let read_back = messages(&daemon, &[("subject", "Note to self")]);
    assert_eq!(read_back[0]["sender"], ALICE);
    assert_eq!(read_back[0]["recipient"], ALICE);
    assert_eq!(read_back[0]["body"], "Buy milk.");
}

#[test]
fn mail_to_someone_else_waits_for_both_approvals_then_arrives_exactly_once() {
    let (servers, daemon) = setup(Tls::Tls, Tls::Tls);
    let (status, answer) = daemon.post_json(
        "/send",
        &json!({"backend": "email", "to": ["bob@example.org"], "subject": "Monday", "body": "See you at noon."}),
    );
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["pending"], true, "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(servers.mailbox("bob@example.org").is_empty(), "nothing may leave before both approvals");

    daemon.approve(&id);
    assert_eq!(daemon.settled(&id).state, State::Executed);
    let bob = servers.wait_for_mail("bob@example.org", 1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(servers.mailbox("bob@example.org").len(), 1, "exactly once");
    let text = String::from_utf8_lossy(&bob[0]).to_string();
    assert!(text.contains("From: alice@example.org") && text.contains("See you at noon."), "{text}");
    let (_, state) = daemon.get(&format!("/send/status?id={id}"));
    assert_eq!(state["sent"], true, "{state}");
    assert!(state["outcome"]["smtp"].as_str().unwrap().starts_with("250"), "{state}");
}

#[test]
fn a_wrong_password_is_reported_without_the_password() {
    let servers = MailServers::start(&[(ALICE, PASSWORD)]);
    let daemon = Daemon::start(Policy::default());
    let store = MessageStore::open(&daemon.database()).unwrap();
    add_email(&store, &Secrets::new(daemon.dir.path()), account(&servers, Tls::Tls, Tls::Tls), "wrong-password-123")
        .unwrap();
    let err = daemon.messaging.poll_once().unwrap_err().to_string();
    assert!(err.contains("login") && !err.contains("wrong-password-123"), "{err}");
    let (_, status) = daemon.get("/status");
    let error = status["polls"][format!("email:{ALICE}")]["error"].as_str().unwrap().to_owned();
    assert!(error.contains("login"), "{status}");
    assert!(!status.to_string().contains("wrong-password-123"), "{status}");
}

#[test]
fn a_server_with_an_untrusted_certificate_is_refused() {
    let servers = MailServers::start(&[(ALICE, PASSWORD)]);
    let daemon = Daemon::start(Policy::default());
    let store = MessageStore::open(&daemon.database()).unwrap();
    let mut untrusting = account(&servers, Tls::Tls, Tls::Tls);
    untrusting.ca_file = None;
    add_email(&store, &Secrets::new(daemon.dir.path()), untrusting, PASSWORD).unwrap();
    servers.deliver("bob@example.org", &[ALICE], PLAIN.as_bytes());
    servers.wait_for_mail(ALICE, 1);
    assert!(daemon.messaging.poll_once().is_err());
    let (_, status) = daemon.get("/status");
    assert!(status["polls"][format!("email:{ALICE}")]["error"].as_str().unwrap().contains("TLS"), "{status}");
}

/// A to-self body that ends the data early for a server taking a bare CR for a line end, and
/// carries a second message to someone else after it (SMTP smuggling).
const SMUGGLING_BODY: &str = "x\r.\r\nMAIL FROM:<alice@example.org>\r\nRCPT TO:<bob@evil.example>\r\nDATA\r\n\
Subject: smuggled\r\n\r\nsmuggled text";

#[test]
fn a_bare_cr_in_a_body_smuggles_no_second_envelope_past_a_server_that_ends_lines_at_cr() {
    let server = support::bare_cr_smtp::BareCrSmtp::start();
    let daemon = Daemon::start(Policy::default());
    let store = MessageStore::open(&daemon.database()).unwrap();
    let account = EmailAccount {
        address: ALICE.into(),
        imap_host: "127.0.0.1".into(),
        imap_port: 9, // never polled here
        imap_tls: Tls::Plain,
        smtp_host: "127.0.0.1".into(),
        smtp_port: server.port,
        smtp_tls: Tls::Plain,
        user: ALICE.into(),
        folders: vec!["INBOX".into()],
        ca_file: None,
    };
    add_email(&store, &Secrets::new(daemon.dir.path()), account, PASSWORD).unwrap();
    let (status, answer) = daemon.post_json(
        "/send",
        &json!({"backend": "email", "to": [ALICE], "subject": "Note to self", "body": SMUGGLING_BODY}),
    );
    assert_eq!((status, &answer["ok"]), (200, &json!(true)), "{answer}");
    let envelopes = server.envelopes();
    assert_eq!(envelopes.len(), 1, "a second envelope was smuggled: {envelopes:#?}");
    assert_eq!((envelopes[0].from.as_str(), envelopes[0].to.clone()), (ALICE, vec![ALICE.to_owned()]));
    let data = envelopes[0].data.clone().expect("the data ended");
    assert!(
        data.contains(
            "\nx\n.\nMAIL FROM:<alice@example.org>\nRCPT TO:<bob@evil.example>\nDATA\nSubject: smuggled\n\nsmuggled text"
        ),
        "the body did not arrive intact as data of the one message: {data:?}"
    );
}

#[test]
fn the_bare_cr_attack_through_opensmtpd_reaches_alice_as_text_and_bob_never() {
    let (servers, daemon) = setup(Tls::Starttls, Tls::Starttls);
    let (status, answer) = daemon.post_json(
        "/send",
        &json!({"backend": "email", "to": [ALICE], "subject": "Note to self", "body": SMUGGLING_BODY}),
    );
    assert_eq!((status, &answer["ok"]), (200, &json!(true)), "{answer}\n{}", servers.logs());
    let arrived = servers.wait_for_mail(ALICE, 1);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(servers.mailbox("bob@evil.example").is_empty(), "bob got a mail");
    assert_eq!(servers.mailbox(ALICE).len(), 1, "exactly one message");
    let text = String::from_utf8_lossy(&arrived[0]).replace("\r\n", "\n");
    assert!(text.contains("\nx\n.\nMAIL FROM:<alice@example.org>\nRCPT TO:<bob@evil.example>\nDATA\n"), "{text}");
}
