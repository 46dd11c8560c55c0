//! The local placeholder map, exact restore and streaming restore (see [`Map`]).

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::ops::Bound;

use zeroize::Zeroize;

use crate::Kind;

/// One assignment: the placeholder sent out, and the private value it stands for.
#[derive(Clone, PartialEq, Eq)]
pub struct Entry {
    placeholder: String,
    value: String,
    kind: Kind,
}

impl Entry {
    /// The placeholder text, e.g. `[EMAIL_1]`.
    pub fn placeholder(&self) -> &str {
        &self.placeholder
    }

    /// The private value it replaces. Never log this.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The kind the value was detected as (first detection wins when a value recurs).
    pub fn kind(&self) -> Kind {
        self.kind
    }
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("placeholder", &self.placeholder)
            .field("value", &"[redacted]")
            .field("kind", &self.kind)
            .finish()
    }
}

/// Placeholder ↔ value assignments for one request or conversation. Stays on this machine.
///
/// # Placeholder scheme (no nonce, collision-checked)
///
/// A placeholder is `[` LABEL `_` N `]`, e.g. `[EMAIL_1]`, with N counting from 1 per label in order
/// of first appearance. Restoring replaces exactly the placeholders this map assigned and leaves
/// every other bracketed text alone. Two rules keep that exact even when the input already contains
/// placeholder-shaped text:
///
/// 1. Before assigning, every placeholder-shaped literal in the input (`[A-Z_]+_[0-9]+]` in
///    brackets) that this map has not assigned is *reserved*: the counter skips it, so it can never
///    become a key and passes through restore untouched.
/// 2. If the input contains a literal equal to a placeholder this map already assigned (only
///    possible when one map serves several texts, e.g. the messages of one conversation), that
///    literal is itself replaced by a fresh `[LITERAL_n]` placeholder that restores to it.
///
/// So the remote side sees no random nonce (nothing to fingerprint across requests), and every
/// placeholder in the sent text stands for exactly one value. Values are keyed by their exact
/// text: `Alice` and `ALICE` get different placeholders, because restore must give back the exact
/// bytes.
///
/// The map holds the secrets themselves; it is never serialised by this crate, its `Debug` output
/// shows placeholders only, and its values are zeroed when it is dropped.
#[derive(Default, Clone)]
pub struct Map {
    entries: Vec<Entry>,
    by_placeholder: BTreeMap<String, usize>,
    by_value: HashMap<String, usize>,
    next: HashMap<&'static str, u32>,
    reserved: HashSet<String>,
    max_placeholder_len: usize,
}

impl std::fmt::Debug for Map {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Map")
            .field("placeholders", &self.entries.iter().map(|e| e.placeholder.as_str()).collect::<Vec<_>>())
            .field("values", &"[redacted]")
            .finish()
    }
}

impl Drop for Map {
    fn drop(&mut self) {
        for e in &mut self.entries {
            e.value.zeroize();
        }
        for (mut k, _) in self.by_value.drain() {
            k.zeroize();
        }
    }
}

