//! Recipients, and the question that decides whether a send needs the human: is every recipient
//! one of the user's own accounts?
//!
//! The rule that keeps the answer honest: **what is compared is exactly what is sent to.** A
//! recipient is parsed into one canonical form, self-detection looks only at that form, and the
//! sender hands that same form to SMTP or signal-cli. So nothing is accepted that a server could
//! read differently: no display names, comments, quoted or encoded words, no lists hidden in one
//! field, no non-ASCII look-alikes, and no control characters in any header field. A recipient
//! (address, number, group) also never holds an invisible formatting character (direction
//! overrides and isolates, zero-width characters, the byte-order mark; see
//! [`invisible_format_char`]): those make a name read differently on screen than it is.

use std::collections::BTreeSet;
use std::fmt;

use crate::MsgError;

/// Longest address (RFC 5321 path limit minus the angle brackets).
const MAX_EMAIL_LEN: usize = 254;
/// Longest local part (RFC 5321).
const MAX_LOCAL_LEN: usize = 64;

/// One recipient, in the canonical form that is both compared and sent to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Recipient {
    /// A lower-case ASCII addr-spec, `alice@example.org`.
    Email(String),
    /// An E.164 phone number, `+4915123456789`.
    Phone(String),
    /// A Signal group by its base64 id.
    SignalGroup(String),
}

impl Recipient {
    /// The chat this recipient is, as named in the policy's `reply_without_confirm` list:
    /// `email:ADDRESS`, `signal:+NUMBER` or `signal-group:ID`.
    pub fn chat(&self) -> String {
        match self {
            Recipient::Email(a) => format!("email:{a}"),
            Recipient::Phone(p) => format!("signal:{p}"),
            Recipient::SignalGroup(g) => format!("signal-group:{g}"),
        }
    }

    /// The address as sent: the email address, the number, or `group:ID`.
    pub fn as_sent(&self) -> String {
        match self {
            Recipient::Email(a) | Recipient::Phone(a) => a.clone(),
            Recipient::SignalGroup(g) => format!("group:{g}"),
        }
    }
}

impl fmt::Display for Recipient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_sent())
    }
}

/// Refuses a header-bound field (`from`, `to`, `subject`…) that holds CR, LF, NUL or any other
/// control character, or a Unicode direction override that would make it read differently on
/// screen than on the wire.
pub fn check_header_field(field: &str, value: &str) -> Result<(), MsgError> {
    if let Some(c) = value.chars().find(|c| c.is_control()) {
        return Err(MsgError::invalid(
            field,
            format!(
                "contains the control character U+{:04X}; line breaks and control characters are not allowed here",
                c as u32
            ),
        ));
    }
    if let Some(c) = value.chars().find(|c| is_direction_override(*c)) {
        return Err(MsgError::invalid(
            field,
            format!(
                "contains the invisible formatting character U+{:04X} ({}), which changes the direction text is shown in; remove it",
                c as u32,
                invisible_format_char(c).unwrap_or("direction mark")
            ),
        ));
    }
    Ok(())
}

fn is_direction_override(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// The name of `c` if it is an invisible formatting character that has no place in a recipient:
/// the direction embeddings and overrides (U+202A–U+202E), isolates (U+2066–U+2069), the zero-width
/// space, non-joiner and joiner and the direction marks (U+200B–U+200F), the Arabic letter mark
/// (U+061C) and the byte-order mark or zero-width no-break space (U+FEFF).
pub fn invisible_format_char(c: char) -> Option<&'static str> {
    Some(match c {
        '\u{061C}' => "ARABIC LETTER MARK",
        '\u{200B}' => "ZERO WIDTH SPACE",
        '\u{200C}' => "ZERO WIDTH NON-JOINER",
        '\u{200D}' => "ZERO WIDTH JOINER",
        '\u{200E}' => "LEFT-TO-RIGHT MARK",
        '\u{200F}' => "RIGHT-TO-LEFT MARK",
        '\u{202A}' => "LEFT-TO-RIGHT EMBEDDING",
        '\u{202B}' => "RIGHT-TO-LEFT EMBEDDING",
        '\u{202C}' => "POP DIRECTIONAL FORMATTING",
        '\u{202D}' => "LEFT-TO-RIGHT OVERRIDE",
        '\u{202E}' => "RIGHT-TO-LEFT OVERRIDE",
        '\u{2066}' => "LEFT-TO-RIGHT ISOLATE",
        '\u{2067}' => "RIGHT-TO-LEFT ISOLATE",
        '\u{2068}' => "FIRST STRONG ISOLATE",
        '\u{2069}' => "POP DIRECTIONAL ISOLATE",
        '\u{FEFF}' => "ZERO WIDTH NO-BREAK SPACE",
        _ => return None,
    })
}

