//! The chat page's conversations, stored in the local SQLite database (tables
//! `chat_conversations` and `chat_messages`, migration 10 of [`sov_core::store`]).
//!
//! Guarantees:
//! - Every change is one transaction: a message and its conversation's `updated_ms` change
//!   together, and deleting a conversation deletes its messages (the foreign key cascades).
//! - Messages keep their order (`seq` counts up from 0 within a conversation).
//! - Nothing here leaves the machine. The exports ([`to_markdown`], [`to_json`]) are files the
//!   person downloads, nothing more.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use sov_core::store::Store;

/// What a conversation is called until its first message names it.
pub const UNTITLED: &str = "New conversation";
/// A title is cut to this many characters.
pub const TITLE_MAX: usize = 120;

/// A conversation's settings and when it changed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conversation {
    /// Random hex.
    pub id: String,
    /// What the list shows.
    pub title: String,
    /// The local model it asks (a name `sov models list` shows).
    pub model: String,
    /// Sent first, as the `system` message, when not empty.
    pub system_prompt: String,
    /// Sampling temperature (0 = greedy).
    pub temperature: f64,
    /// At most this many tokens per answer; 0 means until the model ends its turn (or the
    /// context is full).
    pub max_tokens: u32,
    /// ms since the epoch.
    pub created_ms: i64,
    /// ms since the epoch; the list is newest first by this.
    pub updated_ms: i64,
}

/// Who wrote a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The person at the console.
    User,
    /// The model.
    Assistant,
}

impl Role {
    /// As stored and as the chat template calls it.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Assistant => "assistant",
        }
    }
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Finish {
    /// The model ended its turn.
    Stop,
    /// The answer reached `max_tokens` or the context's end.
    Length,
    /// The person pressed Stop (or closed the page) while it streamed.
    Stopped,
    /// The engine failed; the text is what came before.
    Failed,
}

impl Finish {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            Finish::Stop => "stop",
            Finish::Length => "length",
            Finish::Stopped => "stopped",
            Finish::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Option<Finish> {
        match s {
            "stop" => Some(Finish::Stop),
            "length" => Some(Finish::Length),
            "stopped" => Some(Finish::Stopped),
            "failed" => Some(Finish::Failed),
            _ => None,
        }
    }
}

/// Token counts and timings of an answer, from the engine.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Tokens in the prompt the answer continued.
    pub prompt_tokens: u32,
    /// Tokens of the answer.
    pub completion_tokens: u32,
    /// ms evaluating the prompt.
    pub prompt_ms: f64,
    /// ms generating the answer.
    pub generation_ms: f64,
}

impl Stats {
    /// As llama.cpp's web UI shows it: `Prompt: 24 tokens, 280.1 t/s · Answer: 57 tokens, 56.8 t/s`.
    pub fn shown(&self) -> String {
        let rate = |tokens: u32, ms: f64| {
            if ms > 0.0 { format!("{:.1} t/s", f64::from(tokens) * 1000.0 / ms) } else { "– t/s".to_owned() }
        };
        format!(
            "Prompt: {} tokens, {} · Answer: {} tokens, {}",
            self.prompt_tokens,
            rate(self.prompt_tokens, self.prompt_ms),
            self.completion_tokens,
            rate(self.completion_tokens, self.generation_ms)
        )
    }
}

/// One message.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Message {
    /// Its place in the conversation, from 0.
    pub seq: i64,
    /// Who wrote it.
    pub role: Role,
    /// Its text (Markdown, as written).
    pub content: String,
    /// The model that wrote an answer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// How an answer ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finish: Option<Finish>,
    /// An answer's numbers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stats: Option<Stats>,
    /// ms since the epoch.
    pub created_ms: i64,
}

/// The settings a person can change ([`update`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The title (trimmed, cut to [`TITLE_MAX`]; empty keeps the old one).
    pub title: String,
    /// The model.
    pub model: String,
    /// The system prompt.
    pub system_prompt: String,
    /// 0 to 2.
    pub temperature: f64,
    /// 0 = no limit.
    pub max_tokens: u32,
}

fn db(store: &Store) -> impl Fn(rusqlite::Error) -> sov_core::Error + '_ {
    move |source| sov_core::Error::Database { path: store.path().to_owned(), source }
}

/// A title from the first words of `text`: one line, at most [`TITLE_MAX`] characters.
pub fn title_from(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut title: String = line.chars().take(TITLE_MAX).collect();
    if line.chars().count() > TITLE_MAX {
        title.push('…');
    }
    if title.is_empty() { UNTITLED.to_owned() } else { title }
}

