//! `bench/wallet.sh`'s measurement: on a fresh anvil with the wallet's test chain, the time from
//! an agent's `POST /wallet/send` (what `wallet_send` does) to its answer with the hash of an
//! auto-allowed, broadcast transfer (build: resolve, price, encode, decode, simulate; the gate's
//! decision; the executor: sign, store, broadcast), its parts timed alone (the build, the
//! simulation), and a bare alloy `send_transaction` of the same transfer as the reference.
//!
//! Usage: `wallet-bench [SENDS]` (default 50). Prints `name value` lines.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy::network::TransactionBuilder;
use alloy::primitives::U256;
use alloy::providers::Provider;
use alloy::sol_types::SolCall;
use serde_json::{Value, json};
use sov_chain::testing::Anvil;
use sov_chain::testing::wallet::{ALICE, WalletChain};
use sov_gate::{ActionRecord, Decision, Executors, Gate, Kind, Policy, Side, Verdict};
use sov_wallet::build::Builder;
use sov_wallet::exec::{Signers, WalletExecutor};
use sov_wallet::price::Asset;
use sov_wallet::send::Outbox;
use sov_wallet::{Keystore, Passphrase, PrivateKey, Reader};

struct Approver;

impl sov_gate::Reviewer for Approver {
    fn review(&self, _: &ActionRecord) -> Result<(Verdict, String), sov_gate::ReviewError> {
        Ok((Verdict::Approve, "fine".into()))
    }
}

fn median(mut v: Vec<Duration>) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1000.0
}

fn post(url: &str, token: &str, body: &Value) -> Value {
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
    let mut response = agent.post(url).header("X-Sov-Session", token).send_json(body).unwrap();
    serde_json::from_str(&response.body_mut().read_to_string().unwrap()).unwrap()
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let sends: usize = std::env::args().nth(1).and_then(|n| n.parse().ok()).unwrap_or(50);
    let anvil = Anvil::start().unwrap();
    let chain = WalletChain::deploy(anvil.url(), &anvil.http()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(dir.path().join("keystore")).unwrap();
    let passphrase = Passphrase::new(zeroize::Zeroizing::new("bench".to_owned())).unwrap();
    keystore
        .import_private_key(&PrivateKey::from_hex(sov_chain::testing::DEV_KEYS[ALICE]).unwrap(), &passphrase)
        .unwrap();
    let mut policy = Policy::default();
    policy.caps.daily_usd = 1e12;
    policy.caps.daily_count = u32::MAX;
    let store = sov_core::store::Store::open(&dir.path().join("sov.db")).unwrap();
    let gate = Arc::new(Gate::new(store, Some(dir.path().join("audit.head")), policy));
    let reader = Arc::new(Reader::new(anvil.url(), &anvil.http()).unwrap().with_ens_registry(chain.ens_registry));
    let outbox = Arc::new(Outbox::open(&dir.path().join("outbox.db")).unwrap());
    let signers = Signers::unlock(&keystore, &passphrase).unwrap();
    let executor = Arc::new(WalletExecutor::new(
        outbox.clone(),
        signers,
        reader.provider().clone(),
        tokio::runtime::Handle::current(),
    ));
    let mut executors = Executors::new();
    executors.register(Kind::WalletTransfer, executor.clone()).unwrap().register(Kind::WalletCall, executor).unwrap();
    let _workers = sov_gate::Workers::start(gate.clone(), Arc::new(Approver), executors).unwrap();
    let config = sov_core::config::WalletConfig {
        prices: [("ETH".to_owned(), 2000.0), (chain.usdc.to_string(), 1.0)].into_iter().collect(),
        ..Default::default()
    };
    let builder = Arc::new(Builder::new(reader.clone(), keystore.clone(), &config));
    let sends_api =
        sov_wallet::api::Sends { builder: builder.clone(), outbox, console_url: "http://127.0.0.1:7000".into() };
    let router = sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:7000")
        .service(sov_wallet::api::routes(gate.clone(), reader.clone(), keystore, Some(sends_api)))
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/wallet/send", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let token = gate.create_session(Side::Open, "bench").unwrap().token;
    let bob = Anvil::signer(3).address();
    let body = json!({"to": bob.to_string(), "amount": "1", "token": chain.usdc.to_string()});

    // Bob paid once by the human; from then on every send is allowed at once.
    let (u, t, b) = (url.clone(), token.clone(), body.clone());
    let first = tokio::task::spawn_blocking(move || post(&u, &t, &b)).await.unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    let g = gate.clone();
    tokio::task::spawn_blocking(move || {
        while g.get(&id).unwrap().review.is_none() {
            std::thread::sleep(Duration::from_millis(10));
        }
        g.decide(&id, &Decision { approve: true, confirm_text: None, by: "terminal".into() }).unwrap();
    })
    .await
    .unwrap();

    let mut total = Vec::new();
    for _ in 0..sends {
        let (u, t, b) = (url.clone(), token.clone(), body.clone());
        let start = Instant::now();
        let answer = tokio::task::spawn_blocking(move || post(&u, &t, &b)).await.unwrap();
        total.push(start.elapsed());
        assert_eq!(answer["sent"], true, "{answer}");
    }
    let mut build = Vec::new();
    for _ in 0..sends {
        let start = Instant::now();
        builder.send(None, &bob.to_string(), Asset::Token(chain.usdc), "1").await.unwrap();
        build.push(start.elapsed());
    }
    let transfer = sov_wallet::decode::transferCall { to: bob, amount: U256::from(1_000_000u64) }.abi_encode();
    let outgoing = sov_wallet::send::Outgoing { to: chain.usdc, value: U256::ZERO, data: transfer.clone().into() };
    let mut simulate = Vec::new();
    for _ in 0..sends {
        let start = Instant::now();
        sov_wallet::simulate::simulate(reader.provider(), chain.alice, &outgoing).await.unwrap();
        simulate.push(start.elapsed());
    }
    // The reference: alloy's own wallet filling nonce, gas and fees and broadcasting the same
    // transfer, nothing decoded, priced, simulated, gated or stored.
    let bare = sov_chain::testing::wallet::connect(anvil.url(), Anvil::signer(ALICE), &anvil.http()).unwrap();
    let mut reference = Vec::new();
    for _ in 0..sends {
        let request = alloy::rpc::types::TransactionRequest::default().with_to(chain.usdc).with_input(transfer.clone());
        let start = Instant::now();
        let _pending = bare.send_transaction(request).await.unwrap();
        reference.push(start.elapsed());
    }
    let (total, build, simulate, reference) = (median(total), median(build), median(simulate), median(reference));
    println!("sends {sends}");
    println!("send_to_broadcast_ms {total:.2}");
    println!("build_ms {build:.2}");
    println!("simulation_ms {simulate:.2}");
    println!("simulation_share_pct {:.1}", 100.0 * simulate / total);
    println!("bare_alloy_send_ms {reference:.2}");
    println!("sovereign_over_bare {:.2}", total / reference);
}
