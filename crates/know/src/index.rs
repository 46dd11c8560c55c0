//! The tantivy index: one document per passage. Fields and why:
//!
//! | field | kind | for |
//! | --- | --- | --- |
//! | `id` | string, stored | `sov know show ID`: the file's key, `-`, the passage number |
//! | `file` | string, stored | the file's key (hash of source and path): delete a file's passages by one term before adding them again |
//! | `doc` | string, stored | the document's key: the file's key, or for an article of an archive the file's key, `/` and the article's number; `show --whole` |
//! | `entry` | stored | an article's path in its archive (a ZIM entry, a MediaWiki page title); empty for a plain file |
//! | `source` | string, stored | `--source`, and dropping a removed source's passages |
//! | `path` | stored | shown in results |
//! | `title` | text (English stems), stored | boosted ×3 |
//! | `heading` | text (English stems), stored | boosted ×2 |
//! | `body` | text (English stems, positions for phrases), stored | the passage; snippets |
//! | `passage` | u64, stored, indexed | order of passages in a file (`show --whole`) |
//! | `hash` | stored | the file content's SHA-256 the passages came from |

use tantivy::collector::TopDocs;
use tantivy::directory::MmapDirectory;
use tantivy::query::{BooleanQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::{Error, Result};

/// Boosts of the title and heading fields over the passage text.
pub(crate) const TITLE_BOOST: f32 = 3.0;
pub(crate) const HEADING_BOOST: f32 = 2.0;
/// The index writer's memory (tantivy splits it among its threads; each needs at least 15 MB).
const WRITER_MEMORY: usize = 128 << 20;
const WRITER_THREADS: usize = 2;

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub(crate) id: Field,
    pub(crate) file: Field,
    pub(crate) doc: Field,
    pub(crate) entry: Field,
    pub(crate) source: Field,
    pub(crate) path: Field,
    pub(crate) title: Field,
    pub(crate) heading: Field,
    pub(crate) body: Field,
    pub(crate) passage: Field,
    pub(crate) hash: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let stemmed = |positions: bool| {
        let record = if positions { IndexRecordOption::WithFreqsAndPositions } else { IndexRecordOption::WithFreqs };
        TextOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer("en_stem").set_index_option(record))
            .set_stored()
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        file: b.add_text_field("file", STRING | STORED),
        doc: b.add_text_field("doc", STRING | STORED),
        entry: b.add_text_field("entry", STORED),
        source: b.add_text_field("source", STRING | STORED),
        path: b.add_text_field("path", STORED),
        title: b.add_text_field("title", stemmed(true)),
        heading: b.add_text_field("heading", stemmed(true)),
        body: b.add_text_field("body", stemmed(true)),
        passage: b.add_u64_field("passage", INDEXED | STORED),
        hash: b.add_text_field("hash", STORED),
    };
    (b.build(), fields)
}

pub(crate) struct Store {
    pub(crate) index: Index,
    pub(crate) fields: Fields,
    reader: IndexReader,
    dir: std::path::PathBuf,
}

/// A passage as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Stored {
    pub(crate) id: String,
    pub(crate) file: String,
    pub(crate) doc: String,
    pub(crate) entry: String,
    pub(crate) source: String,
    pub(crate) path: String,
    pub(crate) title: String,
    pub(crate) heading: String,
    pub(crate) body: String,
    pub(crate) passage: u64,
}

/// One search hit, before the CLI's rendering.
#[derive(Debug, Clone)]
pub(crate) struct RawHit {
    pub(crate) score: f32,
    pub(crate) stored: Stored,
    pub(crate) fragment: String,
    pub(crate) highlights: Vec<(usize, usize)>,
}

impl Store {
    pub(crate) fn open(dir: &std::path::Path) -> Result<Store> {
        let io = |e: std::io::Error| Error::Io { what: format!("creating {}", dir.display()), source: e };
        std::fs::create_dir_all(dir).map_err(io)?;
        let index_err = |e| Error::Index { path: dir.to_owned(), source: e };
        let directory = MmapDirectory::open(dir).map_err(|e| Error::Index {
            path: dir.to_owned(),
            source: tantivy::TantivyError::SystemError(e.to_string()),
        })?;
        let (schema, fields) = schema();
        let index = Index::open_or_create(directory, schema).map_err(|e| match e {
            tantivy::TantivyError::SchemaError(why) => Error::IndexSchema { path: dir.to_owned(), why },
            e => index_err(e),
        })?;
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into().map_err(index_err)?;
        Ok(Store { index, fields, reader, dir: dir.to_owned() })
    }

