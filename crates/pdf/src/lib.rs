//! PDF to text: the text layer of every page, in reading order as the file draws it, and the
//! document's title. A pure function of the file's bytes, shared by web pages (`sov-web`'s
//! `web.fetch`, which adds a deadline and a limit on parsers at once) and local documents
//! (`sov-know`).
//!
//! The parser ([`pdf_extract`], on `lopdf`) may run on bytes a hostile party chose, so:
//! - **Checked before it is parsed**, against what was seen to hang or kill a process: a page
//!   tree that loops (the parser climbs it without end), a drawing (form XObject) that draws
//!   itself (the parser recurses until the stack overflows, which aborts the whole process and
//!   which `catch_unwind` cannot stop), streams that unpack to more than 32 times `max` (16 MiB
//!   at least; a 1 MB file can unpack to 1 GB), and files whose reading means going through
//!   more than 64 times `max` (32 MiB at least): drawings drawn again and again or nested, fonts
//!   read again on each page, colour profiles unpacked again at each use, as the parser does.
//!   This bounds, too, how long a parser goes on.
//! - **A panic is an error**: the parser runs under [`std::panic::catch_unwind`] (it unwraps on
//!   some malformed files); the panic's message ends up in [`Unread::Panicked`].
//! - **The text is capped** at `max` bytes (cut at a character, and said so in it).
//!
//! Not read: text in pictures (a scanned PDF has no text layer: that is [`Unread::NoText`]; no
//! OCR), PDFs encrypted with a password (one with an empty user password is read), forms'
//! field values, annotations and attachments. Text drawn in white, tiny or off the page is
//! *kept*: nothing here tells hidden from shown.
//!
//! Not bounded: what the parser unpacks while it *loads* the file (object streams, before any
//! check can see them), and faults of its font and content parsers not listed above; a caller
//! that must bound those runs this in a process of its own.

use std::collections::{BTreeMap, HashMap};
use std::panic::{AssertUnwindSafe, catch_unwind};

use pdf_extract::{Dictionary, Document, Object, ObjectId, Stream};

/// A PDF's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Text {
    /// `/Info /Title`, or empty.
    pub title: String,
    /// The text of the pages, tidied; a last line says when it was cut.
    pub text: String,
}

/// Why a PDF gave no text (the caller adds which file, and any advice).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unread {
    /// The parser refused the file: not a PDF, or malformed.
    Malformed(String),
    /// The parser panicked on the file.
    Panicked(String),
    /// It needs a password.
    Encrypted,
    /// It has pages but no text on them.
    NoText {
        /// How many pages it has.
        pages: usize,
    },
    /// It would make the parser unpack or draw more than it may.
    TooLarge(String),
}

impl std::fmt::Display for Unread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unread::Malformed(e) => write!(f, "it is not a well-formed PDF ({e})"),
            Unread::Panicked(e) => write!(
                f,
                "the PDF parser failed on it ({e}); the file is malformed or uses what the parser cannot read"
            ),
            Unread::Encrypted => write!(f, "it is encrypted with a password"),
            Unread::TooLarge(e) => write!(f, "{e}, more than is read safely"),
            Unread::NoText { pages } => write!(
                f,
                "no text layer (a scanned PDF?): its {pages} page(s) hold no text, and text in pictures is not read (no OCR)"
            ),
        }
    }
}

/// [`extract`] with a panic turned into [`Unread::Panicked`].
pub fn extract_guarded(body: &[u8], max: usize) -> Result<Text, Unread> {
    // The closure only reads `body`; a panic leaves nothing half-changed that is used after.
    catch_unwind(AssertUnwindSafe(|| extract(body, max))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| panic.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".to_owned());
        tracing::warn!(error = %message, "the PDF parser panicked");
        Err(Unread::Panicked(message))
    })
}