/// Refuses a recipient (an address, a number, a group, a name shown for one) that holds an
/// invisible formatting character, naming it by code point.
pub fn check_recipient_text(field: &str, value: &str) -> Result<(), MsgError> {
    if let Some((c, name)) = value.chars().find_map(|c| invisible_format_char(c).map(|name| (c, name))) {
        return Err(MsgError::invalid(
            field,
            format!(
                "contains the invisible formatting character U+{:04X} ({name}), which makes text read differently on screen than it is; remove it and give the recipient in plain characters",
                c as u32
            ),
        ));
    }
    Ok(())
}

/// A name to show for a recipient (the display name a contact last used), with every invisible
/// formatting character and control character removed, so it reads on screen as it is stored.
pub fn shown_name(name: &str) -> String {
    name.chars()
        .filter(|c| !c.is_control() && invisible_format_char(*c).is_none())
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Parses one bare email address. Display names, angle brackets, comments, quoted local parts,
/// encoded words, lists and non-ASCII characters are refused with a message saying so; the
/// result is lower-cased.
pub fn parse_email(field: &str, value: &str) -> Result<String, MsgError> {
    check_recipient_text(field, value)?;
    check_header_field(field, value)?;
    let address = value.trim_matches([' ', '\t']);
    if let Some(c) = address.chars().find(|c| !c.is_ascii()) {
        return Err(MsgError::invalid(
            field,
            format!(
                "{address:?} contains the non-ASCII character {c:?} (U+{:04X}); only plain ASCII addresses are accepted, so a look-alike can never pass for one of yours",
                c as u32
            ),
        ));
    }
    if address.contains("=?") || address.contains(['<', '>', '"', '(', ')', ',', ';', ':', '\\', '[', ']', ' ', '\t']) {
        return Err(MsgError::invalid(
            field,
            format!(
                "{address:?} is not a bare address; give just the address, like alice@example.org (no display name, brackets, quotes, comments, encoded words or lists)"
            ),
        ));
    }
    let Some((local, domain)) = address.split_once('@') else {
        return Err(MsgError::invalid(field, format!("{address:?} is not an email address: it has no @")));
    };
    if domain.contains('@') {
        return Err(MsgError::invalid(field, format!("{address:?} has more than one @")));
    }
    if address.len() > MAX_EMAIL_LEN || local.is_empty() || local.len() > MAX_LOCAL_LEN {
        return Err(MsgError::invalid(
            field,
            format!("{address:?}: the part before @ must be 1 to 64 characters and the whole at most 254"),
        ));
    }
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    if local.split('.').any(|atom| atom.is_empty() || !atom.chars().all(atext)) {
        return Err(MsgError::invalid(
            field,
            format!("{address:?}: the part before @ has a character or dot that is not allowed"),
        ));
    }
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
    };
    if !domain.contains('.') || !domain.split('.').all(label_ok) {
        return Err(MsgError::invalid(field, format!("{address:?}: {domain:?} is not a domain name like example.org")));
    }
    Ok(address.to_ascii_lowercase())
}

/// Parses a phone number into E.164. Spaces, dashes, dots and brackets between digits are
/// dropped; the number must start with `+` and a country code (8 to 15 ASCII digits).
pub fn parse_phone(field: &str, value: &str) -> Result<String, MsgError> {
    check_recipient_text(field, value)?;
    check_header_field(field, value)?;
    let number = value.trim_matches([' ', '\t']);
    let hint = "write it in international E.164 form, e.g. +4915123456789";
    let Some(rest) = number.strip_prefix('+') else {
        return Err(MsgError::invalid(field, format!("{number:?} is not a phone number with a country code; {hint}")));
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => {
                return Err(MsgError::invalid(
                    field,
                    format!("{number:?} contains {c:?}, which is not an ASCII digit; {hint}"),
                ));
            }
        }
    }
    if !(8..=15).contains(&digits.len()) || digits.starts_with('0') {
        return Err(MsgError::invalid(
            field,
            format!("{number:?} is not a valid E.164 number (8 to 15 digits after +, no leading 0); {hint}"),
        ));
    }
    Ok(format!("+{digits}"))
}

/// Parses a Signal recipient: a phone number, or `group:ID` for a group.
pub fn parse_signal(field: &str, value: &str) -> Result<Recipient, MsgError> {
    check_recipient_text(field, value)?;
    check_header_field(field, value)?;
    let value = value.trim_matches([' ', '\t']);
    if let Some(id) = value.strip_prefix("group:") {
        let ok =
            !id.is_empty() && id.len() <= 128 && id.chars().all(|c| c.is_ascii_alphanumeric() || "+/=_-".contains(c));
        if !ok {
            return Err(MsgError::invalid(
                field,
                format!("{value:?} is not a Signal group; use group:ID with the base64 id `sov msg chats` lists"),
            ));
        }
        return Ok(Recipient::SignalGroup(id.to_owned()));
    }
    parse_phone(field, value).map(Recipient::Phone)
}

