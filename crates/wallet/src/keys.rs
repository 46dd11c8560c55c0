//! The keystore: a directory of Ethereum keystore v3 files (JSON, scrypt, AES-128-CTR), one per
//! account, as geth and foundry keep them.
//!
//! # Layout
//! - `<data dir>/wallet/keystore/` (mode 0700) holds one file per account, named as geth names
//!   them, `UTC--<time>--<address>` (mode 0600), with geth's `address` field: geth, foundry
//!   (`cast wallet list --dir`) and this wallet read one another's files.
//! - `<data dir>/wallet/default-account` names the default account (its address). The first
//!   account created or imported becomes the default; if the file is missing or names an
//!   account that is gone, the oldest account is the default.
//!
//! # Guarantees
//! - A key leaves the keystore only as the [`PrivateKeySigner`] that [`Keystore::unlock`]
//!   returns after its passphrase opened the file; nothing here logs, prints or returns a key or
//!   a passphrase, and decrypted bytes are wiped after use (the keystore crate's own derived-key
//!   buffer excepted).
//! - A keystore file is checked before it is decrypted: version 3, `aes-128-ctr`, 16-byte IV,
//!   32-byte ciphertext and MAC, scrypt or PBKDF2-SHA256 within cost limits (at most 1 GiB of
//!   scrypt memory), so a hostile or truncated file is an error, never a panic or an exhausted
//!   machine.
//! - An imported keystore file is copied only after its passphrase decrypted it and its key
//!   matched the address it claims; an account is never imported twice.
//! - Files are written to a 0600 temporary in the keystore directory, synced, then linked into
//!   place: a crash leaves either no file or a whole one, never a half-written key.

use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::Error;
use crate::secret::{Passphrase, PrivateKey};

/// The most bytes a keystore file may have (geth's are about 500).
const MAX_KEYSTORE_FILE: u64 = 64 * 1024;
/// The most memory the scrypt parameters of a file may ask for (128 · n · r bytes).
const MAX_SCRYPT_MEMORY: u64 = 1 << 30;
/// The most PBKDF2 iterations a file may ask for (geth uses 262144).
const MAX_PBKDF2_ROUNDS: u64 = 10_000_000;

/// One account of the keystore.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Account {
    /// Its address.
    pub address: Address,
    /// Its keystore file.
    pub file: PathBuf,
    /// Whether it is the default account.
    pub is_default: bool,
}

/// A keystore directory. Cheap to open: nothing is read or created until asked.
#[derive(Clone, Debug)]
pub struct Keystore {
    dir: PathBuf,
    default_file: PathBuf,
}

