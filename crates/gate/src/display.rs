//! Showing text an agent wrote to the human, so that what they read is what it says.
//!
//! An action's summary, recipients and parameters come from the agent (or from text that hacked
//! it). Some characters show nothing, or change how the text around them is drawn: a
//! right-to-left override (U+202E) makes `pay alice\u{202E}0001$` read as "pay alice$1000", a
//! zero-width space makes `bo\u{200B}b@example.org` look like the address you know. The console
//! and `sov confirm` both cut text into [`Piece`]s with [`pieces`] and show every
//! [`Piece::Hidden`] character by its code point (`⟨U+202E⟩` in a distinct style in HTML,
//! `\u{202e}` in the terminal), never as itself.
//!
//! Hidden ([`is_hidden`]): every control character (Unicode category Cc, which includes tab, line
//! feed, escape and the C1 controls a terminal may obey), every format character (Cf: the
//! bidirectional embeddings, overrides and isolates, zero-width space, joiners and marks,
//! U+061C, U+FEFF, the word joiner and invisible operators, tag characters…), the line and
//! paragraph separators U+2028 and U+2029, and the other default-ignorable code points that
//! render as nothing (variation selectors, the combining grapheme joiner, Hangul fillers,
//! Khmer and Mongolian invisible marks). Callers that show several lines split them first
//! ([`str::lines`]) and show each line's pieces.

use crate::action::ActionRequest;
pub use crate::hidden::{has_hidden, is_hidden};
use crate::record::{ActionRecord, Verdict};
use crate::review::adds_to_policy;

/// A run of text to show as it is, or one character to show by its code point.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Piece<'a> {
    /// Characters that are safe to show as themselves.
    Shown(&'a str),
    /// A character that is invisible or changes how text around it is drawn.
    Hidden(char),
}

/// Whether anything of `request` a human reads (summary, recipients, parameters, provenance
/// claims) has a hidden character: the console and `sov confirm` then say so above it.
pub fn request_has_hidden(request: &ActionRequest) -> bool {
    has_hidden(&request.summary)
        || request.recipients.iter().any(|r| has_hidden(r))
        || has_hidden(&serde_json::to_string(&request.params).unwrap_or_default())
        || request.provenance.iter().any(|p| has_hidden(&p.source) || has_hidden(&p.detail))
}

/// `text` cut into runs shown as they are and hidden characters shown by code point.
pub fn pieces(text: &str) -> Pieces<'_> {
    Pieces { rest: text }
}

/// The iterator of [`pieces`].
#[derive(Debug, Clone)]
pub struct Pieces<'a> {
    rest: &'a str,
}

impl<'a> Iterator for Pieces<'a> {
    type Item = Piece<'a>;

    fn next(&mut self) -> Option<Piece<'a>> {
        let mut chars = self.rest.char_indices();
        let (_, first) = chars.next()?;
        if is_hidden(first) {
            self.rest = &self.rest[first.len_utf8()..];
            return Some(Piece::Hidden(first));
        }
        let end = chars.find(|&(_, c)| is_hidden(c)).map_or(self.rest.len(), |(i, _)| i);
        let (shown, rest) = self.rest.split_at(end);
        self.rest = rest;
        Some(Piece::Shown(shown))
    }
}

/// `text` for a terminal: every hidden character as `\u{…}` (lowercase hex, Rust's escape
/// syntax), the rest as it is. A line feed is hidden too: split multi-line text first.
pub fn for_terminal(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for piece in pieces(text) {
        match piece {
            Piece::Shown(s) => out.push_str(s),
            Piece::Hidden(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
        }
    }
    out
}

/// Multi-line `text` for a terminal: each line as [`for_terminal`] shows it, joined by `\n`
/// followed by `indent`.
pub fn lines_for_terminal(text: &str, indent: &str) -> String {
    text.lines().map(for_terminal).collect::<Vec<_>>().join(&format!("\n{indent}"))
}

/// What the human is shown of the AI reviewer's verdict on an action (the console and
/// `sov confirm show` both show this): the verdict, the model that gave it, and its reason only
/// when the reason says something the policy line above it did not ([`adds_to_policy`]). A
/// small reviewer often answers with the policy's own words ("policy says confirm for
/// web.fetch"), which would read as a second opinion it is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReviewShown<'a> {
    /// approve, warn or deny.
    pub verdict: Verdict,
    /// The model that gave the verdict, when one did and it was recorded.
    pub model: Option<&'a str>,
    /// The reviewer's reason, when it adds to the policy's.
    pub reason: Option<&'a str>,
}

