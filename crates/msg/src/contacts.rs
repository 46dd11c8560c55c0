//! The user's address book, derived from the mail and Signal history, as the gate's signals
//! ask for it: [`History`] implements [`sov_gate::AddressBook`] (the port the gate defines, so
//! that the gate needs no messaging code); `sov serve` registers it with
//! [`sov_gate::Gate::set_address_book`].
//!
//! What it counts, from the stored messages (`msg_messages`) and accounts (`msg_accounts`):
//! - the user's own accounts (every configured account, and every account a message was polled
//!   from);
//! - everyone a message from one of those accounts went to (the Sent folder, Signal messages
//!   sent from another device): **written to**;
//! - everyone a message came from, with how many: **wrote to you**;
//! - the IBANs and wallet addresses in every message body, with where they were first seen;
//!   one counts as known when it came in a message of the user's or of someone the user wrote
//!   to.
//!
//! It reads only what is new since its last call (by message id), so asking once per action
//! costs one indexed query; the first call after a start reads the whole history once.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::params;
use sov_gate::contacts::{Channel, Contact, ContactList, canonical, channel_of};

use crate::store::MessageStore;
use crate::{Backend, MsgError, lock};

/// Messages read per query while catching up.
const BATCH: i64 = 2000;

/// Someone in the history.
#[derive(Debug, Default)]
struct Person {
    name: String,
    wrote_to: bool,
    received: u32,
}

/// A value (an IBAN, a wallet address) seen in a message.
#[derive(Debug)]
struct Seen {
    /// Who sent the first message it was seen in.
    from: String,
    /// Whether that message was the user's own.
    mine: bool,
    /// When, ms since the epoch.
    when_ms: i64,
    times: u32,
}

#[derive(Debug)]
struct State {
    store: MessageStore,
    last_id: i64,
    own: BTreeSet<String>,
    people: BTreeMap<(Backend, String), Person>,
    values: BTreeMap<(Channel, String), Seen>,
    snapshot: Arc<ContactList>,
}

/// The address book of the mail and Signal history; cheap to ask again.
#[derive(Debug)]
pub struct History {
    state: Mutex<State>,
}

impl History {
    /// The history in the database at `path`, on a connection of its own.
    pub fn open(path: &Path) -> Result<History, MsgError> {
        Ok(History::new(MessageStore::open(path)?))
    }

    /// The history on `store`.
    pub fn new(store: MessageStore) -> History {
        History {
            state: Mutex::new(State {
                store,
                last_id: 0,
                own: BTreeSet::new(),
                people: BTreeMap::new(),
                values: BTreeMap::new(),
                snapshot: Arc::new(ContactList::default()),
            }),
        }
    }

    /// The contacts now, after reading what is new.
    pub fn contacts(&self) -> Result<Arc<ContactList>, MsgError> {
        let mut state = lock(&self.state);
        state.refresh()?;
        Ok(state.snapshot.clone())
    }
}

impl sov_gate::AddressBook for History {
    fn contacts(&self) -> Result<Arc<ContactList>, String> {
        History::contacts(self).map_err(|e| e.to_string())
    }
}

/// The addresses a message went to, as the store keeps them (`a@x, b@y`, or a number).
fn recipients(recipient: &str) -> impl Iterator<Item = String> + '_ {
    recipient.split(',').map(|r| r.trim().to_lowercase()).filter(|r| !r.is_empty() && !r.starts_with("group:"))
}

fn day(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map_or_else(|_| "an unknown date".into(), |t| t.strftime("%Y-%m-%d").to_string())
}

