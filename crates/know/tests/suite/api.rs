//! The Tool API's `/knowledge` routes on a real gate and a real index: in process through the
//! whole Tool API router (its guard included), and over a real socket with the agent's own
//! tools. Adversarial: paths given as ids, malformed queries, sessions on the internet side, a
//! private code carried out in an action.

use std::path::Path;
use std::sync::Arc;

use axum::body::Body;
use axum::http::Request;
use pretty_assertions::assert_eq;
use serde_json::Value;
use sov_gate::{ActionRequest, Gate, Kind, Label, Policy, Side, State};
use sov_know::Knowledge;
use sov_know::api::Library;
use tower::ServiceExt;

const CODE: &str = "7391-4486-2210";

/// A data directory with a private source (`notes`) and a public one (`manuals`), indexed, and
/// a gate of its own.
struct World {
    data: tempfile::TempDir,
    notes: tempfile::TempDir,
    manuals: tempfile::TempDir,
    gate: Arc<Gate>,
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap();
}

impl World {
    fn new() -> World {
        let notes = tempfile::tempdir().unwrap();
        write(
            notes.path(),
            "vault.md",
            &format!("# Vault\n\n## Front door\n\nThe door code is {CODE}. Keep it safe.\n"),
        );
        write(notes.path(), "garden.md", "# Garden\n\nWater the tomatoes every morning.\n");
        let manuals = tempfile::tempdir().unwrap();
        write(
            manuals.path(),
            "printer.md",
            "# Printer manual\n\nThis manual covers the P-100.\n\n## Paper jams\n\nOpen the front door of the printer and pull the paper out. Help: printer-help.test\n\n## Toner\n\nShake the cartridge.\n",
        );
        for n in 0..14 {
            write(manuals.path(), &format!("page{n:02}.md"), &format!("# Page {n}\n\nA door, page number {n}.\n"));
        }
        let data = tempfile::tempdir().unwrap();
        let world = World { gate: gate_in(data.path()), data, notes, manuals };
        world.index(|know| {
            know.add(world.notes.path(), Some("notes"), true).unwrap();
            know.add(world.manuals.path(), Some("manuals"), false).unwrap();
        });
        world
    }

    fn know_dir(&self) -> std::path::PathBuf {
        Knowledge::dir_in(self.data.path())
    }

    /// What `sov know …` does in another process: its own store, `change`, then an index run.
    fn index(&self, change: impl FnOnce(&mut Knowledge)) {
        let mut know = Knowledge::open(&self.know_dir()).unwrap();
        change(&mut know);
        know.index(None, &mut |_| {}).unwrap();
    }

    fn router(&self) -> axum::Router {
        router(&self.gate, Library::new(self.know_dir()))
    }

    fn session(&self, side: Side) -> String {
        self.gate.create_session(side, "test").unwrap().token
    }

    fn labels(&self, token: &str) -> Vec<Label> {
        self.gate.session(Some(token)).unwrap().labels.into_iter().collect()
    }
}

fn gate_in(dir: &Path) -> Arc<Gate> {
    let store = sov_core::store::Store::open(&dir.join("sov.db")).unwrap();
    Arc::new(Gate::new(store, Some(dir.join("audit.head")), Policy::default()))
}

fn router(gate: &Arc<Gate>, library: Library) -> axum::Router {
    sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:1")
        .service(sov_know::api::routes(gate.clone(), Arc::new(library)))
        .router()
}

/// `GET uri` through the whole router, as `token`'s session (none: anonymous).
async fn ask(router: &axum::Router, uri: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = Request::get(uri).header("host", "127.0.0.1:6000");
    if let Some(token) = token {
        request = request.header(sov_toolapi::SESSION_HEADER, token);
    }
    let response = router.clone().oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 8 << 20).await.unwrap();
    (status, serde_json::from_slice(&bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into())))
}

fn field(answer: &Value) -> Option<&str> {
    answer["error"]["field"].as_str()
}

fn message(answer: &Value) -> &str {
    answer["error"]["message"].as_str().unwrap_or_default()
}

