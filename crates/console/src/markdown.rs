//! An inert Markdown renderer for model output on the chat page.
//!
//! Model output is text a stranger may have steered (a web page it read, a document it was
//! given), so it is rendered as **text first**: every character of it is escaped, and the only
//! markup in the result is the fixed set of tags this module writes itself around escaped text.
//! Guarantees of [`render`]:
//! - No HTML of the input survives: `<script>`, `<img onerror=…>`, `<iframe>` and entities such
//!   as `&lt;script&gt;` are shown as the characters they are (the `&` of an entity is escaped
//!   too, so nothing is decoded into markup).
//! - The only attributes written are `class` (fixed names, and a code block's language only when
//!   it is `[A-Za-z0-9+#._-]`), and, on links, `href` with `rel="noopener noreferrer nofollow"`,
//!   `referrerpolicy="no-referrer"` and `target="_blank"`. No event handler, no `style`.
//! - A link is an `<a>` only when its target is an absolute `http://` or `https://` URL of
//!   printable ASCII without quotes, angle brackets, backslashes or backticks; it is shown as its
//!   text followed by the URL itself, so what it points to is in plain sight. Any other target
//!   (`javascript:`, `data:`, relative, `//host`) is shown as text, not linked.
//! - There are no images at all: `![alt](url)` becomes a note naming the URL as text, so a
//!   Markdown image beacon (`![](http://…/?q=secret)`) loads nothing. Nothing in the output makes
//!   the browser fetch anything by itself.
//! - Invisible and direction-changing characters are shown by code point, as everywhere in the
//!   console ([`crate::html::esc`]); tabs are kept in code blocks.
//!
//! What is recognised: paragraphs (line breaks kept), ATX headings, fenced code blocks (``` or
//! ~~~, an unclosed fence runs to the end, as while an answer streams), bullet and numbered
//! lists (nested by indentation), inline code, `**bold**`, `*italic*`/`_italic_`, links.
//! Everything else (tables, block quotes, raw HTML, maths) is shown as its text.

use crate::html::esc;

/// `text` (Markdown written by a model or a person) as inert HTML.
pub fn render(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let lines: Vec<&str> = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l)).collect();
    let mut i = 0;
    let mut paragraph: Vec<&str> = Vec::new();
    let mut lists: Vec<(usize, ListKind)> = Vec::new();
    while i < lines.len() {
        let line = lines[i];
        let trimmed = line.trim_start();
        if let Some((fence, lang)) = fence_open(trimmed) {
            flush_paragraph(&mut out, &mut paragraph);
            close_lists(&mut out, &mut lists, 0);
            i += 1;
            let start = i;
            while i < lines.len() && !is_fence_close(lines[i].trim(), fence) {
                i += 1;
            }
            code_block(&mut out, lang, &lines[start..i]);
            i += 1; // the closing fence, if any
            continue;
        }
        if trimmed.is_empty() {
            flush_paragraph(&mut out, &mut paragraph);
            // A blank line inside a list keeps the list open when an item follows.
            if lines.get(i + 1).is_none_or(|next| list_item(next).is_none()) {
                close_lists(&mut out, &mut lists, 0);
            }
            i += 1;
            continue;
        }
        if let Some((level, title)) = heading(trimmed) {
            flush_paragraph(&mut out, &mut paragraph);
            close_lists(&mut out, &mut lists, 0);
            // `#` is the page's third level: the page has its own h1 and h2.
            let tag = (level + 2).min(6);
            out.push_str(&format!("<h{tag}>{}</h{tag}>", inline(title)));
            i += 1;
            continue;
        }
        if let Some((indent, kind, item)) = list_item(line) {
            flush_paragraph(&mut out, &mut paragraph);
            open_item(&mut out, &mut lists, indent, kind);
            out.push_str(&inline(item));
            i += 1;
            continue;
        }
        if !lists.is_empty() && line.starts_with(' ') && paragraph.is_empty() {
            // A continuation line of the current list item.
            out.push_str("<br>");
            out.push_str(&inline(trimmed));
            i += 1;
            continue;
        }
        close_lists(&mut out, &mut lists, 0);
        paragraph.push(trimmed);
        i += 1;
    }
    flush_paragraph(&mut out, &mut paragraph);
    close_lists(&mut out, &mut lists, 0);
    out
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind {
    Bullets,
    Numbers,
}

