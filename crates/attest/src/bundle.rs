//! The attestation bundle a provider serves, and its verification.

use std::time::SystemTime;

use dcap_qvl::QuoteCollateralV3;
use serde::{Deserialize, Serialize};

use crate::binding::{ExpectedKey, KeyBinding};
use crate::policy::Policy;
use crate::snp::SnpCerts;
use crate::time::{format_rfc3339, serde_rfc3339};
use crate::verdict::{AllowlistCheck, Kind, Verdict};
use crate::{Error, Mode};

/// Attestation evidence plus everything needed to check it offline, and the HPKE key it binds.
///
/// JSON shape (all byte strings base64, except the HPKE key which is hex):
///
/// ```json
/// {
///   "kind": "tdx",
///   "evidence": "BAACAIEAAAAAAAAAk5pyM/ecTKmUCg2zlX8GB...",
///   "intel_collateral": { "pck_crl_issuer_chain": "-----BEGIN CERTIFICATE-----...", "...": "..." },
///   "hpke_public_key": "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
///   "epoch": 7,
///   "expires_at": "2025-07-02T00:00:00Z"
/// }
/// ```
///
/// - `kind`: `tdx`, `sgx`, `snp` or `dev`.
/// - `evidence`: the raw TDX/SGX DCAP quote or the 1184-byte SEV-SNP report; empty for `dev`.
/// - `intel_collateral` (tdx, sgx): `dcap-qvl`'s `QuoteCollateralV3`, as its serde JSON.
/// - `snp_certs` (snp): `{"vcek": base64 DER, "cert_chain": PEM of ASK and ARK (optional)}`.
/// - `hpke_public_key`, `epoch`: the X25519 key clients encrypt to during this epoch; the
///   evidence's `report_data` must be [`crate::report_data`]`(hpke_public_key, epoch)`.
/// - `expires_at`: end of the epoch (RFC 3339); after it the bundle is refused.
///
/// A `dev` bundle carries no hardware evidence. It is refused unless the policy sets
/// `allow_dev = true`, and even then its key is reported as [`crate::KeyBinding::Unattested`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bundle {
    /// Kind of evidence.
    pub kind: Kind,
    /// Raw quote (tdx, sgx) or report (snp); empty for dev. Base64 in JSON.
    #[serde(with = "b64", default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<u8>,
    /// Intel collateral (tdx, sgx).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_collateral: Option<QuoteCollateralV3>,
    /// AMD certificates (snp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_certs: Option<SnpCerts>,
    /// X25519 HPKE public key, hex in JSON.
    #[serde(with = "hex32")]
    pub hpke_public_key: [u8; 32],
    /// Key epoch.
    pub epoch: u64,
    /// End of the epoch; the bundle is refused after it.
    #[serde(with = "serde_rfc3339")]
    pub expires_at: SystemTime,
}

impl Bundle {
    /// Parse a bundle from JSON, naming the offending field on error.
    pub fn from_json(json: &[u8]) -> Result<Bundle, Error> {
        serde_json::from_slice(json).map_err(|e| Error::malformed("attestation bundle JSON", e))
    }

    /// Serialise to JSON.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }

    /// The key and epoch this bundle claims; verification checks `report_data` binds them.
    pub fn expected_key(&self) -> ExpectedKey {
        ExpectedKey { hpke_public_key: self.hpke_public_key, epoch: self.epoch }
    }
}

/// The collateral a provider attaches to its bundle, read from a file it keeps fresh (e.g. from
/// Intel's PCS or a PCCS, or AMD's KDS): the bundle's own fields, `{"intel_collateral": {...}}`
/// for TDX and SGX or `{"snp_certs": {"vcek": "...", "cert_chain": "..."}}` for SEV-SNP.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Collateral {
    /// For TDX and SGX quotes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_collateral: Option<QuoteCollateralV3>,
    /// For SEV-SNP reports.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snp_certs: Option<SnpCerts>,
}

impl Collateral {
    /// Reads a collateral file.
    pub fn read(path: &std::path::Path) -> Result<Collateral, Error> {
        let json = std::fs::read(path).map_err(|source| Error::Io { path: path.to_owned(), source })?;
        serde_json::from_slice(&json).map_err(|e| Error::malformed("collateral JSON", e))
    }

