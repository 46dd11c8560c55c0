//! Files to documents: the format from the file's name (and, without a known extension, its
//! bytes), the readable text split into sections at headings, and sections into passages of at
//! most [`MAX_PASSAGE`] bytes that keep their heading.
//!
//! Pure functions of the bytes: no files are opened here, so every rule is unit-tested.

use std::path::Path;

/// The longest passage, in bytes of text (about 300 English words). A section longer than this
/// is cut at paragraph breaks, a paragraph longer than this at a space.
pub const MAX_PASSAGE: usize = 2000;

/// The largest file read; a larger one is skipped (a log or a data dump, not a document).
pub const MAX_FILE: u64 = 64 << 20;

/// The most text kept of a PDF (the rest is cut, and the text says so). It also bounds what the
/// PDF reader may unpack (32 times this) and go through (64 times this): see [`sov_pdf`].
pub const MAX_PDF_TEXT: usize = 8 << 20;

/// A format this crate reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Markdown: sections at `#` headings (outside fenced code).
    Markdown,
    /// Plain text: one section.
    Text,
    /// HTML: its readable text ([`sov_html::readable_marked`]), sections at `<h1>`–`<h6>`.
    Html,
    /// Source code, as text: one section.
    Code,
    /// A Kiwix ZIM archive (`.zim`, or the first part `.zimaa` of a split one): many documents,
    /// read by [`crate::zim`], never loaded whole.
    Zim,
    /// A MediaWiki XML dump (`.xml`, `.xml.bz2`): many documents, streamed by
    /// [`crate::mediawiki`].
    MediaWiki,
    /// PDF: the text of its pages ([`sov_pdf`]), one section; its title from its info.
    Pdf,
}

impl Format {
    /// Whether a file of this format holds many documents and is streamed (no size limit, not
    /// read into memory), rather than read whole as one document.
    pub fn is_container(self) -> bool {
        matches!(self, Format::Zim | Format::MediaWiki)
    }
}

/// Why a file was not indexed; shown to the user with the file's path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Skip {
    /// Not a format this crate reads (by extension, or binary bytes without one).
    #[error("unknown format ({0})")]
    UnknownFormat(String),
    /// Text that is not UTF-8.
    #[error("not UTF-8 (invalid byte at offset {0})")]
    NotUtf8(usize),
    /// A NUL byte in what should be text.
    #[error("binary content (a NUL byte at offset {0})")]
    Binary(usize),
    /// Larger than [`MAX_FILE`].
    #[error("too large ({0} bytes; at most {MAX_FILE} are read)")]
    TooLarge(u64),
    /// An HTML file cut short: it ends inside a tag or a comment, or opens `<html>` and never
    /// closes it.
    #[error("truncated HTML ({0})")]
    TruncatedHtml(&'static str),
    /// The file could not be read.
    #[error("unreadable ({0})")]
    Unreadable(String),
    /// A PDF that gives no text: malformed, encrypted, scanned (no text layer), or one that
    /// would make the parser unpack or go through too much.
    #[error("unreadable PDF: {0}")]
    Pdf(String),
    /// A MediaWiki dump that cannot be read: broken XML, cut short, or not a dump.
    #[error("bad MediaWiki dump: {0}")]
    MediaWiki(String),
    /// A ZIM archive that cannot be read: damaged, cut short, or not a ZIM archive.
    #[error("bad ZIM archive: {0}")]
    Zim(String),
}

/// A document's readable text, in sections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The title: the HTML `<title>`, else the first level-1 heading, else the file name.
    pub title: String,
    /// The sections, in order.
    pub sections: Vec<Section>,
}

/// The text under one heading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// The headings above this text below the title, outermost first, joined by ` > `; empty
    /// for text before the first heading.
    pub heading: String,
    /// The text, paragraphs separated by blank lines.
    pub text: String,
}

/// A passage: what a search result points to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Passage {
    /// The section's heading.
    pub heading: String,
    /// At most [`MAX_PASSAGE`] bytes of the section's text.
    pub text: String,
}

const MARKDOWN: [&str; 5] = ["md", "markdown", "mdown", "mkd", "mdx"];
const TEXT: [&str; 7] = ["txt", "text", "rst", "org", "adoc", "asciidoc", "tex"];
const HTML: [&str; 3] = ["html", "htm", "xhtml"];
const CODE: [&str; 58] = [
    "rs", "py", "pyi", "c", "h", "cc", "cpp", "cxx", "hpp", "hh", "js", "mjs", "cjs", "ts", "tsx", "jsx", "go", "java",
    "kt", "kts", "swift", "rb", "php", "pl", "pm", "lua", "sh", "bash", "zsh", "fish", "sql", "toml", "yaml", "yml",
    "json", "ini", "cfg", "conf", "nix", "hs", "ml", "mli", "scala", "cs", "el", "clj", "css", "scss", "vim", "r",
    "jl", "zig", "dart", "ex", "exs", "erl", "proto", "cmake",
];
/// Code files known by their whole name.
const CODE_NAMES: [&str; 6] = ["Makefile", "Dockerfile", "CMakeLists.txt", "Cargo.lock", "Justfile", "Rakefile"];