impl Map {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of assigned placeholders.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The assignments in the order they were made.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter()
    }

    /// The value a placeholder stands for, if this map assigned it.
    pub fn value_of(&self, placeholder: &str) -> Option<&str> {
        self.by_placeholder.get(placeholder).map(|&i| self.entries[i].value.as_str())
    }

    /// The placeholder already assigned to `value`, if any.
    pub fn placeholder_of(&self, value: &str) -> Option<&str> {
        self.by_value.get(value).map(|&i| self.entries[i].placeholder.as_str())
    }

    /// Whether `literal` has the shape of a placeholder and was seen in an input (so it will never
    /// be assigned).
    pub fn is_reserved(&self, literal: &str) -> bool {
        self.reserved.contains(literal)
    }

    /// Reserves a placeholder-shaped literal seen in the input (rule 1 of the module docs).
    /// Returns `false` if it is already assigned in this map (rule 2 applies).
    pub(crate) fn reserve(&mut self, literal: &str) -> bool {
        if self.by_placeholder.contains_key(literal) {
            return false;
        }
        self.reserved.insert(literal.to_owned());
        true
    }

    /// The placeholder for `value`, assigning the next free one of `kind` if it is new.
    pub(crate) fn assign(&mut self, value: &str, kind: Kind) -> &str {
        if let Some(&i) = self.by_value.get(value) {
            return &self.entries[i].placeholder;
        }
        let label = kind.label();
        let counter = self.next.entry(label).or_insert(0);
        let placeholder = loop {
            *counter += 1;
            let candidate = format!("[{label}_{counter}]");
            if !self.reserved.contains(&candidate) {
                break candidate;
            }
        };
        let i = self.entries.len();
        self.max_placeholder_len = self.max_placeholder_len.max(placeholder.len());
        self.by_placeholder.insert(placeholder.clone(), i);
        self.by_value.insert(value.to_owned(), i);
        self.entries.push(Entry { placeholder, value: value.to_owned(), kind });
        &self.entries[i].placeholder
    }

    /// What a text starting with `[` begins with, as far as this map is concerned.
    fn match_at(&self, rest: &str) -> Match<'_> {
        debug_assert!(rest.starts_with('['));
        if self.entries.is_empty() {
            return Match::None;
        }
        let window = &rest[..floor_char_boundary(rest, self.max_placeholder_len)];
        // Placeholders contain exactly one `[` (the first byte) and end at the first `]`.
        match window[1..].find(['[', ']']) {
            Some(i) if window.as_bytes()[i + 1] == b']' => {
                let candidate = &window[..i + 2];
                match self.by_placeholder.get(candidate) {
                    Some(&e) => Match::Full(candidate.len(), &self.entries[e].value),
                    None => Match::None,
                }
            }
            Some(_) => Match::None,
            None if rest.len() < self.max_placeholder_len => {
                // `rest` is all we have: keep it if some placeholder starts with it.
                match self.by_placeholder.range::<str, _>((Bound::Included(rest), Bound::Unbounded)).next() {
                    Some((k, _)) if k.starts_with(rest) => Match::Partial,
                    _ => Match::None,
                }
            }
            None => Match::None,
        }
    }

    /// Replaces every placeholder this map assigned by its value; everything else is kept as is.
    ///
    /// `restore(sanitized.text) == original` holds for any text this map sanitised.
    pub fn restore(&self, text: &str) -> String {
        let mut r = Restorer::new(self);
        let mut out = r.push(text);
        out.push_str(&r.finish());
        out
    }

    /// Splits a sanitised text into kept text and placeholders of this map (for diffs).
    pub(crate) fn segments<'a>(&'a self, text: &'a str) -> Vec<Segment<'a>> {
        let mut out = Vec::new();
        let mut kept_from = 0;
        let mut i = 0;
        while let Some(off) = text[i..].find('[') {
            let at = i + off;
            match self.match_at(&text[at..]) {
                Match::Full(len, value) => {
                    if kept_from < at {
                        out.push(Segment::Kept(&text[kept_from..at]));
                    }
                    out.push(Segment::Replaced { placeholder: &text[at..at + len], value });
                    i = at + len;
                    kept_from = i;
                }
                Match::Partial | Match::None => i = at + 1,
            }
        }
        if kept_from < text.len() {
            out.push(Segment::Kept(&text[kept_from..]));
        }
        out
    }

    /// A streaming restorer over this map.
    pub fn restorer(&self) -> Restorer<&Map> {
        Restorer::new(self)
    }
}

/// A piece of a sanitised text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Segment<'a> {
    /// Text sent as it was.
    Kept(&'a str),
    /// A placeholder and the value it stands for.
    Replaced { placeholder: &'a str, value: &'a str },
}

