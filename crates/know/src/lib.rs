//! Local knowledge: your notes and offline documents, indexed on this machine and searched by
//! passage in milliseconds (`sov know`).
//!
//! A **source** is a folder (or one file) added by name ([`Knowledge::add`]); [`Knowledge::index`]
//! walks the sources, reads what changed, and keeps a full-text index (BM25 with English stems,
//! phrases, titles boosted ×3 and headings ×2; [tantivy]) of **passages**: each document is split
//! into sections at its headings (Markdown `#`, HTML `<h1>`–`<h6>`) and long sections into
//! passages of at most [`extract::MAX_PASSAGE`] bytes that keep their heading, so a result
//! ([`Knowledge::search`]) points to the passage that answers, not to a whole book.
//!
//! Formats: Markdown, plain text, HTML (its readable text, by [`sov_html`]: scripts, styles and
//! hidden elements dropped), source code as text, PDF (its text layer, by [`sov_pdf`], checked
//! first against files that hang or kill the parser; at most [`extract::MAX_PDF_TEXT`] of text),
//! and two formats that hold many documents, streamed and never loaded whole: **Kiwix ZIM
//! archives** ([`zim`], our reader of the openZIM format, both layouts; a split `x.zimaa`,
//! `x.zimab`, … is one archive) whose HTML articles are each a document titled by the entry's
//! title, and **MediaWiki XML dumps** ([`mediawiki`]; `.xml`, `.xml.bz2`) whose articles
//! (namespace 0, not redirects) are each a document, wikitext turned into plain text. A hit on
//! an article names its archive ([`Hit::path`]) and its path in it ([`Hit::entry`]); `show
//! --whole` gives that article. Anything else, and any broken file (not UTF-8, binary, an HTML
//! file cut short, a PDF without text, a damaged ZIM archive or a cut dump, unreadable, a plain
//! file larger than [`extract::MAX_FILE`]), is skipped with its reason in the run's [`Report`]
//! and in [`Knowledge::skipped`]; one broken file never stops a run. An archive or dump that
//! breaks mid-way is skipped whole (what was added of it is deleted again); one article that is
//! not text is left out (logged).
//!
//! # Guarantees
//! - **Incremental**: a run reads only files whose size or mtime changed since the last run (and
//!   re-indexes them only if their SHA-256 changed too; for a ZIM archive, the checksum and id it
//!   ends with); a deleted file's passages are dropped. An archive or dump is one file in the
//!   manifest: changed, it is read again whole.
//!   A source whose folder is missing (an unmounted disk) is reported and keeps its passages.
//! - **Crash-safe**: passages are committed to the index in batches of at most
//!   [`BATCH_BYTES`] of files; a file is recorded in the manifest only after the commit that
//!   holds it, and a file's passages are deleted by its key before they are added. A crash
//!   (`kill -9`) loses at most the batch in flight; the next run redoes it, and nothing is
//!   missing or doubled.
//! - **One writer**: a second run while one is going fails at once ([`Error::Busy`]); searches
//!   go on during a run and see its last commit.
//! - **Local only**: this crate opens no socket and starts no process. The index and the
//!   manifest live in the data directory (`<data dir>/know/`), never in a sandbox; symlinks in
//!   a source are not followed, hidden files and folders (`.git`, `.cache`) are not read.
//!
//! # For agents: the Tool API and the gate
//! [`api`] is the Tool API's `GET /knowledge/search` and `GET /knowledge/doc` (`sov serve`
//! mounts them; the agent's `knowledge` and `knowledge_read` tools and `skills/knowledge` use
//! them), so a sandbox searches the folders without being granted them. What it guarantees:
//! - a result or document from a `--private` source marks the asking gate session as having
//!   read notes (`Label::Notes`) before it is answered, and the gate remembers its words
//!   (`Origin::Private`): an outgoing action that carries them is denied by its code reviewer;
//! - a session on the internet side (it searched or fetched the web) gets public results only,
//!   and a 403 for a private document;
//! - documents are read by passage id only, checked to be one before it is looked up as a term
//!   of the index: no request names a file to read;
//! - a query is parsed strictly: what tantivy's grammar cannot read is an error naming the
//!   problem, never another search.
//!
//! Public sources taint nothing, but their text is remembered as **untrusted**
//! (`Origin::Untrusted`), as a web page's is: a downloaded Wikipedia dump or a manual was
//! written by others and may carry instructions, so a recipient that first appeared in it is
//! one the code reviewer will not let an action reach without the human.
//!
//! What it does not hide: BM25's statistics (document frequencies, lengths) are those of the
//! whole index, private passages included, so the order of public results an internet-side
//! session sees depends a little on the words of the private notes. The API answers no scores,
//! which would say more; the order remains (a separate index per privacy class would close it).
//!
//! # Not yet
//! `sov serve` watching the sources and re-indexing in the background (run `sov know index`;
//! the server sees each run at once); hybrid search with local embeddings. A large archive is
//! one batch: a crash in its middle redoes it whole (nothing is doubled), and the progress bar
//! moves once per file, not per article.

