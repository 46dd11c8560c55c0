//! The deterministic detectors and the overlap resolution.
//!
//! Each detector finds candidate spans with a regex and then checks what a regex cannot: both
//! boundaries (a match glued to more letters or digits is not taken), checksums, and context. All
//! candidates then go through [`resolve`]: the longest span wins, ties go to the more specific kind
//! ([`Kind::rank`]), then to the earlier start. So a card number is never also a phone number, an
//! IBAN's digit groups are not a phone, and `alice` inside `alice@example.org` is part of the email.

use std::collections::BTreeSet;
use std::ops::Range;
use std::path::Path;

use regex::Regex;

use crate::ner::Ner;
use crate::{Error, Kind, checks};

/// One detected span of private data in a text.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Detection {
    /// Byte range in the text (on `char` boundaries).
    pub range: Range<usize>,
    /// What was found.
    pub kind: Kind,
}

/// The English BIP-39 word list (2048 words, sorted), from bitcoin/bips (MIT).
const BIP39_ENGLISH: &str = include_str!("data/bip39-english.txt");

/// User names of home directories that are too generic to replace wherever they appear.
const GENERIC_USERS: &[&str] = &[
    "user", "users", "admin", "root", "ubuntu", "debian", "pi", "nixos", "guest", "test", "home", "shared", "runner",
    "vagrant", "ec2-user", "centos", "fedora",
];

const LITERAL_PLACEHOLDER: &str = r"\[[A-Z][A-Z_]*_[0-9]+\]";

/// Compiled detectors.
pub(crate) struct Engine {
    enabled: BTreeSet<Kind>,
    bip39: Vec<&'static str>,
    word: Regex,
    email: Regex,
    phone_intl: Regex,
    phone_00: Regex,
    phone_us: Regex,
    phone_trunk: Regex,
    iban: Regex,
    card: Regex,
    ipv4: Regex,
    ipv6: Regex,
    version_ctx: Regex,
    eth: Regex,
    hexkey: Regex,
    digest_ctx: Regex,
    wif: Regex,
    xprv: Regex,
    pem: Regex,
    btc58: Regex,
    bech32: Regex,
    api: Vec<(Regex, usize)>,
    secret: Regex,
    ssn: Regex,
    nino: Regex,
    steuer: Regex,
    steuer_ctx: Regex,
    ssn_plain: Regex,
    ssn_ctx: Regex,
    insee: Regex,
    bsn: Regex,
    bsn_ctx: Regex,
    codice_fiscale: Regex,
    dni: Regex,
    ner: Ner,
    paths: Vec<Regex>,
    names: Option<Regex>,
    accounts: Option<Regex>,
    pub(crate) literal: Regex,
}

fn re(pattern: &str) -> Result<Regex, Error> {
    Regex::new(pattern).map_err(|e| Error::Internal(format!("detector pattern: {e}")))
}

/// A regex matching any of `words` (case-insensitive, longest first, whitespace-flexible).
fn alternation(words: &[String]) -> Result<Option<Regex>, Error> {
    let mut words: Vec<&String> = words.iter().collect();
    if words.is_empty() {
        return Ok(None);
    }
    words.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    words.dedup();
    let alts: Vec<String> =
        words.iter().map(|w| w.split_whitespace().map(regex::escape).collect::<Vec<_>>().join(r"\s+")).collect();
    Regex::new(&format!("(?i)(?:{})", alts.join("|")))
        .map(Some)
        .map_err(|e| Error::Config(format!("names/accounts do not compile: {e}")))
}

