//! The integration tests of `sov-sanitize` (one binary; see `suite/`).

// Tests may unwrap: a failure is the report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
