//! Value-level provenance: what each session was served, remembered as salted hashes, and the
//! code reviewer that denies an action carrying it out.
//!
//! Session taint ([`crate::Label`]) says *that* a session read private data; this says *which*
//! words. Every time a service serves a session text from a private source (the user's mail and
//! Signal messages, notes, the wallet) or from an untrusted one (web pages and search results,
//! messages from strangers), the gate stores the salted hashes of its normalised pieces
//! ([`pieces`]): the distinctive tokens (numbers of four digits or more, words mixing letters and
//! digits, e-mail addresses, hosts, Ethereum addresses) and every run of four words. Not the
//! text: the hashes are keyed by a random salt of this database, so the table does not say what
//! was read to someone who has only it (a dictionary attack by someone who has the salt too
//! remains possible for short tokens; the messages themselves sit in the same database anyway).
//!
//! Before the AI reviewer, [`Gate::code_review`] looks at an outgoing action of the session:
//! - its content carries a distinctive token, or two runs of four words, served from a private
//!   source, to someone other than the person it came from (a reply quoting the sender's own
//!   words to them is not a leak);
//! - or a recipient (an address, a host) appeared first in untrusted content this session read.
//!
//! Either is a **deny** verdict by code, with the reason naming where the data came from ("your
//! mail from bank@example.com of 2026-12-03"), whatever a model would say. The human still
//! decides, and can approve over it by retyping the recipient.
//!
//! # What it cannot see
//! Paraphrase, translation, encodings (hex, base64) and data split into pieces shorter than its
//! tokens: those are for the taint rule (which still holds every internet action of a tainted
//! session for the human) and the model. Recipients that did not appear verbatim.

use std::collections::BTreeSet;

use rusqlite::{OptionalExtension, params};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::action::Kind;
use crate::durable::{Durability, db};
use crate::error::GateError;
use crate::queue::Gate;
use crate::record::ActionRecord;

/// Where served text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The user's own data: mail, Signal, notes, the wallet.
    Private,
    /// Text anyone could have written: web pages, search results, strangers' messages.
    Untrusted,
}

impl Origin {
    fn as_str(self) -> &'static str {
        match self {
            Origin::Private => "private",
            Origin::Untrusted => "untrusted",
        }
    }
}

/// A piece of text the gate remembers.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Piece {
    /// A distinctive token (a code, a number, an address).
    Token(String),
    /// Four words in a row.
    Phrase(String),
}

/// Runs of this many words are remembered.
const PHRASE_WORDS: usize = 4;
/// Private phrases an action must carry (with no distinctive token) to count as carrying private
/// text: one shared run of four words is common English.
const PHRASES_TO_DENY: usize = 2;
/// At most this many pieces are stored per serving (a 2 MB page is not hashed word by word).
const MAX_PIECES: usize = 20_000;

fn is_distinctive(token: &str) -> bool {
    let digits = token.bytes().filter(u8::is_ascii_digit).count();
    let letters = token.chars().filter(|c| c.is_alphabetic()).count();
    token.contains('@')
        || (token.starts_with("0x") && token.len() >= 10)
        || digits >= 4
        || (digits >= 2 && letters >= 2 && token.len() >= 6)
        || (token.contains('.') && token.len() >= 5 && letters >= 4 && !token.ends_with('.'))
}

/// The pieces of `text`: lowercased words (letters, digits and the characters of addresses),
/// the distinctive ones as tokens, and every run of [`PHRASE_WORDS`] words as a phrase.
pub fn pieces(text: &str) -> BTreeSet<Piece> {
    let lower = text.to_lowercase();
    let raw: Vec<&str> = lower
        .split(|c: char| !(c.is_alphanumeric() || matches!(c, '@' | '.' | '-' | '_' | '+')))
        .map(|w| w.trim_matches(|c: char| matches!(c, '.' | '-' | '_' | '+')))
        .filter(|w| !w.is_empty())
        .collect();
    let mut out = BTreeSet::new();
    for word in &raw {
        if is_distinctive(word) {
            out.insert(Piece::Token((*word).to_owned()));
        }
        // A URL's host, and an address's domain, are recipients too.
        if let Some((_, domain)) = word.split_once('@')
            && domain.contains('.')
        {
            out.insert(Piece::Token(domain.to_owned()));
        }
    }
    let words: Vec<&str> = raw.iter().copied().filter(|w| w.chars().any(char::is_alphanumeric)).collect();
    for run in words.windows(PHRASE_WORDS) {
        out.insert(Piece::Phrase(run.join(" ")));
    }
    out
}

