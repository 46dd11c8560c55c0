//! Strips private data from text that leaves the machine and restores it in the answer.
//!
//! Before a request goes to a remote model, [`Sanitizer::sanitize`] replaces private values with
//! placeholders such as `[EMAIL_1]` and returns the text to send together with a [`Map`] that stays
//! local. The remote answer is restored with [`Map::restore`], or chunk by chunk with a
//! [`Restorer`] while it streams.
//!
//! ```
//! use sov_sanitize::{Config, Sanitizer};
//!
//! let sanitizer = Sanitizer::new(Config {
//!     names: vec!["Alice Liddell".into()],
//!     ..Config::default()
//! })?;
//! let out = sanitizer.sanitize("I am Alice Liddell <alice@example.org>, call +49 30 1234567.");
//! assert_eq!(out.text, "I am [PERSON_1] <[EMAIL_1]>, call [PHONE_1].");
//!
//! // The remote answer, restored as it streams in.
//! let mut restorer = out.map.restorer();
//! let mut answer = restorer.push("Dear [PERSON_1], I will mail [EMA");
//! answer += &restorer.push("IL_1].");
//! answer += &restorer.finish();
//! assert_eq!(answer, "Dear Alice Liddell, I will mail alice@example.org.");
//! # Ok::<(), sov_sanitize::Error>(())
//! ```
//!
//! # What it does
//! - Deterministic detectors ([`Kind`] lists each rule): emails, phone numbers, IBANs (mod-97),
//!   payment cards (Luhn), IPv4/IPv6, Ethereum and Bitcoin addresses (base58check / bech32
//!   checksums), private keys (hex, WIF, xprv, PEM), BIP-39 seed phrases, API-key shapes,
//!   `password=`-style secrets, national IDs (US SSN, UK NINO, German Steuer-ID, French NIR,
//!   Dutch BSN, Italian codice fiscale, Spanish DNI/NIE, each with its check where it has one),
//!   paths under home directories, and the user's own names and accounts from [`Config`].
//! - Rules for what has no fixed shape, without any model: names of people, street addresses,
//!   postal codes, dates of birth (and of death or marriage), health conditions and medications,
//!   and employers. Embedded word lists say which capitalised words can be names (given names and
//!   surnames of 86 locales) and which are common words, places or products; context words
//!   decide the rest: a title (`Dr.`, `Frau`, `Mme`), a relation (`my wife`, `mein Sohn`), a
//!   greeting or sign-off (`Dear`, `Thanks,`), a field label (`From:`, `Patient:`), a verb only a
//!   person does (`Anna said`), `born`/`geboren`/`né`, `I work at`, a street type and a house
//!   number. The rule is to replace when the context says "person", and to leave a capitalised
//!   word alone when nothing does and it is an ordinary word (`Will`, `May`, `Bill`), a place
//!   (`Paris`), a product (`Rust`, `Julia`), an acronym, a code identifier or camel-case.
//!   Every other occurrence of a word of a found name is replaced too (`Priya` after
//!   `Dr. Priya Natarajan`). The user's own names and accounts win over a found name that runs
//!   into them (`Alice` in `Alice Cooper` stays `[ACCOUNT_1]`).
//! - An optional second pass by a local model through the [`SpanFinder`] trait
//!   ([`OpenAiSpanFinder`] for an OpenAI-compatible endpoint) that only adds spans
//!   ([`Sanitizer::sanitize_with`]).
//! - Overlaps are resolved deterministically: the longest span wins, ties go to the more specific
//!   kind.
//! - [`render_diff`] shows the user what changed, or exactly what leaves.
//!
//! Measured on the labelled sets in `tests/data` (built from mimesis, a package the word lists do
//! not come from; the held-out part was written before tuning and not tuned on), recall and
//! precision are printed by `cargo test -p sov-sanitize --test all pii -- --nocapture` and
//! stated in the README.
//!
//! # What it does not do
//! - It does not decide whether a remote call is allowed (the gate does), and does not send
//!   anything itself: the only network call is [`OpenAiSpanFinder`] to the *local* model.
//! - It does not promise to find every private detail. Known blind spots of the rules:
//!   - names written in lower case (`ask john`), names in scripts without letter case (Chinese,
//!     Japanese, Korean, Arabic, Hebrew, Devanagari, Thai) unless the user configured them, and a
//!     single rare given name or a surname alone with no context around it (`Orlane`, `Weber`);
//!   - names that are ordinary words, places or products when no context says "person" (`Will`,
//!     `Florence`, `Jasmine`), and public figures, which are replaced like anyone else;
//!   - addresses without a house number, PO boxes, a city or a country alone, and postcodes with
//!     neither an address, a city after them, nor a `ZIP`/`PLZ`/`postcode` label;
//!   - dates that are not said to be a birth, death or wedding (an appointment date stays);
//!   - health facts in words outside the embedded list (`my knee gave out`), and conditions in a
//!     sentence that names no person (`How do you stop video game addiction?`);
//!   - employers not introduced by a phrase like `I work at` (`I'm in Google's ads team`);
//!   - financial details other than account and card numbers, passport and ID-card numbers,
//!     licence plates: these are left to the model pass.
//! - It does not repair placeholders a remote model mangled (`[EMAIL 1]`, `EMAIL_1`): those stay
//!   as written.
//!
//! # Security properties
//! - The [`Map`] never leaves this crate in serialised form: it has no `Serialize`, its `Debug`
//!   prints placeholders only, and its values are zeroed on drop.
//! - Restoring is exact: `map.restore(&sanitized.text) == input` for every input, including inputs
//!   that already contain placeholder-shaped text (see the [`map`](crate::Map) scheme: reserved
//!   literals and `[LITERAL_n]` quoting, no nonce).
//! - Placeholders carry no information but the kind and an ordinal; the same value always maps to
//!   the same placeholder within one map.
//! - Located model spans only ever *add* replacements: a span whose text does not occur in the
//!   input is ignored.
//! - The word lists are compiled in (`include_str!`, about 1.2 MB of text, parsed once per
//!   process); nothing is loaded or fetched at run time.

mod checks;
mod detect;
mod diff;
mod finder;
mod kind;
mod lexicon;
mod map;
mod ner;
mod sanitizer;

pub use detect::Detection;
pub use diff::{DiffStyle, render_diff};
pub use finder::{BoxFuture, FoundSpan, OpenAiSpanFinder, SpanFinder, SpanKind, locate};
pub use kind::Kind;
pub use map::{Entry, Map, Restorer};
pub use sanitizer::{Config, Sanitized, Sanitizer};

/// Everything that can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The [`Config`] is unusable; fix the named field.
    #[error("bad sanitizer configuration: {0}")]
    Config(String),
    /// The local model could not be reached (not running, wrong port, timeout).
    #[error("cannot reach the local model at {url}: {reason}")]
    Unreachable {
        /// The endpoint that was called.
        url: String,
        /// What failed, without the request body.
        reason: String,
    },
    /// The local model answered with an HTTP error.
    #[error("the local model at {url} answered HTTP {status}{}", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Status {
        /// The endpoint that was called.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The server's `error.message`, cut to 200 characters (empty if none).
        message: String,
    },
    /// The local model answered, but not with the JSON the schema asks for.
    #[error("the local model's answer is unusable: {0}")]
    BadAnswer(String),
    /// A fault in this crate (a detector pattern that does not compile, a corrupt word list).
    #[error("internal sanitizer error: {0}")]
    Internal(String),
}
