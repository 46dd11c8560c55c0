//! The private remote path: a question for a model outside this machine, asked so that it
//! reveals as little as possible (sanitised, attested, sealed, paid anonymously, carried over
//! Tor or a mixnet) and only once the gate approved it.
//!
//! # What it does, in order
//! 1. [`Redactor`] replaces private data (the config's names and accounts, e-mail addresses,
//!    card numbers, the home directory, and what the local model marks) by placeholders; the
//!    placeholder map stays in the asking request's memory.
//! 2. [`GatedRemote`] (the `remote:NAME` models of `sov serve`'s APIs) submits the sanitised
//!    chat as a `remote.llm` action with typed [`RemoteLlmParams`] to the gate, so the policy,
//!    the taint rules, the AI reviewer and the human see exactly the text that would leave, and
//!    waits for it.
//! 3. [`RemoteLlmExecutor`], the gate's executor for `remote.llm`, sends the approved messages
//!    ([`send_private`]): the provider's attestation verified locally, the body sealed to the
//!    attested key, paid with a ZK-API ticket over exactly the sealed bytes, through the
//!    configured [`Transport`](sov_core::config::Transport).
//! 4. The answer streams back: the executor hands each piece to the waiting request through
//!    [`Streams`] and records the whole text as the action's outcome; the request restores the
//!    placeholders piece by piece and hands the pieces to the API as they come.
//!
//! # What it does not do
//! It does not decide whether a call may leave (the gate does), verify attestation evidence
//! (`sov-attest`), seal (`sov-remote`) or prove (`sov-zkapi`); it does not hide the length or
//! timing of a question, nor what the sanitiser does not recognise as private.
//!
//! # Guarantees
//! - Nothing leaves unsanitised: when the local model's pass fails, the question is refused, not
//!   sent with the rules' pass alone.
//! - Nothing leaves unapproved: only the gate's executor sends, and only the approved messages
//!   to the approved URL (a URL changed in the config since is refused).
//! - The placeholder map is in no action, log or database: only in the asking request's memory,
//!   so only that request can restore the answer.
//! - Each attempt pays with a fresh ticket index, so an index is never spent on two requests;
//!   an interrupted call is not repeated (the executor is not idempotent).
//! - A refusal for an unknown deposit tree root (`unknown_root`) is retried once with a tree
//!   read again; any other refusal reports the provider's reason.
//!
//! [`ProviderTickets`] pays a `sov provider`'s plain requests the same way (a paid search
//! engine's queries), from the same wallet.

mod error;
pub mod execute;
pub mod params;
pub mod redact;
pub mod route;
pub mod send;
pub mod streams;
pub mod tickets;

pub use error::Error;
pub use execute::RemoteLlmExecutor;
pub use params::{ParamMessage, RemoteLlmParams};
pub use redact::Redactor;
pub use route::GatedRemote;
pub use send::{Payers, attest_policy, send_private, take_events, transport};
pub use streams::Streams;
pub use tickets::ProviderTickets;