impl ListKind {
    fn tag(self) -> &'static str {
        match self {
            ListKind::Bullets => "ul",
            ListKind::Numbers => "ol",
        }
    }
}

fn flush_paragraph(out: &mut String, paragraph: &mut Vec<&str>) {
    if paragraph.is_empty() {
        return;
    }
    out.push_str("<p>");
    out.push_str(&paragraph.iter().map(|l| inline(l)).collect::<Vec<_>>().join("<br>"));
    out.push_str("</p>");
    paragraph.clear();
}

/// Closes open list items and lists deeper than `indent` (all of them for 0 with `lists`
/// emptied).
fn close_lists(out: &mut String, lists: &mut Vec<(usize, ListKind)>, keep_up_to: usize) {
    while lists.len() > keep_up_to {
        if let Some((_, kind)) = lists.pop() {
            out.push_str(&format!("</li></{}>", kind.tag()));
        }
    }
}

fn open_item(out: &mut String, lists: &mut Vec<(usize, ListKind)>, indent: usize, kind: ListKind) {
    // Leave the lists this item is not inside.
    let keep = lists.iter().take_while(|(i, _)| *i <= indent).count();
    close_lists(out, lists, keep);
    match lists.last() {
        Some((i, k)) if *i == indent && *k == kind => out.push_str("</li><li>"),
        Some((i, _)) if *i == indent => {
            close_lists(out, lists, keep - 1);
            out.push_str(&format!("<{}><li>", kind.tag()));
            lists.push((indent, kind));
        }
        _ => {
            out.push_str(&format!("<{}><li>", kind.tag()));
            lists.push((indent, kind));
        }
    }
}

/// A list item's indentation, kind and text: `- x`, `* x`, `+ x`, `1. x`, `1) x`.
fn list_item(line: &str) -> Option<(usize, ListKind, &str)> {
    let trimmed = line.trim_start_matches(' ');
    let indent = line.len() - trimmed.len();
    if let Some(rest) = trimmed.strip_prefix(['-', '*', '+'])
        && let Some(item) = rest.strip_prefix(' ')
    {
        // `***` or `- - -` are rules, not items; `**bold**` has no space after the first `*`.
        return Some((indent, ListKind::Bullets, item.trim_start()));
    }
    let digits = trimmed.bytes().take_while(u8::is_ascii_digit).count();
    if (1..=9).contains(&digits) {
        let rest = &trimmed[digits..];
        if let Some(item) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some((indent, ListKind::Numbers, item.trim_start()));
        }
    }
    None
}

fn heading(line: &str) -> Option<(usize, &str)> {
    let level = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let rest = &line[level..];
    let title = rest.strip_prefix(' ')?.trim();
    Some((level, title.trim_end_matches('#').trim_end()))
}

/// An opening fence (three or more backticks or tildes) and its language word.
fn fence_open(line: &str) -> Option<(&str, &str)> {
    for mark in ["```", "~~~"] {
        if line.starts_with(mark) {
            let c = mark.as_bytes()[0];
            let len = line.bytes().take_while(|&b| b == c).count();
            let (fence, info) = line.split_at(len);
            if c == b'`' && info.contains('`') {
                return None; // ```code``` on one line is inline code
            }
            return Some((fence, info.split_whitespace().next().unwrap_or("")));
        }
    }
    None
}

fn is_fence_close(line: &str, fence: &str) -> bool {
    let c = fence.as_bytes()[0];
    line.len() >= fence.len() && line.bytes().all(|b| b == c)
}

fn code_block(out: &mut String, lang: &str, lines: &[&str]) {
    let safe_lang = !lang.is_empty()
        && lang.len() <= 32
        && lang.bytes().all(|b| b.is_ascii_alphanumeric() || b"+#._-".contains(&b));
    out.push_str("<div class=\"code\"><div class=\"code-head\"><span class=\"lang\">");
    if safe_lang {
        out.push_str(&esc(lang));
    }
    // chat.js gives the button its click handler; without it the button copies nothing, so it
    // starts hidden and the script shows it.
    out.push_str("</span><button type=\"button\" class=\"copy\" hidden>Copy</button></div><pre><code>");
    out.push_str(&lines.iter().map(|l| code_line(l)).collect::<Vec<_>>().join("\n"));
    out.push_str("</code></pre></div>");
}

