//! Signals: facts the gate's code establishes about every action, each with one sentence for
//! the human, given to the AI reviewer as facts and stored with the action.
//!
//! [`Gate::signals`] computes them when an action is submitted, before the policy's rule is
//! applied; [`Signals::raise`] then makes the rule at least `confirm` where a signal says so,
//! and the review loop ([`crate::workers`]) records a **deny** verdict by code for the signals
//! that weigh [`Weight::Deny`] before any model is asked. The human can still approve over it,
//! after the override delay and by retyping the recipient, as over any AI denial.
//!
//! | signal | when | weight |
//! | --- | --- | --- |
//! | [`Signal::LookAlike`] | a recipient, or an IBAN or wallet address in a message, imitates a known contact ([`crate::contacts`]) | deny, naming the contact |
//! | [`Signal::Secret`] seed phrase, private key | anywhere in what leaves (a message, to anyone, yourself included; a URL, a query, a remote prompt, a tool's parameters) | deny |
//! | [`Signal::Secret`] API key, password, card number | the same | confirm |
//! | [`Signal::MixedScripts`] | a recipient's domain mixes scripts (Latin with Cyrillic) | confirm |
//! | [`Signal::UnusualAmount`] | a wallet action above 50 USD that is more than 3× the largest approved before to that recipient, or more than 3× the largest to anyone, or a first payment to that recipient above 100 USD | confirm |
//! | [`Signal::Unchecked`] | the address book or the detectors failed | confirm |
//! | [`Signal::NewRecipient`] | you never wrote to (or paid) a recipient; whether they wrote to you | shown |
//! | [`Signal::PersonalData`] | an IBAN or a government ID number in what leaves | shown |
//! | [`Signal::AfterUntrusted`] | the session read a web page or a stranger's message before asking (messages, wallet, remote models, tools) | shown |
//!
//! "Shown" signals are for the human and the reviewer model only: they change no rule (a message
//! to someone else is confirmed anyway; a first payment too).
//!
//! Where the facts come from: the address book ([`crate::contacts::AddressBook`], the mail and
//! Signal history), the gate's own tables (executed messages, approved wallet actions and their
//! amounts, what sessions were served), and the sanitiser's deterministic detectors
//! (`sov-sanitize`: BIP-39 seed phrases of 12 words or more, private keys in hex, WIF, xprv or
//! PEM, API-key shapes, `password=` assignments, Luhn-valid card numbers, IBANs by mod-97,
//! government IDs of the US, UK and Germany).
//!
//! # What they cannot see
//! - Secrets in another shape than the detectors know: a seed phrase translated, split, in
//!   another word list or encoded (hex, base64); a password without its `password=` label. A
//!   64-hex transaction hash looks like a private key and is denied as one (the human can
//!   approve it). Wallet actions' parameters are not searched (the wallet builds them; call
//!   data is hex).
//! - Look-alikes of contacts not in the history, and the cases [`crate::contacts`] names.
//! - The user's own names and postal address (the gate does not know them; the remote path's
//!   sanitiser does).
//! - Amounts without history: a first payment of up to 100 USD is unusual to nobody (it is
//!   confirmed anyway, as every first payment is).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use rusqlite::OptionalExtension;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sov_sanitize::{Config, Kind as Found, Sanitizer};

use crate::action::{ActionRequest, Kind, Session};
use crate::contacts::{AddressBook, Channel, Contact, ContactList, Index, canonical, channel_of, mixed_script_label};
use crate::durable::db;
use crate::error::GateError;
use crate::policy::{Evaluation, Rule};
use crate::queue::Gate;

/// Wallet amounts at or below this are never unusual.
pub const UNUSUAL_MIN_USD: f64 = 50.0;
/// An amount more than this many times the largest before is unusual.
pub const UNUSUAL_FACTOR: f64 = 3.0;
/// A first payment to a recipient above this is unusual.
pub const FIRST_PAYMENT_USD: f64 = 100.0;