pub mod api;
pub mod extract;
mod index;
mod manifest;
pub mod mediawiki;
pub mod zim;

use std::collections::HashSet;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Instant, UNIX_EPOCH};

use sha2::{Digest, Sha256};

pub use extract::{Document, Passage, Skip};
pub use manifest::{Counts, Source};

use index::{DocContext, Store};
use manifest::{FileRow, Manifest};

/// Files read into the index between two commits, in bytes: what a crash can cost.
pub const BATCH_BYTES: u64 = 32 << 20;
/// Files read between two commits, at most.
pub const BATCH_FILES: usize = 5000;

/// What went wrong.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A source name that is not a name: letters, digits, `.`, `_`, `-`, at most 64.
    #[error("invalid source name {0:?}: use letters, digits, '.', '_' and '-' (at most 64)")]
    BadName(String),
    /// No source of that name.
    #[error("no source named {0:?} (see `sov know list`)")]
    NoSuchSource(String),
    /// A source of that name exists.
    #[error("a source named {0:?} exists already (choose another with --name)")]
    NameTaken(String),
    /// The path is already a source.
    #[error("{path} is already the source {name:?}")]
    PathTaken {
        /// The path.
        path: PathBuf,
        /// The source's name.
        name: String,
    },
    /// The path to add cannot be used.
    #[error("cannot add {path}: {source}")]
    BadPath {
        /// The path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// No passage (or document) of that id.
    #[error("no passage with id {0:?} (ids are what `sov know search` shows)")]
    NoSuchId(String),
    /// A query the strict parser ([`Knowledge::search_strict`]) cannot read.
    #[error(
        "the query {query:?} cannot be parsed: {why} (the syntax: words, \"a phrase\", +required, -excluded, title:word; to search for one of + - \" ' ` ( ) [ ] {{ }} : ^ ~ * ! \\ put \\ before it)"
    )]
    BadQuery {
        /// The query.
        query: String,
        /// What the parser said, with where.
        why: String,
    },
    /// The search was limited to public sources and named a private one.
    #[error("the source {0:?} is private, and this search may read public sources only")]
    PrivateSource(String),
    /// Another run holds the index writer.
    #[error("another `sov know index` is running on {0} (wait for it to finish)")]
    Busy(PathBuf),
    /// The index on disk was written by a build with another schema.
    #[error("the index in {path} has another schema ({why}); remove that folder and its manifest.db and index again")]
    IndexSchema {
        /// The index folder.
        path: PathBuf,
        /// What tantivy said.
        why: String,
    },
    /// The manifest was written by a newer build.
    #[error("{path} has schema version {version}, newer than this build knows: use a newer sov")]
    NewerManifest {
        /// The database file.
        path: PathBuf,
        /// Its version.
        version: i64,
    },
    /// The index failed (disk full, a damaged file).
    #[error("index {path}: {source}")]
    Index {
        /// The index folder.
        path: PathBuf,
        /// What tantivy said.
        source: tantivy::TantivyError,
    },
    /// The manifest database failed.
    #[error("manifest {path}: {source}")]
    Manifest {
        /// The database file.
        path: PathBuf,
        /// What SQLite said.
        source: rusqlite::Error,
    },
    /// A file of our own could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The error.
        source: std::io::Error,
    },
}

