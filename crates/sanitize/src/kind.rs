//! What a piece of private data is: decides its placeholder label and who wins an overlap.

use serde::{Deserialize, Serialize};

/// The kind of a private value; its [`label`](Kind::label) names the placeholder (`[EMAIL_1]`).
///
/// The kinds from [`Email`](Kind::Email) to [`Health`](Kind::Health) are found by the
/// deterministic detectors ([`Kind::DETERMINISTIC`]); a local model through a
/// [`SpanFinder`](crate::SpanFinder) can add persons, addresses, employers, health, financial and
/// other details; [`Kind::Literal`] is internal bookkeeping (see [`Map`](crate::Map)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// An email address (`local@domain.tld`).
    Email,
    /// A phone number: `+CC …` (8–15 digits), `00CC …`, US `(555) 123-4567` / `555-123-4567` /
    /// `555 123 4567`, or a national number with a leading trunk `0` (not `00`), separators and
    /// 9–12 digits (`030 1234567`, `06 12 34 56 78`, `(02) 9876 5432`). A number glued to another
    /// digit group (`3704 0044 0532`) is not taken. Not detected: national numbers written without
    /// separators (`01711234567`); years, dates, times and short numbers never match.
    Phone,
    /// A person's name: the user's own from [`Config::names`](crate::Config::names); a name from
    /// the embedded given-name and surname lists (several cultures, see the crate docs); any
    /// capitalised words after a title, a relation, a greeting, a sign-off or a field label
    /// (`Dr.`, `my wife`, `Dear`, `Thanks,`, `From:`); every other occurrence of a word of a
    /// found name; or a person named by the local model. A capitalised word that is also a
    /// common word, a place or a product (`Will`, `May`, `Paris`, `Rust`) is a name only in such
    /// a context.
    Person,
    /// An account or user name from [`Config::accounts`](crate::Config::accounts), or the user name
    /// taken from the home directory.
    Account,
    /// An IBAN (upper case, grouped by 4 or compact) whose mod-97 check holds and whose length
    /// fits its country when the country is known.
    Iban,
    /// A payment card number: 13–19 digits, optionally grouped by one kind of separator, first digit
    /// 2–6, Luhn check holds.
    Card,
    /// An IPv4 or IPv6 address. Excepted: IPv4 starting with 0, 127 or 255 (unspecified,
    /// loopback, masks/broadcast), `::` and `::1`, IPv6 shapes without any digit (`Add::add`).
    /// A dotted quad such as `1.2.3.4` *is* an IPv4 address unless it directly follows `v`,
    /// `version`, `ver.`, `release` or `build`, or is part of a longer dotted number.
    Ip,
    /// An Ethereum address: `0x` and 40 hex digits.
    EthAddress,
    /// A Bitcoin address: base58check `1…`/`3…`, or bech32/bech32m `bc1…`/`tb1…` with a valid
    /// checksum.
    BtcAddress,
    /// A private key: 64 hex digits (with or without `0x`, at least one digit and one letter), a
    /// WIF key, an `xprv` extended key (base58check), or a PEM `-----BEGIN … PRIVATE KEY-----`
    /// block. A 64-hex value labelled `sha256:`/`digest:`/`checksum:` is not taken; transaction
    /// hashes cannot be told apart from keys and are taken (they link to a wallet anyway). 40-hex
    /// git hashes are never keys.
    PrivateKey,
    /// A run of 12 or more consecutive words from the English BIP-39 list, separated only by
    /// whitespace, commas or list numbering (`1. abandon 2. ability`); the whole run is taken, so
    /// a phrase with a typo (bad checksum) is covered too. (In 3.5 MB of English licences and
    /// READMEs the longest such run was 7 words.)
    SeedPhrase,
    /// An API token of a known shape (`sk-…`, `ghp_…`, `AKIA…`, `xoxb-…`, `AIza…`, `glpat-…`, JWTs,
    /// `Bearer <token>`, …).
    ApiKey,
    /// The value of a `password=`/`secret:`/`token=`-style assignment.
    Secret,
    /// A national ID number, checked where the number has a check: US SSN `ddd-dd-dddd` (area not
    /// 000/666/9xx; without dashes only after `SSN`/`social security`), UK National Insurance
    /// number (`AB 12 34 56 C`, prefix rules), German Steuer-ID (ISO 7064 check digit, after a
    /// keyword such as `Steuer-ID`/`IdNr`/`TIN`), French NIR/INSEE number (15 digits, key mod 97),
    /// Dutch BSN (11-test, after `BSN`/`burgerservicenummer`/`sofinummer`), Italian codice
    /// fiscale (check letter), Spanish DNI and NIE (check letter). Passport and ID-card numbers
    /// are too noisy for rules and are left to the local model.
    GovId,
    /// A file path under a home directory (`/home/alice/…`, `/Users/alice/…`, `C:\Users\alice\…`,
    /// `~/…`, `$HOME/…`, or the configured home), replaced as a whole up to whitespace, a quote, a
    /// bracket or `:` (so `main.rs:42:5` keeps its line numbers visible).
    Path,
    /// A street address: a house number and a street type (`221B Baker Street`, `12 rue des
    /// Lilas`, `Hauptstraße 5`, `Kerkstraat 12`, `Via Roma 10`, `Calle Mayor, 5`), or words and a
    /// house number before a postcode and a city (`Aan de Dom 5, 3512 JE Utrecht`); or one the
    /// local model named. Not detected: an address without a house number, a PO box, a city or a
    /// country alone.
    Address,
    /// A postal code next to an address or a city: after a street address, before a known city
    /// at the start of a line or after a comma (`10115 Berlin`, `1012 AB Amsterdam`), a UK
    /// postcode anywhere (`SW1A 1AA`), a prefixed one (`CH-8001`), or after `ZIP`/`PLZ`/
    /// `postcode`. A bare number is never one.
    PostalCode,
    /// A date tied to a person: of birth, death or marriage, within the line before or just after
    /// the date (`born 3 May 1984`, `DOB: 1984-05-03`, `am 3. Mai 1984 geboren`, `né le …`,
    /// `nacido el …`, `date of birth`). Other dates (releases, deadlines, logs) are kept.
    Date,
    /// An employer or organisation tied to a person: the capitalised name after `I work at`,
    /// `employed by`, `my employer,`, `an engineer at`, `ich arbeite bei`, `je travaille chez`, …;
    /// or one the local model named.
    Employer,
    /// Health information: a condition, treatment or medication from the embedded list in a
    /// sentence about a person (a pronoun, a relation, a found name, `diagnosed`, `Diagnosis:`);
    /// or what the local model named.
    Health,
    /// Financial details other than account numbers (local model).
    Financial,
    /// Any other private detail the local model flagged.
    Other,
    /// Text in the input that already had the shape of a placeholder assigned earlier in the same
    /// [`Map`](crate::Map); it is replaced so that restoring cannot confuse it with real data.
    Literal,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 23] = [
        Kind::Email,
        Kind::Phone,
        Kind::Person,
        Kind::Account,
        Kind::Iban,
        Kind::Card,
        Kind::Ip,
        Kind::EthAddress,
        Kind::BtcAddress,
        Kind::PrivateKey,
        Kind::SeedPhrase,
        Kind::ApiKey,
        Kind::Secret,
        Kind::GovId,
        Kind::Path,
        Kind::Address,
        Kind::PostalCode,
        Kind::Date,
        Kind::Employer,
        Kind::Health,
        Kind::Financial,
        Kind::Other,
        Kind::Literal,
    ];

    /// The kinds that the deterministic detectors find (the default set of
    /// [`Config::enabled`](crate::Config::enabled)).
    pub const DETERMINISTIC: [Kind; 20] = [
        Kind::Email,
        Kind::Phone,
        Kind::Person,
        Kind::Account,
        Kind::Iban,
        Kind::Card,
        Kind::Ip,
        Kind::EthAddress,
        Kind::BtcAddress,
        Kind::PrivateKey,
        Kind::SeedPhrase,
        Kind::ApiKey,
        Kind::Secret,
        Kind::GovId,
        Kind::Path,
        Kind::Address,
        Kind::PostalCode,
        Kind::Date,
        Kind::Employer,
        Kind::Health,
    ];

    /// The placeholder label: `EMAIL` in `[EMAIL_1]`.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Email => "EMAIL",
            Kind::Phone => "PHONE",
            Kind::Person => "PERSON",
            Kind::Account => "ACCOUNT",
            Kind::Iban => "IBAN",
            Kind::Card => "CARD",
            Kind::Ip => "IP",
            Kind::EthAddress => "ETH_ADDRESS",
            Kind::BtcAddress => "BTC_ADDRESS",
            Kind::PrivateKey => "PRIVATE_KEY",
            Kind::SeedPhrase => "SEED_PHRASE",
            Kind::ApiKey => "API_KEY",
            Kind::Secret => "SECRET",
            Kind::GovId => "GOV_ID",
            Kind::Path => "PATH",
            Kind::Address => "ADDRESS",
            Kind::PostalCode => "POSTCODE",
            Kind::Date => "DATE",
            Kind::Employer => "EMPLOYER",
            Kind::Health => "HEALTH",
            Kind::Financial => "FINANCIAL",
            Kind::Other => "OTHER",
            Kind::Literal => "LITERAL",
        }
    }

    /// The snake-case name used in configuration and test data (`eth_address`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Person => "person",
            Kind::Account => "account",
            Kind::Iban => "iban",
            Kind::Card => "card",
            Kind::Ip => "ip",
            Kind::EthAddress => "eth_address",
            Kind::BtcAddress => "btc_address",
            Kind::PrivateKey => "private_key",
            Kind::SeedPhrase => "seed_phrase",
            Kind::ApiKey => "api_key",
            Kind::Secret => "secret",
            Kind::GovId => "gov_id",
            Kind::Path => "path",
            Kind::Address => "address",
            Kind::PostalCode => "postal_code",
            Kind::Date => "date",
            Kind::Employer => "employer",
            Kind::Health => "health",
            Kind::Financial => "financial",
            Kind::Other => "other",
            Kind::Literal => "literal",
        }
    }

    /// Tie-break between overlapping detections of equal length: lower wins. Checksummed and
    /// structural kinds come before loose shapes, deterministic before model-found.
    pub(crate) fn rank(self) -> u8 {
        match self {
            Kind::Literal => 0,
            Kind::PrivateKey => 1,
            Kind::SeedPhrase => 2,
            Kind::Iban => 3,
            Kind::Card => 4,
            Kind::EthAddress => 5,
            Kind::BtcAddress => 6,
            Kind::ApiKey => 7,
            Kind::Secret => 8,
            Kind::Email => 9,
            Kind::Path => 10,
            Kind::GovId => 11,
            Kind::Ip => 12,
            Kind::Phone => 13,
            Kind::Person => 14,
            Kind::Account => 15,
            Kind::Address => 16,
            Kind::PostalCode => 17,
            Kind::Date => 18,
            Kind::Employer => 19,
            Kind::Health => 20,
            Kind::Financial => 21,
            Kind::Other => 22,
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