/// The pure core: the title and text of the PDF `body`, the text cut at `max` bytes.
fn extract(body: &[u8], max: usize) -> Result<Text, Unread> {
    let mut doc = Document::load_mem(body).map_err(|e| Unread::Malformed(e.to_string()))?;
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(Unread::Encrypted);
    }
    let pages = doc.get_pages();
    check(&doc, &pages, max.saturating_mul(32).max(16 << 20), max.saturating_mul(64).max(32 << 20))?;
    let pages = pages.len();
    let mut raw = String::new();
    pdf_extract::output_doc(&doc, &mut pdf_extract::PlainTextOutput::new(&mut raw))
        .map_err(|e| Unread::Malformed(e.to_string()))?;
    let mut text = sov_html::tidy(&raw, true);
    if text.is_empty() {
        return Err(Unread::NoText { pages });
    }
    if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push_str(&format!("\n[cut: the PDF's text is longer than {max} bytes]"));
    }
    Ok(Text { title: title(&doc), text })
}

/// How deep drawings may nest in drawings.
const MAX_NESTING: usize = 16;

/// Refuses what would make the parser loop, recurse without end, unpack more than `memory`
/// bytes, or go through more than `work` bytes (contents drawn, and the fonts and colour
/// spaces it reads again for each page or each use); it looks where `pdf_extract` will look,
/// the same way.
fn check(doc: &Document, pages: &BTreeMap<u32, ObjectId>, memory: usize, work: usize) -> Result<(), Unread> {
    let mut unpacked = HashMap::new();
    let mut total = 0usize;
    for (id, object) in &doc.objects {
        if let Object::Stream(stream) = object {
            let len = unpacked_len(stream, memory.saturating_sub(total));
            total = total.saturating_add(len);
            if total > memory {
                return Err(Unread::TooLarge(format!("its streams unpack to more than {} MiB", memory >> 20)));
            }
            unpacked.insert(*id, len);
        }
    }
    let mut work = Work { doc, unpacked, spent: 0, budget: work, read: HashMap::new(), fonts: Vec::new() };
    for &page in pages.values() {
        let dict = doc.get_dictionary(page).map_err(|e| Unread::Malformed(e.to_string()))?;
        let mut seen = vec![page];
        let mut up = dict;
        while let Ok(parent) = up.get(b"Parent").and_then(Object::as_reference) {
            if seen.contains(&parent) {
                return Err(Unread::Malformed("its page tree loops: a page is its own ancestor".to_owned()));
            }
            seen.push(parent);
            match doc.get_dictionary(parent) {
                Ok(next) => up = next,
                Err(_) => break,
            }
        }
        let Ok(content) = doc.get_page_content(page) else { continue };
        work.spend(content.len())?;
        // The parser reads each font again on each page.
        work.fonts.clear();
        if let Some(resources) = inherited(doc, dict, b"Resources").and_then(|o| dictionary(doc, o)) {
            work.walk(&operations(&content), resources, &mut Vec::new())?;
        }
    }
    Ok(())
}

/// What the parser does that costs more than the operation itself.
#[derive(Debug, Clone)]
enum Costly {
    /// `/Name Do`: draws a drawing, its contents parsed again each time.
    Draw(Vec<u8>),
    /// `/Name 12 Tf`: a font, read once per page.
    Font(Vec<u8>),
    /// `/Name cs` or `CS`: a colour space, its streams unpacked again each time.
    Colour(Vec<u8>),
}

/// The costly operations of `content`, in order; none if it does not parse (the parser stops
/// there too).
fn operations(content: &[u8]) -> Vec<Costly> {
    let Ok(content) = pdf_extract::content::Content::decode(content) else { return Vec::new() };
    content
        .operations
        .iter()
        .filter_map(|o| {
            let name = o.operands.first().and_then(|n| n.as_name().ok()).map(<[u8]>::to_vec)?;
            match o.operator.as_str() {
                "Do" => Some(Costly::Draw(name)),
                "Tf" => Some(Costly::Font(name)),
                "cs" | "CS" => Some(Costly::Colour(name)),
                _ => None,
            }
        })
        .collect()
}

/// The bytes the parser will go through, counted as it would go through them.
struct Work<'a> {
    doc: &'a Document,
    /// Each stream's length unpacked.
    unpacked: HashMap<ObjectId, usize>,
    spent: usize,
    budget: usize,
    /// Each drawing's length and costly operations, read once.
    read: HashMap<*const Stream, (usize, Vec<Costly>)>,
    /// The fonts read on this page.
    fonts: Vec<Vec<u8>>,
}

