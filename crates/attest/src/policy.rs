//! What a verifier accepts: TCB statuses, debug, measurement allowlists, SEV-SNP minimums.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::Error;

/// Every TCB status name Intel's collateral can yield, for [`Policy::allowed_statuses`].
/// `Revoked` is listed for completeness but can never be allowed.
pub const TCB_STATUSES: &[&str] = &[
    "UpToDate",
    "SWHardeningNeeded",
    "ConfigurationNeeded",
    "ConfigurationAndSWHardeningNeeded",
    "OutOfDate",
    "OutOfDateConfigurationNeeded",
    "TDRelaunchAdvised",
    "TDRelaunchAdvisedConfigurationNeeded",
    "Revoked",
];

/// Attestation policy, as in the `[attest]` section of the config. Unknown keys are refused so
/// that a misspelt allowlist fails loudly instead of silently allowing nothing (or everything).
///
/// Allowlist entries are hex (upper or lower case, optional `0x`); each must have the register's
/// exact length.
///
/// The defaults are strict: only `UpToDate` platforms, no debug guests, no `dev` bundles, and
/// **empty allowlists, which accept no measurement at all**. A user adds the measurements of the
/// images they trust (print them with [`crate::inspect_file`], i.e. `sov attest verify
/// --print-measurements`) to the `[attest]` section of the config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Policy {
    /// Intel TCB statuses to accept. Default `["UpToDate"]`. Any other status (e.g. `OutOfDate`,
    /// `SWHardeningNeeded`) means the platform lacks a microcode/firmware fix or a configuration
    /// Intel recommends; accept it only knowingly. `Revoked` can never be accepted.
    pub allowed_statuses: Vec<String>,
    /// Accept debug TDs, debug enclaves and debug SEV-SNP guests, whose memory the host can read.
    /// Default `false`; `true` voids confidentiality and is for testing only.
    pub allow_debug: bool,
    /// Accept `dev` bundles, which carry no hardware evidence at all. Default `false`; for local
    /// testing against a fake provider only.
    pub allow_dev: bool,
    /// TDX: allowed MRTD values (48 bytes hex): the initial TD memory, i.e. the firmware.
    pub tdx_mrtd: Vec<String>,
    /// TDX: allowed RTMR0 values (48 bytes hex): firmware configuration.
    pub tdx_rtmr0: Vec<String>,
    /// TDX: allowed RTMR1 values (48 bytes hex): the OS loader and kernel.
    pub tdx_rtmr1: Vec<String>,
    /// TDX: allowed RTMR2 values (48 bytes hex): kernel command line and initrd.
    pub tdx_rtmr2: Vec<String>,
    /// TDX: allowed RTMR3 values (48 bytes hex): runtime (application) measurements.
    pub tdx_rtmr3: Vec<String>,
    /// SGX: allowed MRENCLAVE values (32 bytes hex). An enclave is accepted if its MRENCLAVE is
    /// here **or** its MRSIGNER is in [`Policy::sgx_mrsigner`].
    pub sgx_mrenclave: Vec<String>,
    /// SGX: allowed MRSIGNER values (32 bytes hex), i.e. trusted enclave signing keys.
    pub sgx_mrsigner: Vec<String>,
    /// SEV-SNP: allowed launch MEASUREMENT values (48 bytes hex).
    pub snp_measurement: Vec<String>,
    /// SEV-SNP: minimum reported TCB (the one the VCEK is derived from). Default all zero, i.e.
    /// no minimum: set it to the current values AMD publishes for your CPU generation.
    pub snp_min_tcb: SnpMinTcb,
    /// SEV-SNP: highest VMPL the report may come from. Default 0 (the most privileged guest
    /// level; a higher level could be any less trusted code in the guest).
    pub snp_max_vmpl: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_statuses: vec!["UpToDate".to_owned()],
            allow_debug: false,
            allow_dev: false,
            tdx_mrtd: Vec::new(),
            tdx_rtmr0: Vec::new(),
            tdx_rtmr1: Vec::new(),
            tdx_rtmr2: Vec::new(),
            tdx_rtmr3: Vec::new(),
            sgx_mrenclave: Vec::new(),
            sgx_mrsigner: Vec::new(),
            snp_measurement: Vec::new(),
            snp_min_tcb: SnpMinTcb::default(),
            snp_max_vmpl: 0,
        }
    }
}

/// Minimum SEV-SNP TCB component versions (security patch levels).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SnpMinTcb {
    /// PSP bootloader SPL.
    pub bootloader: u8,
    /// PSP OS (TEE) SPL.
    pub tee: u8,
    /// SNP firmware SPL.
    pub snp: u8,
    /// CPU microcode SPL.
    pub microcode: u8,
}

