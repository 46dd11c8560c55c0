//! The client's credits: one identity per deposit, and the next unused ticket index of each.
//!
//! The index is advanced and committed (SQLite, `synchronous=FULL`) before a proof for it is
//! made, so whatever happens after, even `kill -9` or a power cut between the proof and the
//! send, that index is never used again: a lost ticket costs one call's price, a reused one
//! would cost the whole deposit. Secrets live in key files of their own (mode 0600), written and
//! synced before the deposit that needs them is sent.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rln::prelude::{Fr, SecretFr};
use rusqlite::{OptionalExtension as _, TransactionBehavior, params};
use sov_core::store::Store;

use crate::ZkError;
use crate::field::{from_hex, to_hex};
use crate::tree::id_commitment;

/// Where a deposit stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreditState {
    /// Generated, deposit not yet confirmed.
    Pending,
    /// In the tree; tickets can be spent.
    Active,
    /// Withdrawal requested; the secret is public.
    Withdrawing,
    /// Paid out.
    Closed,
    /// Slashed for a double spend.
    Slashed,
}

impl CreditState {
    fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Active => "active",
            Self::Withdrawing => "withdrawing",
            Self::Closed => "closed",
            Self::Slashed => "slashed",
        }
    }

    fn parse(text: &str) -> Self {
        match text {
            "active" => Self::Active,
            "withdrawing" => Self::Withdrawing,
            "closed" => Self::Closed,
            "slashed" => Self::Slashed,
            _ => Self::Pending,
        }
    }
}

/// One deposit as the wallet knows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Credit {
    /// `H(k)`.
    pub commitment: Fr,
    /// The deposit contract, `chain-id:address`.
    pub contract: String,
    /// Its leaf in the contract's tree.
    pub leaf_index: u64,
    /// Tickets it bought.
    pub limit: u32,
    /// The next unused ticket index; `limit` when all are used.
    pub next_ticket: u32,
    /// Where it stands.
    pub state: CreditState,
}

impl Credit {
    /// Tickets left.
    pub fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.next_ticket)
    }
}

/// The client's credits.
pub struct Wallet {
    store: Mutex<Store>,
    keys: PathBuf,
}

impl Wallet {
    /// Opens the wallet in `database`, with key files under `keys`.
    pub fn open(database: &Path, keys: &Path) -> Result<Self, ZkError> {
        let store = Store::open(database).map_err(|e| ZkError::Store(e.to_string()))?;
        Ok(Self { store: Mutex::new(store), keys: keys.to_path_buf() })
    }

    /// The user's wallet: in Sovereign's database, with key files in the data directory's
    /// `zkapi-keys`.
    pub fn open_in(paths: &sov_core::paths::Paths) -> Result<Self, ZkError> {
        Self::open(&paths.database(), &paths.data_dir.join("zkapi-keys"))
    }