fn ids_of(answer: &Value, source: &str) -> Vec<String> {
    answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["source"] == source)
        .map(|h| h["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_search_answers_ranked_passages_and_a_bad_request_is_a_400_that_names_the_problem() {
    let world = World::new();
    let router = world.router();
    let token = world.session(Side::Open);
    let t = Some(token.as_str());

    let (status, answer) = ask(&router, "/knowledge/search?q=paper+jams&limit=3", t).await;
    assert_eq!(status, 200, "{answer}");
    let first = &answer["results"][0];
    assert_eq!(
        (first["source"].as_str(), first["title"].as_str(), first["heading"].as_str(), first["private"].as_bool()),
        (Some("manuals"), Some("Printer manual"), Some("Paper jams"), Some(false)),
        "{answer}"
    );
    assert!(first["path"].as_str().unwrap().ends_with("/printer.md") && first["entry"] == "", "{first}");
    assert!(first["snippet"].as_str().unwrap().contains("paper"), "{first}");
    let keys: Vec<&str> = first.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(keys, ["id", "source", "private", "title", "path", "entry", "heading", "snippet", "highlights"]);
    assert_eq!((answer["count"].as_u64(), answer["public_only"].as_bool()), (Some(1), Some(false)));

    // `limit`: 10 by default, at most 50.
    let (_, ten) = ask(&router, "/knowledge/search?q=door", t).await;
    assert_eq!(ten["count"], 10, "{ten}");
    let (_, fifty) = ask(&router, "/knowledge/search?q=door&limit=50", t).await;
    assert_eq!(fifty["count"], 16, "14 pages, the printer and the vault: {fifty}");
    for bad in ["51", "0", "-1", "ten", "", "10.5"] {
        let (status, refused) = ask(&router, &format!("/knowledge/search?q=door&limit={bad}"), t).await;
        assert_eq!((status, field(&refused)), (400, Some("limit")), "{bad}: {refused}");
        assert!(message(&refused).contains("from 1 to 50"), "{refused}");
    }

    // Strict syntax: what tantivy cannot parse is refused with what and where, not searched
    // some other way.
    for (bad, says) in [
        ("%22front+door", "front door"),
        ("title:(door", "position"),
        ("nosuchfield:door", "nosuchfield"),
        ("path:printer", "path"),
        // An apostrophe opens a quoted phrase in tantivy's syntax; the parser names no place,
        // the error does.
        ("what%27s+a+printer", "' at 4"),
    ] {
        let (status, refused) = ask(&router, &format!("/knowledge/search?q={bad}"), t).await;
        assert_eq!((status, field(&refused)), (400, Some("q")), "{bad}: {refused}");
        assert!(message(&refused).contains("cannot be parsed") && message(&refused).contains(says), "{bad}: {refused}");
    }
    // The syntax that parses works: a phrase, a required and an excluded word, a field, an
    // escaped apostrophe.
    for (good, expected) in
        [("printer%5C%27s+manual", 3), ("%22front+door%22", 2), ("%2Bdoor+-printer+-page", 1), ("title:printer", 3)]
    {
        let (status, found) = ask(&router, &format!("/knowledge/search?q={good}&limit=50"), t).await;
        assert_eq!((status, found["count"].as_u64()), (200, Some(expected)), "{good}: {found}");
    }

    // Missing and unknown parameters, unknown sources.
    let (status, refused) = ask(&router, "/knowledge/search", t).await;
    assert_eq!((status, field(&refused)), (400, Some("q")), "{refused}");
    let (status, refused) = ask(&router, "/knowledge/search?q=+++", t).await;
    assert_eq!((status, field(&refused)), (400, Some("q")), "{refused}");
    let (status, refused) = ask(&router, "/knowledge/search?query=door", t).await;
    assert_eq!(status, 400, "{refused}");
    assert!(message(&refused).contains("unknown field `query`"), "{refused}");
    let (status, refused) = ask(&router, &format!("/knowledge/search?q={}", "a+".repeat(600)), t).await;
    assert_eq!((status, field(&refused)), (400, Some("q")), "{refused}");
    let (status, refused) = ask(&router, "/knowledge/search?q=door&source=nope", t).await;
    assert_eq!((status, field(&refused)), (400, Some("source")), "{refused}");
    assert!(message(&refused).contains("no source named \"nope\""), "{refused}");
    // "door" found the vault note among the pages: this session has read notes. Another one
    // that searches the manuals only stays clean.
    assert_eq!(world.labels(&token), [Label::Notes]);
    let clean = world.session(Side::Open);
    let (status, only) = ask(&router, "/knowledge/search?q=door&source=manuals&limit=50", Some(&clean)).await;
    assert_eq!((status, only["count"].as_u64()), (200, Some(15)), "{only}");
    assert!(ids_of(&only, "notes").is_empty(), "{only}");
    assert_eq!(world.labels(&clean), Vec::<Label>::new());
    // A token the gate never issued is refused before anything is searched.
    let (status, refused) = ask(&router, "/knowledge/search?q=door", Some("forged")).await;
    assert_eq!(status, 401, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn documents_are_read_by_passage_id_only_and_a_path_given_as_id_never_reads_a_file() {
    let world = World::new();
    let router = world.router();
    let token = world.session(Side::Open);
    let t = Some(token.as_str());
    let (_, found) = ask(&router, "/knowledge/search?q=paper+jams", t).await;
    let printer = found["results"][0]["id"].as_str().unwrap().to_owned();

    let vault = world.notes.path().join("vault.md").display().to_string();
    let manifest = world.know_dir().join("manifest.db").display().to_string();
    let file = printer.split('-').next().unwrap().to_owned();
    for bad in [
        "/etc/passwd".to_owned(),
        vault.clone(),
        "../../know/manifest.db".to_owned(),
        manifest,
        "vault.md".to_owned(),
        format!("{printer}/../../../etc/passwd"),
        format!("{file}-0%00"),
        format!("{file}-0%2F..%2Fvault.md"),
        "%2Fetc%2Fpasswd".to_owned(),
        format!("{}-0", file.to_uppercase()),
    ] {
        let (status, refused) = ask(&router, &format!("/knowledge/doc?id={bad}"), t).await;
        assert_eq!((status, field(&refused)), (400, Some("id")), "{bad}: {refused}");
        assert!(message(&refused).contains("not a passage id"), "{bad}: {refused}");
        let text = refused.to_string();
        assert!(!text.contains(CODE) && !text.contains("root:x:0"), "{bad}: a file was read: {text}");
    }
    // A well-formed id that names nothing is a 404.
    let (status, missing) = ask(&router, "/knowledge/doc?id=0123456789abcdef-0", t).await;
    assert_eq!((status, field(&missing)), (404, Some("id")), "{missing}");
    let (status, missing) = ask(&router, "/knowledge/doc", t).await;
    assert_eq!((status, field(&missing)), (400, Some("id")), "{missing}");
    // None of that read anything private.
    assert_eq!(world.labels(&token), Vec::<Label>::new());

    // The passage, and its whole document in order.
    let (status, passage) = ask(&router, &format!("/knowledge/doc?id={printer}"), t).await;
    assert_eq!(status, 200, "{passage}");
    assert_eq!(
        (passage["title"].as_str(), passage["heading"].as_str(), passage["private"].as_bool()),
        (Some("Printer manual"), Some("Paper jams"), Some(false))
    );
    assert!(passage["text"].as_str().unwrap().contains("pull the paper out"), "{passage}");
    let (status, whole) = ask(&router, &format!("/knowledge/doc?id={printer}&whole=true"), t).await;
    assert_eq!(status, 200, "{whole}");
    let headings: Vec<&str> =
        whole["passages"].as_array().unwrap().iter().map(|p| p["heading"].as_str().unwrap()).collect();
    assert_eq!(headings, ["", "Paper jams", "Toner"], "{whole}");
    assert_eq!(
        (whole["count"].as_u64(), whole["total"].as_u64(), whole["cut"].as_bool(), &whole["next"]),
        (Some(3), Some(3), Some(false), &Value::Null)
    );
    // Each passage names the next of its document; the last names none.
    let ids: Vec<&str> = whole["passages"].as_array().unwrap().iter().map(|p| p["id"].as_str().unwrap()).collect();
    assert_eq!(ids[1], printer);
    for (n, id) in ids.iter().enumerate() {
        let (_, one) = ask(&router, &format!("/knowledge/doc?id={id}"), t).await;
        assert_eq!(one["next"].as_str(), ids.get(n + 1).copied(), "{one}");
    }
    let (status, refused) = ask(&router, &format!("/knowledge/doc?id={printer}&whole=yes"), t).await;
    assert_eq!((status, field(&refused)), (400, Some("whole")), "{refused}");
    let (status, refused) = ask(&router, &format!("/knowledge/doc?id={printer}&path=/etc/passwd"), t).await;
    assert_eq!(status, 400, "{refused}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_hit_taints_its_session_only_and_the_code_it_served_cannot_leave_unseen() {
    let world = World::new();
    let router = world.router();
    let reader = world.session(Side::Open);
    let other = world.session(Side::Open);

    // The other session reads only the public manual: untainted.
    let (status, public) = ask(&router, "/knowledge/search?q=printer", Some(&other)).await;
    assert_eq!((status, ids_of(&public, "notes").len()), (200, 0), "{public}");
    assert_eq!(world.labels(&other), Vec::<Label>::new());

    // The reader finds the vault note: tainted with notes, before the answer.
    let (status, found) = ask(&router, "/knowledge/search?q=door+code", Some(&reader)).await;
    assert_eq!(status, 200, "{found}");
    let vault = &found["results"][0];
    assert_eq!((vault["source"].as_str(), vault["private"].as_bool()), (Some("notes"), Some(true)), "{found}");
    assert!(vault["snippet"].as_str().unwrap().contains(CODE), "{vault}");
    assert_eq!(world.labels(&reader), [Label::Notes]);
    assert_eq!(world.labels(&other), Vec::<Label>::new(), "the other session stays clean");
    // Reading the note again in whole changes nothing more; the other session reading it by id
    // is tainted in its turn.
    let id = vault["id"].as_str().unwrap().to_owned();
    let (status, note) = ask(&router, &format!("/knowledge/doc?id={id}&whole=true"), Some(&reader)).await;
    assert_eq!((status, note["private"].as_bool()), (200, Some(true)), "{note}");

    // The reader's internet actions now wait for the human, and one that carries the code is
    // denied by the code reviewer, naming the note.
    let reader_session = world.gate.session(Some(&reader)).unwrap();
    let mut leak = ActionRequest::new(Kind::WebSearch);
    leak.params.insert("query".into(), format!("door code {CODE}").into());
    let record = world.gate.submit(&reader_session, leak.clone()).unwrap();
    assert_eq!(record.state, State::Reviewing, "{:?}", record.reasons);
    let denied = world.gate.code_review(&record).unwrap().unwrap_or_default();
    assert!(denied.contains(CODE) && denied.contains("your private note \"Vault\" (notes, passage"), "{denied}");
    // The other session never saw it: the same search goes at once and the code reviewer has
    // nothing against it.
    let other_session = world.gate.session(Some(&other)).unwrap();
    let record = world.gate.submit(&other_session, leak).unwrap();
    assert_eq!(record.state, State::Approved, "{:?}", record.reasons);
    assert_eq!(world.gate.code_review(&record).unwrap(), None);

    // Public text is untrusted: a host it names is one the code reviewer will not let the
    // other session reach unseen.
    let mut help = ActionRequest::new(Kind::WebFetch);
    help.params.insert("url".into(), "http://printer-help.test/".into());
    let other_session = world.gate.session(Some(&other)).unwrap();
    let record = world.gate.submit(&other_session, help).unwrap();
    let why = world.gate.code_review(&record).unwrap().unwrap_or_default();
    assert!(why.contains("printer-help.test") && why.contains("of the public knowledge source manuals"), "{why}");

    // Read by id, the note taints the session that reads it.
    let third = world.session(Side::Open);
    let (status, note) = ask(&router, &format!("/knowledge/doc?id={id}"), Some(&third)).await;
    assert_eq!(status, 200, "{note}");
    assert!(note["text"].as_str().unwrap().contains(CODE), "{note}");
    assert_eq!(world.labels(&third), [Label::Notes]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_that_used_the_web_reads_public_sources_only() {
    let world = World::new();
    let router = world.router();
    let (_, found) = ask(&router, "/knowledge/search?q=door+code", None).await;
    let private_id = ids_of(&found, "notes")[0].clone();
    let (_, found) = ask(&router, "/knowledge/search?q=paper+jams", None).await;
    let public_id = ids_of(&found, "manuals")[0].clone();

    // One that searched the web (the gate moves it to the internet side), and one that was
    // started there.
    let searched = world.session(Side::Open);
    let mut search = ActionRequest::new(Kind::WebSearch);
    search.params.insert("query".into(), "weather".into());
    let session = world.gate.session(Some(&searched)).unwrap();
    assert_eq!(world.gate.submit(&session, search).unwrap().state, State::Approved);
    assert_eq!(world.gate.session(Some(&searched)).unwrap().side, Side::Internet);
    let started = world.session(Side::Internet);

    for token in [&searched, &started] {
        let t = Some(token.as_str());
        let (status, answer) = ask(&router, "/knowledge/search?q=door+code&limit=50", t).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["public_only"], true, "{answer}");
        assert!(answer["note"].as_str().unwrap().contains("only public sources"), "{answer}");
        assert!(ids_of(&answer, "notes").is_empty(), "a private passage reached the internet side: {answer}");
        assert!(!answer.to_string().contains(CODE), "{answer}");
        assert_eq!(ids_of(&answer, "manuals").len(), 15, "{answer}");

        let (status, refused) = ask(&router, "/knowledge/search?q=door&source=notes", t).await;
        assert_eq!((status, field(&refused)), (403, Some("source")), "{refused}");
        assert!(message(&refused).contains("is private") && message(&refused).contains("web search"), "{refused}");

        let (status, refused) = ask(&router, &format!("/knowledge/doc?id={private_id}"), t).await;
        assert_eq!((status, field(&refused)), (403, Some("id")), "{refused}");
        assert!(message(&refused).contains("private source notes"), "{refused}");
        assert!(!refused.to_string().contains(CODE), "{refused}");
        let (status, refused) = ask(&router, &format!("/knowledge/doc?id={private_id}&whole=true"), t).await;
        assert_eq!(status, 403, "{refused}");

        let (status, manual) = ask(&router, &format!("/knowledge/doc?id={public_id}"), t).await;
        assert_eq!(status, 200, "{manual}");
        assert_eq!(world.labels(token), Vec::<Label>::new(), "nothing private was read");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_waits_for_a_first_index_and_sees_each_run_without_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let gate = gate_in(data.path());
    let dir = Knowledge::dir_in(data.path());
    let router = router(&gate, Library::new(dir.clone()));
    for uri in ["/knowledge/search?q=tomatoes", "/knowledge/search", "/knowledge/doc?id=0123456789abcdef-0"] {
        let (status, waiting) = ask(&router, uri, None).await;
        assert_eq!(status, 503, "{uri}: {waiting}");
        assert!(message(&waiting).contains("no knowledge index yet") && message(&waiting).contains("sov know index"));
    }
    assert!(!dir.exists(), "the service created the store");

    // A first index, by another process's store, while the service runs.
    let notes = tempfile::tempdir().unwrap();
    write(notes.path(), "garden.md", "# Garden\n\nWater the tomatoes every morning.\n");
    let mut know = Knowledge::open(&dir).unwrap();
    know.add(notes.path(), Some("notes"), false).unwrap();
    know.index(None, &mut |_| {}).unwrap();
    let (status, found) = ask(&router, "/knowledge/search?q=tomatoes", None).await;
    assert_eq!((status, found["count"].as_u64()), (200, Some(1)), "{found}");

    // A note added and indexed, then the source removed: each search sees the last commit.
    write(notes.path(), "bees.md", "# Bees\n\nThe bees swarm in May.\n");
    know.index(None, &mut |_| {}).unwrap();
    let (_, found) = ask(&router, "/knowledge/search?q=swarm", None).await;
    assert_eq!(found["count"], 1, "{found}");
    know.remove("notes").unwrap();
    let (_, found) = ask(&router, "/knowledge/search?q=tomatoes", None).await;
    assert_eq!(found["count"], 0, "{found}");
}

async fn serve(router: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    base
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agents_knowledge_tools_search_and_read_over_a_real_socket() {
    let world = World::new();
    let tool = serve(world.router()).await;
    let token = world.session(Side::Open);
    let empty = tempfile::tempdir().unwrap();
    let no_index = serve(router(&world.gate, Library::new(Knowledge::dir_in(empty.path())))).await;
    let bare = serve(sov_toolapi::ToolApi::new(world.gate.clone(), "http://127.0.0.1:1").router()).await;
    let (tool_url, t) = (tool.clone(), token.clone());
    let outcome = tokio::task::spawn_blocking(move || {
        use sov_agent::services::{ToolApi, knowledge};
        let api = ToolApi::new(&tool_url, Some(t));
        let offered = |base: &str| knowledge::served(&ToolApi::new(base, None));
        let probes = (offered(&tool_url), offered(&no_index), offered(&bare));
        let [search, read] = knowledge::tools(&api);
        let found = search.run(r#"{"query": "door code", "limit": 2}"#).unwrap();
        let id = found.split("id ").nth(1).unwrap().split(' ').next().unwrap().to_owned();
        let note = read.run(&format!(r#"{{"id": "{id}", "whole": true}}"#)).unwrap();
        let path = read.run(r#"{"id": "/etc/passwd"}"#).unwrap_err().0;
        let syntax = search.run(r#"{"query": "\"front door"}"#).unwrap_err().0;
        let tools = sov_agent::Tools::new(std::env::temp_dir()).with_knowledge(&api).names();
        (probes, found, note, path, syntax, tools)
    })
    .await
    .unwrap();
    let ((here, waiting, absent), found, note, path, syntax, tools) = outcome;
    assert_eq!((here, waiting, absent), (true, false, false), "offered only where an index is");
    assert!(tools.ends_with(&["knowledge".to_owned(), "knowledge_read".to_owned()]), "{tools:?}");
    assert!(found.contains("quoted documents") && found.contains("· notes (private) ·"), "{found}");
    assert!(found.contains("**door**") && found.contains(CODE), "{found}");
    assert!(note.contains("## Front door") && note.contains(CODE), "{note}");
    assert!(path.contains("answered 400") && path.contains("not a passage id"), "{path}");
    assert!(syntax.contains("answered 400") && syntax.contains("cannot be parsed"), "{syntax}");
    assert_eq!(world.labels(&token), [Label::Notes]);
    // The same routes over the socket, behind the same guard: a browser gets nothing.
    let (status, _) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r =
            agent.get(format!("{tool}/knowledge/search?q=door")).header("origin", "http://evil.test").call().unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(status, 403, "a web page read the notes");
}

#[test]
fn the_shipped_skill_loads_as_pi_and_sov_agent_read_skills_and_names_the_served_routes() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../skills");
    let (skills, warnings) = sov_agent::context::skills(&[root]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let skill = skills.iter().find(|s| s.name == "knowledge").expect("skills/knowledge/SKILL.md");
    assert!(skill.description.contains("without the internet"), "{}", skill.description);
    let text = std::fs::read_to_string(&skill.path).unwrap();
    for said in ["/knowledge/search", "/knowledge/doc", "whole=true", "X-Sov-Session: $SOV_SESSION", "limit=5"] {
        assert!(text.contains(said), "{said}: {text}");
    }
}