/// What a signal does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weight {
    /// Shown to the human and the reviewer; changes no rule.
    Shown,
    /// The action needs the human, whatever the policy says.
    Confirm,
    /// The code reviewer denies it (the human may still approve, with the override's friction).
    Deny,
}

impl Weight {
    /// The weight's name, as the terminal shows it.
    pub fn as_str(self) -> &'static str {
        match self {
            Weight::Shown => "note",
            Weight::Confirm => "warn",
            Weight::Deny => "deny",
        }
    }
}

/// A secret the detectors found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Secret {
    /// A BIP-39 seed phrase.
    SeedPhrase,
    /// A private key.
    PrivateKey,
    /// An API key or token.
    ApiKey,
    /// A password or other secret assigned by name.
    Password,
    /// A payment card number.
    Card,
}

impl Secret {
    fn phrase(self) -> &'static str {
        match self {
            Secret::SeedPhrase => "a wallet seed phrase: whoever reads it can take everything in that wallet",
            Secret::PrivateKey => {
                "what looks like a private key (64 hex digits or a key file; a transaction hash looks the same)"
            }
            Secret::ApiKey => "an API key",
            Secret::Password => "a password or secret",
            Secret::Card => "a payment card number",
        }
    }
}

/// Where a look-alike value is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Place {
    /// A recipient (or a web host).
    Recipient,
    /// In what is sent.
    Content,
}

/// One fact the gate's code established about an action.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "signal", rename_all = "snake_case")]
pub enum Signal {
    /// A recipient the user never wrote to or paid.
    NewRecipient {
        /// The recipient.
        recipient: String,
        /// Messages from them in the history.
        received: u32,
        /// Whether an address book was there to ask (without one, only the gate's own history).
        book: bool,
    },
    /// A value that imitates a known contact.
    LookAlike {
        /// The recipient or value.
        value: String,
        /// Where it is.
        place: Place,
        /// The contact it imitates.
        imitates: String,
        /// The contact, described.
        known: String,
        /// How it differs.
        how: String,
    },
    /// A recipient's domain mixes scripts.
    MixedScripts {
        /// The recipient.
        recipient: String,
        /// The label and the scripts it mixes.
        label: String,
        /// `Cyrillic and Latin`.
        scripts: String,
    },
    /// A secret in what leaves.
    Secret {
        /// Which.
        secret: Secret,
    },
    /// Personal data in what leaves.
    PersonalData {
        /// What, one noun phrase each (`an IBAN`).
        what: Vec<String>,
    },
    /// An amount unusual for this recipient or this user.
    UnusualAmount {
        /// The amount.
        value_usd: f64,
        /// Why, one clause.
        why: String,
    },
    /// The session read untrusted text before asking.
    AfterUntrusted {
        /// What it read (one example).
        what: String,
    },
    /// Something could not be checked.
    Unchecked {
        /// What, and why.
        what: String,
    },
}

impl Signal {
    /// What it does.
    pub fn weight(&self) -> Weight {
        match self {
            Signal::LookAlike { .. } | Signal::Secret { secret: Secret::SeedPhrase | Secret::PrivateKey } => {
                Weight::Deny
            }
            Signal::Secret { .. }
            | Signal::MixedScripts { .. }
            | Signal::UnusualAmount { .. }
            | Signal::Unchecked { .. } => Weight::Confirm,
            Signal::NewRecipient { .. } | Signal::PersonalData { .. } | Signal::AfterUntrusted { .. } => Weight::Shown,
        }
    }

