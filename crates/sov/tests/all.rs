//! The `sov` binary's integration tests: one binary, modules under `suite/`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod suite;
