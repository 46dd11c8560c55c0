//! `sov service`: the unit files it writes pass `systemd-analyze verify`, install and uninstall
//! put and remove them where systemd looks, and the NixOS module evaluates (Debian's
//! nix-instantiate, offline, on the stubs in nix/tests/) to the same command and hardening.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

use super::harness::*;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().parent().unwrap()
}

fn unit(world: &World, system: bool) -> String {
    let mut args = vec!["service", "print"];
    if system {
        args.push("--system");
    }
    let out = world.sov(&args).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out)
}

/// `Key=Value` lines of a unit's `[Service]` section.
fn service_section(unit: &str) -> Vec<(String, String)> {
    unit.split("[Service]\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

#[test]
fn generated_units_pass_systemd_analyze_verify() {
    let world = World::new();
    for system in [false, true] {
        let text = unit(&world, system);
        assert!(text.contains(&format!("ExecStart={} serve\n", sov_bin())), "{text}");
        let complaints = verify(&text);
        assert!(complaints.is_empty(), "system={system}: {complaints:?}");
    }
    // The check sees a bad file: a directive systemd does not know and a value it cannot read.
    let bad = unit(&world, false).replace("UMask=0077\n", "UMask=0077\nProtectSystm=strict\nProtectHome=sideways\n");
    assert_eq!(verify(&bad).len(), 2, "{:?}", verify(&bad));
}

/// What `systemd-analyze verify` says about the unit file `text`. Complaints about the account
/// not existing on this machine are not about the file.
fn verify(text: &str) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sovereign.service");
    std::fs::write(&path, text).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package; scripts/test.sh installs it)");
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains("sovereign.service"))
        .filter(|l| !l.contains("Failed to resolve user") && !l.contains("Failed to resolve group"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn install_without_start_writes_the_user_unit_where_systemd_looks_and_uninstall_removes_it() {
    let world = World::new();
    let out = world.sov(&["service", "install", "--no-start"]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let path = world.home.path().join(".config/systemd/user/sovereign.service");
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(written, unit(&world, false));
    assert!(written.contains(&format!("Environment=SOV_DATA_DIR={}\n", world.home.path().join("data").display())));
    assert!(stdout(&out).contains("systemctl --user enable --now sovereign.service"), "{}", stdout(&out));

    let out = world.sov(&["service", "uninstall"]).stdin(Stdio::null()).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!path.exists());
    let again = world.sov(&["service", "uninstall"]).stdin(Stdio::null()).output().unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("nothing to remove"), "{}", stderr(&again));
}

#[test]
fn the_nixos_module_evaluates_to_the_units_command_and_hardening() {
    let nix = repo().join("nix");
    for file in ["package.nix", "module.nix", "tests/lib-stub.nix", "tests/eval.nix", "../flake.nix"] {
        let out = Command::new("nix-instantiate")
            .args(["--parse", "--store", "dummy://"])
            .arg(nix.join(file))
            .stdout(Stdio::null())
            .output()
            .expect("nix-instantiate (Debian's nix-bin; scripts/test.sh installs it)");
        assert!(out.status.success(), "{file}: {}", String::from_utf8_lossy(&out.stderr));
    }
    let out = Command::new("nix-instantiate")
        .args(["--eval", "--strict", "--json", "--store", "dummy://"])
        .arg(nix.join("tests/eval.nix"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let eval: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(eval["enabled"], true);
    assert_eq!(eval["firewall"], serde_json::json!([9100]));
    assert_eq!(eval["package"]["rustflags"], "", "the package is not tuned to the building CPU");
    assert_eq!(eval["package"]["cargoBuildFlags"], serde_json::json!(["-p", "sov", "-p", "sov-sbox"]));

    let world = World::new();
    let system = service_section(&unit(&world, true));
    let nixos = &eval["services"]["sovereign"];
    let config = nixos["serviceConfig"].as_object().unwrap();
    for (key, value) in &system {
        let want = match key.as_str() {
            // The binary is the store's; the arguments are the same.
            "ExecStart" => value.replacen(sov_bin(), "/nix/store/stub-sovereign/bin/sov", 1),
            "Environment" => continue,
            _ => value.clone(),
        };
        assert_eq!(config.get(key).and_then(Value::as_str), Some(want.as_str()), "{key}");
    }
    // And nothing the other way round, but for the knowledge folders only the module knows.
    for key in config.keys() {
        assert!(key == "BindReadOnlyPaths" || system.iter().any(|(k, _)| k == key), "{key} only in the module");
    }
    let env: Vec<&(String, String)> = system.iter().filter(|(k, _)| k == "Environment").collect();
    assert!(env.iter().any(|(_, v)| v == "SOV_DATA_DIR=/var/lib/sovereign"));
    assert_eq!(nixos["environment"]["SOV_DATA_DIR"], "/var/lib/sovereign");
    assert_eq!(
        eval["services"]["sovereign-provider"]["serviceConfig"]["ExecStart"],
        "/nix/store/stub-sovereign/bin/sov provider"
    );
}
