//! The human console's login and what it shows, attacked the ways a sandboxed script or a web
//! page would.

use pretty_assertions::assert_eq;
use serde_json::json;
use sov_gate::{ActionRequest, Kind, Provenance, Session, State};

use super::harness::{BROWSER, Harness, session_of};

#[test]
fn a_login_link_logs_in_once_and_its_replay_fails() {
    let console = Harness::start();
    let token = console.mint(0);
    let first = console.post("/login", &format!("token={token}"), BROWSER, None);
    assert_eq!((first.status, first.location.as_deref()), (303, Some("/")), "{}", first.body);
    let cookie = first.set_cookie.clone().unwrap();
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "{cookie}");
    let session = session_of(&first).unwrap();
    assert_eq!(console.get("/", BROWSER, Some(&session)).status, 200);

    // The same link again: from the same browser, from another, and after a while.
    for agent in [BROWSER, "curl/8.5.0"] {
        let replay = console.post("/login", &format!("token={token}"), agent, None);
        assert_eq!(replay.status, 401, "{}", replay.body);
        assert_eq!(replay.set_cookie, None, "a replayed link sets no cookie");
        assert!(replay.body.contains("used already"), "{}", replay.body);
    }
    let actions = console.audit_actions();
    assert_eq!(
        actions,
        ["console.link", "console.login", "console.login_refused", "console.login_refused"],
        "the login and both replays are on record"
    );
}

#[test]
fn a_login_link_stays_used_after_a_restart() {
    let console = Harness::start();
    let token = console.mint(0);
    assert_eq!(console.post("/login", &format!("token={token}"), BROWSER, None).status, 303);
    let console = console.restart();
    let replay = console.post("/login", &format!("token={token}"), BROWSER, None);
    assert_eq!((replay.status, replay.set_cookie), (401, None), "{}", replay.body);
}

#[test]
fn a_link_older_than_ten_minutes_fails() {
    let console = Harness::start();
    let token = console.mint(10 * 60 * 1000 + 1000);
    let late = console.post("/login", &format!("token={token}"), BROWSER, None);
    assert_eq!((late.status, late.set_cookie), (401, None), "{}", late.body);
    assert!(late.body.contains("older than 10 minutes"), "{}", late.body);
}

#[test]
fn what_a_sandbox_could_read_logs_nobody_in() {
    // The old static console secret, posted the old way or as a token, and the token's hash as
    // the database holds it (readable through an inherited descriptor, say): none logs in.
    let console = Harness::start();
    std::fs::write(console.dir.path().join("console.secret"), "ab".repeat(32)).unwrap();
    let token = console.mint(0);
    let store = sov_core::store::Store::open(&console.db()).unwrap();
    let stored: String =
        store.conn().query_row("SELECT token_hash FROM console_login_links", [], |r| r.get(0)).unwrap();
    let secret = "ab".repeat(32);
    for body in [
        format!("secret={secret}"),
        format!("token={secret}"),
        format!("token={stored}"),
        "token=".to_owned(),
        String::new(),
    ] {
        let answer = console.post("/login", &body, BROWSER, None);
        assert_eq!((answer.status, answer.set_cookie.as_deref()), (401, None), "{body}: {}", answer.body);
    }
    // The login page offers nothing to paste a secret into.
    let page = console.get("/login", BROWSER, None);
    assert!(!page.body.contains("type=\"password\"") && !page.body.contains("name=\"secret\""), "{}", page.body);
    assert!(page.body.contains("sov console"), "{}", page.body);
    // The real link was not used up by the attempts.
    assert_eq!(console.post("/login", &format!("token={token}"), BROWSER, None).status, 303);
}

#[test]
fn a_cookie_replayed_with_another_user_agent_fails_and_ends_the_login() {
    let console = Harness::start();
    let mut request = ActionRequest::new(Kind::MessageSend);
    request.summary = "email to bob".into();
    request.recipients = vec!["bob@example.org".into()];
    let action = console.gate.submit(&Session::anonymous(), request).unwrap();
    let session = console.log_in(BROWSER);
    let page = console.get(&format!("/actions/{}", action.id), BROWSER, Some(&session));
    assert_eq!(page.status, 200, "{}", page.body);
    let csrf = csrf_of(&page.body);

    // A script that copied the cookie and the CSRF token, with its own User-Agent (or none).
    for agent in ["curl/8.5.0", ""] {
        let stolen =
            console.post(&format!("/actions/{}/deny", action.id), &format!("csrf={csrf}"), agent, Some(&session));
        assert_eq!(stolen.status, 401, "{agent:?}: {}", stolen.body);
    }
    let stolen = console.get("/", "curl/8.5.0", Some(&session));
    assert_eq!(stolen.status, 303, "{}", stolen.body);
    assert!(stolen.location.unwrap().starts_with("/login"));
    // The login it was copied from is over: the browser logs in again with a new link.
    assert_eq!(console.get("/", BROWSER, Some(&session)).status, 303);
    assert_eq!(console.gate.get(&action.id).unwrap().state, State::Reviewing, "nothing was decided");
}

