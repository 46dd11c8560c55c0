//! The user's address book as the gate's signals see it, and the comparisons that tell a known
//! contact from one made to look like it.
//!
//! The gate does not read mail: it asks an [`AddressBook`], a port it defines and the messaging
//! service implements from the mail and Signal history (`sov_msg::contacts::History`), which
//! `sov serve` registers with [`crate::Gate::set_address_book`]. To that the gate adds what its
//! own tables know: the recipients of executed `message.send` actions and every wallet address
//! an approved wallet action went to.
//!
//! [`Index::look_alike`] says whether a value (an e-mail address, a phone number, a wallet
//! address, an IBAN) imitates a known contact without being it:
//! - **e-mail domains**, compared by their registrable part (`mail.example.org` is
//!   `example.org`; a short list of two-level endings such as `co.uk` is known): the same
//!   skeleton (Unicode UTS #39 confusables, by the `unicode-security` crate: `paypa1.com`,
//!   `rnicrosoft.com`, Cyrillic `е` for Latin `e`; punycode `xn--` names are decoded first),
//!   an edit distance of 1 (names of 5 characters or more) or 2 (9 or more, transpositions
//!   count once), the same name with another ending (`example.com` for `example.org`), a known
//!   domain as the start of another (`paypal.com.example.net`), or a known name of 5 characters
//!   or more joined to other words by hyphens (`paypal-billing.com`);
//! - **the name before `@`** on a known domain: the same skeleton (`j0hn@` for `john@`);
//! - **phone numbers** of 8 digits or more: one or two digits differ;
//! - **wallet addresses**: the same first 3 and last 3 hex digits and different in between (the
//!   address-poisoning attack, which imitates what a wallet shows: `0x7099…79C8`), or at most 4
//!   hex digits differ;
//! - **IBANs**: at most four characters differ (same country and length): one changed digit of
//!   the account, with the two check digits made right again, is three.
//!
//! Which of two similar contacts imitates the other: a recipient the user wrote to (or paid, or
//! that is one of the user's own accounts) imitates nobody; otherwise it imitates a similar
//! contact that is trusted, or that wrote to the user more often than it did.
//!
//! # What it cannot see
//! A look-alike of nobody in the history (the first mail from a scammer to a new domain); a
//! changed letter in the name before `@` (`jon.smith@` for `john.smith@`); a domain more than
//! two edits away; a whole-script look-alike of a domain the user never corresponded with.
//! Legitimate near-twins are flagged too (two colleagues' extensions `+49 30 1234560` and
//! `…61`, a company's `.de` and `.com`): the human can still approve, after the delay.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use unicode_security::MixedScript;

/// What kind of address a contact is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    /// An e-mail address.
    Email,
    /// A phone number (Signal).
    Phone,
    /// An Ethereum address.
    Wallet,
    /// A bank account number.
    Iban,
}

impl Channel {
    /// What one is called in a sentence.
    pub fn noun(self) -> &'static str {
        match self {
            Channel::Email => "address",
            Channel::Phone => "number",
            Channel::Wallet => "wallet address",
            Channel::Iban => "IBAN",
        }
    }
}

/// One entry of the address book.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    /// Its kind.
    pub channel: Channel,
    /// In canonical form ([`canonical`]).
    pub address: String,
    /// The name it signed with, if any.
    pub name: String,
    /// One of the user's own accounts.
    pub own: bool,
    /// The user wrote to it (or paid it, or the value came from the user's own message or from
    /// someone the user wrote to).
    pub wrote_to: bool,
    /// How many messages came from it.
    pub received: u32,
    /// Where it was seen, finishing "seen in …": `your mail`, `your Signal messages`.
    pub seen_in: String,
}

impl Contact {
    /// The user knows it: own, written to or paid.
    pub fn trusted(&self) -> bool {
        self.own || self.wrote_to
    }