    fn err(&self, e: tantivy::TantivyError) -> Error {
        Error::Index { path: self.dir.clone(), source: e }
    }

    /// The writer; only one process holds it at a time.
    pub(crate) fn writer(&self) -> Result<IndexWriter> {
        self.index.writer_with_num_threads(WRITER_THREADS, WRITER_MEMORY).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(tantivy::directory::error::LockError::LockBusy, _) => {
                Error::Busy(self.dir.clone())
            }
            e => self.err(e),
        })
    }

    pub(crate) fn reload(&self) -> Result<()> {
        self.reader.reload().map_err(|e| self.err(e))
    }

    pub(crate) fn file_term(&self, key: &str) -> Term {
        Term::from_field_text(self.fields.file, key)
    }

    pub(crate) fn source_term(&self, name: &str) -> Term {
        Term::from_field_text(self.fields.source, name)
    }

    /// The source names the index has passages of.
    pub(crate) fn indexed_sources(&self) -> Result<Vec<String>> {
        let searcher = self.reader.searcher();
        let mut names = std::collections::BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.source).map_err(|e| self.err(e))?;
            let mut stream =
                inverted.terms().stream().map_err(|e| self.err(tantivy::TantivyError::SystemError(e.to_string())))?;
            while stream.advance() {
                // A deleted passage's terms stay until a merge: count live passages.
                let name = String::from_utf8_lossy(stream.key()).into_owned();
                let query = TermQuery::new(self.source_term(&name), IndexRecordOption::Basic);
                if searcher.search(&query, &tantivy::collector::Count).map_err(|e| self.err(e))? > 0 {
                    names.insert(name);
                }
            }
        }
        Ok(names.into_iter().collect())
    }

    /// Passages in the index (live ones).
    pub(crate) fn passages(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    fn stored(&self, doc: &TantivyDocument) -> Stored {
        let f = &self.fields;
        let text = |field: Field| doc.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Stored {
            id: text(f.id),
            file: text(f.file),
            doc: text(f.doc),
            entry: text(f.entry),
            source: text(f.source),
            path: text(f.path),
            title: text(f.title),
            heading: text(f.heading),
            body: text(f.body),
            passage: doc.get_first(f.passage).and_then(|v| v.as_u64()).unwrap_or_default(),
        }
    }

    /// The best `limit` passages for `query`, from the sources in `sources` only. Parsed
    /// leniently (any text is a query: what cannot be parsed is left out), or if `strict` as
    /// tantivy's grammar says, else [`Error::BadQuery`] with what is wrong and where.
    pub(crate) fn search(&self, query: &str, sources: &[String], limit: usize, strict: bool) -> Result<Vec<RawHit>> {
        let f = self.fields;
        let mut parser = QueryParser::for_index(&self.index, vec![f.title, f.heading, f.body]);
        parser.set_field_boost(f.title, TITLE_BOOST);
        parser.set_field_boost(f.heading, HEADING_BOOST);
        let parsed = if strict {
            parser.parse_query(query).map_err(|e| {
                // The strict parser names no position; the lenient one's errors do.
                let (_, lenient) = parser.parse_query_lenient(query);
                let why = match (lenient.first(), operators(query)) {
                    (Some(first), _) => first.to_string(),
                    (None, Some(found)) => {
                        format!("the query syntax does not accept it as it is (it reads {found} as syntax)")
                    }
                    (None, None) => e.to_string(),
                };
                Error::BadQuery { query: query.to_owned(), why }
            })?
        } else {
            parser.parse_query_lenient(query).0
        };
        let allowed: Vec<(Occur, Box<dyn Query>)> = sources
            .iter()
            .map(|s| {
                let q: Box<dyn Query> = Box::new(TermQuery::new(self.source_term(s), IndexRecordOption::Basic));
                (Occur::Should, q)
            })
            .collect();
        let filtered = BooleanQuery::new(vec![
            (Occur::Must, parsed.box_clone()),
            (Occur::Must, Box::new(BooleanQuery::new(allowed))),
        ]);
        let searcher = self.reader.searcher();
        let top =
            searcher.search(&filtered, &TopDocs::with_limit(limit.max(1)).order_by_score()).map_err(|e| self.err(e))?;
        let mut snippets = SnippetGenerator::create(&searcher, &*parsed, f.body).map_err(|e| self.err(e))?;
        snippets.set_max_num_chars(240);
        let mut hits = Vec::with_capacity(top.len());
        for (score, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(|e| self.err(e))?;
            let stored = self.stored(&doc);
            let snippet = snippets.snippet(&stored.body);
            let (fragment, highlights) = if snippet.is_empty() {
                let end = stored.body.char_indices().nth(240).map_or(stored.body.len(), |(i, _)| i);
                (stored.body[..end].to_owned(), Vec::new())
            } else {
                (snippet.fragment().to_owned(), snippet.highlighted().iter().map(|r| (r.start, r.end)).collect())
            };
            hits.push(RawHit { score, stored, fragment, highlights });
        }
        Ok(hits)
    }

    /// The passages whose `field` is `value`, in file order.
    pub(crate) fn by_term(&self, field: Field, value: &str) -> Result<Vec<Stored>> {
        let searcher = self.reader.searcher();
        let query = TermQuery::new(Term::from_field_text(field, value), IndexRecordOption::Basic);
        let top = searcher.search(&query, &TopDocs::with_limit(100_000).order_by_score()).map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(top.len());
        for (_, address) in top {
            let doc: TantivyDocument = searcher.doc(address).map_err(|e| self.err(e))?;
            out.push(self.stored(&doc));
        }
        out.sort_by_key(|s| s.passage);
        Ok(out)
    }

    pub(crate) fn document(
        &self,
        passage: &crate::Passage,
        file: &str,
        hash: &str,
        ctx: DocContext<'_>,
    ) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, format!("{file}-{}", ctx.number));
        doc.add_text(f.file, file);
        doc.add_text(f.doc, ctx.doc);
        doc.add_text(f.entry, ctx.entry);
        doc.add_text(f.source, ctx.source);
        doc.add_text(f.path, ctx.path);
        doc.add_text(f.title, ctx.title);
        doc.add_text(f.heading, &passage.heading);
        doc.add_text(f.body, &passage.text);
        doc.add_u64(f.passage, ctx.number);
        doc.add_text(f.hash, hash);
        doc
    }
}

