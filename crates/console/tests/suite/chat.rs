//! The chat page over a real socket, with a scripted engine (the real model's run is in
//! `crates/sov/tests/serve.rs`): what it stores and streams, and what it refuses.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::Value;
use sov_console::chat::{ChatEnd, ChatEngine, ChatEvent, ChatRequest};
use sov_console::conversations::Stats;
use tokio::sync::mpsc;

use super::harness::{Answer, BROWSER, Harness};

/// Answers every request with `answer` in a few pieces, or, for a message containing
/// "forever", with tokens until the receiver goes away. Keeps what it was asked.
struct Scripted {
    answer: String,
    asked: Mutex<Vec<ChatRequest>>,
}

impl ChatEngine for Scripted {
    fn models(&self) -> Vec<String> {
        vec!["smollm2".into(), "gemma3".into()]
    }

    fn default_model(&self) -> Option<String> {
        Some("smollm2".into())
    }

    fn generate(&self, request: ChatRequest) -> Result<mpsc::UnboundedReceiver<ChatEvent>, String> {
        if !self.models().contains(&request.model) {
            return Err(format!("unknown model {:?}", request.model));
        }
        let forever = request.messages.last().is_some_and(|m| m.content.contains("forever"));
        self.asked.lock().unwrap().push(request);
        let (tx, rx) = mpsc::unbounded_channel();
        let pieces: Vec<String> = self.answer.split_inclusive(' ').map(str::to_owned).collect();
        tokio::spawn(async move {
            let _ = tx.send(ChatEvent::Started);
            if forever {
                while tx.send(ChatEvent::Text("more ".into())).is_ok() {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                return;
            }
            for piece in &pieces {
                let _ = tx.send(ChatEvent::Text(piece.clone()));
            }
            let stats = Stats {
                prompt_tokens: 12,
                completion_tokens: pieces.len() as u32,
                prompt_ms: 40.0,
                generation_ms: 80.0,
            };
            let _ = tx.send(ChatEvent::Done(ChatEnd::Stop, stats));
        });
        Ok(rx)
    }
}

fn scripted(answer: &str) -> Arc<Scripted> {
    Arc::new(Scripted { answer: answer.into(), asked: Mutex::default() })
}

/// The CSRF token a page carries.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("no CSRF token on the page") + "name=\"csrf\" value=\"".len();
    page[at..at + 64].to_owned()
}

/// The `data:` events of a server-sent event stream.
fn sse_events(answer: &Answer) -> Vec<Value> {
    assert_eq!(answer.content_type.as_deref(), Some("text/event-stream"), "{}", answer.body);
    answer
        .body
        .split("\n\n")
        .filter_map(|block| block.strip_prefix("data: "))
        .map(|data| serde_json::from_str(data).unwrap())
        .collect()
}

fn new_conversation(console: &Harness, session: &str, csrf: &str) -> String {
    let created = console.post("/chat/new", &format!("csrf={csrf}&model=smollm2"), BROWSER, Some(session));
    assert_eq!(created.status, 303, "{}", created.body);
    created.location.unwrap()
}