    /// The contact as a sentence names it: `service@paypal.com (PayPal), who wrote to you 3
    /// times in your mail`.
    pub fn described(&self) -> String {
        if matches!(self.channel, Channel::Wallet | Channel::Iban) && !self.own {
            return format!("{}, seen in {}", self.address, self.seen_in);
        }
        let name = if self.name.is_empty() { String::new() } else { format!(" ({})", self.name) };
        let how = if self.own {
            "one of your own accounts".to_owned()
        } else if self.wrote_to && self.received > 0 {
            format!("whom you wrote to and who wrote to you {}, in {}", times(self.received), self.seen_in)
        } else if self.wrote_to {
            format!("known from {}", self.seen_in)
        } else {
            format!("who wrote to you {}, in {}", times(self.received), self.seen_in)
        };
        format!("{}{name}, {how}", self.address)
    }
}

fn times(n: u32) -> String {
    if n == 1 { "once".to_owned() } else { format!("{n} times") }
}

/// The contacts an [`AddressBook`] knows, with a number that changes whenever they do.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContactList {
    /// Changes whenever `contacts` does: the gate re-indexes only then.
    pub version: u64,
    /// Every contact, in canonical form, each (channel, address) once.
    pub contacts: Vec<Contact>,
}

/// The port through which the gate learns the user's contacts (implemented by the messaging
/// service from the mail and Signal history). Called once per action: answer from a cache.
pub trait AddressBook: Send + Sync {
    /// The contacts now, or why they cannot be read (the action then carries a signal saying
    /// contacts were not checked, and waits for the human).
    fn contacts(&self) -> Result<Arc<ContactList>, String>;
}

/// The channel a recipient is written in, if it is one the address book knows.
pub fn channel_of(value: &str) -> Option<Channel> {
    let v = value.trim();
    if v.contains('@') {
        return Some(Channel::Email);
    }
    let hex = v.strip_prefix("0x").or_else(|| v.strip_prefix("0X"));
    if hex.is_some_and(|h| h.len() == 40 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Some(Channel::Wallet);
    }
    let digits = v.chars().filter(char::is_ascii_digit).count();
    if v.starts_with('+')
        && (8..=15).contains(&digits)
        && v[1..].chars().all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '.' | '(' | ')'))
    {
        return Some(Channel::Phone);
    }
    let compact: String = v.chars().filter(|c| *c != ' ').collect();
    let b = compact.as_bytes();
    if (15..=34).contains(&b.len())
        && b[..2].iter().all(u8::is_ascii_alphabetic)
        && b[2..4].iter().all(u8::is_ascii_digit)
        && b[4..].iter().all(u8::is_ascii_alphanumeric)
    {
        return Some(Channel::Iban);
    }
    None
}

/// `value` in the form contacts are compared in: an address lower-cased, a number as `+` and
/// digits, a wallet address as lower-case `0x…`, an IBAN upper-case without spaces.
pub fn canonical(channel: Channel, value: &str) -> String {
    let v = value.trim();
    match channel {
        Channel::Email | Channel::Wallet => v.to_lowercase(),
        Channel::Phone => format!("+{}", v.chars().filter(char::is_ascii_digit).collect::<String>()),
        Channel::Iban => v.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_uppercase(),
    }
}

/// Endings under which names are registered one level down (`example.co.uk`).
const SECOND_LEVEL: &[&str] = &["co", "com", "net", "org", "ac", "gov", "edu", "ne", "or", "gv"];

/// A domain's registrable name and its ending: `("example", "co.uk")` for `mail.example.co.uk`.
fn registrable(domain: &str) -> (String, String) {
    let labels: Vec<&str> = domain.trim_end_matches('.').split('.').collect();
    let n = labels.len();
    let two = n >= 3 && labels[n - 1].chars().count() == 2 && SECOND_LEVEL.contains(&labels[n - 2]);
    let (name, ending) = match (n, two) {
        (0 | 1, _) => (domain, String::new()),
        (_, true) => (labels[n - 3], format!("{}.{}", labels[n - 2], labels[n - 1])),
        _ => (labels[n - 2], labels[n - 1].to_owned()),
    };
    (name.to_owned(), ending)
}

