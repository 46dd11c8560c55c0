//! The one error type of this crate.
//!
//! Variants fall in three groups, kept apart so a caller can react differently:
//! - **bad input**: a file that cannot be read or parsed, a policy that does not make sense
//!   ([`Error::Io`], [`Error::Malformed`], [`Error::UnknownFormat`], [`Error::MissingCollateral`],
//!   [`Error::InvalidPolicy`]);
//! - **refused evidence**: the evidence is forged, stale, or genuine but not acceptable under the
//!   policy (everything from [`Error::QuoteRejected`] to [`Error::DevRefused`]); a provider that
//!   serves such evidence must not receive private data;
//! - **evidence generation** on a guest ([`Error::TsmUnavailable`], [`Error::Tsm`]).

use std::path::PathBuf;

/// Why an attestation was not accepted (or could not be produced).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// Input that does not parse: a truncated quote, bad JSON, bad base64/hex, a bad certificate.
    #[error("malformed {what}: {reason}")]
    Malformed {
        /// What was being parsed (e.g. "bundle JSON", "SEV-SNP report").
        what: &'static str,
        /// The parser's complaint.
        reason: String,
    },

    /// The file is neither a bundle, nor an Intel DCAP quote, nor an SEV-SNP report.
    #[error(
        "{} is not an attestation bundle (JSON), an Intel TDX/SGX DCAP quote, or a 1184-byte AMD SEV-SNP report (raw or hex)",
        path.display()
    )]
    UnknownFormat {
        /// The file.
        path: PathBuf,
    },

    /// Raw evidence was given without the collateral needed to check it.
    #[error("{what}")]
    MissingCollateral {
        /// What is missing and how to provide it.
        what: String,
    },

    /// The policy itself is invalid (unknown TCB status name, allowlist entry that is not hex of
    /// the right length, ...).
    #[error("invalid attestation policy: {0}")]
    InvalidPolicy(String),

    /// Cryptographic or structural verification of an Intel quote failed: a signature does not
    /// verify, a certificate chain does not lead to the pinned Intel SGX Root CA, a certificate is
    /// revoked, the collateral does not match the platform, TD attributes are unsafe, ...
    #[error("Intel DCAP quote verification failed: {reason}")]
    QuoteRejected {
        /// dcap-qvl's explanation, with its context chain.
        reason: String,
    },

    /// The AMD certificate chain (ARK -> ASK -> VCEK) does not verify or does not end at a pinned
    /// AMD root key.
    #[error("AMD certificate chain rejected: {reason}")]
    SnpChainRejected {
        /// What failed.
        reason: String,
    },

    /// An SEV-SNP report is not signed by the VCEK, or does not match it.
    #[error("SEV-SNP report rejected: {reason}")]
    SnpReportRejected {
        /// What failed.
        reason: String,
    },

    /// The collateral (or a certificate) had expired at the verification time.
    #[error("collateral expired at {expired_at} (verifying at {at})")]
    CollateralExpired {
        /// RFC 3339 time of the earliest expiry.
        expired_at: String,
        /// RFC 3339 verification time.
        at: String,
    },

    /// The collateral (or a certificate) was issued after the verification time.
    #[error("collateral is not valid before {valid_from} (verifying at {at})")]
    CollateralNotYetValid {
        /// RFC 3339 time from which all of the collateral is valid.
        valid_from: String,
        /// RFC 3339 verification time.
        at: String,
    },

    /// The platform's TCB status is genuine but not on the policy's list.
    #[error(
        "TCB status {status} is not allowed (allowed: {}); pass --allow-status {status} to accept it{}",
        allowed.join(", "),
        advisories_suffix(advisory_ids)
    )]
    TcbStatusNotAllowed {
        /// The status, as Intel names it (e.g. `OutOfDate`).
        status: String,
        /// The policy's allowed statuses.
        allowed: Vec<String>,
        /// Intel security advisories that apply.
        advisory_ids: Vec<String>,
    },

    /// An SEV-SNP platform's TCB component is below the policy's minimum.
    #[error(
        "SEV-SNP reported TCB {component}={actual} is below the minimum {minimum} ([attest] snp_min_tcb.{component})"
    )]
    SnpTcbTooLow {
        /// `bootloader`, `tee`, `snp` or `microcode`.
        component: &'static str,
        /// The reported value.
        actual: u8,
        /// The policy's minimum.
        minimum: u8,
    },

    /// The guest runs in a debug mode, where the host can read its memory.
    #[error("{what} refused")]
    DebugRefused {
        /// `debug TD`, `debug enclave`, `debug SEV-SNP guest`, ...
        what: &'static str,
    },

    /// An SEV-SNP guest policy allows a migration agent, which could export the guest's memory.
    #[error("SEV-SNP guest policy allows a migration agent; refused")]
    MigrationAgentRefused,

    /// An SEV-SNP report was requested at a less privileged VMPL than the policy accepts.
    #[error("SEV-SNP report comes from VMPL {vmpl}, above the maximum {max} ([attest] snp_max_vmpl)")]
    VmplRefused {
        /// The report's VMPL.
        vmpl: u32,
        /// The policy's maximum.
        max: u32,
    },

    /// A measurement is not on the configured allowlist.
    #[error(
        "measurement {register}={value} is not on the allowlist [attest] {config_key}; if you trust this image, add it there"
    )]
    MeasurementNotAllowed {
        /// Register name (e.g. `MRTD`, `RTMR0`, `MRENCLAVE`, `MEASUREMENT`).
        register: &'static str,
        /// Its value in lower-case hex.
        value: String,
        /// The config key of the allowlist (e.g. `tdx_mrtd`).
        config_key: &'static str,
    },

    /// `report_data` is not `binding(key, epoch) || 0^32` for the offered HPKE key and epoch.
    #[error("report_data does not bind the offered HPKE key (epoch {epoch})")]
    KeyNotBound {
        /// The epoch that was offered with the key.
        epoch: u64,
    },

    /// A bundle's own expiry (the end of its key epoch) has passed.
    #[error("bundle expired at {expired_at} (verifying at {at})")]
    BundleExpired {
        /// RFC 3339 expiry from the bundle.
        expired_at: String,
        /// RFC 3339 verification time.
        at: String,
    },

    /// A `dev` bundle was offered and the policy does not allow it.
    #[error(
        "dev bundle refused: it carries no hardware evidence, so nothing shows its key is held inside a TEE; only a policy with allow_dev = true (local testing) accepts it"
    )]
    DevRefused,

    /// configfs-tsm is not present, so this machine cannot produce attestation evidence.
    #[error(
        "configfs-tsm is not available at {} (needs a TDX or SEV-SNP guest with Linux >= 6.7 and configfs mounted at /sys/kernel/config)",
        path.display()
    )]
    TsmUnavailable {
        /// The report directory that was looked for.
        path: PathBuf,
    },

    /// A configfs-tsm operation failed.
    #[error("configfs-tsm: cannot {op} {}: {source}", path.display())]
    Tsm {
        /// What was being done (e.g. "read outblob").
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// configfs-tsm produced an unusable result.
    #[error("configfs-tsm: {0}")]
    TsmProtocol(String),
}

fn advisories_suffix(ids: &[String]) -> String {
    if ids.is_empty() { String::new() } else { format!(" (advisories: {})", ids.join(", ")) }
}

impl Error {
    pub(crate) fn malformed(what: &'static str, reason: impl std::fmt::Display) -> Self {
        Error::Malformed { what, reason: reason.to_string() }
    }
}
