//! The provider's record of spent tickets: one row per nullifier, holding the share that came
//! with it, so a second use of a ticket index either repeats the first (a replay) or reveals the
//! spender's secret (a double spend).

use std::path::Path;
use std::sync::Mutex;

use rln::prelude::{Fr, compute_id_secret};
use rusqlite::{OptionalExtension as _, params};
use sov_core::store::Store;

use crate::ZkError;
use crate::field::{FR_BYTES, from_bytes, to_bytes, to_hex};
use crate::ticket::Ticket;
use crate::tree::id_commitment;

/// What spending a ticket found. Its `Debug` never shows a recovered secret.
#[derive(Clone, PartialEq)]
pub enum Spend {
    /// The nullifier was unseen and is now spent.
    New,
    /// The same ticket for the same request again: refused, and nothing is kept of the request
    /// (the provider stores no answers, so it cannot serve them twice).
    Replay,
    /// The same ticket index for a different request: the two shares give away the secret.
    DoubleSpend {
        /// The spender's recovered secret `k`.
        secret: Fr,
        /// `H(k)`, the identity commitment the deposit contract knows.
        commitment: Fr,
    },
}

impl std::fmt::Debug for Spend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Spend::New => f.write_str("New"),
            Spend::Replay => f.write_str("Replay"),
            Spend::DoubleSpend { commitment, .. } => {
                f.debug_struct("DoubleSpend").field("secret", &"[redacted]").field("commitment", commitment).finish()
            }
        }
    }
}

/// Where a provider keeps spent nullifiers. Shared by every replica of a provider, so a ticket
/// spent at one is spent at all.
pub trait NullifierStore: Send + Sync {
    /// Marks the ticket's nullifier spent, atomically: of two concurrent spends of one
    /// nullifier, exactly one is [`Spend::New`].
    fn spend(&self, ticket: &Ticket) -> Result<Spend, ZkError>;
    /// Keeps a recovered secret until its slash has landed.
    fn record_double_spend(&self, commitment: &Fr, secret: &Fr) -> Result<(), ZkError>;
    /// Double spends whose slash has not landed yet: `(commitment, secret)`.
    fn unslashed(&self) -> Result<Vec<(Fr, Fr)>, ZkError>;
    /// Notes that `commitment` was slashed (by `how`, e.g. a transaction hash).
    fn mark_slashed(&self, commitment: &Fr, how: &str) -> Result<(), ZkError>;
    /// How many tickets were spent.
    fn spent(&self) -> Result<u64, ZkError>;
    /// The batch of served nullifiers to commit on chain next: the oldest batch whose commit has
    /// not been recorded (one that was sent before a crash, perhaps), else a new batch of up to
    /// `max` nullifiers spent since the last batch; `None` when nothing waits.
    fn next_batch(&self, max: usize) -> Result<Option<PendingBatch>, ZkError>;
    /// Records that batch `id` was committed on chain as batch number `chain_index`.
    fn batch_committed(&self, id: i64, chain_index: u64) -> Result<(), ZkError>;
    /// Every batch committed on chain: its on-chain index and its nullifiers in tree order.
    fn committed_batches(&self) -> Result<Vec<(u64, Vec<Fr>)>, ZkError>;
}

/// A batch of served nullifiers on its way to the chain.
#[derive(Debug, Clone, PartialEq)]
pub struct PendingBatch {
    /// The store's own number for it.
    pub id: i64,
    /// Its nullifiers, in the order of the batch tree's leaves.
    pub nullifiers: Vec<Fr>,
}

/// `(on-chain index, nullifiers)` from the batch table's `(chain_index, nullifiers)` rows.
pub(crate) fn committed(rows: Vec<(i64, Vec<u8>)>) -> Result<Vec<(u64, Vec<Fr>)>, ZkError> {
    rows.into_iter().map(|(index, packed)| Ok((u64::try_from(index).unwrap_or(0), unpack(&packed)?))).collect()
}