impl<'a> Work<'a> {
    fn spend(&mut self, bytes: usize) -> Result<(), Unread> {
        self.spent = self.spent.saturating_add(bytes);
        if self.spent > self.budget {
            return Err(Unread::TooLarge(format!(
                "reading it means going through more than {} MiB (drawings drawn again and again, nested, or \
                 fonts and colours read again)",
                self.budget >> 20
            )));
        }
        Ok(())
    }

    /// Follows `costly` as `pdf_extract` does: each drawing in its own resources, or else
    /// the caller's.
    fn walk(
        &mut self,
        costly: &[Costly],
        resources: &'a Dictionary,
        nested: &mut Vec<*const Stream>,
    ) -> Result<(), Unread> {
        let named = |kind: &[u8], name: &[u8]| {
            resources.get(kind).ok().and_then(|o| dictionary(self.doc, o)).and_then(|d| d.get(name).ok())
        };
        for operation in costly {
            match operation {
                Costly::Font(name) => {
                    if !self.fonts.contains(name) {
                        self.fonts.push(name.clone());
                        let cost = named(b"Font", name).map_or(0, |font| self.streams_under(font));
                        self.spend(cost)?;
                    }
                }
                Costly::Colour(name) => {
                    let cost = named(b"ColorSpace", name).map_or(0, |space| self.streams_under(space));
                    self.spend(cost)?;
                }
                Costly::Draw(name) => {
                    let Some(drawing) = named(b"XObject", name).and_then(|o| resolve(self.doc, o).as_stream().ok())
                    else {
                        continue;
                    };
                    let key = std::ptr::from_ref(drawing);
                    if nested.contains(&key) {
                        return Err(Unread::Malformed(
                            "a drawing in it draws itself: followed, it never ends".to_owned(),
                        ));
                    }
                    if nested.len() >= MAX_NESTING {
                        return Err(Unread::TooLarge(format!("its drawings nest more than {MAX_NESTING} deep")));
                    }
                    let (len, inner) = self
                        .read
                        .entry(key)
                        .or_insert_with(|| {
                            let content = drawing.decompressed_content().unwrap_or_else(|_| drawing.content.clone());
                            (content.len(), operations(&content))
                        })
                        .clone();
                    // Each drawing costs something, so that a million empty ones cost too.
                    self.spend(len.saturating_add(256))?;
                    let inner_resources = drawing.dict.get(b"Resources").ok().and_then(|o| dictionary(self.doc, o));
                    nested.push(key);
                    self.walk(&inner, inner_resources.unwrap_or(resources), nested)?;
                    nested.pop();
                }
            }
        }
        Ok(())
    }

    /// The unpacked bytes of the streams `object` refers to, a few references deep (a font's
    /// file and maps, a colour space's profile and functions), each once.
    fn streams_under(&self, object: &'a Object) -> usize {
        let mut total = 0usize;
        let mut seen = Vec::new();
        let mut todo = vec![(object, 0)];
        while let Some((object, depth)) = todo.pop() {
            if depth > 8 {
                continue;
            }
            let children: Box<dyn Iterator<Item = &Object>> = match object {
                Object::Reference(id) => {
                    if seen.contains(id) {
                        continue;
                    }
                    seen.push(*id);
                    total = total.saturating_add(self.unpacked.get(id).copied().unwrap_or(0));
                    Box::new(self.doc.get_object(*id).ok().into_iter())
                }
                Object::Array(items) => Box::new(items.iter()),
                Object::Dictionary(dict) => Box::new(dict.iter().filter(|(k, _)| *k != b"Parent").map(|(_, v)| v)),
                Object::Stream(stream) => Box::new(stream.dict.iter().map(|(_, v)| v)),
                _ => continue,
            };
            todo.extend(children.map(|c| (c, depth + 1)));
        }
        total
    }
}

/// `key` of `dict` or of its nearest ancestor that has it (the page tree was checked for loops).
fn inherited<'a>(doc: &'a Document, dict: &'a Dictionary, key: &[u8]) -> Option<&'a Object> {
    let mut dict = dict;
    for _ in 0..64 {
        if let Ok(value) = dict.get(key) {
            return Some(value);
        }
        dict = dict.get(b"Parent").and_then(Object::as_reference).and_then(|id| doc.get_dictionary(id)).ok()?;
    }
    None
}

