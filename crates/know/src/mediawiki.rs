//! MediaWiki XML dumps (`pages-articles.xml`, and `.xml.bz2` as the dumps are published): each
//! `<page>` of namespace 0 (articles) that is not a redirect is a document, its wikitext turned
//! into plain text in sections at its `== headings ==`.
//!
//! The dump is **streamed**: [`Pages`] reads it as XML events (quick-xml) from any reader (a
//! file, a bzip2 stream), so memory holds one page at a time, never the file; one page may be
//! at most [`MAX_PAGE`] bytes of XML (a longer one is an error, not an allocation). A dump cut
//! short, or broken XML, is an error naming the page it was in ([`WikiError`]).
//!
//! Wikitext to text ([`wikitext`], a pure function) keeps what a reader reads: templates
//! (`{{…}}`, nested), tables (`{| … |}`), references (`<ref>…</ref>`), comments, files,
//! pictures and categories are dropped; `[[target|label]]` becomes its label, `[[target]]`
//! its target, `[https://… label]` its label; `'''bold'''` and `''italic''` lose their quotes;
//! list markers go; other tags go and keep their text. It is a reader's approximation, not
//! MediaWiki's parser: a template's own text (an infobox's values) is not expanded.

use std::io::BufRead;

use quick_xml::events::Event;

use crate::extract::{Document, MAX_FILE};

/// The most bytes of XML one page may take.
pub const MAX_PAGE: u64 = MAX_FILE;

/// Why a dump could not be read (the caller adds the file's name).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WikiError {
    /// The first element is not `<mediawiki>`.
    #[error("not a MediaWiki XML dump (its first element is <{0}>)")]
    NotADump(String),
    /// The XML is broken (or the file cut inside a tag).
    #[error("broken XML at byte {at} (after {pages} pages): {why}")]
    Xml {
        /// Where, in the XML.
        at: u64,
        /// Pages read before.
        pages: u64,
        /// What the XML reader said.
        why: String,
    },
    /// The file (or its bzip2 stream) could not be read on.
    #[error("unreadable after {pages} pages ({why})")]
    Read {
        /// Pages read before.
        pages: u64,
        /// What the reader said.
        why: String,
    },
    /// The dump ends before `</mediawiki>`.
    #[error("cut short: it ends {0}")]
    Truncated(String),
}

/// A page of namespace 0 that is not a redirect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// Its title.
    pub title: String,
    /// Its wikitext (the last revision's).
    pub text: String,
}

/// The articles of a dump, one at a time.
pub struct Pages<R: BufRead> {
    reader: quick_xml::Reader<Bounded<R>>,
    buf: Vec<u8>,
    started: bool,
    done: bool,
    pages: u64,
}

impl<R: BufRead> Pages<R> {
    /// The pages of the dump `reader` reads.
    pub fn new(reader: R) -> Pages<R> {
        let mut reader = quick_xml::Reader::from_reader(Bounded { inner: reader, since: 0 });
        reader.config_mut().trim_text(false);
        Pages { reader, buf: Vec::new(), started: false, done: false, pages: 0 }
    }