#[test]
fn a_conversation_is_streamed_stored_renamed_exported_and_deleted() {
    let engine = scripted("Hello **there**. <script>alert(1)</script> ![](http://127.0.0.1:9/?q=secret)");
    let console = Harness::start_chat(engine.clone());
    let session = console.log_in(BROWSER);
    let index = console.get("/chat", BROWSER, Some(&session));
    assert_eq!(index.status, 200, "{}", index.body);
    assert!(index.body.contains("No conversations yet."), "{}", index.body);
    assert!(index.body.contains("<script src=\"/static/chat.js\" defer></script>"), "{}", index.body);
    let csrf = csrf_of(&index.body);
    let path = new_conversation(&console, &session, &csrf);
    let id = path.strip_prefix("/chat/c/").unwrap().to_owned();

    let streamed = console.post(
        &format!("{path}/send"),
        &format!("csrf={csrf}&text=Hi%20%3Cb%3Eyou%3C%2Fb%3E"),
        BROWSER,
        Some(&session),
    );
    assert_eq!(streamed.status, 200, "{}", streamed.body);
    let events = sse_events(&streamed);
    assert_eq!(events.first().unwrap()["type"], "started");
    assert!(events.iter().any(|e| e["type"] == "text"), "{events:?}");
    let done = events.last().unwrap();
    assert_eq!(
        (done["type"].as_str(), done["finish"].as_str(), done["seq"].as_i64()),
        (Some("done"), Some("stop"), Some(1))
    );
    assert_eq!(done["stats"], "Prompt: 12 tokens, 300.0 t/s · Answer: 4 tokens, 50.0 t/s");
    let html = done["html"].as_str().unwrap();
    assert!(html.starts_with("<p>Hello <strong>there</strong>. &lt;script&gt;alert(1)&lt;/script&gt; "), "{html}");
    assert!(!html.contains("<img") && !html.contains("<script"), "{html}");

    // Reloaded: the conversation is listed, named by its first message, with both messages.
    let page = console.get(&path, BROWSER, Some(&session));
    assert_eq!(page.status, 200);
    assert!(page.body.contains(&format!("<a href=\"/chat/c/{id}\">Hi &lt;b&gt;you&lt;/b&gt;</a>")), "{}", page.body);
    assert!(
        page.body.contains("<div class=\"who\">You</div><div class=\"body\">Hi &lt;b&gt;you&lt;/b&gt;</div>"),
        "{}",
        page.body
    );
    assert!(page.body.contains("Prompt: 12 tokens"), "{}", page.body);

    // Settings: a system prompt and a temperature reach the engine with the next answer.
    let saved = console.post(
        &format!("{path}/settings"),
        &format!("csrf={csrf}&title=Renamed&model=gemma3&system_prompt=Be%20brief.&temperature=0.25&max_tokens=16"),
        BROWSER,
        Some(&session),
    );
    assert_eq!((saved.status, saved.location.as_deref()), (303, Some(path.as_str())), "{}", saved.body);
    let bad = console.post(
        &format!("{path}/settings"),
        &format!("csrf={csrf}&title=x&model=gemma3&system_prompt=&temperature=7&max_tokens=16"),
        BROWSER,
        Some(&session),
    );
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("temperature 7 is out of range"), "{}", bad.body);
    let again = console.post(&format!("{path}/regenerate"), &format!("csrf={csrf}"), BROWSER, Some(&session));
    assert_eq!(sse_events(&again).last().unwrap()["seq"], 1, "the old answer was replaced");
    let asked = engine.asked.lock().unwrap().last().cloned().unwrap();
    assert_eq!((asked.model.as_str(), asked.temperature, asked.max_tokens), ("gemma3", 0.25, Some(16)));
    let roles: Vec<_> = asked.messages.iter().map(|m| (m.role, m.content.as_str())).collect();
    assert_eq!(roles, [("system", "Be brief."), ("user", "Hi <b>you</b>")]);

    // Exports.
    let md = console.get(&format!("{path}/export.md"), BROWSER, Some(&session));
    assert_eq!(md.status, 200);
    assert!(md.body.starts_with("# Renamed\n\n- model: gemma3\n"), "{}", md.body);
    assert!(md.body.contains("## You\n\nHi <b>you</b>\n"), "the export is the text as written: {}", md.body);
    let json: Value =
        serde_json::from_str(&console.get(&format!("{path}/export.json"), BROWSER, Some(&session)).body).unwrap();
    assert_eq!(json["conversation"]["title"], "Renamed");
    assert_eq!(json["messages"].as_array().unwrap().len(), 2);
    assert_eq!(json["messages"][1]["role"], "assistant");

    // Deleted: gone from the list, its page and its exports.
    let deleted = console.post(&format!("{path}/delete"), &format!("csrf={csrf}"), BROWSER, Some(&session));
    assert_eq!((deleted.status, deleted.location.as_deref()), (303, Some("/chat")));
    assert_eq!(console.get(&path, BROWSER, Some(&session)).status, 404);
    assert_eq!(console.get(&format!("{path}/export.json"), BROWSER, Some(&session)).status, 404);
    assert!(console.get("/chat", BROWSER, Some(&session)).body.contains("No conversations yet."));
}

