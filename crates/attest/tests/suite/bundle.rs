//! Bundles: JSON, dev bundles, key binding, expiry.

use pretty_assertions::assert_eq;
use sov_attest::{Bundle, Error, KeyBinding, Kind, Policy, SnpCerts, format_rfc3339, verify_bundle};

use super::*;

pub(crate) fn dev_bundle() -> Bundle {
    Bundle {
        kind: Kind::Dev,
        evidence: Vec::new(),
        intel_collateral: None,
        snp_certs: None,
        hpke_public_key: [0x11; 32],
        epoch: 3,
        expires_at: at("2030-01-01T00:00:00Z"),
    }
}

pub(crate) fn tdx_bundle() -> Bundle {
    Bundle {
        kind: Kind::Tdx,
        evidence: read("tdx/tdx_quote"),
        intel_collateral: Some(collateral("tdx_quote")),
        snp_certs: None,
        hpke_public_key: [0x22; 32],
        epoch: 9,
        expires_at: at("2025-07-02T00:00:00Z"),
    }
}

#[test]
fn dev_bundle_is_refused_by_default_and_accepted_only_with_allow_dev() {
    let b = dev_bundle();
    let now = std::time::SystemTime::now();
    let e = verify_bundle(&b, now, &Policy::default()).unwrap_err();
    assert!(matches!(e, Error::DevRefused), "{e:?}");
    assert_eq!(
        e.to_string(),
        "dev bundle refused: it carries no hardware evidence, so nothing shows its key is held inside a TEE; \
         only a policy with allow_dev = true (local testing) accepts it"
    );
    // Even a permissive policy in every other respect does not accept it.
    let permissive = Policy {
        allow_debug: true,
        allowed_statuses: sov_attest::TCB_STATUSES[..8].iter().map(|s| s.to_string()).collect(),
        ..allowlisting_samples()
    };
    assert!(matches!(verify_bundle(&b, now, &permissive), Err(Error::DevRefused)));

    let dev = Policy { allow_dev: true, ..Policy::default() };
    let v = verify_bundle(&b, now, &dev).unwrap();
    assert_eq!(v.kind, Kind::Dev);
    assert_eq!(v.key_binding, KeyBinding::Unattested);
    assert_eq!(v.key_expires_at, Some(b.expires_at));
    let text = v.to_string();
    assert!(
        text.starts_with("NOT attested: dev bundle accepted only because the policy sets allow_dev = true\n"),
        "{text}"
    );
    assert!(text.contains("UNATTESTED"), "{text}");
    // Past its epoch, even an allowed dev bundle is refused.
    let e = verify_bundle(&b, at("2030-01-01T00:00:00Z"), &dev).unwrap_err();
    assert_eq!(e.to_string(), "bundle expired at 2030-01-01T00:00:00Z (verifying at 2030-01-01T00:00:00Z)");
}