/// Nullifiers as the batch tables keep them: 32 big-endian bytes each, back to back.
pub(crate) fn unpack(packed: &[u8]) -> Result<Vec<Fr>, ZkError> {
    if !packed.len().is_multiple_of(FR_BYTES) {
        return Err(ZkError::Store(format!("a stored batch has {} bytes, not a multiple of {FR_BYTES}", packed.len())));
    }
    packed.chunks(FR_BYTES).map(|chunk| from_bytes("stored batch nullifier", chunk)).collect()
}

/// What two shares of one nullifier mean.
pub fn judge(first: (Fr, Fr), second: (Fr, Fr)) -> Result<Spend, ZkError> {
    if first.0 == second.0 {
        return Ok(Spend::Replay);
    }
    let secret =
        *compute_id_secret(first, second).map_err(|e| ZkError::Store(format!("recovering the secret: {e}")))?;
    Ok(Spend::DoubleSpend { secret, commitment: id_commitment(&secret) })
}

/// `(commitment, secret)` for each stored recovered secret.
pub(crate) fn recovered(secrets: &[Vec<u8>]) -> Result<Vec<(Fr, Fr)>, ZkError> {
    secrets
        .iter()
        .map(|secret| {
            let secret = from_bytes("stored secret", secret)?;
            Ok((id_commitment(&secret), secret))
        })
        .collect()
}