    /// One sentence for the human (and the reviewer model), without a final full stop.
    pub fn sentence(&self) -> String {
        match self {
            Signal::NewRecipient { recipient, received: 0, book: true } => format!(
                "{recipient} is new to you: nobody by that address is in your mail or Signal history, and no earlier action went to them"
            ),
            Signal::NewRecipient { recipient, received: 0, book: false } => {
                format!("{recipient} is new to the gate: no earlier action went to them (no address book is connected)")
            }
            Signal::NewRecipient { recipient, received, .. } => format!(
                "you never wrote to {recipient}; they wrote to you {}",
                if *received == 1 { "once".to_owned() } else { format!("{received} times") }
            ),
            Signal::LookAlike { value, place, known, how, .. } => {
                let what = match place {
                    Place::Recipient => format!("the recipient {value}"),
                    Place::Content => format!("{value} in what is sent"),
                };
                format!("{what} imitates {known}: {how}")
            }
            Signal::MixedScripts { recipient, label, scripts } => format!(
                "the domain of {recipient} mixes scripts ({scripts} in \"{label}\"), which is how an address is made to look like another"
            ),
            Signal::Secret { secret } => format!("what is sent carries {}", secret.phrase()),
            Signal::PersonalData { what } => format!("what is sent carries personal data: {}", what.join(", ")),
            Signal::UnusualAmount { value_usd, why } => format!("{value_usd:.2} USD is unusual: {why}"),
            Signal::AfterUntrusted { what } => {
                format!("this session read text anyone could have written before asking for this: {what}")
            }
            Signal::Unchecked { what } => what.clone(),
        }
    }

    /// The sentence without the contact a look-alike imitates, for reasons an agent is shown
    /// (the policy's): an agent must not learn the address book by trying look-alikes.
    pub fn public_sentence(&self) -> String {
        match self {
            Signal::LookAlike { value, place: Place::Recipient, .. } => {
                format!(
                    "the recipient {value} imitates one of your contacts (the console and `sov confirm show` name it)"
                )
            }
            Signal::LookAlike { value, place: Place::Content, .. } => {
                format!(
                    "{value} in what is sent imitates one of your contacts (the console and `sov confirm show` name it)"
                )
            }
            other => other.sentence(),
        }
    }
}

/// The signals of one action, strongest first.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Signals(pub Vec<Signal>);

impl Signals {
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Each signal.
    pub fn iter(&self) -> std::slice::Iter<'_, Signal> {
        self.0.iter()
    }

    /// The heaviest weight, if any.
    pub fn strongest(&self) -> Option<Weight> {
        self.0.iter().map(Signal::weight).max()
    }

    /// The sentences, strongest first, as the reviewer model is given them.
    pub fn sentences(&self) -> Vec<String> {
        self.0.iter().map(Signal::sentence).collect()
    }

    /// The code reviewer's reason to deny: the sentences of the signals that weigh
    /// [`Weight::Deny`], joined; `None` when none does.
    pub fn deny_reason(&self) -> Option<String> {
        let reasons: Vec<String> = self.0.iter().filter(|s| s.weight() == Weight::Deny).map(Signal::sentence).collect();
        (!reasons.is_empty()).then(|| reasons.join("; and "))
    }

    /// `evaluation` with the rule raised to `confirm` where a signal weighs [`Weight::Confirm`]
    /// or more and the policy would allow: the signals' sentences come first among the reasons.
    /// A policy `deny` stays.
    pub fn raise(&self, mut evaluation: Evaluation) -> Evaluation {
        if evaluation.rule != Rule::Allow {
            return evaluation;
        }
        let mut raising: Vec<String> = self
            .0
            .iter()
            .filter(|s| s.weight() >= Weight::Confirm)
            .map(|s| format!("{} (so it needs you, whatever the policy; built-in rule)", s.public_sentence()))
            .collect();
        if !raising.is_empty() {
            evaluation.rule = Rule::Confirm;
            raising.append(&mut evaluation.reasons);
            evaluation.reasons = raising;
        }
        evaluation
    }

    /// The signals' names, for the audit log (never their values).
    pub fn names(&self) -> Vec<&'static str> {
        self.0
            .iter()
            .map(|s| match s {
                Signal::NewRecipient { .. } => "new_recipient",
                Signal::LookAlike { .. } => "look_alike",
                Signal::MixedScripts { .. } => "mixed_scripts",
                Signal::Secret { .. } => "secret",
                Signal::PersonalData { .. } => "personal_data",
                Signal::UnusualAmount { .. } => "unusual_amount",
                Signal::AfterUntrusted { .. } => "after_untrusted",
                Signal::Unchecked { .. } => "unchecked",
            })
            .collect()
    }
}

