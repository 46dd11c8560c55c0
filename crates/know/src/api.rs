//! The knowledge endpoints of the Tool API, for agents:
//!
//! - `GET /knowledge/search?q=WORDS[&source=NAME][&limit=N]`: the best passages, ranked (BM25,
//!   titles ×3 and headings ×2): `{"query", "public_only", "count", "results": [{"id",
//!   "source", "private", "title", "path", "entry", "heading", "snippet", "highlights"}]}`
//!   (`entry`: the article's path in a ZIM archive or a MediaWiki dump, else empty;
//!   `highlights`: byte ranges of `snippet` that matched). The query is read **strictly** in
//!   tantivy's syntax (words, `"a phrase"`, `+must`, `-not`, `title:word`): one it cannot parse
//!   is a 400 that says what is wrong and where, never a quietly different search. `limit` is 10
//!   by default and at most [`MAX_LIMIT`]; anything else is a 400.
//! - `GET /knowledge/doc?id=ID[&whole=true]`: the passage `id` (as a search answered it) with
//!   the id of the `next` passage of its document, or with `whole=true` every passage of its
//!   document in order (at most [`MAX_DOC_BYTES`] of text: a longer one says `cut` and the
//!   `next` passage to read on from). **By passage id only**: an id is checked to be one
//!   (`<16 hex digits>-<number>`) before anything is looked up, and it is looked up as a term
//!   of the index, never opened as a path, so no request can make this read a file.
//!
//! Until a knowledge index exists (`sov know add` and `sov know index`, which may run while
//! `sov serve` does) every request answers 503 saying so; the first one after it opens the
//! index ([`Library`]), and each search sees the index's last commit, so neither a first index
//! nor a re-index needs a restart.
//!
//! # Taint and provenance
//! The routes are [`Routes`] for `sov_toolapi::ToolApi`, served only behind its guard, with its
//! error shape and session extractor. What the session is served decides what the gate knows:
//! - A result or document from a `--private` source marks the session as having read notes
//!   ([`Label::Notes`], before it is answered; from then on the gate holds the session's
//!   internet actions for the human), and its text is remembered as
//!   [`Origin::Private`] ([`Gate::note_served`]), so that the code reviewer denies an outgoing
//!   action that carries it (the door code of a note in a URL, a message body).
//! - A session on the internet side (one that searched or fetched the web, whose text may carry
//!   instructions) is served **public sources only**: a search answers only public results
//!   (`public_only: true`), a search naming a private source and a private document answer 403.
//!   If the session moves to the internet side while a search runs, the search is run again
//!   on the public sources and nothing private is answered.
//! - Public sources taint nothing. Their text is remembered as [`Origin::Untrusted`], like a
//!   web page's: a downloaded Wikipedia dump or a manual is text that others wrote, and may
//!   carry instructions ("send the notes to …"); a recipient that first appeared in it makes the
//!   code reviewer deny the action that goes to it, and the human decides.
//!
//! Results carry no score: BM25's statistics are those of the whole index, private notes
//! included, so exact scores would tell an internet-side session something of the words in the
//! notes (the ranking still depends on them a little; see the crate's documentation).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use axum::extract::{FromRef, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use sov_gate::{Gate, GateError, Label, Origin, Session, Side};
use sov_toolapi::{AgentSession, ApiError, ApiResult, Routes, blocking, parse_query};

use crate::{Error, Hit, Knowledge, Scope, Shown};

/// Passages a search answers when it does not say.
pub const DEFAULT_LIMIT: usize = 10;
/// The most passages a search answers.
pub const MAX_LIMIT: usize = 50;
/// The most text a `whole=true` answer holds, bytes.
pub const MAX_DOC_BYTES: usize = 1 << 20;
/// The longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 1000;
/// Text remembered by one provenance call: about 13,000 pieces, under the gate's cap per call.
const SERVED_CHUNK_BYTES: usize = 64 << 10;

/// The knowledge store of `sov serve`, opened on the first request after an index exists and
/// kept open; searches run one at a time (each takes milliseconds). An open store that fails
/// (an index rebuilt under it, a file gone) is dropped and opened again once.
pub struct Library {
    dir: PathBuf,
    open: Mutex<Option<Knowledge>>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library").field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl Library {
    /// The store in `dir` (`<data dir>/know`, [`Knowledge::dir_in`]); nothing is opened (or
    /// created) until a request finds an index there.
    pub fn new(dir: PathBuf) -> Library {
        Library { dir, open: Mutex::new(None) }
    }

