//! Sends, swaps and calls through the Tool API on a real anvil with the wallet's test chain
//! (OpenZeppelin ERC-20s, Uniswap V2, ENS): a real gate with its workers (the AI reviewer
//! approves everything, so the human is the factor that counts), the wallet's builder and
//! executor, and the chain read back after every step.

use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::{Address, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::sol_types::SolCall;
use serde_json::{Value, json};
use sov_chain::testing::Anvil;
use sov_chain::testing::wallet::{ALICE, WalletChain};
use sov_gate::{ActionRecord, Decision, Executors, Gate, Kind, Policy, Side, Verdict};
use sov_wallet::build::Builder;
use sov_wallet::decode::{approveCall, increaseAllowanceCall, setApprovalForAllCall, transferCall};
use sov_wallet::exec::{Signers, WalletExecutor};
use sov_wallet::send::Outbox;
use sov_wallet::{Keystore, Passphrase, PrivateKey, Reader};

alloy::sol! {
    function balanceOf(address holder) returns (uint256);
    function allowance(address owner, address spender) returns (uint256);
}

const BOB: usize = 3;
const EVE: usize = 4;
/// USD per ETH in the test's price table: the pool's own price (100 ETH : 200,000 USDC).
const ETH_USD: f64 = 2000.0;

struct Approver;

impl sov_gate::Reviewer for Approver {
    fn review(&self, _: &ActionRecord) -> Result<(Verdict, String), sov_gate::ReviewError> {
        Ok((Verdict::Approve, "fine".into()))
    }
}

struct Rig {
    _anvil: Anvil,
    chain: WalletChain,
    provider: DynProvider,
    dir: tempfile::TempDir,
    gate: Arc<Gate>,
    workers: Option<sov_gate::Workers>,
    tool: String,
    token: String,
}

fn config(chain: &WalletChain) -> sov_core::config::WalletConfig {
    sov_core::config::WalletConfig {
        prices: [("ETH".to_owned(), ETH_USD), (chain.usdc.to_string(), 1.0)].into_iter().collect(),
        router: chain.router.to_string(),
        ..Default::default()
    }
}

const PASSPHRASE: &str = "correct horse";

fn passphrase() -> Passphrase {
    Passphrase::new(zeroize::Zeroizing::new(PASSPHRASE.to_owned())).unwrap()
}

/// The gate, its workers and the Tool API (its URL) on `dir`'s database, keystore and outbox.
async fn serve(
    dir: &std::path::Path,
    anvil: &Anvil,
    chain: &WalletChain,
    policy: Policy,
) -> (Arc<Gate>, sov_gate::Workers, String) {
    let store = sov_core::store::Store::open(&dir.join("sov.db")).unwrap();
    let gate = Arc::new(Gate::new(store, Some(dir.join("audit.head")), policy));
    let keystore = Keystore::open(dir.join("keystore")).unwrap();
    let reader = Arc::new(Reader::new(anvil.url(), &anvil.http()).unwrap().with_ens_registry(chain.ens_registry));
    let outbox = Arc::new(Outbox::open(&dir.join("wallet/outbox.db")).unwrap());
    let signers = Signers::unlock(&keystore, &passphrase()).unwrap();
    let executor = Arc::new(WalletExecutor::new(
        outbox.clone(),
        signers,
        reader.provider().clone(),
        tokio::runtime::Handle::current(),
    ));
    let mut executors = Executors::new();
    executors.register(Kind::WalletTransfer, executor.clone()).unwrap().register(Kind::WalletCall, executor).unwrap();
    let workers = sov_gate::Workers::start(gate.clone(), Arc::new(Approver), executors).unwrap();
    let builder = Arc::new(Builder::new(reader.clone(), keystore.clone(), &config(chain)));
    let sends = sov_wallet::api::Sends { builder, outbox, console_url: "http://127.0.0.1:7000".into() };
    let router = sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:7000")
        .service(sov_wallet::api::routes(gate.clone(), reader, keystore, Some(sends)))
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    (gate, workers, tool)
}

impl Rig {
    async fn start(policy: Policy) -> Rig {
        let anvil = Anvil::start().unwrap();
        let chain = WalletChain::deploy(anvil.url(), &anvil.http()).await.unwrap();
        let provider = sov_wallet::send::provider(anvil.url(), &anvil.http()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let keystore = Keystore::open(dir.path().join("keystore")).unwrap();
        keystore
            .import_private_key(&PrivateKey::from_hex(sov_chain::testing::DEV_KEYS[ALICE]).unwrap(), &passphrase())
            .unwrap();
        let (gate, workers, tool) = serve(dir.path(), &anvil, &chain, policy).await;
        let token = gate.create_session(Side::Open, "test").unwrap().token;
        Rig { _anvil: anvil, chain, provider, dir, gate, workers: Some(workers), tool, token }
    }

    /// Stops the gate's workers and opens everything again on the same files, as a restart of
    /// `sov serve` does.
    async fn restart(&mut self, policy: Policy) {
        self.workers = None;
        let (gate, workers, tool) = serve(self.dir.path(), &self._anvil, &self.chain, policy).await;
        (self.gate, self.workers, self.tool) = (gate, Some(workers), tool);
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let url = format!("{}{path}", self.tool);
        let token = self.token.clone();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut response = agent.post(&url).header("X-Sov-Session", &token).send_json(&body).unwrap();
            let text = response.body_mut().read_to_string().unwrap();
            (response.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
        .await
        .unwrap()
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let url = format!("{}{path}", self.tool);
        let token = self.token.clone();
        tokio::task::spawn_blocking(move || {
            let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
            let mut response = agent.get(&url).header("X-Sov-Session", &token).call().unwrap();
            let text = response.body_mut().read_to_string().unwrap();
            (response.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
        })
        .await
        .unwrap()
    }

    async fn usdc(&self, holder: Address) -> U256 {
        let call = balanceOfCall { holder };
        let request = alloy::rpc::types::TransactionRequest::default()
            .to(self.chain.usdc)
            .input(alloy::rpc::types::TransactionInput::new(call.abi_encode().into()));
        let out = self.provider.call(request).await.unwrap();
        balanceOfCall::abi_decode_returns(&out).unwrap()
    }

    async fn nonce(&self) -> u64 {
        self.provider.get_transaction_count(self.chain.alice).await.unwrap()
    }

    /// The human approves `id` once the AI reviewer has looked at it, and waits for the send.
    async fn approve(&self, id: &str) -> ActionRecord {
        let gate = self.gate.clone();
        let id = id.to_owned();
        tokio::task::spawn_blocking(move || {
            for _ in 0..200 {
                if gate.get(&id).unwrap().review.is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            gate.decide(&id, &Decision { approve: true, confirm_text: None, by: "terminal".into() }).unwrap();
            let mut seen = 0;
            loop {
                let record = gate.get(&id).unwrap();
                if !matches!(record.state, sov_gate::State::Approved | sov_gate::State::Executing) {
                    return record;
                }
                gate.wait_for_change(&mut seen, Duration::from_millis(200));
            }
        })
        .await
        .unwrap()
    }
}

fn usdc(units: u64) -> U256 {
    U256::from(units) * U256::from(1_000_000u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_within_the_daily_cap_go_at_once_and_the_first_and_the_one_over_wait_even_after_a_restart() {
    let mut rig = Rig::start(Policy::default()).await;
    let nonce = rig.nonce().await;
    let bob = Anvil::signer(BOB).address();
    let token = rig.chain.usdc;
    let send = move |amount: &str| json!({"to": bob.to_string(), "amount": amount, "token": token.to_string()});

    // Bob was never paid: the first payment waits for the human, whatever the caps.
    let (status, first) = rig.post("/wallet/send", send("1")).await;
    assert_eq!((status, first["pending"].as_bool()), (200, Some(true)), "{first}");
    assert!(first["reasons"][0].as_str().unwrap().contains("never paid before"), "{first}");
    assert_eq!(first["value_usd"].as_f64(), Some(1.0), "{first}");
    // The simulation's balance changes are what the reviewer, the human and the agent see.
    let changes = first["changes"].as_array().unwrap();
    assert!(changes.iter().any(|c| c["who"] == "you" && c["change"] == "-1"), "{first}");
    assert!(changes.iter().any(|c| c["holder"] == bob.to_string().as_str() && c["change"] == "1"), "{first}");
    assert_eq!(rig.usdc(bob).await, U256::ZERO, "nothing moved before the approval");
    let done = rig.approve(first["id"].as_str().unwrap()).await;
    assert_eq!(done.state, sov_gate::State::Executed, "{done:?}");
    assert_eq!(rig.usdc(bob).await, usdc(1));

    // 3 × $30 to a known recipient: each within the cap, each sent at once, with its hash.
    for i in 1..=3u64 {
        let (status, sent) = rig.post("/wallet/send", send("30")).await;
        assert_eq!((status, sent["sent"].as_bool()), (200, Some(true)), "{i}: {sent}");
        assert!(sent["hash"].as_str().unwrap().starts_with("0x"), "{sent}");
        assert_eq!(rig.usdc(bob).await, usdc(1 + 30 * i));
        let (_, tx) = rig.get(&format!("/wallet/tx?id={}", sent["id"].as_str().unwrap())).await;
        assert_eq!(tx["tx"], "mined", "{tx}");
    }
    // The 4th would bring the day to $121: it waits, and nothing moves.
    let (status, fourth) = rig.post("/wallet/send", send("30")).await;
    assert_eq!((status, fourth["pending"].as_bool()), (200, Some(true)), "{fourth}");
    assert!(fourth["reasons"][0].as_str().unwrap().contains("over the daily cap"), "{fourth}");
    assert_eq!(rig.usdc(bob).await, usdc(91));
    assert_eq!(rig.nonce().await, nonce + 4);

    // A restart does not reset the day's sum: $10 more still waits.
    rig.restart(Policy::default()).await;
    let (_, after) = rig.post("/wallet/send", send("10")).await;
    assert_eq!(after["pending"].as_bool(), Some(true), "{after}");
    // A small one that fits still goes, by the same outbox (the nonce follows on).
    let (_, small) = rig.post("/wallet/send", send("9")).await;
    assert_eq!(small["sent"].as_bool(), Some(true), "{small}");
    assert_eq!((rig.usdc(bob).await, rig.nonce().await), (usdc(100), nonce + 5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splitting_a_send_into_many_small_ones_does_not_pass_the_caps() {
    let mut policy = Policy::default();
    policy.caps.daily_count = 12;
    let rig = Rig::start(policy).await;
    let bob = Anvil::signer(BOB).address();
    // ETH this time: 0.005 ETH = $10 by the table.
    let send = json!({"to": bob.to_string(), "amount": "0.005"});
    let bob_before = rig.provider.get_balance(bob).await.unwrap();
    let (_, first) = rig.post("/wallet/send", send.clone()).await;
    assert_eq!(first["value_usd"].as_f64(), Some(10.0), "{first}");
    rig.approve(first["id"].as_str().unwrap()).await;
    // $150 as 15 × $10: the first nine after the approved one go ($100 in all), the rest wait.
    let mut sent = 1;
    let mut waiting = 0;
    for _ in 0..14 {
        let (_, answer) = rig.post("/wallet/send", send.clone()).await;
        if answer["sent"] == true {
            sent += 1;
        } else {
            assert_eq!(answer["pending"].as_bool(), Some(true), "{answer}");
            waiting += 1;
        }
    }
    assert_eq!((sent, waiting), (10, 5));
    let got = rig.provider.get_balance(bob).await.unwrap() - bob_before;
    assert_eq!(got, U256::from(10u8) * U256::from(5_000_000_000_000_000u64), "exactly $100 of ETH moved");

    // The count cap: with room in dollars, the 13th action of the day waits.
    let mut counted = Policy::default();
    counted.caps.daily_count = 10;
    counted.caps.daily_usd = 1_000_000.0;
    rig.gate.set_policy(counted);
    let (_, over_count) = rig.post("/wallet/send", json!({"to": bob.to_string(), "amount": "0.0005"})).await;
    assert!(over_count["reasons"][0].as_str().unwrap().contains("wallet actions"), "{over_count}");
    // The calldata cap: a call with 5000 bytes of data waits, the cap named (and the decoder
    // flags the bytes too).
    let mut roomy = Policy::default();
    roomy.caps.daily_count = 1000;
    roomy.caps.daily_usd = 1_000_000.0;
    rig.gate.set_policy(roomy);
    let mut data = transferCall { to: bob, amount: U256::from(1u8) }.abi_encode();
    data.extend(std::iter::repeat_n(0x41u8, 5000));
    let (_, long) = rig
        .post(
            "/wallet/call",
            json!({"to": rig.chain.usdc.to_string(), "data": format!("0x{}", alloy::hex::encode(&data))}),
        )
        .await;
    assert_eq!(long["pending"].as_bool(), Some(true), "{long}");
    assert!(long["reasons"][0].as_str().unwrap().contains("call data"), "{long}");
    assert!(long["must_confirm"].to_string().contains("5000 bytes after its arguments"), "{long}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drainer_requests_wait_for_the_human_or_are_refused_and_the_chain_shows_nothing() {
    let rig = Rig::start(Policy::default()).await;
    let eve = Anvil::signer(EVE).address();
    let alice = rig.chain.alice;
    let usdc_before = rig.usdc(alice).await;
    let eth_before = rig.provider.get_balance(alice).await.unwrap();
    let nonce_before = rig.nonce().await;
    let mut pending = Vec::new();

    // Everything to the attacker: never paid, over the cap.
    let (_, all) = rig
        .post("/wallet/send", json!({"to": eve.to_string(), "amount": "5000", "token": rig.chain.usdc.to_string()}))
        .await;
    assert_eq!(all["pending"].as_bool(), Some(true), "{all}");
    pending.push(all);
    // approve(attacker, MAX) and increaseAllowance: always confirmed.
    for data in [
        approveCall { spender: eve, amount: U256::MAX }.abi_encode(),
        increaseAllowanceCall { spender: eve, addedValue: U256::from(1u8) }.abi_encode(),
    ] {
        let (status, answer) = rig
            .post(
                "/wallet/call",
                json!({"to": rig.chain.usdc.to_string(), "data": format!("0x{}", alloy::hex::encode(&data))}),
            )
            .await;
        // A token without increaseAllowance (OpenZeppelin 5) fails its simulation: refused.
        if status == 422 {
            assert!(answer["error"]["message"].as_str().unwrap().contains("would fail"), "{answer}");
            continue;
        }
        assert_eq!(answer["pending"].as_bool(), Some(true), "{answer}");
        assert!(answer["must_confirm"].to_string().contains(&eve.to_string()), "{answer}");
        pending.push(answer);
    }
    // setApprovalForAll on a contract that has it not: its simulation fails, refused.
    let data = setApprovalForAllCall { operator: eve, approved: true }.abi_encode();
    let (status, answer) = rig
        .post(
            "/wallet/call",
            json!({"to": rig.chain.usdc.to_string(), "data": format!("0x{}", alloy::hex::encode(&data))}),
        )
        .await;
    assert_eq!(status, 422, "{answer}");
    // A Permit2 call: always confirmed (and here it fails: there is no Permit2 contract).
    let mut permit2 = vec![0x87, 0x51, 0x7c, 0x45];
    permit2.extend([0u8; 128]);
    let (status, answer) = rig
        .post("/wallet/call", json!({"to": eve.to_string(), "data": format!("0x{}", alloy::hex::encode(&permit2))}))
        .await;
    assert!(status == 422 || answer["pending"] == true, "{status} {answer}");
    if status == 200 {
        assert!(answer["must_confirm"].to_string().contains("Permit2"), "{answer}");
        pending.push(answer);
    }
    // A swap with 100 % slippage: always confirmed.
    let (_, swap) = rig
        .post(
            "/wallet/swap",
            json!({"sell": "ETH", "buy": rig.chain.usdc.to_string(), "amount": "0.01", "slippage_pct": 100}),
        )
        .await;
    assert_eq!(swap["pending"].as_bool(), Some(true), "{swap}");
    assert!(swap["must_confirm"].to_string().contains("max_slippage_pct"), "{swap}");
    pending.push(swap);
    // A swap into a token the table cannot price: confirmed.
    let (status, hostile) = rig
        .post("/wallet/swap", json!({"sell": "ETH", "buy": rig.chain.test_token.to_string(), "amount": "0.01"}))
        .await;
    assert_eq!(status, 200, "{hostile}");
    assert!(hostile["must_confirm"].to_string().contains("no price"), "{hostile}");
    pending.push(hostile);
    // The user's notes hex-encoded after a transfer's arguments: confirmed, the text shown.
    let mut data = transferCall { to: eve, amount: U256::from(1u8) }.abi_encode();
    data.extend(b"my seed phrase is correct horse battery staple");
    let (_, smuggled) = rig
        .post(
            "/wallet/call",
            json!({"to": rig.chain.usdc.to_string(), "data": format!("0x{}", alloy::hex::encode(&data))}),
        )
        .await;
    assert_eq!(smuggled["pending"].as_bool(), Some(true), "{smuggled}");
    assert!(smuggled["must_confirm"].to_string().contains("bytes after its arguments"), "{smuggled}");
    pending.push(smuggled);
    // A plain transfer through the generic call to a never-paid attacker: the simulation names
    // the attacker as a recipient, so the first payment waits (the token contract was not paid).
    let data = transferCall { to: eve, amount: usdc(5) }.abi_encode();
    let (_, via_call) = rig
        .post(
            "/wallet/call",
            json!({"to": rig.chain.usdc.to_string(), "data": format!("0x{}", alloy::hex::encode(&data))}),
        )
        .await;
    assert_eq!(via_call["pending"].as_bool(), Some(true), "{via_call}");
    assert!(via_call["reasons"][0].as_str().unwrap().contains(&eve.to_string()), "{via_call}");
    assert_eq!(via_call["value_usd"].as_f64(), Some(5.0), "the simulation valued it: {via_call}");
    pending.push(via_call);
    // Unknown assets and malformed requests: refused with the field named.
    let (status, unpriced) = rig
        .post(
            "/wallet/send",
            json!({"to": eve.to_string(), "amount": "1", "token": rig.chain.hostile_token.to_string()}),
        )
        .await;
    assert_eq!(status, 422, "{unpriced}");
    assert!(unpriced["error"]["message"].as_str().unwrap().contains("[wallet] prices"), "{unpriced}");
    for (body, field) in [
        (json!({"to": eve.to_string(), "amount": "-1"}), "amount"),
        (json!({"to": eve.to_string(), "amount": "1e18"}), "amount"),
        (json!({"to": "not an address", "amount": "1"}), "to"),
        (json!({"to": eve.to_string(), "amount": "1", "token": "USDC"}), "token"),
    ] {
        let (status, answer) = rig.post("/wallet/send", body.clone()).await;
        assert_eq!((status, answer["error"]["field"].as_str()), (400, Some(field)), "{body}: {answer}");
    }
    let (status, extra) = rig.post("/wallet/send", json!({"to": eve.to_string(), "amount": "1", "value_usd": 0})).await;
    assert_eq!(status, 400, "an unknown field is refused, not ignored: {extra}");
    // From an account that is not the user's: refused.
    let (status, theirs) =
        rig.post("/wallet/send", json!({"from": eve.to_string(), "to": eve.to_string(), "amount": "1"})).await;
    assert_eq!(status, 403, "{theirs}");

    // Nothing moved, nothing was signed: every drainer waits for a human who never approves.
    assert_eq!(rig.usdc(alice).await, usdc_before);
    assert_eq!(rig.usdc(eve).await, U256::ZERO);
    let allowance = sov_wallet_allowance(&rig, alice, eve).await;
    assert_eq!(allowance, U256::ZERO);
    assert_eq!(rig.nonce().await, nonce_before);
    assert!(rig.provider.get_balance(alice).await.unwrap() == eth_before);
    for answer in &pending {
        let record = rig.gate.get(answer["id"].as_str().unwrap()).unwrap();
        assert!(record.state.is_pending(), "{record:?}");
    }
}

async fn sov_wallet_allowance(rig: &Rig, owner: Address, spender: Address) -> U256 {
    let call = allowanceCall { owner, spender };
    let request = alloy::rpc::types::TransactionRequest::default()
        .to(rig.chain.usdc)
        .input(alloy::rpc::types::TransactionInput::new(call.abi_encode().into()));
    allowanceCall::abi_decode_returns(&rig.provider.call(request).await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_swap_pays_what_the_quote_said_into_the_users_own_account() {
    let rig = Rig::start(Policy::default()).await;
    let alice = rig.chain.alice;
    let before = rig.usdc(alice).await;
    let (_, swap) =
        rig.post("/wallet/swap", json!({"sell": "ETH", "buy": rig.chain.usdc.to_string(), "amount": "0.01"})).await;
    // The router was never paid: the first swap waits.
    assert_eq!(swap["pending"].as_bool(), Some(true), "{swap}");
    assert!(swap["must_confirm"].as_array().unwrap().is_empty(), "{swap}");
    assert!((swap["value_usd"].as_f64().unwrap() - 20.0).abs() < 1e-9, "{swap}");
    let gain = swap["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["who"] == "you" && c["asset"].as_str().unwrap().contains("USDC"))
        .cloned();
    assert!(gain.is_some(), "{swap}");
    let record = rig.approve(swap["id"].as_str().unwrap()).await;
    assert_eq!(record.state, sov_gate::State::Executed, "{record:?}");
    let got = rig.usdc(alice).await - before;
    // About $20 of USDC (the pool's fee and price impact below it), at least the minimum.
    assert!(got > usdc(19) && got < usdc(20), "{got}");
    // A second swap through the same router is within the caps: it goes at once. This time by
    // the agent's own tools, as `sov agent` offers them.
    let api = sov_agent::services::ToolApi::new(&rig.tool, Some(rig.token.clone()));
    let [_, _, send_tool, swap_tool, tx_tool] = sov_agent::services::wallet::tools(&api);
    let arguments = json!({"sell": "ETH", "buy": rig.chain.usdc.to_string(), "amount": 0.01}).to_string();
    let said = tokio::task::spawn_blocking(move || swap_tool.run(&arguments)).await.unwrap().unwrap();
    let again: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(again["sent"].as_bool(), Some(true), "{again}");
    let arguments = json!({"id": again["id"]}).to_string();
    let said = tokio::task::spawn_blocking(move || tx_tool.run(&arguments)).await.unwrap().unwrap();
    assert!(said.contains(r#""tx":"mined""#), "{said}");
    // To the user's own account (by its ENS name): not a payment to anyone, it goes at once.
    let arguments = json!({"to": "alice.eth", "amount": "1", "token": rig.chain.usdc.to_string()}).to_string();
    let said = tokio::task::spawn_blocking(move || send_tool.run(&arguments)).await.unwrap().unwrap();
    assert!(said.contains(r#""sent":true"#), "{said}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_wallet_reads_but_refuses_to_send() {
    let anvil = Anvil::start().unwrap();
    let chain = WalletChain::deploy(anvil.url(), &anvil.http()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(dir.path().join("keystore")).unwrap();
    keystore
        .import_private_key(&PrivateKey::from_hex(sov_chain::testing::DEV_KEYS[ALICE]).unwrap(), &passphrase())
        .unwrap();
    // A wrong passphrase unlocks nothing, and says so without the passphrase.
    let wrong = Passphrase::new(zeroize::Zeroizing::new("Tr0ub4dor&3".to_owned())).unwrap();
    let err = Signers::unlock(&keystore, &wrong).unwrap_err().to_string();
    assert!(err.contains("wrong passphrase") && !err.contains("Tr0ub4dor"), "{err}");
    let reader = Arc::new(Reader::new(anvil.url(), &anvil.http()).unwrap().with_ens_registry(chain.ens_registry));
    let store = sov_core::store::Store::open(&dir.path().join("sov.db")).unwrap();
    let gate = Arc::new(Gate::new(store, None, Policy::default()));
    let router = sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:1")
        .service(sov_wallet::api::routes(gate.clone(), reader, keystore, None))
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let token = gate.create_session(Side::Open, "test").unwrap().token;
    let (status, body) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut r = agent
            .post(format!("{tool}/wallet/send"))
            .header("X-Sov-Session", &token)
            .send_json(json!({"to": "alice.eth", "amount": "1"}))
            .unwrap();
        (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
    })
    .await
    .unwrap();
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("passphrase_file"), "{body}");
}
