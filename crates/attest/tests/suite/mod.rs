//! Harness: test data paths, sample loading, times, and policies that allowlist the samples.

mod bundle;
mod cache;
mod file;
mod intel;
mod snp;
mod tsm;

use std::path::PathBuf;
use std::time::SystemTime;

use sov_attest::{Policy, QuoteCollateralV3, parse_rfc3339};

/// The test data directory.
pub(crate) fn data_dir() -> PathBuf {
    std::env::var_os("SOV_TEST_TEE_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/tee"), PathBuf::from)
}

pub(crate) fn data(rel: &str) -> PathBuf {
    data_dir().join(rel)
}

pub(crate) fn read(rel: &str) -> Vec<u8> {
    std::fs::read(data(rel)).unwrap_or_else(|e| panic!("test data {rel}: {e}"))
}

pub(crate) fn collateral(quote: &str) -> QuoteCollateralV3 {
    serde_json::from_slice(&read(&format!("tdx/{quote}_collateral.json"))).unwrap()
}

pub(crate) fn at(s: &str) -> SystemTime {
    parse_rfc3339(s).unwrap()
}

/// A time inside the `tdx_quote` collateral window (README: 2025-06-19T10:32:27Z → 2025-07-19T10:00:35Z).
pub(crate) fn tdx_v4_time() -> SystemTime {
    at("2025-07-01T00:00:00Z")
}

/// Inside the `tdx_quote_td15ex` window (2026-10-08T00:28:26Z → 2026-11-06T23:45:11Z).
pub(crate) fn tdx_v5_time() -> SystemTime {
    at("2026-10-20T00:00:00Z")
}

/// Inside the `sgx_quote` window (2025-06-19T10:56:11Z → 2025-07-19T10:01:18Z).
pub(crate) fn sgx_time() -> SystemTime {
    at("2025-07-01T00:00:00Z")
}

pub(crate) const TDX_V4_MRTD: &str =
    "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7";
pub(crate) const TDX_V4_RTMR: [&str; 4] = [
    "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0",
    "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378",
    "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132",
    "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000",
];
pub(crate) const TDX_V4_REPORT_DATA: &str = "9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20";
pub(crate) const TDX_V5_MRTD: &str =
    "2a674327c50218dba880066b349b8d559d749ed68dce33fd651c184a877d084b07a9e583767a7ad5da13ed91deec2b70";
pub(crate) const TDX_V5_RTMR: [&str; 4] = [
    "0345d2a146eec673fb3861a4d88c5093ef0934b142884294377628cf09fb21bfa979acec61e79f925f5fccaad0827165",
    "3484cd07ba093cede0938303617d6da58f3c6a895ddd5461b3bdd0b29f40e869d4c92642867b44bd3619451bd78ff2d0",
    "83b7a9a35ed613c17a8b9d36a49f28b095f54daa78b328c93eef10ae3e21094c1411467e3371157c4cde5e0beb72dcb8",
    "556d4986cae57e7e3756b6471e4951be6f5f1b4e70942c72325223d6af239da90f1484eeb627727e6d2c0755393b5fdf",
];
pub(crate) const SGX_MRENCLAVE: &str = "33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb";
pub(crate) const SGX_MRSIGNER: &str = "815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6";
pub(crate) const SNP_MEASUREMENT: &str =
    "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f";

fn s(v: &str) -> Vec<String> {
    vec![v.to_owned()]
}

/// The strict default policy, with every sample's measurements allowlisted.
pub(crate) fn allowlisting_samples() -> Policy {
    Policy {
        tdx_mrtd: vec![TDX_V4_MRTD.into(), TDX_V5_MRTD.into()],
        tdx_rtmr0: vec![TDX_V4_RTMR[0].into(), TDX_V5_RTMR[0].into()],
        tdx_rtmr1: vec![TDX_V4_RTMR[1].into(), TDX_V5_RTMR[1].into()],
        tdx_rtmr2: vec![TDX_V4_RTMR[2].into(), TDX_V5_RTMR[2].into()],
        tdx_rtmr3: vec![TDX_V4_RTMR[3].into(), TDX_V5_RTMR[3].into()],
        sgx_mrenclave: s(SGX_MRENCLAVE),
        snp_measurement: s(SNP_MEASUREMENT),
        ..Policy::default()
    }
}