/// Splits a `to` field into recipients: a JSON list gives them one by one; a string may list
/// several separated by commas (each is parsed strictly on its own).
pub fn parse_recipients(backend: crate::Backend, field: &str, values: &[String]) -> Result<Vec<Recipient>, MsgError> {
    let mut out = BTreeSet::new();
    for value in values {
        for part in value.split(',') {
            if part.trim().is_empty() {
                continue;
            }
            out.insert(match backend {
                crate::Backend::Email => Recipient::Email(parse_email(field, part)?),
                crate::Backend::Signal => parse_signal(field, part)?,
            });
        }
    }
    if out.is_empty() {
        return Err(MsgError::invalid(field, "names no recipient"));
    }
    Ok(out.into_iter().collect())
}

/// The user's own addresses and numbers, normalised for comparison.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnAccounts {
    emails: BTreeSet<String>,
    phones: BTreeSet<String>,
}

impl OwnAccounts {
    /// Adds an own email address (already canonical, see [`parse_email`]).
    pub fn add_email(&mut self, address: &str) {
        self.emails.insert(email_identity(address));
    }

    /// Adds an own E.164 number.
    pub fn add_phone(&mut self, number: &str) {
        self.phones.insert(number.to_owned());
    }

    /// Whether `recipient` reaches only the user: the same mailbox (ignoring case and a
    /// `+tag`), or the same number. A group is never "self".
    pub fn is_own(&self, recipient: &Recipient) -> bool {
        match recipient {
            Recipient::Email(a) => self.emails.contains(&email_identity(a)),
            Recipient::Phone(p) => self.phones.contains(p),
            Recipient::SignalGroup(_) => false,
        }
    }

    /// Whether every one of `recipients` is the user's own (false for none).
    pub fn all_own(&self, recipients: &[Recipient]) -> bool {
        !recipients.is_empty() && recipients.iter().all(|r| self.is_own(r))
    }
}