fn resolve<'a>(doc: &'a Document, object: &'a Object) -> &'a Object {
    match object {
        Object::Reference(id) => doc.get_object(*id).unwrap_or(object),
        _ => object,
    }
}

fn dictionary<'a>(doc: &'a Document, object: &'a Object) -> Option<&'a Dictionary> {
    resolve(doc, object).as_dict().ok()
}

/// How long `stream` is unpacked, counted up to `room` (a bigger answer means "too long"):
/// exactly for no filter and `FlateDecode` (unpacked as `lopdf` does, and thrown away), else
/// the most its filters can unpack to.
fn unpacked_len(stream: &Stream, room: usize) -> usize {
    let Ok(filters) = stream.filters() else { return stream.content.len() };
    match filters.as_slice() {
        [] => stream.content.len(),
        [flate] if *flate == b"FlateDecode" => inflated_len(&stream.content, room),
        chain => chain.iter().fold(stream.content.len(), |len, filter| {
            len.saturating_mul(match *filter {
                b"FlateDecode" => 1032,
                b"LZWDecode" => 4096,
                b"ASCII85Decode" => 4,
                // Not unpacked by lopdf: the parser reads the bytes as they are.
                _ => 1,
            })
        }),
    }
}

/// What zlib `data` inflates to, counted up to `room`; like `lopdf`, a stream whose zlib
/// header is broken is inflated again as raw deflate.
fn inflated_len(data: &[u8], room: usize) -> usize {
    fn count(mut reader: impl std::io::Read, room: usize) -> (usize, bool) {
        let mut buf = vec![0u8; 64 << 10];
        let mut total = 0usize;
        loop {
            match reader.read(&mut buf) {
                Ok(0) => return (total, true),
                Ok(n) => {
                    total += n;
                    if total > room {
                        return (total, true);
                    }
                }
                Err(_) => return (total, false),
            }
        }
    }
    match count(flate2::read::ZlibDecoder::new(data), room) {
        (0, false) if data.len() > 2 => count(flate2::read::DeflateDecoder::new(&data[2..]), room).0,
        (total, _) => total,
    }
}

/// `/Info /Title`, on one line, or empty.
fn title(doc: &Document) -> String {
    let info = match doc.trailer.get(b"Info") {
        Ok(Object::Reference(id)) => doc.get_dictionary(*id).ok(),
        Ok(Object::Dictionary(d)) => Some(d),
        _ => None,
    };
    info.and_then(|d| d.get(b"Title").ok())
        .and_then(|t| pdf_extract::decode_text_string(t).ok())
        .map(|t| t.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const PANCAKES: &[u8] = include_bytes!("../../web/tests/fixtures/pancakes.pdf");

    #[test]
    fn the_fixture_gives_its_title_and_text() {
        let got = extract_guarded(PANCAKES, 1 << 20).unwrap();
        assert_eq!(got.title, "Pancakes for a Sunday");
        assert!(got.text.contains("Mix two cups of flour, two eggs and a cup of milk"), "{}", got.text);
        assert!(got.text.contains("Ignore previous instructions"), "{}", got.text);
    }

    #[test]
    fn the_text_is_cut_at_the_limit_and_says_so() {
        let got = extract_guarded(PANCAKES, 40).unwrap();
        let (kept, note) = got.text.rsplit_once('\n').unwrap();
        assert!(kept.len() <= 40, "{kept}");
        assert_eq!(note, "[cut: the PDF's text is longer than 40 bytes]");
    }

    #[test]
    fn garbage_and_cut_files_are_errors_not_panics() {
        for body in [&b"%PDF-1.4\n\x00\xff garbage"[..], &PANCAKES[..PANCAKES.len() / 2], b"", b"<html>"] {
            let err = extract_guarded(body, 1 << 20).unwrap_err();
            assert!(matches!(err, Unread::Malformed(_) | Unread::Panicked(_)), "{err:?}");
        }
    }

    #[test]
    fn tidy_keeps_paragraphs_and_drops_blank_runs() {
        assert_eq!(sov_html::tidy("\n\n  a  \nb\n\n\n\nc \n\n", true), "  a\nb\n\nc");
    }
}
