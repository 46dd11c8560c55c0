//! AMD SEV-SNP reports.

use std::time::SystemTime;

use pretty_assertions::assert_eq;
use sov_attest::{
    AllowlistCheck, Error, ExpectedKey, KeyBinding, Kind, Measurement, Policy, SnpCerts, format_rfc3339,
    verify_snp_report,
};

use super::*;

fn report() -> Vec<u8> {
    hex::decode(String::from_utf8(read("snp/report_milan.hex")).unwrap().trim()).unwrap()
}

fn milan_certs() -> SnpCerts {
    SnpCerts {
        vcek: read("snp/vcek_milan.der"),
        cert_chain: Some(String::from_utf8(read("snp/cert_chain_milan")).unwrap()),
    }
}

#[test]
fn milan_report_verifies_against_its_vcek_and_chain_today() {
    let now = SystemTime::now();
    let v = verify_snp_report(&report(), &milan_certs(), now, &allowlisting_samples(), None).unwrap();
    assert_eq!(v.kind, Kind::Snp);
    assert_eq!(v.tcb_status, "Milan: reported TCB bootloader=3 tee=0 snp=8 microcode=115");
    assert_eq!(
        v.measurements,
        vec![Measurement { register: "MEASUREMENT", config_key: "snp_measurement", hex: SNP_MEASUREMENT.into() }]
    );
    assert_eq!(v.allowlist, AllowlistCheck::Passed);
    assert_eq!(v.key_binding, KeyBinding::NotBound);
    // The VCEK's notAfter is the earliest expiry of the chain.
    assert_eq!(format_rfc3339(v.valid_until), "2030-04-03T19:23:43Z");
    assert!(v.to_string().starts_with("attestation verified: AMD SEV-SNP\n"), "{v}");

    // Without a chain, the ASK/ARK pinned in the sev crate are used.
    let builtin = SnpCerts { cert_chain: None, ..milan_certs() };
    let v2 = verify_snp_report(&report(), &builtin, now, &allowlisting_samples(), None).unwrap();
    assert_eq!(v2, v);
    // The VCEK may also come as PEM.
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(read("snp/vcek_milan.der"));
    let lines: Vec<&str> = b64.as_bytes().chunks(64).map(|c| std::str::from_utf8(c).unwrap()).collect();
    let pem = format!("-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n", lines.join("\n"));
    let as_pem = SnpCerts { vcek: pem.into_bytes(), ..milan_certs() };
    assert_eq!(verify_snp_report(&report(), &as_pem, now, &allowlisting_samples(), None).unwrap(), v);
}

#[test]
fn flipped_bytes_in_the_report_fail() {
    let r = report();
    let p = allowlisting_samples();
    let now = SystemTime::now();
    // (offset, field). Every byte of the 1184 counts: 0..0x2A0 is signed, the rest must be the
    // canonical signature encoding with zero padding.
    let signed = [
        (0x04, "guest SVN"),
        (0x08, "guest policy"),
        (0x30, "VMPL"),
        (0x50, "report_data"),
        (0x90, "MEASUREMENT"),
        (0xC0, "host_data"),
        (0x1A0, "CHIP_ID"),
        (0x1E0, "COMMITTED_TCB"),
        (0x2A0, "signature r"),
        (0x2A0 + 72, "signature s"),
    ];
    for (pos, field) in signed {
        let mut bad = r.clone();
        bad[pos] ^= 0x01;
        let e = verify_snp_report(&bad, &milan_certs(), now, &p, None).unwrap_err();
        assert!(matches!(e, Error::SnpReportRejected { .. }), "{field} at {pos:#x}: {e:?}");
        assert_eq!(
            e.to_string(),
            "SEV-SNP report rejected: signature does not verify under the VCEK (report altered, or VCEK of another chip/TCB)",
            "{field}"
        );
    }
    for (pos, field) in [(0x2A0 + 60, "r padding"), (0x2A0 + 140, "s padding"), (0x400, "reserved after signature")] {
        let mut bad = r.clone();
        bad[pos] ^= 0x01;
        let e = verify_snp_report(&bad, &milan_certs(), now, &p, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "SEV-SNP report rejected: non-zero bytes in the signature padding or reserved area",
            "{field}"
        );
    }
    // Reserved fields (here the last signed byte) must be zero already for the parser.
    let mut bad = r.clone();
    bad[0x29F] ^= 0x01;
    let e = verify_snp_report(&bad, &milan_certs(), now, &p, None).unwrap_err();
    assert_eq!(e.to_string(), "malformed SEV-SNP report: Skipped bytes were expected to be zeroed.");
    // The signature algorithm is refused before the signature check.
    let mut bad = r.clone();
    bad[0x34] ^= 0x03;
    assert_eq!(
        verify_snp_report(&bad, &milan_certs(), now, &p, None).unwrap_err().to_string(),
        "SEV-SNP report rejected: signature algorithm 2 is not ECDSA P-384 with SHA-384 (1)"
    );
    let e = verify_snp_report(&r[..1000], &milan_certs(), now, &p, None).unwrap_err();
    assert_eq!(e.to_string(), "malformed SEV-SNP report: 1000 bytes, expected 1184");
}