/// Creates an empty conversation asking `model`.
pub fn create(store: &Store, model: &str, temperature: f64, now_ms: i64) -> Result<Conversation, sov_core::Error> {
    let conversation = Conversation {
        id: sov_core::random_hex(16)?,
        title: UNTITLED.to_owned(),
        model: model.to_owned(),
        system_prompt: String::new(),
        temperature,
        max_tokens: 0,
        created_ms: now_ms,
        updated_ms: now_ms,
    };
    store
        .conn()
        .execute(
            "INSERT INTO chat_conversations (id, title, model, system_prompt, temperature, max_tokens, created_ms, updated_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            params![
                conversation.id,
                conversation.title,
                conversation.model,
                conversation.system_prompt,
                conversation.temperature,
                conversation.max_tokens,
                now_ms
            ],
        )
        .map_err(db(store))?;
    Ok(conversation)
}

fn conversation_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Conversation> {
    Ok(Conversation {
        id: r.get(0)?,
        title: r.get(1)?,
        model: r.get(2)?,
        system_prompt: r.get(3)?,
        temperature: r.get(4)?,
        max_tokens: r.get(5)?,
        created_ms: r.get(6)?,
        updated_ms: r.get(7)?,
    })
}

const COLUMNS: &str = "id, title, model, system_prompt, temperature, max_tokens, created_ms, updated_ms";

/// Every conversation, the most recently changed first.
pub fn list(store: &Store) -> Result<Vec<Conversation>, sov_core::Error> {
    let mut stmt = store
        .conn()
        .prepare(&format!("SELECT {COLUMNS} FROM chat_conversations ORDER BY updated_ms DESC, id"))
        .map_err(db(store))?;
    let rows = stmt.query_map([], conversation_row).map_err(db(store))?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db(store))
}

/// The conversation `id`, if there is one.
pub fn get(store: &Store, id: &str) -> Result<Option<Conversation>, sov_core::Error> {
    store
        .conn()
        .query_row(&format!("SELECT {COLUMNS} FROM chat_conversations WHERE id = ?1"), [id], conversation_row)
        .optional()
        .map_err(db(store))
}

/// The messages of `id`, in order.
pub fn messages(store: &Store, id: &str) -> Result<Vec<Message>, sov_core::Error> {
    let mut stmt = store
        .conn()
        .prepare(
            "SELECT seq, role, content, model, finish, prompt_tokens, completion_tokens, prompt_ms, generation_ms, created_ms
             FROM chat_messages WHERE conversation = ?1 ORDER BY seq",
        )
        .map_err(db(store))?;
    let rows = stmt
        .query_map([id], |r| {
            let role: String = r.get(1)?;
            let finish: Option<String> = r.get(4)?;
            let prompt_tokens: Option<u32> = r.get(5)?;
            Ok(Message {
                seq: r.get(0)?,
                role: if role == "user" { Role::User } else { Role::Assistant },
                content: r.get(2)?,
                model: r.get(3)?,
                finish: finish.as_deref().and_then(Finish::parse),
                stats: match prompt_tokens {
                    Some(prompt_tokens) => Some(Stats {
                        prompt_tokens,
                        completion_tokens: r.get::<_, Option<u32>>(6)?.unwrap_or(0),
                        prompt_ms: r.get::<_, Option<f64>>(7)?.unwrap_or(0.0),
                        generation_ms: r.get::<_, Option<f64>>(8)?.unwrap_or(0.0),
                    }),
                    None => None,
                },
                created_ms: r.get(9)?,
            })
        })
        .map_err(db(store))?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db(store))
}

/// Changes a conversation's settings; `false` if there is no such conversation.
pub fn update(store: &Store, id: &str, settings: &Settings, now_ms: i64) -> Result<bool, sov_core::Error> {
    let title = settings.title.split_whitespace().collect::<Vec<_>>().join(" ");
    let title: String = title.chars().take(TITLE_MAX).collect();
    let changed = store
        .conn()
        .execute(
            "UPDATE chat_conversations SET title = CASE WHEN ?2 = '' THEN title ELSE ?2 END, model = ?3,
             system_prompt = ?4, temperature = ?5, max_tokens = ?6, updated_ms = ?7 WHERE id = ?1",
            params![
                id,
                title,
                settings.model,
                settings.system_prompt,
                settings.temperature,
                settings.max_tokens,
                now_ms
            ],
        )
        .map_err(db(store))?;
    Ok(changed == 1)
}