/// Whether `value_usd` to `recipient` is unusual given the largest approved before to that
/// recipient and to anyone (see the module docs), and why.
pub fn unusual_amount(value_usd: f64, recipient: &str, to_them: Option<f64>, to_anyone: Option<f64>) -> Option<String> {
    if value_usd <= UNUSUAL_MIN_USD {
        return None;
    }
    let factor = UNUSUAL_FACTOR;
    match to_them {
        Some(max) if value_usd > factor * max => {
            return Some(format!("more than {factor}× the largest earlier payment to {recipient} ({max:.2} USD)"));
        }
        None if value_usd > FIRST_PAYMENT_USD => {
            return Some(format!("a first payment to {recipient} above {FIRST_PAYMENT_USD:.0} USD"));
        }
        _ => {}
    }
    to_anyone
        .filter(|max| value_usd > factor * max)
        .map(|max| format!("more than {factor}× the largest payment you ever approved ({max:.2} USD)"))
}

/// The sanitiser's detectors, compiled once per process.
fn detectors() -> Result<&'static Sanitizer, String> {
    static DETECTORS: OnceLock<Result<Sanitizer, String>> = OnceLock::new();
    DETECTORS
        .get_or_init(|| Sanitizer::new(Config::default()).map_err(|e| e.to_string()))
        .as_ref()
        .map_err(Clone::clone)
}

/// The IBANs and wallet addresses in `text`, as the address book learns values from messages
/// (in canonical form, each once).
pub fn values_in(text: &str) -> Vec<(Channel, String)> {
    let Ok(detectors) = detectors() else { return Vec::new() };
    let mut out = BTreeSet::new();
    for d in detectors.detect(text) {
        let channel = match d.kind {
            Found::Iban => Channel::Iban,
            Found::EthAddress => Channel::Wallet,
            _ => continue,
        };
        out.insert((channel, canonical(channel, &text[d.range])));
    }
    out.into_iter().collect()
}

/// What the gate knows of the user's contacts and payments, rebuilt when it changes.
struct Known {
    /// The address book's version (`None` without one), the last `gate_spend` row, and the
    /// number of executed messages it was built from.
    key: (Option<u64>, i64, i64),
    index: Arc<Index>,
    /// The largest approved amount per recipient (canonical), and to anyone.
    paid: HashMap<String, f64>,
    largest: Option<f64>,
}

/// The gate's address book port and its cache.
#[derive(Default)]
pub(crate) struct Contacts {
    book: RwLock<Option<Arc<dyn AddressBook>>>,
    known: Mutex<Option<Arc<Known>>>,
}

impl Gate {
    /// Connects the address book the signals compare recipients with (`sov serve` connects the
    /// mail and Signal history). Without one, only the gate's own history is known.
    pub fn set_address_book(&self, book: Arc<dyn AddressBook>) {
        *self.contacts.book.write().unwrap_or_else(PoisonError::into_inner) = Some(book);
    }

