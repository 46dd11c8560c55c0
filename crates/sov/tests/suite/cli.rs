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

#[test]
fn msg_accounts_keep_passwords_out_of_argv_output_and_logs() {
    let world = World::new();
    let password_file = world.work().join("pw");
    std::fs::write(&password_file, "s3cret-pass\n").unwrap();
    let add = |extra: &[&str]| {
        let mut args = vec!["msg", "email", "add", "Me@Example.org", "--imap-host", "imap.example.org"];
        args.extend_from_slice(extra);
        world.sov(&args).arg("-vv").stdin(std::process::Stdio::null()).output().unwrap()
    };
    let out = add(&[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("--password-file"),
        "no terminal: it must say how to give the password: {}",
        stderr(&out)
    );
    let out = add(&["--password-file", password_file.to_str().unwrap(), "--imap-tls", "plain"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unencrypted"), "{}", stderr(&out));
    let out = add(&["--password-file", password_file.to_str().unwrap(), "--folder", "INBOX", "--folder", "Lists/Rust"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("added me@example.org (IMAP imap.example.org:993 tls, SMTP imap.example.org:465 tls"),
        "{}",
        stdout(&out)
    );
    let list = world.sov(&["msg", "email", "list"]).output().unwrap();
    assert!(stdout(&list).starts_with("me@example.org\t"), "{}", stdout(&list));
    for text in [stdout(&out), stderr(&out), stdout(&list), stderr(&list)] {
        assert!(!text.contains("s3cret-pass"), "{text}");
    }
    let secret = world.home.path().join("data/secrets/email-me@example.org");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&secret).unwrap().permissions().mode() & 0o777, 0o600);
    let db = std::fs::read(world.home.path().join("data/sovereign.db")).unwrap();
    assert!(!String::from_utf8_lossy(&db).contains("s3cret-pass"), "the password must not be in the database");

    let out = world.sov(&["msg", "email", "remove", "ME@example.org"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!secret.exists());
    let out = world.sov(&["msg", "email", "remove", "me@example.org"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("sov msg email list"), "{}", stderr(&out));
}

#[test]
fn msg_signal_link_runs_signal_cli_shows_the_link_and_adds_the_number() {
    // signal-cli itself cannot link without the Signal network: its stand-in answers `link`.
    let world = World::new();
    let standin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../msg/tests/support/signal_cli_standin.py");
    let wrapper = world.work().join("signal-cli");
    std::fs::write(&wrapper, format!("#!/bin/sh\nexec python3 {} \"$@\"\n", standin.display())).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::write(world.home.path().join("config.toml"), format!("[msg]\nsignal_cli = \"{}\"\n", wrapper.display()))
        .unwrap();
    let out = world
        .sov(&["msg", "signal", "link", "--name", "laptop"])
        .env("SIGNAL_CLI_STANDIN_LINK_NUMBER", "+15550000009")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}\n{}", stdout(&out), stderr(&out));
    assert!(stdout(&out).contains("sgnl://linkdevice?uuid="), "{}", stdout(&out));
    assert!(stdout(&out).contains("linked and added +15550000009"), "{}", stdout(&out));
    let list = world.sov(&["msg", "signal", "list"]).output().unwrap();
    assert_eq!(stdout(&list), "+15550000009\tsignal-cli JSON-RPC at 127.0.0.1:7583\n");
    let out = world.sov(&["msg", "signal", "add", "555 0000"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("E.164"), "{}", stderr(&out));
}