impl Keystore {
    /// The keystore directory in a data directory: `<data dir>/wallet/keystore`.
    pub fn dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join("wallet").join("keystore")
    }

    /// The keystore in `dir` (it need not exist yet). The default account is recorded beside
    /// it, in `default-account`.
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self, Error> {
        let dir: PathBuf = dir.into();
        if let Ok(meta) = std::fs::metadata(&dir)
            && !meta.is_dir()
        {
            return Err(Error::Io {
                action: "opening the keystore directory",
                path: dir,
                source: std::io::Error::from(std::io::ErrorKind::NotADirectory),
            });
        }
        let default_file = dir.with_file_name("default-account");
        Ok(Self { dir, default_file })
    }

    /// The keystore directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Creates an account with a fresh random key, encrypted under `passphrase`.
    pub fn create(&self, passphrase: &Passphrase) -> Result<Account, Error> {
        let key = PrivateKey::random();
        self.store_key(&key, passphrase)
    }

    /// Imports a private key, encrypted under `passphrase`. Refuses an account already here.
    pub fn import_private_key(&self, key: &PrivateKey, passphrase: &Passphrase) -> Result<Account, Error> {
        self.refuse_existing(key.address())?;
        self.store_key(key, passphrase)
    }

    /// Imports a keystore file written by geth, foundry or any keystore v3 implementation,
    /// after checking that `passphrase` (the file's own) decrypts it. The file is copied (it
    /// keeps its passphrase); the original is left alone.
    pub fn import_file(&self, path: &Path, passphrase: &Passphrase) -> Result<Account, Error> {
        let bytes = read_limited(path)?;
        let (mut json, claimed) = parse_keystore(path, &bytes)?;
        if let Some(address) = claimed {
            self.refuse_existing(address)?;
        }
        self.ensure_dir()?;
        let staging = Staging::create(&self.dir)?;
        staging.write(&serde_json::to_vec(&json).map_err(|e| Error::Crypto(e.to_string()))?)?;
        let key = decrypt(staging.path(), passphrase).map_err(|e| match e {
            Error::WrongPassphrase { .. } => Error::WrongFilePassphrase { path: path.to_owned() },
            Error::NotAKeystore { reason, .. } => Error::NotAKeystore { path: path.to_owned(), reason },
            other => other,
        })?;
        let actual = key_address(&key, path)?;
        if let Some(claimed) = claimed
            && claimed != actual
        {
            return Err(Error::AddressMismatch { path: path.to_owned(), claimed, actual });
        }
        self.refuse_existing(actual)?;
        set_address(&mut json, actual);
        staging.write(&serde_json::to_vec(&json).map_err(|e| Error::Crypto(e.to_string()))?)?;
        let account = self.install(staging, actual)?;
        tracing::info!(address = %actual, from = %path.display(), "keystore file imported");
        Ok(account)
    }

    /// The accounts, oldest first. An empty list if there is no keystore yet. Files in the
    /// directory that are not keystores, or whose address cannot be told without their
    /// passphrase, are skipped with a warning.
    pub fn list(&self) -> Result<Vec<Account>, Error> {
        let found = self.scan()?;
        let default = self.recorded_default(&found);
        Ok(found
            .into_iter()
            .map(|(address, file)| Account { is_default: Some(address) == default, address, file })
            .collect())
    }

    /// The default account.
    pub fn default(&self) -> Result<Account, Error> {
        self.list()?.into_iter().find(|a| a.is_default).ok_or(Error::NoAccounts)
    }

    /// Makes `address` the default account.
    pub fn set_default(&self, address: Address) -> Result<Account, Error> {
        let account = self.find(address)?;
        write_private(&self.default_file, format!("{address}\n").as_bytes())?;
        tracing::info!(%address, "default account set");
        Ok(Account { is_default: true, ..account })
    }

    /// Decrypts the key of `address` with `passphrase`: the only way a key leaves the keystore.
    pub fn unlock(&self, address: Address, passphrase: &Passphrase) -> Result<PrivateKeySigner, Error> {
        let account = self.find(address)?;
        let bytes = read_limited(&account.file)?;
        parse_keystore(&account.file, &bytes)?;
        let key = decrypt(&account.file, passphrase).map_err(|e| match e {
            Error::WrongPassphrase { .. } => Error::WrongPassphrase { address },
            other => other,
        })?;
        let signer = PrivateKeySigner::from_slice(&key[..]).map_err(|_| Error::NotAKeystore {
            path: account.file.clone(),
            reason: "it decrypts to something that is not a private key".into(),
        })?;
        if signer.address() != address {
            return Err(Error::AddressMismatch { path: account.file, claimed: address, actual: signer.address() });
        }
        tracing::debug!(%address, "account unlocked");
        Ok(signer)
    }

    fn find(&self, address: Address) -> Result<Account, Error> {
        let accounts = self.list()?;
        if accounts.is_empty() {
            return Err(Error::NoAccounts);
        }
        accounts.into_iter().find(|a| a.address == address).ok_or(Error::UnknownAccount { address })
    }

    fn refuse_existing(&self, address: Address) -> Result<(), Error> {
        match self.scan()?.into_iter().find(|(a, _)| *a == address) {
            Some((address, file)) => Err(Error::AccountExists { address, file }),
            None => Ok(()),
        }
    }

    fn ensure_dir(&self) -> Result<(), Error> {
        sov_core::paths::ensure_private_dir(&self.dir).map_err(|e| Error::Io {
            action: "creating the keystore directory",
            path: self.dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })
    }

    /// Encrypts `key` into a new keystore file (the keystore crate writes into our 0600
    /// temporary, which we then complete with geth's `address` field).
    fn store_key(&self, key: &PrivateKey, passphrase: &Passphrase) -> Result<Account, Error> {
        let address = key.address();
        self.ensure_dir()?;
        let staging = Staging::create(&self.dir)?;
        let name = staging.name();
        eth_keystore::encrypt_key(&self.dir, &mut rand::rngs::OsRng, key.as_bytes(), passphrase.as_bytes(), Some(name))
            .map_err(|e| Error::Crypto(e.to_string()))?;
        let bytes = read_limited(staging.path())?;
        let (mut json, _) = parse_keystore(staging.path(), &bytes)?;
        set_address(&mut json, address);
        staging.write(&serde_json::to_vec(&json).map_err(|e| Error::Crypto(e.to_string()))?)?;
        let account = self.install(staging, address)?;
        tracing::info!(%address, file = %account.file.display(), "account stored");
        Ok(account)
    }

    /// Links a complete staging file into place under geth's name and records it as the
    /// default if there is none yet.
    fn install(&self, staging: Staging, address: Address) -> Result<Account, Error> {
        let file = self.dir.join(geth_file_name(address, SystemTime::now()));
        staging.persist(&file)?;
        let found = self.scan()?;
        let recorded = std::fs::read_to_string(&self.default_file).ok().and_then(|s| s.trim().parse::<Address>().ok());
        let is_default = match recorded.filter(|r| found.iter().any(|(a, _)| a == r)) {
            Some(current) => current == address,
            None => {
                write_private(&self.default_file, format!("{address}\n").as_bytes())?;
                true
            }
        };
        Ok(Account { address, file, is_default })
    }

    /// The keystore files and their addresses, oldest (by name) first.
    fn scan(&self) -> Result<Vec<(Address, PathBuf)>, Error> {
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => {
                return Err(Error::Io { action: "reading the keystore directory", path: self.dir.clone(), source });
            }
        };
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| Error::Io {
                action: "reading the keystore directory",
                path: self.dir.clone(),
                source,
            })?;
            let path = entry.path();
            let name = entry.file_name();
            if name.to_string_lossy().starts_with('.') || !entry.file_type().is_ok_and(|t| t.is_file()) {
                continue;
            }
            let address = read_limited(&path)
                .and_then(|bytes| parse_keystore(&path, &bytes))
                .map(|(_, claimed)| claimed.or_else(|| address_from_file_name(&name.to_string_lossy())));
            match address {
                Ok(Some(address)) => found.push((address, path)),
                Ok(None) => tracing::warn!(
                    file = %path.display(),
                    "keystore file without an address skipped: import it with `sov wallet import --keystore`"
                ),
                Err(error) => tracing::warn!(file = %path.display(), %error, "not a keystore file; skipped"),
            }
        }
        found.sort_by(|a, b| a.1.file_name().cmp(&b.1.file_name()));
        Ok(found)
    }

    /// The recorded default if it is among `found`, else the oldest account.
    fn recorded_default(&self, found: &[(Address, PathBuf)]) -> Option<Address> {
        let recorded = std::fs::read_to_string(&self.default_file).ok().and_then(|s| s.trim().parse::<Address>().ok());
        recorded.filter(|r| found.iter().any(|(a, _)| a == r)).or_else(|| found.first().map(|(a, _)| *a))
    }
}

