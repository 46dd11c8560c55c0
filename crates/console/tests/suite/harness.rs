//! A console on a loopback port of its own, over a real gate on a database in a temporary
//! directory, and a plain HTTP client that follows no redirect and keeps no cookie.

use std::path::PathBuf;
use std::sync::Arc;

use sov_console::chat::ChatEngine;
use sov_console::console::{COOKIE, Console};
use sov_core::store::Store;
use sov_gate::{Gate, Policy};

pub const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) SovereignTestBrowser/1.0";

pub struct Harness {
    pub dir: tempfile::TempDir,
    pub gate: Arc<Gate>,
    pub base: String,
    runtime: tokio::runtime::Runtime,
}

pub struct Answer {
    pub status: u16,
    pub content_type: Option<String>,
    pub csp: Option<String>,
    pub location: Option<String>,
    pub set_cookie: Option<String>,
    pub body: String,
}

impl Harness {
    /// A console on a fresh database.
    pub fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        Harness::start_in(dir)
    }

    /// A console on the database in `dir` (a restart, when another console used it before).
    pub fn start_in(dir: tempfile::TempDir) -> Harness {
        Harness::start_with(dir, None)
    }

    /// A console with the chat page asking `engine`.
    pub fn start_chat(engine: Arc<dyn ChatEngine>) -> Harness {
        Harness::start_with(tempfile::tempdir().unwrap(), Some(engine))
    }

    fn start_with(dir: tempfile::TempDir, engine: Option<Arc<dyn ChatEngine>>) -> Harness {
        let (db, head) = (dir.path().join("sovereign.db"), dir.path().join("audit.head"));
        let gate = Arc::new(Gate::new(Store::open(&db).unwrap(), Some(head.clone()), Policy::default()));
        let mut console = Console::new(gate.clone(), db, head);
        if let Some(engine) = engine {
            console = console.with_chat(engine);
        }
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        runtime.spawn(async move { axum::serve(listener, console.router()).await });
        Harness { dir, gate, base, runtime }
    }

    /// Stops this console and starts another on the same database.
    pub fn restart(self) -> Harness {
        let Harness { dir, gate, runtime, .. } = self;
        runtime.shutdown_background();
        drop(gate);
        Harness::start_in(dir)
    }

    pub fn db(&self) -> PathBuf {
        self.dir.path().join("sovereign.db")
    }

    /// What `sov console` does: a login link's token, minted `age_ms` ago.
    pub fn mint(&self, age_ms: i64) -> String {
        let store = Store::open(&self.db()).unwrap();
        let token =
            sov_console::login::mint(&store, Some(self.dir.path().join("audit.head")), sov_core::now_ms() - age_ms)
                .unwrap();
        token.expose().to_owned()
    }

    pub fn get(&self, path: &str, user_agent: &str, cookie: Option<&str>) -> Answer {
        let mut request = agent().get(&format!("{}{path}", self.base)).header("user-agent", user_agent);
        if let Some(cookie) = cookie {
            request = request.header("cookie", &format!("{COOKIE}={cookie}"));
        }
        answer(request.call().unwrap())
    }

    /// A form POST whose body is sent exactly as given (already URL-encoded).
    pub fn post(&self, path: &str, body: &str, user_agent: &str, cookie: Option<&str>) -> Answer {
        self.post_with(path, body, user_agent, cookie, &[])
    }

    /// [`Harness::post`] with more headers (`Origin`, say).
    pub fn post_with(
        &self,
        path: &str,
        body: &str,
        user_agent: &str,
        cookie: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut request = agent()
            .post(&format!("{}{path}", self.base))
            .header("user-agent", user_agent)
            .content_type("application/x-www-form-urlencoded");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(cookie) = cookie {
            request = request.header("cookie", &format!("{COOKIE}={cookie}"));
        }
        answer(request.send(body).unwrap())
    }

    /// Logs in with a fresh link as `user_agent`; the session cookie's value.
    pub fn log_in(&self, user_agent: &str) -> String {
        let token = self.mint(0);
        let answer = self.post("/login", &format!("token={token}"), user_agent, None);
        assert_eq!(answer.status, 303, "{}", answer.body);
        session_of(&answer).unwrap()
    }

    pub fn audit_actions(&self) -> Vec<String> {
        let store = Store::open(&self.db()).unwrap();
        let log = sov_core::audit::AuditLog::new(&store, Some(self.dir.path().join("audit.head")));
        log.entries(0, 10_000).unwrap().into_iter().map(|e| e.action).collect()
    }
}

/// The session id a login answer sets.
pub fn session_of(answer: &Answer) -> Option<String> {
    let cookie = answer.set_cookie.as_deref()?;
    let value = cookie.strip_prefix(&format!("{COOKIE}="))?.split(';').next()?;
    Some(value.to_owned())
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into()
}

fn answer(mut response: ureq::http::Response<ureq::Body>) -> Answer {
    let header = |name: &str| response.headers().get(name).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let (location, set_cookie) = (header("location"), header("set-cookie"));
    let (content_type, csp) = (header("content-type"), header("content-security-policy"));
    Answer {
        status: response.status().as_u16(),
        content_type,
        csp,
        location,
        set_cookie,
        body: response.body_mut().read_to_string().unwrap(),
    }
}