/// Renames a conversation; `false` if there is no such conversation.
pub fn rename(store: &Store, id: &str, title: &str, now_ms: i64) -> Result<bool, sov_core::Error> {
    let Some(c) = get(store, id)? else { return Ok(false) };
    update(
        store,
        id,
        &Settings {
            title: title.to_owned(),
            model: c.model,
            system_prompt: c.system_prompt,
            temperature: c.temperature,
            max_tokens: c.max_tokens,
        },
        now_ms,
    )
}

/// Deletes a conversation and its messages; `false` if there was none.
pub fn delete(store: &Store, id: &str) -> Result<bool, sov_core::Error> {
    let deleted = store.conn().execute("DELETE FROM chat_conversations WHERE id = ?1", [id]).map_err(db(store))?;
    Ok(deleted == 1)
}

/// Appends a message to `id` and returns its `seq`. The person's first message names an
/// untitled conversation.
pub fn append(store: &Store, id: &str, message: &Message, now_ms: i64) -> Result<i64, sov_core::Error> {
    let tx = rusqlite::Transaction::new_unchecked(store.conn(), rusqlite::TransactionBehavior::Immediate)
        .map_err(db(store))?;
    let seq: i64 = tx
        .query_row("SELECT coalesce(max(seq) + 1, 0) FROM chat_messages WHERE conversation = ?1", [id], |r| r.get(0))
        .map_err(db(store))?;
    let stats = message.stats.as_ref();
    tx.execute(
        "INSERT INTO chat_messages (conversation, seq, role, content, model, finish, prompt_tokens, completion_tokens,
         prompt_ms, generation_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
        params![
            id,
            seq,
            message.role.as_str(),
            message.content,
            message.model,
            message.finish.map(Finish::as_str),
            stats.map(|s| s.prompt_tokens),
            stats.map(|s| s.completion_tokens),
            stats.map(|s| s.prompt_ms),
            stats.map(|s| s.generation_ms),
            now_ms
        ],
    )
    .map_err(db(store))?;
    let title = match message.role {
        Role::User => title_from(&message.content),
        Role::Assistant => String::new(),
    };
    tx.execute(
        "UPDATE chat_conversations SET updated_ms = ?2,
         title = CASE WHEN title = ?3 AND ?4 != '' THEN ?4 ELSE title END WHERE id = ?1",
        params![id, now_ms, UNTITLED, title],
    )
    .map_err(db(store))?;
    tx.commit().map_err(db(store))?;
    Ok(seq)
}

/// Removes the conversation's last message if it is an answer (to regenerate it); whether it did.
pub fn drop_last_answer(store: &Store, id: &str) -> Result<bool, sov_core::Error> {
    let removed = store
        .conn()
        .execute(
            "DELETE FROM chat_messages WHERE conversation = ?1 AND role = 'assistant'
             AND seq = (SELECT max(seq) FROM chat_messages WHERE conversation = ?1)",
            [id],
        )
        .map_err(db(store))?;
    Ok(removed == 1)
}

/// The conversation as Markdown: its title, settings, and each message under a heading naming
/// who wrote it.
pub fn to_markdown(conversation: &Conversation, messages: &[Message]) -> String {
    let mut out = format!(
        "# {}\n\n- model: {}\n- temperature: {}\n- exported from Sovereign's chat page\n",
        conversation.title, conversation.model, conversation.temperature
    );
    if !conversation.system_prompt.is_empty() {
        out.push_str(&format!("\n## System prompt\n\n{}\n", conversation.system_prompt));
    }
    for m in messages {
        let who = match m.role {
            Role::User => "You".to_owned(),
            Role::Assistant => format!("Assistant ({})", m.model.as_deref().unwrap_or("?")),
        };
        out.push_str(&format!("\n## {who}\n\n{}\n", m.content));
        let ended = match m.finish {
            Some(Finish::Stopped) => "stopped",
            Some(Finish::Length) => "cut at the length limit",
            Some(Finish::Failed) => "the engine failed",
            Some(Finish::Stop) | None => "",
        };
        if !ended.is_empty() {
            out.push_str(&format!("\n*({ended})*\n"));
        }
    }
    out
}

