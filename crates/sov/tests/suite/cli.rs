//! `sov config`, `sov audit` and `--help` through the real binary.

use super::harness::*;
use pretty_assertions::assert_eq;

#[test]
fn help_explains_every_subcommand() {
    let world = World::new();
    let out = world.sov(&["--help"]).output().unwrap();
    let text = stdout(&out);
    for word in ["sbox", "config", "audit", "sandbox rooted at the current directory"] {
        assert!(text.contains(word), "--help lacks {word}: {text}");
    }
    let out = world.sov(&["sbox", "--help"]).output().unwrap();
    assert!(stdout(&out).contains("--port <PORT>") && stdout(&out).contains("Exit status"), "{}", stdout(&out));
}

#[test]
fn config_show_prints_the_effective_defaults_and_init_writes_the_documented_file() {
    let world = World::new();
    let out = world.sov(&["config", "show"]).output().unwrap();
    assert!(
        stdout(&out).contains("[sandbox.profiles.agent]") && stdout(&out).contains("ports = ["),
        "{}",
        stdout(&out)
    );
    let out = world.sov(&["config", "init"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let written = std::fs::read_to_string(world.home.path().join("config.toml")).unwrap();
    assert_eq!(written, sov_core::config::DEFAULT_CONFIG_TOML);
    let out = world.sov(&["config", "init"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("already exists; pass --force"), "{}", stderr(&out));
}

#[test]
fn a_bad_config_file_is_named_with_its_line() {
    let world = World::new();
    std::fs::write(world.home.path().join("config.toml"), "[sandbox]\nbwarp = \"x\"\n").unwrap();
    let out = world.sov(&["config", "show"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("config.toml") && err.contains("bwarp") && err.contains("line 2"), "{err}");
}

#[test]
fn audit_verify_passes_an_intact_log_and_catches_an_edit() {
    let world = World::new();
    let data = world.home.path().join("data");
    {
        let store = sov_core::store::Store::open(&data.join("sovereign.db")).unwrap();
        let log = sov_core::audit::AuditLog::new(&store, Some(data.join("audit.head")));
        for i in 0..5 {
            log.append("human", "settings.change", &serde_json::json!({ "n": i })).unwrap();
        }
    }
    let out = world.sov(&["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("audit log intact: 5 entries"), "{}", stdout(&out));

    let out = world.sov(&["audit", "show", "--after", "3"]).output().unwrap();
    assert_eq!(stdout(&out).lines().count(), 2);

    let conn = rusqlite::Connection::open(data.join("sovereign.db")).unwrap();
    conn.execute_batch("DROP TRIGGER IF EXISTS audit_no_update; UPDATE audit SET detail = '{\"n\":99}' WHERE seq = 3;")
        .unwrap();
    drop(conn);
    let out = world.sov(&["audit", "verify"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("BROKEN at entry #3"), "{}", stdout(&out));
}