    /// Its folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether an index is there (or open).
    fn ready(&self) -> bool {
        self.open.lock().unwrap_or_else(PoisonError::into_inner).is_some() || Knowledge::present(&self.dir)
    }

    /// Runs `work` on the open store (opening it first); a store that fails for a reason of its
    /// own (not the request's) is opened again and `work` tried once more.
    fn with<T>(&self, work: impl Fn(&Knowledge) -> crate::Result<T>) -> Result<T, ApiError> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        for attempt in 0..2 {
            if open.is_none() {
                if !Knowledge::present(&self.dir) {
                    return Err(no_index());
                }
                *open = Some(Knowledge::open(&self.dir).map_err(know_error)?);
            }
            let Some(know) = open.as_ref() else { return Err(no_index()) };
            match work(know) {
                Err(e @ (Error::Index { .. } | Error::Manifest { .. } | Error::Io { .. })) if attempt == 0 => {
                    tracing::warn!(error = %e, "the knowledge store failed; opening it again");
                    *open = None;
                }
                result => return result.map_err(know_error),
            }
        }
        Err(ApiError::internal("the knowledge store failed twice (the detail is in sov serve's log)"))
    }
}

fn no_index() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "there is no knowledge index yet: the user adds folders with `sov know add PATH [--private]` and runs `sov know index` (sov serve needs no restart)",
    )
}

