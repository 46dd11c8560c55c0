//! The wallet's one error type. No variant carries a key or a passphrase, and none quotes the
//! content of a file given as a secret or as a keystore.

use std::path::PathBuf;

use alloy::primitives::Address;

/// What went wrong, and what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- the user's input ---
    /// The keystore holds no account.
    #[error("no accounts yet: run `sov wallet new` (or `sov wallet import`)")]
    NoAccounts,
    /// No keystore file holds this address.
    #[error("no account {address} in the keystore: `sov wallet list` shows the accounts")]
    UnknownAccount {
        /// The address asked for.
        address: Address,
    },
    /// The account is in the keystore already.
    #[error("account {address} is in the keystore already ({})", file.display())]
    AccountExists {
        /// The account.
        address: Address,
        /// Its keystore file.
        file: PathBuf,
    },
    /// The passphrase does not open the account's keystore file.
    #[error("wrong passphrase for {address}")]
    WrongPassphrase {
        /// The account whose file did not open.
        address: Address,
    },
    /// The passphrase does not open the keystore file being imported.
    #[error("wrong passphrase for the keystore file {}", path.display())]
    WrongFilePassphrase {
        /// The file being imported.
        path: PathBuf,
    },
    /// A file that should be an Ethereum keystore (v3 JSON) is not one, or is one this wallet
    /// refuses to open (unknown cipher, absurd KDF cost).
    #[error("{} is not a keystore file: {reason}", path.display())]
    NotAKeystore {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        reason: String,
    },
    /// A private key given to import is not one.
    #[error("not a private key: {reason}")]
    InvalidPrivateKey {
        /// The shape expected (never the text given).
        reason: &'static str,
    },
    /// An empty passphrase or key.
    #[error("the {what} is empty")]
    EmptySecret {
        /// `passphrase` or `private key`.
        what: &'static str,
    },
    /// A secret file that group or others may read or write.
    #[error("{} may be read or changed by others (mode {mode:04o}): run `chmod 600 {}`", path.display(), path.display())]
    SecretFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret file owned by someone else.
    #[error("{} is owned by uid {owner}, not by you: use a file of your own (mode 0600)", path.display())]
    SecretFileOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// A secret file that cannot be one (a directory, too long, not text).
    #[error("{} cannot be used as a secret file: {reason}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A prompt was needed but there is no terminal.
    #[error("no terminal to ask on: give it in a file instead (see --help)")]
    NoTerminal,

    // --- the keystore directory ---
    /// A keystore file whose key is not the account its name or `address` field says.
    #[error("{} holds the key of {actual}, not of {claimed}: the file was changed or misnamed", path.display())]
    AddressMismatch {
        /// The file.
        path: PathBuf,
        /// The address it claims.
        claimed: Address,
        /// The address of the key inside.
        actual: Address,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// To what.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },

    // --- internal faults ---
    /// The keystore crate failed for a reason other than a wrong passphrase (its messages name
    /// parameters, never secrets).
    #[error("keystore encryption failed: {0}")]
    Crypto(String),
}
