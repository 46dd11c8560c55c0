//! Sovereign's agent: the tools it works with and the context it starts from. It runs inside
//! `sov sbox`, so the sandbox, not a prompt, decides what it can touch; every side effect beyond
//! its working directory goes through the gate.
//!
//! - [`tools`]: read, write, edit, bash, grep, find, and `skill` (a SKILL.md by name);
//! - [`services`]: the messaging tools, through the Tool API under the session's gate token;
//! - [`context`]: AGENTS.md, skills, the system prompt;
//! - [`session`]: the loop (OpenAI tool calls, malformed calls answered with an error, old tool
//!   output elided to fit the context window as the model's tokenizer counts it, Ctrl-C), saved
//!   as JSONL and resumable;
//! - [`client`]: the model over any OpenAI-compatible API, streamed.
//!
//! `sov agent` (in the `sov` crate) starts all this inside the sandbox.

pub mod client;
pub mod context;
pub mod services;
pub mod session;
pub mod tools;

pub use client::HttpModel;
pub use session::{AgentError, Event, Model, Reply, Session};
pub use tools::{ToolError, Tools};