/// Decrypts a checked keystore file. A wrong passphrase is [`Error::WrongPassphrase`] (with a
/// placeholder address the caller replaces).
fn decrypt(path: &Path, passphrase: &Passphrase) -> Result<Zeroizing<Vec<u8>>, Error> {
    match eth_keystore::decrypt_key(path, passphrase.as_bytes()) {
        Ok(key) => Ok(Zeroizing::new(key)),
        Err(eth_keystore::KeystoreError::MacMismatch) => Err(Error::WrongPassphrase { address: Address::ZERO }),
        Err(eth_keystore::KeystoreError::SerdeJson(_)) => Err(Error::NotAKeystore {
            path: path.to_owned(),
            reason: "its JSON does not have the keystore v3 shape".into(),
        }),
        Err(e) => Err(Error::Crypto(e.to_string())),
    }
}

fn key_address(key: &[u8], path: &Path) -> Result<Address, Error> {
    PrivateKeySigner::from_slice(key).map(|s| s.address()).map_err(|_| Error::NotAKeystore {
        path: path.to_owned(),
        reason: "it decrypts to something that is not a private key".into(),
    })
}

/// Checks that `bytes` are a keystore v3 file this wallet will decrypt, and returns its JSON
/// normalised (`Crypto` renamed `crypto`, as old MyEtherWallet files spell it) with the
/// address its `address` field claims, if any. Reasons name the problem, never the content.
pub(crate) fn parse_keystore(path: &Path, bytes: &[u8]) -> Result<(Value, Option<Address>), Error> {
    let bad = |reason: String| Error::NotAKeystore { path: path.to_owned(), reason };
    let mut json: Value = serde_json::from_slice(bytes)
        .map_err(|e| bad(format!("it is not JSON (line {}, column {})", e.line(), e.column())))?;
    let obj = json.as_object_mut().ok_or_else(|| bad("it is not a JSON object".into()))?;
    if let Some(crypto) = obj.remove("Crypto")
        && !obj.contains_key("crypto")
    {
        obj.insert("crypto".into(), crypto);
    }
    if obj.get("version").and_then(Value::as_u64) != Some(3) {
        return Err(bad("it is not version 3 of the keystore format".into()));
    }
    if !obj.get("id").is_some_and(Value::is_string) {
        return Err(bad("it has no `id`".into()));
    }
    let claimed = match obj.get("address") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(v.as_str().and_then(parse_hex_address).ok_or_else(|| bad("its `address` is not an address".into()))?)
        }
    };
    let crypto = obj.get("crypto").ok_or_else(|| bad("it has no `crypto` section".into()))?;
    check_crypto(crypto).map_err(|reason| bad(reason.into()))?;
    Ok((json, claimed))
}

