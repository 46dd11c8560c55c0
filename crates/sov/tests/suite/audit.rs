//! The audit log when `sov serve` starts and in `sov audit verify --anchor`, through the real
//! binary: a tampered log stops the server (unless accepted, which is logged), dropped triggers
//! come back, and a head anchored outside the data directory catches a cut log.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::json;
use sov_core::audit::{AuditEntry, AuditLog, AuditVerdict};
use sov_core::store::Store;

use super::harness::{World, stderr, stdout};

fn data(world: &World) -> PathBuf {
    world.home.path().join("data")
}

/// A config for `sov serve --lazy`; `extra` is appended. The one model is never loaded here.
fn write_config(world: &World, extra: &str) {
    let models = world.home.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    std::fs::write(models.join("reviewer.gguf"), "never loaded").unwrap();
    let config = format!("[engine]\nmodels_dir = \"{}\"\n{extra}", models.display());
    std::fs::write(world.home.path().join("config.toml"), config).unwrap();
}

/// Appends `n` entries to the world's audit log, as the daemons do.
fn fill(world: &World, n: usize) -> Vec<AuditEntry> {
    let data = data(world);
    let store = Store::open(&data.join("sovereign.db")).unwrap();
    let log = AuditLog::new(&store, Some(data.join("audit.head")));
    (0..n).map(|i| log.append("human", "settings.change", &json!({ "n": i })).unwrap()).collect()
}

fn entries(world: &World) -> Vec<AuditEntry> {
    let data = data(world);
    let store = Store::open(&data.join("sovereign.db")).unwrap();
    AuditLog::new(&store, Some(data.join("audit.head"))).entries(0, usize::MAX).unwrap()
}

/// SQL on the database the way an attacker with the file would run it (sqlite3).
fn raw_sql(world: &World, sql: &str) {
    let conn = rusqlite::Connection::open(data(world).join("sovereign.db")).unwrap();
    conn.execute_batch(sql).unwrap();
}

fn update_is_refused(world: &World) -> bool {
    let conn = rusqlite::Connection::open(data(world).join("sovereign.db")).unwrap();
    // A no-op UPDATE: refused by the trigger, and harmless to the chain without it.
    conn.execute("UPDATE audit SET actor = actor WHERE seq = 1", []).is_err()
}

/// `sov serve` started on the world: `Ok` once it is listening, `Err((exit code, stderr))` when
/// it ended without.
fn serve(world: &World, extra: &[&str]) -> Result<Child, (Option<i32>, String)> {
    serve_with_console(world, extra).map(|(child, _)| child)
}

/// [`serve`], and the console's URL.
fn serve_with_console(world: &World, extra: &[&str]) -> Result<(Child, String), (Option<i32>, String)> {
    let log = world.home.path().join("serve.log");
    let mut args =
        vec!["serve", "--listen", "127.0.0.1:0", "--tool-listen", "127.0.0.1:0", "--console-listen", "127.0.0.1:0"];
    args.push("--lazy");
    args.extend_from_slice(extra);
    let mut child =
        world.sov(&args).stdout(Stdio::piped()).stderr(std::fs::File::create(&log).unwrap()).spawn().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    if line.starts_with("sov serve: tool API on ") {
        line.clear();
        stdout.read_line(&mut line).unwrap();
        let console = line.trim().strip_prefix("sov serve: console on ").and_then(|r| r.split(' ').next());
        let console = console.unwrap_or_else(|| panic!("no console line: {line:?}")).to_owned();
        return Ok((child, console));
    }
    let status = child.wait().unwrap();
    Err((status.code(), std::fs::read_to_string(&log).unwrap_or_default()))
}

fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn serve_refuses_an_edited_log_naming_the_entry_and_starts_when_told_recording_that() {
    let world = World::new();
    write_config(&world, "");
    fill(&world, 5);
    raw_sql(
        &world,
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;
         UPDATE audit SET detail = '{\"n\":99}' WHERE seq = 3;",
    );
    let (code, err) = serve(&world, &[]).map(stop).expect_err("sov serve started on an edited audit log");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("audit log is broken at entry 3"), "{err}");
    assert!(err.contains("changed after it was written") && err.contains("--accept-broken-audit"), "{err}");
    assert_eq!(entries(&world).len(), 5, "a refused start records nothing");

    let child = serve(&world, &["--accept-broken-audit"]).unwrap_or_else(|(c, e)| panic!("exit {c:?}: {e}"));
    stop(child);
    let log = entries(&world);
    let accepted = log.iter().find(|e| e.action == "audit.accepted_broken").expect("the acceptance is logged");
    assert_eq!((accepted.actor.as_str(), accepted.detail["seq"].clone()), ("user", json!(3)));
    assert_eq!(accepted.detail["problem"]["problem"], "edited_entry");
    assert!(log.iter().any(|e| e.action == "audit.triggers_restored"), "{log:?}");
    assert!(update_is_refused(&world), "the append-only triggers are back");
    let out = world.sov(&["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "the break stays visible: {}", stdout(&out));
    assert!(stdout(&out).contains("BROKEN at entry #3"), "{}", stdout(&out));
    // Accepted once: the next start does not ask again.
    stop(serve(&world, &[]).unwrap_or_else(|(c, e)| panic!("exit {c:?}: {e}")));
}

#[test]
fn serve_puts_dropped_triggers_back_on_an_intact_log_and_anchors_its_head() {
    let world = World::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let anchor = elsewhere.path().join("sov.anchor");
    write_config(&world, &format!("[audit]\nanchor_file = \"{}\"\n", anchor.display()));
    fill(&world, 3);
    raw_sql(&world, "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;");
    assert!(!update_is_refused(&world), "control: without the triggers an UPDATE goes through");
    stop(serve(&world, &[]).unwrap_or_else(|(c, e)| panic!("exit {c:?}: {e}")));
    assert!(update_is_refused(&world), "UPDATE on the audit table must fail after the start");
    let log = entries(&world);
    let restored = log.iter().find(|e| e.action == "audit.triggers_restored").expect("logged");
    assert_eq!(restored.detail["restored"], json!(["audit_no_update", "audit_no_delete"]));
    let anchored = std::fs::read_to_string(&anchor).unwrap();
    let last = log.last().unwrap();
    assert!(anchored.ends_with(&format!(" {} {}\n", last.seq, last.hash)), "{anchored}");
    assert_eq!(anchored.lines().count(), 1);
}

#[test]
fn audit_verify_anchor_catches_a_cut_log_whose_head_file_was_rewritten() {
    let world = World::new();
    let elsewhere = tempfile::tempdir().unwrap();
    let anchor = elsewhere.path().join("sov.anchor");
    write_config(&world, &format!("[audit]\nanchor_file = \"{}\"\n", anchor.display()));
    let appended = fill(&world, 10);
    let out = world.sov(&["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}{}", stdout(&out), stderr(&out));
    let head = format!(" 10 {}", appended[9].hash);
    assert!(stdout(&out).lines().any(|l| l.starts_with("head: ") && l.ends_with(&head)), "{}", stdout(&out));
    assert!(std::fs::read_to_string(&anchor).unwrap().ends_with(&format!("{head}\n")));

    // Cut entries 8-10, and rewrite audit.head (and the start check's checkpoint) to match.
    raw_sql(
        &world,
        "DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete; DELETE FROM audit WHERE seq >= 8;
         CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
         CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    );
    let cut_head = format!("7 {}\n", appended[6].hash);
    std::fs::write(data(&world).join("audit.head"), &cut_head).unwrap();
    std::fs::write(data(&world).join("audit.verified"), &cut_head).unwrap();
    {
        // Control: the data directory alone is consistent.
        let store = Store::open(&data(&world).join("sovereign.db")).unwrap();
        let verdict = AuditLog::new(&store, Some(data(&world).join("audit.head"))).verify().unwrap();
        assert!(matches!(verdict, AuditVerdict::Intact { entries: 7, .. }), "{verdict:?}");
    }
    // With the anchor named explicitly and no anchor_file configured.
    write_config(&world, "");
    let out = world.sov(&["audit", "verify", "--anchor", anchor.to_str().unwrap()]).output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("BROKEN at entry #8") && text.contains("line 1") && text.contains("no longer part of it"),
        "{text}"
    );
    // The server refuses too, when the anchor file is configured.
    write_config(&world, &format!("[audit]\nanchor_file = \"{}\"\n", anchor.display()));
    let (code, err) = serve(&world, &[]).map(stop).expect_err("sov serve started on a cut log");
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("broken at entry 8"), "{err}");
    assert!(Path::new(&anchor).exists());
}

#[test]
fn the_console_audit_page_shows_the_head_to_keep_elsewhere() {
    let world = World::new();
    write_config(&world, "");
    fill(&world, 4);
    let (child, console) = serve_with_console(&world, &[]).unwrap_or_else(|(c, e)| panic!("exit {c:?}: {e}"));
    let out = world.sov(&["console", "--console-listen", console.trim_start_matches("http://")]).output().unwrap();
    let link = stdout(&out).trim().to_owned();
    let (base, token) = link.split_once("/login#").unwrap_or_else(|| panic!("not a login link: {link}"));
    assert_eq!(base, console);
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).max_redirects(0).build().into();
    let browser = "SovereignTestBrowser/1.0";
    let response = agent
        .post(&format!("{base}/login"))
        .header("user-agent", browser)
        .send_form([("token", token), ("next", "/")])
        .unwrap();
    let cookie = response.headers().get("set-cookie").unwrap().to_str().unwrap();
    let cookie = cookie.split(';').next().unwrap().to_owned();
    let mut page =
        agent.get(&format!("{base}/audit")).header("user-agent", browser).header("cookie", &cookie).call().unwrap();
    let html = page.body_mut().read_to_string().unwrap();
    stop(child);
    let last = entries(&world).last().unwrap().clone();
    let head = html.split("id=\"audit-head\"").nth(1).unwrap_or_else(|| panic!("no head on the page: {html}"));
    assert!(head.contains(&format!("{} entries", last.seq)) && head.contains(&last.hash), "{html}");
}

#[test]
fn a_closed_stdout_does_not_end_sov_serve() {
    // A script that reads the lines it waits for and closes the pipe: sov serve wrote its start
    // lines with println!, which panics on a closed stdout, and the daemon died (a race that a
    // loaded CI machine lost). Here the pipe is closed before sov serve writes anything.
    let world = World::new();
    write_config(&world, "");
    let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();
    let (llm, tool, console) = (free(), free(), free());
    let mut child = world
        .sov(&["serve", "--lazy", "--listen", &llm, "--tool-listen", &tool, "--console-listen", &console])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut answered = None;
    for _ in 0..100 {
        if let Ok(response) = agent.get(&format!("http://{console}/login")).call() {
            answered = Some(response.status());
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    let alive = child.try_wait().unwrap().is_none();
    stop(child);
    assert!(alive, "sov serve ended when its stdout closed");
    assert_eq!(answered.map(|s| s.as_u16()), Some(200));
}