/// This crate's results.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The knowledge store of one data directory: its sources, manifest and index.
pub struct Knowledge {
    manifest: Manifest,
    store: Store,
}

/// How far a run is, for a progress bar.
#[derive(Debug, Clone, Default)]
pub struct Progress {
    /// Files to read in this run, and read so far.
    pub files_total: u64,
    /// Files read so far.
    pub files_done: u64,
    /// Bytes to read in this run.
    pub bytes_total: u64,
    /// Bytes read so far.
    pub bytes_done: u64,
}

/// What a run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    /// Files found in the sources.
    pub seen: u64,
    /// Files whose size and mtime were unchanged: not read.
    pub unchanged: u64,
    /// Files read (new, or size or mtime changed).
    pub read: u64,
    /// Files whose passages were (re)written.
    pub indexed: u64,
    /// Passages written.
    pub passages: u64,
    /// Bytes read.
    pub bytes: u64,
    /// Files dropped because they are gone.
    pub removed: u64,
    /// Files read and skipped in this run, with the reason.
    pub skipped: Vec<(PathBuf, String)>,
    /// Sources that could not be walked (their passages were kept), with the reason.
    pub failed_sources: Vec<(String, String)>,
    /// Index commits made.
    pub commits: u64,
}

/// A search result: one passage.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Hit {
    /// For `sov know show`.
    pub id: String,
    /// The source's name.
    pub source: String,
    /// Whether the source is private.
    pub private: bool,
    /// The file.
    pub path: String,
    /// The article's path in the archive `path` (a ZIM entry such as `A/Bees.html`); empty
    /// for a plain file.
    pub entry: String,
    /// The document's title.
    pub title: String,
    /// The passage's heading path (empty before the first heading).
    pub heading: String,
    /// A piece of the passage around the matched words.
    pub snippet: String,
    /// Byte ranges of `snippet` that matched the query.
    pub highlights: Vec<(usize, usize)>,
    /// BM25 score (higher is better).
    pub score: f32,
}

/// A stored passage, for `sov know show`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Shown {
    /// Its id.
    pub id: String,
    /// The source's name.
    pub source: String,
    /// Whether the source is private.
    pub private: bool,
    /// The file.
    pub path: String,
    /// The article's path in the archive `path`; empty for a plain file.
    pub entry: String,
    /// The document's title.
    pub title: String,
    /// The heading path.
    pub heading: String,
    /// The passage's text.
    pub text: String,
}

/// Which sources a search reads.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scope<'a> {
    /// Only this source (by name); all when `None`.
    pub source: Option<&'a str>,
    /// Public sources only: a private one named in `source` is [`Error::PrivateSource`].
    pub public_only: bool,
}

impl Knowledge {
    /// The knowledge folder of a data directory.
    pub fn dir_in(data_dir: &Path) -> PathBuf {
        data_dir.join("know")
    }

    /// Whether `dir` holds a store (one `sov know` command made it): what [`api::Library`]
    /// waits for before it opens one, so that a server never creates it.
    pub fn present(dir: &Path) -> bool {
        dir.join("manifest.db").is_file() && dir.join("index/meta.json").is_file()
    }

