//! `sov doctor` through the real binary: on this machine, and with each problem made on purpose
//! (bubblewrap missing, a port taken, a data directory and a secret file others may read, a cut
//! model file), each named with its fix.

use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use serde_json::Value;

use super::harness::*;

fn doctor(world: &World) -> (Option<i32>, Vec<Value>) {
    let out = world.sov(&["doctor", "--json"]).stdin(Stdio::null()).output().unwrap();
    let findings: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&out), stderr(&out)));
    (out.status.code(), findings.as_array().unwrap().clone())
}

fn finding<'a>(findings: &'a [Value], check: &str) -> &'a Value {
    findings.iter().find(|f| f["check"] == check).unwrap_or_else(|| panic!("no {check} in {findings:#?}"))
}

/// Ports nothing else uses, so that a test never depends on what else runs on this machine.
const FREE_PORTS: &str =
    "[serve]\nlisten = \"127.0.0.1:0\"\n[gate]\ntool_listen = \"127.0.0.1:0\"\nconsole_listen = \"127.0.0.1:0\"\n";

#[test]
fn doctor_on_this_machine_passes_every_check_and_runs_a_real_sandbox() {
    let world = World::new();
    std::fs::write(world.home.path().join("config.toml"), FREE_PORTS).unwrap();
    let (code, findings) = doctor(&world);
    for check in ["bubblewrap", "user namespaces", "landlock", "seccomp", "sandbox", "data dir", "keystore", "models"] {
        finding(&findings, check);
    }
    let failed: Vec<&Value> = findings.iter().filter(|f| f["status"] == "fail").collect();
    assert!(failed.is_empty(), "{failed:#?}");
    assert_eq!(code, Some(0));
    assert_eq!(finding(&findings, "sandbox")["found"], "`sov sbox -- true` ran");
    assert_eq!(finding(&findings, "models")["status"], "warn");
    assert_eq!(finding(&findings, "route web")["found"], "Tor, in process");

    // The plain output says the same, a line a check, and that nothing is wrong.
    let out = world.sov(&["doctor"]).stdin(Stdio::null()).output().unwrap();
    let text = stdout(&out);
    assert!(text.contains("ok    bubblewrap") && text.ends_with("no problems found\n"), "{text}");
}

#[test]
fn doctor_names_each_problem_made_on_purpose_with_its_fix() {
    let world = World::new();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let data = world.home.path().join("data");
    std::fs::create_dir_all(data.join("models")).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    // A model cut short after its header's first fields, as an interrupted download leaves it.
    std::fs::write(data.join("models").join("cut.gguf"), b"GGUF\x03\x00\x00\x00\x01\x00").unwrap();
    let passphrase = world.home.path().join("passphrase");
    std::fs::write(&passphrase, "correct horse").unwrap();
    std::fs::set_permissions(&passphrase, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::write(
        world.home.path().join("config.toml"),
        format!(
            "[sandbox]\nbwrap = \"/nonexistent/bwrap\"\n[serve]\nlisten = \"{}\"\n[gate]\ntool_listen = \"127.0.0.1:0\"\nconsole_listen = \"127.0.0.1:0\"\n[wallet]\npassphrase_file = \"{}\"\n",
            taken.local_addr().unwrap(),
            passphrase.display()
        ),
    )
    .unwrap();

    let (code, findings) = doctor(&world);
    assert_eq!(code, Some(1), "{findings:#?}");
    let failed = |check: &str| {
        let f = finding(&findings, check);
        assert_eq!(f["status"], "fail", "{f:#}");
        (f["found"].as_str().unwrap().to_owned(), f["fix"].as_str().unwrap().to_owned())
    };
    let (found, fix) = failed("bubblewrap");
    assert!(found.contains("/nonexistent/bwrap") && fix.contains("bubblewrap"), "{found} / {fix}");
    assert!(findings.iter().all(|f| f["check"] != "sandbox"), "no sandbox run without bubblewrap");
    let (found, fix) = failed("port serve.listen");
    assert!(found.contains("taken by another program") && fix.contains("set serve.listen to a free port"), "{found}");
    let (found, fix) = failed("data dir");
    assert!(found.contains("mode 0755"), "{found}");
    assert_eq!(fix, format!("chmod 700 '{}'", data.display()));
    let (found, fix) = failed("wallet.passphrase_file");
    assert!(found.contains("mode 0644") && fix.starts_with(&format!("chmod 600 '{}'", passphrase.display())), "{fix}");
    let (found, fix) = failed("model cut");
    assert!(found.contains("truncated"), "{found}");
    assert_eq!(fix, "download the file again, or `sov models rm cut`");

    let out = world.sov(&["doctor"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).ends_with("5 problems found\n"), "{}", stdout(&out));
    drop(taken);
}
