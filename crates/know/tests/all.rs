//! sov-know's integration tests: one binary, the suites in `suite/`.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

mod suite;
