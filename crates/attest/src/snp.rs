//! AMD SEV-SNP attestation reports, verified with the `sev` crate (pure-Rust crypto, no OpenSSL).

use std::time::SystemTime;

use p384::ecdsa::signature::Verifier as _;
use serde::{Deserialize, Serialize};
use sev::certs::snp::{Certificate as SevCert, Verifiable as _, builtin};
use sev::firmware::guest::AttestationReport;
use sev::parser::ByteParser as _;
use x509_cert::der::{Decode as _, Encode as _};

use crate::binding::{self, ExpectedKey};
use crate::intel::check_window;
use crate::policy::{Policy, on_allowlist};
use crate::time::{from_unix_secs, unix_secs};
use crate::verdict::{AllowlistCheck, Kind, Measurement, Verdict};
use crate::{Error, Mode};

/// Length of an SEV-SNP attestation report.
pub const SNP_REPORT_LEN: usize = 1184;
/// The report's signature covers bytes `0..SIGNED_LEN`.
const SIGNED_LEN: usize = 0x2A0;

/// The AMD certificates that vouch for an SEV-SNP report.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnpCerts {
    /// The VCEK (or VLEK) certificate, DER or PEM; base64 in JSON. AMD's KDS serves it at
    /// `/vcek/v1/{generation}/{chip_id}?blSPL=..`.
    #[serde(with = "crate::bundle::b64")]
    pub vcek: Vec<u8>,
    /// ASK and ARK certificates as PEM (AMD's KDS `cert_chain`: ASK first, then ARK; the order
    /// does not matter here). `None` uses the ASK/ARK built into the `sev` crate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_chain: Option<String>,
}

/// Verify an AMD SEV-SNP attestation report with its VCEK (and optional ASK/ARK chain) at `at`.
///
/// `expected`: the HPKE key and epoch `report_data` must bind; `None` reports
/// [`crate::KeyBinding::NotBound`].
///
/// Order of checks (each failure is a distinct [`Error`]):
/// 1. the policy is well-formed; the report is 1184 bytes and parses;
/// 2. the ARK is one of the AMD root keys **pinned** in the `sev` crate (Milan, Genoa, Turin) —
///    an ARK from the input is only used if it is byte-identical to a pinned one; the ARK is
///    self-signed, the ARK signs the ASK, the ASK signs the VCEK (RSA-PSS);
/// 3. every certificate is valid at the verification time;
/// 4. the report's signature (ECDSA P-384 over bytes `0..0x2A0`) verifies under the VCEK, over
///    the **raw** bytes as received; the unsigned tail (signature padding, reserved) must be
///    zero, so that no byte of the report can change without refusal;
/// 5. the VCEK was issued for this chip and TCB (its hwID and SPL extensions match `CHIP_ID`
///    and `REPORTED_TCB`);
/// 6. guest policy: no DEBUG, no migration agent; VMPL ≤ `snp_max_vmpl`; reported TCB ≥
///    `snp_min_tcb`;
/// 7. MEASUREMENT is on `snp_measurement`;
/// 8. `report_data` binds the expected HPKE key, if one was offered.
pub fn verify_snp_report(
    report: &[u8],
    certs: &SnpCerts,
    at: SystemTime,
    policy: &Policy,
    expected: Option<&ExpectedKey>,
) -> Result<Verdict, Error> {
    verify(report, certs, at, policy, expected, Mode::Verify)
}

struct Chain {
    generation: &'static str,
    ark: x509_cert::Certificate,
    ask: x509_cert::Certificate,
    vcek: x509_cert::Certificate,
}

