//! The Ethereum wallet of Sovereign: the user's accounts, the reads, and the sends, swaps and
//! calls that agents ask for through the Tool API, built by the wallet and run by the gate.
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
//! - [`build`]: a send, swap or call built from what the agent asks (never from a transaction
//!   the agent wrote): encoded, decoded, priced ([`price`]), simulated ([`simulate`]) and written
//!   as the gate action the reviewer and the human see.
//! - [`exec`]: the gate's executor of `wallet.transfer` and `wallet.call`, with keys unlocked
//!   once in `sov serve`; [`send`]: its outbox (signed once, broadcast exactly once).
//! - [`api`]: the Tool API routes.
//!
//! Transaction history is not read; typed-data signatures are not made.
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
//! - A send's value is the wallet's own: the larger of the amount asked and what the simulation
//!   shows leaving the user's accounts, by the user's price table; unpriced assets are refused.
//!   Every address the simulation shows gaining counts as a recipient. What the decoder or the
//!   builder flags waits for the human whatever the caps.
//! - Unlocked keys live only in `sov serve`'s memory ([`exec::Signers`]); an approved action is
//!   signed once, stored before it is broadcast, and sent again byte for byte after a crash.

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
