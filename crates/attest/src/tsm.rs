//! Provider side: produce TDX / SEV-SNP evidence through Linux configfs-tsm.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Error;

/// The configfs-tsm report directory on a guest.
pub const TSM_REPORT_DIR: &str = "/sys/kernel/config/tsm/report";

/// Generate evidence whose `report_data` is `report_data` (use [`crate::report_data`] to bind an
/// HPKE key). Returns the provider name (`tdx_guest`, `sev_guest`, ...) and the raw evidence
/// (TDX quote or SEV-SNP report).
///
/// configfs-tsm (Linux >= 6.7) exposes the guest's quote/report generation as files: creating a
/// directory under `/sys/kernel/config/tsm/report/` makes a request; writing 64 bytes to its
/// `inblob` sets `report_data`; reading `outblob` returns the quote (TDX) or the report (SEV-SNP);
/// `provider` names the backend (`tdx_guest`, `sev_guest`); `generation` counts writes, so a
/// concurrent writer to the same directory is detected. This module uses a fresh directory per
/// request and removes it afterwards.
pub fn tsm_report(report_data: [u8; 64]) -> Result<(String, Vec<u8>), Error> {
    tsm_report_in(Path::new(TSM_REPORT_DIR), report_data)
}

/// [`tsm_report`] with another configfs-tsm report directory (for tests and unusual mounts).
pub fn tsm_report_in(report_dir: &Path, report_data: [u8; 64]) -> Result<(String, Vec<u8>), Error> {
    if !report_dir.is_dir() {
        return Err(Error::TsmUnavailable { path: report_dir.to_owned() });
    }
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let name = format!("sov-{}-{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let entry = report_dir.join(name);
    std::fs::create_dir(&entry).map_err(|source| Error::Tsm { op: "create", path: entry.clone(), source })?;
    let result = request(&entry, &report_data);
    // configfs removes the attribute files with the directory; on a plain directory (not
    // configfs) this fails, which only matters to tests.
    if let Err(e) = std::fs::remove_dir(&entry) {
        tracing::debug!(path = %entry.display(), error = %e, "could not remove configfs-tsm entry");
    }
    result
}

fn tsm_io<T>(op: &'static str, path: PathBuf, r: std::io::Result<T>) -> Result<T, Error> {
    r.map_err(|source| Error::Tsm { op, path, source })
}

fn request(entry: &Path, report_data: &[u8; 64]) -> Result<(String, Vec<u8>), Error> {
    let inblob = entry.join("inblob");
    tsm_io("write", inblob.clone(), std::fs::write(&inblob, report_data))?;
    let generation = entry.join("generation");
    let before = tsm_io("read", generation.clone(), std::fs::read_to_string(&generation))?;
    let outblob = entry.join("outblob");
    let evidence = tsm_io("read", outblob.clone(), std::fs::read(&outblob))?;
    let after = tsm_io("read", generation.clone(), std::fs::read_to_string(&generation))?;
    if before.trim() != after.trim() {
        return Err(Error::TsmProtocol(format!(
            "{} was written concurrently (generation {} -> {}); retry",
            entry.display(),
            before.trim(),
            after.trim()
        )));
    }
    let provider_path = entry.join("provider");
    let provider = tsm_io("read", provider_path.clone(), std::fs::read_to_string(&provider_path))?;
    if evidence.is_empty() {
        return Err(Error::TsmProtocol(format!("{} returned no evidence", outblob.display())));
    }
    Ok((provider.trim().to_owned(), evidence))
}
