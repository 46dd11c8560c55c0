//! Sovereign's agent: the tools it works with and the context it starts from. It runs inside
//! `sov sbox`, so the sandbox, not a prompt, decides what it can touch; every side effect beyond
//! its working directory goes through the gate.
//!
//! Landed so far: the file and shell tools ([`tools`]), the context ([`context`]: AGENTS.md,
//! skills, the system prompt) and the session loop ([`session`]: tool calls in the OpenAI
//! format, malformed calls answered with an error, saved as JSONL and resumable). Next: the
//! model client, `sov agent` inside the sandbox, the messaging and remote tools.

pub mod context;
pub mod session;
pub mod tools;

pub use session::{Event, Model, Session};
pub use tools::{ToolError, Tools};
