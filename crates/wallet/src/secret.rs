//! Secrets coming in: passphrases and private keys, from a file only the user may read or from
//! the terminal with echo off.
//!
//! Both types wipe their bytes on drop and print as `[redacted]`; no error built here quotes a
//! secret (a bad private key is described by its shape, never its text).

use std::fmt;
use std::io::{IsTerminal, Read};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use zeroize::Zeroize;
pub use zeroize::Zeroizing;

use crate::Error;

/// The most bytes a passphrase or key file may hold: more means it is not the file meant.
const MAX_SECRET_FILE: usize = 4096;

/// A keystore passphrase. Never empty.
pub struct Passphrase(Zeroizing<String>);

impl Passphrase {
    /// Wraps `text`, refusing an empty passphrase.
    pub fn new(text: Zeroizing<String>) -> Result<Self, Error> {
        if text.is_empty() {
            return Err(Error::EmptySecret { what: "passphrase" });
        }
        Ok(Self(text))
    }

    /// Reads a passphrase from `path` (see [`read_secret_file`]).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        Self::new(read_secret_file(path)?)
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl PartialEq for Passphrase {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_bytes() == other.0.as_bytes()
    }
}

impl fmt::Debug for Passphrase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Passphrase([redacted])")
    }
}

/// A secp256k1 private key to import: 32 bytes, given as 64 hex digits (with or without `0x`).
pub struct PrivateKey(Zeroizing<[u8; 32]>);

impl PrivateKey {
    /// Parses 64 hex digits, `0x` optional, surrounding whitespace ignored. The error says what
    /// shape was expected and never repeats the text.
    pub fn from_hex(text: &str) -> Result<Self, Error> {
        let text = text.trim();
        let digits = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
        let mut key = Zeroizing::new([0u8; 32]);
        if digits.len() != 64 || hex_decode(digits, &mut key[..]).is_none() {
            return Err(Error::InvalidPrivateKey { reason: "expected 64 hex digits (with or without 0x)" });
        }
        // The signer checks the scalar is in range (non-zero, below the curve order).
        if alloy::signers::local::PrivateKeySigner::from_slice(&key[..]).is_err() {
            return Err(Error::InvalidPrivateKey { reason: "not a valid secp256k1 private key (zero or too large)" });
        }
        Ok(Self(key))
    }

    /// Reads a private key from `path` (see [`read_secret_file`]).
    pub fn from_file(path: &Path) -> Result<Self, Error> {
        Self::from_hex(&read_secret_file(path)?)
    }

    /// A fresh random key from the operating system's generator.
    pub(crate) fn random() -> Self {
        use rand::RngCore;
        loop {
            let mut key = Zeroizing::new([0u8; 32]);
            rand::rngs::OsRng.fill_bytes(&mut key[..]);
            if alloy::signers::local::PrivateKeySigner::from_slice(&key[..]).is_ok() {
                return Self(key);
            }
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.0[..]
    }

    /// The account this key controls.
    pub fn address(&self) -> alloy::primitives::Address {
        // A `PrivateKey` holds a valid scalar (checked when it was made), so this cannot fail;
        // the zero address would only ever mean a bug, never a key.
        alloy::signers::local::PrivateKeySigner::from_slice(&self.0[..]).map(|s| s.address()).unwrap_or_default()
    }
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PrivateKey([redacted])")
    }
}

/// Decodes hex digits into `out` (same length / 2) without copying the text anywhere else.
fn hex_decode(digits: &str, out: &mut [u8]) -> Option<()> {
    let nibble = |c: u8| (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok());
    for (byte, pair) in out.iter_mut().zip(digits.as_bytes().chunks_exact(2)) {
        *byte = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(())
}

const NOT_OWNED: &str = "it is not owned by you";

/// Why a secret file may not be used, if it may not. Pure: `file_uid` and `mode` are the
/// file's, `my_uid` the reader's.
pub fn check_secret_file(file_uid: u32, mode: u32, my_uid: u32) -> Result<(), &'static str> {
    if file_uid != my_uid {
        return Err(NOT_OWNED);
    }
    if mode & 0o077 != 0 {
        return Err("others may read or change it");
    }
    Ok(())
}