enum Match<'a> {
    /// A placeholder of this length, standing for this value.
    Full(usize, &'a str),
    /// The text ends inside something that may still become a placeholder.
    Partial,
    /// Not a placeholder of this map.
    None,
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Restores placeholders in a stream of chunks (e.g. SSE deltas of a remote answer).
///
/// Text is emitted as soon as it cannot be the start of one of the map's placeholders; only a
/// trailing possible prefix (`[EMA`) is held back until the next chunk decides it. Feeding any
/// chunking of a text and then calling [`finish`](Restorer::finish) yields exactly
/// [`Map::restore`] of the whole text.
///
/// `M` is anything that borrows a [`Map`]: `&Map`, `Map` or `Arc<Map>` (for a spawned task).
#[derive(Debug)]
pub struct Restorer<M: Borrow<Map>> {
    map: M,
    pending: String,
}

impl<M: Borrow<Map>> Restorer<M> {
    /// A restorer with nothing pending.
    pub fn new(map: M) -> Self {
        Self { map, pending: String::new() }
    }

    /// Feeds one chunk; returns the restored text that is now certain (possibly empty).
    pub fn push(&mut self, chunk: &str) -> String {
        self.pending.push_str(chunk);
        let map = self.map.borrow();
        let buf = &self.pending;
        let mut out = String::with_capacity(buf.len());
        let mut i = 0;
        while i < buf.len() {
            let Some(off) = buf[i..].find('[') else {
                out.push_str(&buf[i..]);
                i = buf.len();
                break;
            };
            let at = i + off;
            out.push_str(&buf[i..at]);
            match map.match_at(&buf[at..]) {
                Match::Full(len, value) => {
                    out.push_str(value);
                    i = at + len;
                }
                Match::Partial => {
                    i = at;
                    break;
                }
                Match::None => {
                    out.push('[');
                    i = at + 1;
                }
            }
        }
        self.pending.drain(..i);
        out
    }

    /// The text held back so far (a possible placeholder prefix).
    pub fn pending(&self) -> &str {
        &self.pending
    }

    /// Ends the stream: whatever is held back cannot become a placeholder any more.
    pub fn finish(mut self) -> String {
        std::mem::take(&mut self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn sample() -> Map {
        let mut m = Map::new();
        m.assign("alice@example.org", Kind::Email);
        m.assign("+49 30 1234567", Kind::Phone);
        m.assign("bob@example.org", Kind::Email);
        m
    }

    #[test]
    fn numbering_is_per_kind_and_stable() {
        let mut m = sample();
        assert_eq!(m.placeholder_of("alice@example.org"), Some("[EMAIL_1]"));
        assert_eq!(m.placeholder_of("+49 30 1234567"), Some("[PHONE_1]"));
        assert_eq!(m.placeholder_of("bob@example.org"), Some("[EMAIL_2]"));
        assert_eq!(m.assign("alice@example.org", Kind::Email), "[EMAIL_1]");
        assert_eq!(m.len(), 3);
    }

    #[test]
    fn reserved_literals_are_skipped() {
        let mut m = Map::new();
        assert!(m.reserve("[EMAIL_1]"));
        assert_eq!(m.assign("a@b.cd", Kind::Email), "[EMAIL_2]");
        assert!(!m.reserve("[EMAIL_2]"), "assigned placeholders cannot be reserved");
        assert_eq!(m.restore("[EMAIL_1] [EMAIL_2]"), "[EMAIL_1] a@b.cd");
    }

    #[test]
    fn restore_leaves_unknown_brackets() {
        let m = sample();
        assert_eq!(
            m.restore("[[EMAIL_1]] [EMAIL_9] [EMAIL_ [PHONE_1][EMAIL_2"),
            "[alice@example.org] [EMAIL_9] [EMAIL_ +49 30 1234567[EMAIL_2"
        );
    }

    #[test]
    fn streaming_holds_back_only_prefixes() {
        let m = sample();
        let mut r = m.restorer();
        assert_eq!(r.push("Mail [EMA"), "Mail ");
        assert_eq!(r.pending(), "[EMA");
        assert_eq!(r.push("IL_1] now [x"), "alice@example.org now [x");
        assert_eq!(r.push("[PHONE_1"), "");
        assert_eq!(r.push("0]"), "[PHONE_10]");
        assert_eq!(r.push("[EMAIL_"), "");
        assert_eq!(r.finish(), "[EMAIL_");
    }

    #[test]
    fn debug_redacts_values() {
        let m = sample();
        let dbg = format!("{m:?} {:?}", m.entries().next());
        assert!(!dbg.contains("alice"), "{dbg}");
        assert!(dbg.contains("[EMAIL_1]"));
    }
}
