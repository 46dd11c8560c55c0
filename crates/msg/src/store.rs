//! Messages, mail folder progress, accounts and the outbox, in Sovereign's SQLite database.

use std::path::Path;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sov_core::store::Store;

use crate::{Backend, MsgError};

/// Default and largest number of messages one query answers.
pub const DEFAULT_LIMIT: u32 = 100;
/// The most one query may ask for.
pub const MAX_LIMIT: u32 = 1000;

/// A message as polled, before it is stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewMessage {
    /// Its backend.
    pub backend: Backend,
    /// The account it was polled from (email address or Signal number).
    pub account: String,
    /// Its id on the server, unique per account: `FOLDER/UIDVALIDITY/UID` for mail, the sender
    /// and timestamp for Signal.
    pub uid: String,
    /// Sender address or number.
    pub sender: String,
    /// Sender display name, as the sender claims it.
    pub sender_name: String,
    /// Recipients as written in the message.
    pub recipient: String,
    /// Subject (empty for Signal).
    pub subject: String,
    /// Text body.
    pub body: String,
    /// Thread: the first Message-ID of the References chain, or the Signal group or chat.
    pub thread_id: String,
    /// When it was sent, ms since the epoch.
    pub timestamp_ms: i64,
    /// Everything else: folder, Message-ID, attachments listed, not inlined.
    pub metadata: Value,
}

/// A stored message, as `/messages` answers it: the message's fields plus these two.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredMessage {
    /// Its row id.
    pub id: i64,
    /// When Sovereign stored it, ms since the epoch.
    pub received_at: i64,
    /// The message.
    #[serde(flatten)]
    pub message: NewMessage,
}

/// The filters of `/messages`, all optional; newest first.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageQuery {
    /// `signal` or `email`.
    pub backend: Option<Backend>,
    /// Exact account.
    pub account: Option<String>,
    /// Substring of the sender address or name.
    pub sender: Option<String>,
    /// Substring of the subject.
    pub subject: Option<String>,
    /// Exact thread.
    pub thread_id: Option<String>,
    /// Sent at or after, ms since the epoch.
    pub since: Option<i64>,
    /// Sent at or before, ms since the epoch.
    pub until: Option<i64>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
}

/// How far a mail folder has been read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FolderProgress {
    /// The folder's UIDVALIDITY when it was read.
    pub uidvalidity: u32,
    /// The highest UID stored.
    pub last_uid: u32,
}

/// A send's entry in the outbox.
#[derive(Debug, Clone, PartialEq)]
pub enum Outbox {
    /// Never started.
    New,
    /// Handed towards the server, and no confirmation recorded: it may or may not have left.
    Started,
    /// The server accepted it; the result as recorded.
    Sent(Value),
}

/// Messages and messaging state on their own connection to the database.
#[derive(Debug)]
pub struct MessageStore {
    store: Store,
}

impl MessageStore {
    /// Opens (and migrates) the database at `path`.
    pub fn open(path: &Path) -> Result<MessageStore, MsgError> {
        Ok(MessageStore { store: Store::open(path)? })
    }

    /// A store on an already open database.
    pub fn new(store: Store) -> MessageStore {
        MessageStore { store }
    }

    /// Stores `messages` and, in the same transaction, the folder's new progress, so a crash
    /// never leaves progress ahead of what was stored. A message already stored (same backend,
    /// account and uid) is skipped. Returns how many were new.
    pub fn insert(
        &mut self,
        messages: &[NewMessage],
        progress: Option<(&str, &str, FolderProgress)>,
    ) -> Result<usize, MsgError> {
        let now = sov_core::now_ms();
        let tx = self.store.conn_mut().transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut added = 0;
        {
            let mut insert = tx.prepare_cached(
                "INSERT OR IGNORE INTO msg_messages (backend, account, uid, sender, sender_name, recipient,
                     subject, body, thread_id, timestamp_ms, received_at, metadata)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            for m in messages {
                added += insert.execute(params![
                    m.backend.as_str(),
                    m.account,
                    m.uid,
                    m.sender,
                    m.sender_name,
                    m.recipient,
                    m.subject,
                    m.body,
                    m.thread_id,
                    m.timestamp_ms,
                    now,
                    m.metadata.to_string()
                ])?;
            }
            if let Some((account, folder, p)) = progress {
                tx.prepare_cached(
                    "INSERT INTO msg_folders (account, folder, uidvalidity, last_uid) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (account, folder) DO UPDATE SET uidvalidity = ?3, last_uid = ?4",
                )?
                .execute(params![account, folder, p.uidvalidity, p.last_uid])?;
            }
        }
        tx.commit()?;
        Ok(added)
    }