/// The user name in a home directory like `/home/alice`, if it is specific enough to replace.
pub(crate) fn home_user(home: &Path) -> Option<String> {
    let parent = home.parent()?.to_str()?;
    if !matches!(parent, "/home" | "/Users" | "/var/home" | "/usr/home") {
        return None;
    }
    let user = home.file_name()?.to_str()?;
    (user.chars().count() >= 3 && !GENERIC_USERS.contains(&user.to_ascii_lowercase().as_str())).then(|| user.to_owned())
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn prev_char(text: &str, i: usize) -> Option<char> {
    text[..i].chars().next_back()
}

fn next_char(text: &str, i: usize) -> Option<char> {
    text[i..].chars().next()
}

/// The character before `i`, looking past one separator (space, dash, dot, slash).
fn prev_across_sep(text: &str, i: usize) -> Option<char> {
    let mut it = text[..i].chars().rev();
    match it.next() {
        Some(' ' | '-' | '.' | '/') => it.next(),
        other => other,
    }
}

/// The character after `i`, looking past one separator (space, dash, dot, slash).
fn next_across_sep(text: &str, i: usize) -> Option<char> {
    let mut it = text[i..].chars();
    match it.next() {
        Some(' ' | '-' | '.' | '/') => it.next(),
        other => other,
    }
}

fn not(c: Option<char>, bad: impl Fn(char) -> bool) -> bool {
    !c.is_some_and(bad)
}

/// Calls `f` on every match of `re`; when `f` rejects a match, the search resumes one character
/// after the match start, so a valid match inside a rejected one is still found. (Patterns whose
/// suffixes are matches again, like an email's local part, have bounded repetitions so that this
/// stays linear in the text length times the longest match.)
fn scan(re: &Regex, text: &str, mut f: impl FnMut(regex::Match<'_>) -> bool) {
    let mut pos = 0;
    while pos <= text.len() {
        let Some(m) = re.find_at(text, pos) else {
            break;
        };
        if f(m) {
            pos = m.end().max(m.start() + 1);
        } else {
            pos = m.start() + next_char(text, m.start()).map_or(1, char::len_utf8);
        }
    }
}

/// Like [`scan`] for a regex with capture groups.
fn scan_captures(re: &Regex, text: &str, mut f: impl FnMut(&regex::Captures<'_>) -> bool) {
    let mut pos = 0;
    while pos <= text.len() {
        let Some(c) = re.captures_at(text, pos) else {
            break;
        };
        let Some(m) = c.get(0) else {
            break;
        };
        if f(&c) {
            pos = m.end().max(m.start() + 1);
        } else {
            pos = m.start() + next_char(text, m.start()).map_or(1, char::len_utf8);
        }
    }
}

/// Text before `i`, at most `n` bytes (on a char boundary).
fn before(text: &str, i: usize, n: usize) -> &str {
    let mut s = i.saturating_sub(n);
    while !text.is_char_boundary(s) {
        s += 1;
    }
    &text[s..i]
}

impl Engine {
    pub(crate) fn new(
        enabled: BTreeSet<Kind>,
        home: Option<&Path>,
        names: &[String],
        accounts: &[String],
    ) -> Result<Self, Error> {
        let base58 = "[1-9A-HJ-NP-Za-km-z]";
        let mut paths = vec![
            re(r"(?:/home|/Users|/var/home|/usr/home)/[A-Za-z0-9._-]+(?:/[^\s:;,|<>'`()\[\]{}]*)?")?,
            re(r"(?:~|\$HOME|\$\{HOME\})/[^\s:;,|<>'`()\[\]{}]+")?,
            re(r#"(?i)[a-z]:\\Users\\[^\\\s:;,|<>'"`]+(?:\\[^\s:;,|<>'"`]*)?"#)?,
        ];
        let mut accounts = accounts.to_vec();
        if let Some(home) = home {
            let h = home.to_string_lossy();
            let h = h.trim_end_matches('/');
            if !h.is_empty() {
                paths.push(re(&format!(r"{}(?:/[^\s:;,|<>'`()\[\]{{}}]*)?", regex::escape(h)))?);
            }
            if let Some(user) = home_user(home) {
                accounts.push(user);
            }
        }
        let bip39: Vec<&'static str> = BIP39_ENGLISH.lines().map(str::trim).collect();
        if bip39.len() != 2048 || !bip39.is_sorted() {
            return Err(Error::Internal("embedded BIP-39 list is corrupt".into()));
        }
        Ok(Self {
            enabled,
            bip39,
            word: re(r"[A-Za-z]+")?,
            email: re(
                r"[\p{Latin}0-9_][\p{Latin}0-9._%+-]{0,63}@(?:[\p{Latin}0-9](?:[\p{Latin}0-9-]{0,61}[\p{Latin}0-9])?\.){1,8}\p{Latin}{2,24}",
            )?,
            phone_intl: re(r"\+[1-9]\d{0,3}(?:[ .\-/]?(?:\(\d{1,5}\)|\d{1,6})){1,7}")?,
            phone_00: re(r"00[1-9]\d{0,3}(?:[ .\-/]\(?\d{1,6}\)?){1,7}")?,
            phone_us: re(r"\(\d{3}\) ?\d{3}[ .\-]\d{4}|\d{3}([.\- ])\d{3}[.\- ]\d{4}")?,
            phone_trunk: re(r"\(0[1-9]\d{0,3}\) ?\d{2,8}(?:[ \-]\d{2,8}){0,3}|0[1-9]\d{0,3}(?:[ \-/.]\d{2,8}){1,4}")?,
            iban: re(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?")?,
            card: re(r"\d(?:[ \-]?\d){12,18}")?,
            ipv4: re(r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?:\.(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}")?,
            ipv6: re(r"(?i)(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}(?:\.\d{1,3}\.\d{1,3}\.\d{1,3})?(?:%[0-9a-z]+)?")?,
            version_ctx: re(r"(?i)(?:\bversion|\bver\.?|\brelease|\bbuild|\bv)\s*[:=#]?\s*$")?,
            eth: re(r"0x[0-9a-fA-F]{40}")?,
            hexkey: re(r"(?:0x)?[0-9a-fA-F]{64}")?,
            digest_ctx: re(r"(?i)(?:sha-?256|sha256sum|digest|checksum)\s*[:=]?\s*$")?,
            wif: re(&format!("[5KL]{base58}{{50,51}}"))?,
            xprv: re(&format!("[xtyz]prv{base58}{{100,112}}"))?,
            pem: re(
                r"(?s)-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----(?:.*?-----END [A-Z0-9 ]*PRIVATE KEY-----|(?:\s*[A-Za-z0-9+/=]{16,})*)",
            )?,
            btc58: re(&format!("[13]{base58}{{25,34}}"))?,
            bech32: re(r"(?i)(?:bc|tb)1[02-9ac-hj-np-z]{6,87}")?,
            api: vec![
                (re(r"sk-(?:ant-|proj-)?[A-Za-z0-9_\-]{20,}")?, 0),
                (re(r"gh[pousr]_[A-Za-z0-9]{30,}")?, 0),
                (re(r"github_pat_[A-Za-z0-9_]{30,}")?, 0),
                (re(r"(?:AKIA|ASIA)[0-9A-Z]{16}")?, 0),
                (re(r"xox[abposr]-[A-Za-z0-9\-]{10,}")?, 0),
                (re(r"AIza[0-9A-Za-z_\-]{35}")?, 0),
                (re(r"glpat-[A-Za-z0-9_\-]{20,}")?, 0),
                (re(r"(?:sk|rk)_(?:live|test)_[A-Za-z0-9]{16,}")?, 0),
                (re(r"hf_[A-Za-z0-9]{30,}")?, 0),
                (re(r"npm_[A-Za-z0-9]{36}")?, 0),
                (re(r"eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}")?, 0),
                (re(r"(?i:bearer)\s+([A-Za-z0-9._~+/\-]{20,}=*)")?, 1),
            ],
            secret: re(
                r#"(?i)(?:password|passwd|pwd|passphrase|secret|api_?key|access_?token|auth_?token|token)["']?\s*[:=]\s*(?:"([^"\s]{6,})"|'([^'\s]{6,})'|([^\s"',;&)\]}]{6,}))"#,
            )?,
            ssn: re(r"(\d{3})-(\d{2})-(\d{4})")?,
            nino: re(r"([A-Z])([A-Z]) ?\d{2} ?\d{2} ?\d{2} ?[A-D]")?,
            steuer: re(r"\d{2} ?\d{3} ?\d{3} ?\d{3}")?,
            steuer_ctx: re(
                r"(?i)(?:steuer-?id|steuer-?identifikationsnummer|identifikationsnummer|idnr|\btin\b|tax id)",
            )?,
            ssn_plain: re(r"\d{3} ?\d{2} ?\d{4}")?,
            ssn_ctx: re(
                r"(?i)(?:\bssn|social security(?: number| no\.?| #)?)\W{0,3}(?:is\W{0,2}|number\W{0,2}|no\.?\W{0,2})?$",
            )?,
            insee: re(r"[1-478] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}")?,
            bsn: re(r"\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}[ .]\d{3}[ .]\d{3}")?,
            bsn_ctx: re(r"(?i)(?:\bbsn\b|burgerservicenummer|sofi-?nummer|citizen service number)")?,
            codice_fiscale: re(r"[A-Z]{6}[0-9LMNP-V]{2}[ABCDEHLMPRST][0-9LMNP-V]{2}[A-Z][0-9LMNP-V]{3}[A-Z]")?,
            dni: re(r"[XYZ]-?\d{7}-?[A-Z]|\d{8}-?[A-Z]")?,
            ner: Ner::new()?,
            paths,
            names: alternation(names)?,
            accounts: alternation(&accounts)?,
            literal: re(LITERAL_PLACEHOLDER)?,
        })
    }

    fn on(&self, kind: Kind) -> bool {
        self.enabled.contains(&kind)
    }

    /// All candidates of the enabled detectors (overlapping; see [`resolve`]).
    pub(crate) fn candidates(&self, text: &str) -> Vec<Detection> {
        let mut out = Vec::new();
        self.shapes(text, &mut out);
        self.names(text, &mut out);
        out
    }

    fn shapes(&self, text: &str, out: &mut Vec<Detection>) {
        let mut push = |range: Range<usize>, kind: Kind| out.push(Detection { range, kind });
        if self.on(Kind::Email) {
            self.emails(text, &mut push);
        }
        if self.on(Kind::Phone) {
            self.phones(text, &mut push);
        }
        if self.on(Kind::Iban) {
            self.ibans(text, &mut push);
        }
        if self.on(Kind::Card) {
            self.cards(text, &mut push);
        }
        if self.on(Kind::Ip) {
            self.ips(text, &mut push);
        }
        if self.on(Kind::EthAddress) {
            scan(&self.eth, text, |m| {
                let ok = not(prev_char(text, m.start()), is_word) && not(next_char(text, m.end()), is_word);
                if ok {
                    push(m.range(), Kind::EthAddress);
                }
                ok
            });
        }
        if self.on(Kind::BtcAddress) {
            self.bitcoin(text, &mut push);
        }
        if self.on(Kind::PrivateKey) {
            self.private_keys(text, &mut push);
        }
        if self.on(Kind::SeedPhrase) {
            self.seed_phrases(text, &mut push);
        }
        if self.on(Kind::ApiKey) {
            self.api_keys(text, &mut push);
        }
        if self.on(Kind::Secret) {
            self.secrets(text, &mut push);
        }
        if self.on(Kind::GovId) {
            self.gov_ids(text, &mut push);
        }
        if self.on(Kind::Path) {
            self.paths(text, &mut push);
        }
    }

    fn names(&self, text: &str, out: &mut Vec<Detection>) {
        let before = out.len();
        if self.on(Kind::Person)
            && let Some(re) = &self.names
        {
            bounded_words(re, text, Kind::Person, &mut |r, k| out.push(Detection { range: r, kind: k }));
        }
        if self.on(Kind::Account)
            && let Some(re) = &self.accounts
        {
            bounded_words(re, text, Kind::Account, &mut |r, k| out.push(Detection { range: r, kind: k }));
        }
        // The user's own names and accounts win over found names that run into them.
        let blocked: Vec<Range<usize>> = out[before..].iter().map(|d| d.range.clone()).collect();
        self.ner.candidates(text, |k| self.on(k), &blocked, &mut |r, k| out.push(Detection { range: r, kind: k }));
    }

    fn emails(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        scan(&self.email, text, |m| {
            let tld = m.as_str().rsplit('.').next().unwrap_or_default();
            let file_ext = matches!(
                tld.to_ascii_lowercase().as_str(),
                "png" | "jpg" | "jpeg" | "gif" | "svg" | "webp" | "css" | "js"
            );
            // Latin letters continue an address; other scripts (`メールはa@b.jpまで`) do not.
            let latin = |c: char| c.is_ascii_alphanumeric() || (c.is_alphabetic() && (c as u32) < 0x250);
            let ok = !file_ext
                && not(prev_char(text, m.start()), |c| latin(c) || "._%+-".contains(c))
                && not(next_char(text, m.end()), |c| latin(c) || "-@_".contains(c));
            if ok {
                push(m.range(), Kind::Email);
            }
            ok
        });
    }

    fn phones(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        let digits = |s: &str| s.bytes().filter(u8::is_ascii_digit).count();
        let balanced = |s: &str| s.matches('(').count() == s.matches(')').count();
        let outer_ok = |r: &Range<usize>| {
            not(prev_across_sep(text, r.start), |c| c.is_ascii_digit())
                && not(prev_char(text, r.start), |c| c.is_alphanumeric() || c == '+')
                && not(next_across_sep(text, r.end), |c| c.is_ascii_digit())
                && not(next_char(text, r.end), char::is_alphanumeric)
        };
        scan(&self.phone_intl, text, |m| {
            let n = digits(m.as_str());
            let ok = (8..=15).contains(&n) && balanced(m.as_str()) && outer_ok(&m.range());
            if ok {
                push(m.range(), Kind::Phone);
            }
            ok
        });
        scan(&self.phone_00, text, |m| {
            let n = digits(m.as_str());
            let ok = (10..=17).contains(&n) && balanced(m.as_str()) && outer_ok(&m.range());
            if ok {
                push(m.range(), Kind::Phone);
            }
            ok
        });
        scan(&self.phone_us, text, |m| {
            let s = m.as_str();
            // The `ddd-ddd-dddd` form needs one kind of separator.
            let seps: BTreeSet<char> = s.chars().filter(|c| "-. ".contains(*c)).collect();
            let ok = (s.starts_with('(') || seps.len() == 1) && outer_ok(&m.range());
            if ok {
                push(m.range(), Kind::Phone);
            }
            ok
        });
        scan(&self.phone_trunk, text, |m| {
            let s = m.as_str();
            let n = digits(s);
            let groups: Vec<&str> = s.split([' ', '-', '/', '.']).collect();
            let date_like =
                groups.len() == 3 && groups[0].len() <= 2 && groups[1].len() <= 2 && (2..=4).contains(&groups[2].len());
            let ok = (9..=12).contains(&n) && !date_like && outer_ok(&m.range());
            if ok {
                push(m.range(), Kind::Phone);
            }
            ok
        });
    }

    fn ibans(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        scan(&self.iban, text, |m| {
            if prev_char(text, m.start()).is_some_and(is_word) {
                return false;
            }
            // Try the longest prefix that ends at a group boundary and validates.
            let s = m.as_str();
            let mut ends: Vec<usize> = s.char_indices().filter(|&(i, c)| c == ' ' && i > 4).map(|(i, _)| i).collect();
            ends.push(s.len());
            for &end in ends.iter().rev() {
                let compact: String = s[..end].chars().filter(|c| *c != ' ').collect();
                if checks::iban(&compact) && not(next_char(text, m.start() + end), is_word) {
                    push(m.start()..m.start() + end, Kind::Iban);
                    return true;
                }
            }
            false
        });
    }

    fn cards(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        scan(&self.card, text, |m| {
            let s = m.as_str();
            let digits: usize = s.bytes().filter(u8::is_ascii_digit).count();
            let seps: BTreeSet<char> = s.chars().filter(|c| !c.is_ascii_digit()).collect();
            let groups: Vec<usize> = s.split([' ', '-']).map(str::len).collect();
            let grouping_ok = seps.is_empty()
                || (seps.len() == 1
                    && (groups == [4, 6, 5]
                        || groups == [4, 6, 4]
                        || (groups[..groups.len() - 1].iter().all(|&g| g == 4)
                            && (1..=4).contains(groups.last().unwrap_or(&0)))));
            let ok = (13..=19).contains(&digits)
                && matches!(s.as_bytes()[0], b'2'..=b'6')
                && grouping_ok
                && checks::luhn(s)
                && not(prev_across_sep(text, m.start()), |c| c.is_ascii_digit())
                && not(prev_char(text, m.start()), |c| c.is_alphanumeric() || c == '.' || c == ',')
                && not(next_across_sep(text, m.end()), |c| c.is_ascii_digit())
                && not(next_char(text, m.end()), char::is_alphanumeric);
            if ok {
                push(m.range(), Kind::Card);
            }
            ok
        });
    }

    fn ips(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        scan(&self.ipv4, text, |m| {
            let first: u8 = m.as_str().split('.').next().and_then(|o| o.parse().ok()).unwrap_or(0);
            let after = &text[m.end()..];
            let ok = !matches!(first, 0 | 127 | 255)
                && not(prev_char(text, m.start()), |c| is_word(c) || c == '.')
                && not(next_char(text, m.end()), |c| c.is_alphanumeric() || c == '_')
                && !(after.starts_with('.') && after[1..].starts_with(|c: char| c.is_ascii_digit()))
                && !self.version_ctx.is_match(before(text, m.start(), 16));
            if ok {
                push(m.range(), Kind::Ip);
            }
            ok
        });
        scan(&self.ipv6, text, |m| {
            if prev_char(text, m.start()).is_some_and(|c| is_word(c) || c == ':' || c == '.') {
                return false;
            }
            let mut s = m.as_str();
            let mut end = m.end();
            loop {
                let addr = s.split('%').next().unwrap_or_default();
                let groups = addr.split(':').filter(|g| !g.is_empty()).count();
                if addr.parse::<std::net::Ipv6Addr>().is_ok()
                    && groups >= 2
                    && addr.bytes().any(|b| b.is_ascii_digit())
                    && not(next_char(text, end), |c| is_word(c) || c == ':')
                {
                    push(m.start()..end, Kind::Ip);
                    return true;
                }
                if s.ends_with(':') && !s.ends_with("::") {
                    s = &s[..s.len() - 1];
                    end -= 1;
                } else {
                    return false;
                }
            }
        });
    }

    fn bitcoin(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        let bounded =
            |m: &regex::Match<'_>| not(prev_char(text, m.start()), is_word) && not(next_char(text, m.end()), is_word);
        scan(&self.btc58, text, |m| {
            let ok = bounded(&m)
                && checks::base58check(m.as_str()).is_some_and(|p| {
                    p.len() == 21 && matches!((m.as_str().as_bytes()[0], p[0]), (b'1', 0) | (b'3', 5))
                });
            if ok {
                push(m.range(), Kind::BtcAddress);
            }
            ok
        });
        scan(&self.bech32, text, |m| {
            let ok = bounded(&m) && checks::bech32(m.as_str());
            if ok {
                push(m.range(), Kind::BtcAddress);
            }
            ok
        });
    }

    fn private_keys(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        for m in self.pem.find_iter(text) {
            let end = m.start() + m.as_str().trim_end().len();
            push(m.start()..end, Kind::PrivateKey);
        }
        scan(&self.hexkey, text, |m| {
            let s = m.as_str();
            let hex = s.strip_prefix("0x").unwrap_or(s);
            let ok = not(prev_char(text, m.start()), is_word)
                && not(next_char(text, m.end()), is_word)
                && hex.bytes().any(|b| b.is_ascii_digit())
                && hex.bytes().any(|b| b.is_ascii_alphabetic())
                && !self.digest_ctx.is_match(before(text, m.start(), 24));
            if ok {
                push(m.range(), Kind::PrivateKey);
            }
            ok
        });
        let bounded =
            |m: &regex::Match<'_>| not(prev_char(text, m.start()), is_word) && not(next_char(text, m.end()), is_word);
        scan(&self.wif, text, |m| {
            let ok = bounded(&m)
                && checks::base58check(m.as_str())
                    .is_some_and(|p| p[0] == 0x80 && (p.len() == 33 || (p.len() == 34 && p[33] == 1)));
            if ok {
                push(m.range(), Kind::PrivateKey);
            }
            ok
        });
        scan(&self.xprv, text, |m| {
            let ok = bounded(&m) && checks::base58check(m.as_str()).is_some_and(|p| p.len() == 78);
            if ok {
                push(m.range(), Kind::PrivateKey);
            }
            ok
        });
    }

    /// Runs of 12 or more BIP-39 words separated only by whitespace, commas or list numbering
    /// (`1. abandon 2. ability`). The whole run is taken, so a mistyped or over-long phrase is
    /// still covered.
    fn seed_phrases(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        let mut run: Option<(usize, usize, usize)> = None; // (start, end, words)
        let mut flush = |run: &mut Option<(usize, usize, usize)>| {
            if let Some((s, e, n)) = run.take()
                && n >= 12
            {
                push(s..e, Kind::SeedPhrase);
            }
        };
        for m in self.word.find_iter(text) {
            let w = m.as_str();
            let in_list =
                w.len() >= 3 && w.len() <= 8 && self.bip39.binary_search(&w.to_ascii_lowercase().as_str()).is_ok();
            if !in_list {
                flush(&mut run);
                continue;
            }
            match &mut run {
                Some((_, end, n)) if list_gap(&text[*end..m.start()]) => {
                    *end = m.end();
                    *n += 1;
                }
                _ => {
                    flush(&mut run);
                    run = Some((m.start(), m.end(), 1));
                }
            }
        }
        flush(&mut run);
    }

    fn api_keys(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        for (re, group) in &self.api {
            scan_captures(re, text, |c| {
                let (Some(all), Some(v)) = (c.get(0), c.get(*group)) else {
                    return false;
                };
                let ok = not(prev_char(text, all.start()), |c| is_word(c) || c == '-')
                    && not(next_char(text, all.end()), |c| is_word(c) || c == '-')
                    && v.as_str().bytes().any(|b| b.is_ascii_digit())
                    && v.as_str().bytes().any(|b| b.is_ascii_alphabetic());
                if ok {
                    push(v.range(), Kind::ApiKey);
                }
                ok
            });
        }
    }

    fn secrets(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        const NOT_SECRETS: &[&str] = &[
            "null",
            "none",
            "true",
            "false",
            "undefined",
            "required",
            "optional",
            "string",
            "example",
            "redacted",
            "hidden",
            "secret",
            "password",
            "changeme",
        ];
        scan_captures(&self.secret, text, |c| {
            let Some(v) = c.get(1).or(c.get(2)).or(c.get(3)) else {
                return false;
            };
            let s = v.as_str();
            let first = s.chars().next().unwrap_or(' ');
            let all_same = s.chars().all(|c| c == first);
            let ok = !"$<{%*[(".contains(first)
                && !all_same
                && !s.bytes().all(|b| b.is_ascii_digit())
                && !NOT_SECRETS.contains(&s.to_ascii_lowercase().as_str());
            if ok {
                push(v.range(), Kind::Secret);
            }
            ok
        });
    }

    fn gov_ids(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        let bounded = |r: Range<usize>| {
            not(prev_char(text, r.start), |c| is_word(c) || c == '-')
                && not(next_char(text, r.end), |c| is_word(c) || c == '-')
        };
        scan_captures(&self.ssn, text, |c| {
            let (Some(all), Some(a), Some(g), Some(s)) = (c.get(0), c.get(1), c.get(2), c.get(3)) else {
                return false;
            };
            let ok = bounded(all.range()) && checks::ssn(a.as_str(), g.as_str(), s.as_str());
            if ok {
                push(all.range(), Kind::GovId);
            }
            ok
        });
        scan(&self.nino, text, |m| {
            let b = m.as_str().as_bytes();
            let spaces = m.as_str().matches(' ').count();
            let ok = bounded(m.range()) && (spaces == 0 || spaces == 4) && checks::nino_prefix(b[0], b[1]);
            if ok {
                push(m.range(), Kind::GovId);
            }
            ok
        });
        scan(&self.steuer, text, |m| {
            let digits: Vec<u8> = m.as_str().bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect();
            let ok = bounded(m.range())
                && checks::steuer_id(&digits)
                && self.steuer_ctx.is_match(before(text, m.start(), 48));
            if ok {
                push(m.range(), Kind::GovId);
            }
            ok
        });
        let digits_of = |s: &str| -> Vec<u8> { s.bytes().filter(u8::is_ascii_digit).map(|b| b - b'0').collect() };
        // An SSN without dashes only right after `SSN` / `social security number`.
        scan(&self.ssn_plain, text, |m| {
            let d = digits_of(m.as_str());
            let s = |r: Range<usize>| d[r].iter().map(|b| char::from(b + b'0')).collect::<String>();
            let ok = bounded(m.range())
                && checks::ssn(&s(0..3), &s(3..5), &s(5..9))
                && self.ssn_ctx.is_match(before(text, m.start(), 32));
            if ok {
                push(m.range(), Kind::GovId);
            }
            ok
        });
        scan(&self.insee, text, |m| {
            let compact: String = m.as_str().chars().filter(|c| !c.is_whitespace()).collect();
            let ok = bounded(m.range()) && checks::insee(&compact);
            if ok {
                push(m.range(), Kind::GovId);
            }
            ok
        });
        scan(&self.bsn, text, |m| {
            let ok = bounded(m.range())
                && checks::bsn(&digits_of(m.as_str()))
                && self.bsn_ctx.is_match(before(text, m.start(), 48));
            if ok {
                push(m.range(), Kind::GovId);
            }
            ok
        });
        scan(&self.codice_fiscale, text, |m| {
            let ok = bounded(m.range()) && checks::codice_fiscale(m.as_str().as_bytes());
            if ok {
                push(m.range(), Kind::GovId);
            }
            ok
        });
        scan(&self.dni, text, |m| {
            let compact: String = m.as_str().chars().filter(|&c| c != '-').collect();
            let ok = bounded(m.range()) && checks::dni(&compact);
            if ok {
                push(m.range(), Kind::GovId);
            }
            ok
        });
    }

    fn paths(&self, text: &str, push: &mut impl FnMut(Range<usize>, Kind)) {
        for re in &self.paths {
            scan(re, text, |m| {
                if m.as_str().starts_with(['~', '$']) && prev_char(text, m.start()).is_some_and(is_word) {
                    return false;
                }
                let trimmed = m.as_str().trim_end_matches(['.', ',', '!', '?', '"', '\'', ')', ']', '}', '>']);
                let end = m.start() + trimmed.len();
                // `/home/alicexyz` is not under `/home/alice`.
                if next_char(text, end).is_some_and(|c| is_word(c) || c == '-') {
                    return false;
                }
                push(m.start()..end, Kind::Path);
                true
            });
        }
    }
}

/// Whether the text between two seed words keeps them in one phrase.
fn list_gap(gap: &str) -> bool {
    if gap.is_empty() || !gap.contains(|c: char| c.is_whitespace() || c == ',') {
        return false;
    }
    gap.split(|c: char| c.is_whitespace() || c == ',').filter(|p| !p.is_empty()).all(|p| {
        let digits = p.trim_end_matches(['.', ')', ':']);
        (1..=2).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) && p.len() - digits.len() <= 1
    })
}

/// Word-bounded matches of a names/accounts alternation.
fn bounded_words(re: &Regex, text: &str, kind: Kind, push: &mut impl FnMut(Range<usize>, Kind)) {
    scan(re, text, |m| {
        let s = m.as_str();
        let start_ok = !s.starts_with(is_word) || not(prev_char(text, m.start()), is_word);
        let end_ok = !s.ends_with(is_word) || not(next_char(text, m.end()), is_word);
        let ok = start_ok && end_ok;
        if ok {
            push(m.range(), kind);
        }
        ok
    });
}

/// Keeps a non-overlapping subset: longest first, then more specific kind, then earlier start.
/// Returns the kept detections in text order.
pub(crate) fn resolve(mut cands: Vec<Detection>) -> Vec<Detection> {
    cands.sort_by(|a, b| {
        b.range
            .len()
            .cmp(&a.range.len())
            .then(a.kind.rank().cmp(&b.kind.rank()))
            .then(a.range.start.cmp(&b.range.start))
    });
    let mut kept: Vec<Detection> = Vec::with_capacity(cands.len());
    for c in cands {
        if c.range.is_empty() {
            continue;
        }
        // `kept` is sorted by start; find the neighbours of `c`.
        let i = kept.partition_point(|k| k.range.start < c.range.start);
        let clash_prev = i > 0 && kept[i - 1].range.end > c.range.start;
        let clash_next = i < kept.len() && kept[i].range.start < c.range.end;
        if !clash_prev && !clash_next {
            kept.insert(i, c);
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        #[allow(clippy::unwrap_used)]
        Engine::new(
            Kind::DETERMINISTIC.into_iter().collect(),
            Some(Path::new("/home/alice")),
            &["Alice Liddell".into()],
            &["alice_l".into()],
        )
        .unwrap()
    }

    fn found(text: &str) -> Vec<(Kind, String)> {
        resolve(engine().candidates(text)).into_iter().map(|d| (d.kind, text[d.range].to_owned())).collect()
    }

    #[test]
    fn overlap_prefers_longest_then_specific() {
        let d = |s: usize, e: usize, kind| Detection { range: s..e, kind };
        let kept = resolve(vec![d(0, 5, Kind::Phone), d(0, 5, Kind::Card), d(3, 10, Kind::Ip)]);
        assert_eq!(kept, vec![d(3, 10, Kind::Ip)]);
        let kept = resolve(vec![d(0, 5, Kind::Phone), d(0, 5, Kind::Card), d(6, 10, Kind::Ip)]);
        assert_eq!(kept, vec![d(0, 5, Kind::Card), d(6, 10, Kind::Ip)]);
    }

    #[test]
    fn home_user_is_only_taken_when_specific() {
        assert_eq!(home_user(Path::new("/home/alice")), Some("alice".into()));
        assert_eq!(home_user(Path::new("/home/user")), None);
        assert_eq!(home_user(Path::new("/root")), None);
    }

    #[test]
    fn user_name_and_home_paths() {
        assert_eq!(
            found("alice@laptop:~$ cat /home/alice/notes/tax.md, then ~/x.txt"),
            vec![
                (Kind::Account, "alice".into()),
                (Kind::Path, "/home/alice/notes/tax.md".into()),
                (Kind::Path, "~/x.txt".into()),
            ]
        );
    }

    #[test]
    fn national_ids_need_their_checks() {
        let text = "NIR 2 55 08 14 168 025 38, BSN 123456782, CF RSSMRA85T10A562S, DNI 12345678Z, \
                    NIE X1234567L, SSN 219099999.";
        let ids: Vec<String> = found(text).into_iter().filter(|(k, _)| *k == Kind::GovId).map(|(_, v)| v).collect();
        assert_eq!(
            ids,
            ["2 55 08 14 168 025 38", "123456782", "RSSMRA85T10A562S", "12345678Z", "X1234567L", "219099999"]
        );
        // Wrong check digits or letters, and a BSN-valid number without its keyword.
        let near = "NIR 2 55 08 14 168 025 39, order 123456782, CF RSSMRA85T10A562T, ref 12345678A, 219099999.";
        assert_eq!(found(near).into_iter().filter(|(k, _)| *k == Kind::GovId).count(), 0, "{:?}", found(near));
    }

    #[test]
    fn the_users_own_name_wins_over_a_found_one() {
        // `Alice` is the home user's account: `Alice Cooper` is not one found person.
        assert_eq!(found("not Alice Cooper"), vec![(Kind::Account, "Alice".into())]);
    }

    #[test]
    fn list_gap_accepts_numbering_only() {
        assert!(list_gap(" "));
        assert!(list_gap("\n2. "));
        assert!(list_gap(", "));
        assert!(!list_gap(". "));
        assert!(!list_gap("-"));
        assert!(!list_gap(" 123 "));
    }
}