#[test]
fn json_round_trip_and_shape() {
    let b = tdx_bundle();
    let json = b.to_json();
    assert_eq!(Bundle::from_json(&json).unwrap(), b);
    let v: serde_json::Value = serde_json::from_slice(&json).unwrap();
    assert_eq!(v["kind"], "tdx");
    assert_eq!(v["hpke_public_key"], "22".repeat(32));
    assert_eq!(v["epoch"], 9);
    assert_eq!(v["expires_at"], "2025-07-02T00:00:00Z");
    assert!(v["evidence"].as_str().unwrap().starts_with("BAACAIEAAAA"));
    assert!(v.get("snp_certs").is_none());

    let e = Bundle::from_json(br#"{"kind":"tpm"}"#).unwrap_err();
    assert!(matches!(e, Error::Malformed { what: "attestation bundle JSON", .. }), "{e:?}");
    assert!(e.to_string().contains("unknown variant `tpm`"), "{e}");
}

#[test]
fn real_tdx_bundle_does_not_bind_our_key() {
    // The sample quote's report_data was made by someone else: it binds no key of ours.
    let e = verify_bundle(&tdx_bundle(), tdx_v4_time(), &allowlisting_samples()).unwrap_err();
    assert!(matches!(e, Error::KeyNotBound { epoch: 9 }), "{e:?}");
    assert_eq!(e.to_string(), "report_data does not bind the offered HPKE key (epoch 9)");
}

#[test]
fn bundle_checks_before_the_evidence() {
    let p = allowlisting_samples();
    let e = verify_bundle(&tdx_bundle(), at("2025-07-03T00:00:00Z"), &p).unwrap_err();
    assert_eq!(e.to_string(), "bundle expired at 2025-07-02T00:00:00Z (verifying at 2025-07-03T00:00:00Z)");

    let b = Bundle { intel_collateral: None, ..tdx_bundle() };
    let e = verify_bundle(&b, tdx_v4_time(), &p).unwrap_err();
    assert_eq!(e.to_string(), "bundle of kind tdx has no intel_collateral");

    // The kind must match the evidence.
    let b = Bundle { kind: Kind::Sgx, ..tdx_bundle() };
    let e = verify_bundle(&b, tdx_v4_time(), &p).unwrap_err();
    assert_eq!(e.to_string(), "malformed attestation bundle: kind says sgx but the evidence is an Intel TDX quote");

    let b = Bundle {
        kind: Kind::Snp,
        evidence: hex::decode(String::from_utf8(read("snp/report_milan.hex")).unwrap().trim()).unwrap(),
        intel_collateral: None,
        snp_certs: Some(SnpCerts { vcek: read("snp/vcek_milan.der"), cert_chain: None }),
        expires_at: at("2100-01-01T00:00:00Z"),
        ..tdx_bundle()
    };
    let e = verify_bundle(&b, std::time::SystemTime::now(), &p).unwrap_err();
    assert!(matches!(e, Error::KeyNotBound { epoch: 9 }), "{e:?}");
    assert_eq!(format_rfc3339(b.expires_at), "2100-01-01T00:00:00Z");
}

#[test]
fn a_providers_collateral_file_completes_its_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("collateral.json");
    let bare = Bundle { intel_collateral: None, ..tdx_bundle() };
    let policy = allowlisting_samples();
    let e = verify_bundle(&bare, tdx_v4_time(), &policy).unwrap_err();
    assert!(matches!(e, Error::MissingCollateral { .. }), "{e:?}");

    // The file holds the bundle's own field, as the provider fetched it.
    let fetched = sov_attest::Collateral { intel_collateral: Some(collateral("tdx_quote")), snp_certs: None };
    std::fs::write(&file, serde_json::to_vec(&fetched).unwrap()).unwrap();
    let mut bundle = bare.clone();
    sov_attest::Collateral::read(&file).unwrap().attach(&mut bundle).unwrap();
    assert_eq!(bundle, tdx_bundle());
    // The quote now verifies up to the key binding (the sample binds no key of ours).
    let e = verify_bundle(&bundle, tdx_v4_time(), &policy).unwrap_err();
    assert!(!matches!(e, Error::MissingCollateral { .. }), "{e:?}");
    assert!(e.to_string().contains("report_data"), "{e}");

    // SEV-SNP certificates do not complete a TDX bundle, and a broken file is named.
    let snp_only = sov_attest::Collateral {
        intel_collateral: None,
        snp_certs: Some(SnpCerts { vcek: read("snp/vcek_milan.der"), cert_chain: None }),
    };
    let e = snp_only.attach(&mut bare.clone()).unwrap_err();
    assert!(e.to_string().contains("no intel_collateral"), "{e}");
    std::fs::write(&file, "{\"intel_collateral\": 7}").unwrap();
    let e = sov_attest::Collateral::read(&file).unwrap_err();
    assert!(e.to_string().contains("malformed collateral JSON"), "{e}");
}
