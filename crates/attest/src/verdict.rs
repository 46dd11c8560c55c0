//! The result of a successful verification, and its human rendering.

use std::fmt;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::binding::KeyBinding;
use crate::time::{format_rfc3339, serde_rfc3339, serde_rfc3339_opt};

/// The kind of evidence.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Intel TDX DCAP quote (v4 or v5).
    Tdx,
    /// Intel SGX DCAP quote (v3).
    Sgx,
    /// AMD SEV-SNP attestation report.
    Snp,
    /// No hardware evidence (local testing only; refused unless `allow_dev`).
    Dev,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Tdx => "Intel TDX",
            Kind::Sgx => "Intel SGX",
            Kind::Snp => "AMD SEV-SNP",
            Kind::Dev => "dev (no hardware evidence)",
        })
    }
}

/// One measurement register of the verified guest.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Measurement {
    /// Register name: `MRTD`, `RTMR0`..`RTMR3`, `MRENCLAVE`, `MRSIGNER`, `MEASUREMENT`.
    pub register: &'static str,
    /// The `[attest]` allowlist key for it (e.g. `tdx_mrtd`).
    pub config_key: &'static str,
    /// Value, lower-case hex.
    pub hex: String,
}

/// Whether the measurements were checked against the allowlists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AllowlistCheck {
    /// Every measurement was on its allowlist.
    Passed,
    /// Not checked (`inspect_*`: printing measurements so a user can add them). Such a verdict
    /// must not be used to trust a provider.
    Skipped,
}

/// A successful verification: the evidence is genuine, current, and acceptable under the policy.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Verdict {
    /// Kind of evidence.
    pub kind: Kind,
    /// Intel: the converged TCB status (e.g. `UpToDate`). SEV-SNP: the reported TCB versions.
    /// Dev: `none`.
    pub tcb_status: String,
    /// Intel security advisories (`INTEL-SA-…`) that apply to the platform.
    pub advisory_ids: Vec<String>,
    /// Measurement registers.
    pub measurements: Vec<Measurement>,
    /// The allowlist check.
    pub allowlist: AllowlistCheck,
    /// The 64-byte `report_data`, hex (empty for dev).
    pub report_data: String,
    /// What `report_data` says about the HPKE key.
    pub key_binding: KeyBinding,
    /// Earliest expiry of the collateral and certificates used; re-verify with fresh
    /// collateral after this.
    #[serde(with = "serde_rfc3339")]
    pub valid_until: SystemTime,
    /// End of the bundle's key epoch, if a bundle was verified.
    #[serde(serialize_with = "serde_rfc3339_opt::serialize")]
    pub key_expires_at: Option<SystemTime>,
    /// The time the evidence was checked at.
    #[serde(with = "serde_rfc3339")]
    pub verified_at: SystemTime,
}

impl Verdict {
    /// The time until which this verdict may be reused: the earlier of [`Verdict::valid_until`]
    /// and [`Verdict::key_expires_at`].
    pub fn usable_until(&self) -> SystemTime {
        match self.key_expires_at {
            Some(k) if k < self.valid_until => k,
            _ => self.valid_until,
        }
    }

    /// A TOML snippet for the `[attest]` section that allowlists exactly these measurements.
    pub fn allowlist_toml(&self) -> String {
        let mut out = String::from("[attest]\n");
        for m in &self.measurements {
            out.push_str(&format!("{} = [\"{}\"]\n", m.config_key, m.hex));
        }
        out
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.allowlist {
            _ if self.kind == Kind::Dev => {
                writeln!(f, "NOT attested: dev bundle accepted only because the policy sets allow_dev = true")?
            }
            AllowlistCheck::Passed => writeln!(f, "attestation verified: {}", self.kind)?,
            AllowlistCheck::Skipped => writeln!(
                f,
                "attestation genuine but NOT trusted: {} (measurements not checked against the allowlist)",
                self.kind
            )?,
        }
        writeln!(f, "  TCB status:   {}", self.tcb_status)?;
        if self.advisory_ids.is_empty() {
            writeln!(f, "  advisories:   none")?;
        } else {
            writeln!(f, "  advisories:   {}", self.advisory_ids.join(", "))?;
        }
        if !self.measurements.is_empty() {
            let note = match self.allowlist {
                AllowlistCheck::Passed => "on allowlist",
                AllowlistCheck::Skipped => "not checked",
            };
            writeln!(f, "  measurements ({note}):")?;
            for m in &self.measurements {
                writeln!(f, "    {:<11} {}", m.register, m.hex)?;
            }
        }
        if !self.report_data.is_empty() {
            writeln!(f, "  report_data:  {}", self.report_data)?;
        }
        match &self.key_binding {
            KeyBinding::Bound { hpke_public_key, epoch } => {
                writeln!(f, "  HPKE key:     bound: {} (epoch {epoch})", hex::encode(hpke_public_key))?
            }
            KeyBinding::NotBound => {
                writeln!(f, "  HPKE key:     not bound (no key offered; do not encrypt to this TEE on this basis)")?
            }
            KeyBinding::Unattested => {
                writeln!(f, "  HPKE key:     UNATTESTED (dev bundle: nothing proves where the key lives)")?
            }
        }
        writeln!(f, "  valid until:  {}", format_rfc3339(self.valid_until))?;
        if let Some(k) = self.key_expires_at {
            writeln!(f, "  key epoch ends: {}", format_rfc3339(k))?;
        }
        write!(f, "  verified at:  {}", format_rfc3339(self.verified_at))?;
        if self.allowlist == AllowlistCheck::Skipped && !self.measurements.is_empty() {
            write!(f, "\nTo trust this image, add to your config:\n{}", self.allowlist_toml().trim_end())?;
        }
        Ok(())
    }
}
