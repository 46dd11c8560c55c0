//! Signal through signal-cli's JSON-RPC, against the signal-cli stand-in
//! (`tests/support/signal_cli_standin.py`): the Signal network is unreachable here, so the
//! stand-in plays signal-cli's daemon, with signal-cli's own method names, shapes and errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use serde_json::json;
use sov_gate::{Policy, State};
use sov_msg::accounts::add_signal;
use sov_msg::{MessageStore, SignalAccount};
use support::{Daemon, SignalStandIn};

const ME: &str = "+15550000001";
const BOB: &str = "+15550000002";

fn daemon_with_signal() -> (Daemon, SignalStandIn) {
    let daemon = Daemon::start(Policy::default());
    let signal = SignalStandIn::start(ME, daemon.dir.path());
    let store = MessageStore::open(&daemon.database()).unwrap();
    add_signal(&store, SignalAccount { number: "+1 555 000 0001".into(), rpc: signal.rpc.clone() }).unwrap();
    (daemon, signal)
}

#[test]
fn direct_group_note_to_self_and_attachment_messages_are_stored_once() {
    let (daemon, signal) = daemon_with_signal();
    let group = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    for request in [
        json!({"op": "inject_text", "from": BOB, "name": "Bob", "text": "hi from bob"}),
        json!({"op": "inject_text", "from": BOB, "name": "Bob", "text": "hi family", "group_id": group, "group_name": "Family"}),
        json!({"op": "inject_text", "from": ME, "to": ME, "text": "note to self"}),
        json!({"op": "inject_text", "from": BOB, "name": "Bob", "text": "a cat", "attachments": [{"contentType": "image/png", "filename": "cat.png", "data": "iVBORw0K"}]}),
    ] {
        assert_eq!(signal.control(request.clone())["ok"], true, "{request}");
    }
    assert_eq!(daemon.messaging.poll_once().unwrap(), 4);
    assert_eq!(daemon.messaging.poll_once().unwrap(), 0, "a re-poll must not duplicate");

    let (status, answer) = daemon.get("/messages?backend=signal");
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["count"], 4);
    let messages = answer["messages"].as_array().unwrap();
    let find = |body: &str| messages.iter().find(|m| m["body"] == body).unwrap_or_else(|| panic!("{body}: {answer}"));
    let direct = find("hi from bob");
    assert_eq!((direct["sender"].as_str(), direct["sender_name"].as_str()), (Some(BOB), Some("Bob")));
    assert_eq!(direct["thread_id"], BOB);
    assert_eq!(direct["account"], ME);
    assert_eq!(find("hi family")["thread_id"], format!("group:{group}"));
    let note = find("note to self");
    assert_eq!(
        (note["sender"].as_str(), note["recipient"].as_str(), note["thread_id"].as_str()),
        (Some(ME), Some(ME), Some(ME))
    );
    let cat = find("a cat");
    assert_eq!(cat["metadata"]["attachments"][0]["filename"], "cat.png");
    assert_eq!(cat["metadata"]["attachments"][0]["content_type"], "image/png");
    assert!(!cat.to_string().contains("iVBORw0K"), "attachments are listed, never inlined: {cat}");

    let (_, thread) = daemon.get(&format!("/messages?thread_id=group:{group}"));
    assert_eq!(thread["count"], 1);
    let (_, accounts) = daemon.get("/accounts");
    assert_eq!(accounts, json!({"email": [], "signal": [ME]}));
}

#[test]
fn a_note_to_self_goes_out_at_once_and_a_message_to_bob_only_after_both_approvals_and_once() {
    let (daemon, signal) = daemon_with_signal();
    let (status, answer) =
        daemon.get_query("/send", &[("backend", "signal"), ("to", "+1 (555) 000-0001"), ("body", "remember the milk")]);
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["ok"], true, "{answer}");
    let sends = signal.sends();
    assert_eq!(sends.len(), 1, "{sends:?}");
    assert_eq!(sends[0]["note_to_self"], true, "{sends:?}");

    let (status, answer) = daemon.post_json("/send", &json!({"backend": "signal", "to": BOB, "body": "the seed is …"}));
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["pending"], true, "{answer}");
    assert!(answer["confirm_url"].as_str().unwrap().starts_with("http://127.0.0.1:7000/actions/"), "{answer}");
    let id = answer["id"].as_str().unwrap().to_owned();
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(signal.sends().len(), 1, "nothing may reach Bob before both approvals");
    let (_, state) = daemon.get(&format!("/send/status?id={id}"));
    assert_eq!((state["state"].as_str(), state["pending"].as_bool()), (Some("reviewing"), Some(true)), "{state}");

    daemon.approve(&id);
    let record = daemon.settled(&id);
    assert_eq!(record.state, State::Executed, "{record:?}");
    let sends = signal.sends();
    assert_eq!(sends.len(), 2, "{sends:?}");
    assert_eq!(sends[1]["recipients"], json!([BOB]), "{sends:?}");
    let (_, state) = daemon.get(&format!("/send/status?id={id}"));
    assert_eq!(state["sent"], true, "{state}");
    assert!(state["outcome"]["timestamp"].as_i64().is_some(), "{state}");

    // The executor is idempotent by key: running the executed action's key again sends nothing.
    let sender = sov_msg::MessageSender::open(&daemon.database(), daemon.dir.path()).unwrap();
    let key: String = rusqlite::Connection::open(daemon.database())
        .unwrap()
        .query_row("SELECT idempotency_key FROM gate_actions WHERE id = ?1", [&id], |r| r.get(0))
        .unwrap();
    use sov_gate::Executor;
    sender.execute(&record, &key).unwrap();
    assert_eq!(signal.sends().len(), 2, "a second run with the same key must not send again");
}

