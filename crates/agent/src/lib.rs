//! Sovereign's agent: the tools it works with and the context it starts from. It runs inside
//! `sov sbox`, so the sandbox, not a prompt, decides what it can touch; every side effect beyond
//! its working directory goes through the gate.
//!
//! Landed so far: the file and shell tools ([`tools`]) and the context ([`context`]: AGENTS.md,
//! skills, the system prompt). The loop that drives a model with them comes next.

pub mod context;
pub mod tools;

pub use tools::{ToolError, Tools};