/// What a passage's index document carries besides the passage.
pub(crate) struct DocContext<'a> {
    pub(crate) source: &'a str,
    pub(crate) path: &'a str,
    /// The document's key (the file's for a plain file).
    pub(crate) doc: &'a str,
    /// The article's path in its archive, or empty.
    pub(crate) entry: &'a str,
    pub(crate) title: &'a str,
    pub(crate) number: u64,
}

/// The characters the query syntax reads as operators (tantivy's grammar).
const OPERATORS: &[char] = &['+', '-', '"', '\'', '`', '(', ')', '[', ']', '{', '}', ':', '^', '~', '*', '!', '\\'];

/// The first operators in `query` with their byte positions (`' at 4, ? …`), for an error
/// that points at them when the parser names no position itself.
fn operators(query: &str) -> Option<String> {
    let found: Vec<String> = query
        .char_indices()
        .filter(|(_, c)| OPERATORS.contains(c))
        .take(3)
        .map(|(i, c)| format!("{c} at {i}"))
        .collect();
    (!found.is_empty()).then(|| found.join(", "))
}

#[cfg(test)]
mod tests {
    use super::operators;

    #[test]
    fn operators_are_pointed_at_by_position() {
        assert_eq!(operators("what's a tempfile?").as_deref(), Some("' at 4"));
        assert_eq!(operators("a - b (c").as_deref(), Some("- at 2, ( at 6"));
        assert_eq!(operators("plain words"), None);
    }
}
