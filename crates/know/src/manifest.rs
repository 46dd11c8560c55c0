//! The manifest: the sources, and per file what the index holds of it (size, mtime, content
//! hash, passages, or why it was skipped), in SQLite (WAL) at `<know dir>/manifest.db`.
//!
//! Ordering that makes a crash harmless: a file's row is written only after the index commit
//! that holds its passages. A file whose row is missing or old is read again and its passages
//! replaced (deleted by its key first), so nothing is lost or doubled.

use std::collections::HashMap;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Error, Result};

/// Schema migrations, oldest first; entry `i` takes `PRAGMA user_version` from `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["
    CREATE TABLE sources (
        name TEXT PRIMARY KEY,
        path BLOB NOT NULL UNIQUE,
        private INTEGER NOT NULL,
        added_ms INTEGER NOT NULL
    );
    CREATE TABLE files (
        source TEXT NOT NULL REFERENCES sources(name) ON DELETE CASCADE,
        path BLOB NOT NULL,
        size INTEGER NOT NULL,
        mtime_ns INTEGER NOT NULL,
        hash TEXT NOT NULL,
        passages INTEGER NOT NULL,
        skipped TEXT,
        PRIMARY KEY (source, path)
    ) WITHOUT ROWID;
"];

/// A folder (or file) whose documents are indexed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Source {
    /// Its name, unique: what `--source` and `sov know rm` take.
    pub name: String,
    /// The absolute path added.
    pub path: PathBuf,
    /// Whether its content is private (notes): results from it will taint a session.
    pub private: bool,
}

/// What the manifest knows of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileRow {
    pub(crate) size: u64,
    pub(crate) mtime_ns: i64,
    pub(crate) hash: String,
    pub(crate) passages: u64,
    pub(crate) skipped: Option<String>,
}

/// A source's counts, for `sov know list`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Counts {
    /// Files indexed.
    pub files: u64,
    /// Passages in the index.
    pub passages: u64,
    /// Bytes of the files indexed.
    pub bytes: u64,
    /// Files skipped.
    pub skipped: u64,
}

pub(crate) struct Manifest {
    conn: Connection,
    path: PathBuf,
}

fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

fn path_of(bytes: Vec<u8>) -> PathBuf {
    PathBuf::from(std::ffi::OsString::from_vec(bytes))
}

impl Manifest {
    pub(crate) fn open(path: &Path) -> Result<Manifest> {
        let db = |e| Error::Manifest { path: path.to_owned(), source: e };
        let conn = Connection::open(path).map_err(db)?;
        conn.busy_timeout(std::time::Duration::from_secs(10)).map_err(db)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(db)?;
        conn.pragma_update(None, "synchronous", "FULL").map_err(db)?;
        conn.pragma_update(None, "foreign_keys", true).map_err(db)?;
        let mut manifest = Manifest { conn, path: path.to_owned() };
        manifest.migrate()?;
        Ok(manifest)
    }

    fn err(&self, e: rusqlite::Error) -> Error {
        Error::Manifest { path: self.path.clone(), source: e }
    }

