//! The wallet's Tool API reads on a real anvil with the wallet's test chain: a real gate and its
//! Tool API on loopback, a keystore holding Alice's key, and curl-free HTTP from the test.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::sync::Arc;

use serde_json::Value;
use sov_chain::testing::Anvil;
use sov_chain::testing::wallet::{ALICE, ALICE_NAME, SPOOFER, WalletChain};
use sov_gate::{ActionRequest, Gate, Kind, Label, Policy, Side, State};
use sov_wallet::{Keystore, Passphrase, PrivateKey, Reader};

async fn get(tool: &str, path: &str, session: &str) -> (u16, Value) {
    let url = format!("{tool}{path}");
    let session = session.to_owned();
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let mut response = agent.get(&url).header("X-Sov-Session", &session).call().unwrap();
        let text = response.body_mut().read_to_string().unwrap();
        (response.status().as_u16(), serde_json::from_str(&text).unwrap_or(Value::String(text)))
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_reads_the_users_balances_and_names_and_its_session_is_tainted() {
    let anvil = Anvil::start().unwrap();
    let chain = WalletChain::deploy(anvil.url(), &anvil.http()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let keystore = Keystore::open(dir.path().join("keystore")).unwrap();
    let key = PrivateKey::from_hex(sov_chain::testing::DEV_KEYS[ALICE]).unwrap();
    let passphrase = Passphrase::new(zeroize::Zeroizing::new("correct horse".to_owned())).unwrap();
    keystore.import_private_key(&key, &passphrase).unwrap();
    let reader = Arc::new(Reader::new(anvil.url(), &anvil.http()).unwrap().with_ens_registry(chain.ens_registry));
    let store = sov_core::store::Store::open(&dir.path().join("sov.db")).unwrap();
    let gate = Arc::new(Gate::new(store, Some(dir.path().join("audit.head")), Policy::default()));
    let router = sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:1")
        .service(sov_wallet::api::routes(gate.clone(), reader, keystore, None))
        .router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tool = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    let session = gate.create_session(Side::Open, "test").unwrap();
    let token = session.token.clone();

    // The default account's ETH, then its USDC, both proven against the state root.
    let (status, eth) = get(&tool, "/wallet/balance", &token).await;
    assert_eq!(status, 200, "{eth}");
    assert_eq!((eth["account"].as_str(), eth["asset"].as_str()), (Some(chain.alice.to_string().as_str()), Some("ETH")));
    assert_eq!(eth["verified"], true, "{eth}");
    let (status, usdc) = get(&tool, &format!("/wallet/balance?token={}", chain.usdc), &token).await;
    assert_eq!(
        (status, usdc["balance"].as_str(), usdc["verified"].as_bool()),
        (200, Some("5000"), Some(true)),
        "{usdc}"
    );
    assert!(usdc["symbol"].as_str().unwrap().contains("USDC"), "{usdc}");
    // By the user's own ENS name too.
    let (status, by_name) = get(&tool, &format!("/wallet/balance?account={ALICE_NAME}"), &token).await;
    assert_eq!((status, &by_name["account"]), (200, &eth["account"]), "{by_name}");
    // Names both ways; the spoofer's reverse record is not believed.
    let (_, forward) = get(&tool, &format!("/wallet/ens?name={ALICE_NAME}"), &token).await;
    assert_eq!(forward["address"], eth["account"], "{forward}");
    let spoofer = Anvil::signer(SPOOFER).address();
    let (status, reverse) = get(&tool, &format!("/wallet/ens?address={spoofer}"), &token).await;
    assert_eq!((status, &reverse["name"]), (200, &Value::Null), "{reverse}");

    // The agent's tools, offered because this Tool API serves the wallet.
    let api = sov_agent::services::ToolApi::new(&tool, Some(token.clone()));
    let probe = api.clone();
    assert!(tokio::task::spawn_blocking(move || sov_agent::services::wallet::served(&probe)).await.unwrap());
    let [balance_tool, ens_tool, ..] = sov_agent::services::wallet::tools(&api);
    let arguments = format!(r#"{{"token": "{}"}}"#, chain.usdc);
    let said = tokio::task::spawn_blocking(move || balance_tool.run(&arguments)).await.unwrap().unwrap();
    assert!(said.contains(r#""balance":"5000""#), "{said}");
    let said = tokio::task::spawn_blocking(move || ens_tool.run(r#"{"name": "alice.eth"}"#)).await.unwrap().unwrap();
    assert!(said.contains(&chain.alice.to_string()), "{said}");
    // A Tool API without the wallet is not offered them.
    let bare = sov_toolapi::ToolApi::new(gate.clone(), "http://127.0.0.1:1").router();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let bare_url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, bare).await.unwrap() });
    let without = sov_agent::services::ToolApi::new(&bare_url, None);
    assert!(!tokio::task::spawn_blocking(move || sov_agent::services::wallet::served(&without)).await.unwrap());

    // The session has read wallet data now: reaching the internet needs the human.
    let tainted = gate.session(Some(&token)).unwrap();
    assert!(tainted.labels.contains(&Label::Wallet), "{tainted:?}");
    let mut search = ActionRequest::new(Kind::WebSearch);
    search.params.insert("query".into(), "my balance".into());
    assert_eq!(gate.submit(&tainted, search).unwrap().state, State::Reviewing);

    // Attacks: someone else's balance, a malformed address, and a session on the internet side.
    let (status, theirs) = get(&tool, &format!("/wallet/balance?account={spoofer}"), &token).await;
    assert_eq!(status, 403, "{theirs}");
    assert!(theirs["error"]["message"].as_str().unwrap().contains("not one of your accounts"), "{theirs}");
    let (status, bad) = get(&tool, "/wallet/balance?token=0xnothex", &token).await;
    assert_eq!((status, bad["error"]["field"].as_str()), (400, Some("token")), "{bad}");
    let (status, both) = get(&tool, "/wallet/ens", &token).await;
    assert_eq!(status, 400, "{both}");
    let outside = gate.create_session(Side::Internet, "test").unwrap().token;
    let (status, refused) = get(&tool, "/wallet/balance", &outside).await;
    assert_eq!(status, 403, "an internet-side session read the wallet: {refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("internet-facing"), "{refused}");
}
