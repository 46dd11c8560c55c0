//! Sovereign's own tools for the agent, reached from inside the sandbox under the session's gate
//! token, so the gate knows which session read private data and what it asked for; the gate, not
//! the agent, decides whether anything goes out.
//!
//! - [`messages`]: `messages` (read the user's mail and Signal), `send_message` and
//!   `message_status`, through the Tool API;
//! - [`web`]: `web_search` and `web_fetch`, through the Tool API;
//! - [`wallet`]: `wallet_balance` and `ens_resolve`, through the Tool API, when it serves the
//!   wallet;
//! - [`knowledge`]: `knowledge` (search the user's notes and offline documents) and
//!   `knowledge_read`, through the Tool API, when `sov serve` has a knowledge index;
//! - [`remote`]: `remote`, a question for a stronger model outside this machine, through the LLM
//!   API.
//!
//! A new service's tool is one more module here implementing [`crate::Tool`], and a line in
//! [`ABSENT`] if a model calling it in a session without the service should be told why.

mod http;
pub mod knowledge;
pub mod messages;
pub mod remote;
pub mod wallet;
pub mod web;

pub use messages::ToolApi;
pub use remote::RemoteTool;

/// The service tools a session may lack, each with why: a model that calls one anyway is told.
pub(crate) const ABSENT: &[(&[&str], &str)] = &[
    (&messages::NAMES, messages::WHY_ABSENT),
    (&web::NAMES, web::WHY_ABSENT),
    (&wallet::NAMES, wallet::WHY_ABSENT),
    (&knowledge::NAMES, knowledge::WHY_ABSENT),
    (&[remote::NAME], remote::WHY_ABSENT),
];
