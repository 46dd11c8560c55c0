//! Showing the user what a sanitised text changed, or exactly what leaves (see [`render_diff`]).

use crate::Map;
use crate::map::Segment;

/// How [`render_diff`] shows the changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DiffStyle {
    /// `{-value-}{+[PLACEHOLDER]+}` inline in the full text.
    #[default]
    Inline,
    /// `- original` / `+ sanitised` line pairs, unchanged lines indented by two spaces.
    Lines,
    /// The sanitised text itself: exactly what leaves.
    Plain,
}

/// Renders `sanitized` (produced with `map`) in `style`, for `sov sanitize --diff`.
///
/// The rendering works from the sanitised text and its [`Map`] alone: since restore is exact, the
/// original is recovered piece by piece, so the diff can never disagree with what is sent.
///
/// Styles:
/// - [`DiffStyle::Inline`]: the whole text, each replacement written as `{-alice@x.org-}{+[EMAIL_1]+}`
///   (the `{-…-}{+…+}` markers of `wdiff`, chosen because placeholders already use `[…]`).
/// - [`DiffStyle::Lines`]: a line diff. Unchanged lines start with two spaces; a changed line is
///   shown as its original (`- `, one line per original line, since a value such as a PEM key may
///   span lines) followed by the sanitised line (`+ `).
/// - [`DiffStyle::Plain`]: exactly the text that would leave the machine, byte for byte.
///
/// No colours: the CLI may add them.
pub fn render_diff(sanitized: &str, map: &Map, style: DiffStyle) -> String {
    match style {
        DiffStyle::Plain => sanitized.to_owned(),
        DiffStyle::Inline => {
            let mut out = String::with_capacity(sanitized.len() * 2);
            for seg in map.segments(sanitized) {
                match seg {
                    Segment::Kept(t) => out.push_str(t),
                    Segment::Replaced { placeholder, value } => {
                        out.push_str("{-");
                        out.push_str(value);
                        out.push_str("-}{+");
                        out.push_str(placeholder);
                        out.push_str("+}");
                    }
                }
            }
            out
        }
        DiffStyle::Lines => lines(sanitized, map),
    }
}

fn lines(sanitized: &str, map: &Map) -> String {
    if sanitized.is_empty() {
        return String::new();
    }
    struct Line {
        old: String,
        new: String,
        changed: bool,
    }
    let mut done: Vec<Line> = Vec::new();
    let mut cur = Line { old: String::new(), new: String::new(), changed: false };
    for seg in map.segments(sanitized) {
        match seg {
            Segment::Kept(t) => {
                let mut parts = t.split('\n');
                if let Some(first) = parts.next() {
                    cur.old.push_str(first);
                    cur.new.push_str(first);
                }
                for part in parts {
                    let next = Line { old: part.to_owned(), new: part.to_owned(), changed: false };
                    done.push(std::mem::replace(&mut cur, next));
                }
            }
            Segment::Replaced { placeholder, value } => {
                cur.old.push_str(value);
                cur.new.push_str(placeholder);
                cur.changed = true;
            }
        }
    }
    done.push(cur);
    if sanitized.ends_with('\n') {
        done.pop();
    }
    let mut out = String::with_capacity(sanitized.len() * 2);
    for line in done {
        if line.changed {
            for old in line.old.split('\n') {
                out.push_str("- ");
                out.push_str(old);
                out.push('\n');
            }
            out.push_str("+ ");
            out.push_str(&line.new);
            out.push('\n');
        } else {
            out.push_str("  ");
            out.push_str(&line.new);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, Sanitizer};
    use pretty_assertions::assert_eq;

    #[allow(clippy::unwrap_used)]
    fn sample() -> crate::Sanitized {
        Sanitizer::new(Config::default())
            .unwrap()
            .sanitize("Hi,\nmail alice@x.org or call +49 30 1234567.\nThanks [x]\n")
    }

    #[test]
    fn inline_marks_each_replacement() {
        let s = sample();
        assert_eq!(
            render_diff(&s.text, &s.map, DiffStyle::Inline),
            "Hi,\nmail {-alice@x.org-}{+[EMAIL_1]+} or call {-+49 30 1234567-}{+[PHONE_1]+}.\nThanks [x]\n"
        );
    }

    #[test]
    fn lines_pairs_changed_lines() {
        let s = sample();
        assert_eq!(
            render_diff(&s.text, &s.map, DiffStyle::Lines),
            "  Hi,\n- mail alice@x.org or call +49 30 1234567.\n+ mail [EMAIL_1] or call [PHONE_1].\n  Thanks [x]\n"
        );
    }

    #[test]
    fn plain_is_exactly_the_sent_text() {
        let s = sample();
        assert_eq!(render_diff(&s.text, &s.map, DiffStyle::Plain), s.text);
    }
}
