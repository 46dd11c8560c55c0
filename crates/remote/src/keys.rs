//! X25519 key pairs for the HPKE channel, and the provider's key file.
//!
//! The provider (inside its TEE) generates a [`KeyPair`], publishes the [`PublicKey`] in its
//! attestation, and keeps the secret in a file only its owner can read ([`KeyPair::save`] writes it
//! with mode 0600; [`KeyPair::load`] refuses a file that group or others may access, as ssh does).
//! Secrets are wiped from memory when dropped and never printed by `Debug`.

use std::fmt;
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::Path;
use std::str::FromStr;

use base64::Engine as _;
use hpke::{Deserializable as _, Kem as _, Serializable as _};
use zeroize::{Zeroize as _, Zeroizing};

use crate::Error;
use crate::channel::Kem;

/// Length of an X25519 public or secret key, in bytes.
pub const KEY_LEN: usize = 32;

/// Magic prefix of the key file format (then: key id, KEM id, secret key).
const FILE_MAGIC: &[u8; 8] = b"sovhpke1";
const FILE_LEN: usize = FILE_MAGIC.len() + 1 + 2 + KEY_LEN;

/// A provider's X25519 public key: what the attestation vouches for and what requests are sealed to.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublicKey([u8; KEY_LEN]);

impl PublicKey {
    /// Wraps 32 raw bytes (any value; unusable ones are rejected when sealing).
    pub fn from_bytes(bytes: [u8; KEY_LEN]) -> Self {
        Self(bytes)
    }

    /// Parses 32 raw bytes from a slice.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, Error> {
        let arr: [u8; KEY_LEN] = bytes
            .try_into()
            .map_err(|_| Error::InvalidPublicKey(format!("{} bytes, expected {KEY_LEN}", bytes.len())))?;
        Ok(Self(arr))
    }

    /// The raw bytes.
    pub fn as_bytes(&self) -> &[u8; KEY_LEN] {
        &self.0
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(s: &str) -> Result<Self, Error> {
        let bytes = hex::decode(s.trim()).map_err(|e| Error::InvalidPublicKey(format!("not hex: {e}")))?;
        Self::from_slice(&bytes)
    }

    /// Standard base64 with padding, 44 characters.
    pub fn to_base64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.0)
    }

    /// Parses base64, standard or URL-safe alphabet, with or without padding.
    pub fn from_base64(s: &str) -> Result<Self, Error> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let s = s.trim();
        let bytes = [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
            .iter()
            .find_map(|engine| engine.decode(s).ok())
            .ok_or_else(|| Error::InvalidPublicKey("not base64".to_owned()))?;
        Self::from_slice(&bytes)
    }

    pub(crate) fn to_hpke(self) -> Result<<Kem as hpke::Kem>::PublicKey, Error> {
        <Kem as hpke::Kem>::PublicKey::from_bytes(&self.0).map_err(|e| Error::InvalidPublicKey(e.to_string()))
    }
}

impl fmt::Display for PublicKey {
    /// Lower-case hex.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PublicKey({})", self.to_hex())
    }
}

impl FromStr for PublicKey {
    type Err = Error;

    /// Accepts 64 hex digits, or base64 (see [`PublicKey::from_base64`]).
    fn from_str(s: &str) -> Result<Self, Error> {
        let t = s.trim();
        if t.len() == 2 * KEY_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            Self::from_hex(t)
        } else {
            Self::from_base64(t)
        }
    }
}

/// A provider's key pair: key id, X25519 secret key and its public key.
///
/// The key id is the one-byte label (as in OHTTP's key configuration) that a request envelope
/// carries so a provider can tell which of its keys a request was sealed to.
#[derive(Clone)]
pub struct KeyPair {
    key_id: u8,
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: PublicKey,
}

