//! Intel TDX / SGX DCAP quotes.

use pretty_assertions::assert_eq;
use sov_attest::{
    AllowlistCheck, Error, ExpectedKey, KeyBinding, Kind, Measurement, Policy, format_rfc3339, verify_intel_quote,
};

use super::*;

fn tdx_measurements(mrtd: &str, rtmr: [&str; 4]) -> Vec<Measurement> {
    let m = |register, config_key, hex: &str| Measurement { register, config_key, hex: hex.to_owned() };
    vec![
        m("MRTD", "tdx_mrtd", mrtd),
        m("RTMR0", "tdx_rtmr0", rtmr[0]),
        m("RTMR1", "tdx_rtmr1", rtmr[1]),
        m("RTMR2", "tdx_rtmr2", rtmr[2]),
        m("RTMR3", "tdx_rtmr3", rtmr[3]),
    ]
}

#[test]
fn genuine_tdx_v4_quote_verifies_inside_its_collateral_window() {
    let v = verify_intel_quote(
        &read("tdx/tdx_quote"),
        &collateral("tdx_quote"),
        tdx_v4_time(),
        &allowlisting_samples(),
        None,
    )
    .unwrap();
    assert_eq!(v.kind, Kind::Tdx);
    assert_eq!(v.tcb_status, "UpToDate");
    assert_eq!(v.advisory_ids, Vec::<String>::new());
    assert_eq!(v.measurements, tdx_measurements(TDX_V4_MRTD, TDX_V4_RTMR));
    assert_eq!(v.allowlist, AllowlistCheck::Passed);
    assert_eq!(v.report_data, TDX_V4_REPORT_DATA);
    // The sample's report_data binds no key of ours: with no key offered, it says so.
    assert_eq!(v.key_binding, KeyBinding::NotBound);
    // Earliest expiry of all collateral: the PCK CRL's nextUpdate (README window end).
    assert_eq!(format_rfc3339(v.valid_until), "2025-07-19T10:00:35Z");
    assert_eq!(v.verified_at, tdx_v4_time());
    let text = v.to_string();
    assert!(text.starts_with("attestation verified: Intel TDX\n  TCB status:   UpToDate\n"), "{text}");
    assert!(text.contains(&format!("MRTD        {TDX_V4_MRTD}")), "{text}");
    assert!(text.contains("HPKE key:     not bound"), "{text}");
    // JSON form (e.g. for `sov attest verify --json`).
    let json = serde_json::to_value(&v).unwrap();
    assert_eq!(json["kind"], "tdx");
    assert_eq!(json["valid_until"], "2025-07-19T10:00:35Z");
    assert_eq!(json["key_binding"], serde_json::json!({"state": "not_bound"}));
    assert_eq!(
        json["measurements"][0],
        serde_json::json!({"register": "MRTD", "config_key": "tdx_mrtd", "hex": TDX_V4_MRTD})
    );
    assert_eq!(json["key_expires_at"], serde_json::Value::Null);
}

#[test]
fn genuine_tdx_v5_quote_verifies_inside_its_collateral_window() {
    let v = verify_intel_quote(
        &read("tdx/tdx_quote_td15ex"),
        &collateral("tdx_quote_td15ex"),
        tdx_v5_time(),
        &allowlisting_samples(),
        None,
    )
    .unwrap();
    assert_eq!(v.kind, Kind::Tdx);
    assert_eq!(v.tcb_status, "UpToDate");
    assert_eq!(v.measurements, tdx_measurements(TDX_V5_MRTD, TDX_V5_RTMR));
    assert_eq!(format_rfc3339(v.valid_until), "2026-11-06T23:45:11Z");
}