impl State {
    fn refresh(&mut self) -> Result<(), MsgError> {
        let mut changed = false;
        let configured: BTreeSet<String> = {
            let mut stmt = self.store.store().conn().prepare_cached("SELECT address FROM msg_accounts")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?.into_iter().map(|a| a.to_lowercase()).collect()
        };
        if !configured.is_subset(&self.own) {
            self.own.extend(configured);
            changed = true;
        }
        loop {
            type Row = (i64, String, String, String, String, String, String, i64);
            let rows: Vec<Row> = {
                let mut stmt = self.store.store().conn().prepare_cached(
                    "SELECT id, backend, account, sender, sender_name, recipient, body, timestamp_ms
                     FROM msg_messages WHERE id > ?1 ORDER BY id LIMIT ?2",
                )?;
                let rows = stmt.query_map(params![self.last_id, BATCH], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            if rows.is_empty() {
                break;
            }
            changed = true;
            for (id, backend, account, sender, name, recipient, body, when_ms) in rows {
                self.last_id = id;
                let Some(backend) = Backend::parse(&backend) else { continue };
                let (account, sender) = (account.to_lowercase(), sender.to_lowercase());
                self.own.insert(account.clone());
                let mine = sender == account || self.own.contains(&sender);
                if mine {
                    for to in recipients(&recipient) {
                        if !self.own.contains(&to) {
                            self.people.entry((backend, to)).or_default().wrote_to = true;
                        }
                    }
                } else if !sender.is_empty() {
                    let person = self.people.entry((backend, sender.clone())).or_default();
                    person.received = person.received.saturating_add(1);
                    if !name.is_empty() {
                        person.name = name;
                    }
                }
                for (channel, value) in sov_gate::signals::values_in(&body) {
                    let seen = self.values.entry((channel, value)).or_insert(Seen {
                        from: sender.clone(),
                        mine,
                        when_ms,
                        times: 0,
                    });
                    seen.times = seen.times.saturating_add(1);
                    if mine && !seen.mine {
                        (seen.from, seen.mine, seen.when_ms) = (sender.clone(), true, when_ms);
                    }
                }
            }
        }
        if changed {
            self.snapshot = Arc::new(ContactList { version: self.snapshot.version + 1, contacts: self.contacts() });
        }
        Ok(())
    }

    fn contacts(&self) -> Vec<Contact> {
        let mut out = Vec::new();
        for own in &self.own {
            let Some(channel) = channel_of(own) else { continue };
            out.push(Contact {
                channel,
                address: canonical(channel, own),
                name: String::new(),
                own: true,
                wrote_to: false,
                received: 0,
                seen_in: "your accounts".into(),
            });
        }
        for ((backend, address), person) in &self.people {
            let channel = match backend {
                Backend::Email if address.contains('@') => Channel::Email,
                Backend::Signal if address.starts_with('+') => Channel::Phone,
                _ => continue,
            };
            out.push(Contact {
                channel,
                address: canonical(channel, address),
                name: person.name.clone(),
                own: false,
                wrote_to: person.wrote_to,
                received: person.received,
                seen_in: match backend {
                    Backend::Email => "your mail".into(),
                    Backend::Signal => "your Signal messages".into(),
                },
            });
        }
        let wrote_to = |from: &str| self.people.iter().any(|((_, a), p)| a == from && p.wrote_to);
        for ((channel, value), seen) in &self.values {
            let trusted = seen.mine || wrote_to(&seen.from);
            let whose =
                if seen.mine { "a message of yours".to_owned() } else { format!("a message from {}", seen.from) };
            out.push(Contact {
                channel: *channel,
                address: value.clone(),
                name: String::new(),
                own: false,
                wrote_to: trusted,
                received: seen.times,
                seen_in: format!("{whose} of {}", day(seen.when_ms)),
            });
        }
        out
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::store::NewMessage;
    use serde_json::json;
    use sov_core::store::Store;
    use sov_gate::{
        ActionRecord, ActionRequest, Executors, Gate, Kind, Policy, Reviewer, Session, Side, Signal, State, Verdict,
    };

    const ALICE: &str = "alice@example.org";

    fn mail(uid: &str, from: &str, to: &str, body: &str, name: &str) -> NewMessage {
        NewMessage {
            backend: Backend::Email,
            account: ALICE.into(),
            uid: uid.into(),
            sender: from.into(),
            sender_name: name.into(),
            recipient: to.into(),
            subject: "s".into(),
            body: body.into(),
            thread_id: format!("<{uid}@x>"),
            timestamp_ms: 1_764_720_000_000,
            metadata: json!({}),
        }
    }

    /// A real gate and a real message store on one database, the history connected as the
    /// gate's address book, with mail from PayPal, a conversation with Bob, a supplier's IBAN
    /// and a Signal contact.
    struct Rig {
        _dir: tempfile::TempDir,
        db: std::path::PathBuf,
        gate: Arc<Gate>,
        session: Session,
    }

    fn rig() -> Rig {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("sov.db");
        let gate = Arc::new(Gate::new(Store::open(&db).unwrap(), None, Policy::default()));
        let mut store = MessageStore::open(&db).unwrap();
        let mut history = vec![
            mail("INBOX/1/1", "service@paypal.com", ALICE, "Your receipt.", "PayPal"),
            mail("INBOX/1/2", "service@paypal.com", ALICE, "Your statement.", "PayPal"),
            mail("INBOX/1/3", "bob@example.net", ALICE, "Lunch on Friday?", "Bob"),
            mail("Sent/1/1", ALICE, "bob@example.net", "Yes, noon.", ""),
            mail("INBOX/1/4", "accounts@supplier.example", ALICE, "Please pay to DE89 3704 0044 0532 0130 00.", ""),
            mail("Sent/1/2", ALICE, "accounts@supplier.example", "Paid, thanks.", ""),
        ];
        let mut signal = mail("+4915123456789/1", "+4915123456789", "+4915100000000", "hi", "Carol");
        signal.backend = Backend::Signal;
        signal.account = "+4915100000000".into();
        history.push(signal);
        store.insert(&history, None).unwrap();
        gate.set_address_book(Arc::new(History::open(&db).unwrap()));
        let session = gate.create_session(Side::Open, "test").unwrap().session;
        Rig { _dir: dir, db, gate, session }
    }

    fn send(to: &str, body: &str) -> ActionRequest {
        let mut req = ActionRequest::new(Kind::MessageSend);
        req.summary = format!("email to {to}");
        req.recipients = vec![to.into()];
        req.params = json!({"backend": "email", "from": ALICE, "to": [to], "subject": "Hi", "body": body})
            .as_object()
            .cloned()
            .unwrap();
        req
    }

    /// A reviewer that approves everything, as a model that obeys every injection would.
    struct Obedient;

    impl Reviewer for Obedient {
        fn review(&self, _: &ActionRecord) -> Result<(Verdict, String), sov_gate::ReviewError> {
            Ok((Verdict::Approve, "the user asked for it".into()))
        }
    }

    /// Runs the daemon's reviewer until `id` is reviewed.
    fn reviewed(rig: &Rig, id: &str) -> ActionRecord {
        let workers = sov_gate::Workers::start(rig.gate.clone(), Arc::new(Obedient), Executors::new()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let r = rig.gate.get(id).unwrap();
            if r.review.is_some() {
                drop(workers);
                return r;
            }
            assert!(std::time::Instant::now() < deadline, "{id} was never reviewed");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    fn denied_by_code(rig: &Rig, req: ActionRequest, named: &str) -> ActionRecord {
        let record = rig.gate.submit(&rig.session, req).unwrap();
        assert_eq!(record.state, State::Reviewing, "{record:?}");
        let record = reviewed(rig, &record.id);
        let review = record.review.clone().unwrap();
        assert_eq!((review.verdict, review.model.as_deref()), (Verdict::Deny, Some("code")), "{}", review.reason);
        assert!(review.reason.contains(named), "the reason names {named}: {}", review.reason);
        // The agent is told a recipient imitates a contact, not which.
        let (_, for_agent) = record.review_for_agent().unwrap();
        if record.signals.iter().any(|s| matches!(s, Signal::LookAlike { .. })) {
            assert!(
                !for_agent.contains(named) && for_agent.contains("imitates one of the user's contacts"),
                "{for_agent}"
            );
        }
        record
    }

    #[test]
    fn a_paypa1_domain_and_a_cyrillic_homoglyph_of_a_contact_from_mail_are_denied_by_code_naming_it() {
        let rig = rig();
        let r = denied_by_code(&rig, send("billing@paypa1.com", "Here is the card."), "service@paypal.com");
        let why = r.review.unwrap().reason;
        assert!(why.contains("paypa1.com is written with characters that look like paypal.com"), "{why}");
        assert!(why.contains("(PayPal), who wrote to you 2 times, in your mail"), "{why}");
        // Cyrillic е, х, а for Latin e, x, a: msg takes only ASCII addresses, so it comes as punycode.
        let puny = format!("bob@{}", idna::domain_to_ascii("\u{435}\u{445}\u{430}mple.net").unwrap());
        assert!(puny.contains("xn--"), "{puny}");
        let r = denied_by_code(&rig, send(&puny, "Lunch moved to 1pm"), "bob@example.net");
        assert!(r.review.unwrap().reason.contains("whom you wrote to"));
        // A changed digit of the supplier's IBAN (with its check digits made right again), sent
        // to the supplier's accountant.
        let r = denied_by_code(
            &rig,
            send("accounts@supplier.example", "New bank details: DE62 3704 0044 0532 0130 01"),
            "DE89370400440532013000",
        );
        assert!(
            r.signals.iter().any(|s| matches!(s, Signal::LookAlike { place: sov_gate::signals::Place::Content, .. }))
        );
        // A changed digit of a Signal contact's number.
        let mut sig = send("+4915123456780", "hi");
        sig.params.insert("backend".into(), json!("signal"));
        denied_by_code(&rig, sig, "+4915123456789");
    }

    #[test]
    fn a_reply_to_a_known_contact_carries_no_alarm_and_a_first_time_recipient_is_shown_as_new() {
        let rig = rig();
        let reply = rig.gate.submit(&rig.session, send("bob@example.net", "See you at noon on Friday.")).unwrap();
        assert_eq!(reply.signals, sov_gate::Signals::default(), "{:?}", reply.signals);
        let reviewed = reviewed(&rig, &reply.id);
        assert_eq!(reviewed.review.unwrap().verdict, Verdict::Approve, "the model decides alone");
        let paypal = rig.gate.submit(&rig.session, send("service@paypal.com", "Thanks.")).unwrap();
        assert_eq!(
            paypal.signals.sentences(),
            ["you never wrote to service@paypal.com; they wrote to you 2 times"],
            "they wrote, you never did"
        );
        let new = rig.gate.submit(&rig.session, send("dana@elsewhere.example", "Hello Dana")).unwrap();
        assert_eq!(
            new.signals.sentences(),
            [
                "dana@elsewhere.example is new to you: nobody by that address is in your mail or Signal history, and no earlier action went to them"
            ]
        );
        assert_eq!(new.signals.strongest(), Some(sov_gate::Weight::Shown));
        // The history is read again as it grows: once Alice wrote to Dana, Dana is known.
        let mut store = MessageStore::open(&rig.db).unwrap();
        store.insert(&[mail("Sent/1/9", ALICE, "dana@elsewhere.example", "Hi", "")], None).unwrap();
        let again = rig.gate.submit(&rig.session, send("dana@elsewhere.example", "Hello again")).unwrap();
        assert!(again.signals.is_empty(), "{:?}", again.signals);
    }

    #[test]
    fn a_seed_phrase_in_a_message_is_denied_by_code_even_to_a_friend_or_to_oneself() {
        let rig = rig();
        let seed = "abandon ability able about above absent absorb abstract absurd abuse access accident";
        denied_by_code(&rig, send("bob@example.net", &format!("my words: {seed}")), "seed phrase");
        // To oneself the policy allows at once; the seed phrase makes it wait, denied by code.
        let mut note = send(ALICE, &format!("backup: {seed}"));
        note.to_self = true;
        let r = denied_by_code(&rig, note, "seed phrase");
        assert!(r.reasons[0].contains("seed phrase") && r.reasons[0].contains("built-in rule"), "{:?}", r.reasons);
    }
}