/// The hosts and addresses an action goes to, as pieces.
fn recipient_pieces(record: &ActionRecord) -> BTreeSet<Piece> {
    let mut out = BTreeSet::new();
    for r in &record.request.recipients {
        out.extend(pieces(r).into_iter().filter(|p| matches!(p, Piece::Token(_))));
    }
    if let Some(url) = record.request.url()
        && let Some(host) = url.split("://").nth(1).and_then(|rest| rest.split(['/', '?', '#', ':']).next())
    {
        out.insert(Piece::Token(host.to_lowercase()));
    }
    out
}

/// Every string in `value`, each followed by a line feed (also the signals' view of an action).
pub(crate) fn all_text(value: &Value, out: &mut String) {
    match value {
        Value::String(s) => {
            out.push_str(s);
            out.push('\n');
        }
        Value::Array(items) => items.iter().for_each(|v| all_text(v, out)),
        Value::Object(map) => map.values().for_each(|v| all_text(v, out)),
        _ => {}
    }
}

impl Gate {
    fn salt(&self) -> Result<Vec<u8>, GateError> {
        let existing: Option<Vec<u8>> = self
            .db
            .read()
            .conn()
            .query_row("SELECT salt FROM gate_served_salt WHERE id = 1", [], |r| r.get(0))
            .optional()
            .map_err(db)?;
        if let Some(salt) = existing {
            return Ok(salt);
        }
        let fresh = sov_core::random_hex(32).map_err(|e| GateError::Refused(format!("no randomness: {e}")))?;
        self.db.write(Durability::Crash, |tx, _| {
            tx.execute("INSERT OR IGNORE INTO gate_served_salt (id, salt) VALUES (1, ?1)", [fresh.as_bytes()])
                .map_err(db)?;
            Ok(())
        })?;
        self.db.read().conn().query_row("SELECT salt FROM gate_served_salt WHERE id = 1", [], |r| r.get(0)).map_err(db)
    }