/// The mailbox an address delivers to: lower case, without a `+tag` in the local part.
fn email_identity(address: &str) -> String {
    let lower = address.to_ascii_lowercase();
    match lower.split_once('@') {
        Some((local, domain)) => {
            let local = local.split_once('+').map_or(local, |(base, _)| base);
            format!("{local}@{domain}")
        }
        None => lower,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::Backend;

    fn own() -> OwnAccounts {
        let mut own = OwnAccounts::default();
        own.add_email(&parse_email("from", "Alice@Example.org").unwrap());
        own.add_phone(&parse_phone("from", "+49 151 2345-6789").unwrap());
        own
    }

    fn email(s: &str) -> Result<Recipient, MsgError> {
        parse_email("to", s).map(Recipient::Email)
    }

    #[test]
    fn own_addresses_are_recognised_through_case_plus_tags_and_phone_formatting() {
        let own = own();
        for to in ["alice@example.org", "ALICE@EXAMPLE.ORG", " alice+notes@example.org ", "Alice+x+y@Example.Org"] {
            assert!(own.is_own(&email(to).unwrap()), "{to}");
        }
        for to in ["+4915123456789", "+49 (151) 234-56789", "+49.151.234.567.89"] {
            assert!(own.is_own(&parse_signal("to", to).unwrap()), "{to}");
        }
    }

    #[test]
    fn look_alikes_and_near_misses_are_someone_else_or_refused() {
        let own = own();
        for to in [
            "alice@example.org.evil.test",
            "alice@examp1e.org",
            "alicex@example.org",
            "a.lice@example.org",
            "alice@sub.example.org",
        ] {
            assert!(!own.is_own(&email(to).unwrap()), "{to}");
        }
        // Cyrillic а, fullwidth letters and Arabic-Indic digits (a zero-width space: see below).
        for to in ["\u{0430}lice@example.org", "ａlice@example.org", "alice@exаmple.org"] {
            let err = email(to).unwrap_err().to_string();
            assert!(err.contains("non-ASCII"), "{to}: {err}");
        }
        assert!(parse_signal("to", "+49\u{0661}51234567").is_err());
        assert!(parse_signal("to", "004915123456789").unwrap_err().to_string().contains("E.164"));
        assert!(!own.is_own(&parse_signal("to", "+4915123456780").unwrap()));
        assert!(!own.is_own(&parse_signal("to", "group:YWxpY2U=").unwrap()));
    }

    #[test]
    fn display_names_lists_comments_and_encoded_words_are_refused() {
        for to in [
            "Alice <alice@example.org>",
            "alice@example.org <evil@attacker.test>",
            "\"alice@example.org\"@attacker.test",
            "alice@example.org (me)",
            "=?utf-8?q?alice@example.org?=",
            "=?utf-8?b?YWxpY2VAZXhhbXBsZS5vcmc=?=@attacker.test",
            "alice@example.org;evil@attacker.test",
            "evil@attacker.test:alice@example.org",
            "alice@example.org@attacker.test",
            "alice@[127.0.0.1]",
            "alice@localhost",
            ".alice@example.org",
            "alice..x@example.org",
            "",
        ] {
            assert!(email(to).is_err(), "{to:?} was accepted");
        }
    }

    #[test]
    fn header_injection_is_refused_in_every_field() {
        for value in [
            "alice@example.org\r\nBcc: evil@attacker.test",
            "alice@example.org\nBcc: evil@attacker.test",
            "a\u{0}b",
            "x\u{202E}gro.elpmaxe",
        ] {
            assert!(check_header_field("subject", value).is_err(), "{value:?}");
            assert!(email(value).is_err(), "{value:?}");
        }
        let err = check_header_field("subject", "Hi\r\nBcc: evil@attacker.test").unwrap_err().to_string();
        assert!(err.contains("subject") && err.contains("U+000D"), "{err}");
        assert!(check_header_field("subject", "Grüße, 😀 ok").is_ok());
    }

    #[test]
    fn invisible_formatting_characters_are_refused_in_every_recipient_by_code_point() {
        let invisible = [
            '\u{202A}', '\u{202B}', '\u{202C}', '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
            '\u{200B}', '\u{200C}', '\u{200D}', '\u{200E}', '\u{200F}', '\u{061C}', '\u{FEFF}',
        ];
        for c in invisible {
            let code = format!("U+{:04X}", c as u32);
            for (what, result) in [
                ("email", parse_email("to", &format!("al{c}ice@example.org")).map(|_| ())),
                ("email end", parse_email("to", &format!("alice@example.org{c}")).map(|_| ())),
                ("phone", parse_phone("to", &format!("+49151{c}23456789")).map(|_| ())),
                ("signal", parse_signal("to", &format!("{c}+4915123456789")).map(|_| ())),
                ("group", parse_signal("to", &format!("group:abc{c}=")).map(|_| ())),
                (
                    "list",
                    parse_recipients(Backend::Email, "to", &[format!("bob@example.org, {c}x@example.org")]).map(|_| ()),
                ),
            ] {
                let err = result.expect_err(&format!("{what} with {code} was accepted")).to_string();
                assert!(err.contains(&code) && err.contains("invisible formatting character"), "{what}: {err}");
                assert!(err.starts_with("to: "), "names the field: {err}");
            }
            assert!(invisible_format_char(c).is_some());
            assert_eq!(shown_name(&format!("Bo{c}b \u{202E}lanretxe")), "Bob lanretxe", "{code}");
        }
        let err = parse_email("to", "x\u{202E}gro.elpmaxe@example.org").unwrap_err().to_string();
        assert!(err.contains("U+202E (RIGHT-TO-LEFT OVERRIDE)"), "{err}");
        // Visible characters next to them are untouched, and the subject keeps its emoji.
        assert_eq!(invisible_format_char('a'), None);
        assert_eq!(invisible_format_char('\u{2070}'), None);
        assert!(check_header_field("subject", "Familie \u{1F468}\u{200D}\u{1F469}").is_ok());
        assert!(check_header_field("subject", "x\u{061C}y").is_err(), "a direction mark in a header field");
    }

    #[test]
    fn a_list_is_self_only_when_every_recipient_is() {
        let own = own();
        let one = parse_recipients(Backend::Email, "to", &["alice@example.org".into()]).unwrap();
        assert!(own.all_own(&one));
        let mixed = parse_recipients(Backend::Email, "to", &["alice@example.org, evil@attacker.test".into()]).unwrap();
        assert_eq!(mixed.len(), 2);
        assert!(!own.all_own(&mixed));
        let split =
            parse_recipients(Backend::Email, "to", &["alice@example.org".into(), "evil@attacker.test".into()]).unwrap();
        assert!(!own.all_own(&split));
        assert!(parse_recipients(Backend::Email, "to", &[" , ".into()]).is_err());
        assert!(!own.all_own(&[]));
    }

    #[test]
    fn chats_name_the_other_side() {
        assert_eq!(email("Bob@Example.org").unwrap().chat(), "email:bob@example.org");
        assert_eq!(parse_signal("to", "+1 555 000 0002").unwrap().chat(), "signal:+15550000002");
        assert_eq!(parse_signal("to", "group:abc=").unwrap().chat(), "signal-group:abc=");
    }
}