#[test]
fn stop_keeps_what_was_written_and_marks_it() {
    let console = Arc::new(Harness::start_chat(scripted("unused")));
    let session = console.log_in(BROWSER);
    let csrf = csrf_of(&console.get("/chat", BROWSER, Some(&session)).body);
    let path = new_conversation(&console, &session, &csrf);
    let streaming = {
        let (console, session, path, csrf) = (console.clone(), session.clone(), path.clone(), csrf.clone());
        std::thread::spawn(move || {
            console.post(&format!("{path}/send"), &format!("csrf={csrf}&text=count%20forever"), BROWSER, Some(&session))
        })
    };
    // Once the person's message is stored, its answer is being written.
    let export = format!("{path}/export.json");
    for _ in 0..400 {
        let json: Value = serde_json::from_str(&console.get(&export, BROWSER, Some(&session)).body).unwrap();
        if !json["messages"].as_array().unwrap().is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    // A second message meanwhile is refused, so that messages stay in order.
    let busy = console.post(&format!("{path}/send"), &format!("csrf={csrf}&text=x"), BROWSER, Some(&session));
    assert_eq!(busy.status, 409, "{}", busy.body);
    assert!(busy.body.contains("still being written"), "{}", busy.body);
    std::thread::sleep(Duration::from_millis(50));
    let stop = console.post(&format!("{path}/stop"), &format!("csrf={csrf}"), BROWSER, Some(&session));
    assert_eq!(stop.status, 204, "{}", stop.body);
    let answer = streaming.join().unwrap();
    let done = sse_events(&answer).last().cloned().unwrap();
    assert_eq!((done["type"].as_str(), done["finish"].as_str()), (Some("done"), Some("stopped")), "{done}");
    assert!(done["stats"].as_str().unwrap().starts_with("Stopped."), "{done}");
    let json: Value = serde_json::from_str(&console.get(&export, BROWSER, Some(&session)).body).unwrap();
    assert_eq!(json["messages"].as_array().unwrap().len(), 2, "{json}");
    let kept = &json["messages"][1];
    assert_eq!(kept["finish"], "stopped");
    assert!(kept["content"].as_str().unwrap().starts_with("more more"), "{kept}");
    assert_eq!(console.post(&format!("{path}/stop"), &format!("csrf={csrf}"), BROWSER, Some(&session)).status, 409);
}

#[test]
fn without_the_cookie_the_csrf_token_or_the_console_origin_nothing_is_shown_or_posted() {
    let engine = scripted("answer");
    let console = Harness::start_chat(engine.clone());
    let session = console.log_in(BROWSER);
    let csrf = csrf_of(&console.get("/chat", BROWSER, Some(&session)).body);
    let path = new_conversation(&console, &session, &csrf);

    for page in ["/chat", path.as_str()] {
        let refused = console.get(page, BROWSER, None);
        assert_eq!(refused.status, 303, "{page}: {}", refused.body);
        assert!(refused.location.unwrap().starts_with("/login?next=/chat"), "{page}");
    }
    assert_eq!(console.get(&format!("{path}/export.md"), BROWSER, None).status, 401);

    let send = format!("{path}/send");
    let body = format!("csrf={csrf}&text=forged");
    assert_eq!(console.post(&send, &body, BROWSER, None).status, 401, "no cookie");
    assert_eq!(console.post(&send, "text=forged", BROWSER, Some(&session)).status, 403, "no CSRF token");
    assert_eq!(
        console.post(&send, &format!("csrf={}&text=forged", "0".repeat(64)), BROWSER, Some(&session)).status,
        403
    );
    for (name, value) in [("origin", "http://127.0.0.1:9"), ("origin", "null"), ("sec-fetch-site", "cross-site")] {
        let forged = console.post_with(&send, &body, BROWSER, Some(&session), &[(name, value)]);
        assert_eq!(forged.status, 403, "{name}: {value}: {}", forged.body);
    }
    let new = console.post_with(
        "/chat/new",
        &format!("csrf={csrf}"),
        BROWSER,
        Some(&session),
        &[("origin", "http://evil.example")],
    );
    assert_eq!(new.status, 403);
    let delete = console.post_with(
        &format!("{path}/delete"),
        &format!("csrf={csrf}"),
        BROWSER,
        Some(&session),
        &[("origin", "http://evil.example")],
    );
    assert_eq!(delete.status, 403);
    assert!(engine.asked.lock().unwrap().is_empty(), "no forged message reached the engine");
    let json: Value =
        serde_json::from_str(&console.get(&format!("{path}/export.json"), BROWSER, Some(&session)).body).unwrap();
    assert_eq!(json["messages"], Value::Array(vec![]), "nothing was posted into the conversation");

    // The page's policy: scripts only from the console, no inline script, fetches only to it.
    let csp = console.get(&path, BROWSER, Some(&session)).csp.unwrap();
    for part in
        ["default-src 'none'", "script-src 'self'", "connect-src 'self'", "img-src 'self'", "frame-ancestors 'none'"]
    {
        assert!(csp.contains(part), "{csp}");
    }
    assert!(!csp.contains("unsafe"), "{csp}");
    let js = console.get("/static/chat.js", BROWSER, None);
    assert_eq!((js.status, js.content_type.as_deref()), (200, Some("text/javascript")));
    // A model that does not exist any more is named.
    let store = sov_core::store::Store::open(&console.db()).unwrap();
    store.conn().execute("UPDATE chat_conversations SET model = 'gone'", []).unwrap();
    let asked = console.post(&send, &format!("csrf={csrf}&text=hi"), BROWSER, Some(&session));
    assert_eq!(asked.status, 400);
    assert!(asked.body.contains("unknown model"), "{}", asked.body);

    // Last, as it ends the login: the cookie from another browser shows nothing.
    assert_eq!(console.get(&path, "curl/8.5.0", Some(&session)).status, 303, "the cookie from another browser");
    assert_eq!(console.get(&path, BROWSER, Some(&session)).status, 303, "and that login is over");
}