fn check_crypto(crypto: &Value) -> Result<(), &'static str> {
    let hex_len =
        |v: Option<&Value>| v.and_then(Value::as_str).and_then(|s| alloy::hex::decode(s).ok()).map(|b| b.len());
    if crypto.get("cipher").and_then(Value::as_str) != Some("aes-128-ctr") {
        return Err("its cipher is not aes-128-ctr");
    }
    if hex_len(crypto.pointer("/cipherparams/iv")) != Some(16) {
        return Err("its IV is not 16 bytes of hex");
    }
    if hex_len(crypto.get("ciphertext")) != Some(32) {
        return Err("its ciphertext is not 32 bytes of hex");
    }
    if hex_len(crypto.get("mac")) != Some(32) {
        return Err("its MAC is not 32 bytes of hex");
    }
    let params = crypto.get("kdfparams").ok_or("it has no `kdfparams`")?;
    let num = |name: &str| params.get(name).and_then(Value::as_u64);
    if num("dklen") != Some(32) {
        return Err("its derived key length is not 32");
    }
    if !hex_len(params.get("salt")).is_some_and(|n| (1..=64).contains(&n)) {
        return Err("its salt is not 1 to 64 bytes of hex");
    }
    match crypto.get("kdf").and_then(Value::as_str) {
        Some("scrypt") => {
            let (n, r, p) = (
                num("n").ok_or("scrypt n missing")?,
                num("r").ok_or("scrypt r missing")?,
                num("p").ok_or("scrypt p missing")?,
            );
            if params.get("c").is_some() {
                return Err("its scrypt parameters carry PBKDF2's `c`");
            }
            if !n.is_power_of_two() || n < 2 || !(1..=32).contains(&r) || !(1..=16).contains(&p) {
                return Err("its scrypt parameters are invalid (n a power of two, r 1 to 32, p 1 to 16)");
            }
            if n.saturating_mul(r).saturating_mul(128) > MAX_SCRYPT_MEMORY {
                return Err("its scrypt parameters ask for more than 1 GiB of memory");
            }
        }
        Some("pbkdf2") => {
            if params.get("prf").and_then(Value::as_str) != Some("hmac-sha256") {
                return Err("its PBKDF2 function is not hmac-sha256");
            }
            if !num("c").is_some_and(|c| (1..=MAX_PBKDF2_ROUNDS).contains(&c)) {
                return Err("its PBKDF2 round count is not 1 to 10 million");
            }
        }
        _ => return Err("its key derivation is neither scrypt nor pbkdf2"),
    }
    Ok(())
}

