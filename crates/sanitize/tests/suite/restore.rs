//! Restore is exact: property-style tests over random texts and random chunkings.
//!
//! A small deterministic PRNG (SplitMix64) builds texts from private values, placeholder-shaped
//! literals, stray and partial brackets and non-ASCII text; each is sanitised, and the sanitised
//! text (standing in for a remote answer that echoes the placeholders) is restored in one go and
//! through a [`Restorer`] fed random chunkings, which split placeholders at every possible point.

use std::sync::Arc;

use sov_sanitize::{Config, Map, Restorer, Sanitizer};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "alice@example.org",
    "bob.smith@mail.example.com",
    "+49 30 12345678",
    "(415) 555-0198",
    "DE89 3704 0044 0532 0130 00",
    "4111 1111 1111 1111",
    "192.168.1.23",
    "2001:db8::1",
    "0x742d35Cc6634C0532925a3b844Bc454e4438f44e",
    "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa",
    "sk-proj-4fG7hK2mN9pQ1rS3tU5vW7xY9zA1bC3dE5fG7h",
    "123-45-6789",
    "/home/alice/notes/secret plan.md",
    "~/keys/id_ed25519",
    "Alice Liddell",
    "alice_l",
    "[EMAIL_1]",
    "[EMAIL_2]",
    "[PHONE_1]",
    "[LITERAL_1]",
    "[EMAIL_",
    "[EMAIL_1",
    "[PATH_",
    "[[",
    "]]",
    "[",
    "]",
    "[]",
    "[x]",
    "[EMAIL_01]",
    "[email_1]",
    " ",
    " ",
    "\n",
    ", ",
    "Grüße ",
    "日本語 ",
    "🙂",
    "the ",
    "and ",
    "42 ",
    "v1.2.3 ",
];

fn sanitizer() -> Sanitizer {
    Sanitizer::new(Config {
        home_dir: Some("/home/alice".into()),
        names: vec!["Alice Liddell".into()],
        accounts: vec!["alice_l".into()],
        ..Config::default()
    })
    .unwrap()
}

fn random_text(rng: &mut Rng) -> String {
    let n = 1 + rng.below(30);
    (0..n).map(|_| rng.pick(PIECES)).collect()
}

/// Splits `text` at random char boundaries (including empty chunks).
fn random_chunks<'a>(rng: &mut Rng, text: &'a str) -> Vec<&'a str> {
    let bounds: Vec<usize> = (0..=text.len()).filter(|&i| text.is_char_boundary(i)).collect();
    let mut cuts: Vec<usize> = (0..rng.below(12)).map(|_| bounds[rng.below(bounds.len())]).collect();
    cuts.push(0);
    cuts.push(text.len());
    cuts.sort_unstable();
    cuts.windows(2).map(|w| &text[w[0]..w[1]]).collect()
}

fn stream<M: std::borrow::Borrow<Map>>(mut r: Restorer<M>, chunks: &[&str], max_pending: usize) -> String {
    let mut out = String::new();
    for c in chunks {
        out.push_str(&r.push(c));
        assert!(r.pending().len() < max_pending.max(1), "holds back more than a placeholder prefix: {:?}", r.pending());
        assert!(r.pending().is_empty() || r.pending().starts_with('['));
    }
    out.push_str(&r.finish());
    out
}

#[test]
fn restore_is_exact_for_random_texts_and_chunkings() {
    let s = sanitizer();
    let mut rng = Rng(0x5EED_0001);
    let mut split_placeholders = 0;
    for _ in 0..400 {
        let text = random_text(&mut rng);
        let out = s.sanitize(&text);
        assert_eq!(out.map.restore(&out.text), text, "one-shot restore of {text:?}");
        let max = out.map.entries().map(|e| e.placeholder().len()).max().unwrap_or(0);
        let map = Arc::new(out.map);
        for _ in 0..20 {
            let chunks = random_chunks(&mut rng, &out.text);
            split_placeholders += chunks.iter().filter(|c| c.contains('[') && !c.contains(']')).count();
            assert_eq!(stream(Restorer::new(Arc::clone(&map)), &chunks, max), text, "chunks {chunks:?}");
        }
    }
    assert!(split_placeholders > 1000, "the chunkings do split placeholders");
}

#[test]
fn restore_is_exact_when_one_map_serves_many_messages() {
    let s = sanitizer();
    let mut rng = Rng(0x5EED_0002);
    for _ in 0..100 {
        let mut map = Map::new();
        let messages: Vec<String> = (0..1 + rng.below(6)).map(|_| random_text(&mut rng)).collect();
        let sent: Vec<String> = messages.iter().map(|m| s.sanitize_into(m, &mut map)).collect();
        for (m, out) in messages.iter().zip(&sent) {
            assert_eq!(&map.restore(out), m);
            let chunks = random_chunks(&mut rng, out);
            assert_eq!(&stream(map.restorer(), &chunks, 32), m);
        }
        // The whole conversation echoed back in one answer restores too.
        assert_eq!(map.restore(&sent.concat()), messages.concat());
    }
}

#[test]
fn every_split_point_of_a_placeholder_restores() {
    let s = sanitizer();
    let text = "write to alice@example.org, [EMAIL_1] is a literal; call +49 30 12345678]";
    let out = s.sanitize(text);
    assert_eq!(out.text, "write to [EMAIL_2], [EMAIL_1] is a literal; call [PHONE_1]]");
    for a in 0..=out.text.len() {
        for b in a..=out.text.len() {
            let chunks = [&out.text[..a], &out.text[a..b], &out.text[b..]];
            assert_eq!(stream(out.map.restorer(), &chunks, 10), text);
        }
    }
}

#[test]
fn conversation_map_keeps_placeholders_across_messages() {
    let s = sanitizer();
    let mut map = Map::new();
    let first = s.sanitize_into("I am alice@example.org", &mut map);
    let second = s.sanitize_into("again: alice@example.org, and you wrote [EMAIL_1]", &mut map);
    assert_eq!(first, "I am [EMAIL_1]");
    assert_eq!(second, "again: [EMAIL_1], and you wrote [LITERAL_1]");
    let answer = "Sure, [EMAIL_1]; the text [LITERAL_1] was yours, [EMAIL_7] is unknown.";
    assert_eq!(map.restore(answer), "Sure, alice@example.org; the text [EMAIL_1] was yours, [EMAIL_7] is unknown.");
}
