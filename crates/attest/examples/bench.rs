//! Verification latency of the real samples: `cargo run --release -p sov-attest --example attest-bench [N]`.
//!
//! Prints p50/p99/max over N runs (default 500) of a full TDX quote verification (dcap-qvl with
//! the pinned root, collateral signatures, CRLs, PCK chain, QE, policy, allowlist) and of a full
//! SEV-SNP verification (ARK -> ASK -> VCEK RSA-PSS chain, P-384 report signature). Test data
//! comes from `$SOV_TEST_TEE_DATA` or `../../../shared/testdata/tee`. Goal: <= 5 ms per TDX quote.

use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime};

use sov_attest::{Policy, QuoteCollateralV3, SnpCerts, parse_rfc3339, verify_intel_quote, verify_snp_report};

fn data_dir() -> PathBuf {
    std::env::var_os("SOV_TEST_TEE_DATA")
        .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testdata/tee"), PathBuf::from)
}

fn measure(
    name: &str,
    n: usize,
    mut f: impl FnMut() -> Result<(), sov_attest::Error>,
) -> Result<(), sov_attest::Error> {
    f()?; // warm-up, and fail loudly if verification does not succeed
    let mut times: Vec<Duration> = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        f()?;
        times.push(t.elapsed());
    }
    times.sort();
    let pct = |p: usize| times[(times.len() * p / 100).min(times.len() - 1)];
    println!(
        "{name:<28} n={n:<5} p50={:>8.3} ms  p99={:>8.3} ms  max={:>8.3} ms",
        pct(50).as_secs_f64() * 1e3,
        pct(99).as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args().nth(1).map(|s| s.parse()).transpose()?.unwrap_or(500).max(1);
    let dir = data_dir();

    let quote = std::fs::read(dir.join("tdx/tdx_quote"))?;
    let collateral: QuoteCollateralV3 =
        serde_json::from_slice(&std::fs::read(dir.join("tdx/tdx_quote_collateral.json"))?)?;
    let at = parse_rfc3339("2025-07-01T00:00:00Z")?;
    let tdx_policy = Policy {
        tdx_mrtd: vec![
            "91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7".into(),
        ],
        tdx_rtmr0: vec![
            "44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0".into(),
        ],
        tdx_rtmr1: vec![
            "0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378".into(),
        ],
        tdx_rtmr2: vec![
            "d833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132".into(),
        ],
        tdx_rtmr3: vec!["0".repeat(96)],
        ..Policy::default()
    };
    measure("TDX v4 quote (dcap-qvl)", n, || verify_intel_quote(&quote, &collateral, at, &tdx_policy, None).map(drop))?;

    let report = hex::decode(String::from_utf8(std::fs::read(dir.join("snp/report_milan.hex"))?)?.trim())?;
    let certs = SnpCerts {
        vcek: std::fs::read(dir.join("snp/vcek_milan.der"))?,
        cert_chain: Some(String::from_utf8(std::fs::read(dir.join("snp/cert_chain_milan"))?)?),
    };
    let snp_policy = Policy {
        snp_measurement: vec![
            "7a1e5c266c0108dbc9bb94fa926951320940915d0aafb42464bd88b579ea158d3e1a0dc39b2c60bd95b9c480cd81841f".into(),
        ],
        ..Policy::default()
    };
    let now = SystemTime::now();
    measure("SEV-SNP Milan report (sev)", n, || verify_snp_report(&report, &certs, now, &snp_policy, None).map(drop))?;
    Ok(())
}