/// `domain` as Unicode (punycode `xn--` labels decoded), lower-cased.
fn unicode_domain(domain: &str) -> String {
    let lower = domain.to_lowercase();
    if !lower.contains("xn--") {
        return lower;
    }
    let (decoded, result) = idna::domain_to_unicode(&lower);
    if result.is_ok() { decoded.to_lowercase() } else { lower }
}

/// UTS #39 skeleton of lower-cased `text`, lower-cased again (the confusables map `0` to `O`).
pub fn skeleton(text: &str) -> String {
    unicode_security::skeleton(&text.to_lowercase()).collect::<String>().to_lowercase()
}

/// The labels of `domain` that mix scripts (Latin with Cyrillic, say), with the scripts named.
pub fn mixed_script_label(domain: &str) -> Option<(String, String)> {
    let domain = unicode_domain(domain);
    domain.split('.').find(|l| !l.is_single_script()).map(|label| {
        let mut scripts: Vec<String> = Vec::new();
        for c in label.chars() {
            let script = unicode_script::UnicodeScript::script(&c).full_name().to_owned();
            if !matches!(script.as_str(), "Common" | "Inherited") && !scripts.contains(&script) {
                scripts.push(script);
            }
        }
        (label.to_owned(), scripts.join(" and "))
    })
}

/// Optimal string alignment distance (an adjacent transposition counts as one edit), or
/// `None` once it exceeds `max`.
fn distance(a: &str, b: &str, max: usize) -> Option<usize> {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    if a.len().abs_diff(b.len()) > max {
        return None;
    }
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (rows[i - 1][j] + 1).min(rows[i][j - 1] + 1).min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = d;
        }
    }
    let d = rows[a.len()][b.len()];
    (d <= max).then_some(d)
}

fn differing(a: &str, b: &str) -> usize {
    a.chars().zip(b.chars()).filter(|(x, y)| x != y).count()
}

fn common_prefix(a: &str, b: &str) -> usize {
    a.bytes().zip(b.bytes()).take_while(|(x, y)| x == y).count()
}

fn common_suffix(a: &str, b: &str) -> usize {
    a.bytes().rev().zip(b.bytes().rev()).take_while(|(x, y)| x == y).count()
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 { format!("1 {one}") } else { format!("{n} {one}s") }
}

/// A known registrable domain.
#[derive(Debug)]
struct Domain {
    /// `example.org`, Unicode, lower case.
    name: String,
    label: String,
    ending: String,
    trusted: bool,
    received: u32,
    /// The contact the sentence names for it: trusted first, then the one who wrote most.
    contact: usize,
}

/// What a look-alike imitates, and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imitation {
    /// The contact it imitates.
    pub contact: Contact,
    /// How it differs, one clause: `paypa1.com is written with characters that look like
    /// paypal.com`.
    pub how: String,
}

/// The address book indexed for [`Index::look_alike`].
#[derive(Debug, Default)]
pub struct Index {
    contacts: Vec<Contact>,
    exact: HashMap<(Channel, String), usize>,
    domains: Vec<Domain>,
    domain_at: HashMap<String, usize>,
    domain_skeletons: HashMap<String, Vec<usize>>,
    /// (skeleton of the registrable domain, skeleton of the name before @) → contact.
    local_skeletons: HashMap<(String, String), Vec<usize>>,
    others: BTreeMap<Channel, Vec<usize>>,
}