fn parse_hex_address(text: &str) -> Option<Address> {
    let digits = text.strip_prefix("0x").unwrap_or(text);
    (digits.len() == 40).then(|| digits.parse::<Address>().ok()).flatten()
}

fn set_address(json: &mut Value, address: Address) {
    if let Some(obj) = json.as_object_mut() {
        // geth's spelling: lower-case hex without 0x.
        obj.insert("address".into(), Value::String(alloy::hex::encode(address)));
    }
}

/// The address at the end of a geth file name (`UTC--…--<40 hex digits>`).
fn address_from_file_name(name: &str) -> Option<Address> {
    name.rsplit_once("--").and_then(|(_, tail)| parse_hex_address(tail))
}

/// geth's keystore file name: `UTC--2006-01-02T15-04-05.999999999Z--<address, lower-case hex>`.
pub(crate) fn geth_file_name(address: Address, at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "UTC--{year:04}-{month:02}-{day:02}T{:02}-{:02}-{:02}.{:09}Z--{}",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        since.subsec_nanos(),
        alloy::hex::encode(address)
    )
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

fn read_limited(path: &Path) -> Result<Vec<u8>, Error> {
    use std::io::Read;
    let io = |source| Error::Io { action: "reading", path: path.to_owned(), source };
    let file = std::fs::File::open(path).map_err(io)?;
    if !file.metadata().map_err(io)?.is_file() {
        return Err(Error::NotAKeystore { path: path.to_owned(), reason: "it is not a regular file".into() });
    }
    let mut bytes = Vec::new();
    file.take(MAX_KEYSTORE_FILE + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > MAX_KEYSTORE_FILE {
        return Err(Error::NotAKeystore { path: path.to_owned(), reason: "it is larger than 64 KiB".into() });
    }
    Ok(bytes)
}

/// A 0600 temporary file in the keystore directory, removed on drop unless persisted.
struct Staging {
    path: PathBuf,
    name: String,
}

impl Staging {
    fn create(dir: &Path) -> Result<Self, Error> {
        use rand::RngCore;
        use std::os::unix::fs::OpenOptionsExt;
        let mut suffix = [0u8; 8];
        rand::rngs::OsRng.fill_bytes(&mut suffix);
        let name = format!(".tmp-{}", alloy::hex::encode(suffix));
        let path = dir.join(&name);
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|source| Error::Io { action: "creating", path: path.clone(), source })?;
        Ok(Self { path, name })
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn name(&self) -> &str {
        &self.name
    }

    /// Replaces the content and syncs it (the file keeps its 0600 mode).
    fn write(&self, bytes: &[u8]) -> Result<(), Error> {
        use std::io::Write;
        let io = |source| Error::Io { action: "writing", path: self.path.clone(), source };
        let mut file = std::fs::OpenOptions::new().write(true).truncate(true).open(&self.path).map_err(io)?;
        file.write_all(bytes).map_err(io)?;
        file.sync_all().map_err(io)
    }

    /// Links the file in as `target` (never replacing a file there) and syncs the directory.
    fn persist(self, target: &Path) -> Result<(), Error> {
        use std::io::Write;
        // The keystore crate wrote through a plain `File::create`, which keeps our mode; sync
        // again in case it was the last writer.
        std::fs::OpenOptions::new()
            .append(true)
            .open(&self.path)
            .and_then(|mut f| f.flush().and_then(|()| f.sync_all()))
            .map_err(|source| Error::Io { action: "syncing", path: self.path.clone(), source })?;
        std::fs::hard_link(&self.path, target).map_err(|source| Error::Io {
            action: "creating",
            path: target.to_owned(),
            source,
        })?;
        sync_dir(target)
        // `self` drops here and removes the temporary name.
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Writes a small file atomically with mode 0600 (temporary, sync, rename, sync directory).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let dir = path.parent().unwrap_or(Path::new("."));
    sov_core::paths::ensure_private_dir(dir).map_err(|e| Error::Io {
        action: "creating",
        path: dir.to_owned(),
        source: std::io::Error::other(e.to_string()),
    })?;
    let staging = Staging::create(dir)?;
    staging.write(bytes)?;
    std::fs::rename(&staging.path, path).map_err(|source| Error::Io {
        action: "writing",
        path: path.to_owned(),
        source,
    })?;
    sync_dir(path)
}

fn sync_dir(file: &Path) -> Result<(), Error> {
    let dir = file.parent().unwrap_or(Path::new("."));
    std::fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|source| Error::Io {
        action: "syncing",
        path: dir.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pretty_assertions::assert_eq;
    use std::os::unix::fs::PermissionsExt;

    const ANVIL_KEY: &str = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
    const ANVIL_ADDRESS: &str = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266";

    fn pass(text: &str) -> Passphrase {
        Passphrase::new(Zeroizing::new(text.to_owned())).unwrap()
    }

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
    }

    fn keystore() -> (tempfile::TempDir, Keystore) {
        let data = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(Keystore::dir_in(data.path())).unwrap();
        (data, keystore)
    }

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn create_list_default_unlock_round_trip() {
        let (data, keystore) = keystore();
        assert_eq!(keystore.list().unwrap(), vec![]);
        assert!(matches!(keystore.default(), Err(Error::NoAccounts)));
        assert!(!keystore.dir().exists(), "listing creates nothing");

        let first = keystore.create(&pass("first pass")).unwrap();
        let second = keystore.create(&pass("second pass")).unwrap();
        assert!(first.is_default && !second.is_default, "the first account becomes the default");
        assert_eq!(keystore.list().unwrap(), vec![first.clone(), second.clone()]);
        assert_eq!(keystore.default().unwrap(), first);

        let name = second.file.file_name().unwrap().to_str().unwrap().to_owned();
        assert!(name.starts_with("UTC--") && name.ends_with(&alloy::hex::encode(second.address)), "{name}");
        assert_eq!(mode(keystore.dir()), 0o700);
        assert_eq!(mode(&second.file), 0o600);
        assert_eq!(mode(&data.path().join("wallet/default-account")), 0o600);
        let json: Value = serde_json::from_slice(&std::fs::read(&second.file).unwrap()).unwrap();
        assert_eq!(json["address"], Value::String(alloy::hex::encode(second.address)));
        assert_eq!(json["crypto"]["kdf"], "scrypt");
        let leftovers: Vec<_> = std::fs::read_dir(keystore.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.starts_with('.'))
            .collect();
        assert_eq!(leftovers, Vec::<String>::new());

        let signer = keystore.unlock(second.address, &pass("second pass")).unwrap();
        assert_eq!(signer.address(), second.address);
        assert!(!format!("{signer:?}").contains(&alloy::hex::encode(signer.to_bytes())));

        let now = keystore.set_default(second.address).unwrap();
        assert!(now.is_default);
        assert_eq!(keystore.default().unwrap().address, second.address);
        assert!(!keystore.list().unwrap()[0].is_default);

        let stranger: Address = ANVIL_ADDRESS.parse().unwrap();
        assert!(matches!(keystore.set_default(stranger), Err(Error::UnknownAccount { .. })));
        assert!(matches!(keystore.unlock(stranger, &pass("x")), Err(Error::UnknownAccount { .. })));
    }

    #[test]
    fn a_wrong_passphrase_is_a_clear_error() {
        let (_data, keystore) = keystore();
        let account = keystore.create(&pass("right")).unwrap();
        let err = keystore.unlock(account.address, &pass("wrong")).unwrap_err();
        assert_eq!(err.to_string(), format!("wrong passphrase for {}", account.address));
    }

    #[test]
    fn an_imported_private_key_has_its_known_address_and_is_not_imported_twice() {
        let (_data, keystore) = keystore();
        let key = PrivateKey::from_hex(ANVIL_KEY).unwrap();
        let account = keystore.import_private_key(&key, &pass("anvil")).unwrap();
        assert_eq!(account.address, ANVIL_ADDRESS.parse::<Address>().unwrap());
        assert!(account.is_default);
        let signer = keystore.unlock(account.address, &pass("anvil")).unwrap();
        assert_eq!(alloy::hex::encode_prefixed(signer.to_bytes()), ANVIL_KEY);
        let err = keystore.import_private_key(&key, &pass("again")).unwrap_err();
        assert!(matches!(err, Error::AccountExists { .. }), "{err}");
        let file = std::fs::read_to_string(&account.file).unwrap();
        assert!(!file.contains(&ANVIL_KEY[2..]) && !file.contains("anvil\""), "{file}");
    }

    #[test]
    fn keystore_files_from_foundry_and_eth_account_import_and_unlock() {
        let (_data, keystore) = keystore();
        let cases = [
            ("cast-1.7.1-anvil1.json", "foundry pass", "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            ("eth-account-0.14.0-anvil2.json", "eth-account pass", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"),
            ("eth-account-0.14.0-pbkdf2-anvil3.json", "eth-account pass", "0x90F79bf6EB2c4f870365E785982E1f101E93b906"),
        ];
        for (file, passphrase, address) in cases {
            let address: Address = address.parse().unwrap();
            if file.starts_with("cast") {
                // (Once: the others' KDFs cost a second or more in a debug build.)
                let err = keystore.import_file(&fixture(file), &pass("not it")).unwrap_err();
                assert!(matches!(err, Error::WrongFilePassphrase { .. }), "{file}: {err}");
            }
            let account = keystore.import_file(&fixture(file), &pass(passphrase)).unwrap();
            assert_eq!(account.address, address, "{file}");
            assert_eq!(mode(&account.file), 0o600);
            assert_eq!(keystore.unlock(address, &pass(passphrase)).unwrap().address(), address);
            let err = keystore.import_file(&fixture(file), &pass(passphrase)).unwrap_err();
            assert!(matches!(err, Error::AccountExists { .. }), "{file}: {err}");
        }
        let listed: Vec<_> = keystore.list().unwrap().into_iter().map(|a| (a.address, a.is_default)).collect();
        assert_eq!(listed.len(), 3);
        assert!(listed[0].1 && !listed[1].1 && !listed[2].1, "{listed:?}");
    }

    #[test]
    fn truncated_garbage_and_hostile_keystore_files_are_errors_not_panics() {
        let (data, keystore) = keystore();
        let good = std::fs::read_to_string(fixture("cast-1.7.1-anvil1.json")).unwrap();
        let bad = data.path().join("bad.json");
        let mut json: Value = serde_json::from_str(&good).unwrap();
        let hostile = |pointer: &str, value: Value| {
            let mut j = json.clone();
            *j.pointer_mut(pointer).unwrap() = value;
            serde_json::to_string(&j).unwrap()
        };
        let cases = [
            (good[..good.len() / 2].to_owned(), "not JSON"),
            ("\u{0}\u{1}garbage".to_owned(), "not JSON"),
            ("\"0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80\"".to_owned(), "not a JSON object"),
            (hostile("/crypto/kdfparams/dklen", 16.into()), "derived key length"),
            (hostile("/crypto/cipherparams/iv", "00".into()), "IV"),
            (hostile("/crypto/ciphertext", "abcd".into()), "ciphertext"),
            (hostile("/crypto/kdfparams/n", (1u64 << 40).into()), "1 GiB"),
            (hostile("/crypto/kdfparams/n", 8191.into()), "scrypt parameters are invalid"),
            (hostile("/crypto/cipher", "aes-256-gcm".into()), "cipher"),
            (hostile("/version", 1.into()), "version 3"),
            (hostile("/id", 7.into()), "`id`"),
        ];
        for (text, expected) in cases {
            std::fs::write(&bad, &text).unwrap();
            let err = keystore.import_file(&bad, &pass("foundry pass")).unwrap_err().to_string();
            assert!(err.contains("is not a keystore file") && err.contains(expected), "{expected}: {err}");
            assert!(!err.contains("ac0974bec"), "the error quotes the file: {err}");
        }
        // Valid shape, but not a UUID id: the keystore crate's own parse refuses it.
        json["id"] = "not-a-uuid".into();
        std::fs::write(&bad, serde_json::to_string(&json).unwrap()).unwrap();
        let err = keystore.import_file(&bad, &pass("foundry pass")).unwrap_err().to_string();
        assert!(err.contains("keystore v3 shape"), "{err}");
        // An address field that does not match the key inside.
        let mut json: Value = serde_json::from_str(&good).unwrap();
        json["address"] = alloy::hex::encode(ANVIL_ADDRESS.parse::<Address>().unwrap()).into();
        std::fs::write(&bad, serde_json::to_string(&json).unwrap()).unwrap();
        let err = keystore.import_file(&bad, &pass("foundry pass")).unwrap_err();
        assert!(matches!(err, Error::AddressMismatch { .. }), "{err}");
        assert_eq!(keystore.list().unwrap(), vec![], "nothing was imported");
        let names: Vec<_> = std::fs::read_dir(keystore.dir()).unwrap().collect();
        assert_eq!(names.len(), 0, "no temporary left behind");
    }

    #[test]
    fn a_keystore_file_changed_in_place_does_not_unlock_as_its_account() {
        let (_data, keystore) = keystore();
        let account = keystore.create(&pass("p")).unwrap();
        let other = keystore.import_private_key(&PrivateKey::from_hex(ANVIL_KEY).unwrap(), &pass("p")).unwrap();
        // Put the other account's encrypted key under this account's name.
        let mut json: Value = serde_json::from_slice(&std::fs::read(&other.file).unwrap()).unwrap();
        json["address"] = alloy::hex::encode(account.address).into();
        std::fs::write(&account.file, serde_json::to_vec(&json).unwrap()).unwrap();
        let err = keystore.unlock(account.address, &pass("p")).unwrap_err();
        assert!(matches!(err, Error::AddressMismatch { .. }), "{err}");
    }

    #[test]
    fn file_names_are_geths() {
        let address: Address = ANVIL_ADDRESS.parse().unwrap();
        let at = UNIX_EPOCH + std::time::Duration::new(1_700_000_000, 5);
        assert_eq!(
            geth_file_name(address, at),
            "UTC--2023-11-14T22-13-20.000000005Z--f39fd6e51aad88f6f4ce6ab8827279cfffb92266"
        );
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(address_from_file_name(&geth_file_name(address, at)), Some(address));
        assert_eq!(address_from_file_name("foundry-anvil1"), None);
    }
}