    /// Puts the part that fits `bundle`'s kind into it; an error names what is missing.
    pub fn attach(&self, bundle: &mut Bundle) -> Result<(), Error> {
        match bundle.kind {
            Kind::Tdx | Kind::Sgx => {
                let collateral = self.intel_collateral.clone().ok_or_else(|| Error::MissingCollateral {
                    what: "the collateral file has no intel_collateral for this TDX/SGX quote".into(),
                })?;
                bundle.intel_collateral = Some(collateral);
            }
            Kind::Snp => {
                let certs = self.snp_certs.clone().ok_or_else(|| Error::MissingCollateral {
                    what: "the collateral file has no snp_certs (VCEK) for this SEV-SNP report".into(),
                })?;
                bundle.snp_certs = Some(certs);
            }
            Kind::Dev => {}
        }
        Ok(())
    }
}

/// Verify a bundle at `at`: its evidence, its collateral, the policy, and that `report_data`
/// binds the bundle's HPKE key and epoch. On success the verdict's key binding is
/// [`KeyBinding::Bound`] (or [`KeyBinding::Unattested`] for an allowed dev bundle).
pub fn verify_bundle(bundle: &Bundle, at: SystemTime, policy: &Policy) -> Result<Verdict, Error> {
    verify(bundle, at, policy, Mode::Verify)
}

pub(crate) fn verify(bundle: &Bundle, at: SystemTime, policy: &Policy, mode: Mode) -> Result<Verdict, Error> {
    if bundle.kind == Kind::Dev && !policy.allow_dev {
        return Err(Error::DevRefused);
    }
    policy.validate()?;
    if at >= bundle.expires_at {
        return Err(Error::BundleExpired { expired_at: format_rfc3339(bundle.expires_at), at: format_rfc3339(at) });
    }
    let expected = bundle.expected_key();
    let verdict = match bundle.kind {
        Kind::Dev => {
            tracing::warn!("accepting a dev attestation bundle (allow_dev = true): no hardware evidence");
            Verdict {
                kind: Kind::Dev,
                tcb_status: "none (no hardware evidence)".to_owned(),
                advisory_ids: Vec::new(),
                measurements: Vec::new(),
                allowlist: AllowlistCheck::Passed,
                report_data: String::new(),
                key_binding: KeyBinding::Unattested,
                valid_until: bundle.expires_at,
                key_expires_at: None,
                verified_at: at,
            }
        }
        Kind::Tdx | Kind::Sgx => {
            let collateral = bundle.intel_collateral.as_ref().ok_or_else(|| Error::MissingCollateral {
                what: format!("bundle of kind {:?} has no intel_collateral", bundle.kind).to_lowercase(),
            })?;
            crate::intel::verify(&bundle.evidence, collateral, at, policy, Some(&expected), Some(bundle.kind), mode)?
        }
        Kind::Snp => {
            let certs = bundle.snp_certs.as_ref().ok_or_else(|| Error::MissingCollateral {
                what: "bundle of kind snp has no snp_certs (VCEK)".to_owned(),
            })?;
            crate::snp::verify(&bundle.evidence, certs, at, policy, Some(&expected), mode)?
        }
    };
    Ok(Verdict { key_expires_at: Some(bundle.expires_at), ..verdict })
}

/// Serde adapter: bytes as standard base64 (whitespace ignored on input).
pub(crate) mod b64 {
    use base64::Engine as _;
    use base64::engine::general_purpose::STANDARD;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&STANDARD.encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = String::deserialize(d)?;
        let compact: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        STANDARD.decode(compact).map_err(|e| serde::de::Error::custom(format!("bad base64: {e}")))
    }
}

/// Serde adapter: 32 bytes as hex.
mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(v))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let s = String::deserialize(d)?;
        let mut out = [0u8; 32];
        hex::decode_to_slice(s.trim(), &mut out)
            .map_err(|e| serde::de::Error::custom(format!("expected 32 bytes of hex: {e}")))?;
        Ok(out)
    }
}
