//! `verify_file` / `inspect_file`: format detection and collateral handling.

use pretty_assertions::assert_eq;
use sov_attest::{AllowlistCheck, Error, KeyBinding, Kind, Policy, inspect_file, verify_file};

use super::*;

#[test]
fn raw_tdx_quote_with_collateral_file() {
    let c = data("tdx/tdx_quote_collateral.json");
    let v = verify_file(&data("tdx/tdx_quote"), Some(&c), tdx_v4_time(), &allowlisting_samples()).unwrap();
    assert_eq!((v.kind, v.tcb_status.as_str(), v.key_binding), (Kind::Tdx, "UpToDate", KeyBinding::NotBound));

    let e = verify_file(&data("tdx/tdx_quote"), None, tdx_v4_time(), &allowlisting_samples()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "an Intel DCAP quote needs its collateral: pass --collateral FILE (dcap-qvl QuoteCollateralV3 JSON)"
    );
}

#[test]
fn inspect_prints_measurements_but_does_not_trust() {
    let c = data("tdx/tdx_quote_collateral.json");
    let v = inspect_file(&data("tdx/tdx_quote"), Some(&c), tdx_v4_time(), &Policy::default()).unwrap();
    assert_eq!(v.allowlist, AllowlistCheck::Skipped);
    let text = v.to_string();
    assert!(text.starts_with("attestation genuine but NOT trusted: Intel TDX"), "{text}");
    assert!(text.ends_with(&format!("tdx_rtmr3 = [\"{}\"]", TDX_V4_RTMR[3])), "{text}");
    assert!(v.allowlist_toml().starts_with(&format!("[attest]\ntdx_mrtd = [\"{TDX_V4_MRTD}\"]\n")));
    // Every other check still applies.
    let e =
        inspect_file(&data("tdx/tdx_quote"), Some(&c), std::time::SystemTime::now(), &Policy::default()).unwrap_err();
    assert!(matches!(e, Error::CollateralExpired { .. }), "{e:?}");
    let e = inspect_file(
        &data("tdx/sgx_quote"),
        Some(&data("tdx/sgx_quote_collateral.json")),
        sgx_time(),
        &Policy::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::TcbStatusNotAllowed { .. }), "{e:?}");
}

#[test]
fn snp_hex_report_with_a_directory_or_a_vcek_file() {
    let now = std::time::SystemTime::now();
    let p = allowlisting_samples();
    let v = verify_file(&data("snp/report_milan.hex"), Some(&data("snp")), now, &p).unwrap();
    assert_eq!(v.kind, Kind::Snp);
    let v2 = verify_file(&data("snp/report_milan.hex"), Some(&data("snp/vcek_milan.der")), now, &p).unwrap();
    assert_eq!(v2, v);
    // Raw binary works too.
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("report.bin");
    std::fs::write(&raw, hex::decode(String::from_utf8(read("snp/report_milan.hex")).unwrap().trim()).unwrap())
        .unwrap();
    assert_eq!(verify_file(&raw, Some(&data("snp")), now, &p).unwrap(), v);
    // Only the Turin VCEK in the directory: it does not fit.
    let turin = dir.path().join("turin");
    std::fs::create_dir(&turin).unwrap();
    std::fs::write(turin.join("vcek_turin.der"), read("snp/vcek_turin.der")).unwrap();
    std::fs::write(turin.join("cert_chain_turin"), read("snp/cert_chain_turin")).unwrap();
    assert!(matches!(verify_file(&raw, Some(&turin), now, &p), Err(Error::SnpReportRejected { .. })));
    // A directory without a VCEK, and no collateral at all.
    let e = verify_file(&raw, Some(dir.path().join("turin").parent().unwrap()), now, &p).unwrap_err();
    assert!(e.to_string().starts_with("no vcek*.der or vcek*.pem file in "), "{e}");
    let e = verify_file(&raw, None, now, &p).unwrap_err();
    assert!(matches!(e, Error::MissingCollateral { .. }), "{e:?}");
}

#[test]
fn bundles_unknown_formats_and_missing_files() {
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("bundle.json");
    std::fs::write(&b, super::bundle::dev_bundle().to_json()).unwrap();
    let now = std::time::SystemTime::now();
    assert!(matches!(verify_file(&b, None, now, &Policy::default()), Err(Error::DevRefused)));
    let dev = Policy { allow_dev: true, ..Policy::default() };
    assert_eq!(verify_file(&b, None, now, &dev).unwrap().kind, Kind::Dev);
    let e = verify_file(&b, Some(&data("snp")), now, &dev).unwrap_err();
    assert!(e.to_string().contains("is a bundle, which carries its own collateral"), "{e}");

    let junk = dir.path().join("junk");
    std::fs::write(&junk, b"hello world").unwrap();
    let e = verify_file(&junk, None, now, &dev).unwrap_err();
    assert!(matches!(e, Error::UnknownFormat { .. }), "{e:?}");
    assert!(e.to_string().ends_with(
        "is not an attestation bundle (JSON), an Intel TDX/SGX DCAP quote, or a 1184-byte AMD SEV-SNP report (raw or hex)"
    ));

    let e = verify_file(&dir.path().join("absent"), None, now, &dev).unwrap_err();
    assert!(matches!(e, Error::Io { .. }), "{e:?}");
}