    fn hash(salt: &[u8], piece: &Piece) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(salt);
        match piece {
            Piece::Token(t) => {
                h.update(b"t:");
                h.update(t.as_bytes());
            }
            Piece::Phrase(p) => {
                h.update(b"p:");
                h.update(p.as_bytes());
            }
        }
        h.finalize()[..16].to_vec()
    }

    /// Remembers that `session` was served `text` from `origin`: `what` says from where, for the
    /// reason a denial gives ("your mail from bank@example.com of 2026-12-03"), `peer` is whom it
    /// came from (an address), if anyone. Only salted hashes of its pieces are stored.
    ///
    /// # Errors
    /// [`GateError`] when the database cannot be written.
    pub fn note_served(
        &self,
        session: &str,
        origin: Origin,
        what: &str,
        peer: Option<&str>,
        text: &str,
    ) -> Result<(), GateError> {
        let salt = self.salt()?;
        let hashes: Vec<Vec<u8>> = pieces(text).iter().take(MAX_PIECES).map(|p| Self::hash(&salt, p)).collect();
        if hashes.is_empty() {
            return Ok(());
        }
        let now = sov_core::now_ms();
        let peer = peer.map(str::to_lowercase);
        self.db.write(Durability::Crash, |tx, _| {
            let mut insert = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO gate_served (session, origin, hash, what, peer, ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .map_err(db)?;
            for hash in &hashes {
                insert.execute(params![session, origin.as_str(), hash, what, peer, now]).map_err(db)?;
            }
            Ok(())
        })
    }

    /// The code reviewer: a deny verdict's reason when `record` carries private data the session
    /// was served to someone else than it came from, or goes to a recipient first seen in
    /// untrusted content; `None` when neither (the AI reviewer decides alone).
    ///
    /// # Errors
    /// [`GateError`] when the database cannot be read.
    pub fn code_review(&self, record: &ActionRecord) -> Result<Option<String>, GateError> {
        let outgoing = matches!(
            record.request.kind,
            Kind::MessageSend
                | Kind::WebFetch
                | Kind::WebSearch
                | Kind::RemoteLlm
                | Kind::WalletTransfer
                | Kind::WalletCall
        );
        if !outgoing || record.request.to_self {
            return Ok(None);
        }
        let salt = self.salt()?;
        let mut content = String::new();
        all_text(&Value::Object(record.request.params.clone()), &mut content);
        let recipients: BTreeSet<String> = record.request.recipients.iter().map(|r| r.to_lowercase()).collect();
        let conn = self.db.read();
        let mut lookup = conn
            .conn()
            .prepare_cached(
                "SELECT what, peer FROM gate_served WHERE session = ?1 AND origin = ?2 AND hash = ?3 LIMIT 1",
            )
            .map_err(db)?;
        let mut find = |origin: Origin, piece: &Piece| -> Result<Option<(String, Option<String>)>, GateError> {
            lookup
                .query_row(params![record.session, origin.as_str(), Self::hash(&salt, piece)], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, Option<String>>(1)?))
                })
                .optional()
                .map_err(db)
        };
        let mut reasons = Vec::new();
        // Private data to someone it did not come from.
        let mut from = BTreeSet::new();
        let (mut tokens, mut phrases) = (Vec::new(), 0usize);
        for piece in pieces(&content) {
            if let Some((what, peer)) = find(Origin::Private, &piece)? {
                if peer.as_ref().is_some_and(|p| recipients.contains(p)) {
                    continue;
                }
                match &piece {
                    Piece::Token(t) => tokens.push(t.clone()),
                    Piece::Phrase(_) => phrases += 1,
                }
                from.insert(what);
            }
        }
        if !tokens.is_empty() || phrases >= PHRASES_TO_DENY {
            let shown: Vec<String> = tokens.iter().take(3).map(|t| format!("\"{t}\"")).collect();
            let carried = if shown.is_empty() {
                format!("{phrases} phrases")
            } else {
                format!("{} ({})", if tokens.len() == 1 { "a value" } else { "values" }, shown.join(", "))
            };
            reasons.push(format!(
                "it would send {carried} from {} that this session read",
                from.into_iter().take(3).collect::<Vec<_>>().join(", ")
            ));
        }
        // A recipient first seen in untrusted content.
        for piece in recipient_pieces(record) {
            if let Some((what, _)) = find(Origin::Untrusted, &piece)? {
                let Piece::Token(recipient) = &piece else { continue };
                reasons.push(format!("its recipient {recipient} appeared in {what}, which anyone could have written"));
            }
        }
        Ok((!reasons.is_empty()).then(|| reasons.join("; and ")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Vec<String> {
        pieces(text)
            .into_iter()
            .filter_map(|p| match p {
                Piece::Token(t) => Some(t),
                Piece::Phrase(_) => None,
            })
            .collect()
    }

    #[test]
    fn distinctive_tokens_are_codes_numbers_and_addresses_not_common_words() {
        assert_eq!(tokens("Your verification code is 483920."), vec!["483920"]);
        assert_eq!(
            tokens("Write to Attacker@Evil.test or visit https://evil.test/x"),
            vec!["attacker@evil.test", "evil.test"]
        );
        assert_eq!(
            tokens("wallet 0x70997970C51812dc3A010C7d01b50e0d17dc79C8"),
            vec!["0x70997970c51812dc3a010c7d01b50e0d17dc79c8"]
        );
        assert_eq!(tokens("the cat sat on the mat in 99 ways"), Vec::<String>::new());
        assert_eq!(tokens("password hunter2x9"), vec!["hunter2x9"]);
        let phrases = pieces("one two three four five").into_iter().filter(|p| matches!(p, Piece::Phrase(_))).count();
        assert_eq!(phrases, 2);
    }
}