    fn with<T>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T>) -> Result<T, ZkError> {
        let mut store = self.store.lock().map_err(|_| ZkError::Store("the wallet's lock is poisoned".into()))?;
        f(store.conn_mut()).map_err(|e| ZkError::Store(e.to_string()))
    }

    fn key_path(&self, commitment: &Fr) -> PathBuf {
        self.keys.join(format!("{}.key", to_hex(commitment)))
    }

    /// A fresh identity for a deposit to `contract`: its key file is written and synced, and the
    /// credit recorded as pending, before this returns its commitment.
    pub fn new_identity(&self, contract: &str) -> Result<Fr, ZkError> {
        let secret = SecretFr::rand(&mut rand::thread_rng());
        let commitment = id_commitment(&secret);
        let io = |what: &str, e: std::io::Error| ZkError::Store(format!("{what} {}: {e}", self.keys.display()));
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(&self.keys).map_err(|e| io("creating", e))?;
        let path = self.key_path(&commitment);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| io("writing a key file in", e))?;
        file.write_all(format!("{}\n", to_hex(&secret)).as_bytes()).map_err(|e| io("writing a key file in", e))?;
        file.sync_all().map_err(|e| io("syncing a key file in", e))?;
        std::fs::File::open(&self.keys).and_then(|dir| dir.sync_all()).map_err(|e| io("syncing", e))?;
        let (hex, contract) = (to_hex(&commitment), contract.to_owned());
        self.with(|conn| {
            conn.execute(
                "INSERT INTO zkapi_credits (commitment, contract, leaf_index, ticket_limit, state, created_ms)
                 VALUES (?1, ?2, 0, 0, 'pending', ?3)",
                params![hex, contract, sov_core::now_ms()],
            )
        })?;
        Ok(commitment)
    }

    /// Records that the deposit of `commitment` landed at `leaf_index`, buying `limit` tickets.
    pub fn activate(&self, commitment: &Fr, leaf_index: u64, limit: u32) -> Result<(), ZkError> {
        let hex = to_hex(commitment);
        let leaf = i64::try_from(leaf_index).map_err(|_| ZkError::Malformed(format!("leaf index {leaf_index}")))?;
        let changed = self.with(|conn| {
            conn.execute(
                "UPDATE zkapi_credits SET leaf_index = ?2, ticket_limit = ?3, state = 'active' WHERE commitment = ?1",
                params![hex, leaf, limit],
            )
        })?;
        if changed == 0 {
            return Err(ZkError::Store(format!("no credit {hex} in the wallet")));
        }
        Ok(())
    }

    /// Sets the state of `commitment`'s credit.
    pub fn set_state(&self, commitment: &Fr, state: CreditState) -> Result<(), ZkError> {
        let hex = to_hex(commitment);
        self.with(|conn| {
            conn.execute("UPDATE zkapi_credits SET state = ?2 WHERE commitment = ?1", params![hex, state.as_str()])
        })?;
        Ok(())
    }

    /// Every credit, oldest first.
    pub fn credits(&self) -> Result<Vec<Credit>, ZkError> {
        let rows = self.with(|conn| {
            let mut statement = conn.prepare(
                "SELECT commitment, contract, leaf_index, ticket_limit, next_ticket, state
                 FROM zkapi_credits ORDER BY created_ms, commitment",
            )?;
            statement
                .query_map([], |row| {
                    Ok((
                        row.get::<_, String>(0)?,
                        row.get::<_, String>(1)?,
                        row.get::<_, i64>(2)?,
                        row.get::<_, i64>(3)?,
                        row.get::<_, i64>(4)?,
                        row.get::<_, String>(5)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        rows.into_iter()
            .map(|(commitment, contract, leaf, limit, next, state)| {
                Ok(Credit {
                    commitment: from_hex("a stored commitment", &commitment)?,
                    contract,
                    leaf_index: u64::try_from(leaf).unwrap_or(0),
                    limit: u32::try_from(limit).unwrap_or(0),
                    next_ticket: u32::try_from(next).unwrap_or(u32::MAX),
                    state: CreditState::parse(&state),
                })
            })
            .collect()
    }

    /// The active credit of `contract` with tickets left, oldest first.
    pub fn usable(&self, contract: &str) -> Result<Option<Credit>, ZkError> {
        Ok(self
            .credits()?
            .into_iter()
            .find(|c| c.contract == contract && c.state == CreditState::Active && c.remaining() > 0))
    }

    /// Takes the next ticket index of `commitment` for good: committed before it is returned.
    pub fn reserve_ticket(&self, commitment: &Fr) -> Result<u32, ZkError> {
        let hex = to_hex(commitment);
        let taken = self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let row = tx
                .query_row(
                    "UPDATE zkapi_credits SET next_ticket = next_ticket + 1
                     WHERE commitment = ?1 AND state = 'active' AND next_ticket < ticket_limit
                     RETURNING next_ticket - 1",
                    params![hex],
                    |row| row.get::<_, i64>(0),
                )
                .optional()?;
            tx.commit()?;
            Ok(row)
        })?;
        match taken {
            Some(index) => u32::try_from(index).map_err(|_| ZkError::Store(format!("ticket index {index}"))),
            None => {
                let credit = self.credits()?.into_iter().find(|c| c.commitment == *commitment);
                match credit {
                    None => Err(ZkError::Store(format!("no credit {hex} in the wallet"))),
                    Some(c) if c.state != CreditState::Active => {
                        Err(ZkError::Store(format!("credit {hex} is {}, not active", c.state.as_str())))
                    }
                    Some(c) => Err(ZkError::LimitReached { limit: c.limit }),
                }
            }
        }
    }

    /// The secret of `commitment`, read from its key file and checked against the commitment.
    pub fn secret(&self, commitment: &Fr) -> Result<SecretFr, ZkError> {
        let path = self.key_path(commitment);
        let text = std::fs::read_to_string(&path)
            .map_err(|e| ZkError::Store(format!("reading the key file {}: {e}", path.display())))?;
        let mut value = from_hex("the key file", text.trim())?;
        let secret = SecretFr::from(&mut value);
        if id_commitment(&secret) != *commitment {
            return Err(ZkError::Malformed(format!(
                "the key file {} does not hold the secret of {}",
                path.display(),
                to_hex(commitment)
            )));
        }
        Ok(secret)
    }
}
