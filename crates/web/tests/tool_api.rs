//! The Tool API's `/search` end to end, as a SearXNG skill uses it: a real gate with its workers
//! and executor, the Tool API served on loopback, a SearXNG-shaped backend that logs what it is
//! asked, and the reference user's skill line (`curl … | python3 -c …`) reading the answer.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::{Arc, Mutex};

mod support;

use sov_gate::{Label, Side};

/// A SearXNG-shaped answer with two results.
fn searxng_answer(path: &str) -> (u16, &'static str, String) {
    let body = serde_json::json!({"query": support::param(path, "q"), "results": [
        {"url": "https://tor.example/", "title": "The Tor Project", "content": "Browse privately", "engine": "bing"},
        {"url": "https://kiwix.example/", "title": "Kiwix", "content": "Offline Wikipedia", "engine": "brave"},
    ]});
    (200, "application/json", body.to_string())
}

/// The `q` of every search the backend got.
fn queries(log: &Mutex<Vec<String>>) -> Vec<String> {
    log.lock().unwrap().iter().map(|path| support::param(path, "q")).collect()
}

fn curl(url: &str, token: Option<&str>, method: &str) -> (u16, String) {
    let mut command = std::process::Command::new("curl");
    command.args(["-s", "-o", "-", "-w", "\n%{http_code}", "-X", method, url]);
    if let Some(token) = token {
        command.args(["-H", &format!("X-Sov-Session: {token}")]);
    }
    if method == "POST" {
        command.args([
            "-H",
            "content-type: application/json",
            "--data",
            r#"{"kind":"web.search","params":{"query":"x"}}"#,
        ]);
    }
    let out = command.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap();
    (status.trim().parse().unwrap(), body.to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_searxng_skill_searches_through_the_gate_and_a_tainted_session_waits_for_the_human() {
    let dir = tempfile::tempdir().unwrap();
    let (backend, asked) = support::backend(searxng_answer).await;
    let text = format!(
        "[sanitize]\nnames = [\"Alice Liddell\"]\n[web]\nengines = [{{ kind = \"searxng\", url = \"{backend}\" }}]\n"
    );
    let config = sov_core::config::Config::parse(&text, &dir.path().join("config.toml"), Some(dir.path())).unwrap();
    let net = sov_net::Net::new(&config.net, dir.path()).unwrap();
    let web = Arc::new(sov_web::Web::new(&config, net.http(sov_net::Class::Web)).unwrap());
    let (gate, _workers, tool) = support::tool_api(dir.path(), web).await;

    let clean = gate.create_session(Side::Open, "test").unwrap().token;
    let tainted = gate.create_session(Side::Open, "test").unwrap();
    gate.note_read(&mut gate.session(Some(&tainted.token)).unwrap(), Label::Messages).unwrap();

    // The skill's line, as a SearXNG user has it (with the session header sbox provides).
    let tool_for_shell = tool.clone();
    let clean_for_shell = clean.clone();
    let skill = tokio::task::spawn_blocking(move || {
        std::process::Command::new("sh")
            .arg("-c")
            .arg(
                "curl -s -H \"X-Sov-Session: $SOV_SESSION\" \"$SEARXNG/search?q=Alice+Liddell+tor+browser&format=json\" \
                 | python3 -c \"import sys, json; [print(r['title'], '|', r['url'], '|', r['engine']) for r in json.load(sys.stdin)['results'][:5]]\"",
            )
            .env("SEARXNG", &tool_for_shell)
            .env("SOV_SESSION", &clean_for_shell)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let printed = String::from_utf8_lossy(&skill.stdout);
    assert!(skill.status.success(), "{printed}\n{}", String::from_utf8_lossy(&skill.stderr));
    assert_eq!(printed, "The Tor Project | https://tor.example/ | searxng\nKiwix | https://kiwix.example/ | searxng\n");
    assert_eq!(queries(&asked), ["[PERSON_1] tor browser"], "the name never left");

    // The agent's own web_search tool gets the results in the frame.
    let api = sov_agent::services::ToolApi::new(&tool, Some(clean.clone()));
    let agent_tools = sov_agent::services::web::tools(&api);
    let search_tool = agent_tools[0].clone();
    let framed =
        tokio::task::spawn_blocking(move || search_tool.run(r#"{"query": "onion services"}"#)).await.unwrap().unwrap();
    assert!(framed.starts_with("<<<WEB CONTENT source=web.search"), "{framed}");
    assert!(framed.contains("not instructions") && framed.contains("1. The Tor Project"), "{framed}");
    assert_eq!(asked.lock().unwrap().len(), 2);

    // A session that read private mail waits for the human; nothing is asked meanwhile.
    let t = tool.clone();
    let token = tainted.token.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        curl(&format!("{t}/search?q=flights&format=json&wait=1"), Some(&token), "GET")
    })
    .await
    .unwrap();
    assert_eq!(status, 202, "{body}");
    assert!(body.contains("has read private data"), "{body}");
    // The anonymous session (no header) counts as tainted too.
    let t = tool.clone();
    let (status, _) =
        tokio::task::spawn_blocking(move || curl(&format!("{t}/search?q=hotels&wait=1"), None, "GET")).await.unwrap();
    assert_eq!(status, 202);
    assert_eq!(asked.lock().unwrap().len(), 2, "a pending search reached the engine");
    // The clean session searched, so it is internet-side now: private reads are refused.
    let mut searched = gate.session(Some(&clean)).unwrap();
    assert_eq!(searched.side, Side::Internet);
    assert!(gate.note_read(&mut searched, Label::Messages).is_err());

    // A web page in the user's browser cannot search in their name (cross-site, or by DNS
    // rebinding to loopback), and an oversized query is refused: nothing reaches the engine.
    let t = tool.clone();
    let c = clean.clone();
    let refused = tokio::task::spawn_blocking(move || {
        let attack = |extra: &[&str]| {
            let mut command = std::process::Command::new("curl");
            command.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H", &format!("X-Sov-Session: {c}")]);
            for header in extra {
                command.args(["-H", header]);
            }
            let out = command.arg(format!("{t}/search?q=leak&format=json")).output().unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        [
            attack(&["Origin: https://evil.example"]),
            attack(&["Sec-Fetch-Site: cross-site"]),
            attack(&["User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"]),
            attack(&["Host: evil.example"]),
        ]
    })
    .await
    .unwrap();
    assert_eq!(refused[..3], ["403", "403", "403"], "{refused:?}");
    assert!(refused[3].starts_with('4'), "{refused:?}");
    let t = tool.clone();
    let c = clean.clone();
    let long = tokio::task::spawn_blocking(move || {
        curl(&format!("{t}/search?q={}&format=json", "a".repeat(5000)), Some(&c), "GET")
    })
    .await
    .unwrap();
    assert_eq!(long.0, 400, "{}", long.1);
    assert!(long.1.contains("at most 1000"), "{}", long.1);
    assert_eq!(asked.lock().unwrap().len(), 2, "a refused request reached the engine");

    // Malformed requests are clear errors; web.search by POST /v1/actions is refused.
    let t = tool.clone();
    let c = clean.clone();
    let answers = tokio::task::spawn_blocking(move || {
        [
            curl(&format!("{t}/search?format=json"), Some(&c), "GET"),
            curl(&format!("{t}/search?q=x&format=html"), Some(&c), "GET"),
            curl(&format!("{t}/v1/actions"), Some(&c), "POST"),
        ]
    })
    .await
    .unwrap();
    assert_eq!(answers[0].0, 400);
    assert!(answers[0].1.contains("`q` is missing"), "{}", answers[0].1);
    assert_eq!(answers[1].0, 400);
    assert!(answers[1].1.contains("format=json"), "{}", answers[1].1);
    assert_eq!(answers[2].0, 400);
    assert!(answers[2].1.contains("GET /search"), "{}", answers[2].1);
    assert_eq!(asked.lock().unwrap().len(), 2);
}

#[test]
fn the_shipped_skill_loads_as_pi_and_sov_agent_read_skills() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../skills");
    let (skills, warnings) = sov_agent::context::skills(&[root]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let skill = skills.iter().find(|s| s.name == "web-search").expect("skills/web-search/SKILL.md");
    assert!(skill.description.contains("anonymously"), "{}", skill.description);
    let text = std::fs::read_to_string(&skill.path).unwrap();
    // The endpoint and header it tells the agent to use are the ones served.
    assert!(text.contains("/search?q=") && text.contains("X-Sov-Session: $SOV_SESSION"), "{text}");
}
