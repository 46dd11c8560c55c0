//! The SQLite store: one database file, opened the same way everywhere, with its schema migrated
//! forward on open.
//!
//! Guarantees of [`Store::open`]:
//! - The parent directory is created with mode `0700` if missing, and the database file with mode
//!   `0600` (an existing file is tightened to `0600`). SQLite gives its `-wal` and `-shm` files the
//!   mode of the database file.
//! - The connection runs in write-ahead-log mode with `synchronous=FULL` (a committed transaction
//!   survives power loss), enforces foreign keys and waits up to five seconds for a lock held by
//!   another process. If WAL cannot be enabled the open fails ([`Error::JournalMode`]).
//! - The schema is brought to the newest version this build knows, one migration per
//!   transaction, tracked in `PRAGMA user_version`. Concurrent openers are safe: each migration
//!   re-reads the version under an exclusive write lock. A database written by a newer build is
//!   refused with [`Error::SchemaTooNew`] and left untouched.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use crate::{Error, Result};

/// Schema migrations, oldest first. Entry `i` takes the schema from version `i` to `i + 1`.
/// Never edit a released entry; append a new one.
const MIGRATIONS: &[&str] = &[
    // 1: the hash-chained audit log (see `audit.rs`). The triggers make accidental UPDATE and
    // DELETE fail loudly; they are no defence against someone with raw access to the file, which
    // is what the hash chain is for.
    "CREATE TABLE audit (
        seq       INTEGER PRIMARY KEY,
        ts_ms     INTEGER NOT NULL,
        actor     TEXT NOT NULL,
        action    TEXT NOT NULL,
        detail    TEXT NOT NULL,
        prev_hash TEXT NOT NULL,
        hash      TEXT NOT NULL
    ) STRICT;
    CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
    CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;",
    // 2: the gate (crate `sov-gate`): sandbox sessions with their taint, actions with their
    // review and approval state, and the spending that counts against the daily caps.
    "CREATE TABLE gate_sessions (
        id          TEXT PRIMARY KEY,
        token_hash  TEXT NOT NULL UNIQUE,
        created_ms  INTEGER NOT NULL,
        side        TEXT NOT NULL,
        labels      TEXT NOT NULL,
        origin      TEXT NOT NULL
    ) STRICT;
    CREATE TABLE gate_actions (
        id              TEXT PRIMARY KEY,
        created_ms      INTEGER NOT NULL,
        kind            TEXT NOT NULL,
        request         TEXT NOT NULL,
        session         TEXT NOT NULL,
        decision        TEXT NOT NULL,
        reasons         TEXT NOT NULL,
        state           TEXT NOT NULL,
        ai_verdict      TEXT,
        ai_reason       TEXT,
        ai_ms           INTEGER,
        human           TEXT,
        human_ms        INTEGER,
        expires_ms      INTEGER NOT NULL,
        idempotency_key TEXT NOT NULL UNIQUE,
        attempts        INTEGER NOT NULL DEFAULT 0,
        outcome         TEXT,
        finished_ms     INTEGER
    ) STRICT;
    CREATE INDEX gate_actions_by_state ON gate_actions (state, created_ms);
    CREATE TABLE gate_spend (
        action_id      TEXT PRIMARY KEY REFERENCES gate_actions (id),
        ts_ms          INTEGER NOT NULL,
        value_usd      REAL NOT NULL,
        calldata_bytes INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX gate_spend_by_time ON gate_spend (ts_ms);",
    // 3: messaging (crate `sov-msg`): accounts (their secrets live in files of their own), the
    // polled messages (one row per backend, account and server-side id, so a re-poll never
    // duplicates), how far each mail folder was read, and the outbox that makes a send happen at
    // most once.
    "CREATE TABLE msg_accounts (
        backend  TEXT NOT NULL,
        address  TEXT NOT NULL,
        settings TEXT NOT NULL,
        added_ms INTEGER NOT NULL,
        PRIMARY KEY (backend, address)
    ) STRICT;
    CREATE TABLE msg_messages (
        id           INTEGER PRIMARY KEY,
        backend      TEXT NOT NULL,
        account      TEXT NOT NULL,
        uid          TEXT NOT NULL,
        sender       TEXT NOT NULL,
        sender_name  TEXT NOT NULL,
        recipient    TEXT NOT NULL,
        subject      TEXT NOT NULL,
        body         TEXT NOT NULL,
        thread_id    TEXT NOT NULL,
        timestamp_ms INTEGER NOT NULL,
        received_at  INTEGER NOT NULL,
        metadata     TEXT NOT NULL,
        UNIQUE (backend, account, uid)
    ) STRICT;
    CREATE INDEX msg_messages_by_time ON msg_messages (timestamp_ms DESC, id DESC);
    CREATE INDEX msg_messages_by_thread ON msg_messages (thread_id, timestamp_ms DESC);
    CREATE INDEX msg_messages_by_sender ON msg_messages (backend, sender);
    CREATE TABLE msg_folders (
        account     TEXT NOT NULL,
        folder      TEXT NOT NULL,
        uidvalidity INTEGER NOT NULL,
        last_uid    INTEGER NOT NULL,
        PRIMARY KEY (account, folder)
    ) STRICT;
    CREATE TABLE msg_outbox (
        key        TEXT PRIMARY KEY,
        action_id  TEXT NOT NULL,
        started_ms INTEGER NOT NULL,
        sent_ms    INTEGER,
        result     TEXT
    ) STRICT;",
    // 4: anonymous API credits (crate `sov-zkapi`). Client side: each deposit's identity (its
    // secret lives in a key file of its own) and the next unused ticket index, advanced and
    // committed before a proof leaves the machine. Provider side: every spent ticket's nullifier
    // and share (nothing else: no time, no root, nothing that could link two calls), and the
    // secrets recovered from double spends until their slash lands on chain.
    "CREATE TABLE zkapi_credits (
        commitment  TEXT PRIMARY KEY,
        contract    TEXT NOT NULL,
        leaf_index  INTEGER NOT NULL,
        ticket_limit INTEGER NOT NULL,
        next_ticket INTEGER NOT NULL DEFAULT 0,
        state       TEXT NOT NULL,
        created_ms  INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE zkapi_spent (
        nullifier BLOB PRIMARY KEY,
        x         BLOB NOT NULL,
        y         BLOB NOT NULL
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE zkapi_slashes (
        commitment TEXT PRIMARY KEY,
        secret     BLOB NOT NULL,
        found_ms   INTEGER NOT NULL,
        slashed    TEXT
    ) STRICT;",
    // 5: the provider's claims on withdrawing deposits. Each spent nullifier waits in
    // `zkapi_unbatched` until it goes into a batch whose root the provider commits on chain; the
    // batch keeps its nullifiers (32 bytes each, in tree order) to prove a ticket served when its
    // spender withdraws. A batch is a span of time shared by every caller in it: it links no two
    // calls of one user more than any two calls of anyone.
    "CREATE TABLE zkapi_unbatched (
        nullifier BLOB PRIMARY KEY
    ) STRICT, WITHOUT ROWID;
    INSERT INTO zkapi_unbatched (nullifier) SELECT nullifier FROM zkapi_spent;
    CREATE TABLE zkapi_batches (
        id          INTEGER PRIMARY KEY,
        nullifiers  BLOB NOT NULL,
        chain_index INTEGER
    ) STRICT;",
    // 6: the console's one-time login links (crate `sov-console`): the SHA-256 of each token
    // `sov console` printed, when, and when a browser used it. A token logs in once, within ten
    // minutes of `created_ms`, and only while `used_ms` is NULL; the row outlives a restart, so
    // a used link stays used.
    "CREATE TABLE console_login_links (
        token_hash TEXT PRIMARY KEY,
        created_ms INTEGER NOT NULL,
        used_ms    INTEGER
    ) STRICT, WITHOUT ROWID;",
    // 7: which model gave the AI reviewer's verdict (crate `sov-gate`), shown beside it. Rows
    // reviewed before this migration keep NULL: their reviewer is unknown.
    "ALTER TABLE gate_actions ADD COLUMN ai_model TEXT;",
    // 8: value-level provenance (crate `sov-gate`, `provenance.rs`): salted hashes of the pieces
    // of text each session was served, by origin (private or untrusted), with where they came
    // from (for the reason a denial gives) and from whom; and the database's salt.
    "CREATE TABLE gate_served (
        session TEXT NOT NULL,
        origin  TEXT NOT NULL,
        hash    BLOB NOT NULL,
        what    TEXT NOT NULL,
        peer    TEXT,
        ms      INTEGER NOT NULL,
        PRIMARY KEY (session, origin, hash)
    ) STRICT, WITHOUT ROWID;
    CREATE TABLE gate_served_salt (
        id   INTEGER PRIMARY KEY CHECK (id = 1),
        salt BLOB NOT NULL
    ) STRICT;",
    // 9: the signals the gate's code computed for an action (crate `sov-gate`, `signals.rs`),
    // as JSON, shown to the reviewer and the human. Actions asked for before keep NULL.
    "ALTER TABLE gate_actions ADD COLUMN signals TEXT;",
    // 10: the console's chat page (crate `sov-console`, `chat.rs`): conversations with their
    // settings (model, system prompt, temperature, answer length), and their messages in order.
    // Deleting a conversation deletes its messages (the foreign key cascades). An assistant
    // message keeps how it ended (`stop`, `length`, `stopped` by the person, `failed`) and the
    // engine's token counts and timings for the numbers the page shows under it.
    "CREATE TABLE chat_conversations (
        id            TEXT PRIMARY KEY,
        title         TEXT NOT NULL,
        model         TEXT NOT NULL,
        system_prompt TEXT NOT NULL,
        temperature   REAL NOT NULL,
        max_tokens    INTEGER NOT NULL,
        created_ms    INTEGER NOT NULL,
        updated_ms    INTEGER NOT NULL
    ) STRICT;
    CREATE TABLE chat_messages (
        conversation      TEXT NOT NULL REFERENCES chat_conversations (id) ON DELETE CASCADE,
        seq               INTEGER NOT NULL,
        role              TEXT NOT NULL CHECK (role IN ('user', 'assistant')),
        content           TEXT NOT NULL,
        model             TEXT,
        finish            TEXT,
        prompt_tokens     INTEGER,
        completion_tokens INTEGER,
        prompt_ms         REAL,
        generation_ms     REAL,
        created_ms        INTEGER NOT NULL,
        PRIMARY KEY (conversation, seq)
    ) STRICT, WITHOUT ROWID;
    CREATE INDEX chat_conversations_by_update ON chat_conversations (updated_ms);",
];

