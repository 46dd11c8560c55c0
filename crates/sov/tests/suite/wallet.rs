//! `sov wallet …` (the Ethereum accounts' keystore) through the real binary: the commands, and
//! that passphrases and keys stay out of argv, output, logs and the data directory.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use super::harness::*;
use pretty_assertions::assert_eq;

const PASSPHRASE: &str = "cli-test passphrase 7f3a";
const ANVIL_KEY: &str = "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
const ANVIL_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

fn secret_file(world: &World, name: &str, text: &str, mode: u32) -> PathBuf {
    let path = world.work().join(name);
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    path
}

fn wallet(world: &World, args: &[&str]) -> Output {
    let mut all = vec!["wallet"];
    all.extend_from_slice(args);
    world.sov(&all).arg("-vv").stdin(Stdio::null()).output().unwrap()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../wallet/tests/fixtures").join(name)
}

fn data_dir(world: &World) -> PathBuf {
    world.home.path().join("data")
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten() {
        let path = entry.unwrap().path();
        if path.is_dir() { files.extend(files_under(&path)) } else { files.push(path) }
    }
    files
}

fn assert_no_secret(texts: &[String]) {
    for text in texts {
        for secret in [PASSPHRASE, ANVIL_KEY] {
            assert!(!text.contains(secret), "a secret leaked into: {text}");
        }
    }
}

#[test]
fn wallet_help_says_it_is_the_ethereum_keystore_and_not_the_zkapi_credits() {
    let world = World::new();
    // Help text is wrapped to the terminal: compare with the line breaks folded.
    let unwrapped = |out: &Output| stdout(out).split_whitespace().collect::<Vec<_>>().join(" ");
    let out = world.sov(&["wallet", "--help"]).output().unwrap();
    let text = unwrapped(&out);
    for words in ["Ethereum accounts", "not the ZK-API credits", "sov zkapi", "never taken on the command line"] {
        assert!(text.contains(words), "--help lacks {words:?}: {text}");
    }
    for cmd in ["new", "import", "list", "default"] {
        assert!(text.contains(cmd), "{text}");
    }
    let out = world.sov(&["wallet", "import", "--help"]).output().unwrap();
    let text = unwrapped(&out);
    assert!(text.contains("--key-file <FILE>") && text.contains("--keystore <FILE>"), "{text}");
    assert!(text.contains("chmod 600 FILE"), "{text}");
}

