//! Turning token bytes into text that is safe to send: whole UTF-8 characters only, and never a
//! piece of a stop string (which the client must not see).

/// Collects token bytes and releases them as text once they form whole characters and cannot be
/// the start of a stop string.
#[derive(Debug, Default)]
pub(crate) struct TextAssembler {
    pending_bytes: Vec<u8>,
    held: String,
    stop: Vec<String>,
}

/// What [`TextAssembler::push`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// Text that can be sent now (possibly empty).
    Text(String),
    /// A stop string was reached; this is the text before it, and generation ends.
    Stopped(String),
}

impl TextAssembler {
    pub(crate) fn new(stop: Vec<String>) -> Self {
        Self { stop: stop.into_iter().filter(|s| !s.is_empty()).collect(), ..Self::default() }
    }

    pub(crate) fn push(&mut self, bytes: &[u8]) -> Pushed {
        self.pending_bytes.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.pending_bytes) {
            Ok(s) => s.len(),
            // An incomplete character at the end waits for the next token; an invalid sequence
            // (a model can emit one) is replaced rather than held forever.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => {
                let lossy = String::from_utf8_lossy(&self.pending_bytes).into_owned();
                self.pending_bytes.clear();
                self.held.push_str(&lossy);
                return self.release();
            }
        };
        let complete: Vec<u8> = self.pending_bytes.drain(..valid).collect();
        self.held.push_str(&String::from_utf8_lossy(&complete));
        self.release()
    }

    fn release(&mut self) -> Pushed {
        if let Some(at) = self.stop.iter().filter_map(|s| self.held.find(s.as_str())).min() {
            let before = self.held[..at].to_owned();
            self.held.clear();
            return Pushed::Stopped(before);
        }
        let keep = self.longest_stop_prefix_at_end();
        let cut = self.held.len() - keep;
        let out = self.held[..cut].to_owned();
        self.held.drain(..cut);
        Pushed::Text(out)
    }

    /// Bytes at the end of the held text that could begin a stop string.
    fn longest_stop_prefix_at_end(&self) -> usize {
        let mut keep = 0;
        for stop in &self.stop {
            for (i, _) in stop.char_indices().skip(1) {
                if i > keep && self.held.ends_with(&stop[..i]) {
                    keep = i;
                }
            }
        }
        keep
    }

    /// Whatever is still held at the end of the generation.
    pub(crate) fn finish(mut self) -> String {
        let mut out = std::mem::take(&mut self.held);
        out.push_str(&String::from_utf8_lossy(&self.pending_bytes));
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn text(p: Pushed) -> String {
        match p {
            Pushed::Text(t) => t,
            Pushed::Stopped(t) => panic!("stopped early with {t:?}"),
        }
    }

    #[test]
    fn a_character_split_across_tokens_is_sent_whole() {
        let mut a = TextAssembler::new(vec![]);
        let snow = "☃".as_bytes();
        assert_eq!(text(a.push(&snow[..1])), "");
        assert_eq!(text(a.push(&snow[1..])), "☃");
    }

    #[test]
    fn a_stop_string_is_never_sent_even_in_pieces() {
        let mut a = TextAssembler::new(vec!["</end>".into()]);
        assert_eq!(text(a.push(b"hello </")), "hello ");
        assert_eq!(text(a.push(b"en")), "");
        assert_eq!(a.push(b"d> more"), Pushed::Stopped(String::new()));
    }

    #[test]
    fn a_false_start_is_released() {
        let mut a = TextAssembler::new(vec!["STOP".into()]);
        assert_eq!(text(a.push(b"ST")), "");
        assert_eq!(text(a.push(b"AR")), "STAR");
        assert_eq!(a.finish(), "");
    }

    #[test]
    fn invalid_bytes_are_replaced_not_held() {
        let mut a = TextAssembler::new(vec![]);
        assert_eq!(text(a.push(&[0xff, b'a'])), "\u{fffd}a");
    }
}