    /// What the gate knows now; `unchecked` receives what could not be read.
    fn known(&self, unchecked: &mut Vec<Signal>) -> Result<Arc<Known>, GateError> {
        let book = self.contacts.book.read().unwrap_or_else(PoisonError::into_inner).clone();
        let list: Option<Arc<ContactList>> = match &book {
            None => None,
            Some(book) => match book.contacts() {
                Ok(list) => Some(list),
                Err(e) => {
                    unchecked.push(Signal::Unchecked {
                        what: format!("your address book could not be read ({e}), so the recipients were not compared with your contacts"),
                    });
                    None
                }
            },
        };
        let conn = self.db.read();
        let conn = conn.conn();
        let (spend, sends): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT coalesce(max(rowid), 0) FROM gate_spend),
                        (SELECT count(*) FROM gate_actions WHERE state = 'executed' AND kind = 'message.send')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(db)?;
        let key = (list.as_ref().map(|l| l.version), spend, sends);
        let mut cached = self.contacts.known.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(known) = cached.as_ref().filter(|k| k.key == key) {
            return Ok(known.clone());
        }
        let mut contacts: Vec<Contact> = list.map(|l| l.contacts.clone()).unwrap_or_default();
        let mut paid: HashMap<String, f64> = HashMap::new();
        let mut largest: Option<f64> = None;
        let mut stmt = conn
            .prepare(
                "SELECT s.value_usd, r.value FROM gate_spend s JOIN gate_actions a ON a.id = s.action_id,
                 json_each(a.request, '$.recipients') r",
            )
            .map_err(db)?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, f64>(0)?, r.get::<_, String>(1)?))).map_err(db)?;
        for row in rows {
            let (value, recipient) = row.map_err(db)?;
            largest = Some(largest.map_or(value, |l: f64| l.max(value)));
            let channel = channel_of(&recipient).unwrap_or(Channel::Wallet);
            let address = canonical(channel, &recipient);
            let max = paid.entry(address.clone()).or_insert(value);
            *max = max.max(value);
            contacts.push(Contact {
                channel,
                address,
                name: String::new(),
                own: false,
                wrote_to: true,
                received: 0,
                seen_in: "your payments".into(),
            });
        }
        let mut stmt = conn
            .prepare(
                "SELECT DISTINCT r.value FROM gate_actions a, json_each(a.request, '$.recipients') r
                 WHERE a.kind = 'message.send' AND a.state = 'executed'",
            )
            .map_err(db)?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0)).map_err(db)?;
        for row in rows {
            let recipient = row.map_err(db)?;
            let Some(channel) = channel_of(&recipient) else { continue };
            contacts.push(Contact {
                channel,
                address: canonical(channel, &recipient),
                name: String::new(),
                own: false,
                wrote_to: true,
                received: 0,
                seen_in: "the messages Sovereign sent for you".into(),
            });
        }
        let known = Arc::new(Known { key, index: Arc::new(Index::new(contacts)), paid, largest });
        *cached = Some(known.clone());
        Ok(known)
    }

    /// The signals of `request` from `session`, strongest first (see the module docs). A fact
    /// that cannot be established becomes a [`Signal::Unchecked`], never an error.
    pub fn signals(&self, session: &Session, request: &ActionRequest) -> Signals {
        let mut out = Vec::new();
        let kind = request.kind;

        // What leaves, as the detectors see it.
        let mut found = Vec::new();
        let mut text = String::new();
        if matches!(kind, Kind::MessageSend | Kind::WebFetch | Kind::WebSearch | Kind::RemoteLlm | Kind::ToolExec) {
            crate::provenance::all_text(&Value::Object(request.params.clone()), &mut text);
            text.push_str(&request.summary);
            match detectors() {
                Ok(detectors) => found = detectors.detect(&text),
                Err(e) => out.push(Signal::Unchecked {
                    what: format!("the secret detectors could not start ({e}), so what is sent was not checked"),
                }),
            }
        }
        let values_in_content = matches!(kind, Kind::MessageSend | Kind::ToolExec)
            && found.iter().any(|d| matches!(d.kind, Found::Iban | Found::EthAddress));
        let to_others = !request.to_self && matches!(kind, Kind::MessageSend | Kind::WalletTransfer | Kind::WalletCall);

        // The contacts and payments, read only when something is compared with them.
        let known = if to_others || kind == Kind::WebFetch || values_in_content {
            match self.known(&mut out) {
                Ok(known) => Some(known),
                Err(e) => {
                    out.push(Signal::Unchecked {
                        what: format!(
                            "the gate's history could not be read ({e}), so recipients and amounts were not checked"
                        ),
                    });
                    None
                }
            }
        } else {
            None
        };
        let book = self.contacts.book.read().unwrap_or_else(PoisonError::into_inner).is_some();
        let empty = Index::default();
        let index = known.as_ref().map_or(&empty, |k| k.index.as_ref());
        let imitation = |value: &str, place: Place, found: crate::contacts::Imitation| Signal::LookAlike {
            value: value.to_owned(),
            place,
            imitates: found.contact.address.clone(),
            known: found.contact.described(),
            how: found.how,
        };

        // Recipients.
        if to_others {
            for recipient in &request.recipients {
                let Some(channel) = channel_of(recipient) else { continue };
                if let Some(found) = index.look_alike(channel, recipient) {
                    out.push(imitation(recipient, Place::Recipient, found));
                    continue;
                }
                if channel == Channel::Email
                    && let Some((label, scripts)) =
                        recipient.rsplit_once('@').and_then(|(_, domain)| mixed_script_label(domain))
                {
                    out.push(Signal::MixedScripts { recipient: recipient.clone(), label, scripts });
                }
                let contact = index.get(channel, recipient);
                if !contact.is_some_and(Contact::trusted) {
                    out.push(Signal::NewRecipient {
                        recipient: recipient.clone(),
                        received: contact.map_or(0, |c| c.received),
                        book,
                    });
                }
            }
        }
        if kind == Kind::WebFetch
            && let Some(host) = request.url().and_then(host_of)
        {
            if let Some(found) = index.host_look_alike(&host) {
                out.push(imitation(&host, Place::Recipient, found));
            } else if let Some((label, scripts)) = mixed_script_label(&host) {
                out.push(Signal::MixedScripts { recipient: host, label, scripts });
            }
        }

        // Secrets, personal data, and values that imitate known ones, in what leaves.
        let mut secrets = BTreeSet::new();
        let mut personal = BTreeSet::new();
        for d in &found {
            let secret = match d.kind {
                Found::SeedPhrase => Some(Secret::SeedPhrase),
                Found::PrivateKey => Some(Secret::PrivateKey),
                Found::ApiKey => Some(Secret::ApiKey),
                Found::Secret => Some(Secret::Password),
                Found::Card => Some(Secret::Card),
                _ => None,
            };
            secrets.extend(secret);
            let channel = match d.kind {
                Found::GovId => {
                    personal.insert("a government ID number");
                    continue;
                }
                Found::Iban => {
                    personal.insert("an IBAN");
                    Channel::Iban
                }
                Found::EthAddress => Channel::Wallet,
                _ => continue,
            };
            let value = &text[d.range.clone()];
            if values_in_content && let Some(found) = index.look_alike(channel, value) {
                out.push(imitation(value, Place::Content, found));
            }
        }
        out.extend(secrets.into_iter().map(|secret| Signal::Secret { secret }));
        if !personal.is_empty() {
            out.push(Signal::PersonalData { what: personal.into_iter().map(str::to_owned).collect() });
        }

        // The amount.
        if kind.moves_money()
            && !request.to_self
            && let (Some(value), Some(known)) = (request.value_usd, &known)
        {
            for recipient in &request.recipients {
                let channel = channel_of(recipient).unwrap_or(Channel::Wallet);
                let to_them = known.paid.get(&canonical(channel, recipient)).copied();
                if let Some(why) = unusual_amount(value, recipient, to_them, known.largest) {
                    out.push(Signal::UnusualAmount { value_usd: value, why });
                    break;
                }
            }
        }

        // What the session read before.
        if matches!(
            kind,
            Kind::MessageSend | Kind::WalletTransfer | Kind::WalletCall | Kind::RemoteLlm | Kind::ToolExec
        ) {
            match self.read_untrusted(&session.id) {
                Ok(Some(what)) => out.push(Signal::AfterUntrusted { what }),
                Ok(None) => {}
                Err(e) => {
                    out.push(Signal::Unchecked { what: format!("what this session read could not be looked up ({e})") })
                }
            }
        }
        out.sort_by_key(|s| std::cmp::Reverse(s.weight()));
        Signals(out)
    }

    /// One untrusted text `session` was served, named as provenance names it.
    fn read_untrusted(&self, session: &str) -> Result<Option<String>, GateError> {
        self.db
            .read()
            .conn()
            .query_row(
                "SELECT what FROM gate_served WHERE session = ?1 AND origin = 'untrusted' LIMIT 1",
                [session],
                |r| r.get(0),
            )
            .optional()
            .map_err(db)
    }
}

