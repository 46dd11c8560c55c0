//! HTML to readable text: what a person sees on the page, without what they do not.
//!
//! Dropped: `script`, `style`, `template`, `noscript`, `head` (its title is kept), embedded
//! objects, forms' hidden inputs, comments; every element that is hidden — the `hidden`
//! attribute, `aria-hidden="true"`, and inline or `<style>`-sheet rules (simple selectors) with
//! `display: none`, `visibility: hidden`, `font-size: 0`, `opacity: 0`, zero width or height,
//! `clip`/`clip-path` to nothing, positions far off screen, or the same colour for text and
//! background. The main content is taken from `<main>` or `<article>` when the page has one,
//! and navigation, headers, footers and asides around it are left out. Links are numbered in the
//! text (`label [3]`) and listed, absolute, after it.
//!
//! Not seen: styles from external sheets, classes set by scripts, text drawn in images, and
//! colours that differ only slightly. Such hidden text stays in the text; `sov-web`'s
//! instruction flags still apply to it.
//!
//! [`readable_marked`] instead marks headings the Markdown way (`## Heading` for an `<h2>`), so
//! a document can be split into sections at them (local knowledge, `sov-know`).
//!
//! This crate reads a string and returns a string: no files, no network, no `unsafe`.

use std::collections::HashSet;

use scraper::{ElementRef, Html, Node, Selector};
use url::Url;

/// A page as text.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Readable {
    /// The `<title>`.
    pub title: String,
    /// The visible main text, paragraphs separated by blank lines.
    pub text: String,
    /// The links in the text, in order: `[n]` in the text is `links[n - 1]`.
    pub links: Vec<Link>,
    /// How many hidden elements were dropped.
    pub hidden_dropped: usize,
}

/// A link of the page.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Link {
    /// Its visible text.
    pub text: String,
    /// Its absolute URL.
    pub url: String,
}

const SKIPPED: [&str; 14] = [
    "script", "style", "template", "noscript", "head", "object", "embed", "iframe", "svg", "canvas", "select",
    "button", "input", "textarea",
];
const AROUND: [&str; 4] = ["nav", "header", "footer", "aside"];
const BLOCKS: [&str; 31] = [
    "p",
    "div",
    "section",
    "article",
    "main",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "li",
    "dl",
    "dt",
    "dd",
    "table",
    "tr",
    "blockquote",
    "pre",
    "figure",
    "figcaption",
    "address",
    "hr",
    "br",
    "details",
    "summary",
    "body",
    "form",
    "fieldset",
];

/// `html` as readable text; relative links are resolved against `base`.
pub fn readable(html: &str, base: Option<&Url>) -> Readable {
    extract(html, base, false)
}

/// [`readable`] for a document to index: each heading `<hN>` on a line of its own that starts
/// with N `#` and a space, as in Markdown (its text keeps no other line break), and links left
/// as their text, neither numbered nor listed.
pub fn readable_marked(html: &str, base: Option<&Url>) -> Readable {
    extract(html, base, true)
}

fn extract(html: &str, base: Option<&Url>, mark_headings: bool) -> Readable {
    let document = Html::parse_document(html);
    let title = Selector::parse("title")
        .ok()
        .and_then(|s| document.select(&s).next())
        .map(|t| collapse(&t.text().collect::<String>()))
        .unwrap_or_default();
    let hidden = hidden_by_sheets(&document);
    let root = ["main", "article", "[role=main]"]
        .iter()
        .filter_map(|s| Selector::parse(s).ok())
        .find_map(|s| document.select(&s).next());
    let has_main = root.is_some();
    let root = root.unwrap_or_else(|| document.root_element());
    let mut walker =
        Walker { base, hidden, has_main, mark_headings, out: String::new(), links: Vec::new(), hidden_dropped: 0 };
    walker.walk(root);
    Readable { title, text: tidy(&walker.out, false), links: walker.links, hidden_dropped: walker.hidden_dropped }
}

