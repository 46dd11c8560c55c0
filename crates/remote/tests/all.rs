//! sov-remote's integration tests: one binary, modules under `suite/`.
//!
//! Every server these tests talk to is started by the test on loopback (axum upstreams, the
//! gateway with a recording TCP relay in front of it, a SOCKS5 server of the test's own, and
//! Debian's `danted`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs, unreachable_pub)]

mod suite;