#[test]
fn a_refused_send_fails_visibly_and_is_not_retried() {
    let (daemon, signal) = daemon_with_signal();
    signal.control(
        json!({"op": "fail_next_send", "error": {"code": -5, "message": "Rate limit exceeded", "data": null}}),
    );
    let (_, answer) = daemon.post_form("/send", &[("backend", "signal"), ("to", BOB), ("body", "hello")]);
    let id = answer["id"].as_str().unwrap().to_owned();
    daemon.approve(&id);
    let record = daemon.settled(&id);
    assert_eq!(record.state, State::Failed);
    assert!(record.outcome.unwrap().to_string().contains("Rate limit"));
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(signal.sends().len(), 0);
}

#[test]
fn signal_recipients_are_checked_before_anything_is_asked() {
    let (daemon, signal) = daemon_with_signal();
    for (to, why) in [
        ("5550000002", "E.164"),
        ("+1555000000２", "ASCII digit"),
        ("+15550000001\n+15550000002", "control character"),
        ("group:not base64!", "Signal group"),
    ] {
        let (status, answer) = daemon.post_json("/send", &json!({"backend": "signal", "to": to, "body": "x"}));
        assert_eq!(status, 400, "{to:?}: {answer}");
        assert!(answer["error"]["message"].as_str().unwrap().contains(why), "{to:?}: {answer}");
        assert_eq!(answer["error"]["field"], "to");
    }
    let (status, answer) = daemon.post_json("/send", &json!({"backend": "signal", "to": BOB, "body": "x", "bcc": ME}));
    assert_eq!(status, 400, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap().contains("bcc"), "{answer}");
    assert!(daemon.gate.list(&[], 10).unwrap().is_empty(), "no action may be created from a bad request");
    assert!(signal.sends().is_empty());
}

#[test]
fn a_chat_on_the_policys_allowlist_gets_replies_at_once_and_no_one_else_does() {
    let policy = sov_gate::Policy::parse(
        &format!("[messages]\nreply_without_confirm = [\"signal:{BOB}\"]\n"),
        std::path::Path::new("policy.toml"),
    )
    .unwrap();
    let daemon = Daemon::start(policy);
    let signal = SignalStandIn::start(ME, daemon.dir.path());
    let store = MessageStore::open(&daemon.database()).unwrap();
    add_signal(&store, SignalAccount { number: ME.into(), rpc: signal.rpc.clone() }).unwrap();

    let (status, answer) =
        daemon.post_json("/send", &json!({"backend": "signal", "to": "+1 555 000 0002", "body": "on my way"}));
    assert_eq!((status, answer["ok"].as_bool()), (200, Some(true)), "{answer}");
    assert_eq!(signal.sends().len(), 1);
    for to in [json!("+15550000003"), json!([BOB, "+15550000003"])] {
        let (status, answer) = daemon.post_json("/send", &json!({"backend": "signal", "to": to, "body": "x"}));
        assert_eq!((status, answer["pending"].as_bool()), (200, Some(true)), "{to}: {answer}");
    }
    assert_eq!(signal.sends().len(), 1, "only the one allowlisted chat may skip the human");
}

#[test]
fn reading_messages_marks_the_session_and_an_internet_side_session_reads_nothing() {
    let (daemon, signal) = daemon_with_signal();
    signal.control(json!({"op": "inject_text", "from": BOB, "name": "Bob", "text": "hush-7731"}));
    daemon.messaging.poll_once().unwrap();
    let open = daemon.gate.create_session(sov_gate::Side::Open, "test").unwrap();
    let agent = ureq::Agent::config_builder().http_status_as_error(false).build().new_agent();
    let get = |token: &str| {
        let mut r =
            agent.get(&format!("{}/messages", daemon.url)).header(sov_gate::SESSION_HEADER, token).call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    };
    assert!(!daemon.gate.session(Some(&open.token)).unwrap().is_tainted());
    let (status, body) = get(&open.token);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hush-7731"));
    let session = daemon.gate.session(Some(&open.token)).unwrap();
    assert!(session.labels.contains(&sov_gate::Label::Messages), "{session:?}");

    let internet = daemon.gate.create_session(sov_gate::Side::Internet, "test").unwrap();
    let (status, body) = get(&internet.token);
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("hush-7731"), "{body}");
    let (status, body) = get("forged-token");
    assert_eq!(status, 401, "{body}");
}