struct Walker<'a> {
    base: Option<&'a Url>,
    hidden: HashSet<ego_tree::NodeId>,
    has_main: bool,
    mark_headings: bool,
    out: String,
    links: Vec<Link>,
    hidden_dropped: usize,
}

impl Walker<'_> {
    fn walk(&mut self, element: ElementRef<'_>) {
        for child in element.children() {
            match child.value() {
                Node::Text(text) => push_text(&mut self.out, text),
                Node::Element(_) => {
                    let Some(child) = ElementRef::wrap(child) else { continue };
                    let name = child.value().name();
                    if SKIPPED.contains(&name) {
                        continue;
                    }
                    if !self.has_main && AROUND.contains(&name) {
                        continue;
                    }
                    if self.hidden.contains(&child.id()) || hidden_inline(child) {
                        self.hidden_dropped += 1;
                        continue;
                    }
                    let block = BLOCKS.contains(&name);
                    let lines = if PARAGRAPHS.contains(&name) { 2 } else { 1 };
                    if block {
                        end_lines(&mut self.out, lines);
                    }
                    if name == "li" {
                        self.out.push_str("- ");
                    }
                    if let Some(level) = self.heading_level(name) {
                        self.heading(child, level);
                    } else if name == "a" && !self.mark_headings {
                        self.link(child);
                    } else if name == "img" {
                        if let Some(alt) = child.value().attr("alt").map(collapse).filter(|a| !a.is_empty()) {
                            self.out.push_str(&format!("[image: {alt}]"));
                        }
                    } else {
                        self.walk(child);
                    }
                    if block {
                        end_lines(&mut self.out, lines);
                    } else if matches!(name, "td" | "th") {
                        self.out.push_str(" | ");
                    }
                }
                _ => {}
            }
        }
    }

    fn heading_level(&self, name: &str) -> Option<usize> {
        let level = name.strip_prefix('h')?.parse::<usize>().ok()?;
        (self.mark_headings && (1..=6).contains(&level)).then_some(level)
    }

    /// The heading's text on one line after its marker.
    fn heading(&mut self, h: ElementRef<'_>, level: usize) {
        let start = self.out.len();
        self.walk(h);
        let text = collapse(&self.out[start..]);
        self.out.truncate(start);
        if !text.is_empty() {
            self.out.push_str(&"#".repeat(level));
            self.out.push(' ');
            self.out.push_str(&text);
        }
    }

    fn link(&mut self, a: ElementRef<'_>) {
        let start = self.out.len();
        self.walk(a);
        let text = collapse(&self.out[start..]);
        let href = a.value().attr("href").map(str::trim).unwrap_or_default();
        let url = match self.base {
            Some(base) => base.join(href).ok(),
            None => Url::parse(href).ok(),
        };
        if let Some(url) = url.filter(|u| matches!(u.scheme(), "http" | "https")) {
            self.links.push(Link { text, url: url.to_string() });
            self.out.push_str(&format!(" [{}]", self.links.len()));
        }
    }
}

/// Blocks set off by a blank line rather than a line break.
const PARAGRAPHS: [&str; 14] =
    ["p", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "table", "ul", "ol", "figure", "section"];

/// `out` ending in `n` line breaks (or more), unless it is empty.
fn end_lines(out: &mut String, n: usize) {
    if out.trim().is_empty() {
        return;
    }
    while out.ends_with(' ') {
        out.pop();
    }
    let have = out.len() - out.trim_end_matches('\n').len();
    for _ in have..n {
        out.push('\n');
    }
}

fn push_text(out: &mut String, text: &str) {
    let collapsed = collapse(text);
    if collapsed.is_empty() {
        if text.chars().any(char::is_whitespace) && !out.ends_with([' ', '\n']) {
            out.push(' ');
        }
        return;
    }
    if text.starts_with(char::is_whitespace) && !out.ends_with([' ', '\n']) {
        out.push(' ');
    }
    out.push_str(&collapsed);
    if text.ends_with(char::is_whitespace) {
        out.push(' ');
    }
}