/// The format of a file named `path` whose content starts with `head`.
pub fn format_of(path: &Path, head: &[u8]) -> Result<Format, Skip> {
    let name = path.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    if CODE_NAMES.contains(&name.as_ref()) {
        return Ok(Format::Code);
    }
    let Some(ext) = path.extension().map(|e| e.to_string_lossy().to_ascii_lowercase()) else {
        // No extension (README, LICENSE, notes): text if it looks like text.
        return match head.iter().position(|&b| b == 0) {
            Some(_) => Err(Skip::UnknownFormat("no extension, binary content".into())),
            None => Ok(Format::Text),
        };
    };
    let ext = ext.as_str();
    if MARKDOWN.contains(&ext) {
        Ok(Format::Markdown)
    } else if TEXT.contains(&ext) {
        Ok(Format::Text)
    } else if HTML.contains(&ext) {
        Ok(Format::Html)
    } else if CODE.contains(&ext) {
        Ok(Format::Code)
    } else if ext == "xml" || (ext == "bz2" && name.to_ascii_lowercase().ends_with(".xml.bz2")) {
        Ok(Format::MediaWiki)
    } else if ext == "pdf" {
        Ok(Format::Pdf)
    } else if ext == "zim" || ext == "zimaa" {
        Ok(Format::Zim)
    } else {
        Err(Skip::UnknownFormat(format!(".{ext}")))
    }
}

/// The document in `bytes`, a file named `path` (its name gives the format and, failing
/// better, the title).
pub fn extract(path: &Path, bytes: &[u8]) -> Result<Document, Skip> {
    let format = format_of(path, &bytes[..bytes.len().min(8192)])?;
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if format == Format::Pdf {
        return pdf(bytes, &file_name);
    }
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(Skip::Binary(at));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Skip::NotUtf8(e.valid_up_to()))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let document = match format {
        Format::Markdown => markdown(text, &file_name),
        Format::Text | Format::Code => plain(text, &file_name),
        Format::Html => html(text, &file_name)?,
        Format::Pdf | Format::Zim | Format::MediaWiki => {
            return Err(Skip::UnknownFormat("an archive is read by its own reader".into()));
        }
    };
    Ok(document)
}

/// The document in an HTML page (`bytes`), titled `title` (an archive's entry title; the
/// page's `<title>` is not used).
pub fn html_article(bytes: &[u8], title: &str) -> Result<Document, Skip> {
    if let Some(at) = bytes.iter().position(|&b| b == 0) {
        return Err(Skip::Binary(at));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| Skip::NotUtf8(e.valid_up_to()))?;
    let mut document = html(text.strip_prefix('\u{feff}').unwrap_or(text), title)?;
    title.clone_into(&mut document.title);
    Ok(document)
}

/// HTML's readable text, in sections at its headings; its `<title>` or else `fallback`.
fn html(text: &str, fallback: &str) -> Result<Document, Skip> {
    truncated_html(text).map_or(Ok(()), |why| Err(Skip::TruncatedHtml(why)))?;
    let page = sov_html::readable_marked(text, None);
    let mut document = markdown(&page.text, fallback);
    if !page.title.is_empty() {
        document.title = page.title;
    }
    Ok(document)
}

/// A PDF's text as one section, titled by its info's title or else `file_name`.
fn pdf(bytes: &[u8], file_name: &str) -> Result<Document, Skip> {
    let text = sov_pdf::extract_guarded(bytes, MAX_PDF_TEXT).map_err(|why| Skip::Pdf(why.to_string()))?;
    let mut document = plain(&text.text, file_name);
    if !text.title.is_empty() {
        document.title = text.title;
    }
    Ok(document)
}

/// Why `html` looks cut short, if it does. Parsers accept any prefix of a page, so this looks
/// for what a cut leaves: an unclosed tag or comment at the end, or an `<html>` never closed.
fn truncated_html(html: &str) -> Option<&'static str> {
    let tail = html.trim_end();
    if tail.rfind("<!--").is_some_and(|open| !tail[open..].contains("-->")) {
        return Some("ends inside a comment");
    }
    if tail.rfind('<').is_some_and(|open| !tail[open..].contains('>')) {
        return Some("ends inside a tag");
    }
    let lower = |s: &str| s.to_ascii_lowercase();
    let start = lower(&html[..floor_char(html, 4096)]);
    let end = lower(&tail[floor_char(tail, tail.len().saturating_sub(64))..]);
    if start.contains("<html") && !end.contains("</html>") && !lower(tail).contains("</html>") {
        return Some("no </html> after <html>");
    }
    None
}