/// How long a connection waits for another process's lock before reporting `SQLITE_BUSY`.
const BUSY_TIMEOUT: Duration = Duration::from_millis(5000);

/// Path reported in errors for an in-memory store.
const MEMORY_PATH: &str = ":memory:";

/// An open, migrated SQLite database.
#[derive(Debug)]
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and migrates it to the newest schema.
    ///
    /// Creates the parent directory with mode `0700` and the file with mode `0600`; see the
    /// module documentation for the connection settings.
    pub fn open(path: &Path) -> Result<Store> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty())
            && !parent.exists()
        {
            DirBuilder::new().recursive(true).mode(0o700).create(parent).map_err(|source| Error::Io {
                action: "creating database directory",
                path: parent.to_path_buf(),
                source,
            })?;
        }
        // Create the file ourselves so it is never, even briefly, readable by others. An existing
        // file is never opened here: closing any descriptor of it would drop every POSIX lock this
        // process holds on it, so SQLite connections this process already has open would lose
        // theirs, and another process could then take their write-ahead log for abandoned and
        // delete it under them. Its mode is checked and set by path instead.
        let io = |action: &'static str| move |source| Error::Io { action, path: path.to_path_buf(), source };
        match OpenOptions::new().read(true).write(true).create_new(true).mode(0o600).open(path) {
            Ok(file) => drop(file),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode =
                    std::fs::metadata(path).map_err(io("reading metadata of database file"))?.permissions().mode();
                if mode & 0o777 != 0o600 {
                    std::fs::set_permissions(path, Permissions::from_mode(0o600))
                        .map_err(io("restricting permissions of database file"))?;
                }
            }
            Err(e) => return Err(io("creating database file")(e)),
        }

        let conn = Connection::open(path).map_err(|source| Error::Database { path: path.to_path_buf(), source })?;
        let mut store = Store { conn, path: path.to_path_buf() };
        store.configure(true)?;
        store.migrate()?;
        Ok(store)
    }

    /// Opens a private, empty in-memory database with the newest schema, for tests.
    /// Errors name the path `:memory:`.
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()
            .map_err(|source| Error::Database { path: PathBuf::from(MEMORY_PATH), source })?;
        let mut store = Store { conn, path: PathBuf::from(MEMORY_PATH) };
        store.configure(false)?;
        store.migrate()?;
        Ok(store)
    }

    /// The connection, for queries.
    pub fn conn(&self) -> &rusqlite::Connection {
        &self.conn
    }

    /// The connection, mutably, for [`rusqlite::Connection::transaction`].
    pub fn conn_mut(&mut self) -> &mut rusqlite::Connection {
        &mut self.conn
    }

    /// The database file (`:memory:` for an in-memory store).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version recorded in the database (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<i64> {
        self.conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(|e| self.db_error(e))
    }

    /// Wraps a SQLite error with this store's path.
    pub(crate) fn db_error(&self, source: rusqlite::Error) -> Error {
        Error::Database { path: self.path.clone(), source }
    }

    /// Applies the connection settings. `require_wal` is false only for in-memory databases,
    /// which cannot use WAL.
    fn configure(&self, require_wal: bool) -> Result<()> {
        let db = |e| self.db_error(e);
        self.conn.busy_timeout(BUSY_TIMEOUT).map_err(db)?;
        let mode: String =
            self.conn.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)).map_err(db)?;
        if require_wal && !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::JournalMode { path: self.path.clone(), found: mode });
        }
        self.conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        self.conn.pragma_update(None, "foreign_keys", "ON").map_err(db)?;
        Ok(())
    }

    /// Brings the schema to `MIGRATIONS.len()`, one migration per IMMEDIATE transaction.
    fn migrate(&mut self) -> Result<()> {
        let known = i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX);
        let path = self.path.clone();
        let db = |source| Error::Database { path: path.clone(), source };
        loop {
            let tx = self.conn.transaction_with_behavior(TransactionBehavior::Immediate).map_err(db)?;
            // Read under the write lock, so two processes opening at once cannot both apply
            // the same migration.
            let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db)?;
            if found > known {
                return Err(Error::SchemaTooNew { path: path.clone(), found, known });
            }
            let Some(sql) = usize::try_from(found).ok().and_then(|i| MIGRATIONS.get(i)) else {
                // Up to date. (A negative version can only come from a hand edit; we do not
                // guess what it meant, and later queries will fail with "no such table".)
                return tx.commit().map_err(db);
            };
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", found + 1).map_err(db)?;
            tx.commit().map_err(db)?;
            tracing::debug!(path = %path.display(), version = found + 1, "applied schema migration");
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn table_names(store: &Store) -> Vec<String> {
        let mut stmt = store
            .conn()
            .prepare("SELECT name FROM sqlite_schema WHERE type IN ('table', 'trigger') ORDER BY name")
            .unwrap();
        stmt.query_map([], |row| row.get(0)).unwrap().collect::<rusqlite::Result<_>>().unwrap()
    }

    #[test]
    fn in_memory_store_is_migrated() {
        let store = Store::open_in_memory().unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(store.path(), Path::new(":memory:"));
        assert_eq!(
            table_names(&store),
            vec![
                "audit",
                "audit_no_delete",
                "audit_no_update",
                "chat_conversations",
                "chat_messages",
                "console_login_links",
                "gate_actions",
                "gate_served",
                "gate_served_salt",
                "gate_sessions",
                "gate_spend",
                "msg_accounts",
                "msg_folders",
                "msg_messages",
                "msg_outbox",
                "zkapi_batches",
                "zkapi_credits",
                "zkapi_slashes",
                "zkapi_spent",
                "zkapi_unbatched"
            ]
        );
    }

    #[test]
    fn open_creates_private_directory_and_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state").join("nested").join("sov.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.path(), path);

        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(mode(&dir.path().join("state")), 0o700);
        // WAL side files inherit the database file's mode.
        let wal = path.with_file_name("sov.db-wal");
        if wal.exists() {
            assert_eq!(mode(&wal), 0o600);
        }
    }

    #[test]
    fn open_tightens_existing_file_mode() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sov.db");
        std::fs::write(&path, b"").unwrap();
        std::fs::set_permissions(&path, Permissions::from_mode(0o644)).unwrap();
        let _store = Store::open(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    /// A second open in one process must not drop the first connection's locks: if it did,
    /// another process closing its connection would take itself for the last one, checkpoint
    /// and delete the write-ahead log the first connection still writes to, and every later
    /// commit would be lost to other processes.
    #[test]
    fn a_second_open_keeps_the_first_connections_log_alive_for_other_processes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sov.db");
        let first = Store::open(&path).unwrap();
        first.conn().pragma_update(None, "wal_autocheckpoint", 0).unwrap();
        first.conn().execute_batch("CREATE TABLE t (x INTEGER); INSERT INTO t VALUES (1);").unwrap();
        let _second = Store::open(&path).unwrap();
        let python = std::env::var("SOV_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let other_process = std::process::Command::new(python)
            .args(["-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute('select count(*) from t').fetchall(); c.close()"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(other_process.success());
        assert!(path.with_file_name("sov.db-wal").exists(), "another process deleted the log under an open connection");
        first.conn().execute("INSERT INTO t VALUES (2)", []).unwrap();
        let seen = std::process::Command::new(std::env::var("SOV_TEST_PYTHON").unwrap_or_else(|_| "python3".into()))
            .args(["-c", "import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('select count(*) from t').fetchone()[0])"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&seen.stdout).trim(), "2", "{seen:?}");
    }

    #[test]
    fn connection_settings_are_applied() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sov.db")).unwrap();
        let conn = store.conn();
        let journal: String = conn.pragma_query_value(None, "journal_mode", |r| r.get(0)).unwrap();
        let synchronous: i64 = conn.pragma_query_value(None, "synchronous", |r| r.get(0)).unwrap();
        let foreign_keys: i64 = conn.pragma_query_value(None, "foreign_keys", |r| r.get(0)).unwrap();
        let busy: i64 = conn.pragma_query_value(None, "busy_timeout", |r| r.get(0)).unwrap();
        assert_eq!((journal.as_str(), synchronous, foreign_keys, busy), ("wal", 2, 1, 5000));
    }

    #[test]
    fn migrations_are_idempotent_on_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sov.db");
        {
            let store = Store::open(&path).unwrap();
            store.conn().execute("INSERT INTO audit VALUES (1, 0, 'a', 'b', '{}', 'p', 'h')", []).unwrap();
        }
        let store = Store::open(&path).unwrap();
        let again = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        assert_eq!(again.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let rows: i64 = store.conn().query_row("SELECT count(*) FROM audit", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1, "reopening must keep data");
    }

    /// A database made before the reviewer's model was recorded (schema 6) opens with its
    /// reviewed actions intact and their model unknown (NULL).
    #[test]
    fn gate_actions_reviewed_before_migration_7_keep_their_review_with_no_model() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sov.db");
        {
            let conn = Connection::open(&path).unwrap();
            for sql in &MIGRATIONS[..6] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 6).unwrap();
            conn.execute(
                "INSERT INTO gate_actions (id, created_ms, kind, request, session, decision, reasons, state,
                 ai_verdict, ai_reason, ai_ms, expires_ms, idempotency_key)
                 VALUES ('a1', 1, 'web.fetch', '{}', 'anonymous', 'confirm', '[]', 'awaiting_human',
                 'approve', 'fine', 2, 3, 'k1')",
                [],
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), MIGRATIONS.len() as i64);
        let row: (String, String, Option<String>) = store
            .conn()
            .query_row("SELECT ai_verdict, ai_reason, ai_model FROM gate_actions WHERE id = 'a1'", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!(row, ("approve".to_owned(), "fine".to_owned(), None));
    }

    #[test]
    fn newer_schema_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sov.db");
        {
            let store = Store::open(&path).unwrap();
            store.conn().pragma_update(None, "user_version", 99).unwrap();
        }
        let err = Store::open(&path).unwrap_err();
        match err {
            Error::SchemaTooNew { path: p, found, known } => {
                assert_eq!((p, found, known), (path.clone(), 99, MIGRATIONS.len() as i64));
            }
            other => panic!("expected SchemaTooNew, got {other:?}"),
        }
        let conn = Connection::open(&path).unwrap();
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0)).unwrap();
        assert_eq!(version, 99);
    }

    #[test]
    fn sqlite_errors_carry_the_path() {
        let store = Store::open_in_memory().unwrap();
        let err = store.conn().execute("SELECT * FROM no_such_table", []).map_err(|e| store.db_error(e)).unwrap_err();
        assert!(matches!(&err, Error::Database { path, .. } if path == Path::new(":memory:")), "{err:?}");
    }

    #[test]
    fn audit_table_rejects_update_and_delete() {
        let store = Store::open_in_memory().unwrap();
        let conn = store.conn();
        conn.execute("INSERT INTO audit VALUES (1, 0, 'a', 'b', '{}', 'p', 'h')", []).unwrap();
        let update = conn.execute("UPDATE audit SET actor = 'x'", []);
        let delete = conn.execute("DELETE FROM audit", []);
        assert!(update.is_err(), "UPDATE must be refused");
        assert!(delete.is_err(), "DELETE must be refused");
    }
}
