//! The gate's executor for `message.send`: hands an approved message to SMTP or signal-cli, at
//! most once.
//!
//! Exactly once across crashes rests on the outbox (`msg_outbox`), keyed by the action's
//! idempotency key:
//! - no entry: nothing was handed over yet, so it is sent (after recording, durably, that the
//!   hand-over starts);
//! - "sent": the server accepted it before; the recorded answer is returned and nothing is sent;
//! - "started" without "sent": Sovereign died while handing it over, so whether the server took
//!   it is unknown. It is **not** sent again (it could arrive twice); the action fails with a
//!   message saying to check the Sent folder or chat.
//!
//! So re-running with the same key never sends twice, and the gate may re-run it after a crash
//! ([`Executor::idempotent`]). The Message-ID is derived from the key, so even a copy made by a
//! mail server's own retry carries the same id.

use std::path::Path;
use std::sync::Mutex;

use serde_json::Value;
use sov_gate::{ActionRecord, ExecError, Executor};

use crate::accounts::{Accounts, Secrets};
use crate::address::parse_recipients;
use crate::email::{self, Outgoing, SendFailure};
use crate::store::{MessageStore, Outbox};
use crate::{Backend, MsgError, signal};

/// The crash point (see [`sov_gate::crash`]) after a server accepted a message and before the
/// outbox records it: the one moment where whether it left is unknown.
pub const CRASH_HANDED_OFF: &str = "message-handed-off";

/// Sends approved `message.send` actions.
#[derive(Debug)]
pub struct MessageSender {
    store: Mutex<MessageStore>,
    secrets: Secrets,
}

impl MessageSender {
    /// A sender on its own connection to `database`; passwords from `data_dir`'s secrets.
    pub fn open(database: &Path, data_dir: &Path) -> Result<MessageSender, MsgError> {
        Ok(MessageSender { store: Mutex::new(MessageStore::open(database)?), secrets: Secrets::new(data_dir) })
    }

    fn store(&self) -> std::sync::MutexGuard<'_, MessageStore> {
        crate::lock(&self.store)
    }

    fn hand_over(&self, action: &ActionRecord, key: &str) -> Result<Value, SendFailure> {
        let refused = |e: MsgError| SendFailure::Refused(e.to_string());
        let params = &action.request.params;
        let text = |name: &str| params.get(name).and_then(Value::as_str).unwrap_or_default();
        let backend =
            Backend::parse(text("backend")).ok_or_else(|| SendFailure::Refused("params.backend is missing".into()))?;
        let to: Vec<String> = params
            .get("to")
            .and_then(Value::as_array)
            .map(|list| list.iter().filter_map(Value::as_str).map(str::to_owned).collect())
            .unwrap_or_default();
        // The parameters were checked when the action was submitted; check again, as what is
        // handed to a server must be exactly what the human approved and nothing else.
        let recipients = parse_recipients(backend, "to", &to).map_err(refused)?;
        let accounts = Accounts::load(&self.store()).map_err(refused)?;
        match backend {
            Backend::Email => {
                let account = accounts
                    .email(text("from"))
                    .ok_or_else(|| refused(MsgError::NoAccount { backend, address: text("from").to_owned() }))?;
                let password = self.secrets.password(&account.address).map_err(refused)?;
                let domain = account.address.rsplit_once('@').map_or("sovereign.invalid", |(_, d)| d);
                let message_id = format!("<{key}@{domain}>");
                let to: Vec<String> = recipients.iter().map(|r| r.as_sent()).collect();
                email::send(
                    account,
                    &password,
                    &Outgoing { to: &to, subject: text("subject"), body: text("body"), message_id: &message_id },
                )
            }
            Backend::Signal => {
                let account = accounts
                    .signal(text("from"))
                    .ok_or_else(|| refused(MsgError::NoAccount { backend, address: text("from").to_owned() }))?;
                signal::send(account, &recipients, text("body"))
            }
        }
    }
}

impl Executor for MessageSender {
    fn execute(&self, action: &ActionRecord, key: &str) -> Result<Value, ExecError> {
        let store_failed = |e: MsgError| ExecError::NotDone(e.to_string());
        match self.store().outbox(key).map_err(store_failed)? {
            Outbox::Sent(result) => return Ok(result),
            Outbox::Started => {
                return Err(ExecError::Unknown("interrupted: Sovereign stopped while handing this message to the server, so whether it left is unknown; it is not sent again so it cannot arrive twice. Check your Sent folder or the chat.".into()));
            }
            Outbox::New => {}
        }
        self.store().outbox_start(key, &action.id).map_err(store_failed)?;
        let result = self.hand_over(action, key);
        sov_gate::crash::point(CRASH_HANDED_OFF);
        match result {
            Ok(result) => {
                // Sent: if recording that fails, the effect happened but is not on record here.
                self.store().outbox_sent(key, &result).map_err(|e| ExecError::Unknown(e.to_string()))?;
                Ok(result)
            }
            Err(SendFailure::Refused(e)) => {
                let _ = self.store().outbox_refused(key);
                Err(ExecError::Failed(e))
            }
            Err(SendFailure::Unknown(e)) => Err(ExecError::Unknown(format!(
                "{e}; whether the server took the message is unknown, so it is not sent again"
            ))),
        }
    }

    fn idempotent(&self) -> bool {
        true
    }
}