impl Index {
    /// Indexes `contacts`; an address listed twice keeps the most trusted entry, with the
    /// messages of both counted.
    pub fn new(contacts: impl IntoIterator<Item = Contact>) -> Index {
        let mut index = Index::default();
        for mut contact in contacts {
            contact.address = canonical(contact.channel, &contact.address);
            let key = (contact.channel, contact.address.clone());
            match index.exact.get(&key) {
                Some(&i) => {
                    let known = &mut index.contacts[i];
                    known.own |= contact.own;
                    known.wrote_to |= contact.wrote_to;
                    known.received = known.received.saturating_add(contact.received);
                    if known.name.is_empty() {
                        known.name = contact.name;
                    }
                }
                None => {
                    index.exact.insert(key, index.contacts.len());
                    index.contacts.push(contact);
                }
            }
        }
        for (i, contact) in index.contacts.iter().enumerate() {
            match contact.channel {
                Channel::Email => {
                    let Some((local, domain)) = contact.address.rsplit_once('@') else { continue };
                    let domain = unicode_domain(domain);
                    let (label, ending) = registrable(&domain);
                    let name = if ending.is_empty() { label.clone() } else { format!("{label}.{ending}") };
                    let d = match index.domain_at.get(&name) {
                        Some(&d) => d,
                        None => {
                            index.domain_at.insert(name.clone(), index.domains.len());
                            index.domain_skeletons.entry(skeleton(&name)).or_default().push(index.domains.len());
                            index.domains.push(Domain {
                                name: name.clone(),
                                label,
                                ending,
                                trusted: false,
                                received: 0,
                                contact: i,
                            });
                            index.domains.len() - 1
                        }
                    };
                    let entry = &mut index.domains[d];
                    entry.trusted |= contact.trusted();
                    entry.received = entry.received.saturating_add(contact.received);
                    let best = &index.contacts[entry.contact];
                    if (contact.trusted(), contact.received) > (best.trusted(), best.received) {
                        entry.contact = i;
                    }
                    index.local_skeletons.entry((skeleton(&name), skeleton(local))).or_default().push(i);
                }
                channel => index.others.entry(channel).or_default().push(i),
            }
        }
        index
    }

    /// How many contacts it holds.
    pub fn len(&self) -> usize {
        self.contacts.len()
    }

    /// Whether it holds none.
    pub fn is_empty(&self) -> bool {
        self.contacts.is_empty()
    }

    /// The contact `value` is, in any letter case.
    pub fn get(&self, channel: Channel, value: &str) -> Option<&Contact> {
        self.exact.get(&(channel, canonical(channel, value))).map(|&i| &self.contacts[i])
    }

    /// Whether a contact `c` may be the one `value` (known as `known`, if it is) imitates.
    fn may_imitate(c_trusted: bool, c_received: u32, known: Option<&Contact>) -> bool {
        match known {
            None => true,
            Some(k) => c_trusted || c_received > k.received,
        }
    }

    /// The known contact `value` (of `channel`) is made to look like, if any (see the module
    /// docs); `None` for a value the user knows (own, written to, paid) or that imitates nobody.
    pub fn look_alike(&self, channel: Channel, value: &str) -> Option<Imitation> {
        let value = canonical(channel, value);
        let known = self.get(channel, &value);
        if known.is_some_and(Contact::trusted) {
            return None;
        }
        let found = match channel {
            Channel::Email => self.email_look_alike(&value, known),
            Channel::Phone => self.near(channel, &value, known, |a, b| {
                let digits = a.len().saturating_sub(1);
                (a.len() == b.len() && digits >= 8)
                    .then(|| differing(a, b))
                    .filter(|n| (1..=2).contains(n))
                    .map(|n| format!("{} from {b}", if n == 1 { "one digit differs".into() } else { plural(n, "digit") + " differ" }))
            }),
            Channel::Wallet => self.near(channel, &value, known, |a, b| {
                let (x, y) = (a.trim_start_matches("0x"), b.trim_start_matches("0x"));
                let (p, s, n) = (common_prefix(x, y), common_suffix(x, y), differing(x, y));
                if n == 0 {
                    None
                } else if p >= 3 && s >= 3 {
                    Some(format!(
                        "it has the same first {p} and last {s} hex digits as {b} and differs in between: address poisoning makes an address that looks like one you paid"
                    ))
                } else {
                    (n <= 4).then(|| format!("{} from {b}", plural(n, "hex digit") + if n == 1 { " differs" } else { " differ" }))
                }
            }),
            Channel::Iban => self.near(channel, &value, known, |a, b| {
                (a.len() == b.len() && a.get(..2) == b.get(..2))
                    .then(|| differing(a, b))
                    .filter(|n| (1..=4).contains(n))
                    .map(|n| format!("{} from {b}", plural(n, "character") + if n == 1 { " differs" } else { " differ" }))
            }),
        };
        found.map(|(i, how)| Imitation { contact: self.contacts[i].clone(), how })
    }