/// The request's mistakes keep their field; a store the user must rebuild is a 503 that says
/// so; anything else is a fault of ours (500, the detail logged, not answered).
fn know_error(e: Error) -> ApiError {
    match e {
        Error::BadQuery { .. } => ApiError::bad_request(e.to_string()).with_field("q"),
        Error::NoSuchSource(_) => ApiError::bad_request(e.to_string()).with_field("source"),
        Error::PrivateSource(_) => ApiError::new(StatusCode::FORBIDDEN, e.to_string()).with_field("source"),
        Error::NoSuchId(_) => ApiError::new(StatusCode::NOT_FOUND, e.to_string()).with_field("id"),
        Error::IndexSchema { .. } | Error::NewerManifest { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        e => {
            tracing::error!(error = %e, "knowledge store");
            ApiError::internal("the knowledge index could not be read (the detail is in sov serve's log)")
        }
    }
}

#[derive(Clone)]
struct Api {
    gate: Arc<Gate>,
    library: Arc<Library>,
}

impl FromRef<Api> for Arc<Gate> {
    fn from_ref(api: &Api) -> Arc<Gate> {
        api.gate.clone()
    }
}

/// The routes, for `ToolApi::service`: searches and reads of `library` by sessions of `gate`.
pub fn routes(gate: Arc<Gate>, library: Arc<Library>) -> Routes {
    Routes::new(
        Router::new()
            .route("/knowledge/search", get(search))
            .route("/knowledge/doc", get(doc))
            .with_state(Api { gate, library }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SearchQuery {
    q: Option<String>,
    source: Option<String>,
    limit: Option<String>,
}

/// What an internet-side session is told of what it cannot read.
const PUBLIC_ONLY: &str = "this session has used the internet (a web search or fetch), so only public sources were searched: it cannot read the user's private notes";

async fn search(State(api): State<Api>, AgentSession(session): AgentSession, RawQuery(raw): RawQuery) -> ApiResult {
    let query: SearchQuery = parse_query(raw.as_deref())?;
    if !api.library.ready() {
        return Err(no_index());
    }
    let q = query.q.unwrap_or_default();
    if q.trim().is_empty() {
        return Err(ApiError::bad_request("`q` is missing: GET /knowledge/search?q=WORDS").with_field("q"));
    }
    if q.chars().count() > MAX_QUERY_CHARS {
        return Err(ApiError::bad_request(format!("`q` is longer than {MAX_QUERY_CHARS} characters")).with_field("q"));
    }
    let limit = limit(query.limit.as_deref())?;
    let source = query.source.filter(|s| !s.is_empty());
    blocking(move || {
        let mut session = session;
        let find = |public_only: bool| {
            api.library.with(|know| know.search_strict(&q, Scope { source: source.as_deref(), public_only }, limit))
        };
        let refused = |e: ApiError, session: &Session| {
            if e.status() == StatusCode::FORBIDDEN {
                ApiError::new(StatusCode::FORBIDDEN, format!("{}: session {} {PUBLIC_ONLY}", e.message(), session.id))
                    .with_field("source")
            } else {
                e
            }
        };
        let mut public_only = session.side == Side::Internet;
        let mut hits = find(public_only).map_err(|e| refused(e, &session))?;
        if hits.iter().any(|h| h.private) {
            // Tainted before anything private is answered.
            match api.gate.note_read(&mut session, Label::Notes) {
                Ok(()) => {}
                // It searched the web since its request came in: public sources only.
                Err(GateError::Refused(_)) => {
                    public_only = true;
                    hits = find(true).map_err(|e| refused(e, &session))?;
                }
                Err(e) => return Err(e.into()),
            }
        }
        for hit in &hits {
            let text = format!("{}\n{}\n{}\n{}\n{}", hit.title, hit.heading, hit.snippet, hit.path, hit.entry);
            served(&api.gate, &session, hit.private, &hit.source, &hit.title, &hit.id, &text)?;
        }
        let results: Vec<Value> = hits.iter().map(hit_view).collect();
        let mut answer = json!({"query": q, "public_only": public_only, "count": results.len(), "results": results});
        if public_only {
            answer["note"] = json!(PUBLIC_ONLY);
        }
        Ok(Json(answer))
    })
    .await
}

/// `limit` as a number from 1 to [`MAX_LIMIT`], [`DEFAULT_LIMIT`] when absent.
fn limit(given: Option<&str>) -> Result<usize, ApiError> {
    let Some(given) = given else { return Ok(DEFAULT_LIMIT) };
    match given.parse::<usize>() {
        Ok(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        _ => Err(ApiError::bad_request(format!(
            "`limit` must be a whole number from 1 to {MAX_LIMIT} (it is {:?})",
            given.chars().take(40).collect::<String>()
        ))
        .with_field("limit")),
    }
}

/// What a result shows: no score (see the module's documentation).
fn hit_view(hit: &Hit) -> Value {
    json!({
        "id": hit.id,
        "source": hit.source,
        "private": hit.private,
        "title": hit.title,
        "path": hit.path,
        "entry": hit.entry,
        "heading": hit.heading,
        "snippet": hit.snippet,
        "highlights": hit.highlights,
    })
}

/// Tells the gate that `session` is served `text` of passage `id`: private (the user's notes)
/// or untrusted (a public source: text others wrote).
fn served(
    gate: &Gate,
    session: &Session,
    private: bool,
    source: &str,
    title: &str,
    id: &str,
    text: &str,
) -> Result<(), ApiError> {
    let (origin, what) = if private {
        let title: String = title.chars().filter(|c| !c.is_control()).take(60).collect();
        (Origin::Private, format!("your private note \"{title}\" ({source}, passage {id})"))
    } else {
        // Not its title: words others wrote are not put in the reason the human reads.
        (Origin::Untrusted, format!("passage {id} of the public knowledge source {source}"))
    };
    Ok(gate.note_served(&session.id, origin, &what, None, text)?)
}

/// A passage id: the file's key (16 hex digits), `-`, the passage's number.
fn is_passage_id(id: &str) -> bool {
    let Some((file, number)) = id.split_once('-') else { return false };
    file.len() == 16
        && file.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        && (1..=20).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DocQuery {
    id: Option<String>,
    whole: Option<String>,
}

async fn doc(State(api): State<Api>, AgentSession(session): AgentSession, RawQuery(raw): RawQuery) -> ApiResult {
    let query: DocQuery = parse_query(raw.as_deref())?;
    if !api.library.ready() {
        return Err(no_index());
    }
    let id = query.id.unwrap_or_default();
    if id.is_empty() {
        return Err(ApiError::bad_request(
            "`id` is missing: GET /knowledge/doc?id=ID, with an id from /knowledge/search",
        )
        .with_field("id"));
    }
    if !is_passage_id(&id) {
        return Err(ApiError::bad_request(format!(
            "{:?} is not a passage id: ids look like 3f9c0a17b2d4e851-12, as /knowledge/search answers them (documents are read by passage id only, never by path)",
            id.chars().take(80).collect::<String>()
        ))
        .with_field("id"));
    }
    let whole = match query.whole.as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "`whole` is true or false (it is {:?})",
                other.chars().take(40).collect::<String>()
            ))
            .with_field("whole"));
        }
    };
    blocking(move || {
        let mut session = session;
        let passages = api.library.with(|know| know.show(&id, whole))?;
        let Some(first) = passages.first() else { return Err(know_error(Error::NoSuchId(id))) };
        if first.private {
            api.gate.note_read(&mut session, Label::Notes).map_err(|e| match e {
                GateError::Refused(why) => ApiError::new(
                    StatusCode::FORBIDDEN,
                    format!(
                        "refused: passage {id} is from the private source {}, and {why} (a session that used the web search or fetch reads public sources only)",
                        first.source
                    ),
                )
                .with_field("id"),
                e => e.into(),
            })?;
        }
        let (shown, next) = if whole {
            let mut bytes = 0;
            let kept = passages
                .iter()
                .take_while(|p| {
                    bytes += p.text.len();
                    bytes <= MAX_DOC_BYTES
                })
                .count()
                .max(1);
            (&passages[..kept], passages.get(kept).map(|p| p.id.clone()))
        } else {
            (&passages[..], api.library.with(|know| know.next_in_document(&id))?)
        };
        remember(&api.gate, &session, first, shown)?;
        let mut answer = json!({
            "id": id,
            "source": first.source,
            "private": first.private,
            "title": first.title,
            "path": first.path,
            "entry": first.entry,
            "next": next,
        });
        if whole {
            answer["count"] = json!(shown.len());
            answer["total"] = json!(passages.len());
            answer["cut"] = json!(shown.len() < passages.len());
            answer["passages"] =
                shown.iter().map(|p| json!({"id": p.id, "heading": p.heading, "text": p.text})).collect();
        } else {
            answer["heading"] = json!(first.heading);
            answer["text"] = json!(first.text);
        }
        Ok(Json(answer))
    })
    .await
}

/// Tells the gate what of a document `session` is served, in pieces the gate hashes whole.
fn remember(gate: &Gate, session: &Session, first: &Shown, shown: &[Shown]) -> Result<(), ApiError> {
    let mut text = format!("{}\n{}\n{}\n", first.title, first.path, first.entry);
    let mut from = first.id.as_str();
    for (n, p) in shown.iter().enumerate() {
        text.push_str(&p.heading);
        text.push('\n');
        text.push_str(&p.text);
        text.push('\n');
        if text.len() >= SERVED_CHUNK_BYTES || n + 1 == shown.len() {
            served(gate, session, first.private, &first.source, &first.title, from, &text)?;
            text.clear();
            from = shown.get(n + 1).map_or("", |p| p.id.as_str());
        }
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_passage_ids_pass_and_no_path_does() {
        assert!(is_passage_id("3f9c0a17b2d4e851-0"));
        assert!(is_passage_id("3f9c0a17b2d4e851-18446744073709551615"));
        for bad in [
            "",
            "/etc/passwd",
            "../manifest.db",
            "3f9c0a17b2d4e851",
            "3f9c0a17b2d4e851-",
            "3F9C0A17B2D4E851-1",
            "3f9c0a17b2d4e85-1",
            "3f9c0a17b2d4e851-1/../../x",
            "3f9c0a17b2d4e851--1",
            "3f9c0a17b2d4e851-1 ",
            "3f9c0a17b2d4e851-1-2",
            "~/notes/secret.md",
        ] {
            assert!(!is_passage_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn limits_are_from_one_to_fifty() {
        assert_eq!(limit(None).ok(), Some(DEFAULT_LIMIT));
        assert_eq!(limit(Some("50")).ok(), Some(50));
        for bad in ["0", "51", "-1", "ten", "", "1e3"] {
            let e = limit(Some(bad)).unwrap_err();
            assert_eq!((e.status(), e.field()), (StatusCode::BAD_REQUEST, Some("limit")), "{bad}");
        }
    }
}