    /// Opens (creating if needed) the store in `dir` (see [`Knowledge::dir_in`]).
    pub fn open(dir: &Path) -> Result<Knowledge> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::Io { what: format!("creating {}", dir.display()), source: e })?;
        let manifest = Manifest::open(&dir.join("manifest.db"))?;
        let store = Store::open(&dir.join("index"))?;
        Ok(Knowledge { manifest, store })
    }

    /// Adds `path` as a source named `name` (default: the folder's name).
    pub fn add(&self, path: &Path, name: Option<&str>, private: bool) -> Result<Source> {
        let path = std::fs::canonicalize(path).map_err(|e| Error::BadPath { path: path.to_owned(), source: e })?;
        let name = match name {
            Some(n) => n.to_owned(),
            None => path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "root".into()),
        };
        let valid = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
        if !valid {
            return Err(Error::BadName(name));
        }
        let sources = self.manifest.sources()?;
        if sources.iter().any(|s| s.name == name) {
            return Err(Error::NameTaken(name));
        }
        if let Some(s) = sources.iter().find(|s| s.path == path) {
            return Err(Error::PathTaken { path, name: s.name.clone() });
        }
        let source = Source { name, path, private };
        self.manifest.add_source(&source, now_ms())?;
        Ok(source)
    }

    /// The sources, by name, with their counts.
    pub fn list(&self) -> Result<Vec<(Source, Counts)>> {
        let mut out = Vec::new();
        for source in self.manifest.sources()? {
            let counts = self.manifest.counts(&source.name)?;
            out.push((source, counts));
        }
        Ok(out)
    }

    /// The files of source `name` skipped when last read, and why.
    pub fn skipped(&self, name: &str) -> Result<Vec<(PathBuf, String)>> {
        self.manifest.source(name)?.ok_or_else(|| Error::NoSuchSource(name.to_owned()))?;
        self.manifest.skipped(name)
    }

    /// Removes source `name` and its passages (its files are not touched).
    pub fn remove(&mut self, name: &str) -> Result<()> {
        // The source goes first: passages of a source that is not registered are never shown,
        // and the next run drops them should this process die before its commit below.
        if !self.manifest.remove_source(name)? {
            return Err(Error::NoSuchSource(name.to_owned()));
        }
        let mut writer = self.store.writer()?;
        writer.delete_term(self.store.source_term(name));
        writer.commit().map_err(|e| self.index_err(e))?;
        Ok(())
    }

    fn index_err(&self, e: tantivy::TantivyError) -> Error {
        Error::Index { path: PathBuf::from("know/index"), source: e }
    }

    /// Brings the index up to date with source `only` (all sources if `None`), calling
    /// `progress` as files are read.
    pub fn index(&mut self, only: Option<&str>, progress: &mut dyn FnMut(&Progress)) -> Result<Report> {
        let started = Instant::now();
        let all = self.manifest.sources()?;
        let sources: Vec<Source> = match only {
            Some(name) => {
                vec![all.iter().find(|s| s.name == name).cloned().ok_or_else(|| Error::NoSuchSource(name.to_owned()))?]
            }
            None => all.clone(),
        };
        let mut writer = self.store.writer()?;
        let mut report = Report::default();
        // Passages of sources removed by a `rm` that died before its commit.
        self.store.reload()?;
        let registered: HashSet<&str> = all.iter().map(|s| s.name.as_str()).collect();
        let mut pending_index = false;
        for orphan in self.store.indexed_sources()?.into_iter().filter(|n| !registered.contains(n.as_str())) {
            writer.delete_term(self.store.source_term(&orphan));
            pending_index = true;
        }

        // What to read, what is gone.
        let mut todo: Vec<(String, PathBuf, u64, i64, Option<FileRow>)> = Vec::new();
        let mut gone: Vec<(String, PathBuf, Option<FileRow>)> = Vec::new();
        for source in &sources {
            let mut known = self.manifest.files(&source.name)?;
            if let Err(e) = std::fs::metadata(&source.path) {
                report.failed_sources.push((source.name.clone(), format!("{}: {e}", source.path.display())));
                continue;
            }
            let walk = walkdir::WalkDir::new(&source.path).follow_links(false).into_iter();
            for entry in walk.filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.')) {
                let entry = match entry {
                    Ok(entry) => entry,
                    Err(e) => {
                        let path = e.path().map(Path::to_owned).unwrap_or_else(|| source.path.clone());
                        report.skipped.push((path, format!("unreadable ({e})")));
                        continue;
                    }
                };
                // The later parts of a split ZIM archive are read with its first part.
                if !entry.file_type().is_file() || zim::is_later_part(entry.path()) {
                    continue;
                }
                report.seen += 1;
                let (size, mtime_ns) = match file_stamp(entry.path()) {
                    Ok(stamp) => stamp,
                    Err(e) => {
                        report.skipped.push((entry.path().to_owned(), format!("unreadable ({e})")));
                        continue;
                    }
                };
                let before = known.remove(entry.path());
                if before.as_ref().is_some_and(|b| b.size == size && b.mtime_ns == mtime_ns) {
                    report.unchanged += 1;
                    continue;
                }
                todo.push((source.name.clone(), entry.path().to_owned(), size, mtime_ns, before));
            }
            gone.extend(known.into_keys().map(|path| (source.name.clone(), path, None)));
        }

        let mut state = Progress {
            files_total: todo.len() as u64,
            bytes_total: todo.iter().map(|t| t.2).sum(),
            ..Progress::default()
        };
        progress(&state);
        let mut batch: Vec<(String, PathBuf, Option<FileRow>)> = Vec::new();
        let mut batch_bytes = 0;
        for (source, path, size, mtime_ns, before) in todo {
            let key = file_key(&source, &path);
            let stamp = Stamp { size, mtime_ns };
            let (row, written) = self.read_file(&mut writer, &source, &path, stamp, before.as_ref(), &key)?;
            report.read += 1;
            report.bytes += size;
            if let Some(why) = &row.skipped {
                report.skipped.push((path.clone(), why.clone()));
            }
            if written {
                report.indexed += u64::from(row.skipped.is_none());
                report.passages += row.passages;
                pending_index = true;
            }
            batch.push((source, path, Some(row)));
            batch_bytes += size;
            state.files_done += 1;
            state.bytes_done += size;
            progress(&state);
            if batch_bytes >= BATCH_BYTES || batch.len() >= BATCH_FILES {
                self.commit(&mut writer, &mut batch, &mut pending_index, &mut report)?;
                batch_bytes = 0;
            }
        }
        for (source, path, _) in &gone {
            writer.delete_term(self.store.file_term(&file_key(source, path)));
            pending_index = true;
        }
        report.removed = gone.len() as u64;
        batch.extend(gone);
        self.commit(&mut writer, &mut batch, &mut pending_index, &mut report)?;
        writer.wait_merging_threads().map_err(|e| self.index_err(e))?;
        self.store.reload()?;
        tracing::info!(
            read = report.read,
            indexed = report.indexed,
            removed = report.removed,
            skipped = report.skipped.len(),
            ms = started.elapsed().as_millis() as u64,
            "knowledge index run"
        );
        Ok(report)
    }

    /// Commits the index, then (only then) the manifest rows of what it holds.
    fn commit(
        &mut self,
        writer: &mut tantivy::IndexWriter,
        batch: &mut Vec<(String, PathBuf, Option<FileRow>)>,
        pending_index: &mut bool,
        report: &mut Report,
    ) -> Result<()> {
        if *pending_index {
            writer.commit().map_err(|e| self.index_err(e))?;
            report.commits += 1;
            *pending_index = false;
        }
        if !batch.is_empty() {
            self.manifest.apply(batch)?;
            batch.clear();
        }
        Ok(())
    }

    /// Reads one file and replaces its passages in `writer` (deleted by its key first): its
    /// manifest row, and whether its passages were written (`false`: the content is what the
    /// index has, only the row changes).
    fn read_file(
        &self,
        writer: &mut tantivy::IndexWriter,
        source: &str,
        path: &Path,
        stamp: Stamp,
        before: Option<&FileRow>,
        key: &str,
    ) -> Result<(FileRow, bool)> {
        let Stamp { size, mtime_ns } = stamp;
        let row =
            |hash: String, passages: u64, skipped: Option<String>| FileRow { size, mtime_ns, hash, passages, skipped };
        let skip = |writer: &mut tantivy::IndexWriter, hash: String, why: Skip| {
            writer.delete_term(self.store.file_term(key));
            (row(hash, 0, Some(why.to_string())), true)
        };
        // A name that says the format is unknown (a picture, an archive) is not read at all.
        let format = match extract::format_of(path, b"") {
            Err(skip_why) if path.extension().is_some() => return Ok(skip(writer, String::new(), skip_why)),
            format => format.ok(),
        };
        if format == Some(extract::Format::MediaWiki) {
            return self.read_dump(writer, source, path, stamp, before, key);
        }
        if format.is_some_and(extract::Format::is_container) {
            return self.read_archive(writer, source, path, stamp, before, key);
        }
        if size > extract::MAX_FILE {
            return Ok(skip(writer, String::new(), Skip::TooLarge(size)));
        }
        let bytes = match read_at_most(path, extract::MAX_FILE) {
            Ok(bytes) => bytes,
            Err(e) => return Ok(skip(writer, String::new(), Skip::Unreadable(e.to_string()))),
        };
        if bytes.len() as u64 > extract::MAX_FILE {
            return Ok(skip(writer, String::new(), Skip::TooLarge(bytes.len() as u64)));
        }
        let hash = hex::encode(Sha256::digest(&bytes));
        if let Some(b) = before.filter(|b| b.hash == hash) {
            return Ok((row(hash, b.passages, b.skipped.clone()), false));
        }
        match extract::extract(path, &bytes) {
            Err(why) => Ok(skip(writer, hash, why)),
            Ok(document) => {
                writer.delete_term(self.store.file_term(key));
                let shown = path.to_string_lossy();
                let mut number = 0;
                self.add_document(
                    writer,
                    &document,
                    key,
                    &hash,
                    Place { source, path: &shown, doc: key, entry: "" },
                    &mut number,
                )?;
                Ok((row(hash, number, None), true))
            }
        }
    }

    /// Adds the passages of `document` to `writer`, numbered on from `number`.
    fn add_document(
        &self,
        writer: &mut tantivy::IndexWriter,
        document: &Document,
        key: &str,
        hash: &str,
        place: Place<'_>,
        number: &mut u64,
    ) -> Result<()> {
        for p in extract::passages(document) {
            let ctx = DocContext {
                source: place.source,
                path: place.path,
                doc: place.doc,
                entry: place.entry,
                title: &document.title,
                number: *number,
            };
            writer.add_document(self.store.document(&p, key, hash, ctx)).map_err(|e| self.index_err(e))?;
            *number += 1;
        }
        Ok(())
    }

    /// Reads a ZIM archive article by article into `writer`. Its hash is the archive's own
    /// checksum (and id), read from its end: an archive touched but not changed is not read
    /// again. A damaged archive is skipped whole (what was added of it is deleted again), with
    /// the problem as its reason.
    fn read_archive(
        &self,
        writer: &mut tantivy::IndexWriter,
        source: &str,
        path: &Path,
        stamp: Stamp,
        before: Option<&FileRow>,
        key: &str,
    ) -> Result<(FileRow, bool)> {
        let row = |hash: String, passages: u64, skipped: Option<String>| FileRow {
            size: stamp.size,
            mtime_ns: stamp.mtime_ns,
            hash,
            passages,
            skipped,
        };
        let mut archive = match zim::Archive::open_path(path) {
            Ok(archive) => archive,
            Err(e) => {
                writer.delete_term(self.store.file_term(key));
                return Ok((row(String::new(), 0, Some(Skip::Zim(e.to_string()).to_string())), true));
            }
        };
        let hash = match archive.checksum() {
            Ok(sum) => format!("zim:{}:{}", hex::encode(archive.header.uuid), hex::encode(sum)),
            Err(e) => String::from("zim:") + &e.to_string(),
        };
        if let Some(b) = before.filter(|b| b.hash == hash) {
            return Ok((row(hash, b.passages, b.skipped.clone()), false));
        }
        writer.delete_term(self.store.file_term(key));
        let shown = path.to_string_lossy();
        let mut number = 0;
        let mut unread = 0u64;
        let outcome = (|| -> Result<Result<(), zim::ZimError>> {
            let refs = match archive.articles() {
                Ok(refs) => refs,
                Err(e) => return Ok(Err(e)),
            };
            for r in refs {
                let article = match archive.article(r) {
                    Ok(article) => article,
                    Err(e) => return Ok(Err(e)),
                };
                if article.html.len() as u64 > extract::MAX_FILE {
                    unread += 1;
                    continue;
                }
                match extract::html_article(&article.html, &article.title) {
                    Ok(document) => {
                        let doc = format!("{key}/{}", r.index);
                        let place = Place { source, path: &shown, doc: &doc, entry: &article.path };
                        self.add_document(writer, &document, key, &hash, place, &mut number)?;
                    }
                    Err(why) => {
                        tracing::debug!(archive = %path.display(), article = %article.path, %why, "article not read");
                        unread += 1;
                    }
                }
            }
            Ok(Ok(()))
        })()?;
        if unread > 0 {
            tracing::warn!(archive = %path.display(), unread, "articles of the archive not read (not text, or too large)");
        }
        match outcome {
            Ok(()) => Ok((row(hash, number, None), true)),
            Err(e) => {
                // Drops what was added of it before the damage was found.
                writer.delete_term(self.store.file_term(key));
                Ok((row(String::new(), 0, Some(Skip::Zim(e.to_string()).to_string())), true))
            }
        }
    }

    /// Reads a MediaWiki dump page by page into `writer`, streamed (bzip2 too). Its hash is the
    /// SHA-256 of the file, read first in a pass of its own; a broken or cut dump is skipped
    /// whole (what was added of it is deleted again), with the problem as its reason.
    fn read_dump(
        &self,
        writer: &mut tantivy::IndexWriter,
        source: &str,
        path: &Path,
        stamp: Stamp,
        before: Option<&FileRow>,
        key: &str,
    ) -> Result<(FileRow, bool)> {
        let row = |hash: String, passages: u64, skipped: Option<String>| FileRow {
            size: stamp.size,
            mtime_ns: stamp.mtime_ns,
            hash,
            passages,
            skipped,
        };
        let skipped = |writer: &mut tantivy::IndexWriter, hash: String, why: Skip| {
            writer.delete_term(self.store.file_term(key));
            (row(hash, 0, Some(why.to_string())), true)
        };
        let hash = match hash_file(path) {
            Ok(hash) => hash,
            Err(e) => return Ok(skipped(writer, String::new(), Skip::Unreadable(e.to_string()))),
        };
        if let Some(b) = before.filter(|b| b.hash == hash) {
            return Ok((row(hash, b.passages, b.skipped.clone()), false));
        }
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) => return Ok(skipped(writer, hash, Skip::Unreadable(e.to_string()))),
        };
        let bz2 = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("bz2"));
        let reader: Box<dyn std::io::BufRead> = if bz2 {
            Box::new(std::io::BufReader::with_capacity(256 << 10, bzip2::read::MultiBzDecoder::new(file)))
        } else {
            Box::new(std::io::BufReader::with_capacity(256 << 10, file))
        };
        writer.delete_term(self.store.file_term(key));
        let shown = path.to_string_lossy();
        let mut number = 0;
        for (n, page) in mediawiki::Pages::new(reader).enumerate() {
            let page = match page {
                Ok(page) => page,
                // Other XML (an SVG, a feed, a config) is a format this crate does not read.
                Err(mediawiki::WikiError::NotADump(first)) => {
                    let why = format!("XML that is not a MediaWiki dump (its first element is <{first}>)");
                    return Ok(skipped(writer, hash, Skip::UnknownFormat(why)));
                }
                Err(e) => return Ok(skipped(writer, hash, Skip::MediaWiki(e.to_string()))),
            };
            let document = mediawiki::wikitext(&page.title, &page.text);
            let doc = format!("{key}/{n}");
            let place = Place { source, path: &shown, doc: &doc, entry: &page.title };
            self.add_document(writer, &document, key, &hash, place, &mut number)?;
        }
        Ok((row(hash, number, None), true))
    }

    /// The best `limit` passages for `query`, from source `source` only if given. The query is
    /// read leniently: what tantivy's grammar cannot parse is left out (for people at a
    /// terminal; see [`Knowledge::search_strict`]).
    pub fn search(&self, query: &str, source: Option<&str>, limit: usize) -> Result<Vec<Hit>> {
        self.find(query, Scope { source, public_only: false }, limit, false)
    }

    /// The best `limit` passages for `query` within `scope`, the query read strictly: one that
    /// tantivy's grammar cannot parse (an unclosed quote or bracket, an unknown field) is
    /// [`Error::BadQuery`] naming the problem, never a different search than asked.
    pub fn search_strict(&self, query: &str, scope: Scope<'_>, limit: usize) -> Result<Vec<Hit>> {
        self.find(query, scope, limit, true)
    }

    fn find(&self, query: &str, scope: Scope<'_>, limit: usize, strict: bool) -> Result<Vec<Hit>> {
        let sources = self.manifest.sources()?;
        let wanted: Vec<&Source> = match scope.source {
            Some(name) => {
                let source =
                    sources.iter().find(|s| s.name == name).ok_or_else(|| Error::NoSuchSource(name.to_owned()))?;
                if scope.public_only && source.private {
                    return Err(Error::PrivateSource(name.to_owned()));
                }
                vec![source]
            }
            None => sources.iter().filter(|s| !(scope.public_only && s.private)).collect(),
        };
        let wanted: Vec<String> = wanted.into_iter().map(|s| s.name.clone()).collect();
        if wanted.is_empty() {
            if strict {
                // The query is still checked: a bad one is a bad one whatever the sources.
                self.store.search(query, &wanted, 1, true)?;
            }
            return Ok(Vec::new());
        }
        self.store.reload()?;
        let hits = self.store.search(query, &wanted, limit, strict)?;
        Ok(hits
            .into_iter()
            .map(|h| Hit {
                private: sources.iter().any(|s| s.name == h.stored.source && s.private),
                id: h.stored.id,
                source: h.stored.source,
                path: h.stored.path,
                entry: h.stored.entry,
                title: h.stored.title,
                heading: h.stored.heading,
                snippet: h.fragment,
                highlights: h.highlights,
                score: h.score,
            })
            .collect())
    }

    /// The passage `id`, or with `whole` every passage of its document, in order.
    pub fn show(&self, id: &str, whole: bool) -> Result<Vec<Shown>> {
        self.store.reload()?;
        let sources = self.manifest.sources()?;
        let first = self.stored_passage(id, &sources)?;
        let private = sources.iter().any(|s| s.name == first.source && s.private);
        let passages = if whole { self.store.by_term(self.store.fields.doc, &first.doc)? } else { vec![first] };
        Ok(passages
            .into_iter()
            .map(|s| Shown {
                id: s.id,
                source: s.source,
                private,
                path: s.path,
                entry: s.entry,
                title: s.title,
                heading: s.heading,
                text: s.body,
            })
            .collect())
    }

    /// The id of the passage after `id` in its document, if there is one.
    pub fn next_in_document(&self, id: &str) -> Result<Option<String>> {
        self.store.reload()?;
        let sources = self.manifest.sources()?;
        let passage = self.stored_passage(id, &sources)?;
        let next = format!("{}-{}", passage.file, passage.passage + 1);
        Ok(self.store.by_term(self.store.fields.id, &next)?.into_iter().find(|s| s.doc == passage.doc).map(|s| s.id))
    }

    /// The passage `id` of a registered source (a removed source's passages are never shown).
    fn stored_passage(&self, id: &str, sources: &[Source]) -> Result<index::Stored> {
        let found = self.store.by_term(self.store.fields.id, id)?;
        found
            .into_iter()
            .find(|s| sources.iter().any(|source| source.name == s.source))
            .ok_or_else(|| Error::NoSuchId(id.to_owned()))
    }

    /// Passages in the index.
    pub fn passages(&self) -> Result<u64> {
        self.store.reload()?;
        Ok(self.store.passages())
    }
}