#[test]
fn wrong_chain_fails() {
    let r = report();
    let p = allowlisting_samples();
    let now = SystemTime::now();
    let turin_chain = String::from_utf8(read("snp/cert_chain_turin")).unwrap();
    let milan_chain = String::from_utf8(read("snp/cert_chain_milan")).unwrap();

    // Milan VCEK under the Turin ASK/ARK.
    let certs = SnpCerts { vcek: read("snp/vcek_milan.der"), cert_chain: Some(turin_chain.clone()) };
    let e = verify_snp_report(&r, &certs, now, &p, None).unwrap_err();
    assert!(matches!(e, Error::SnpChainRejected { .. }), "{e:?}");
    assert!(e.to_string().starts_with("AMD certificate chain rejected: the Turin ASK does not sign the VCEK"), "{e}");

    // The Turin VCEK with its own, valid chain: the chain verifies, the Milan report's signature does not.
    let certs = SnpCerts { vcek: read("snp/vcek_turin.der"), cert_chain: Some(turin_chain) };
    let e = verify_snp_report(&r, &certs, now, &p, None).unwrap_err();
    assert!(matches!(e, Error::SnpReportRejected { .. }), "{e:?}");

    // The Turin VCEK with the built-in chains: no pinned ASK of the right generation signs it but Turin's.
    let certs = SnpCerts { vcek: read("snp/vcek_turin.der"), cert_chain: None };
    assert!(matches!(verify_snp_report(&r, &certs, now, &p, None), Err(Error::SnpReportRejected { .. })));

    // A chain without a pinned root: the ASK twice (the ARK left out).
    let ask_only = milan_chain.split_inclusive("-----END CERTIFICATE-----\n").next().unwrap().to_owned();
    let certs = SnpCerts { vcek: read("snp/vcek_milan.der"), cert_chain: Some(format!("{ask_only}{ask_only}")) };
    let e = verify_snp_report(&r, &certs, now, &p, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "AMD certificate chain rejected: no certificate in the chain is a pinned AMD root key (ARK of Milan, Genoa or Turin)"
    );

    // A chain with only one certificate.
    let certs = SnpCerts { vcek: read("snp/vcek_milan.der"), cert_chain: Some(ask_only) };
    let e = verify_snp_report(&r, &certs, now, &p, None).unwrap_err();
    assert_eq!(e.to_string(), "AMD certificate chain rejected: expected 2 certificates (ASK and ARK), found 1");

    // A tampered VCEK: its signature by the ASK breaks.
    let mut vcek = read("snp/vcek_milan.der");
    let n = vcek.len();
    vcek[n - 600] ^= 0x01;
    let certs = SnpCerts { vcek, cert_chain: Some(milan_chain) };
    assert!(matches!(
        verify_snp_report(&r, &certs, now, &p, None),
        Err(Error::SnpChainRejected { .. } | Error::Malformed { .. })
    ));
}

#[test]
fn vcek_validity_window() {
    let p = allowlisting_samples();
    let e = verify_snp_report(&report(), &milan_certs(), at("2031-01-01T00:00:00Z"), &p, None).unwrap_err();
    assert_eq!(e.to_string(), "collateral expired at 2030-04-03T19:23:43Z (verifying at 2031-01-01T00:00:00Z)");
    let e = verify_snp_report(&report(), &milan_certs(), at("2023-01-01T00:00:00Z"), &p, None).unwrap_err();
    assert!(matches!(e, Error::CollateralNotYetValid { .. }), "{e:?}");
}

#[test]
fn snp_policy_checks() {
    let now = SystemTime::now();
    let e = verify_snp_report(&report(), &milan_certs(), now, &Policy::default(), None).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "measurement MEASUREMENT={SNP_MEASUREMENT} is not on the allowlist [attest] snp_measurement; if you trust this image, add it there"
        )
    );
    let p = Policy {
        snp_min_tcb: sov_attest::SnpMinTcb { microcode: 200, ..Default::default() },
        ..allowlisting_samples()
    };
    let e = verify_snp_report(&report(), &milan_certs(), now, &p, None).unwrap_err();
    assert!(matches!(e, Error::SnpTcbTooLow { component: "microcode", actual: 115, minimum: 200 }), "{e:?}");
    let p = Policy {
        snp_min_tcb: sov_attest::SnpMinTcb { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
        ..allowlisting_samples()
    };
    verify_snp_report(&report(), &milan_certs(), now, &p, None).unwrap();

    let offered = ExpectedKey { hpke_public_key: [1; 32], epoch: 1 };
    let e = verify_snp_report(&report(), &milan_certs(), now, &allowlisting_samples(), Some(&offered)).unwrap_err();
    assert!(matches!(e, Error::KeyNotBound { epoch: 1 }), "{e:?}");
}