/// One line of code, escaped, tabs kept.
fn code_line(line: &str) -> String {
    line.split('\t').map(esc).collect::<Vec<_>>().join("\t")
}

/// Inline Markdown of one line: code spans, links, images (shown as text), bold, italic.
fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut plain_start = 0;
    let bytes = text.as_bytes();
    let mut i = 0;
    // Only what lies between the constructs recognised here is emphasis-parsed.
    while i < bytes.len() {
        let here = &text[i..];
        let found = if bytes[i] == b'`' {
            code_span(here)
        } else if here.starts_with("![") {
            link_like(&here[1..]).map(|(len, label, url)| {
                let shown = if label.is_empty() { String::new() } else { format!("{}, ", esc(label)) };
                (len + 1, format!("<span class=\"image-removed\">[image not shown: {shown}{}]</span>", esc(url)))
            })
        } else if bytes[i] == b'[' {
            link_like(here).map(|(len, label, url)| (len, link(label, url)))
        } else {
            None
        };
        match found {
            Some((len, html)) => {
                out.push_str(&emphasis(&text[plain_start..i]));
                out.push_str(&html);
                i += len;
                plain_start = i;
            }
            None => i += here.chars().next().map_or(1, char::len_utf8),
        }
    }
    out.push_str(&emphasis(&text[plain_start..]));
    out
}

/// A code span starting at `text`'s first backtick: its length and HTML.
fn code_span(text: &str) -> Option<(usize, String)> {
    let ticks = text.bytes().take_while(|&b| b == b'`').count();
    let fence = &text[..ticks];
    let body = &text[ticks..];
    let end = body.find(fence)?;
    // The closing run must be exactly as long.
    if body[end + ticks..].starts_with('`') {
        return None;
    }
    let code = &body[..end];
    let code =
        if code.len() >= 2 && code.starts_with(' ') && code.ends_with(' ') { &code[1..code.len() - 1] } else { code };
    Some((2 * ticks + end, format!("<code>{}</code>", code_line(code))))
}

/// `[label](url)` at the start of `text`: its length, label and url (not yet checked).
fn link_like(text: &str) -> Option<(usize, &str, &str)> {
    let body = text.strip_prefix('[')?;
    let close = body.find("](")?;
    let label = &body[..close];
    if label.contains('[') || label.contains(']') {
        return None;
    }
    let after = &body[close + 2..];
    let end = after.find(')')?;
    let url = after[..end].trim();
    Some((1 + close + 2 + end + 1, label, url))
}

/// A link's HTML: an `<a>` only for a checked absolute http(s) URL, shown with the URL itself.
fn link(label: &str, url: &str) -> String {
    if is_web_url(url) {
        let label = if label.trim().is_empty() { esc(url) } else { emphasis(label) };
        format!(
            "<a href=\"{href}\" rel=\"noopener noreferrer nofollow\" referrerpolicy=\"no-referrer\" target=\"_blank\">{label}</a> \
             <span class=\"url\">({shown})</span>",
            href = esc(url),
            shown = esc(url)
        )
    } else {
        // Not a link we make: shown as the text it is, target included.
        format!("[{}](<span class=\"url\">{}</span>)", esc(label), esc(url))
    }
}

/// An absolute `http://` or `https://` URL with a host, of printable ASCII that cannot leave a
/// quoted attribute.
fn is_web_url(url: &str) -> bool {
    let lower = url.to_ascii_lowercase();
    let Some(rest) = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://")) else {
        return false;
    };
    !rest.is_empty()
        && !rest.starts_with('/')
        && url.len() <= 2048
        && url.bytes().all(|b| b.is_ascii_graphic() && !b"\"'<>\\`".contains(&b))
}

/// Bold and italic in text that holds no code span or link: `**x**`/`__x__` and `*x*`/`_x_`.
/// A delimiter counts only when it hugs its text (`* x *` is not emphasis) and `_` only at
/// word boundaries (`snake_case_name` stays as it is).
fn emphasis(text: &str) -> String {
    for delim in ["**", "__", "*", "_"] {
        if let Some((start, end)) = find_pair(text, delim) {
            let tag = if delim.len() == 2 { "strong" } else { "em" };
            return format!(
                "{}<{tag}>{}</{tag}>{}",
                emphasis(&text[..start]),
                emphasis(&text[start + delim.len()..end]),
                emphasis(&text[end + delim.len()..])
            );
        }
    }
    plain(text)
}