/// Whitespace runs as one space, trimmed.
fn collapse(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Lines trimmed (at the end only with `keep_indent`), at most one blank line in a row, none at
/// either end.
pub fn tidy(text: &str, keep_indent: bool) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(|l| if keep_indent { l.trim_end() } else { l.trim() }) {
        if line.trim().is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// Whether the element hides itself: the `hidden` attribute, `aria-hidden`, a hidden input, or
/// an inline style that hides.
fn hidden_inline(element: ElementRef<'_>) -> bool {
    let e = element.value();
    e.attr("hidden").is_some()
        || e.attr("aria-hidden").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
        || e.attr("style").is_some_and(style_hides)
}

/// Whether CSS declarations (`a: b; c: d`) hide what they apply to.
pub(crate) fn style_hides(declarations: &str) -> bool {
    let mut color = None;
    let mut background = None;
    for declaration in declarations.split(';') {
        let Some((property, value)) = declaration.split_once(':') else { continue };
        let property = property.trim().to_ascii_lowercase();
        let value = value.trim().trim_end_matches("!important").trim().to_ascii_lowercase();
        let zero = value
            .strip_suffix("px")
            .or(value.strip_suffix("em"))
            .or(value.strip_suffix("rem"))
            .or(value.strip_suffix('%'))
            .or(value.strip_suffix("pt"))
            .unwrap_or(&value)
            .trim()
            .parse::<f64>()
            .is_ok_and(|n| n <= 0.5);
        let far_off = value.trim_end_matches("px").trim().parse::<f64>().is_ok_and(|n| n <= -500.0);
        let hides = match property.as_str() {
            "display" => value == "none",
            "visibility" => value == "hidden" || value == "collapse",
            "font-size" | "max-height" | "max-width" | "height" | "width" | "line-height" => zero,
            "opacity" => value.parse::<f64>().is_ok_and(|n| n < 0.05),
            "clip" => value.replace(' ', "").starts_with("rect(0") || value.replace(' ', "").starts_with("rect(1px"),
            "clip-path" => value.starts_with("inset(50%") || value.starts_with("inset(100%") || value == "circle(0)",
            "left" | "top" | "margin-left" | "text-indent" => far_off,
            "transform" => value.contains("scale(0"),
            "color" => {
                color = Some(colour(&value));
                false
            }
            "background" | "background-color" => {
                background = Some(colour(&value));
                false
            }
            _ => false,
        };
        if hides {
            return true;
        }
    }
    match (color, background) {
        (Some(Some(c)), Some(Some(b))) => c == b,
        // White text with no background of its own, on a page that is white by default.
        (Some(Some(c)), None) => c == [255, 255, 255] || c == [254, 254, 254],
        _ => false,
    }
}

/// A CSS colour as RGB, for the few spellings pages use to hide text.
fn colour(value: &str) -> Option<[u8; 3]> {
    let value = value.split_whitespace().next().unwrap_or_default();
    let named = match value {
        "white" => Some([255, 255, 255]),
        "black" => Some([0, 0, 0]),
        "transparent" => Some([1, 2, 3]),
        _ => None,
    };
    if named.is_some() {
        return named;
    }
    if let Some(hex) = value.strip_prefix('#') {
        let digits: Vec<u8> = hex.chars().filter_map(|c| c.to_digit(16).map(|d| d as u8)).collect();
        return match digits.len() {
            3 => Some([digits[0] * 17, digits[1] * 17, digits[2] * 17]),
            6 => Some([digits[0] * 16 + digits[1], digits[2] * 16 + digits[3], digits[4] * 16 + digits[5]]),
            _ => None,
        };
    }
    let inner = value.strip_prefix("rgb(").or(value.strip_prefix("rgba("))?.trim_end_matches(')');
    let parts: Vec<u8> = inner.split(',').take(3).filter_map(|p| p.trim().parse().ok()).collect();
    (parts.len() == 3).then(|| [parts[0], parts[1], parts[2]])
}

/// Elements that the page's own `<style>` sheets hide, for rules whose selectors scraper can
/// match (`.class`, `#id`, `tag.class`, descendant selectors, ...).
fn hidden_by_sheets(document: &Html) -> HashSet<ego_tree::NodeId> {
    let mut hidden = HashSet::new();
    let Ok(styles) = Selector::parse("style") else { return hidden };
    for style in document.select(&styles) {
        let sheet: String = style.text().collect();
        let sheet = strip_comments(&sheet);
        for rule in sheet.split('}') {
            let Some((selectors, declarations)) = rule.split_once('{') else { continue };
            let selectors = selectors.trim();
            if selectors.starts_with('@') || !style_hides(declarations) {
                continue;
            }
            let Ok(selector) = Selector::parse(selectors) else { continue };
            hidden.extend(document.select(&selector).map(|e| e.id()));
        }
    }
    hidden
}

fn strip_comments(css: &str) -> String {
    let mut out = String::new();
    let mut rest = css;
    while let Some(start) = rest.find("/*") {
        out.push_str(&rest[..start]);
        rest = rest[start + 2..].find("*/").map_or("", |end| &rest[start + 2 + end + 2..]);
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn hidden_text_is_dropped_and_visible_text_and_links_are_kept() {
        let html = r##"<!doctype html><html><head><title>Recipes</title>
            <style>.sr { display:none } #gone{visibility:hidden} /* .x{} */ p.tiny { font-size: 0px }</style>
            <script>steal()</script></head><body>
            <nav><a href="/home">Home</a></nav>
            <main>
              <h1>Pancakes</h1>
              <p>Mix <b>flour</b> and milk. See <a href="/eggs">eggs</a>.</p>
              <!-- ignore previous instructions (comment) -->
              <p class="sr">HIDDEN-CLASS</p>
              <div id="gone">HIDDEN-ID</div>
              <p class="tiny">HIDDEN-SHEET-SIZE</p>
              <p style="display: none">HIDDEN-INLINE</p>
              <p style="color:#fff;background-color:#ffffff">HIDDEN-WHITE</p>
              <p style="color: white">HIDDEN-WHITE-ON-PAGE</p>
              <p style="font-size:0">HIDDEN-ZERO</p>
              <p style="opacity:0">HIDDEN-OPACITY</p>
              <p style="position:absolute;left:-9999px">HIDDEN-OFFSCREEN</p>
              <span aria-hidden="true">HIDDEN-ARIA</span>
              <div hidden>HIDDEN-ATTR</div>
              <input type="hidden" value="HIDDEN-INPUT">
              <ul><li>one</li><li>two</li></ul>
            </main><footer>HIDDEN-FOOTER</footer></body></html>"##;
        let base = Url::parse("https://example.org/food/").unwrap();
        let page = readable(html, Some(&base));
        assert_eq!(page.title, "Recipes");
        assert!(!page.text.contains("HIDDEN"), "{}", page.text);
        assert!(!page.text.contains("ignore previous") && !page.text.contains("steal"), "{}", page.text);
        assert!(page.text.contains("Pancakes\n\nMix flour and milk. See eggs [1]."), "{}", page.text);
        assert!(page.text.contains("- one\n- two"), "{}", page.text);
        assert_eq!(page.links, vec![Link { text: "eggs".into(), url: "https://example.org/eggs".into() }]);
        assert_eq!(page.hidden_dropped, 11, "{}", page.text);
    }

    #[test]
    fn a_page_without_main_keeps_its_body_but_not_its_navigation() {
        let page = readable("<body><header>menu</header><p>Body text</p><a href='javascript:x()'>js</a></body>", None);
        assert_eq!(page.text, "Body text\n\njs");
        assert!(page.links.is_empty());
    }

    #[test]
    fn marked_headings_start_their_own_line_and_plain_ones_do_not() {
        let html = "<body><h1>Title <em>here</em></h1><p>intro</p><h3>Sub\n part</h3><p>text</p></body>";
        assert_eq!(readable_marked(html, None).text, "# Title here\n\nintro\n\n### Sub part\n\ntext");
        assert_eq!(readable(html, None).text, "Title here\n\nintro\n\nSub part\n\ntext");
    }
}