/// The host of `url`, lower-cased.
fn host_of(url: &str) -> Option<String> {
    let rest = url.split("://").nth(1)?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_lowercase())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn amounts_are_unusual_by_the_documented_rule_only() {
        let bob = "0xb0b";
        assert_eq!(unusual_amount(30.0, bob, Some(1.0), Some(1.0)), None, "at most 50 USD is never unusual");
        assert!(
            unusual_amount(61.0, bob, Some(20.0), Some(20.0)).unwrap().contains("largest earlier payment to 0xb0b")
        );
        assert_eq!(unusual_amount(60.0, bob, Some(20.0), Some(20.0)), None, "exactly 3x is not more than 3x");
        assert!(unusual_amount(101.0, bob, None, None).unwrap().contains("first payment"));
        assert_eq!(unusual_amount(99.0, bob, None, None), None);
        assert!(unusual_amount(99.0, bob, None, Some(10.0)).unwrap().contains("ever approved (10.00 USD)"));
    }

    #[test]
    fn signals_raise_an_allow_to_confirm_and_deny_by_their_weight() {
        let shown = Signals(vec![Signal::NewRecipient { recipient: "a@b.org".into(), received: 0, book: true }]);
        let allow = Evaluation { rule: Rule::Allow, reasons: vec!["policy says allow".into()] };
        assert_eq!(shown.raise(allow.clone()), allow, "a shown signal changes nothing");
        assert_eq!(shown.deny_reason(), None);
        let warn = Signals(vec![Signal::Secret { secret: Secret::ApiKey }]);
        let raised = warn.raise(allow.clone());
        assert_eq!(raised.rule, Rule::Confirm);
        assert!(raised.reasons[0].starts_with("what is sent carries an API key"), "{:?}", raised.reasons);
        let deny = Signals(vec![Signal::Secret { secret: Secret::SeedPhrase }]);
        assert!(deny.deny_reason().unwrap().contains("seed phrase"));
        let denied = Evaluation { rule: Rule::Deny, reasons: vec!["no".into()] };
        assert_eq!(deny.raise(denied.clone()), denied);
        // Stored and read back as the same value.
        let all = Signals(vec![
            Signal::LookAlike {
                value: "x@paypa1.com".into(),
                place: Place::Recipient,
                imitates: "service@paypal.com".into(),
                known: "service@paypal.com, who wrote to you once, in your mail".into(),
                how: "paypa1.com is written with characters that look like paypal.com".into(),
            },
            Signal::UnusualAmount { value_usd: 70.5, why: "w".into() },
        ]);
        let text = serde_json::to_string(&all).unwrap();
        assert_eq!(serde_json::from_str::<Signals>(&text).unwrap(), all);
        assert_eq!(all.names(), ["look_alike", "unusual_amount"]);
    }

    #[test]
    fn values_and_hosts() {
        let found = values_in("pay DE89 3704 0044 0532 0130 00 or 0x70997970C51812dc3A010C7d01b50e0d17dc79C8");
        assert_eq!(
            found,
            [
                (Channel::Wallet, "0x70997970c51812dc3a010c7d01b50e0d17dc79c8".to_owned()),
                (Channel::Iban, "DE89370400440532013000".to_owned())
            ]
        );
        assert_eq!(host_of("https://user@PayPa1.com:443/login?x").as_deref(), Some("paypa1.com"));
        assert_eq!(host_of("no url"), None);
    }
}
