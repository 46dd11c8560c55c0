//! Sovereign's agent: the tools it works with and the context it starts from. It runs inside
//! `sov sbox`, so the sandbox, not a prompt, decides what it can touch; every side effect beyond
//! its working directory goes through the gate.
//!
//! - [`tool`]: the [`Tool`] trait every tool implements (name, description, JSON schema, run);
//! - [`tools`]: the toolbox a session offers the model and dispatches calls through;
//! - [`files`] (read, write, edit, grep, find), [`bash`], [`skill`] (a SKILL.md by name);
//! - [`services`]: the messaging, web, wallet and knowledge tools and `remote`, under the
//!   session's gate token;
//! - [`context`]: AGENTS.md, skills, the system prompt;
//! - [`session`]: the loop (OpenAI tool calls, malformed calls answered with an error, old tool
//!   output elided to fit the context window as the model's tokenizer counts it, Ctrl-C), saved
//!   as JSONL and resumable;
//! - [`client`]: the model over any OpenAI-compatible API, streamed.
//!
//! `sov agent` (in the `sov` crate) starts all this inside the sandbox.

pub mod bash;
pub mod client;
pub mod context;
pub mod files;
pub mod services;
pub mod session;
pub mod skill;
pub mod tool;
pub mod tools;

pub use client::HttpModel;
pub use session::{AgentError, Event, Model, Reply, Session};
pub use tool::{Tool, ToolError};
pub use tools::Tools;
