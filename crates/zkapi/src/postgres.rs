//! The nullifier store in PostgreSQL, for a provider that runs several replicas (processes,
//! machines behind a load balancer) which must all refuse a ticket spent at any one of them.
//!
//! Guarantees:
//! - [`PostgresStore::spend`] is atomic across every process connected to the database: the
//!   nullifier is the table's primary key and the insert is one statement, so of concurrent spends
//!   of one nullifier PostgreSQL lets exactly one insert the row. The others wait for that insert
//!   to commit and then read its share, which is why the read is a separate statement: a single
//!   statement reads from a snapshot taken before the winner committed and would miss the row.
//! - What is kept is what [`SqliteStore`](crate::SqliteStore) keeps: the nullifier and its first
//!   share, and recovered secrets until their slash lands. Nothing links two calls.
//! - Connections are plaintext (this build carries no TLS client for PostgreSQL), so the store
//!   refuses any server that is not on this machine: a Unix socket or a loopback address. Shares
//!   and recovered secrets never cross a network in the clear. A database on another machine needs
//!   TLS, which is not implemented; until it is, reach it through a local encrypted tunnel
//!   (`ssh -L`, stunnel) and point the store at the tunnel's loopback end.
//!
//! The `postgres` client is synchronous and runs its own small Tokio runtime, so call the store
//! from plain threads or `spawn_blocking` (as the provider does), never from async code directly.

use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::Duration;

use postgres::config::Host;
use postgres::error::Severity;
use postgres::{Client, Config, NoTls, Row, Statement};
use rln::prelude::Fr;

use crate::ZkError;
use crate::field::{from_bytes, to_bytes, to_hex};
use crate::store::{NullifierStore, PendingBatch, Spend, judge, unpack};
use crate::ticket::Ticket;

/// Connections each store keeps: a replica handles several requests at once, and one connection
/// would queue every spend behind the previous one's commit.
pub const CONNECTIONS: usize = 4;

/// How long to wait for the server to accept a connection, unless the URL says otherwise.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

// The advisory lock serialises table creation between replicas that start at once: concurrent
// `CREATE TABLE IF NOT EXISTS` of one table can fail on PostgreSQL's catalog unique index. Its key
// is "zkapi" in ASCII as a big-endian integer; any constant unique to this schema would do.
const SCHEMA: &str = "
    BEGIN;
    SELECT pg_advisory_xact_lock(525787557993);
    CREATE TABLE IF NOT EXISTS zkapi_spent (
        nullifier BYTEA PRIMARY KEY,
        x         BYTEA NOT NULL,
        y         BYTEA NOT NULL
    );
    CREATE TABLE IF NOT EXISTS zkapi_slashes (
        commitment TEXT PRIMARY KEY,
        secret     BYTEA NOT NULL,
        found_ms   BIGINT NOT NULL,
        slashed    TEXT
    );
    CREATE TABLE IF NOT EXISTS zkapi_unbatched (
        nullifier BYTEA PRIMARY KEY
    );
    CREATE TABLE IF NOT EXISTS zkapi_batches (
        id          BIGSERIAL PRIMARY KEY,
        nullifiers  BYTEA NOT NULL,
        chain_index BIGINT
    );
    COMMIT;";

/// Spends a nullifier and queues it for the next batch in one statement, so both happen or
/// neither; it reports one row exactly when the nullifier was new.
const INSERT_SPENT: &str = "
    WITH spent AS (
        INSERT INTO zkapi_spent (nullifier, x, y) VALUES ($1, $2, $3) ON CONFLICT (nullifier) DO NOTHING
        RETURNING nullifier
    )
    INSERT INTO zkapi_unbatched (nullifier) SELECT nullifier FROM spent";

/// Serialises batch formation between replicas (the key is "batch" in ASCII), so two of them
/// never start two batches while one is still uncommitted.
const BATCH_LOCK: &str = "SELECT pg_advisory_xact_lock(422726395752)";
const SELECT_SPENT: &str = "SELECT x, y FROM zkapi_spent WHERE nullifier = $1";

