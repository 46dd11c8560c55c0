//! TEE attestation verification: Intel TDX/SGX DCAP quotes and AMD SEV-SNP reports, checked
//! locally against a policy.
//!
//! Before Sovereign sends anything to a remote model, the provider must prove that the key the
//! client encrypts to lives inside a confidential VM (or enclave) running an image the user
//! trusts. The provider serves a [`Bundle`]: hardware evidence, the collateral needed to check it
//! offline, and the HPKE public key bound into the evidence's `report_data` (see [`binding`]).
//! This crate checks it, entirely on the local machine:
//!
//! 1. **genuine hardware**: the quote/report signature chains up to a vendor root key pinned in
//!    this build (Intel SGX Root CA, embedded in `dcap-qvl`; AMD ARKs for Milan/Genoa/Turin,
//!    embedded in `sev`) — never to a root taken from the input;
//! 2. **current and patched**: the collateral is valid at the verification time (given
//!    explicitly; callers pass the real clock), and the TCB status is on the policy's list
//!    (default only `UpToDate`); no debug TD/enclave/guest;
//! 3. **the right software**: the measurements (TDX MRTD and RTMR0..3, SGX MRENCLAVE/MRSIGNER,
//!    SNP MEASUREMENT) are on the user's allowlists — **empty allowlists accept nothing**;
//! 4. **the right key**: `report_data` is `binding(hpke_key, epoch) || 0^32`.
//!
//! The result is a [`Verdict`] (with a human `Display` for `sov attest verify`) or a precise
//! [`Error`].
//!
//! # What it does not do
//! - It fetches nothing: collateral (Intel PCS/PCCS, AMD KDS) comes with the bundle or as files.
//!   Fetching would reveal to a third party which provider the user talks to.
//! - It does not encrypt: HPKE lives in `sov-remote`; this crate only checks the key binding.
//! - It cannot tell whether the allowlisted image is itself trustworthy; that is the user's call.
//!
//! # Security properties
//! - Fail closed: any parse error, unknown format, missing collateral, expired collateral, or
//!   unknown policy key is an error, never a weaker verdict.
//! - `dev` bundles (no hardware evidence) are refused unless the policy sets `allow_dev = true`,
//!   and even then their key is reported [`KeyBinding::Unattested`].
//! - Raw evidence verified without a key reports [`KeyBinding::NotBound`]; only a verdict with
//!   [`KeyBinding::Bound`] justifies encrypting to a key.
//! - [`inspect_file`] (printing measurements to add them) is the one path that skips a check,
//!   and its verdict says so ([`AllowlistCheck::Skipped`]).

mod binding;
mod bundle;
mod cache;
mod error;
mod file;
mod intel;
mod policy;
mod snp;
mod time;
mod tsm;
mod verdict;

pub use binding::{BINDING_DOMAIN, ExpectedKey, KeyBinding, binding, binds, report_data};
pub use bundle::{Bundle, Collateral, verify_bundle};
pub use cache::{Cache, Cached};
pub use error::Error;
pub use file::{inspect_file, verify_file};
pub use intel::verify_intel_quote;
pub use policy::{Policy, SnpMinTcb, TCB_STATUSES};
pub use snp::{SNP_REPORT_LEN, SnpCerts, verify_snp_report};
pub use time::{format_rfc3339, parse_rfc3339};
pub use tsm::{TSM_REPORT_DIR, tsm_report, tsm_report_in};
pub use verdict::{AllowlistCheck, Kind, Measurement, Verdict};

/// Intel collateral type (`dcap-qvl`'s), as carried in [`Bundle::intel_collateral`].
pub use dcap_qvl::QuoteCollateralV3;

/// Whether the allowlist check runs (verify) or is skipped (inspect).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    Verify,
    Inspect,
}