#[test]
fn collateral_window_edges() {
    let q = read("tdx/tdx_quote");
    let c = collateral("tdx_quote");
    let p = allowlisting_samples();
    verify_intel_quote(&q, &c, at("2025-06-19T10:32:27Z"), &p, None).unwrap();
    verify_intel_quote(&q, &c, at("2025-07-19T10:00:34Z"), &p, None).unwrap();
    // At the PCK CRL's nextUpdate instant the collateral is already stale.
    let e = verify_intel_quote(&q, &c, at("2025-07-19T10:00:35Z"), &p, None).unwrap_err();
    assert_eq!(e.to_string(), "collateral expired at 2025-07-19T10:00:35Z (verifying at 2025-07-19T10:00:35Z)");
    let e = verify_intel_quote(&q, &c, at("2025-06-19T10:32:26Z"), &p, None).unwrap_err();
    assert!(matches!(e, Error::CollateralNotYetValid { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "collateral is not valid before 2025-06-19T10:32:27Z (verifying at 2025-06-19T10:32:26Z)"
    );
}

#[test]
fn todays_clock_fails_on_expiry() {
    let now = std::time::SystemTime::now();
    let p = allowlisting_samples();
    for (quote, expiry) in [
        ("tdx_quote", "2025-07-19T10:00:35Z"),
        ("tdx_quote_td15ex", "2026-11-06T23:45:11Z"),
        ("sgx_quote", "2025-07-19T10:01:18Z"),
    ] {
        let e = verify_intel_quote(&read(&format!("tdx/{quote}")), &collateral(quote), now, &p, None).unwrap_err();
        assert!(matches!(e, Error::CollateralExpired { .. }), "{quote}: {e:?}");
        assert_eq!(e.to_string(), format!("collateral expired at {expiry} (verifying at {})", format_rfc3339(now)));
    }
}

#[test]
fn sgx_quote_is_refused_by_the_strict_policy_and_accepted_when_its_status_is_allowed() {
    let q = read("tdx/sgx_quote");
    let c = collateral("sgx_quote");
    let e = verify_intel_quote(&q, &c, sgx_time(), &allowlisting_samples(), None).unwrap_err();
    assert!(matches!(e, Error::TcbStatusNotAllowed { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        "TCB status ConfigurationAndSWHardeningNeeded is not allowed (allowed: UpToDate); \
         pass --allow-status ConfigurationAndSWHardeningNeeded to accept it \
         (advisories: INTEL-SA-00289, INTEL-SA-00615)"
    );

    let p = allowlisting_samples().with_allowed_status("ConfigurationAndSWHardeningNeeded").unwrap();
    let v = verify_intel_quote(&q, &c, sgx_time(), &p, None).unwrap();
    assert_eq!(v.kind, Kind::Sgx);
    assert_eq!(v.tcb_status, "ConfigurationAndSWHardeningNeeded");
    assert_eq!(v.advisory_ids, vec!["INTEL-SA-00289", "INTEL-SA-00615"]);
    assert_eq!(
        v.measurements,
        vec![
            Measurement { register: "MRENCLAVE", config_key: "sgx_mrenclave", hex: SGX_MRENCLAVE.into() },
            Measurement { register: "MRSIGNER", config_key: "sgx_mrsigner", hex: SGX_MRSIGNER.into() },
        ]
    );
    assert_eq!(format_rfc3339(v.valid_until), "2025-07-19T10:01:18Z");

    // SGX allowlisting by signer alone also works; neither list matching names the list in use.
    let by_signer = Policy { sgx_mrenclave: vec![], sgx_mrsigner: vec![SGX_MRSIGNER.into()], ..p.clone() };
    verify_intel_quote(&q, &c, sgx_time(), &by_signer, None).unwrap();
    let other_signer = Policy { sgx_mrenclave: vec![], sgx_mrsigner: vec!["00".repeat(32)], ..p };
    let e = verify_intel_quote(&q, &c, sgx_time(), &other_signer, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "measurement MRSIGNER={SGX_MRSIGNER} is not on the allowlist [attest] sgx_mrsigner; if you trust this image, add it there"
        )
    );
}

/// The "outdated" sample's collateral has no TCB level that matches the platform at all (dcap-qvl's
/// own test only verifies it with a dangerous TCB-info override), so it is refused outright, not
/// as OutOfDate. The OutOfDate wording is covered by the SGX sample's status test above.
#[test]
fn outdated_sample_without_matching_tcb_level_is_refused() {
    let p = allowlisting_samples().with_allowed_status("OutOfDate").unwrap();
    let e = verify_intel_quote(
        &read("tdx/tdx_quote_outdated"),
        &collateral("tdx_quote_outdated"),
        at("2026-03-01T00:00:00Z"),
        &p,
        None,
    )
    .unwrap_err();
    assert!(matches!(e, Error::QuoteRejected { .. }), "{e:?}");
    assert_eq!(e.to_string(), "Intel DCAP quote verification failed: No matching TCB level found");
}

#[test]
fn flipped_bits_in_the_quote_are_rejected() {
    let q = read("tdx/tdx_quote");
    let c = collateral("tdx_quote");
    let p = allowlisting_samples();
    // (offset, region, expected message). TDX v4 layout: header 0..48, TD report 48..632,
    // auth data: signature 636..700, attestation key 700..764, QE report 770..1154, QE report
    // signature 1154..1218, QE auth data, then the PCK certificate chain (PEM) from 1258.
    let cases: [(usize, &str, &str); 12] = [
        (1, "header: version", "malformed Intel DCAP quote: Unsupported quote version"),
        (2, "header: key type", "Intel DCAP quote verification failed: Unsupported DCAP attestation key type"),
        (4, "header: TEE type", "malformed Intel DCAP quote: Invalid TEE type"),
        (9, "header: QE SVN", "Intel DCAP quote verification failed: ISV enclave report signature is invalid"),
        (20, "header: QE vendor", "Intel DCAP quote verification failed: Unknown QE vendor ID"),
        (
            168,
            "body: TD attributes (DEBUG bit)",
            "Intel DCAP quote verification failed: ISV enclave report signature is invalid",
        ),
        (184, "body: MRTD", "Intel DCAP quote verification failed: ISV enclave report signature is invalid"),
        (568, "body: report_data", "Intel DCAP quote verification failed: ISV enclave report signature is invalid"),
        (640, "signature", "Intel DCAP quote verification failed: ISV enclave report signature is invalid"),
        (720, "attestation key", "Intel DCAP quote verification failed: QE report hash mismatch"),
        (800, "QE report", "Intel DCAP quote verification failed: Signature is invalid for qe_report in quote"),
        (
            3000,
            "certification data: PCK cert",
            "Intel DCAP quote verification failed: Failed to verify certificate chain: InvalidSignatureForPublicKey",
        ),
    ];
    for (pos, region, want) in cases {
        let mut bad = q.clone();
        bad[pos] ^= 0x01;
        let e = verify_intel_quote(&bad, &c, tdx_v4_time(), &p, None).unwrap_err();
        assert!(matches!(e, Error::QuoteRejected { .. } | Error::Malformed { .. }), "{region}: {e:?}");
        assert_eq!(e.to_string(), want, "flip at {pos} ({region})");
    }
    // Truncation.
    let e = verify_intel_quote(&q[..1000], &c, tdx_v4_time(), &p, None).unwrap_err();
    assert!(matches!(e, Error::Malformed { what: "Intel DCAP quote", .. }), "{e:?}");
}

/// Honest limit of the format: DCAP authenticates the PCK certificates, not their PEM wrapping,
/// so a flip in a PEM line break (becoming another whitespace) or in the zero padding after the
/// chain changes nothing that is verified, and the verdict is identical.
#[test]
fn flips_in_unauthenticated_pem_whitespace_or_padding_change_nothing() {
    let q = read("tdx/tdx_quote");
    let c = collateral("tdx_quote");
    let p = allowlisting_samples();
    let good = verify_intel_quote(&q, &c, tdx_v4_time(), &p, None).unwrap();
    assert_eq!(q[2000], b'\n');
    assert_eq!(q[4990], 0);
    for pos in [2000, 4990] {
        let mut odd = q.clone();
        odd[pos] ^= 0x01;
        assert_eq!(verify_intel_quote(&odd, &c, tdx_v4_time(), &p, None).unwrap(), good);
    }
}

#[test]
fn forged_collateral_is_rejected() {
    let q = read("tdx/tdx_quote");
    let good = collateral("tdx_quote");
    let p = allowlisting_samples();
    let check = |c: &QuoteCollateralV3, want: &str| {
        let e = verify_intel_quote(&q, c, tdx_v4_time(), &p, None).unwrap_err();
        assert!(matches!(e, Error::QuoteRejected { .. }), "{e:?}");
        assert_eq!(e.to_string(), format!("Intel DCAP quote verification failed: {want}"));
    };

    let mut c = good.clone();
    c.tcb_info_signature[5] ^= 1;
    check(&c, "Signature is invalid for tcb_info in quote_collateral");

    // An edited TCB level (still valid JSON): the signature no longer matches.
    let mut c = good.clone();
    c.tcb_info = c.tcb_info.replacen("\"tcbStatus\":\"OutOfDate\"", "\"tcbStatus\":\"UpToDate\"", 1);
    assert_ne!(c.tcb_info, good.tcb_info);
    check(&c, "Signature is invalid for tcb_info in quote_collateral");

    let mut c = good.clone();
    c.qe_identity_signature[5] ^= 1;
    check(&c, "Signature is invalid for qe_identity in quote_collateral");

    // Swap the TCB-info issuer chain for another Intel chain (PCK Platform CA): not a TCB signer.
    let mut c = good.clone();
    c.tcb_info_issuer_chain = good.pck_crl_issuer_chain.clone();
    check(&c, "Failed to verify certificate chain: CaUsedAsEndEntity");

    let mut c = good.clone();
    c.pck_crl[100] ^= 1;
    check(&c, "Failed to verify certificate chain: UnknownRevocationStatus");

    let mut c = good.clone();
    c.root_ca_crl[100] ^= 1;
    check(&c, "Failed to parse root CA CRL: InvalidCrlSignatureForPublicKey");

    // Genuine collateral for another TEE (SGX) does not fit a TDX quote.
    let e = verify_intel_quote(&q, &collateral("sgx_quote"), tdx_v4_time(), &p, None).unwrap_err();
    assert!(matches!(e, Error::QuoteRejected { .. }), "{e:?}");
}

#[test]
fn measurements_not_on_the_allowlist_are_rejected() {
    let q = read("tdx/tdx_quote");
    let c = collateral("tdx_quote");
    // Strict default: empty allowlists allow nothing.
    let e = verify_intel_quote(&q, &c, tdx_v4_time(), &Policy::default(), None).unwrap_err();
    assert!(matches!(e, Error::MeasurementNotAllowed { register: "MRTD", config_key: "tdx_mrtd", .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "measurement MRTD={TDX_V4_MRTD} is not on the allowlist [attest] tdx_mrtd; if you trust this image, add it there"
        )
    );
    // Everything allowed except RTMR2.
    let p = Policy { tdx_rtmr2: vec!["ab".repeat(48)], ..allowlisting_samples() };
    let e = verify_intel_quote(&q, &c, tdx_v4_time(), &p, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "measurement RTMR2={} is not on the allowlist [attest] tdx_rtmr2; if you trust this image, add it there",
            TDX_V4_RTMR[2]
        )
    );
}

#[test]
fn report_data_that_does_not_bind_the_offered_key_is_rejected() {
    let q = read("tdx/tdx_quote");
    let c = collateral("tdx_quote");
    let offered = ExpectedKey { hpke_public_key: [0x42; 32], epoch: 7 };
    let e = verify_intel_quote(&q, &c, tdx_v4_time(), &allowlisting_samples(), Some(&offered)).unwrap_err();
    assert!(matches!(e, Error::KeyNotBound { epoch: 7 }), "{e:?}");
    assert_eq!(e.to_string(), "report_data does not bind the offered HPKE key (epoch 7)");
}

#[test]
fn debug_policy_flag_does_not_weaken_other_checks() {
    // allow_debug only concerns the debug/profiling bits; a genuine non-debug quote still needs
    // everything else (here: an allowlist).
    let p = Policy { allow_debug: true, ..Policy::default() };
    let e = verify_intel_quote(&read("tdx/tdx_quote"), &collateral("tdx_quote"), tdx_v4_time(), &p, None).unwrap_err();
    assert!(matches!(e, Error::MeasurementNotAllowed { .. }), "{e:?}");
}
