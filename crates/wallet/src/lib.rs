//! The Ethereum wallet of Sovereign: the user's accounts, and (later) the reads, sends and gate
//! executors that agents reach through the Tool API.
//!
//! # What exists now
//! - [`Keystore`]: a directory of Ethereum keystore v3 files (scrypt, AES-128-CTR) that geth
//!   and foundry also read, in `<data dir>/wallet/keystore/`: create, import (a private key or
//!   another implementation's keystore file), list, choose the default, unlock ([`keys`]).
//! - [`Passphrase`] and [`PrivateKey`]: secrets read from a file only the user may read, or from
//!   the terminal with echo off ([`secret`]).
//!
//! - [`decode`]: what a transaction would do, read from its bytes, and why it must wait for
//!   you whatever the caps (an approve, a swap paying someone else, smuggled bytes).
//!
//! Reads (balances, ENS), sends and swaps, and their executors behind the gate come later
//! ([2.5]); nothing here talks to a network.
//!
//! # Security properties
//! - A key leaves the keystore only through [`Keystore::unlock`], as an alloy
//!   `PrivateKeySigner`, after its passphrase opened the file. Keys and passphrases are wiped on
//!   drop, print as `[redacted]`, and appear in no log, error message or file other than the
//!   encrypted keystore file itself; nothing here takes them as a command-line argument.
//! - A secret file is refused unless it is the user's own and mode 0600 or stricter.
//! - A keystore file is checked before it is decrypted, so a truncated, hostile or foreign file
//!   is a precise error, never a panic; an imported file is copied only once its passphrase has
//!   decrypted it.

pub mod decode;
mod error;
pub mod keys;
pub mod secret;

pub use alloy::primitives::Address;
pub use error::Error;
pub use keys::{Account, Keystore};
pub use secret::{Passphrase, PrivateKey};