/// The nullifier store in Sovereign's SQLite database (one provider process).
pub struct SqliteStore {
    store: Mutex<Store>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`.
    pub fn open(path: &Path) -> Result<Self, ZkError> {
        let store = Store::open(path).map_err(|e| ZkError::Store(e.to_string()))?;
        Ok(Self { store: Mutex::new(store) })
    }

    /// A private in-memory store, for tests and benchmarks.
    pub fn in_memory() -> Result<Self, ZkError> {
        let store = Store::open_in_memory().map_err(|e| ZkError::Store(e.to_string()))?;
        Ok(Self { store: Mutex::new(store) })
    }

    fn with<T>(&self, f: impl FnOnce(&mut rusqlite::Connection) -> rusqlite::Result<T>) -> Result<T, ZkError> {
        let mut store = self.store.lock().map_err(|_| ZkError::Store("the store's lock is poisoned".into()))?;
        f(store.conn_mut()).map_err(|e| ZkError::Store(e.to_string()))
    }
}

impl NullifierStore for SqliteStore {
    fn spend(&self, ticket: &Ticket) -> Result<Spend, ZkError> {
        let (nullifier, x, y) = (to_bytes(&ticket.nullifier), to_bytes(&ticket.x), to_bytes(&ticket.y));
        let earlier = self.with(|conn| {
            let tx = conn.transaction()?;
            let inserted = tx.execute(
                "INSERT INTO zkapi_spent (nullifier, x, y) VALUES (?1, ?2, ?3) ON CONFLICT (nullifier) DO NOTHING",
                params![nullifier, x, y],
            )?;
            if inserted == 1 {
                tx.execute("INSERT INTO zkapi_unbatched (nullifier) VALUES (?1)", params![nullifier])?;
                tx.commit()?;
                return Ok(None);
            }
            tx.query_row("SELECT x, y FROM zkapi_spent WHERE nullifier = ?1", params![nullifier], |row| {
                Ok((row.get::<_, Vec<u8>>(0)?, row.get::<_, Vec<u8>>(1)?))
            })
            .optional()
        })?;
        match earlier {
            None => Ok(Spend::New),
            Some((x0, y0)) => judge((from_bytes("stored x", &x0)?, from_bytes("stored y", &y0)?), (ticket.x, ticket.y)),
        }
    }

    fn record_double_spend(&self, commitment: &Fr, secret: &Fr) -> Result<(), ZkError> {
        let (commitment, secret) = (to_hex(commitment), to_bytes(secret));
        self.with(|conn| {
            conn.execute(
                "INSERT INTO zkapi_slashes (commitment, secret, found_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (commitment) DO NOTHING",
                params![commitment, secret, sov_core::now_ms()],
            )
        })?;
        Ok(())
    }

    fn unslashed(&self) -> Result<Vec<(Fr, Fr)>, ZkError> {
        let rows = self.with(|conn| {
            let mut statement =
                conn.prepare("SELECT secret FROM zkapi_slashes WHERE slashed IS NULL ORDER BY found_ms")?;
            statement.query_map([], |row| row.get::<_, Vec<u8>>(0))?.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        recovered(&rows)
    }

    fn mark_slashed(&self, commitment: &Fr, how: &str) -> Result<(), ZkError> {
        let commitment = to_hex(commitment);
        self.with(|conn| {
            conn.execute("UPDATE zkapi_slashes SET slashed = ?2 WHERE commitment = ?1", params![commitment, how])
        })?;
        Ok(())
    }

    fn spent(&self) -> Result<u64, ZkError> {
        let n = self.with(|conn| conn.query_row("SELECT count(*) FROM zkapi_spent", [], |row| row.get::<_, i64>(0)))?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn next_batch(&self, max: usize) -> Result<Option<PendingBatch>, ZkError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let found = self.with(|conn| {
            let tx = conn.transaction()?;
            let pending = tx
                .query_row(
                    "SELECT id, nullifiers FROM zkapi_batches WHERE chain_index IS NULL ORDER BY id LIMIT 1",
                    [],
                    |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)),
                )
                .optional()?;
            if pending.is_some() {
                return Ok(pending);
            }
            let taken: Vec<Vec<u8>> = tx
                .prepare("SELECT nullifier FROM zkapi_unbatched ORDER BY nullifier LIMIT ?1")?
                .query_map(params![max], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            if taken.is_empty() {
                return Ok(None);
            }
            let mut delete = tx.prepare("DELETE FROM zkapi_unbatched WHERE nullifier = ?1")?;
            for nullifier in &taken {
                delete.execute(params![nullifier])?;
            }
            drop(delete);
            let packed = taken.concat();
            tx.execute("INSERT INTO zkapi_batches (nullifiers) VALUES (?1)", params![packed])?;
            let id = tx.last_insert_rowid();
            tx.commit()?;
            Ok(Some((id, packed)))
        })?;
        found.map(|(id, packed)| Ok(PendingBatch { id, nullifiers: unpack(&packed)? })).transpose()
    }

    fn batch_committed(&self, id: i64, chain_index: u64) -> Result<(), ZkError> {
        let chain_index = i64::try_from(chain_index).map_err(|_| ZkError::Store("batch index too large".into()))?;
        self.with(|conn| {
            conn.execute("UPDATE zkapi_batches SET chain_index = ?2 WHERE id = ?1", params![id, chain_index])
        })?;
        Ok(())
    }

    fn committed_batches(&self) -> Result<Vec<(u64, Vec<Fr>)>, ZkError> {
        let rows = self.with(|conn| {
            conn.prepare("SELECT chain_index, nullifiers FROM zkapi_batches WHERE chain_index IS NOT NULL ORDER BY id")?
                .query_map([], |row| Ok((row.get::<_, i64>(0)?, row.get::<_, Vec<u8>>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()
        })?;
        committed(rows)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn a_recovered_secret_never_prints() {
        let secret = Fr::from(0x5ec2_e7ab_cdef_1234_u64);
        let spend = Spend::DoubleSpend { secret, commitment: id_commitment(&secret) };
        let debug = format!("{spend:?}");
        assert!(!debug.contains(&format!("{secret:?}")) && debug.contains("[redacted]"), "{debug}");
        assert!(debug.contains(&format!("{:?}", id_commitment(&secret))), "the commitment is public: {debug}");
    }
}
