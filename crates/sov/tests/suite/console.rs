//! `sov console` and `sov confirm` through the real binary, against the console of a real
//! daemon (`sov msg serve`: the Tool API and the console, no model loaded).

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};

use super::harness::*;
use pretty_assertions::assert_eq;

/// `sov msg serve` on ephemeral ports; killed when dropped.
struct Daemon {
    child: Child,
    /// `http://127.0.0.1:PORT`, as the daemon printed it.
    console: String,
}

impl Daemon {
    fn start(world: &World) -> Daemon {
        let models = world.home.path().join("models");
        std::fs::create_dir_all(&models).unwrap();
        // The reviewer needs a model configured; nothing here is reviewed, so it is never loaded.
        std::fs::write(models.join("reviewer.gguf"), "never loaded").unwrap();
        std::fs::write(
            world.home.path().join("config.toml"),
            format!("[engine]\nmodels_dir = \"{}\"\n", models.display()),
        )
        .unwrap();
        let mut child = world
            .sov(&["msg", "serve", "--tool-listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut console = None;
        for _ in 0..2 {
            line.clear();
            stdout.read_line(&mut line).unwrap();
            if let Some(rest) = line.trim().strip_prefix("sov serve: console on ") {
                console = rest.split(' ').next().map(str::to_owned);
            }
        }
        Daemon { child, console: console.unwrap_or_else(|| panic!("no console line: {line:?}")) }
    }

    fn addr(&self) -> &str {
        self.console.trim_start_matches("http://")
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// POSTs `token` to the console's `/login` the way the login page does; (status, cookie set).
fn log_in(console: &str, token: &str) -> (u16, Option<String>) {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let response = agent
        .post(&format!("{console}/login"))
        .header("user-agent", "SovereignTestBrowser/1.0")
        .send_form([("token", token), ("next", "/")])
        .unwrap();
    let cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    (response.status().as_u16(), cookie)
}

#[test]
fn sov_console_prints_a_one_time_link_to_the_console_that_runs() {
    let world = World::new();
    let daemon = Daemon::start(&world);
    assert_ne!(daemon.addr(), "127.0.0.1:7000");

    // No flag, and the config says 7000: the link names the port the running daemon published.
    let out = world.sov(&["console"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let link = stdout(&out).trim().to_owned();
    let (base, token) = link.split_once("/login#").unwrap_or_else(|| panic!("not a login link: {link}"));
    assert_eq!(base, daemon.console, "the link names the console that runs");
    assert_eq!(token.len(), 64, "{link}");
    assert!(stderr(&out).contains("once") && stderr(&out).contains("10 minutes"), "{}", stderr(&out));

    // It logs one browser in, once.
    let (status, cookie) = log_in(base, token);
    assert_eq!(status, 303);
    assert!(cookie.unwrap().starts_with("sov_console="));
    assert_eq!(log_in(base, token), (401, None), "the printed link cannot be replayed");

    // --console-listen names another address; every run mints a new link.
    let out = world.sov(&["console", "--console-listen", "127.0.0.1:17123"]).output().unwrap();
    let other = stdout(&out).trim().to_owned();
    assert!(other.starts_with("http://127.0.0.1:17123/login#"), "{other}");
    assert_ne!(other.rsplit_once('#').unwrap().1, token);
    assert_eq!(log_in(base, other.rsplit_once('#').unwrap().1).0, 303, "a link of this data directory");

    // No daemon: gate.console_listen; a port of 0 there names no console and is refused.
    drop(daemon);
    std::fs::write(world.home.path().join("config.toml"), "[gate]\nconsole_listen = \"127.0.0.1:17124\"\n").unwrap();
    let out = world.sov(&["console"]).output().unwrap();
    assert!(stdout(&out).starts_with("http://127.0.0.1:17124/login#"), "{}", stdout(&out));
    std::fs::write(world.home.path().join("config.toml"), "[gate]\nconsole_listen = \"127.0.0.1:0\"\n").unwrap();
    let out = world.sov(&["console"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("--console-listen"), "{}", stderr(&out));
    assert_eq!(stdout(&out), "");
}

#[test]
fn sov_confirm_shows_invisible_characters_escaped_and_provenance_as_a_claim() {
    let world = World::new();
    let data = world.home.path().join("data");
    let id = {
        let gate = sov_gate::Gate::new(
            sov_core::store::Store::open(&data.join("sovereign.db")).unwrap(),
            Some(data.join("audit.head")),
            sov_gate::Policy::default(),
        );
        let mut request = sov_gate::ActionRequest::new(sov_gate::Kind::MessageSend);
        request.summary = "pay alice\u{202E}0001$".into();
        request.recipients = vec!["carol@example.org".into()];
        request.params.insert("to".into(), "bo\u{200B}b@example.org".into());
        request.params.insert("note".into(), "\u{9B}2J\u{2067}x".into());
        request.provenance = vec![sov_gate::Provenance { source: "user".into(), detail: String::new() }];
        gate.submit(&sov_gate::Session::anonymous(), request).unwrap().id
    };
    let list = world.sov(&["confirm", "list"]).output().unwrap();
    assert!(list.status.success(), "{}", stderr(&list));
    let list = stdout(&list);
    assert!(list.contains(&id) && list.contains("pay alice\\u{202e}0001$ → carol@example.org"), "{list}");

    let show = world.sov(&["confirm", "show", &id]).output().unwrap();
    assert!(show.status.success(), "{}", stderr(&show));
    let show = stdout(&show);
    assert!(show.starts_with("WARNING   this action contains invisible or direction-changing characters"), "{show}");
    assert!(show.contains("what      pay alice\\u{202e}0001$ → carol@example.org\n"), "{show}");
    assert!(show.contains("\"to\": \"bo\\u{200b}b@example.org\""), "{show}");
    assert!(show.contains("\"note\": \"\\u{9b}2J\\u{2067}x\""), "{show}");
    assert!(show.contains("source    claimed by the agent, unchecked: user\n"), "{show}");
    for raw in ['\u{202E}', '\u{200B}', '\u{9B}', '\u{2067}'] {
        assert!(!list.contains(raw) && !show.contains(raw), "U+{:04X} reached the terminal raw", u32::from(raw));
    }
}

#[test]
fn sov_confirm_show_prints_what_the_gates_code_found_naming_the_contact_a_look_alike_imitates() {
    let world = World::new();
    let data = world.home.path().join("data");
    let db = data.join("sovereign.db");
    let (attack, reply) = {
        let gate = sov_gate::Gate::new(
            sov_core::store::Store::open(&db).unwrap(),
            Some(data.join("audit.head")),
            sov_gate::Policy::default(),
        );
        // Mail history: PayPal wrote twice; the user wrote to Bob.
        let mail = |uid: &str, from: &str, to: &str, name: &str| sov_msg::store::NewMessage {
            backend: sov_msg::Backend::Email,
            account: "alice@example.org".into(),
            uid: uid.into(),
            sender: from.into(),
            sender_name: name.into(),
            recipient: to.into(),
            subject: "s".into(),
            body: "b".into(),
            thread_id: uid.into(),
            timestamp_ms: 1_764_720_000_000,
            metadata: serde_json::json!({}),
        };
        sov_msg::MessageStore::open(&db)
            .unwrap()
            .insert(
                &[
                    mail("INBOX/1/1", "service@paypal.com", "alice@example.org", "PayPal"),
                    mail("INBOX/1/2", "service@paypal.com", "alice@example.org", "PayPal"),
                    mail("Sent/1/1", "alice@example.org", "bob@example.net", ""),
                ],
                None,
            )
            .unwrap();
        gate.set_address_book(std::sync::Arc::new(sov_msg::History::open(&db).unwrap()));
        let send = |to: &str| {
            let mut request = sov_gate::ActionRequest::new(sov_gate::Kind::MessageSend);
            request.summary = format!("email to {to}");
            request.recipients = vec![to.into()];
            request.params.insert("body".into(), "See you on Friday.".into());
            gate.submit(&sov_gate::Session::anonymous(), request).unwrap().id
        };
        (send("billing@paypa1.com"), send("bob@example.net"))
    };
    let show = world.sov(&["confirm", "show", &attack]).output().unwrap();
    assert!(show.status.success(), "{}", stderr(&show));
    let show = stdout(&show);
    assert!(
        show.contains(
            "signal    deny the recipient billing@paypa1.com imitates service@paypal.com (PayPal), who wrote to you 2 \
             times, in your mail: paypa1.com is written with characters that look like paypal.com\n"
        ),
        "{show}"
    );
    let show = stdout(&world.sov(&["confirm", "show", &reply]).output().unwrap());
    assert!(!show.contains("signal "), "a reply to a known contact carries no signal: {show}");
}
