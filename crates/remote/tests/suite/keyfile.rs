//! The provider's key file: mode 0600, atomic save, refusal of readable or malformed files.

use std::os::unix::fs::PermissionsExt as _;

use sov_remote::{Error, KeyPair, open_request, seal_request};

#[test]
fn save_then_load_gives_the_same_working_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provider.key");
    let kp = KeyPair::generate_with_id(4);
    kp.save(&path).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let loaded = KeyPair::load(&path).unwrap();
    assert_eq!(loaded.key_id(), 4);
    assert_eq!(loaded.public_key(), kp.public_key());
    let (envelope, _) = seal_request(&kp.public_key(), 4, b"hello").unwrap();
    assert_eq!(open_request(&loaded, &envelope).unwrap().0, b"hello");
    // Only the key file is left: no temporary files.
    let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, vec![std::ffi::OsString::from("provider.key")]);
}

#[test]
fn save_replaces_an_existing_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provider.key");
    KeyPair::generate_with_id(1).save(&path).unwrap();
    let newer = KeyPair::generate_with_id(2);
    newer.save(&path).unwrap();
    assert_eq!(KeyPair::load(&path).unwrap().public_key(), newer.public_key());
}

#[test]
fn load_refuses_a_file_others_may_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provider.key");
    KeyPair::generate().save(&path).unwrap();
    for mode in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let err = KeyPair::load(&path).unwrap_err();
        assert!(matches!(err, Error::KeyFilePermissions { mode: m, .. } if m == mode), "{err}");
        assert!(err.to_string().contains("chmod 600"), "{err}");
    }
}

#[test]
fn load_reports_missing_and_malformed_files() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("absent.key");
    let err = KeyPair::load(&missing).unwrap_err();
    assert!(matches!(err, Error::KeyFileIo { .. }), "{err}");
    assert!(err.to_string().contains("absent.key"), "{err}");

    let good = KeyPair::generate().to_bytes();
    let cases: [(&str, Vec<u8>); 3] = [
        ("short", good[..good.len() - 1].to_vec()),
        ("long", [good.as_slice(), b"x"].concat()),
        ("garbage", b"not a key file at all, just some text here".to_vec()),
    ];
    for (name, content) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = KeyPair::load(&path).unwrap_err();
        assert!(matches!(err, Error::KeyFileFormat { .. }), "{name}: {err}");
    }

    let err = KeyPair::load(dir.path()).unwrap_err();
    assert!(matches!(err, Error::KeyFileFormat { .. } | Error::KeyFilePermissions { .. }), "{err}");
}