    /// The known contact whose domain the web host `host` is made to look like, if any.
    pub fn host_look_alike(&self, host: &str) -> Option<Imitation> {
        let full = unicode_domain(host);
        self.domain_imitation(&full).map(|(i, how)| Imitation { contact: self.contacts[i].clone(), how })
    }

    fn near(
        &self,
        channel: Channel,
        value: &str,
        known: Option<&Contact>,
        similar: impl Fn(&str, &str) -> Option<String>,
    ) -> Option<(usize, String)> {
        let mut best: Option<(usize, String)> = None;
        for &i in self.others.get(&channel).into_iter().flatten() {
            let c = &self.contacts[i];
            if c.address == value || !Self::may_imitate(c.trusted(), c.received, known) {
                continue;
            }
            if let Some(how) = similar(value, &c.address) {
                let better = best.as_ref().is_none_or(|(b, _)| {
                    let b = &self.contacts[*b];
                    (c.trusted(), c.received) > (b.trusted(), b.received)
                });
                if better {
                    best = Some((i, how));
                }
            }
        }
        best
    }

    fn email_look_alike(&self, value: &str, known: Option<&Contact>) -> Option<(usize, String)> {
        let (local, domain) = value.rsplit_once('@')?;
        let full = unicode_domain(domain);
        let (label, ending) = registrable(&full);
        let name = if ending.is_empty() { label } else { format!("{label}.{ending}") };
        let skel = skeleton(&name);
        // The name before @ on a known domain (or one written like it), written like a known one.
        if let Some(candidates) = self.local_skeletons.get(&(skel, skeleton(local))) {
            for &i in candidates {
                let c = &self.contacts[i];
                if c.address != value && Self::may_imitate(c.trusted(), c.received, known) {
                    let how = if c.address.rsplit_once('@').map(|(l, _)| l) == Some(local) {
                        format!("{full} is written with characters that look like those of {}", c.address)
                    } else {
                        format!("{value} is written with characters that look like those of {}", c.address)
                    };
                    return Some((i, how));
                }
            }
        }
        self.domain_imitation(&full)
    }