/// The conversation as JSON: `{"conversation": {...}, "messages": [...]}`.
pub fn to_json(conversation: &Conversation, messages: &[Message]) -> serde_json::Value {
    serde_json::json!({ "conversation": conversation, "messages": messages })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn user(text: &str) -> Message {
        Message {
            seq: 0,
            role: Role::User,
            content: text.into(),
            model: None,
            finish: None,
            stats: None,
            created_ms: 0,
        }
    }

    fn answer(text: &str) -> Message {
        Message {
            seq: 0,
            role: Role::Assistant,
            content: text.into(),
            model: Some("smollm2".into()),
            finish: Some(Finish::Stop),
            stats: Some(Stats { prompt_tokens: 20, completion_tokens: 10, prompt_ms: 100.0, generation_ms: 200.0 }),
            created_ms: 0,
        }
    }

    #[test]
    fn create_list_rename_delete_and_export() {
        let store = Store::open_in_memory().unwrap();
        let first = create(&store, "smollm2", 0.8, 1000).unwrap();
        let second = create(&store, "gemma3", 0.0, 2000).unwrap();
        assert_eq!(first.title, UNTITLED);
        let ids = |store: &Store| list(store).unwrap().into_iter().map(|c| c.id).collect::<Vec<_>>();
        assert_eq!(ids(&store), [second.id.clone(), first.id.clone()], "newest first");

        // The first message names the conversation and moves it up; answers keep their numbers.
        assert_eq!(append(&store, &first.id, &user("What is   the\nsea?"), 3000).unwrap(), 0);
        assert_eq!(append(&store, &first.id, &answer("**Water**, mostly."), 3100).unwrap(), 1);
        assert_eq!(ids(&store), [first.id.clone(), second.id.clone()]);
        let got = get(&store, &first.id).unwrap().unwrap();
        assert_eq!(got.title, "What is the sea?");
        let stored = messages(&store, &first.id).unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!((stored[1].seq, stored[1].role, stored[1].finish), (1, Role::Assistant, Some(Finish::Stop)));
        assert_eq!(stored[1].stats.unwrap().shown(), "Prompt: 20 tokens, 200.0 t/s · Answer: 10 tokens, 50.0 t/s");
        assert_eq!(stored[0].stats, None);

        // A later message does not rename it; a rename does.
        append(&store, &first.id, &user("And the sky?"), 3200).unwrap();
        assert_eq!(get(&store, &first.id).unwrap().unwrap().title, "What is the sea?");
        assert!(rename(&store, &first.id, "  Sea\nquestions ", 3300).unwrap());
        assert_eq!(get(&store, &first.id).unwrap().unwrap().title, "Sea questions");
        assert!(!rename(&store, "nope", "x", 3300).unwrap());

        // Regenerating drops the last answer only.
        assert!(!drop_last_answer(&store, &first.id).unwrap(), "the last message is the person's");
        append(&store, &first.id, &answer("Blue."), 3400).unwrap();
        assert!(drop_last_answer(&store, &first.id).unwrap());
        assert_eq!(messages(&store, &first.id).unwrap().len(), 3);

        let settings = Settings {
            title: String::new(),
            model: "gemma3".into(),
            system_prompt: "Be brief.".into(),
            temperature: 0.2,
            max_tokens: 64,
        };
        assert!(update(&store, &first.id, &settings, 3500).unwrap());
        let c = get(&store, &first.id).unwrap().unwrap();
        assert_eq!((c.title.as_str(), c.model.as_str(), c.max_tokens), ("Sea questions", "gemma3", 64));

        let msgs = messages(&store, &first.id).unwrap();
        assert_eq!(
            to_markdown(&c, &msgs),
            "# Sea questions\n\n- model: gemma3\n- temperature: 0.2\n- exported from Sovereign's chat page\n\
             \n## System prompt\n\nBe brief.\n\
             \n## You\n\nWhat is   the\nsea?\n\
             \n## Assistant (smollm2)\n\n**Water**, mostly.\n\
             \n## You\n\nAnd the sky?\n"
        );
        let json = to_json(&c, &msgs);
        assert_eq!(json["conversation"]["id"], c.id.as_str());
        assert_eq!(json["messages"][1]["content"], "**Water**, mostly.");
        assert_eq!(json["messages"][1]["stats"]["completion_tokens"], 10);
        assert_eq!(json["messages"][0].get("stats"), None);

        // Deleting removes its messages too, and leaves the other conversation alone.
        assert!(delete(&store, &first.id).unwrap());
        assert!(!delete(&store, &first.id).unwrap());
        assert_eq!(ids(&store), std::slice::from_ref(&second.id));
        let left: i64 = store.conn().query_row("SELECT count(*) FROM chat_messages", [], |r| r.get(0)).unwrap();
        assert_eq!(left, 0);
    }

    #[test]
    fn long_titles_are_cut() {
        let title = title_from(&"word ".repeat(100));
        assert_eq!(title.chars().count(), TITLE_MAX + 1);
        assert!(title.ends_with('…'));
        assert_eq!(title_from(" \n "), UNTITLED);
    }
}
