//! The one error type of the core crate.

use std::path::PathBuf;

/// Everything that can go wrong in the core crate. Variants keep bad input (a config file the
/// user wrote), a damaged store and plain I/O faults apart, so callers can tell the user what to do.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The config file exists but is not valid TOML or has an unknown or mistyped key.
    #[error(
        "config file {path} is invalid: {message}\n  fix the file, or run `sov config init --force` to write a fresh default"
    )]
    ConfigInvalid {
        /// The file that was read.
        path: PathBuf,
        /// What the TOML parser said, with line and column.
        message: String,
    },
    /// A value in the config parsed but makes no sense (a port of 0, a relative path, …).
    #[error("config value `{key}` is invalid: {message}")]
    ConfigValue {
        /// The dotted key, e.g. `sandbox.ports`.
        key: String,
        /// What is wrong and what would be right.
        message: String,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What we were doing, e.g. "reading config file".
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying OS error.
        #[source]
        source: std::io::Error,
    },
    /// A path that must come from the environment (HOME) is missing.
    #[error("environment variable {0} is not set; Sovereign needs it to find its directories")]
    MissingEnv(&'static str),
    /// SQLite reported an error.
    #[error("database {path}: {source}")]
    Database {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        #[source]
        source: rusqlite::Error,
    },
    /// The database was written by a newer Sovereign than this one.
    #[error("database {path} has schema version {found}, newer than this build knows ({known}); upgrade sov")]
    SchemaTooNew {
        /// The database file.
        path: PathBuf,
        /// Version found in the file.
        found: i64,
        /// Highest version this build can migrate to.
        known: i64,
    },
    /// SQLite would not put the database in write-ahead-log mode (some network filesystems cannot);
    /// Sovereign refuses to run without it rather than lose durability or concurrency silently.
    #[error(
        "database {path} cannot use write-ahead logging (journal mode stays `{found}`); keep the data directory on a local filesystem"
    )]
    JournalMode {
        /// The database file.
        path: PathBuf,
        /// The journal mode SQLite reported instead of `wal`.
        found: String,
    },
    /// The audit head file exists but does not hold `<seq> <hash>`; someone or something wrote it
    /// other than the audit log.
    #[error(
        "audit head file {path} is malformed: {message}\n  the audit log cannot be verified against it; inspect the file (it should read `<seq> <sha256 hex>`)"
    )]
    AuditHeadMalformed {
        /// The head file.
        path: PathBuf,
        /// What is wrong with its contents.
        message: String,
    },
    /// The audit table no longer matches its head file (entries were removed or rewritten), so
    /// appending is refused: a new entry would overwrite the head and erase the evidence.
    #[error(
        "audit log refuses to append (entry {seq}): {problem}\n  run `sov audit verify` and investigate before recording anything new"
    )]
    AuditTampered {
        /// The entry where the disagreement shows.
        seq: i64,
        /// What disagrees between the table and the head file.
        problem: crate::audit::AuditProblem,
    },
    /// The audit log's chain is broken, or a head recorded earlier is no longer part of it, so a
    /// daemon refuses to start on it (see `audit.rs`, "At every start").
    #[error(
        "the audit log is broken at entry {seq}: {problem}\n  Sovereign does not start on a tampered audit log. Look at the entry with `sov audit show --after {before} --limit 1` and run `sov audit verify`; restore the data directory from a backup if you have one, or start with --accept-broken-audit to run on it anyway (the acceptance is itself recorded in the log)",
        before = .seq.saturating_sub(1)
    )]
    AuditBroken {
        /// The first bad entry.
        seq: i64,
        /// What is wrong there.
        problem: crate::audit::AuditProblem,
    },
    /// A line of the audit anchor file (`audit.anchor_file`) is not `<ISO time> <count> <hash>`.
    #[error(
        "audit anchor file {path}, line {line}: {message}\n  each line must read `<ISO time> <entry count> <sha256 hex>`, as Sovereign appends them; fix or remove that line"
    )]
    AuditAnchorMalformed {
        /// The anchor file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// What is wrong with it.
        message: String,
    },
}

/// Result with the core [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