    /// The known domain `full` (Unicode, lower case) is made to look like, as the contact the
    /// sentence names and how; `None` for a domain the user wrote to or owns.
    fn domain_imitation(&self, full: &str) -> Option<(usize, String)> {
        let (label, ending) = registrable(full);
        let name = if ending.is_empty() { label.clone() } else { format!("{label}.{ending}") };
        let skel = skeleton(&name);
        let own_domain = self.domain_at.get(&name).map(|&d| &self.domains[d]);
        // A domain the user knows (wrote to, or owns) is nobody's look-alike.
        if own_domain.is_some_and(|d| d.trusted) {
            return None;
        }
        let received = own_domain.map_or(0, |d| d.received);
        let domain_known = own_domain.is_some();
        let qualifies = |d: &Domain| d.name != name && (!domain_known || d.trusted || d.received > received);
        let mut best: Option<(u8, usize, String)> = None;
        let mut consider = |rank: u8, di: usize, how: String| {
            let key = (self.domains[di].trusted, rank);
            if best.as_ref().is_none_or(|(r, b, _)| key > (self.domains[*b].trusted, *r)) {
                best = Some((rank, di, how));
            }
        };
        for &di in self.domain_skeletons.get(&skel).into_iter().flatten() {
            let d = &self.domains[di];
            if qualifies(d) {
                consider(4, di, format!("{name} is written with characters that look like {}", d.name));
            }
        }
        for (di, d) in self.domains.iter().enumerate().filter(|(_, d)| qualifies(d)) {
            if d.ending == ending && !ending.is_empty() {
                let shorter = d.label.chars().count().min(label.chars().count());
                let max = if shorter >= 9 {
                    2
                } else if shorter >= 5 {
                    1
                } else {
                    0
                };
                if let Some(n) = distance(&label, &d.label, max).filter(|n| *n > 0) {
                    consider(3, di, format!("{name} differs from {} by {}", d.name, plural(n, "character")));
                }
            } else if d.label == label && d.label.chars().count() >= 4 {
                consider(2, di, format!("{name} is {} with another ending (.{ending} for .{})", d.name, d.ending));
            }
            if full.starts_with(&format!("{}.", d.name)) {
                consider(1, di, format!("{full} begins with {} but is another domain, {name}", d.name));
            } else if d.label.chars().count() >= 5 && label.contains('-') && label.split('-').any(|w| w == d.label) {
                consider(1, di, format!("{name} puts the name of {} into another domain", d.name));
            }
        }
        best.map(|(_, d, how)| (self.domains[d].contact, how))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    fn contact(channel: Channel, address: &str, wrote_to: bool, received: u32) -> Contact {
        Contact {
            channel,
            address: address.into(),
            name: String::new(),
            own: false,
            wrote_to,
            received,
            seen_in: "your mail".into(),
        }
    }

    fn book() -> Index {
        Index::new([
            contact(Channel::Email, "service@paypal.com", false, 4),
            contact(Channel::Email, "bob@example.org", true, 2),
            contact(Channel::Email, "john.smith@gmail.com", true, 0),
            contact(Channel::Email, "news@shop.example.net", false, 1),
            contact(Channel::Email, "accounts@supplier-gmbh.de", false, 3),
            contact(Channel::Phone, "+4915123456789", true, 3),
            contact(Channel::Wallet, "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", true, 0),
            contact(Channel::Iban, "DE89 3704 0044 0532 0130 00", true, 0),
        ])
    }

    fn imitates(channel: Channel, value: &str) -> Option<String> {
        book().look_alike(channel, value).map(|i| i.contact.address)
    }

    #[test]
    fn look_alike_domains_names_numbers_and_addresses_are_found_with_what_they_imitate() {
        let email = |v: &str| imitates(Channel::Email, v);
        assert_eq!(email("billing@paypa1.com").as_deref(), Some("service@paypal.com"), "1 for l");
        assert_eq!(email("billing@rnicrosoft.com"), None, "nobody imitated");
        assert_eq!(email("service@paypal.co").as_deref(), Some("service@paypal.com"), "another ending");
        assert_eq!(email("billing@paypai.com").as_deref(), Some("service@paypal.com"), "one edit");
        assert_eq!(email("billing@paypal.net").as_deref(), Some("service@paypal.com"), "another ending");
        assert_eq!(email("billing@paypal.com.evil.example").as_deref(), Some("service@paypal.com"));
        assert_eq!(email("billing@paypal-billing.com").as_deref(), Some("service@paypal.com"));
        // Cyrillic е, х, а in place of Latin letters, written as punycode or as Unicode.
        let cyrillic = "bob@\u{435}\u{445}\u{430}mple.org";
        assert_eq!(email(cyrillic).as_deref(), Some("bob@example.org"));
        let (puny, ok) = idna::domain_to_ascii("\u{435}\u{445}\u{430}mple.org").map(|d| (d, true)).unwrap();
        assert!(ok && puny.starts_with("xn--"), "{puny}");
        assert_eq!(email(&format!("bob@{puny}")).as_deref(), Some("bob@example.org"));
        assert_eq!(email("j0hn.smith@gmail.com").as_deref(), Some("john.smith@gmail.com"), "0 for o before @");
        // Known, or simply different: no look-alike.
        for fine in [
            "bob@example.org",
            "carol@example.org",
            "service@paypal.com",
            "alice@mail.example.org",
            "someone@gmail.com",
            "x@gitlab.com",
            "x@totally-different.org",
        ] {
            assert_eq!(email(fine), None, "{fine}");
        }
        assert_eq!(imitates(Channel::Phone, "+4915123456780").as_deref(), Some("+4915123456789"));
        assert_eq!(imitates(Channel::Phone, "+44 20 7946 0000"), None);
        let poisoned = "0x7099A0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d579C8";
        assert_eq!(imitates(Channel::Wallet, poisoned).as_deref(), Some("0x70997970c51812dc3a010c7d01b50e0d17dc79c8"));
        assert_eq!(imitates(Channel::Wallet, "0x1111111111111111111111111111111111111111"), None);
        assert_eq!(
            imitates(Channel::Wallet, "0x70997970C51812DC3A010C7D01B50E0D17DC79C8"),
            None,
            "the same, in capitals"
        );
        assert_eq!(imitates(Channel::Iban, "DE62370400440532013001").as_deref(), Some("DE89370400440532013000"));
        assert_eq!(imitates(Channel::Iban, "GB82WEST12345698765432"), None);
    }

    #[test]
    fn the_better_known_contact_is_the_one_imitated() {
        // A scammer wrote once from paypa1.com; PayPal wrote four times: a reply to PayPal is
        // fine, a reply to the scammer imitates PayPal.
        let index = Index::new([
            contact(Channel::Email, "service@paypal.com", false, 4),
            contact(Channel::Email, "billing@paypa1.com", false, 1),
        ]);
        assert_eq!(index.look_alike(Channel::Email, "service@paypal.com"), None);
        let found = index.look_alike(Channel::Email, "billing@paypa1.com").unwrap();
        assert_eq!(found.contact.address, "service@paypal.com");
        assert_eq!(found.how, "paypa1.com is written with characters that look like paypal.com");
    }

    #[test]
    fn channels_and_canonical_forms() {
        assert_eq!(channel_of("Bob@Example.org"), Some(Channel::Email));
        assert_eq!(channel_of("+49 151 2345 6789"), Some(Channel::Phone));
        assert_eq!(channel_of("0x70997970C51812dc3A010C7d01b50e0d17dc79C8"), Some(Channel::Wallet));
        assert_eq!(channel_of("DE89 3704 0044 0532 0130 00"), Some(Channel::Iban));
        assert_eq!(channel_of("group:abc"), None);
        assert_eq!(channel_of("https://example.org/"), None);
        assert_eq!(canonical(Channel::Phone, "+49 151-2345 6789"), "+4915123456789");
        assert_eq!(canonical(Channel::Iban, "de89 3704 0044 0532 0130 00"), "DE89370400440532013000");
        assert_eq!(registrable("mail.example.co.uk"), ("example".into(), "co.uk".into()));
        assert_eq!(registrable("a.b.example.org"), ("example".into(), "org".into()));
        assert_eq!(distance("paypal", "pyapal", 2), Some(1));
        assert_eq!(distance("github", "gitlab", 1), None);
        assert_eq!(mixed_script_label("\u{435}xample.org").map(|(_, s)| s).as_deref(), Some("Cyrillic and Latin"));
        assert_eq!(mixed_script_label("example.org"), None);
    }
}