    /// The messages matching `q`, newest first. Only the filters given become SQL conditions,
    /// so SQLite can use the thread and time indexes for them.
    pub fn query(&self, q: &MessageQuery) -> Result<Vec<StoredMessage>, MsgError> {
        use rusqlite::types::Value as Sql;
        let limit = q.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
        let like = |s: &str| format!("%{}%", s.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        let mut conditions = Vec::new();
        let mut values = Vec::new();
        let mut add = |condition: &str, value: Sql| {
            values.push(value);
            conditions.push(condition.replace('?', &format!("?{}", values.len())));
        };
        // `+column` keeps SQLite from picking the sender index for these broad filters: walking
        // the time index newest first and stopping at the limit is far cheaper than sorting a
        // whole backend's messages.
        if let Some(b) = q.backend {
            add("+backend = ?", Sql::Text(b.as_str().into()));
        }
        if let Some(a) = &q.account {
            add("+account = ?", Sql::Text(a.clone()));
        }
        if let Some(sender) = &q.sender {
            add("(sender LIKE ? ESCAPE '\\' OR sender_name LIKE ? ESCAPE '\\')", Sql::Text(like(sender)));
        }
        if let Some(subject) = &q.subject {
            add("subject LIKE ? ESCAPE '\\'", Sql::Text(like(subject)));
        }
        if let Some(t) = &q.thread_id {
            add("thread_id = ?", Sql::Text(t.clone()));
        }
        if let Some(since) = q.since {
            add("timestamp_ms >= ?", Sql::Integer(since));
        }
        if let Some(until) = q.until {
            add("timestamp_ms <= ?", Sql::Integer(until));
        }
        let filter = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
        values.push(Sql::Integer(i64::from(limit)));
        let mut stmt = self.store.conn().prepare_cached(&format!(
            "SELECT id, backend, account, uid, sender, sender_name, recipient, subject, body, thread_id,
                    timestamp_ms, received_at, metadata
             FROM msg_messages {filter}
             ORDER BY timestamp_ms DESC, id DESC
             LIMIT ?{}",
            values.len()
        ))?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), |row| {
            let backend: String = row.get(1)?;
            let metadata: String = row.get(12)?;
            Ok(StoredMessage {
                id: row.get(0)?,
                received_at: row.get(11)?,
                message: NewMessage {
                    backend: Backend::parse(&backend).unwrap_or(Backend::Email),
                    account: row.get(2)?,
                    uid: row.get(3)?,
                    sender: row.get(4)?,
                    sender_name: row.get(5)?,
                    recipient: row.get(6)?,
                    subject: row.get(7)?,
                    body: row.get(8)?,
                    thread_id: row.get(9)?,
                    timestamp_ms: row.get(10)?,
                    metadata: serde_json::from_str(&metadata).unwrap_or(Value::Null),
                },
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// How many messages are stored.
    pub fn count(&self) -> Result<i64, MsgError> {
        Ok(self.store.conn().query_row("SELECT count(*) FROM msg_messages", [], |r| r.get(0))?)
    }

    /// How far `folder` of `account` was read.
    pub fn folder_progress(&self, account: &str, folder: &str) -> Result<Option<FolderProgress>, MsgError> {
        Ok(self
            .store
            .conn()
            .query_row(
                "SELECT uidvalidity, last_uid FROM msg_folders WHERE account = ?1 AND folder = ?2",
                params![account, folder],
                |r| Ok(FolderProgress { uidvalidity: r.get(0)?, last_uid: r.get(1)? }),
            )
            .optional()?)
    }

    /// The name `address` last signed a message with, for showing who a send goes to.
    pub fn display_name(&self, backend: Backend, address: &str) -> Result<Option<String>, MsgError> {
        Ok(self
            .store
            .conn()
            .query_row(
                "SELECT sender_name FROM msg_messages WHERE backend = ?1 AND sender = ?2 AND sender_name != ''
                 ORDER BY timestamp_ms DESC LIMIT 1",
                params![backend.as_str(), address],
                |r| r.get(0),
            )
            .optional()?)
    }

    /// Whether the user ever wrote to `address`: a stored message from one of the user's accounts
    /// names it among its recipients, or an executed `message.send` went to it. A sender the
    /// user never wrote to is a stranger: what their messages say is untrusted text.
    pub fn wrote_to(&self, address: &str) -> Result<bool, MsgError> {
        Ok(self.store.conn().query_row(
            "SELECT EXISTS (SELECT 1 FROM msg_messages WHERE sender = account AND instr(lower(recipient), lower(?1)) > 0)
                 OR EXISTS (SELECT 1 FROM gate_actions a, json_each(a.request, '$.recipients') r
                            WHERE a.kind = 'message.send' AND a.state = 'executed' AND lower(r.value) = lower(?1))",
            [address],
            |r| r.get(0),
        )?)
    }

    /// The chats messages came from, most recent first: `(chat, name, last message ms)`, with
    /// the chat named as the policy's `reply_without_confirm` list names it.
    pub fn chats(&self, limit: u32) -> Result<Vec<(String, String, i64)>, MsgError> {
        let mut stmt = self.store.conn().prepare(
            "SELECT CASE
                        WHEN backend = 'email' THEN 'email:' || sender
                        WHEN thread_id LIKE 'group:%' THEN 'signal-group:' || substr(thread_id, 7)
                        ELSE 'signal:' || thread_id
                    END AS chat,
                    max(sender_name), max(timestamp_ms) AS last
             FROM msg_messages WHERE sender != account OR backend = 'signal'
             GROUP BY chat ORDER BY last DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map([limit], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// The outbox entry of the send with idempotency key `key`.
    pub fn outbox(&self, key: &str) -> Result<Outbox, MsgError> {
        let row: Option<(Option<i64>, Option<String>)> = self
            .store
            .conn()
            .query_row("SELECT sent_ms, result FROM msg_outbox WHERE key = ?1", [key], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        Ok(match row {
            None => Outbox::New,
            Some((None, _)) => Outbox::Started,
            Some((Some(_), result)) => {
                Outbox::Sent(result.and_then(|r| serde_json::from_str(&r).ok()).unwrap_or(Value::Null))
            }
        })
    }

    /// Records, durably, that the send `key` is about to be handed to the server.
    pub fn outbox_start(&mut self, key: &str, action_id: &str) -> Result<(), MsgError> {
        self.store.conn().execute(
            "INSERT INTO msg_outbox (key, action_id, started_ms) VALUES (?1, ?2, ?3)",
            params![key, action_id, sov_core::now_ms()],
        )?;
        Ok(())
    }

    /// Records that the server accepted the send `key`.
    pub fn outbox_sent(&mut self, key: &str, result: &Value) -> Result<(), MsgError> {
        self.store.conn().execute(
            "UPDATE msg_outbox SET sent_ms = ?2, result = ?3 WHERE key = ?1",
            params![key, sov_core::now_ms(), result.to_string()],
        )?;
        Ok(())
    }

    /// Forgets a send the server certainly refused, so it is not taken for one that may have left.
    pub fn outbox_refused(&mut self, key: &str) -> Result<(), MsgError> {
        self.store.conn().execute("DELETE FROM msg_outbox WHERE key = ?1 AND sent_ms IS NULL", [key])?;
        Ok(())
    }

    /// The underlying store, for account records.
    pub(crate) fn store(&self) -> &Store {
        &self.store
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use serde_json::json;

    fn message(uid: &str, sender: &str, subject: &str, ts: i64) -> NewMessage {
        NewMessage {
            backend: Backend::Email,
            account: "alice@example.org".into(),
            uid: uid.into(),
            sender: sender.into(),
            sender_name: "Bob".into(),
            recipient: "alice@example.org".into(),
            subject: subject.into(),
            body: "hello".into(),
            thread_id: format!("<{uid}@x>"),
            timestamp_ms: ts,
            metadata: json!({"folder": "INBOX"}),
        }
    }

    #[test]
    fn a_repoll_never_duplicates_and_progress_moves_with_the_messages() {
        let mut store = MessageStore::new(Store::open_in_memory().unwrap());
        let batch = vec![
            message("INBOX/1/1", "bob@example.org", "one", 10),
            message("INBOX/1/2", "carol@example.org", "two", 20),
        ];
        let progress = FolderProgress { uidvalidity: 1, last_uid: 2 };
        assert_eq!(store.insert(&batch, Some(("alice@example.org", "INBOX", progress))).unwrap(), 2);
        assert_eq!(store.insert(&batch, Some(("alice@example.org", "INBOX", progress))).unwrap(), 0);
        assert_eq!(store.count().unwrap(), 2);
        assert_eq!(store.folder_progress("alice@example.org", "INBOX").unwrap(), Some(progress));
        assert_eq!(store.folder_progress("alice@example.org", "Sent").unwrap(), None);
    }

    #[test]
    fn queries_filter_and_answer_newest_first() {
        let mut store = MessageStore::new(Store::open_in_memory().unwrap());
        let batch: Vec<_> = (0..10)
            .map(|i| {
                message(
                    &format!("INBOX/1/{i}"),
                    if i % 2 == 0 { "bob@example.org" } else { "carol@example.org" },
                    &format!("subject {i}%"),
                    i * 100,
                )
            })
            .collect();
        store.insert(&batch, None).unwrap();
        let all = store.query(&MessageQuery::default()).unwrap();
        assert_eq!(
            all.iter().map(|m| m.message.timestamp_ms).collect::<Vec<_>>(),
            (0..10).rev().map(|i| i * 100).collect::<Vec<_>>()
        );
        let q = MessageQuery { sender: Some("CAROL".into()), since: Some(300), until: Some(700), ..Default::default() };
        assert_eq!(
            store.query(&q).unwrap().iter().map(|m| m.message.timestamp_ms).collect::<Vec<_>>(),
            vec![700, 500, 300]
        );
        let q = MessageQuery { subject: Some("t 3%".into()), ..Default::default() };
        assert_eq!(store.query(&q).unwrap().len(), 1);
        // LIKE wildcards in a filter are literal.
        let q = MessageQuery { subject: Some("_".into()), ..Default::default() };
        assert_eq!(store.query(&q).unwrap().len(), 0);
        let q = MessageQuery { thread_id: Some("<INBOX/1/4@x>".into()), limit: Some(5), ..Default::default() };
        assert_eq!(store.query(&q).unwrap()[0].message.uid, "INBOX/1/4");
        assert_eq!(store.query(&MessageQuery { limit: Some(3), ..Default::default() }).unwrap().len(), 3);
        assert_eq!(store.display_name(Backend::Email, "bob@example.org").unwrap().as_deref(), Some("Bob"));
    }

    #[test]
    fn the_outbox_tells_new_started_and_sent_apart() {
        let mut store = MessageStore::new(Store::open_in_memory().unwrap());
        assert_eq!(store.outbox("k").unwrap(), Outbox::New);
        store.outbox_start("k", "a1").unwrap();
        assert_eq!(store.outbox("k").unwrap(), Outbox::Started);
        assert!(store.outbox_start("k", "a1").is_err(), "a second start of one send must fail");
        store.outbox_sent("k", &json!({"message_id": "<k@x>"})).unwrap();
        assert_eq!(store.outbox("k").unwrap(), Outbox::Sent(json!({"message_id": "<k@x>"})));
        store.outbox_refused("k").unwrap();
        assert!(matches!(store.outbox("k").unwrap(), Outbox::Sent(_)));
    }
}
