//! Verification of files as the CLI gets them: a bundle, or raw evidence plus collateral.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use dcap_qvl::QuoteCollateralV3;

use crate::bundle::Bundle;
use crate::policy::Policy;
use crate::snp::{SNP_REPORT_LEN, SnpCerts};
use crate::verdict::Verdict;
use crate::{Error, Mode};

/// Verify `path` at `at` under `policy` (`sov attest verify FILE [--collateral C]`).
///
/// `path` is auto-detected as one of:
/// - a **bundle** (JSON, see [`crate::Bundle`]): self-contained; `collateral` must be `None`;
///   `report_data` must bind the bundle's HPKE key;
/// - an **Intel TDX/SGX DCAP quote** (raw bytes, or hex text): `collateral` is the path of
///   `dcap-qvl`'s `QuoteCollateralV3` JSON;
/// - an **AMD SEV-SNP report** (1184 raw bytes, or hex text): `collateral` is either the VCEK
///   certificate file (DER or PEM; the ASK/ARK built into the `sev` crate are used), or a
///   directory holding `vcek*.der`/`vcek*.pem` and optionally the matching ASK+ARK PEM chain
///   `cert_chain<suffix>[.pem]` (e.g. `vcek_milan.der` with `cert_chain_milan`). With several
///   VCEKs in the directory, each is tried in name order.
///
/// Raw evidence binds no key the caller offered, so its verdict reports
/// [`crate::KeyBinding::NotBound`].
pub fn verify_file(path: &Path, collateral: Option<&Path>, at: SystemTime, policy: &Policy) -> Result<Verdict, Error> {
    run(path, collateral, at, policy, Mode::Verify)
}

/// Like [`verify_file`] but without the measurement allowlist check, so that a user can see
/// the measurements of a genuine, acceptable platform and add them to the config
/// (`sov attest verify --print-measurements`). Every other check still applies. The verdict
/// says [`crate::AllowlistCheck::Skipped`] and must not be used to trust a provider.
pub fn inspect_file(path: &Path, collateral: Option<&Path>, at: SystemTime, policy: &Policy) -> Result<Verdict, Error> {
    run(path, collateral, at, policy, Mode::Inspect)
}

fn read(path: &Path) -> Result<Vec<u8>, Error> {
    std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })
}

enum Detected {
    Bundle(Vec<u8>),
    Intel(Vec<u8>),
    Snp(Vec<u8>),
}

fn detect_binary(b: Vec<u8>) -> Option<Detected> {
    let u16_at = |i: usize| b.get(i..i + 2).map(|s| u16::from_le_bytes([s[0], s[1]]));
    let u32_at = |i: usize| b.get(i..i + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]]));
    // Intel quote header: version (3, 4, 5), attestation key type 2 (ECDSA P-256), TEE type.
    if matches!(u16_at(0), Some(3..=5)) && u16_at(2) == Some(2) && matches!(u32_at(4), Some(0 | 0x81)) {
        return Some(Detected::Intel(b));
    }
    if b.len() == SNP_REPORT_LEN && matches!(u32_at(0), Some(2..=5)) {
        return Some(Detected::Snp(b));
    }
    None
}

fn detect(bytes: Vec<u8>) -> Option<Detected> {
    let text = bytes.trim_ascii();
    if text.starts_with(b"{") {
        return Some(Detected::Bundle(bytes));
    }
    if !text.is_empty() && text.iter().all(|c| c.is_ascii_hexdigit() || c.is_ascii_whitespace()) {
        let compact: Vec<u8> = text.iter().copied().filter(|c| !c.is_ascii_whitespace()).collect();
        if let Ok(decoded) = hex::decode(compact) {
            return detect_binary(decoded);
        }
    }
    detect_binary(bytes)
}

fn run(path: &Path, collateral: Option<&Path>, at: SystemTime, policy: &Policy, mode: Mode) -> Result<Verdict, Error> {
    let bytes = read(path)?;
    match detect(bytes).ok_or_else(|| Error::UnknownFormat { path: path.to_owned() })? {
        Detected::Bundle(json) => {
            if let Some(c) = collateral {
                return Err(Error::MissingCollateral {
                    what: format!(
                        "{} is a bundle, which carries its own collateral; do not pass --collateral {}",
                        path.display(),
                        c.display()
                    ),
                });
            }
            let bundle = Bundle::from_json(&json)?;
            crate::bundle::verify(&bundle, at, policy, mode)
        }
        Detected::Intel(quote) => {
            let c = collateral.ok_or_else(|| Error::MissingCollateral {
                what:
                    "an Intel DCAP quote needs its collateral: pass --collateral FILE (dcap-qvl QuoteCollateralV3 JSON)"
                        .to_owned(),
            })?;
            let collateral: QuoteCollateralV3 = serde_json::from_slice(&read(c)?)
                .map_err(|e| Error::malformed("Intel collateral JSON (QuoteCollateralV3)", e))?;
            crate::intel::verify(&quote, &collateral, at, policy, None, None, mode)
        }
        Detected::Snp(report) => {
            let c = collateral.ok_or_else(|| Error::MissingCollateral {
                what: "an SEV-SNP report needs its VCEK: pass --collateral VCEK_FILE or --collateral DIR (with vcek*.der and optionally cert_chain*)"
                    .to_owned(),
            })?;
            let candidates = snp_candidates(c)?;
            let mut first_err = None;
            for certs in candidates {
                match crate::snp::verify(&report, &certs, at, policy, None, mode) {
                    Ok(v) => return Ok(v),
                    // This VCEK does not fit the report: try the next one.
                    Err(e @ (Error::SnpChainRejected { .. } | Error::SnpReportRejected { .. })) => {
                        first_err.get_or_insert(e);
                    }
                    // It fits, and the report is refused on its merits.
                    Err(e) => return Err(e),
                }
            }
            Err(first_err.unwrap_or_else(|| Error::MissingCollateral { what: "no VCEK".to_owned() }))
        }
    }
}

/// VCEK (+ chain) candidates from a file or directory.
fn snp_candidates(c: &Path) -> Result<Vec<SnpCerts>, Error> {
    if !c.is_dir() {
        return Ok(vec![SnpCerts { vcek: read(c)?, cert_chain: None }]);
    }
    let entries = std::fs::read_dir(c).map_err(|source| Error::Io { path: c.to_owned(), source })?;
    let mut vceks: Vec<(PathBuf, String)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io { path: c.to_owned(), source })?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(rest) = name.strip_prefix("vcek") {
            let suffix = rest.strip_suffix(".der").or_else(|| rest.strip_suffix(".pem")).unwrap_or(rest);
            vceks.push((entry.path(), suffix.to_owned()));
        }
    }
    if vceks.is_empty() {
        return Err(Error::MissingCollateral { what: format!("no vcek*.der or vcek*.pem file in {}", c.display()) });
    }
    vceks.sort();
    let mut out = Vec::new();
    for (path, suffix) in vceks {
        let mut cert_chain = None;
        for name in [format!("cert_chain{suffix}"), format!("cert_chain{suffix}.pem")] {
            let p = c.join(name);
            if p.is_file() {
                let pem = read(&p)?;
                cert_chain = Some(
                    String::from_utf8(pem).map_err(|_| Error::malformed("AMD certificate chain (PEM)", p.display()))?,
                );
                break;
            }
        }
        out.push(SnpCerts { vcek: read(&path)?, cert_chain });
    }
    Ok(out)
}