impl Policy {
    /// Check that every status name is known (and not `Revoked`) and every allowlist entry is
    /// hex of the right length. Verification calls this first.
    pub fn validate(&self) -> Result<(), Error> {
        for s in &self.allowed_statuses {
            if s == "Revoked" {
                return Err(Error::InvalidPolicy(
                    "TCB status Revoked can never be allowed: the platform's keys are compromised".into(),
                ));
            }
            if !TCB_STATUSES.contains(&s.as_str()) {
                return Err(Error::InvalidPolicy(format!(
                    "unknown TCB status `{s}` in allowed_statuses (known: {})",
                    TCB_STATUSES[..TCB_STATUSES.len() - 1].join(", ")
                )));
            }
        }
        for (key, list, len) in self.allowlists() {
            for entry in list {
                decode_entry(entry, len)
                    .map_err(|why| Error::InvalidPolicy(format!("[attest] {key} entry `{entry}`: {why}")))?;
            }
        }
        Ok(())
    }

    /// This policy with one more allowed TCB status (the CLI's `--allow-status S`).
    pub fn with_allowed_status(mut self, status: &str) -> Result<Self, Error> {
        if !self.allowed_statuses.iter().any(|s| s == status) {
            self.allowed_statuses.push(status.to_owned());
        }
        self.validate()?;
        Ok(self)
    }

    fn allowlists(&self) -> [(&'static str, &Vec<String>, usize); 8] {
        [
            ("tdx_mrtd", &self.tdx_mrtd, 48),
            ("tdx_rtmr0", &self.tdx_rtmr0, 48),
            ("tdx_rtmr1", &self.tdx_rtmr1, 48),
            ("tdx_rtmr2", &self.tdx_rtmr2, 48),
            ("tdx_rtmr3", &self.tdx_rtmr3, 48),
            ("sgx_mrenclave", &self.sgx_mrenclave, 32),
            ("sgx_mrsigner", &self.sgx_mrsigner, 32),
            ("snp_measurement", &self.snp_measurement, 48),
        ]
    }

    /// The allowlist with this config key.
    pub(crate) fn allowlist(&self, config_key: &str) -> &[String] {
        self.allowlists().into_iter().find(|(k, _, _)| *k == config_key).map_or(&[][..], |(_, l, _)| l.as_slice())
    }

    /// A digest of the whole policy, so that cached verdicts are reused only under the policy
    /// that produced them.
    pub(crate) fn fingerprint(&self) -> [u8; 32] {
        let json = serde_json::to_vec(self).unwrap_or_default();
        Sha256::digest(json).into()
    }

    /// Whether `status` (Intel's name) is on the list.
    pub(crate) fn status_allowed(&self, status: &str) -> bool {
        status != "Revoked" && self.allowed_statuses.iter().any(|s| s == status)
    }
}

fn decode_entry(entry: &str, len: usize) -> Result<Vec<u8>, String> {
    let t = entry.trim();
    let t = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")).unwrap_or(t);
    let bytes = hex::decode(t).map_err(|e| format!("not hex ({e})"))?;
    if bytes.len() != len {
        return Err(format!("{} bytes, expected {len}", bytes.len()));
    }
    Ok(bytes)
}

/// Whether `value` is on the allowlist `config_key` of `policy`.
pub(crate) fn on_allowlist(policy: &Policy, config_key: &str, value: &[u8]) -> bool {
    policy.allowlist(config_key).iter().any(|e| decode_entry(e, value.len()).is_ok_and(|b| b == value))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn defaults_are_strict() {
        let p = Policy::default();
        assert_eq!(p.allowed_statuses, vec!["UpToDate"]);
        assert!(!p.allow_debug && !p.allow_dev);
        assert!(p.tdx_mrtd.is_empty() && p.snp_measurement.is_empty());
        assert!(!on_allowlist(&p, "tdx_mrtd", &[0u8; 48]));
        // An empty TOML/JSON section yields the same defaults.
        let from_json: Policy = serde_json::from_str("{}").unwrap();
        assert_eq!(from_json, p);
    }

    #[test]
    fn unknown_keys_and_bad_entries_are_refused() {
        assert!(serde_json::from_str::<Policy>(r#"{"tdx_mrdt": []}"#).is_err());
        let p = Policy { tdx_mrtd: vec!["abcd".into()], ..Policy::default() };
        let e = p.validate().unwrap_err();
        assert_eq!(e.to_string(), "invalid attestation policy: [attest] tdx_mrtd entry `abcd`: 2 bytes, expected 48");
        let e = Policy::default().with_allowed_status("Outdated").unwrap_err();
        assert!(e.to_string().contains("unknown TCB status `Outdated`"), "{e}");
        let e = Policy::default().with_allowed_status("Revoked").unwrap_err();
        assert!(e.to_string().contains("Revoked can never be allowed"), "{e}");
    }

    #[test]
    fn allowlist_matching_normalises_hex() {
        let v = [0xabu8; 32];
        let p = Policy { sgx_mrsigner: vec![format!("0x{}", hex::encode_upper(v))], ..Policy::default() };
        p.validate().unwrap();
        assert!(on_allowlist(&p, "sgx_mrsigner", &v));
        assert!(!on_allowlist(&p, "sgx_mrenclave", &v));
    }
}