fn find_pair(text: &str, delim: &str) -> Option<(usize, usize)> {
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    let mut from = 0;
    while let Some(offset) = text[from..].find(delim) {
        let start = from + offset;
        let inner = start + delim.len();
        let before = text[..start].chars().next_back();
        let first = text[inner..].chars().next();
        let opens = first.is_some_and(|c| !c.is_whitespace())
            && !(delim.starts_with('_') && word(before))
            // `**` is not an opening `*`.
            && !(delim.len() == 1 && (first == delim.chars().next() || before == delim.chars().next()));
        if opens {
            let mut search = inner;
            while let Some(off) = text[search..].find(delim) {
                let end = search + off;
                let last = text[..end].chars().next_back();
                let after = text[end + delim.len()..].chars().next();
                let closes = end > inner
                    && last.is_some_and(|c| !c.is_whitespace())
                    && !(delim.starts_with('_') && word(after))
                    && !(delim.len() == 1 && (after == delim.chars().next() || last == delim.chars().next()));
                if closes {
                    // `***` closes `**` with its last two, leaving the first to an inner `*`.
                    let mut end = end;
                    if delim.len() == 2 {
                        while text[end + delim.len()..].starts_with(&delim[..1]) {
                            end += 1;
                        }
                    }
                    return Some((start, end));
                }
                search = end + delim.len();
            }
            // Whether a closer counts does not depend on its opener, so no later opener of
            // this delimiter finds one either: stop (which keeps this linear).
            return None;
        }
        from = inner;
    }
    None
}