    /// The next page of any kind: its title, namespace, whether it redirects, its text.
    fn next_page(&mut self) -> Result<Option<(String, String, bool, String)>, WikiError> {
        #[derive(PartialEq)]
        enum In {
            Nothing,
            Title,
            Ns,
            Text,
        }
        let mut in_page = false;
        let mut field = In::Nothing;
        let (mut title, mut ns, mut redirect, mut text) = (String::new(), String::new(), false, String::new());
        loop {
            self.buf.clear();
            let event = self.reader.read_event_into(&mut self.buf);
            let (at, pages) = (self.reader.buffer_position(), self.pages);
            let xml_error = |why: &dyn std::fmt::Display| WikiError::Xml { at, pages, why: why.to_string() };
            let event = event.map_err(|e| match e {
                // The reader failed (a bzip2 stream cut or damaged, a page too long, a disk error).
                quick_xml::Error::Io(io) => WikiError::Read { pages, why: io.to_string() },
                e => xml_error(&e),
            })?;
            let target = match field {
                In::Title => Some(&mut title),
                In::Ns => Some(&mut ns),
                In::Text => Some(&mut text),
                In::Nothing => None,
            };
            match event {
                Event::Start(e) | Event::Empty(e) if !self.started => {
                    let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
                    if name != "mediawiki" {
                        return Err(WikiError::NotADump(name));
                    }
                    self.started = true;
                }
                Event::Start(e) => match e.local_name().as_ref() {
                    b"page" => {
                        in_page = true;
                        self.reader.get_mut().since = 0;
                    }
                    b"title" if in_page => field = In::Title,
                    b"ns" if in_page => field = In::Ns,
                    b"text" if in_page => field = In::Text,
                    b"redirect" if in_page => redirect = true,
                    _ => {}
                },
                Event::Empty(e) if in_page && e.local_name().as_ref() == b"redirect" => redirect = true,
                Event::Text(t) => {
                    if let Some(target) = target {
                        target.push_str(&t.decode().map_err(|e| xml_error(&e))?);
                    }
                }
                Event::CData(t) => {
                    if let Some(target) = target {
                        target.push_str(&t.decode().map_err(|e| xml_error(&e))?);
                    }
                }
                Event::GeneralRef(r) => {
                    if let Some(target) = target {
                        match r.resolve_char_ref().map_err(|e| xml_error(&e))? {
                            Some(c) => target.push(c),
                            None => {
                                let name = r.decode().map_err(|e| xml_error(&e))?;
                                let known = quick_xml::escape::resolve_predefined_entity(&name)
                                    .ok_or_else(|| xml_error(&format!("unknown entity &{name};")))?;
                                target.push_str(known);
                            }
                        }
                    }
                }
                Event::End(e) => match e.local_name().as_ref() {
                    b"page" => {
                        self.pages += 1;
                        return Ok(Some((title, ns, redirect, text)));
                    }
                    b"mediawiki" => {
                        self.done = true;
                        return Ok(None);
                    }
                    _ => field = In::Nothing,
                },
                Event::Eof => {
                    self.done = true;
                    return Err(WikiError::Truncated(if !self.started {
                        "before its first element (an empty file?)".into()
                    } else if in_page {
                        format!("inside page {} ({title:?})", self.pages + 1)
                    } else {
                        format!("after page {} without </mediawiki>", self.pages)
                    }));
                }
                _ => {}
            }
        }
    }
}

impl<R: BufRead> Iterator for Pages<R> {
    type Item = Result<Page, WikiError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            match self.next_page() {
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Ok(None) => return None,
                Ok(Some((title, ns, redirect, text))) => {
                    let redirect =
                        redirect || text.trim_start().get(..9).is_some_and(|s| s.eq_ignore_ascii_case("#redirect"));
                    if ns.trim() == "0" && !redirect {
                        return Some(Ok(Page { title, text }));
                    }
                }
            }
        }
        None
    }
}

/// A reader that fails once more than [`MAX_PAGE`] bytes are read since the last page began
/// (`since` is reset there), so that one huge page is an error rather than an allocation.
struct Bounded<R> {
    inner: R,
    since: u64,
}

impl<R: BufRead> std::io::Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let available = self.fill_buf()?;
            let n = available.len().min(buf.len());
            buf[..n].copy_from_slice(&available[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Bounded<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.since > MAX_PAGE {
            return Err(std::io::Error::other(format!("a page longer than {} MiB of XML", MAX_PAGE >> 20)));
        }
        self.inner.fill_buf()
    }
    fn consume(&mut self, amount: usize) {
        self.since += amount as u64;
        self.inner.consume(amount);
    }
}

/// The document of the page `title` whose wikitext is `src`.
pub fn wikitext(title: &str, src: &str) -> Document {
    let text = drop_between(src, "<!--", "-->");
    let text = drop_refs(&text);
    let text = drop_nested(&text);
    let text = strip_tags(&text);
    let text = links(&text);
    let text = text.replace("'''", "").replace("''", "");
    let text = text
        .replace("&nbsp;", " ")
        .replace("&ndash;", "–")
        .replace("&mdash;", "—")
        .replace("&amp;", "&")
        .replace("__TOC__", "")
        .replace("__NOTOC__", "");
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some((level, heading)) = heading(trimmed) {
            out.push('\n');
            out.push_str(&"#".repeat(level));
            out.push(' ');
            out.push_str(heading);
            out.push_str("\n\n");
            continue;
        }
        // List markers (`*`, `#`, `:`, `;`) go: `#` would read as a heading.
        let item = trimmed.trim_start_matches(['*', '#', ':', ';']);
        if item.len() != trimmed.len() {
            out.push_str(item.trim_start());
        } else {
            out.push_str(line.trim_end());
        }
        out.push('\n');
    }
    let mut document = crate::extract::markdown_document(&out, title);
    title.clone_into(&mut document.title);
    document
}

/// `== Heading ==` as (2, "Heading"): as many `=` on both sides, 2 to 6.
fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.len() - line.trim_start_matches('=').len();
    let closing = line.len() - line.trim_end_matches('=').len();
    if !(2..=6).contains(&level) || closing != level || line.len() <= 2 * level {
        return None;
    }
    let inner = line[level..line.len() - level].trim();
    (!inner.is_empty()).then_some((level, inner))
}

