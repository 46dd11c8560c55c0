//! The private remote path's checks as a user runs them: `sov attest verify` on the real
//! vendor-signed samples in `shared/testdata/tee`, and `sov sanitize`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn tee_data(rel: &str) -> String {
    let dir = std::env::var_os("SOV_TEST_TEE_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/tee"), PathBuf::from);
    dir.join(rel).to_string_lossy().into_owned()
}

/// `sov ARGS` with `config` as its config file and `stdin` as input.
fn sov(home: &Path, config: &str, args: &[&str], stdin: &str) -> Output {
    std::fs::write(home.join("config.toml"), config).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_sov"))
        .args(args)
        .env("HOME", home)
        .env("SOV_CONFIG", home.join("config.toml"))
        .env("SOV_DATA_DIR", home.join("data"))
        .env_remove("RUST_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_genuine_tdx_quote_verifies_only_inside_its_window_and_only_with_its_measurements_allowed() {
    let home = tempfile::tempdir().unwrap();
    let (quote, collateral) = (tee_data("tdx/tdx_quote"), tee_data("tdx/tdx_quote_collateral.json"));
    let at = "2025-07-01T00:00:00Z";
    let verify = |config: &str, extra: &[&str]| {
        let mut args = vec!["attest", "verify", &quote, "--collateral", &collateral];
        args.extend_from_slice(extra);
        sov(home.path(), config, &args, "")
    };

    // The default policy trusts no image: genuine, but refused, naming the register to allow.
    let refused = verify("", &["--at", at]);
    let (_, why) = text(&refused);
    assert_eq!(refused.status.code(), Some(1), "{why}");
    assert!(why.contains("is not on the allowlist [attest] tdx_mrtd"), "{why}");

    // --print-measurements shows them as config lines, and still exits 1: a script that checks
    // only the status must not take a refused image for a trusted one. With those lines the
    // quote verifies, and --print-measurements then exits 0.
    for json in [false, true] {
        let extra: &[&str] =
            if json { &["--at", at, "--print-measurements", "--json"] } else { &["--at", at, "--print-measurements"] };
        let inspected = verify("", extra);
        let (printed, why) = text(&inspected);
        assert_eq!(inspected.status.code(), Some(1), "{printed}{why}");
        assert!(why.contains("is genuine but NOT trusted") && why.contains("is not on the allowlist"), "{why}");
        if json {
            let verdict: serde_json::Value = serde_json::from_str(&printed).unwrap();
            assert_eq!(verdict["allowlist"], "skipped", "{verdict}");
        }
    }
    let inspected = verify("", &["--at", at, "--print-measurements"]);
    let (printed, _) = text(&inspected);
    assert!(printed.contains("NOT trusted") && printed.contains("MRTD"), "{printed}");
    let allowlist = &printed[printed.find("[attest]").unwrap()..];
    let trusted = verify(allowlist, &["--at", at]);
    let (verdict, why) = text(&trusted);
    assert!(trusted.status.success(), "{why}");
    assert!(verdict.contains("UpToDate") && verdict.contains("MRTD"), "{verdict}");
    assert!(verdict.contains("not bound"), "a raw quote binds no key: {verdict}");
    let rechecked = verify(allowlist, &["--at", at, "--print-measurements"]);
    let (verdict, why) = text(&rechecked);
    assert!(rechecked.status.success(), "{why}");
    assert!(verdict.starts_with("attestation verified") && !verdict.contains("NOT trusted"), "{verdict}");

    // Today the collateral has long expired.
    let (_, why) = text(&verify(allowlist, &[]));
    assert!(why.contains("collateral expired at 2025-07-19T10:00:35Z"), "{why}");

    // One flipped bit in the signed body, and it is not genuine any more.
    let mut bytes = std::fs::read(&quote).unwrap();
    bytes[700] ^= 0x01;
    let flipped = home.path().join("flipped_quote");
    std::fs::write(&flipped, bytes).unwrap();
    let args = ["attest", "verify", flipped.to_str().unwrap(), "--collateral", &collateral, "--at", at];
    let tampered = sov(home.path(), allowlist, &args, "");
    assert_eq!(tampered.status.code(), Some(1));
    assert!(text(&tampered).1.contains("does not verify"), "{}", text(&tampered).1);
}

#[test]
fn the_sgx_sample_needs_its_tcb_status_allowed_explicitly() {
    let home = tempfile::tempdir().unwrap();
    let (quote, collateral) = (tee_data("tdx/sgx_quote"), tee_data("tdx/sgx_quote_collateral.json"));
    let base = ["attest", "verify", &quote, "--collateral", &collateral, "--at", "2025-07-01T00:00:00Z"];
    let strict = sov(home.path(), "", &base, "");
    let (_, why) = text(&strict);
    assert_eq!(strict.status.code(), Some(1));
    assert!(why.contains("TCB status ConfigurationAndSWHardeningNeeded is not allowed"), "{why}");
    assert!(why.contains("--allow-status ConfigurationAndSWHardeningNeeded"), "{why}");

    let mut lenient = base.to_vec();
    lenient.extend(["--allow-status", "ConfigurationAndSWHardeningNeeded", "--print-measurements"]);
    let inspected = sov(home.path(), "", &lenient, "");
    let (printed, why) = text(&inspected);
    assert_eq!(inspected.status.code(), Some(1), "no measurement is allowed: {why}");
    assert!(printed.contains("INTEL-SA-00289"), "advisories are shown: {printed}");
}

#[test]
fn the_milan_snp_report_verifies_against_its_vcek_and_chain() {
    let home = tempfile::tempdir().unwrap();
    let (report, certs) = (tee_data("snp/report_milan.hex"), tee_data("snp"));
    let inspected =
        sov(home.path(), "", &["attest", "verify", &report, "--collateral", &certs, "--print-measurements"], "");
    let (printed, why) = text(&inspected);
    assert_eq!(inspected.status.code(), Some(1), "not on the allowlist: {why}");
    assert!(why.contains("NOT trusted"), "{why}");
    let allowlist = &printed[printed.find("[attest]").unwrap()..];
    assert!(allowlist.contains("snp_measurement"), "{allowlist}");
    let trusted = sov(home.path(), allowlist, &["attest", "verify", &report, "--collateral", &certs, "--json"], "");
    let (json, why) = text(&trusted);
    assert!(trusted.status.success(), "{why}");
    let verdict: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(verdict["kind"], "snp", "{verdict}");
}

#[test]
fn sanitize_prints_exactly_what_would_leave_and_the_diff_marks_each_replacement() {
    let home = tempfile::tempdir().unwrap();
    let config = "[sanitize]\nnames = [\"Alice Liddell\"]\naccounts = [\"@alice_l\"]\n";
    let input = format!(
        "Hi, I am Alice Liddell (@alice_l). Mail me at alice@example.org or call +44 20 7946 0958.\n\
         Pay to DE89 3704 0044 0532 0130 00 with card 4111 1111 1111 1111, key in {}/.ssh/id_ed25519.\n",
        home.path().display()
    );
    let out = sov(home.path(), config, &["sanitize"], &input);
    let (sent, why) = text(&out);
    assert!(out.status.success(), "{why}");
    for private in ["Alice", "alice_l", "alice@example.org", "7946", "DE89", "4111", &home.path().display().to_string()]
    {
        assert!(!sent.contains(private), "{private} would leave: {sent}");
    }
    for placeholder in ["[PERSON_1]", "[ACCOUNT_1]", "[EMAIL_1]", "[PHONE_1]", "[IBAN_1]", "[CARD_1]", "[PATH_1]"] {
        assert!(sent.contains(placeholder), "{placeholder} missing: {sent}");
    }
    assert!(sent.starts_with("Hi, I am [PERSON_1]"), "the rest is untouched: {sent}");

    let diff = sov(home.path(), config, &["sanitize", "--diff"], &input);
    let (marked, notes) = text(&diff);
    assert!(marked.contains("{-alice@example.org-}{+[EMAIL_1]+}"), "{marked}");
    assert!(notes.contains("replacement(s)"), "{notes}");

    // Nothing private: the text passes unchanged.
    let plain = "The build failed at step 3 of 7; retry after 10 minutes.\n";
    assert_eq!(text(&sov(home.path(), config, &["sanitize"], plain)).0, plain);
}

#[test]
fn net_status_shows_each_route_and_a_direct_one_is_called_dangerous_at_every_start() {
    let home = tempfile::tempdir().unwrap();
    let out = sov(home.path(), "", &["net", "status", "--offline"], "");
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    for class in ["remote", "web", "chain", "zkapi"] {
        assert!(stdout.lines().any(|l| l.starts_with(class) && l.contains("tor (in process")), "{class}: {stdout}");
    }
    assert!(!stderr.contains("direct-insecure-dev"), "{stderr}");

    let config = "[net]\nweb = \"direct-insecure-dev\"\nchain = \"socks5\"\nsocks = \"127.0.0.1:9150\"\n\
                  [remote.big]\nurl = \"http://provider.example\"\ntransport = \"socks5\"\n";
    for _ in 0..2 {
        let out = sov(home.path(), config, &["net", "status", "--offline"], "");
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{stderr}");
        assert!(stdout.contains("web     direct-insecure-dev (SHOWS YOUR IP ADDRESS)"), "{stdout}");
        assert!(stdout.contains("chain   socks5 via 127.0.0.1:9150"), "{stdout}");
        assert!(stdout.contains("remote.big: socks5 via 127.0.0.1:9150"), "{stdout}");
        assert!(stderr.contains("[net] web = \"direct-insecure-dev\"") && stderr.contains("IP address"), "{stderr}");
    }

    let out = sov(home.path(), "[net]\nchain = \"direct\"\n", &["net", "status", "--offline"], "");
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr.contains("use one of tor, socks5, direct-insecure-dev"), "{stderr}");
}
