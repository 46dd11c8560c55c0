//! One-time login links: the only way into the console.
//!
//! `sov console` mints a [`LoginToken`] with [`mint`] and prints it in the fragment of a link
//! (`http://127.0.0.1:7000/login#TOKEN`, which the browser never sends over the network); the
//! console's login page posts it back on a click, and [`redeem`] turns it into a login.
//!
//! Guarantees:
//! - A token is 32 random bytes from the kernel, as hex. The database keeps only its SHA-256
//!   (`console_login_links`), so whoever reads the database file learns nothing that logs in.
//! - A token logs in at most once: [`redeem`] checks it and marks it used in one IMMEDIATE
//!   transaction, so two browsers (or two daemons on one database) racing for one link cannot
//!   both win, and the mark is on disk, so a restart does not make a used link new again.
//! - A token logs in only within [`LINK_LIFETIME`] of being minted.
//! - Every link minted, every login and every refused replay of a real link is in the audit log.
//!   Unknown tokens are not (anyone on loopback could fill the log with them); they are logged.

use std::path::PathBuf;
use std::time::Duration;

use rusqlite::{OptionalExtension, Transaction, TransactionBehavior};
use serde_json::json;
use sha2::{Digest, Sha256};
use sov_core::audit::AuditLog;
use sov_core::store::Store;

/// How long a login link works after `sov console` printed it.
pub const LINK_LIFETIME: Duration = Duration::from_secs(10 * 60);
const LINK_LIFETIME_MS: i64 = 10 * 60 * 1000;
/// How far a link's mint time may lie in the future of the console's clock (two processes on one
/// machine, read at slightly different moments).
const CLOCK_SLACK_MS: i64 = 60 * 1000;
/// Rows older than this are deleted when a new link is minted; a deleted link is unknown, so it
/// logs in no more than a used one.
const KEEP_MS: i64 = 24 * 3600 * 1000;

/// A login link's secret. Its `Debug` shows nothing.
#[derive(Clone, PartialEq, Eq)]
pub struct LoginToken(String);

impl LoginToken {
    /// The token's text, for the link.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for LoginToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LoginToken([redacted])")
    }
}

/// What redeeming a token did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Redeemed {
    /// The token was good and is now used: create the login.
    LoggedIn,
    /// The token logged a browser in before.
    AlreadyUsed,
    /// The token is older than [`LINK_LIFETIME`].
    Expired,
    /// No link has this token (never minted, or long deleted).
    Unknown,
}

impl Redeemed {
    /// Why a login was refused, for the person reading the login page.
    pub fn explain(self) -> &'static str {
        match self {
            Redeemed::LoggedIn => "logged in",
            Redeemed::AlreadyUsed => {
                "This login link was used already: each link logs in one browser, once. If that was not you, \
                 someone else has the link."
            }
            Redeemed::Expired => "This login link is older than 10 minutes.",
            Redeemed::Unknown => "This is not a login link `sov console` printed.",
        }
    }
}

/// SHA-256 of `token`, as stored.
fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Mints a login link's token at `now_ms` on `store`, and records that in its audit log
/// (`audit_head` as for [`AuditLog::new`]).
pub fn mint(store: &Store, audit_head: Option<PathBuf>, now_ms: i64) -> Result<LoginToken, sov_core::Error> {
    let token = LoginToken(sov_core::random_hex(32)?);
    let db = |e| database(store, e);
    let audit = AuditLog::new(store, audit_head);
    let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate).map_err(db)?;
    tx.execute("DELETE FROM console_login_links WHERE created_ms < ?1", [now_ms.saturating_sub(KEEP_MS)])
        .map_err(db)?;
    tx.execute(
        "INSERT INTO console_login_links (token_hash, created_ms, used_ms) VALUES (?1, ?2, NULL)",
        (token_hash(token.expose()), now_ms),
    )
    .map_err(db)?;
    let entry = audit.record(
        &tx,
        "terminal",
        "console.link",
        &json!({"valid_until_ms": now_ms.saturating_add(LINK_LIFETIME_MS)}),
    )?;
    tx.commit().map_err(db)?;
    audit.anchor(&entry)?;
    Ok(token)
}