/// `text` without everything from each `open` to the next `close` (to the end if none).
fn drop_between(text: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find(open) {
        out.push_str(&rest[..at]);
        rest = rest[at + open.len()..].find(close).map_or("", |end| &rest[at + open.len() + end + close.len()..]);
    }
    out.push_str(rest);
    out
}

/// `text` without `<ref …>…</ref>`, `<ref … />` and `<references … />`.
fn drop_refs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("<ref") {
        out.push_str(&rest[..at]);
        let tag = &rest[at..];
        let Some(end) = tag.find('>') else {
            rest = "";
            break;
        };
        rest = if tag[..end].ends_with('/') {
            &tag[end + 1..]
        } else {
            let body = &tag[end + 1..];
            body.find("</ref>").map_or(body, |close| &body[close + "</ref>".len()..])
        };
    }
    out.push_str(rest);
    out
}

/// `text` without templates `{{…}}` and tables `{|…|}`, nested in each other or not.
fn drop_nested(text: &str) -> String {
    #[derive(PartialEq)]
    enum Open {
        Template,
        Table,
    }
    let mut out = String::with_capacity(text.len());
    let mut stack: Vec<Open> = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        if rest.starts_with("{{") {
            stack.push(Open::Template);
            rest = &rest[2..];
        } else if rest.starts_with("{|") {
            stack.push(Open::Table);
            rest = &rest[2..];
        } else if (rest.starts_with("}}") && stack.last() == Some(&Open::Template))
            || (rest.starts_with("|}") && stack.last() == Some(&Open::Table))
        {
            stack.pop();
            rest = &rest[2..];
        } else {
            let c = rest.chars().next().unwrap_or(' ');
            if stack.is_empty() {
                out.push(c);
            }
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

/// `text` without HTML-like tags (their text is kept), and without what `<math>`, `<gallery>`
/// and similar hold.
fn strip_tags(text: &str) -> String {
    let mut text = text.to_owned();
    for name in ["math", "gallery", "timeline", "score", "syntaxhighlight", "source", "imagemap"] {
        text = drop_between(&text, &format!("<{name}"), &format!("</{name}>"));
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(at) = rest.find('<') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let is_tag = after.starts_with(|c: char| c.is_ascii_alphabetic() || c == '/');
        match after.find('>') {
            Some(end) if is_tag && !after[..end].contains('\n') => rest = &after[end + 1..],
            _ => {
                out.push('<');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Namespaces whose links are not text: files, pictures, categories.
const NOT_TEXT: [&str; 6] = ["file:", "image:", "category:", "media:", "файл:", "категорыя:"];

/// `[[target|label]]` as its label, `[[target]]` as its target, files and categories dropped;
/// `[url label]` as its label.
fn links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('[') {
        out.push_str(&rest[..at]);
        let after = &rest[at..];
        if let Some(inner) = after.strip_prefix("[[") {
            // The matching `]]`, counting nested links (a picture's caption holds links).
            let (mut depth, mut end) = (1usize, None);
            let mut i = 0;
            let b = inner.as_bytes();
            while i + 1 < b.len() {
                if b[i] == b'[' && b[i + 1] == b'[' {
                    depth += 1;
                    i += 2;
                } else if b[i] == b']' && b[i + 1] == b']' {
                    depth -= 1;
                    if depth == 0 {
                        end = Some(i);
                        break;
                    }
                    i += 2;
                } else {
                    i += 1;
                }
            }
            let Some(end) = end else {
                out.push_str(inner);
                rest = "";
                break;
            };
            let link = &inner[..end];
            rest = &inner[end + 2..];
            // `[[:Category:Bees]]` (a colon first) is a link shown as text, not a category.
            let lower = link.to_lowercase();
            if NOT_TEXT.iter().any(|ns| lower.starts_with(ns)) {
                continue;
            }
            let label = link.rsplit_once('|').map_or(link, |(_, label)| label);
            out.push_str(&links(label.trim_start_matches(':')));
        } else if after[1..].starts_with("http://")
            || after[1..].starts_with("https://")
            || after[1..].starts_with("//")
        {
            match after.find(']') {
                Some(end) => {
                    let inner = &after[1..end];
                    if let Some((_, label)) = inner.split_once(' ') {
                        out.push_str(label.trim());
                    }
                    rest = &after[end + 1..];
                }
                None => {
                    out.push('[');
                    rest = &after[1..];
                }
            }
        } else {
            out.push('[');
            rest = &after[1..];
        }
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use pretty_assertions::assert_eq;

    use super::*;
    use crate::extract::Section;

    fn section(heading: &str, text: &str) -> Section {
        Section { heading: heading.into(), text: text.into() }
    }

    #[test]
    fn wikitext_keeps_what_a_reader_reads_in_sections_at_its_headings() {
        let src = "{{Infobox bird\n| name = {{lang|la|Apis}}\n| image = Bee.jpg\n}}\n\
                   The '''honey bee''' is an [[insect]] of the genus [[Apis (genus)|''Apis'']].<ref name=\"a\">{{cite book|title=Bees}}</ref> \
                   It makes [[honey]]s.<ref name=\"a\"/><!-- hidden note -->\n\n\
                   [[File:Bee.jpg|thumb|A bee on a [[flower]].]]\n\
                   == Life ==\nA colony has a queen.\n\n=== Workers ===\n* Workers gather [https://example.org nectar].\n# They <small>dance</small>.\n\n\
                   {| class=\"wikitable\"\n|-\n| cell {{tmpl}} || other\n|}\n\
                   == See also ==\n[[Wasp]] &nbsp;and [[:Category:Bees]]\n[[Category:Insects]]\n";
        let doc = wikitext("Honey bee", src);
        assert_eq!(doc.title, "Honey bee");
        assert_eq!(
            doc.sections,
            vec![
                section("", "The honey bee is an insect of the genus Apis. It makes honeys."),
                section("Life", "A colony has a queen."),
                section("Life > Workers", "Workers gather nectar.\nThey dance."),
                section("See also", "Wasp  and Category:Bees"),
            ]
        );
    }

    #[test]
    fn unclosed_markup_does_not_swallow_or_break_the_text() {
        let doc = wikitext("T", "a {{open template\n\nb");
        assert_eq!(doc.sections, vec![section("", "a")], "an unclosed template runs to the end");
        let doc = wikitext("T", "x < y and [[open link");
        assert_eq!(doc.sections, vec![section("", "x < y and open link")]);
        let doc = wikitext("T", "== ==\n=\n'''");
        assert!(doc.sections.iter().all(|s| !s.heading.contains('=')), "{doc:?}");
    }

    const DUMP: &str = r#"<mediawiki xmlns="http://www.mediawiki.org/xml/export-0.10/" version="0.10">
  <siteinfo><sitename>Test</sitename></siteinfo>
  <page><title>Bees &amp; wasps</title><ns>0</ns><id>1</id>
    <revision><id>10</id><text xml:space="preserve">'''Bees''' &lt;ref&gt;x&lt;/ref&gt;fly &#x263A;.</text></revision></page>
  <page><title>Bee</title><ns>0</ns><id>2</id><redirect title="Bees &amp; wasps" />
    <revision><id>11</id><text>#REDIRECT [[Bees &amp; wasps]]</text></revision></page>
  <page><title>Talk:Bees</title><ns>1</ns><id>3</id><revision><id>12</id><text>talk</text></revision></page>
  <page><title>Old</title><ns>0</ns><id>4</id><revision><id>13</id><text>#redirect [[Bees]]</text></revision></page>
  <page><title>Empty</title><ns>0</ns><id>5</id><revision><id>14</id><text bytes="0" /></revision></page>
</mediawiki>
"#;

    #[test]
    fn a_dump_gives_its_articles_not_its_redirects_or_other_namespaces() {
        let pages: Vec<Page> = Pages::new(DUMP.as_bytes()).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            pages,
            vec![
                Page { title: "Bees & wasps".into(), text: "'''Bees''' <ref>x</ref>fly ☺.".into() },
                Page { title: "Empty".into(), text: String::new() },
            ]
        );
        assert_eq!(wikitext(&pages[0].title, &pages[0].text).sections, vec![section("", "Bees fly ☺.")]);
    }

    #[test]
    fn a_cut_or_broken_dump_is_an_error_naming_where() {
        let cut = &DUMP[..DUMP.find("<page><title>Talk").unwrap() + 20];
        let results: Vec<_> = Pages::new(cut.as_bytes()).collect();
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(results[0].is_ok());
        assert_eq!(results[1], Err(WikiError::Truncated("inside page 3 (\"Talk:Be\")".into())));
        let broken = DUMP.replace("</title><ns>1", "</titel><ns>1");
        let last = Pages::new(broken.as_bytes()).last().unwrap();
        assert!(matches!(&last, Err(WikiError::Xml { pages: 2, .. })), "{last:?}");
        let other = Pages::new(&b"<html><body/></html>"[..]).next().unwrap();
        assert_eq!(other, Err(WikiError::NotADump("html".into())));
        for cut in (0..DUMP.len()).step_by(7) {
            // Every cut gives pages and then an error, never a panic nor a hang.
            let results: Vec<_> = Pages::new(&DUMP.as_bytes()[..cut]).collect();
            assert!(results.last().is_none_or(Result::is_err) || cut >= DUMP.trim_end().len(), "{cut}");
        }
    }
}