pub(crate) fn verify(
    raw: &[u8],
    certs: &SnpCerts,
    at: SystemTime,
    policy: &Policy,
    expected: Option<&ExpectedKey>,
    mode: Mode,
) -> Result<Verdict, Error> {
    policy.validate()?;
    if raw.len() != SNP_REPORT_LEN {
        return Err(Error::malformed("SEV-SNP report", format!("{} bytes, expected {SNP_REPORT_LEN}", raw.len())));
    }
    let report = AttestationReport::from_bytes(raw).map_err(|e| Error::malformed("SEV-SNP report", e))?;

    let chain = chain(certs)?;
    let now = unix_secs(at);
    let (mut valid_from, mut valid_until) = (0u64, u64::MAX);
    for c in [&chain.ark, &chain.ask, &chain.vcek] {
        let v = &c.tbs_certificate.validity;
        valid_from = valid_from.max(v.not_before.to_unix_duration().as_secs());
        valid_until = valid_until.min(v.not_after.to_unix_duration().as_secs());
    }
    check_window(valid_from, valid_until, now)?;

    verify_signature(raw, &report, &chain.vcek)?;
    check_vcek_matches(&report, &chain.vcek)?;
    check_guest_policy(&report, policy)?;

    let measurement =
        Measurement { register: "MEASUREMENT", config_key: "snp_measurement", hex: hex::encode(report.measurement) };
    let allowlist = match mode {
        Mode::Verify => {
            if !on_allowlist(policy, "snp_measurement", &report.measurement) {
                return Err(Error::MeasurementNotAllowed {
                    register: measurement.register,
                    value: measurement.hex,
                    config_key: measurement.config_key,
                });
            }
            AllowlistCheck::Passed
        }
        Mode::Inspect => AllowlistCheck::Skipped,
    };
    let key_binding = binding::check(&report.report_data, expected)?;
    let t = report.reported_tcb;
    tracing::debug!(generation = chain.generation, "SEV-SNP report verified");
    Ok(Verdict {
        kind: Kind::Snp,
        tcb_status: format!(
            "{}: reported TCB bootloader={} tee={} snp={} microcode={}",
            chain.generation, t.bootloader, t.tee, t.snp, t.microcode
        ),
        advisory_ids: Vec::new(),
        measurements: vec![measurement],
        allowlist,
        report_data: hex::encode(report.report_data),
        key_binding,
        valid_until: from_unix_secs(valid_until),
        key_expires_at: None,
        verified_at: at,
    })
}

fn parse_cert(bytes: &[u8], what: &'static str) -> Result<x509_cert::Certificate, Error> {
    use x509_cert::der::DecodePem as _;
    let r = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
        x509_cert::Certificate::from_pem(bytes)
    } else {
        x509_cert::Certificate::from_der(bytes)
    };
    r.map_err(|e| Error::malformed(what, e))
}

fn der(c: &x509_cert::Certificate) -> Vec<u8> {
    c.to_der().unwrap_or_default()
}

fn chain_err(reason: impl std::fmt::Display) -> Error {
    Error::SnpChainRejected { reason: reason.to_string() }
}

