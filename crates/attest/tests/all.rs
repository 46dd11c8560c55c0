//! Integration tests of sov-attest against real vendor-signed samples.
//!
//! Test data: `$SOV_TEST_TEE_DATA`, else `../../../shared/testdata/tee` from the crate.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod suite;