/// A file's key in the index: the first 64 bits of SHA-256 over the source name and the path.
fn file_key(source: &str, path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h = Sha256::new();
    h.update(source.as_bytes());
    h.update([0]);
    h.update(path.as_os_str().as_bytes());
    hex::encode(&h.finalize()[..8])
}

/// A file's size and mtime, what a run compares; for the first part of a split ZIM archive
/// those of all its parts (their sum, the latest), so that a changed part reads it again.
fn file_stamp(path: &Path) -> std::io::Result<(u64, i64)> {
    let mut size = 0u64;
    let mut latest = 0i64;
    for part in zim::parts_of(path) {
        let meta = std::fs::metadata(&part)?;
        size = size.saturating_add(meta.len());
        latest = latest.max(mtime_ns(&meta));
    }
    Ok((size, latest))
}

/// A file's size and mtime.
#[derive(Debug, Clone, Copy)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
}

/// Where a document's passages come from.
#[derive(Debug, Clone, Copy)]
struct Place<'a> {
    source: &'a str,
    path: &'a str,
    doc: &'a str,
    entry: &'a str,
}

/// The SHA-256 of a file, read in a stream.
fn hash_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            return Ok(hex::encode(hasher.finalize()));
        }
        hasher.update(&buf[..n]);
    }
}

fn read_at_most(path: &Path, max: u64) -> std::io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(max + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}

fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.modified().ok().and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos() as i64)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}