#[test]
fn a_login_leads_only_to_the_consoles_own_pages() {
    let console = Harness::start();
    for (next, expected) in [
        ("/%09/evil.example", "/"),
        ("/%0d%0aSet-Cookie:%20sov_console=attacker", "/"),
        ("/%0a/evil.example", "/"),
        ("//evil.example/", "/"),
        ("%2F%2Fevil.example", "/"),
        ("/%5Cevil.example", "/"),
        ("https://evil.example/", "/"),
        ("/actions/../../evil", "/"),
        ("/actions/ab%20cd", "/"),
        ("/static/console.js", "/"),
        ("/history", "/history"),
        ("/actions/0123456789abcdef0123456789abcdef", "/actions/0123456789abcdef0123456789abcdef"),
    ] {
        let token = console.mint(0);
        let answer = console.post("/login", &format!("token={token}&next={next}"), BROWSER, None);
        assert_eq!((answer.status, answer.location.as_deref()), (303, Some(expected)), "next={next}: {}", answer.body);
        assert!(session_of(&answer).is_some(), "next={next}");
    }
    // The login page carries no other `next` either.
    let page = console.get("/login?next=/%09/evil.example", BROWSER, None);
    assert!(page.body.contains("name=\"next\" value=\"/\""), "{}", page.body);
    assert!(!page.body.contains("evil.example"), "{}", page.body);
}

#[test]
fn invisible_characters_and_claimed_provenance_are_shown_for_what_they_are() {
    let console = Harness::start();
    let mut request = ActionRequest::new(Kind::MessageSend);
    request.summary = "pay alice\u{202E}0001$".into();
    request.recipients = vec!["carol@example.org".into()];
    request.params.insert("to".into(), json!("bo\u{200B}b@example.org"));
    request.params.insert("note".into(), json!("\u{2066}hidden\u{2069} \u{FEFF}\u{9B}31m"));
    request.provenance = vec![Provenance { source: "user".into(), detail: "typed\u{200D}".into() }];
    let action = console.gate.submit(&Session::anonymous(), request).unwrap();
    let session = console.log_in(BROWSER);
    let tag = |hex: &str| {
        format!("<span class=\"hidden-char\" title=\"an invisible or direction-changing character\">⟨U+{hex}⟩</span>")
    };
    for path in ["/".to_owned(), "/history".to_owned(), format!("/actions/{}", action.id)] {
        let page = console.get(&path, BROWSER, Some(&session));
        assert_eq!(page.status, 200, "{path}: {}", page.body);
        assert!(page.body.contains(&format!("pay alice{}0001$", tag("202E"))), "{path}: {}", page.body);
        for raw in ['\u{202E}', '\u{200B}', '\u{2066}', '\u{2069}', '\u{FEFF}', '\u{9B}', '\u{200D}'] {
            assert!(!page.body.contains(raw), "{path} shows U+{:04X} raw", u32::from(raw));
        }
    }
    let page = console.get(&format!("/actions/{}", action.id), BROWSER, Some(&session)).body;
    assert!(page.contains("id=\"hidden-warning\""), "{page}");
    assert!(page.contains(&format!("bo{}b@example.org", tag("200B"))), "{page}");
    assert!(page.contains(&format!("{}hidden{}", tag("2066"), tag("2069"))), "{page}");
    assert!(page.contains("<span class=\"claim\">claimed by the agent:</span> user"), "{page}");
    assert!(!page.contains("&quot;source&quot;"), "the claim is not shown as if it were a fact: {page}");
}

fn csrf_of(page: &str) -> String {
    let start = page.find("name=\"csrf\" value=\"").unwrap() + "name=\"csrf\" value=\"".len();
    page[start..start + 64].to_owned()
}

/// A fixed address book: PayPal wrote twice, the user wrote to Bob.
struct Book;

impl sov_gate::AddressBook for Book {
    fn contacts(&self) -> Result<std::sync::Arc<sov_gate::ContactList>, String> {
        let contact = |address: &str, name: &str, wrote_to: bool, received: u32| sov_gate::Contact {
            channel: sov_gate::Channel::Email,
            address: address.into(),
            name: name.into(),
            own: false,
            wrote_to,
            received,
            seen_in: "your mail".into(),
        };
        Ok(std::sync::Arc::new(sov_gate::ContactList {
            version: 1,
            contacts: vec![
                contact("service@paypal.com", "PayPal", false, 2),
                contact("bob@example.org", "Bob", true, 1),
            ],
        }))
    }
}

#[test]
fn the_action_page_shows_what_the_gates_code_found_and_names_the_contact_a_look_alike_imitates() {
    let console = Harness::start();
    console.gate.set_address_book(std::sync::Arc::new(Book));
    let send = |to: &str| {
        let mut request = ActionRequest::new(Kind::MessageSend);
        request.summary = format!("email to {to}");
        request.recipients = vec![to.into()];
        request.params.insert("body".into(), json!("See you on Friday."));
        console.gate.submit(&Session::anonymous(), request).unwrap()
    };
    let (attack, reply) = (send("billing@paypa1.com"), send("bob@example.org"));
    let session = console.log_in(BROWSER);
    let page = console.get(&format!("/actions/{}", attack.id), BROWSER, Some(&session)).body;
    let found = &page[page.find("id=\"signals\"").unwrap()..];
    let found = &found[..found.find("</td>").unwrap()];
    assert_eq!(
        found,
        "id=\"signals\"><ul class=\"signals\"><li class=\"signal-deny\"><span class=\"verdict-deny\">deny</span> the recipient \
         billing@paypa1.com imitates service@paypal.com (PayPal), who wrote to you 2 times, in your mail: paypa1.com is \
         written with characters that look like paypal.com</li></ul>"
    );
    let page = console.get(&format!("/actions/{}", reply.id), BROWSER, Some(&session)).body;
    assert!(page.contains("<td id=\"signals\">nothing to report</td>"), "{page}");
}