/// The largest character boundary of `text` at or before `at`.
fn floor_char(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn plain(text: &str, file_name: &str) -> Document {
    Document { title: file_name.to_owned(), sections: vec![Section { heading: String::new(), text: text.to_owned() }] }
}

/// Markdown split at ATX headings (`#` to `######`), not inside fenced code blocks; titled by
/// its first level-1 heading or else `file_name`.
pub(crate) fn markdown_document(text: &str, file_name: &str) -> Document {
    markdown(text, file_name)
}

/// Markdown split at ATX headings (`#` to `######`), not inside fenced code blocks.
fn markdown(text: &str, file_name: &str) -> Document {
    let mut title = None;
    let mut sections = Vec::new();
    let mut stack: Vec<(usize, String)> = Vec::new();
    let mut current = Section { heading: String::new(), text: String::new() };
    let mut fence: Option<&str> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
        } else if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = Some(&trimmed[..3]);
        } else if let Some((level, heading)) = atx_heading(line) {
            sections.push(std::mem::replace(&mut current, Section { heading: String::new(), text: String::new() }));
            if level == 1 && title.is_none() {
                title = Some(heading);
                stack.clear();
            } else {
                stack.retain(|(l, _)| *l < level);
                stack.push((level, heading));
            }
            current.heading = stack.iter().map(|(_, h)| h.as_str()).collect::<Vec<_>>().join(" > ");
            continue;
        }
        current.text.push_str(line);
        current.text.push('\n');
    }
    sections.push(current);
    sections.retain(|s| !s.text.trim().is_empty());
    for section in &mut sections {
        section.text = section.text.trim().to_owned();
    }
    Document { title: title.unwrap_or_else(|| file_name.to_owned()), sections }
}

/// `## Heading ##` as (2, "Heading"): at most three spaces before, a space (or nothing) after.
fn atx_heading(line: &str) -> Option<(usize, String)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let level = rest.len() - rest.trim_start_matches('#').len();
    let after = &rest[level..];
    if !(1..=6).contains(&level) || !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let heading = after.trim().trim_end_matches('#').trim().trim_end_matches('¶').trim();
    Some((level, heading.to_owned()))
}

/// The document's passages, in order: each section cut at paragraph breaks into pieces of at
/// most [`MAX_PASSAGE`] bytes, each keeping the section's heading.
pub fn passages(document: &Document) -> Vec<Passage> {
    let mut out = Vec::new();
    for section in &document.sections {
        let mut text = String::new();
        for paragraph in section.text.split("\n\n").map(str::trim).filter(|p| !p.is_empty()) {
            for piece in pieces(paragraph, MAX_PASSAGE) {
                if !text.is_empty() && text.len() + 2 + piece.len() > MAX_PASSAGE {
                    out.push(Passage { heading: section.heading.clone(), text: std::mem::take(&mut text) });
                }
                if !text.is_empty() {
                    text.push_str("\n\n");
                }
                text.push_str(piece);
            }
        }
        if !text.is_empty() {
            out.push(Passage { heading: section.heading.clone(), text });
        }
    }
    out
}

