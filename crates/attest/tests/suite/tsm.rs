//! configfs-tsm evidence generation (absent on this machine).

use sov_attest::{Error, TSM_REPORT_DIR, tsm_report, tsm_report_in};

#[test]
fn absent_configfs_tsm_gives_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("sys/kernel/config/tsm/report");
    let e = tsm_report_in(&missing, [0; 64]).unwrap_err();
    assert!(matches!(e, Error::TsmUnavailable { .. }), "{e:?}");
    assert_eq!(
        e.to_string(),
        format!(
            "configfs-tsm is not available at {} (needs a TDX or SEV-SNP guest with Linux >= 6.7 and configfs mounted at /sys/kernel/config)",
            missing.display()
        )
    );
    // On this (non-TEE) machine the real path is absent too.
    if !std::path::Path::new(TSM_REPORT_DIR).exists() {
        assert!(matches!(tsm_report([0; 64]), Err(Error::TsmUnavailable { .. })));
    }
}

#[test]
fn a_directory_that_is_not_configfs_fails_with_the_missing_attribute() {
    // A plain directory accepts the request directory and `inblob`, but has no `generation`.
    let dir = tempfile::tempdir().unwrap();
    let e = tsm_report_in(dir.path(), [0; 64]).unwrap_err();
    assert!(matches!(e, Error::Tsm { op: "read", .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.starts_with("configfs-tsm: cannot read ") && msg.contains("/generation: "), "{msg}");
}