/// Redeems `token` at `now_ms` for a browser that says it is `user_agent`: [`Redeemed::LoggedIn`]
/// exactly once per minted token, within [`LINK_LIFETIME`].
pub fn redeem(
    store: &Store,
    audit_head: Option<PathBuf>,
    token: &str,
    now_ms: i64,
    user_agent: &str,
) -> Result<Redeemed, sov_core::Error> {
    let db = |e| database(store, e);
    let audit = AuditLog::new(store, audit_head);
    let tx = Transaction::new_unchecked(store.conn(), TransactionBehavior::Immediate).map_err(db)?;
    let hash = token_hash(token.trim());
    let row: Option<(i64, Option<i64>)> = tx
        .query_row("SELECT created_ms, used_ms FROM console_login_links WHERE token_hash = ?1", [&hash], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()
        .map_err(db)?;
    let outcome = match row {
        None => Redeemed::Unknown,
        Some((_, Some(_))) => Redeemed::AlreadyUsed,
        Some((created, None)) if !link_is_fresh(created, now_ms) => Redeemed::Expired,
        Some(_) => Redeemed::LoggedIn,
    };
    let user_agent: String = user_agent.chars().take(300).collect();
    let entry = match outcome {
        Redeemed::Unknown => None,
        Redeemed::LoggedIn => {
            tx.execute("UPDATE console_login_links SET used_ms = ?1 WHERE token_hash = ?2", (now_ms, &hash))
                .map_err(db)?;
            Some(audit.record(&tx, "console", "console.login", &json!({"user_agent": user_agent}))?)
        }
        Redeemed::AlreadyUsed | Redeemed::Expired => Some(audit.record(
            &tx,
            "console",
            "console.login_refused",
            &json!({"why": if outcome == Redeemed::Expired { "expired" } else { "used" }, "user_agent": user_agent}),
        )?),
    };
    tx.commit().map_err(db)?;
    if let Some(entry) = entry {
        audit.anchor(&entry)?;
    }
    Ok(outcome)
}

/// A link minted at `created_ms` still logs in at `now_ms`.
fn link_is_fresh(created_ms: i64, now_ms: i64) -> bool {
    (created_ms.saturating_sub(CLOCK_SLACK_MS)..=created_ms.saturating_add(LINK_LIFETIME_MS)).contains(&now_ms)
}

fn database(store: &Store, source: rusqlite::Error) -> sov_core::Error {
    sov_core::Error::Database { path: store.path().to_owned(), source }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    const T0: i64 = 1_800_000_000_000;

    #[test]
    fn a_link_logs_in_once() {
        let store = Store::open_in_memory().unwrap();
        let token = mint(&store, None, T0).unwrap();
        assert_eq!(token.expose().len(), 64);
        assert_eq!(redeem(&store, None, token.expose(), T0 + 1000, "ua").unwrap(), Redeemed::LoggedIn);
        assert_eq!(redeem(&store, None, token.expose(), T0 + 2000, "ua").unwrap(), Redeemed::AlreadyUsed);
        let audit = AuditLog::new(&store, None);
        let actions: Vec<String> = audit.entries(0, 10).unwrap().into_iter().map(|e| e.action).collect();
        assert_eq!(actions, ["console.link", "console.login", "console.login_refused"]);
    }

    #[test]
    fn only_the_token_logs_in_not_its_hash_nor_a_stale_one() {
        let store = Store::open_in_memory().unwrap();
        let token = mint(&store, None, T0).unwrap();
        let stored: String =
            store.conn().query_row("SELECT token_hash FROM console_login_links", [], |r| r.get(0)).unwrap();
        assert_ne!(stored, token.expose(), "the database holds no usable token");
        assert_eq!(redeem(&store, None, &stored, T0, "ua").unwrap(), Redeemed::Unknown);
        assert_eq!(redeem(&store, None, "", T0, "ua").unwrap(), Redeemed::Unknown);
        assert_eq!(redeem(&store, None, token.expose(), T0 + LINK_LIFETIME_MS + 1, "ua").unwrap(), Redeemed::Expired);
        let fresh = mint(&store, None, T0).unwrap();
        assert_eq!(redeem(&store, None, fresh.expose(), T0 - 2 * CLOCK_SLACK_MS, "ua").unwrap(), Redeemed::Expired);
        assert_eq!(redeem(&store, None, fresh.expose(), T0 + LINK_LIFETIME_MS, "ua").unwrap(), Redeemed::LoggedIn);
        assert_eq!(format!("{fresh:?}"), "LoginToken([redacted])");
    }

    #[test]
    fn old_links_are_deleted_and_stay_refused() {
        let store = Store::open_in_memory().unwrap();
        let old = mint(&store, None, T0).unwrap();
        mint(&store, None, T0 + KEEP_MS + 1).unwrap();
        let rows: i64 = store.conn().query_row("SELECT count(*) FROM console_login_links", [], |r| r.get(0)).unwrap();
        assert_eq!(rows, 1);
        assert_eq!(redeem(&store, None, old.expose(), T0 + 1, "ua").unwrap(), Redeemed::Unknown);
    }
}
