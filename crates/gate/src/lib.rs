//! The gate: every side effect an agent asks for is an [`ActionRequest`], decided by the
//! [`Policy`] (with built-in rules it cannot loosen), stored durably, reviewed by the AI
//! reviewer, approved or denied by the human, and executed exactly once; every step is in the
//! hash-chained audit log.
//!
//! Security properties (each has an adversarial test):
//! - Nothing in a `confirm` action runs before both the AI reviewer and the human approved it;
//!   an AI "deny" can be overridden only after a delay and by typing the recipient again.
//! - A message to anyone but the user's own accounts is never allowed without confirmation;
//!   settings never change from a sandbox.
//! - A session that read private data cannot reach the internet unconfirmed; a session on the
//!   internet side cannot read private data. Taint only grows.
//! - Spend caps are rolling 24-hour sums in the database: splitting a transfer does not help,
//!   and restarting does not reset them.
//! - A decided action cannot be decided again, so a replayed approval does nothing; an approved
//!   action runs at most once even across `kill -9` (see [`queue`]).
//! - A message to anyone but the user's own accounts may skip confirmation only when it goes to
//!   exactly one chat the user listed in the policy (`[messages] reply_without_confirm`).
//! - Every action carries [`Signals`] computed by code ([`signals`]): a recipient that imitates
//!   a known contact, or a seed phrase or private key in what leaves, is denied by code before
//!   any model is asked; a secret of another kind, an unusual amount or a mixed-script domain
//!   needs the human whatever the policy says; the rest is shown to the reviewer and the human.

//!
//! Modules, in the direction they depend on each other (none imports one that imports it back):
//! [`hidden`] and [`state`] ← [`action`] ← [`policy`] ← [`contacts`] ← [`signals`] ← [`record`] ←
//! [`approval`], [`review`], [`exec`] ← [`queue`] (the state machine, on the private `durable`
//! module) ← [`workers`] (the daemon's review loop and one execute lane per kind). The `impl
//! Gate` blocks of [`signals`] and [`provenance`] read the queue's database: their pure parts do
//! not.

pub mod action;
pub mod approval;
pub mod contacts;
pub mod crash;
pub mod display;
mod durable;
mod error;
pub mod exec;
pub mod hidden;
pub mod policy;
pub mod provenance;
pub mod queue;
pub mod record;
pub mod review;
pub mod signals;
pub mod state;
pub mod workers;

pub use action::{ActionRequest, Kind, Label, Provenance, Session, Side};
pub use contacts::{AddressBook, Channel, Contact, ContactList};
pub use error::GateError;
pub use exec::{ExecError, Executor, Executors};
pub use policy::{Policy, Rule};
pub use provenance::Origin;
pub use queue::Gate;
pub use record::{ActionRecord, Decision, NewSession, Review, Verdict};
pub use review::{ReviewError, Reviewer};
pub use signals::{Signal, Signals, Weight};
pub use state::State;
pub use workers::Workers;

pub use sov_core::http::{SESSION_ENV, SESSION_HEADER};
