//! Escaping and the page frame of the console.
//!
//! Text is shown as what it says: [`esc`] escapes markup and shows every character that is
//! invisible or changes how the text around it is drawn (a right-to-left override, a zero-width
//! space, a control character; see [`sov_gate::display`]) as its code point, `⟨U+202E⟩`, in a
//! style of its own (`.hidden-char`), never as itself. Every text of an agent, a reviewer or a
//! third party goes through [`esc`] (one line) or [`esc_block`] (lines in a `<pre>`).

use sov_gate::display::{Piece, pieces};

/// Text made safe for HTML element content, with hidden characters shown by code point.
pub(crate) fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Shown(s) => push_escaped(&mut out, s),
            Piece::Hidden(c) => out.push_str(&format!(
                "<span class=\"hidden-char\" title=\"an invisible or direction-changing character\">⟨U+{:04X}⟩</span>",
                u32::from(c)
            )),
        }
    }
    out
}

/// Multi-line text for a `<pre>`: each line as [`esc`] shows it, the line feeds kept.
pub(crate) fn esc_block(text: &str) -> String {
    text.split('\n').map(esc).collect::<Vec<_>>().join("\n")
}

/// Text made safe for an HTML attribute value (quoted with `"`). Only for values the console
/// made itself (ids, tokens, checked paths): agent text goes through [`esc`].
pub(crate) fn attr(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_escaped(&mut out, text);
    out
}

fn push_escaped(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

/// A whole page: title (the console's own words), navigation, body.
pub(crate) fn page(title: &str, body: &str) -> String {
    frame(title, body, "")
}

/// A page of the chat: [`page`] with the chat's script.
pub(crate) fn chat_page(title: &str, body: &str) -> String {
    frame(title, body, "<script src=\"/static/chat.js\" defer></script>")
}

fn frame(title: &str, body: &str, script: &str) -> String {
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Sovereign</title><link rel=\"stylesheet\" href=\"/static/console.css\">\
         <script src=\"/static/console.js\" defer></script>{script}</head>\
         <body><header><strong>Sovereign</strong> <nav><a href=\"/\">Pending</a> <a href=\"/history\">History</a> \
         <a href=\"/audit\">Audit log</a> <a href=\"/status\">Status</a> <a href=\"/chat\">Chat</a></nav></header><main><h1>{title}</h1>\n{body}</main></body></html>\n",
        title = attr(title)
    )
}

/// A time in ms since the epoch as UTC `YYYY-MM-DD HH:MM:SS UTC` (the audit log's ISO form,
/// made easier to read).
pub(crate) fn time(ms: i64) -> String {
    let iso = sov_core::audit::iso_utc(ms);
    format!("{} UTC", iso.trim_end_matches('Z').replacen('T', " ", 1))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(esc("<img src=x onerror='a()'>&\""), "&lt;img src=x onerror=&#39;a()&#39;&gt;&amp;&quot;");
        assert_eq!(attr("<a href=\"x\">"), "&lt;a href=&quot;x&quot;&gt;");
    }

    #[test]
    fn hidden_characters_are_shown_by_code_point() {
        let tag = |hex: &str| {
            format!(
                "<span class=\"hidden-char\" title=\"an invisible or direction-changing character\">⟨U+{hex}⟩</span>"
            )
        };
        assert_eq!(esc("pay alice\u{202E}0001$"), format!("pay alice{}0001$", tag("202E")));
        assert_eq!(esc("bo\u{200B}b<x>"), format!("bo{}b&lt;x&gt;", tag("200B")));
        assert_eq!(esc("a\nb"), format!("a{}b", tag("000A")), "one line stays one line");
        assert_eq!(
            esc_block("{\n  \"to\": \"\u{2067}x\"\n}"),
            format!("{{\n  &quot;to&quot;: &quot;{}x&quot;\n}}", tag("2067"))
        );
    }

    #[test]
    fn formats_utc_times() {
        assert_eq!(time(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(time(1_800_000_000_000), "2027-01-15 08:00:00 UTC");
        assert_eq!(time(951_782_400_000), "2000-02-29 00:00:00 UTC");
    }
}