/// Text with nothing recognised in it: escaped, tabs as spaces.
fn plain(text: &str) -> String {
    text.split('\t').map(esc).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    /// Every tag and attribute name in `html`, to check nothing but the renderer's own appear.
    fn tags(html: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = html;
        while let Some(start) = rest.find('<') {
            let end = rest[start..].find('>').map_or(rest.len(), |e| start + e);
            let tag = &rest[start + 1..end];
            let mut words = tag.split_whitespace();
            if let Some(name) = words.next() {
                out.push(name.trim_start_matches('/').to_owned());
            }
            for attr in words {
                if let Some((name, _)) = attr.split_once('=') {
                    out.push(format!("@{name}"));
                }
            }
            rest = &rest[end..];
        }
        out
    }

    const ALLOWED: &[&str] = &[
        "p",
        "br",
        "h3",
        "h4",
        "h5",
        "h6",
        "ul",
        "ol",
        "li",
        "strong",
        "em",
        "code",
        "pre",
        "div",
        "span",
        "button",
        "a",
        "@class",
        "@type",
        "@href",
        "@rel",
        "@referrerpolicy",
        "@target",
    ];

    /// `input` rendered, checked: only the renderer's own tags and attributes, and every link
    /// to http(s).
    fn assert_inert(input: &str) -> String {
        let html = render(input);
        for tag in tags(&html) {
            assert!(ALLOWED.contains(&tag.as_str()), "{tag} in {html}");
        }
        for href in html.split("href=\"").skip(1) {
            assert!(href.starts_with("http://") || href.starts_with("https://"), "{href} in {html}");
        }
        html
    }

    #[test]
    fn paragraphs_headings_and_emphasis() {
        assert_eq!(
            render("Hello *world*\nsecond line\n\nnext"),
            "<p>Hello <em>world</em><br>second line</p><p>next</p>"
        );
        assert_eq!(
            render("# Title\n**bold** and __also__ _it_"),
            "<h3>Title</h3><p><strong>bold</strong> and <strong>also</strong> <em>it</em></p>"
        );
        assert_eq!(render("snake_case_name and 2 * 3 * 4"), "<p>snake_case_name and 2 * 3 * 4</p>");
        assert_eq!(render("**bold *and italic***"), "<p><strong>bold <em>and italic</em></strong></p>");
        assert_eq!(render("unclosed **bold"), "<p>unclosed **bold</p>");
    }

    #[test]
    fn code_blocks_keep_their_text_and_get_a_copy_button() {
        assert_eq!(
            render("Run:\n```rust\nfn main() {\n\tprintln!(\"<hi>\");\n}\n```\ndone"),
            "<p>Run:</p><div class=\"code\"><div class=\"code-head\"><span class=\"lang\">rust</span>\
             <button type=\"button\" class=\"copy\" hidden>Copy</button></div><pre><code>fn main() {\n\tprintln!(&quot;&lt;hi&gt;&quot;);\n}\
             </code></pre></div><p>done</p>"
        );
        // While an answer streams the fence is not closed yet; an odd language is not echoed.
        assert_eq!(
            render("```\"><script>\n**not bold**"),
            "<div class=\"code\"><div class=\"code-head\"><span class=\"lang\"></span>\
             <button type=\"button\" class=\"copy\" hidden>Copy</button></div><pre><code>**not bold**</code></pre></div>"
        );
        assert_eq!(render("use `a < b` and ``x ` y``"), "<p>use <code>a &lt; b</code> and <code>x ` y</code></p>");
    }

    #[test]
    fn lists_nest_by_indentation() {
        assert_eq!(render("- a\n- b\n  - c\n- d"), "<ul><li>a</li><li>b<ul><li>c</li></ul></li><li>d</li></ul>");
        assert_eq!(
            render("1. one\n2. two\n\n3. three\nafter"),
            "<ol><li>one</li><li>two</li><li>three</li></ol><p>after</p>"
        );
        assert_eq!(render("- a\n1. b"), "<ul><li>a</li></ul><ol><li>b</li></ol>");
    }

    #[test]
    fn script_tags_and_event_handlers_are_text() {
        let html = assert_inert("<script>alert(1)</script>\n<img src=x onerror=\"fetch('http://evil/')\">");
        assert_eq!(
            html,
            "<p>&lt;script&gt;alert(1)&lt;/script&gt;<br>&lt;img src=x onerror=&quot;fetch(&#39;http://evil/&#39;)&quot;&gt;</p>"
        );
        assert_inert("<a href=\"http://x\" onclick=\"steal()\">x</a> <svg/onload=alert(1)> <iframe src=//evil>");
        assert_inert("**<b onmouseover=alert(1)>bold</b>** `<script>` ```\n<script>\n```");
        assert_inert("[click](http://ok.example/\" onclick=\"alert(1))");
    }

    #[test]
    fn entities_are_shown_not_decoded() {
        assert_eq!(
            render("&lt;script&gt; &amp; &#60;b&#62;"),
            "<p>&amp;lt;script&amp;gt; &amp;amp; &amp;#60;b&amp;#62;</p>"
        );
    }

    #[test]
    fn only_http_links_are_links_and_they_show_their_url() {
        assert_eq!(
            render("see [docs](https://example.org/a?b=1&c=2)"),
            "<p>see <a href=\"https://example.org/a?b=1&amp;c=2\" rel=\"noopener noreferrer nofollow\" \
             referrerpolicy=\"no-referrer\" target=\"_blank\">docs</a> <span class=\"url\">(https://example.org/a?b=1&amp;c=2)</span></p>"
        );
        for target in [
            "javascript:alert(1)",
            "JavaScript:alert(document.cookie)",
            " javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "vbscript:x",
            "/chat/c/1/delete",
            "//evil.example/",
            "http:/evil",
            "https://",
            "http://a\"b",
            "file:///etc/passwd",
        ] {
            let html = assert_inert(&format!("[x]({target})"));
            assert!(!html.contains("<a "), "{target}: {html}");
        }
        assert_eq!(render("[x](javascript:alert(1))"), "<p>[x](<span class=\"url\">javascript:alert(1</span>))</p>");
    }

    #[test]
    fn images_are_never_loaded() {
        let html = assert_inert("![](http://127.0.0.1:9/?q=secret) and ![logo](https://x.example/a.png)");
        assert_eq!(
            html,
            "<p><span class=\"image-removed\">[image not shown: http://127.0.0.1:9/?q=secret]</span> and \
             <span class=\"image-removed\">[image not shown: logo, https://x.example/a.png]</span></p>"
        );
        // A reference-style image and an autolink form stay text as well.
        assert_inert("![a][1]\n\n[1]: http://127.0.0.1:9/?q=secret\n<http://127.0.0.1:9/?q=secret>");
    }

    #[test]
    fn hidden_characters_are_shown() {
        assert!(render("pay\u{202E}1$").contains("⟨U+202E⟩"));
        assert!(!render("a\u{200B}b").contains('\u{200B}'));
    }
}
