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
//! - [`Reader`]: reads of the chain ([`read`]): ETH and ERC-20 balances verified against the
//!   block's state root (`eth_getProof`, alloy-trie), token metadata and ENS names forward and
//!   reverse (unverified `eth_call`s, said so in each [`Read`]).
//!
//! Sends and swaps, and their executors behind the gate, come later ([2.5]). Transaction
//! history is not read.
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
//! - The reader reaches the node only through the outbound policy (`[net] chain`, Tor by
//!   default); a balance whose proof does not verify is an error, never a value; the block
//!   header (its state root) is still the node's word. ENS offchain lookups are refused: no URL
//!   chosen by a contract is fetched.

pub mod api;
pub mod build;
pub mod decode;
mod error;
pub mod exec;
pub mod keys;
pub mod price;
pub mod read;
pub mod secret;
pub mod send;
pub mod simulate;

pub use alloy::primitives::Address;
pub use error::Error;
pub use keys::{Account, Keystore};
pub use read::{Block, ContractText, Read, Reader, TokenInfo};
pub use secret::{Passphrase, PrivateKey};