/// The nullifier store in a PostgreSQL database shared by a provider's replicas.
pub struct PostgresStore {
    config: Config,
    /// The server as errors name it: user, address and database, never the password.
    server: String,
    sessions: Vec<Mutex<Option<Session>>>,
    next: AtomicUsize,
}

/// One connection with the statements every spend runs, prepared once.
struct Session {
    client: Client,
    insert: Statement,
    select: Statement,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgresql://user@localhost:5432/db`, or key=value
    /// pairs such as `host=/run/postgresql user=sov dbname=sov`) and creates the store's tables if
    /// they are missing.
    ///
    /// Refuses a server that is not on this machine (see the module's documentation). A call
    /// that finds its connection broken runs again on a fresh one, so the store outlives a
    /// database restart; the calls made while the database is down fail with an error naming the
    /// server.
    pub fn connect(url: &str) -> Result<Self, ZkError> {
        let mut config: Config = url.parse().map_err(|e| {
            ZkError::Store(format!(
                "the PostgreSQL address is not valid ({}); write it as postgresql://user@localhost:port/database \
                 or as key=value pairs, e.g. host=/run/postgresql user=sov dbname=sov",
                causes(&e)
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("sov-zkapi");
        }
        let server = describe(&config);
        if let Err(reason) = check_local(&config) {
            return Err(ZkError::Store(format!(
                "refusing PostgreSQL at {server}: {reason}. This build speaks to PostgreSQL without TLS, so it \
                 only connects over a Unix socket or to a loopback address; for a database on another machine, \
                 run an encrypted tunnel (ssh -L, stunnel) and give its local end"
            )));
        }
        let store = Self {
            config,
            server,
            sessions: (0..CONNECTIONS).map(|_| Mutex::new(None)).collect(),
            next: AtomicUsize::new(0),
        };
        let mut client = store.client()?;
        client.batch_execute(SCHEMA).map_err(|e| store.fault("creating the tables", &e))?;
        let first = store.session(client)?;
        *store.slot() = Some(first);
        Ok(store)
    }

    /// The server this store talks to, as its errors name it (no password).
    pub fn server(&self) -> &str {
        &self.server
    }

    fn client(&self) -> Result<Client, ZkError> {
        self.config.connect(NoTls).map_err(|e| self.fault("connecting", &e))
    }

    fn session(&self, mut client: Client) -> Result<Session, ZkError> {
        let prepared = client.prepare(INSERT_SPENT).and_then(|insert| Ok((insert, client.prepare(SELECT_SPENT)?)));
        let (insert, select) = prepared.map_err(|e| self.fault("preparing statements", &e))?;
        Ok(Session { client, insert, select })
    }

    /// A free connection if there is one, else a wait for one.
    fn slot(&self) -> MutexGuard<'_, Option<Session>> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.sessions.len();
        for i in 0..n {
            match self.sessions[(start + i) % n].try_lock() {
                Ok(slot) => return slot,
                Err(TryLockError::Poisoned(poisoned)) => return reset(poisoned.into_inner()),
                Err(TryLockError::WouldBlock) => {}
            }
        }
        self.sessions[start % n].lock().unwrap_or_else(|poisoned| reset(poisoned.into_inner()))
    }

    /// Runs `f` on a connection, opening one if needed. A connection that failed is dropped
    /// whatever the failure, so no call runs on one in an unknown state.
    ///
    /// An idle connection is not read from, so one whose server restarted since its last use is
    /// found dead only by the next call on it; that call is run once more on a fresh connection
    /// rather than failed. Repeating a spend is safe: whichever attempt inserts, the nullifier is
    /// spent once, and a repeat can only find it spent, never make it new again. (Had the first
    /// attempt committed just before its connection broke, the repeat reports a replay: what the
    /// client's own retry would have met.)
    fn with<T>(
        &self,
        doing: &str,
        mut f: impl FnMut(&mut Session) -> Result<T, postgres::Error>,
    ) -> Result<T, ZkError> {
        let mut slot = self.slot();
        let reused = slot.is_some();
        let session = match &mut *slot {
            Some(session) => session,
            None => slot.insert(self.session(self.client()?)?),
        };
        let mut result = f(session);
        if reused && result.as_ref().is_err_and(connection_lost) {
            *slot = None;
            result = f(slot.insert(self.session(self.client()?)?));
        }
        result.map_err(|e| {
            *slot = None;
            self.fault(doing, &e)
        })
    }

    fn fault(&self, doing: &str, e: &postgres::Error) -> ZkError {
        let hint = if e.as_db_error().is_some() {
            // The server answered: its message says what is wrong.
            ""
        } else {
            "; check that the server is running and accepts connections at this address (pg_isready)"
        };
        ZkError::Store(format!("PostgreSQL at {}: {doing}: {}{hint}", self.server, causes(e)))
    }
}

/// Whether `e` ended the connection rather than one statement (which fails with severity ERROR
/// and leaves the connection usable).
fn connection_lost(e: &postgres::Error) -> bool {
    e.as_db_error().is_none_or(|db| db.parsed_severity() != Some(Severity::Error))
}

/// A slot whose holder panicked: its connection may be mid-transaction, so it is dropped.
fn reset(mut slot: MutexGuard<'_, Option<Session>>) -> MutexGuard<'_, Option<Session>> {
    *slot = None;
    slot
}

impl NullifierStore for PostgresStore {
    fn spend(&self, ticket: &Ticket) -> Result<Spend, ZkError> {
        let (nullifier, x, y) = (to_bytes(&ticket.nullifier), to_bytes(&ticket.x), to_bytes(&ticket.y));
        // `None`: this call inserted the row; `Some(row)`: another spend did, and `row` is its
        // share.
        let earlier = self.with("spending a ticket", |session| {
            // Each statement commits on its own. A concurrent insert of the same nullifier makes
            // this one wait for it and then insert nothing; the select, a new statement with a new
            // snapshot, then sees the winner's row.
            let inserted =
                session.client.execute(&session.insert, &[&nullifier.as_slice(), &x.as_slice(), &y.as_slice()])?;
            if inserted == 1 {
                return Ok(None);
            }
            let row = session.client.query_opt(&session.select, &[&nullifier.as_slice()])?;
            Ok(Some(row.map(|row| share(&row)).transpose()?))
        })?;
        match earlier {
            None => Ok(Spend::New),
            Some(Some((x0, y0))) => {
                judge((from_bytes("stored x", &x0)?, from_bytes("stored y", &y0)?), (ticket.x, ticket.y))
            }
            // Rows are never deleted, so a conflict without a row means the table was edited by
            // hand; refuse the ticket rather than call it new.
            Some(None) => Err(ZkError::Store(format!(
                "PostgreSQL at {}: the nullifier is spent but its row is gone; zkapi_spent was modified outside sov",
                self.server
            ))),
        }
    }

    fn record_double_spend(&self, commitment: &Fr, secret: &Fr) -> Result<(), ZkError> {
        let (commitment, secret) = (to_hex(commitment), to_bytes(secret));
        self.with("recording a double spend", |session| {
            session.client.execute(
                "INSERT INTO zkapi_slashes (commitment, secret, found_ms) VALUES ($1, $2, $3)
                 ON CONFLICT (commitment) DO NOTHING",
                &[&commitment, &secret.as_slice(), &sov_core::now_ms()],
            )
        })?;
        Ok(())
    }

    fn unslashed(&self) -> Result<Vec<(Fr, Fr)>, ZkError> {
        let secrets = self.with("listing unslashed double spends", |session| {
            let rows = session
                .client
                .query("SELECT secret FROM zkapi_slashes WHERE slashed IS NULL ORDER BY found_ms, commitment", &[])?;
            rows.iter().map(|row| row.try_get::<_, Vec<u8>>(0)).collect::<Result<Vec<_>, _>>()
        })?;
        crate::store::recovered(&secrets)
    }

    fn mark_slashed(&self, commitment: &Fr, how: &str) -> Result<(), ZkError> {
        let commitment = to_hex(commitment);
        self.with("marking a slash", |session| {
            session.client.execute("UPDATE zkapi_slashes SET slashed = $2 WHERE commitment = $1", &[&commitment, &how])
        })?;
        Ok(())
    }

    fn spent(&self) -> Result<u64, ZkError> {
        let n = self.with("counting spent tickets", |session| {
            session.client.query_one("SELECT count(*) FROM zkapi_spent", &[])?.try_get::<_, i64>(0)
        })?;
        Ok(u64::try_from(n).unwrap_or(0))
    }

    fn next_batch(&self, max: usize) -> Result<Option<PendingBatch>, ZkError> {
        let max = i64::try_from(max).unwrap_or(i64::MAX);
        let found = self.with("forming a batch of served tickets", |session| {
            let mut tx = session.client.transaction()?;
            tx.execute(BATCH_LOCK, &[])?;
            let pending = tx.query_opt(
                "SELECT id, nullifiers FROM zkapi_batches WHERE chain_index IS NULL ORDER BY id LIMIT 1",
                &[],
            )?;
            if let Some(row) = pending {
                return Ok(Some((row.try_get::<_, i64>(0)?, row.try_get::<_, Vec<u8>>(1)?)));
            }
            let rows = tx.query(
                "DELETE FROM zkapi_unbatched WHERE nullifier IN
                   (SELECT nullifier FROM zkapi_unbatched ORDER BY nullifier LIMIT $1)
                 RETURNING nullifier",
                &[&max],
            )?;
            let mut taken = rows.iter().map(|row| row.try_get::<_, Vec<u8>>(0)).collect::<Result<Vec<_>, _>>()?;
            if taken.is_empty() {
                return Ok(None);
            }
            // RETURNING has no order; the batch's is the nullifiers' own, as in SQLite.
            taken.sort();
            let packed = taken.concat();
            let id: i64 = tx
                .query_one("INSERT INTO zkapi_batches (nullifiers) VALUES ($1) RETURNING id", &[&packed.as_slice()])?
                .try_get(0)?;
            tx.commit()?;
            Ok(Some((id, packed)))
        })?;
        found.map(|(id, packed)| Ok(PendingBatch { id, nullifiers: unpack(&packed)? })).transpose()
    }

    fn batch_committed(&self, id: i64, chain_index: u64) -> Result<(), ZkError> {
        let chain_index = i64::try_from(chain_index).map_err(|_| ZkError::Store("batch index too large".into()))?;
        self.with("recording a committed batch", |session| {
            session.client.execute("UPDATE zkapi_batches SET chain_index = $2 WHERE id = $1", &[&id, &chain_index])
        })?;
        Ok(())
    }

    fn committed_batches(&self) -> Result<Vec<(u64, Vec<Fr>)>, ZkError> {
        let rows = self.with("reading committed batches", |session| {
            let rows = session.client.query(
                "SELECT chain_index, nullifiers FROM zkapi_batches WHERE chain_index IS NOT NULL ORDER BY id",
                &[],
            )?;
            rows.iter()
                .map(|row| Ok((row.try_get::<_, i64>(0)?, row.try_get::<_, Vec<u8>>(1)?)))
                .collect::<Result<Vec<_>, postgres::Error>>()
        })?;
        crate::store::committed(rows)
    }
}

/// `e` with its causes, on one line: the client's errors name only their kind ("db error") and
/// keep what happened (the server's message, the refused connection) in their sources.
fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text = format!("{text}: {cause}");
        source = cause.source();
    }
    text.replace('\n', "; ")
}

/// The `(x, y)` of a `zkapi_spent` row.
fn share(row: &Row) -> Result<(Vec<u8>, Vec<u8>), postgres::Error> {
    Ok((row.try_get(0)?, row.try_get(1)?))
}

/// Whether every address in `config` is on this machine; if not, which one is not.
fn check_local(config: &Config) -> Result<(), String> {
    let (hosts, addrs) = (config.get_hosts(), config.get_hostaddrs());
    if hosts.is_empty() && addrs.is_empty() {
        return Err("no host is given; name a Unix socket directory or a loopback address".into());
    }
    for i in 0..hosts.len().max(addrs.len()) {
        // A host's hostaddr, when given, is where its TCP connection goes, whatever its name.
        match (addrs.get(i), hosts.get(i)) {
            (Some(ip), _) if !ip.is_loopback() => return Err(format!("hostaddr {ip} is not a loopback address")),
            (Some(_), _) | (None, Some(Host::Unix(_))) | (None, None) => {}
            (None, Some(Host::Tcp(name))) => {
                let literal = name.trim_start_matches('[').trim_end_matches(']');
                let loopback = name.eq_ignore_ascii_case("localhost")
                    || literal.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
                if !loopback {
                    return Err(format!("host {name} is not a loopback address"));
                }
            }
        }
    }
    Ok(())
}

/// `user@address/database`, without the password.
fn describe(config: &Config) -> String {
    let ports = config.get_ports();
    let port = |i: usize| ports.get(i).or(ports.first()).copied().unwrap_or(5432);
    let addresses: Vec<String> = if config.get_hosts().is_empty() {
        config.get_hostaddrs().iter().enumerate().map(|(i, ip)| format!("{ip}:{}", port(i))).collect()
    } else {
        config
            .get_hosts()
            .iter()
            .enumerate()
            .map(|(i, host)| match host {
                Host::Tcp(name) => format!("{name}:{}", port(i)),
                Host::Unix(dir) => format!("{}/.s.PGSQL.{}", dir.display(), port(i)),
            })
            .collect()
    };
    let user = config.get_user().map(|user| format!("{user}@")).unwrap_or_default();
    let database = config.get_dbname().or(config.get_user()).unwrap_or("?");
    format!("{user}{}/{database}", addresses.join(","))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;

    fn config(url: &str) -> Config {
        url.parse().unwrap()
    }

    #[test]
    fn only_servers_on_this_machine_are_accepted() {
        for local in [
            "postgresql://sov@localhost/sov",
            "postgresql://sov@127.0.0.1:5433/sov",
            "postgresql://sov@[::1]:5433/sov",
            "host=/run/postgresql user=sov dbname=sov",
            "postgresql://sov@%2Frun%2Fpostgresql/sov",
            "host=db.example hostaddr=127.0.0.1 user=sov",
        ] {
            assert_eq!(check_local(&config(local)), Ok(()), "{local}");
        }
        for (remote, why) in [
            ("postgresql://sov@db.example/sov", "host db.example is not a loopback address"),
            ("postgresql://sov@10.0.0.5:5432/sov", "host 10.0.0.5 is not a loopback address"),
            ("postgresql://sov@localhost,10.0.0.5/sov", "host 10.0.0.5 is not a loopback address"),
            ("host=localhost hostaddr=10.0.0.5 user=sov", "hostaddr 10.0.0.5 is not a loopback address"),
        ] {
            assert_eq!(check_local(&config(remote)), Err(why.to_owned()), "{remote}");
        }
    }

    #[test]
    fn the_server_is_described_without_its_password() {
        assert_eq!(describe(&config("postgresql://sov:hunter2@127.0.0.1:5433/credits")), "sov@127.0.0.1:5433/credits");
        assert_eq!(
            describe(&config("host=/run/postgresql port=5434 user=sov password=hunter2")),
            "sov@/run/postgresql/.s.PGSQL.5434/sov"
        );
    }

    #[test]
    fn a_remote_or_malformed_address_is_refused_before_connecting() {
        let refused = |url: &str| match PostgresStore::connect(url) {
            Err(ZkError::Store(message)) => message,
            Ok(_) => panic!("{url} was accepted"),
            Err(other) => panic!("{url}: {other:?}"),
        };
        let remote = refused("postgresql://sov:hunter2@db.example/sov");
        assert!(remote.contains("refusing PostgreSQL at sov@db.example:5432/sov"), "{remote}");
        assert!(remote.contains("tunnel"), "{remote}");
        assert!(!remote.contains("hunter2"), "{remote}");
        let malformed = refused("postgresql://sov@localhost:notaport/sov");
        assert!(malformed.contains("the PostgreSQL address is not valid"), "{malformed}");
    }
}