/// Reads a secret from `path`: one line (a final `\n` or `\r\n` is dropped), at most 4 KiB.
///
/// Refused unless the file is owned by the user and no one else may read or write it (mode 0600
/// or stricter); the error says to `chmod 600` it. A pipe (`<(pass show wallet)`) is accepted
/// under the same rule; directories and devices are not.
pub fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    let io = |source| Error::Io { action: "reading", path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if !(meta.is_file() || meta.file_type().is_fifo()) {
        return Err(Error::SecretFile { path: path.to_owned(), reason: "it is not a regular file" });
    }
    match check_secret_file(meta.uid(), meta.mode(), rustix::process::getuid().as_raw()) {
        Ok(()) => {}
        Err(NOT_OWNED) => return Err(Error::SecretFileOwner { path: path.to_owned(), owner: meta.uid() }),
        Err(_) => return Err(Error::SecretFileMode { path: path.to_owned(), mode: meta.mode() & 0o7777 }),
    }
    // Fixed capacity, never reallocated: a reallocation would leave a copy in freed memory.
    let mut bytes = Zeroizing::new(vec![0u8; MAX_SECRET_FILE + 1]);
    let mut filled = 0;
    let mut reader = file.take(MAX_SECRET_FILE as u64 + 1);
    loop {
        match reader.read(&mut bytes[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    if filled > MAX_SECRET_FILE {
        return Err(Error::SecretFile { path: path.to_owned(), reason: "it is longer than 4 KiB" });
    }
    let mut text = &bytes[..filled];
    if let Some(rest) = text.strip_suffix(b"\n") {
        text = rest.strip_suffix(b"\r").unwrap_or(rest);
    }
    let text = std::str::from_utf8(text)
        .map_err(|_| Error::SecretFile { path: path.to_owned(), reason: "it is not UTF-8 text" })?;
    Ok(Zeroizing::new(text.to_owned()))
}

/// Asks for a secret on the terminal with echo off. Refuses when standard input is not a
/// terminal (a script must give a file instead).
pub fn prompt_hidden(prompt: &str) -> Result<Zeroizing<String>, Error> {
    if !std::io::stdin().is_terminal() {
        return Err(Error::NoTerminal);
    }
    let mut line = rpassword::prompt_password(prompt).map_err(|source| Error::Io {
        action: "reading from",
        path: "/dev/tty".into(),
        source,
    })?;
    let text = Zeroizing::new(line.trim_end_matches(['\r', '\n']).to_owned());
    line.zeroize();
    Ok(text)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pretty_assertions::assert_eq;
    use std::os::unix::fs::PermissionsExt;

    const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

    #[test]
    fn the_mode_rule_accepts_only_the_owner() {
        assert_eq!(check_secret_file(1000, 0o100600, 1000), Ok(()));
        assert_eq!(check_secret_file(1000, 0o100400, 1000), Ok(()));
        assert_eq!(check_secret_file(1000, 0o100640, 1000), Err("others may read or change it"));
        assert_eq!(check_secret_file(1000, 0o100602, 1000), Err("others may read or change it"));
        assert_eq!(check_secret_file(0, 0o100600, 1000), Err("it is not owned by you"));
    }

    #[test]
    fn a_secret_file_is_read_without_its_newline_and_refused_when_others_may_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "correct horse\r\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = read_secret_file(&path).unwrap_err().to_string();
        assert!(err.contains(&format!("chmod 600 {}", path.display())) && err.contains("0644"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_secret_file(&path).unwrap().as_str(), "correct horse");

        std::fs::write(&path, "").unwrap();
        assert!(matches!(Passphrase::from_file(&path), Err(Error::EmptySecret { .. })));
        std::fs::write(&path, vec![b'a'; 5000]).unwrap();
        assert!(read_secret_file(&path).unwrap_err().to_string().contains("longer than 4 KiB"));
        let err = read_secret_file(dir.path()).unwrap_err().to_string();
        assert!(err.contains("not a regular file"), "{err}");
    }

    #[test]
    fn private_keys_parse_with_or_without_0x_and_errors_never_quote_them() {
        let key = PrivateKey::from_hex(ANVIL_KEY).unwrap();
        let expected: alloy::primitives::Address = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266".parse().unwrap();
        assert_eq!(key.address(), expected);
        assert_eq!(PrivateKey::from_hex(&format!("  {}\n", &ANVIL_KEY[2..])).unwrap().address(), expected);
        assert_eq!(format!("{key:?}"), "PrivateKey([redacted])");

        let almost = &ANVIL_KEY[..ANVIL_KEY.len() - 1];
        let bad_digit = format!("{}g", &ANVIL_KEY[..ANVIL_KEY.len() - 1]);
        for text in [almost, bad_digit.as_str(), "", &"0".repeat(64), &"f".repeat(64)] {
            let err = PrivateKey::from_hex(text).unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(shown.contains("private key"), "{shown}");
            assert!(text.len() < 8 || !shown.contains(&text[4..]), "the error quotes the key: {shown}");
        }
    }

    #[test]
    fn passphrases_print_redacted() {
        let p = Passphrase::new(Zeroizing::new("hunter2".to_owned())).unwrap();
        assert_eq!(format!("{p:?}"), "Passphrase([redacted])");
    }
}