impl KeyPair {
    /// Generates a fresh key pair with key id 0 from the system's random number generator.
    ///
    /// # Panics
    /// Only if the operating system cannot provide random bytes.
    pub fn generate() -> Self {
        Self::generate_with_id(0)
    }

    /// Generates a fresh key pair with the given key id (for rotation: bump the id).
    ///
    /// # Panics
    /// Only if the operating system cannot provide random bytes.
    pub fn generate_with_id(key_id: u8) -> Self {
        let (secret, public) = Kem::gen_keypair();
        Self::from_parts(key_id, secret, &public)
    }

    fn from_parts(key_id: u8, secret: <Kem as hpke::Kem>::PrivateKey, public: &<Kem as hpke::Kem>::PublicKey) -> Self {
        let mut pk = [0u8; KEY_LEN];
        pk.copy_from_slice(&public.to_bytes());
        Self { key_id, secret, public: PublicKey(pk) }
    }

    /// The key id that request envelopes sealed to this key carry.
    pub fn key_id(&self) -> u8 {
        self.key_id
    }

    /// The public key, to publish (in the attestation) and to seal requests to.
    pub fn public_key(&self) -> PublicKey {
        self.public
    }

    pub(crate) fn secret(&self) -> &<Kem as hpke::Kem>::PrivateKey {
        &self.secret
    }

    /// Serialises the key pair (including the secret) in the key file format:
    /// `"sovhpke1"`, key id (1 byte), KEM id (2 bytes, big-endian), secret key (32 bytes).
    /// The buffer is wiped when dropped.
    pub fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        let mut out = Zeroizing::new(Vec::with_capacity(FILE_LEN));
        out.extend_from_slice(FILE_MAGIC);
        out.push(self.key_id);
        out.extend_from_slice(&crate::channel::KEM_ID.to_be_bytes());
        let mut sk = self.secret.to_bytes();
        out.extend_from_slice(&sk);
        sk.as_mut_slice().zeroize();
        out
    }

    /// Parses the format written by [`KeyPair::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, Error> {
        Self::parse(bytes).map_err(|reason| Error::KeyFileFormat { path: "<memory>".into(), reason })
    }

    fn parse(bytes: &[u8]) -> Result<Self, &'static str> {
        if bytes.len() != FILE_LEN {
            return Err("wrong length");
        }
        let (magic, rest) = bytes.split_at(FILE_MAGIC.len());
        if magic != FILE_MAGIC {
            return Err("missing the \"sovhpke1\" header");
        }
        let (&key_id, rest) = rest.split_first().ok_or("wrong length")?;
        let (kem, sk) = rest.split_at(2);
        if kem != crate::channel::KEM_ID.to_be_bytes() {
            return Err("key is for another KEM than DHKEM(X25519, HKDF-SHA256)");
        }
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(sk).map_err(|_| "secret key is malformed")?;
        let public = Kem::sk_to_pk(&secret);
        Ok(Self::from_parts(key_id, secret, &public))
    }

    /// Writes the key pair to `path` with mode 0600, atomically (a temporary file in the same
    /// directory, synced, then renamed over `path`).
    pub fn save(&self, path: &Path) -> Result<(), Error> {
        let io = |source| Error::KeyFileIo { path: path.to_owned(), source };
        let mut suffix = [0u8; 8];
        crate::random(&mut suffix)?;
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(format!(".tmp-{}", hex::encode(suffix)));
        let tmp = Path::new(&tmp_name);
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(tmp)?;
            file.write_all(&self.to_bytes())?;
            file.sync_all()?;
            std::fs::rename(tmp, path)?;
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::File::open(dir)?.sync_all()?;
            }
            Ok(())
        };
        write().map_err(|e| {
            let _ = std::fs::remove_file(tmp);
            io(e)
        })
    }

    /// Reads a key pair written by [`KeyPair::save`]. Refuses a file that is not a regular file or
    /// that group or others may read or write.
    pub fn load(path: &Path) -> Result<Self, Error> {
        let io = |source| Error::KeyFileIo { path: path.to_owned(), source };
        let mut file = std::fs::File::open(path).map_err(io)?;
        let meta = file.metadata().map_err(io)?;
        if !meta.is_file() {
            return Err(Error::KeyFileFormat { path: path.to_owned(), reason: "not a regular file" });
        }
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            return Err(Error::KeyFilePermissions { path: path.to_owned(), mode });
        }
        let mut bytes = Zeroizing::new(Vec::with_capacity(FILE_LEN + 1));
        // Read one byte more than a key file holds, to tell "too long" apart.
        std::io::Read::take(&mut file, FILE_LEN as u64 + 1).read_to_end_zeroizing(&mut bytes).map_err(io)?;
        Self::parse(&bytes).map_err(|reason| Error::KeyFileFormat { path: path.to_owned(), reason })
    }
}