impl ReviewShown<'_> {
    /// The label beside the verdict: `by MODEL`, or `by the reviewer` when no model is recorded
    /// (reviews made before models were, or a reviewer that failed).
    pub fn by(&self) -> String {
        match self.model {
            Some(model) => format!("by {model}"),
            None => "by the reviewer".to_owned(),
        }
    }

    /// What stands in for a reason that only repeated the policy's.
    pub const ECHO: &'static str = "(its reason only repeated the policy's)";
}

/// [`ReviewShown`] for `record`, `None` while it is being reviewed.
pub fn review_shown(record: &ActionRecord) -> Option<ReviewShown<'_>> {
    let review = record.review.as_ref()?;
    let reason = adds_to_policy(&review.reason, &record.reasons, record.request.kind).then_some(review.reason.as_str());
    Some(ReviewShown { verdict: review.verdict, model: review.model.as_deref(), reason })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn direction_overrides_and_zero_width_characters_are_cut_out() {
        assert_eq!(
            pieces("pay alice\u{202E}0001$").collect::<Vec<_>>(),
            [Piece::Shown("pay alice"), Piece::Hidden('\u{202E}'), Piece::Shown("0001$")]
        );
        assert_eq!(
            pieces("\u{200B}\u{200B}b").collect::<Vec<_>>(),
            [Piece::Hidden('\u{200B}'), Piece::Hidden('\u{200B}'), Piece::Shown("b")]
        );
        assert_eq!(pieces("").count(), 0);
        assert_eq!(
            pieces("plain ascii, émoji 🦀, 日本語").collect::<Vec<_>>(),
            [Piece::Shown("plain ascii, émoji 🦀, 日本語")]
        );
    }

    #[test]
    fn every_named_kind_of_invisible_character_is_hidden() {
        let hidden = [
            '\u{202A}',
            '\u{202B}',
            '\u{202C}',
            '\u{202D}',
            '\u{202E}', // embeddings, overrides
            '\u{2066}',
            '\u{2067}',
            '\u{2068}',
            '\u{2069}', // isolates
            '\u{200B}',
            '\u{200C}',
            '\u{200D}',
            '\u{200E}',
            '\u{200F}', // zero-width, marks
            '\u{061C}',
            '\u{FEFF}',
            '\u{2028}',
            '\u{2029}',
            '\u{2060}',
            '\u{00AD}', // ALM, BOM, separators
            '\u{0000}',
            '\t',
            '\n',
            '\r',
            '\u{1B}',
            '\u{7F}',
            '\u{9B}', // C0, DEL, C1 (CSI)
            '\u{E0041}',
            '\u{FE0F}',
            '\u{3164}',
            '\u{180E}',
            '\u{1D173}', // tags, selectors, fillers
        ];
        for c in hidden {
            assert!(is_hidden(c), "U+{:04X} must be hidden", u32::from(c));
        }
        for c in ['a', ' ', '$', 'é', '\u{00A0}', 'Ω', '日', '🦀', '\u{0301}', '\u{2010}'] {
            assert!(!is_hidden(c), "U+{:04X} is visible", u32::from(c));
        }
    }

    #[test]
    fn the_terminal_sees_code_points() {
        assert_eq!(for_terminal("pay alice\u{202E}0001$"), "pay alice\\u{202e}0001$");
        assert_eq!(for_terminal("bo\u{200B}b@example.org"), "bo\\u{200b}b@example.org");
        assert_eq!(for_terminal("a\u{1B}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(lines_for_terminal("{\n  \"to\": \"x\u{2066}\"\n}", "  "), "{\n    \"to\": \"x\\u{2066}\"\n  }");
        assert!(has_hidden("x\u{FEFF}") && !has_hidden("plain"));
    }

    #[test]
    fn a_request_with_a_hidden_character_anywhere_is_flagged() {
        let mut req = ActionRequest::new(crate::Kind::MessageSend);
        req.summary = "send the report".into();
        req.recipients = vec!["bob@example.org".into()];
        req.params.insert("body".into(), "hello\nworld".into());
        assert!(!request_has_hidden(&req), "a line feed in a parameter is JSON-escaped, not hidden");
        let mut zwsp = req.clone();
        zwsp.recipients = vec!["bo\u{200B}b@example.org".into()];
        let mut in_params = req.clone();
        in_params.params.insert("to".into(), "x\u{2066}".into());
        let mut c1 = req.clone();
        c1.params.insert("body".into(), "\u{9B}31m".into());
        let mut claim = req.clone();
        claim.provenance = vec![crate::Provenance { source: "user\u{200D}".into(), detail: String::new() }];
        for r in [zwsp, in_params, c1, claim] {
            assert!(request_has_hidden(&r), "{r:?}");
        }
    }
}