#[test]
fn wallet_new_import_list_default_through_the_real_binary() {
    let world = World::new();
    let pw = secret_file(&world, "pw", &format!("{PASSPHRASE}\n"), 0o600);
    let key = secret_file(&world, "key", &format!("0x{ANVIL_KEY}\n"), 0o600);
    let cast_pw = secret_file(&world, "cast-pw", "foundry pass", 0o600);
    let mut outputs = Vec::new();
    let mut record = |out: &Output| outputs.extend([stdout(out), stderr(out)]);

    let out = wallet(&world, &["list"]);
    record(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no accounts yet: run `sov wallet new`"), "{}", stderr(&out));
    assert!(!data_dir(&world).join("wallet").exists(), "list creates nothing");

    let out = wallet(&world, &["new", "--passphrase-file", pw.to_str().unwrap()]);
    record(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    let created = stdout(&out);
    assert!(created.starts_with("created 0x") && created.contains("(the default account)"), "{created}");
    let first = created["created ".len().."created ".len() + 42].to_owned();

    let out =
        wallet(&world, &["import", "--key-file", key.to_str().unwrap(), "--passphrase-file", pw.to_str().unwrap()]);
    record(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with(&format!("imported {ANVIL_ADDRESS}\n")), "{}", stdout(&out));
    let out =
        wallet(&world, &["import", "--key-file", key.to_str().unwrap(), "--passphrase-file", pw.to_str().unwrap()]);
    record(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is in the keystore already"), "{}", stderr(&out));

    let cast_file = fixture("cast-1.7.1-anvil1.json");
    let out = wallet(
        &world,
        &["import", "--keystore", cast_file.to_str().unwrap(), "--passphrase-file", pw.to_str().unwrap()],
    );
    record(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("wrong passphrase for the keystore file"), "{}", stderr(&out));
    let out = wallet(
        &world,
        &["import", "--keystore", cast_file.to_str().unwrap(), "--passphrase-file", cast_pw.to_str().unwrap()],
    );
    record(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("imported 0x70997970C51812dc3A010C7d01b50e0d17dc79C8\n"), "{}", stdout(&out));

    let out = wallet(&world, &["list"]);
    record(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let listed: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert_eq!(listed[0], format!("{first}\tdefault"));
    assert!(listed.contains(&ANVIL_ADDRESS.to_owned()), "{listed:?}");

    let out = wallet(&world, &["default", &ANVIL_ADDRESS.to_lowercase()]);
    record(&out);
    assert_eq!(stdout(&out), format!("default account: {ANVIL_ADDRESS}\n"), "{}", stderr(&out));
    let out = wallet(&world, &["default"]);
    assert_eq!(stdout(&out), format!("{ANVIL_ADDRESS}\n"));
    let out = wallet(&world, &["list"]);
    record(&out);
    assert!(stdout(&out).contains(&format!("{ANVIL_ADDRESS}\tdefault\n")), "{}", stdout(&out));
    assert!(stdout(&out).starts_with(&format!("{first}\n")), "{}", stdout(&out));

    let out = wallet(&world, &["default", "0x0000000000000000000000000000000000000001"]);
    record(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("no account 0x0000000000000000000000000000000000000001 in the keystore"),
        "{}",
        stderr(&out)
    );
    // A key pasted where an address belongs is refused without being repeated.
    let out = wallet(&world, &["default", &format!("0x{ANVIL_KEY}")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("not an Ethereum address"), "{}", stderr(&out));
    assert!(!stderr(&out).contains(ANVIL_KEY), "{}", stderr(&out));

    // No flag takes the key or the passphrase itself.
    for flag in ["--key", "--private-key", "--passphrase", "--password"] {
        let out = wallet(&world, &["import", flag, ANVIL_KEY]);
        assert_eq!(out.status.code(), Some(2), "{flag} must not exist: {}", stderr(&out));
    }

    assert_no_secret(&outputs);
    let keystore = data_dir(&world).join("wallet/keystore");
    let files = files_under(&data_dir(&world));
    assert!(files.iter().filter(|f| f.starts_with(&keystore)).count() == 3, "{files:?}");
    for file in &files {
        let text = String::from_utf8_lossy(&std::fs::read(file).unwrap()).into_owned();
        assert_no_secret(&[text]);
        if file.starts_with(&keystore) {
            assert_eq!(std::fs::metadata(file).unwrap().permissions().mode() & 0o777, 0o600, "{}", file.display());
        }
    }
    assert_eq!(std::fs::metadata(&keystore).unwrap().permissions().mode() & 0o777, 0o700);
}

#[test]
fn secret_files_others_may_read_are_refused_and_nothing_is_created() {
    let world = World::new();
    let pw = secret_file(&world, "pw", PASSPHRASE, 0o644);
    let out = wallet(&world, &["new", "--passphrase-file", pw.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains(&format!("run `chmod 600 {}`", pw.display())) && err.contains("mode 0644"), "{err}");
    assert!(!data_dir(&world).join("wallet").exists(), "nothing may be created");

    let key = secret_file(&world, "key", ANVIL_KEY, 0o640);
    let good_pw = secret_file(&world, "good-pw", PASSPHRASE, 0o600);
    let out = wallet(
        &world,
        &["import", "--key-file", key.to_str().unwrap(), "--passphrase-file", good_pw.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains(&format!("run `chmod 600 {}`", key.display())), "{}", stderr(&out));
    assert!(!data_dir(&world).join("wallet").exists(), "nothing may be created");

    // Without a terminal and without a file, it says which flag to use.
    let out = wallet(&world, &["new"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("no terminal to ask for the passphrase: pass --passphrase-file"), "{}", stderr(&out));
    let out = wallet(&world, &["import"]);
    assert!(stderr(&out).contains("no terminal to ask for the key: pass --key-file"), "{}", stderr(&out));
    assert_no_secret(&[stdout(&out), stderr(&out)]);
}

#[test]
fn garbage_and_truncated_keystore_files_are_clear_errors() {
    let world = World::new();
    let pw = secret_file(&world, "pw", "foundry pass", 0o600);
    let good = std::fs::read_to_string(fixture("cast-1.7.1-anvil1.json")).unwrap();
    let cases = [
        ("truncated.json", good[..good.len() / 2].to_owned(), "it is not JSON"),
        ("garbage.bin", "\u{7f}ELF\u{2}\u{1}\u{1}garbage".to_owned(), "it is not JSON"),
        ("plain-key.txt", format!("\"0x{ANVIL_KEY}\""), "it is not a JSON object"),
        ("empty.json", "{}".to_owned(), "it is not version 3"),
    ];
    for (name, text, reason) in cases {
        let path = world.work().join(name);
        std::fs::write(&path, text).unwrap();
        let out = wallet(
            &world,
            &["import", "--keystore", path.to_str().unwrap(), "--passphrase-file", pw.to_str().unwrap()],
        );
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        assert!(err.contains(&format!("{} is not a keystore file: {reason}", path.display())), "{name}: {err}");
        assert!(!err.contains("panicked") && !err.contains(ANVIL_KEY), "{name}: {err}");
    }
    let out = wallet(
        &world,
        &["import", "--keystore", "/nonexistent/keystore.json", "--passphrase-file", pw.to_str().unwrap()],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/nonexistent/keystore.json"), "{}", stderr(&out));
    let out = wallet(&world, &["list"]);
    assert!(stderr(&out).contains("no accounts yet"), "{}", stderr(&out));
}

/// The passphrase travels through a pipe the user's shell could have made
/// (`--passphrase-file <(pass show wallet)`): while `sov` waits on it, its argv and environment
/// (what `ps` and /proc show) carry only the pipe's path.
#[test]
fn the_passphrase_is_never_in_the_process_argv_or_environment() {
    let world = World::new();
    let fifo = world.work().join("pw.fifo");
    let made = std::process::Command::new("mkfifo").args(["-m", "600"]).arg(&fifo).status().unwrap();
    assert!(made.success());
    let child = world
        .sov(&["wallet", "new", "--passphrase-file", fifo.to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let proc_dir = PathBuf::from(format!("/proc/{}", child.id()));
    // Wait until the child has exec'd `sov` (before, /proc shows this test binary).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let cmdline = loop {
        let cmdline = std::fs::read(proc_dir.join("cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains("wallet") {
            break cmdline;
        }
        assert!(std::time::Instant::now() < deadline, "sov did not start");
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let environ = std::fs::read(proc_dir.join("environ")).unwrap_or_default();
    // Now give the passphrase through the pipe.
    std::fs::write(&fifo, PASSPHRASE).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).starts_with("created 0x"), "{}", stdout(&out));
    assert_no_secret(&[
        String::from_utf8_lossy(&cmdline).into_owned(),
        String::from_utf8_lossy(&environ).into_owned(),
        stdout(&out),
        stderr(&out),
    ]);
    assert!(String::from_utf8_lossy(&cmdline).contains("pw.fifo"));
}