/// `read_to_end` into a buffer that never reallocates (a reallocation would leave a copy of the
/// secret behind in freed memory).
trait ReadZeroizing {
    fn read_to_end_zeroizing(&mut self, buf: &mut Zeroizing<Vec<u8>>) -> std::io::Result<()>;
}

impl<R: std::io::Read> ReadZeroizing for R {
    fn read_to_end_zeroizing(&mut self, buf: &mut Zeroizing<Vec<u8>>) -> std::io::Result<()> {
        let cap = buf.capacity();
        buf.resize(cap, 0);
        let mut filled = 0;
        while filled < cap {
            match self.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        buf.truncate(filled);
        Ok(())
    }
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("key_id", &self.key_id)
            .field("public", &self.public)
            .field("secret", &"[redacted]")
            .finish()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn public_key_text_forms_round_trip() {
        let pk = KeyPair::generate().public_key();
        assert_eq!(PublicKey::from_hex(&pk.to_hex()).unwrap(), pk);
        assert_eq!(PublicKey::from_base64(&pk.to_base64()).unwrap(), pk);
        assert_eq!(pk.to_string().parse::<PublicKey>().unwrap(), pk);
        assert_eq!(pk.to_base64().parse::<PublicKey>().unwrap(), pk);
        let url_safe = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(pk.as_bytes());
        assert_eq!(url_safe.parse::<PublicKey>().unwrap(), pk);
    }

    #[test]
    fn public_key_rejects_wrong_lengths_and_garbage() {
        assert!(matches!(PublicKey::from_hex("abcd"), Err(Error::InvalidPublicKey(_))));
        assert!(matches!("not a key!".parse::<PublicKey>(), Err(Error::InvalidPublicKey(_))));
        assert!(PublicKey::from_slice(&[0u8; 31]).is_err());
    }

    #[test]
    fn key_pair_bytes_round_trip_and_debug_hides_secret() {
        let kp = KeyPair::generate_with_id(7);
        let back = KeyPair::from_bytes(&kp.to_bytes()).unwrap();
        assert_eq!(back.key_id(), 7);
        assert_eq!(back.public_key(), kp.public_key());
        let debug = format!("{kp:?}");
        assert!(debug.contains("[redacted]"), "{debug}");
        let sk_hex = hex::encode(&kp.to_bytes()[FILE_LEN - KEY_LEN..]);
        assert!(!debug.contains(&sk_hex));
    }

    #[test]
    fn key_pair_from_bytes_rejects_malformed() {
        let kp = KeyPair::generate();
        let good = kp.to_bytes();
        assert!(KeyPair::from_bytes(&good[..good.len() - 1]).is_err());
        let mut bad_magic = good.to_vec();
        bad_magic[0] ^= 1;
        assert!(KeyPair::from_bytes(&bad_magic).is_err());
        let mut bad_kem = good.to_vec();
        bad_kem[FILE_MAGIC.len() + 1] ^= 1;
        assert!(KeyPair::from_bytes(&bad_kem).is_err());
    }
}