/// `text` in pieces of at most `max` bytes, cut at the last whitespace before the limit (or at
/// a character boundary when a piece has none).
fn pieces(mut text: &str, max: usize) -> Vec<&str> {
    let mut out = Vec::new();
    while text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = text[..cut].rfind(char::is_whitespace).filter(|&at| at > 0).unwrap_or(cut);
        out.push(text[..cut].trim_end());
        text = text[cut..].trim_start();
    }
    if !text.is_empty() {
        out.push(text);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;

    fn section(heading: &str, text: &str) -> Section {
        Section { heading: heading.into(), text: text.into() }
    }

    #[test]
    fn markdown_is_split_at_headings_outside_code_and_keeps_the_heading_path() {
        let md = "intro line\n\n# Garden\n\nsoil\n\n## Tomatoes ##\n\nwater daily\n\n```sh\n# not a heading\n```\n\n\
                  ### Pests\n\naphids\n\n## Beans\n\nclimb\n#hashtag is text\n";
        let doc = extract(Path::new("notes/garden.md"), md.as_bytes()).unwrap();
        assert_eq!(doc.title, "Garden");
        assert_eq!(
            doc.sections,
            vec![
                section("", "intro line"),
                section("", "soil"),
                section("Tomatoes", "water daily\n\n```sh\n# not a heading\n```"),
                section("Tomatoes > Pests", "aphids"),
                section("Beans", "climb\n#hashtag is text"),
            ]
        );
    }

    #[test]
    fn html_sections_come_from_its_headings_and_its_title_from_title() {
        let html = "<html><head><title>tempfile — Python</title><script>x()</script></head><body>\
                    <div role=main><h1>tempfile<a class=headerlink href='#t'>¶</a></h1><p>Temporary files.</p>\
                    <h2>Examples</h2><p>Use <code>TemporaryDirectory()</code>.</p></div></body></html>";
        let doc = extract(Path::new("lib/tempfile.html"), html.as_bytes()).unwrap();
        assert_eq!(doc.title, "tempfile — Python");
        assert_eq!(
            doc.sections,
            vec![section("", "Temporary files."), section("Examples", "Use TemporaryDirectory().")]
        );
    }

    #[test]
    fn broken_and_unknown_files_are_skipped_with_a_reason() {
        let skip = |name: &str, bytes: &[u8]| extract(Path::new(name), bytes).unwrap_err();
        assert_eq!(skip("a.md", b"caf\xe9 au lait"), Skip::NotUtf8(3));
        assert_eq!(skip("a.txt", b"ab\0cd"), Skip::Binary(2));
        assert_eq!(skip("a.png", b"\x89PNG"), Skip::UnknownFormat(".png".into()));
        assert_eq!(skip("blob", b"\x7fELF\0\0"), Skip::UnknownFormat("no extension, binary content".into()));
        assert_eq!(skip("a.html", b"<html><body><p>cut here</p><a hr"), Skip::TruncatedHtml("ends inside a tag"));
        assert_eq!(skip("a.html", b"<html><body><p>cut <!-- here"), Skip::TruncatedHtml("ends inside a comment"));
        assert_eq!(skip("a.html", b"<html><body><p>cut here"), Skip::TruncatedHtml("no </html> after <html>"));
        assert_eq!(skip("a.md", b"\xff").to_string(), "not UTF-8 (invalid byte at offset 0)");
        assert!(extract(Path::new("frag.html"), b"<p>a fragment</p>").is_ok());
        // The checks look at the first 4096 and last 64 bytes: a character across either cut is
        // no reason to fail (nor to panic).
        for pad in 0..4 {
            let html = format!("<html><body><p>{}{}</p></body></html>", "x".repeat(pad), "ы".repeat(3000));
            assert!(extract(Path::new("ru.html"), html.as_bytes()).is_ok(), "{pad}");
            let html = format!("<html><body><p>{}{}</p></html>", "ы".repeat(3000), "x".repeat(pad));
            assert!(extract(Path::new("ru.html"), html.as_bytes()).is_ok(), "{pad}");
        }
        assert_eq!(extract(Path::new("README"), b"plain").unwrap().title, "README");
        assert_eq!(format_of(Path::new("x/Makefile"), b""), Ok(Format::Code));
    }

    #[test]
    fn a_pdf_gives_its_title_and_text_and_a_bad_one_a_reason() {
        let pancakes = include_bytes!("../../web/tests/fixtures/pancakes.pdf");
        let doc = extract(Path::new("recipes/pancakes.pdf"), pancakes).unwrap();
        assert_eq!(doc.title, "Pancakes for a Sunday");
        assert!(doc.sections[0].text.contains("Mix two cups of flour"), "{doc:?}");
        let cut = extract(Path::new("cut.pdf"), &pancakes[..pancakes.len() / 2]).unwrap_err();
        assert!(matches!(&cut, Skip::Pdf(why) if !why.is_empty()), "{cut:?}");
        assert!(cut.to_string().starts_with("unreadable PDF: "), "{cut}");
        let garbage = extract(Path::new("x.pdf"), b"%PDF-1.4\n\x00\xff not a pdf").unwrap_err();
        assert!(garbage.to_string().starts_with("unreadable PDF: "), "{garbage}");
    }

    #[test]
    fn long_sections_become_bounded_passages_that_keep_their_heading() {
        let paragraph = "word ".repeat(150); // 750 bytes
        let long = "x".repeat(MAX_PASSAGE * 2 + 10);
        let text = format!("{paragraph}\n\n{paragraph}\n\n{paragraph}\n\n{long}\n\nend");
        let doc = Document { title: "t".into(), sections: vec![section("Deep", &text)] };
        let passages = passages(&doc);
        assert!(passages.iter().all(|p| p.text.len() <= MAX_PASSAGE && p.heading == "Deep"), "{passages:?}");
        let sizes: Vec<usize> = passages.iter().map(|p| p.text.len()).collect();
        assert_eq!(sizes, vec![749 * 2 + 2, 749, MAX_PASSAGE, MAX_PASSAGE, 10 + 2 + 3]);
        let multibyte = "é".repeat(MAX_PASSAGE);
        assert!(pieces(&multibyte, MAX_PASSAGE).iter().all(|p| p.len() <= MAX_PASSAGE && !p.is_empty()));
    }
}