    fn migrate(&mut self) -> Result<()> {
        let path = self.path.clone();
        let db = |e| Error::Manifest { path: path.clone(), source: e };
        for (version, sql) in MIGRATIONS.iter().enumerate() {
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
            let found: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db)?;
            if found > version as i64 {
                continue;
            }
            tx.execute_batch(sql).map_err(db)?;
            tx.pragma_update(None, "user_version", found + 1).map_err(db)?;
            tx.commit().map_err(db)?;
        }
        let found: i64 = self.conn.pragma_query_value(None, "user_version", |row| row.get(0)).map_err(db)?;
        if found > MIGRATIONS.len() as i64 {
            return Err(Error::NewerManifest { path: self.path.clone(), version: found });
        }
        Ok(())
    }

    pub(crate) fn sources(&self) -> Result<Vec<Source>> {
        let mut stmt =
            self.conn.prepare("SELECT name, path, private FROM sources ORDER BY name").map_err(|e| self.err(e))?;
        stmt.query_map([], |row| Ok(Source { name: row.get(0)?, path: path_of(row.get(1)?), private: row.get(2)? }))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    pub(crate) fn add_source(&self, source: &Source, now_ms: i64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO sources (name, path, private, added_ms) VALUES (?1, ?2, ?3, ?4)",
                params![source.name, bytes(&source.path), source.private, now_ms],
            )
            .map_err(|e| self.err(e))?;
        Ok(())
    }

    /// Removes the source and its files' rows; whether it was there.
    pub(crate) fn remove_source(&self, name: &str) -> Result<bool> {
        let n = self.conn.execute("DELETE FROM sources WHERE name = ?1", [name]).map_err(|e| self.err(e))?;
        Ok(n > 0)
    }

    pub(crate) fn files(&self, source: &str) -> Result<HashMap<PathBuf, FileRow>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, size, mtime_ns, hash, passages, skipped FROM files WHERE source = ?1")
            .map_err(|e| self.err(e))?;
        stmt.query_map([source], |row| {
            Ok((
                path_of(row.get(0)?),
                FileRow {
                    size: row.get::<_, i64>(1)? as u64,
                    mtime_ns: row.get(2)?,
                    hash: row.get(3)?,
                    passages: row.get::<_, i64>(4)? as u64,
                    skipped: row.get(5)?,
                },
            ))
        })
        .and_then(Iterator::collect)
        .map_err(|e| self.err(e))
    }

    /// Writes `rows` (`None`: the file is gone) in one transaction.
    pub(crate) fn apply(&mut self, rows: &[(String, PathBuf, Option<FileRow>)]) -> Result<()> {
        let path = self.path.clone();
        let db = |e| Error::Manifest { path: path.clone(), source: e };
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(db)?;
        {
            let mut put = tx
                .prepare_cached(
                    "INSERT OR REPLACE INTO files (source, path, size, mtime_ns, hash, passages, skipped)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(db)?;
            let mut drop = tx.prepare_cached("DELETE FROM files WHERE source = ?1 AND path = ?2").map_err(db)?;
            for (source, file, row) in rows {
                match row {
                    Some(r) => put
                        .execute(params![
                            source,
                            bytes(file),
                            r.size as i64,
                            r.mtime_ns,
                            r.hash,
                            r.passages as i64,
                            r.skipped
                        ])
                        .map_err(db)?,
                    None => drop.execute(params![source, bytes(file)]).map_err(db)?,
                };
            }
        }
        tx.commit().map_err(db)
    }

    pub(crate) fn counts(&self, source: &str) -> Result<Counts> {
        self.conn
            .query_row(
                "SELECT count(*) FILTER (WHERE skipped IS NULL), coalesce(sum(passages), 0),
                        coalesce(sum(size) FILTER (WHERE skipped IS NULL), 0), count(*) FILTER (WHERE skipped IS NOT NULL)
                 FROM files WHERE source = ?1",
                [source],
                |row| {
                    Ok(Counts {
                        files: row.get::<_, i64>(0)? as u64,
                        passages: row.get::<_, i64>(1)? as u64,
                        bytes: row.get::<_, i64>(2)? as u64,
                        skipped: row.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .map_err(|e| self.err(e))
    }

    /// The skipped files of `source` and why, by path.
    pub(crate) fn skipped(&self, source: &str) -> Result<Vec<(PathBuf, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, skipped FROM files WHERE source = ?1 AND skipped IS NOT NULL ORDER BY path")
            .map_err(|e| self.err(e))?;
        stmt.query_map([source], |row| Ok((path_of(row.get(0)?), row.get(1)?)))
            .and_then(Iterator::collect)
            .map_err(|e| self.err(e))
    }

    pub(crate) fn source(&self, name: &str) -> Result<Option<Source>> {
        self.conn
            .query_row("SELECT name, path, private FROM sources WHERE name = ?1", [name], |row| {
                Ok(Source { name: row.get(0)?, path: path_of(row.get(1)?), private: row.get(2)? })
            })
            .optional()
            .map_err(|e| self.err(e))
    }
}
