//! sov-wallet's integration tests against a real anvil: one binary, modules under `suite/`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, unreachable_pub)]

mod suite;