type Pinned = (&'static str, fn() -> std::io::Result<SevCert>, fn() -> std::io::Result<SevCert>);

const PINNED: [Pinned; 3] = [
    ("Milan", builtin::milan::ark, builtin::milan::ask),
    ("Genoa", builtin::genoa::ark, builtin::genoa::ask),
    ("Turin", builtin::turin::ark, builtin::turin::ask),
];

/// Build and verify ARK -> ASK -> VCEK.
fn chain(certs: &SnpCerts) -> Result<Chain, Error> {
    let vcek = parse_cert(&certs.vcek, "VCEK certificate")?;
    let pinned: Vec<(&'static str, x509_cert::Certificate, x509_cert::Certificate)> = PINNED
        .iter()
        .map(|(g, ark, ask)| {
            let ark = ark().map_err(|e| chain_err(format!("built-in {g} ARK: {e}")))?;
            let ask = ask().map_err(|e| chain_err(format!("built-in {g} ASK: {e}")))?;
            Ok((*g, ark.into(), ask.into()))
        })
        .collect::<Result<_, Error>>()?;

    let candidates: Vec<(&'static str, x509_cert::Certificate, x509_cert::Certificate)> = match &certs.cert_chain {
        Some(pem) => {
            let list = x509_cert::Certificate::load_pem_chain(pem.as_bytes())
                .map_err(|e| Error::malformed("AMD certificate chain (PEM)", e))?;
            if list.len() != 2 {
                return Err(chain_err(format!("expected 2 certificates (ASK and ARK), found {}", list.len())));
            }
            // The ARK must be byte-identical to a pinned AMD root; the other one is the ASK.
            let mut found = None;
            for (i, c) in list.iter().enumerate() {
                if let Some((g, ..)) = pinned.iter().find(|(_, ark, _)| der(ark) == der(c)) {
                    found = Some((*g, i));
                }
            }
            let Some((g, ark_index)) = found else {
                return Err(chain_err(
                    "no certificate in the chain is a pinned AMD root key (ARK of Milan, Genoa or Turin)",
                ));
            };
            let ask = list[1 - ark_index].clone();
            vec![(g, list[ark_index].clone(), ask)]
        }
        None => pinned,
    };

    let mut last = None;
    for (generation, ark, ask) in candidates {
        let ca = sev::certs::snp::ca::Chain { ark: SevCert::from(ark.clone()), ask: SevCert::from(ask.clone()) };
        let r = (&ca).verify().map_err(|e| chain_err(format!("{generation} ARK does not sign the ASK: {e}"))).and_then(
            |_| {
                (&ca.ask, &SevCert::from(vcek.clone()))
                    .verify()
                    .map_err(|e| chain_err(format!("the {generation} ASK does not sign the VCEK: {e}")))
            },
        );
        match r {
            Ok(()) => return Ok(Chain { generation, ark, ask, vcek }),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| chain_err("no candidate chain")))
}

fn report_err(reason: impl std::fmt::Display) -> Error {
    Error::SnpReportRejected { reason: reason.to_string() }
}

/// ECDSA P-384 / SHA-384 over the raw signed bytes; the unsigned tail must be canonical (zero).
fn verify_signature(raw: &[u8], report: &AttestationReport, vcek: &x509_cert::Certificate) -> Result<(), Error> {
    if report.sig_algo != 1 {
        return Err(report_err(format!("signature algorithm {} is not ECDSA P-384 with SHA-384 (1)", report.sig_algo)));
    }
    // Signature: r (72 bytes LE), s (72 bytes LE), 368 reserved bytes; only 48 bytes of r and s
    // are used, everything else must be zero.
    let tail = &raw[SIGNED_LEN..];
    let nonzero_padding = tail[48..72].iter().chain(&tail[72 + 48..]).any(|&b| b != 0);
    if nonzero_padding {
        return Err(report_err("non-zero bytes in the signature padding or reserved area"));
    }
    let sig = p384::ecdsa::Signature::try_from(&report.signature).map_err(report_err)?;
    let key = p384::ecdsa::VerifyingKey::from_sec1_bytes(
        vcek.tbs_certificate.subject_public_key_info.subject_public_key.raw_bytes(),
    )
    .map_err(|e| chain_err(format!("VCEK public key is not a P-384 key: {e}")))?;
    key.verify(&raw[..SIGNED_LEN], &sig).map_err(|_| {
        report_err("signature does not verify under the VCEK (report altered, or VCEK of another chip/TCB)")
    })
}

const OID_BL_SPL: &str = "1.3.6.1.4.1.3704.1.3.1";
const OID_TEE_SPL: &str = "1.3.6.1.4.1.3704.1.3.2";
const OID_SNP_SPL: &str = "1.3.6.1.4.1.3704.1.3.3";
const OID_UCODE_SPL: &str = "1.3.6.1.4.1.3704.1.3.8";
const OID_HW_ID: &str = "1.3.6.1.4.1.3704.1.4";

/// The VCEK's hwID and SPL extensions must match the report's CHIP_ID and REPORTED_TCB.
fn check_vcek_matches(report: &AttestationReport, vcek: &x509_cert::Certificate) -> Result<(), Error> {
    let Some(exts) = &vcek.tbs_certificate.extensions else {
        return Ok(()); // A VLEK-like certificate without AMD extensions: the signature is the check.
    };
    let t = report.reported_tcb;
    for ext in exts {
        let oid = ext.extn_id.to_string();
        let value = ext.extn_value.as_bytes();
        let (name, want) = match oid.as_str() {
            OID_BL_SPL => ("bootloader", t.bootloader),
            OID_TEE_SPL => ("tee", t.tee),
            OID_SNP_SPL => ("snp", t.snp),
            OID_UCODE_SPL => ("microcode", t.microcode),
            OID_HW_ID => {
                let id = x509_cert::der::asn1::OctetString::from_der(value)
                    .map(|o| o.as_bytes().to_vec())
                    .unwrap_or_else(|_| value.to_vec());
                if report.chip_id != [0u8; 64] && id != report.chip_id {
                    return Err(report_err("the VCEK was issued for another chip (hwID differs from CHIP_ID)"));
                }
                continue;
            }
            _ => continue,
        };
        let got = u8::from_der(value)
            .map_err(|e| Error::malformed("VCEK certificate", format!("SPL extension {oid}: {e}")))?;
        if got != want {
            return Err(report_err(format!(
                "the VCEK was issued for TCB {name}={got} but the report says {name}={want}"
            )));
        }
    }
    Ok(())
}

/// Guest policy rules: no debug, no migration agent, VMPL and minimum TCB.
fn check_guest_policy(report: &AttestationReport, policy: &Policy) -> Result<(), Error> {
    if report.policy.debug_allowed() && !policy.allow_debug {
        return Err(Error::DebugRefused { what: "debug SEV-SNP guest (guest policy DEBUG=1)" });
    }
    if report.policy.migrate_ma_allowed() {
        return Err(Error::MigrationAgentRefused);
    }
    if report.vmpl > policy.snp_max_vmpl {
        return Err(Error::VmplRefused { vmpl: report.vmpl, max: policy.snp_max_vmpl });
    }
    let t = report.reported_tcb;
    let min = policy.snp_min_tcb;
    for (component, actual, minimum) in [
        ("bootloader", t.bootloader, min.bootloader),
        ("tee", t.tee, min.tee),
        ("snp", t.snp, min.snp),
        ("microcode", t.microcode, min.microcode),
    ] {
        if actual < minimum {
            return Err(Error::SnpTcbTooLow { component, actual, minimum });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn report() -> AttestationReport {
        let dir = std::env::var_os("SOV_TEST_TEE_DATA").map_or_else(
            || std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/tee"),
            std::path::PathBuf::from,
        );
        let hex = std::fs::read_to_string(dir.join("snp/report_milan.hex")).unwrap();
        AttestationReport::from_bytes(&hex::decode(hex.trim()).unwrap()).unwrap()
    }

    /// The sample guest has neither DEBUG nor MIGRATE_MA set; this tests the rule on its parsed
    /// report with the policy bits set afterwards (a changed byte would also break the signature).
    #[test]
    fn guest_policy_rules() {
        let policy = Policy::default();
        let r = report();
        check_guest_policy(&r, &policy).unwrap();

        let mut dbg = r;
        dbg.policy.set_debug_allowed(true);
        let e = check_guest_policy(&dbg, &policy).unwrap_err();
        assert_eq!(e.to_string(), "debug SEV-SNP guest (guest policy DEBUG=1) refused");
        check_guest_policy(&dbg, &Policy { allow_debug: true, ..Policy::default() }).unwrap();

        let mut ma = r;
        ma.policy.set_migrate_ma_allowed(true);
        assert!(matches!(check_guest_policy(&ma, &policy), Err(Error::MigrationAgentRefused)));

        let mut vmpl = r;
        vmpl.vmpl = 2;
        assert_eq!(
            check_guest_policy(&vmpl, &policy).unwrap_err().to_string(),
            "SEV-SNP report comes from VMPL 2, above the maximum 0 ([attest] snp_max_vmpl)"
        );

        let strict = Policy { snp_min_tcb: crate::SnpMinTcb { snp: 9, ..Default::default() }, ..Policy::default() };
        assert_eq!(
            check_guest_policy(&r, &strict).unwrap_err().to_string(),
            "SEV-SNP reported TCB snp=8 is below the minimum 9 ([attest] snp_min_tcb.snp)"
        );
    }
}
