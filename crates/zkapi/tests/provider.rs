//! The provider's proxy over HTTP, and the client's wallet under `kill -9`.
//!
//! The upstream here is a recording HTTP server the test starts on loopback (what reaches it is
//! the point); the end-to-end run with `sov serve` as the upstream and the deposit contract on
//! anvil is in the `sov` crate's tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, Uri};
use rln::prelude::{Hasher, PoseidonHash};
use serde_json::{Value, json};
use sov_zkapi::provider::{Provider, Roots, router};
use sov_zkapi::tree::rate_commitment;
use sov_zkapi::{Fr, Membership, NullifierStore as _, Payer, Prover, SqliteStore, TICKET_HEADER, Wallet};

const CONTRACT: &str = "31337:0x00000000000000000000000000000000000000aa";

fn external_nullifier() -> Fr {
    Hasher::<PoseidonHash>::hash_single(Fr::from(42u32))
}

type Seen = Arc<Mutex<Vec<Value>>>;

/// An upstream that records what reaches it and answers with it.
async fn start_upstream() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let record = record.clone();
        async move {
            let headers: Vec<String> = headers.keys().map(|k| k.as_str().to_owned()).collect();
            let entry = json!({"method": method.as_str(), "path": uri.to_string(), "headers": headers,
                               "body": String::from_utf8_lossy(&body)});
            record.lock().unwrap().push(entry.clone());
            axum::Json(entry)
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), seen)
}

struct Setup {
    wallet: Arc<Wallet>,
    tree: Membership,
    _dir: tempfile::TempDir,
    dir: std::path::PathBuf,
}

/// A wallet with one active deposit of `limit` tickets at leaf 1 of a three-leaf tree.
fn wallet_with_deposit(limit: u32) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let wallet = Wallet::open(&dir.path().join("sov.db"), &dir.path().join("keys")).unwrap();
    let commitment = wallet.new_identity(CONTRACT).unwrap();
    wallet.activate(&commitment, 1, limit).unwrap();
    let tree = Membership::new(&[Fr::from(11u32), rate_commitment(commitment, limit), Fr::from(13u32)]).unwrap();
    let path = dir.path().to_path_buf();
    Setup { wallet: Arc::new(wallet), tree, _dir: dir, dir: path }
}

async fn start_provider(
    upstream: &str,
    roots: Vec<Fr>,
) -> (SocketAddr, Arc<SqliteStore>, tokio::sync::mpsc::UnboundedReceiver<(Fr, Fr)>) {
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let window = Arc::new(Roots::new(64));
    for root in roots {
        window.push(root);
    }
    let (slash_tx, slash_rx) = tokio::sync::mpsc::unbounded_channel();
    let provider =
        Provider::new(external_nullifier(), store.clone(), window, upstream, Some(slash_tx), json!({"price": "1"}));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(provider))).await });
    (addr, store, slash_rx)
}

async fn post(addr: SocketAddr, path: &str, body: &str, ticket: Option<&str>) -> (u16, Value) {
    let client = reqwest::Client::new();
    let mut request = client.post(format!("http://{addr}{path}")).header("content-type", "application/json");
    if let Some(ticket) = ticket {
        request = request.header(TICKET_HEADER, ticket);
    }
    let response = request.body(body.to_owned()).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paid_calls_pass_and_replays_double_spends_and_garbage_get_nothing_upstream() {
    let (upstream, seen) = start_upstream().await;
    let setup = wallet_with_deposit(5);
    let (addr, store, mut slashes) = start_provider(&upstream, vec![setup.tree.root()]).await;
    let payer = Arc::new(Payer::new(setup.wallet.clone(), Arc::new(Prover::new()), CONTRACT, external_nullifier()));
    let tree = Arc::new(setup.tree);
    let pay = |body: &'static str| {
        let (payer, tree) = (payer.clone(), tree.clone());
        async move {
            tokio::task::spawn_blocking(move || {
                payer.pay(&tree, "POST", "/v1/chat/completions", body.as_bytes()).unwrap().encode()
            })
            .await
            .unwrap()
        }
    };

    // Two honest calls, the second finished from a precomputed proof.
    let first = pay(r#"{"n":1}"#).await;
    let (status, echo) = post(addr, "/v1/chat/completions", r#"{"n":1}"#, Some(&first)).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(echo["body"], r#"{"n":1}"#);
    let headers = echo["headers"].as_array().unwrap();
    assert!(!headers.iter().any(|h| h == TICKET_HEADER), "the ticket went upstream: {echo}");
    {
        let (payer, tree) = (payer.clone(), tree.clone());
        tokio::task::spawn_blocking(move || payer.prepare(&tree).unwrap()).await.unwrap();
    }
    let second = pay(r#"{"n":2}"#).await;
    assert_eq!(post(addr, "/v1/chat/completions", r#"{"n":2}"#, Some(&second)).await.0, 200);
    assert_eq!(seen.lock().unwrap().len(), 2);

    // Refused, and nothing reaches the upstream: no ticket, a replay, the ticket on another
    // request, garbage.
    let (status, error) = post(addr, "/v1/chat/completions", "{}", None).await;
    assert_eq!(status, 402);
    assert!(error["error"]["message"].as_str().unwrap().contains(TICKET_HEADER), "{error}");
    let (status, error) = post(addr, "/v1/chat/completions", r#"{"n":1}"#, Some(&first)).await;
    assert_eq!((status, error["error"]["type"].as_str()), (409, Some("ticket_spent")), "{error}");
    let (status, error) = post(addr, "/v1/chat/completions", r#"{"n":"other"}"#, Some(&first)).await;
    assert_eq!(status, 402, "{error}");
    assert!(error["error"]["message"].as_str().unwrap().contains("different request"), "{error}");
    for garbage in
        ["", "x", "AAAA", &"A".repeat(5000), &first[..first.len() - 3], "v1.proof.root", &first.replace('A', "B")]
    {
        let (status, error) = post(addr, "/v1/chat/completions", r#"{"n":1}"#, Some(garbage)).await;
        assert!(status == 400 || status == 402 || status == 409, "{garbage:?}: {status} {error}");
        assert!(error["error"]["message"].is_string(), "{error}");
    }
    let raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut raw = raw;
        raw.write_all(b"POST / HTTP/1.1\r\nhost: x\r\nx-zkapi-ticket: \xff\xfe\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        let mut answer = vec![0u8; 512];
        let n = raw.read(&mut answer).await.unwrap();
        assert!(
            String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 400"),
            "{}",
            String::from_utf8_lossy(&answer[..n])
        );
    }
    assert_eq!(seen.lock().unwrap().len(), 2, "a refused request reached the upstream");

    // A patched client spends ticket 2 twice: the second request is refused, and the secret
    // behind the deposit comes out, exactly.
    let cheat_index = 2;
    let commitment = setup.wallet.credits().unwrap()[0].commitment;
    let secret = *setup.wallet.secret(&commitment).unwrap();
    let prover = Prover::new();
    let credential = sov_zkapi::Credential { secret: setup.wallet.secret(&commitment).unwrap(), limit: 5 };
    let mut statuses = vec![];
    for body in [r#"{"cheat":1}"#, r#"{"cheat":2}"#] {
        let x = sov_zkapi::signal("POST", "/v1/chat/completions", body.as_bytes());
        let ticket =
            prover.prove(&credential, &tree.path(1).unwrap(), external_nullifier(), cheat_index, x).unwrap().encode();
        statuses.push(post(addr, "/v1/chat/completions", body, Some(&ticket)).await.0);
    }
    assert_eq!(statuses, [200, 409]);
    let (found_commitment, found_secret) =
        tokio::time::timeout(Duration::from_secs(5), slashes.recv()).await.unwrap().unwrap();
    assert_eq!((found_commitment, found_secret), (commitment, secret));
    assert_eq!(store.unslashed().unwrap(), vec![(commitment, secret)]);
    assert_eq!(seen.lock().unwrap().len(), 3);
    assert_eq!(store.spent().unwrap(), 3);

    // The provider is still up.
    assert_eq!(reqwest::get(format!("http://{addr}/zkapi")).await.unwrap().status(), 200);
}

/// Run by the kill test in a child process: pays one call (the reservation commits, then the
/// proof takes a while) and sends it.
#[test]
fn child_pays_one_call() {
    let Ok(dir) = std::env::var("ZKAPI_TEST_CHILD_DIR") else { return };
    let dir = std::path::PathBuf::from(dir);
    let wallet = Arc::new(Wallet::open(&dir.join("sov.db"), &dir.join("keys")).unwrap());
    let commitment = wallet.credits().unwrap()[0].commitment;
    let limit = wallet.credits().unwrap()[0].limit;
    let tree = Membership::new(&[Fr::from(11u32), rate_commitment(commitment, limit), Fr::from(13u32)]).unwrap();
    let payer = Payer::new(wallet, Arc::new(Prover::new()), CONTRACT, external_nullifier());
    let ticket = payer.pay(&tree, "POST", "/v1/chat/completions", b"{}").unwrap();
    std::fs::write(dir.join("ticket"), ticket.encode()).unwrap();
}

#[test]
fn kill_9_between_reserving_and_sending_never_reuses_a_ticket_index() {
    let setup = wallet_with_deposit(10);
    let next = |wallet: &Wallet| wallet.credits().unwrap()[0].next_ticket;
    let store = SqliteStore::in_memory().unwrap();
    let mut killed_rounds = 0;
    for round in 0..3 {
        let before = next(&setup.wallet);
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", "child_pays_one_call", "--nocapture"])
            .env("ZKAPI_TEST_CHILD_DIR", &setup.dir)
            .spawn()
            .unwrap();
        // Kill it the moment its reservation is committed: the proof is still being made.
        let deadline = Instant::now() + Duration::from_secs(60);
        while next(&setup.wallet) == before {
            assert!(Instant::now() < deadline, "round {round}: the child never reserved a ticket");
            std::thread::sleep(Duration::from_millis(2));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        if !setup.dir.join("ticket").exists() {
            killed_rounds += 1;
        }
        let _ = std::fs::remove_file(setup.dir.join("ticket"));
        assert_eq!(next(&setup.wallet), before + 1, "round {round}");
    }
    assert!(killed_rounds > 0, "every child finished before the kill; the test proved nothing");
    // Calls after the kills use fresh indices, and the provider never sees a nullifier twice.
    let payer = Payer::new(setup.wallet.clone(), Arc::new(Prover::new()), CONTRACT, external_nullifier());
    for n in 0..2 {
        let ticket = payer.pay(&setup.tree, "POST", "/v1/chat/completions", format!("{n}").as_bytes()).unwrap();
        assert_eq!(store.spend(&ticket).unwrap(), sov_zkapi::Spend::New);
    }
    assert_eq!(next(&setup.wallet), 5);
}

/// A JSON-RPC relay in front of `upstream` that counts the requests it passes (a batch counts
/// as its calls).
async fn start_counting_relay(upstream: &str) -> (String, Arc<std::sync::atomic::AtomicU64>) {
    use std::sync::atomic::{AtomicU64, Ordering};
    let count = Arc::new(AtomicU64::new(0));
    let (counted, upstream) = (count.clone(), upstream.to_owned());
    let app = axum::Router::new().fallback(move |body: Bytes| {
        let (counted, upstream) = (counted.clone(), upstream.clone());
        async move {
            let calls = match serde_json::from_slice::<Value>(&body) {
                Ok(Value::Array(calls)) => calls.len() as u64,
                _ => 1,
            };
            counted.fetch_add(calls, Ordering::SeqCst);
            let answer = reqwest::Client::new()
                .post(&upstream)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            ([(axum::http::header::CONTENT_TYPE, "application/json")], answer.bytes().await.unwrap())
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), count)
}

/// The 402's `code`, after checking the body has exactly the documented shape.
fn payment_code(status: u16, error: &Value) -> String {
    assert_eq!(status, 402, "{error}");
    assert_eq!(error["error"]["type"], "payment_required", "{error}");
    assert!(error["error"]["message"].as_str().is_some_and(|m| m.len() > 20), "{error}");
    assert_eq!(error.as_object().unwrap().len(), 1, "{error}");
    assert_eq!(error["error"].as_object().unwrap().len(), 3, "{error}");
    error["error"]["code"].as_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deposit_newer_than_the_providers_last_look_pays_at_once_and_a_flood_of_unknown_roots_costs_one_look_per_interval()
 {
    use sov_chain::testing::Anvil;
    use sov_chain::{Credits, U256};
    use sov_zkapi::chain::{fr, membership, reader, u256};
    use sov_zkapi::roots::RootFollower;
    use std::sync::atomic::Ordering;

    // Looks asked for by tickets: at most one per two seconds.
    const INTERVAL: Duration = Duration::from_secs(2);
    let anvil = Anvil::start().unwrap();
    let (rpc, rpc_calls) = start_counting_relay(anvil.url()).await;
    let e = external_nullifier();
    let http = anvil.http();
    let deployed =
        Credits::deploy(anvil.url(), Anvil::signer(0), U256::from(1000u64), u256(&e), 3600, &http).await.unwrap();
    let contract = deployed.address();

    // The provider reads the chain only through the relay, and looks only when a ticket asks:
    // it never polls, as if its poll_ms were endless.
    let chain = reader(&rpc, contract, &http).unwrap();
    let window = Arc::new(Roots::new(64));
    let head = chain.block_number().await.unwrap();
    window.push(fr(chain.root().await.unwrap()).unwrap());
    let follower = Arc::new(RootFollower::new(chain, window.clone(), head + 1).with_min_interval(INTERVAL));
    let (upstream, seen) = start_upstream().await;
    let store = Arc::new(SqliteStore::in_memory().unwrap());
    let provider = Provider::new(e, store, window, &upstream, None, json!({})).following(follower.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(provider))).await });

    // A deposit straight to the chain, and a call right after it: the provider has not seen
    // the new root, reads the chain once, and serves the call.
    let dir = tempfile::tempdir().unwrap();
    let wallet = Arc::new(Wallet::open(&dir.path().join("sov.db"), &dir.path().join("keys")).unwrap());
    let label = format!("{contract:#x}");
    let commitment = wallet.new_identity(&label).unwrap();
    let user = Credits::at(anvil.url(), contract, Anvil::signer(1), &http).unwrap();
    let deposit = user.deposit(u256(&commitment), U256::from(3000u64)).await.unwrap();
    wallet.activate(&commitment, u64::from(deposit.leaf_index), u32::from(deposit.limit)).unwrap();
    let tree = Arc::new(membership(&user).await.unwrap());
    let payer = Arc::new(Payer::new(wallet.clone(), Arc::new(Prover::new()), &label, e));
    let body = r#"{"n":1}"#;
    let ticket = {
        let (payer, tree) = (payer.clone(), tree.clone());
        tokio::task::spawn_blocking(move || payer.pay(&tree, "POST", "/v1/chat/completions", body.as_bytes()).unwrap())
            .await
            .unwrap()
    };
    assert_eq!(follower.looks(), 0);
    let (status, echo) = post(addr, "/v1/chat/completions", body, Some(&ticket.encode())).await;
    assert_eq!(status, 200, "{echo}");
    assert_eq!(follower.looks(), 1, "one look found the new root");

    // Refusals of tickets that are not an unknown root cost no look, and each says why.
    let mut forged = ticket.clone();
    forged.y += Fr::from(1u32);
    let (status, error) = post(addr, "/v1/chat/completions", body, Some(&forged.encode())).await;
    assert_eq!(payment_code(status, &error), "invalid_proof");
    assert!(error["error"]["message"].as_str().unwrap().contains("does not verify"), "{error}");
    let (status, error) = post(addr, "/v1/chat/completions", r#"{"n":2}"#, Some(&ticket.encode())).await;
    assert_eq!(payment_code(status, &error), "wrong_request");
    let (status, error) = post(addr, "/v1/chat/completions", body, None).await;
    assert_eq!(payment_code(status, &error), "missing_ticket");
    assert_eq!(follower.looks(), 1);
    assert_eq!(seen.lock().unwrap().len(), 1);

    // A flood: a valid proof for a tree the chain never had (an identity that never
    // deposited), sent 48 times at once, and 16 garbage tickets naming random roots.
    let stranger = Wallet::open(&dir.path().join("stranger.db"), &dir.path().join("stranger-keys")).unwrap();
    let fake_commitment = stranger.new_identity(&label).unwrap();
    let fake_tree = Membership::new(&[rate_commitment(fake_commitment, 5)]).unwrap();
    let credential = sov_zkapi::Credential { secret: stranger.secret(&fake_commitment).unwrap(), limit: 5 };
    let x = sov_zkapi::signal("POST", "/v1/chat/completions", body.as_bytes());
    let fake = Prover::new().prove(&credential, &fake_tree.path(0).unwrap(), e, 0, x).unwrap();
    let mut flood: Vec<(String, &str)> = (0..48).map(|_| (fake.encode(), "unknown_root")).collect();
    for n in 0..16u32 {
        let mut garbage = fake.clone();
        garbage.root = Hasher::<PoseidonHash>::hash_single(Fr::from(1000 + n));
        flood.push((garbage.encode(), "invalid_proof"));
    }
    let (looks_before, calls_before) = (follower.looks(), rpc_calls.load(Ordering::SeqCst));
    let started = Instant::now();
    let answers = join_all(flood.iter().map(|(ticket, _)| {
        let ticket = ticket.clone();
        async move { post(addr, "/v1/chat/completions", body, Some(&ticket)).await }
    }))
    .await;
    let elapsed = started.elapsed();
    for ((_, expected), (status, error)) in flood.iter().zip(&answers) {
        assert_eq!(payment_code(*status, error), *expected, "{error}");
    }
    let unknown = answers.iter().find(|(_, error)| error["error"]["code"] == "unknown_root").unwrap();
    assert!(unknown.1["error"]["message"].as_str().unwrap().contains("retry once"), "{}", unknown.1);
    // Looks asked for by tickets start at least INTERVAL apart, so however the flood was spread
    // over `elapsed`, it may have caused at most this many; each look is at most four calls.
    let allowed = 1 + (elapsed.as_millis() / INTERVAL.as_millis()) as u64;
    let looks = follower.looks() - looks_before;
    let calls = rpc_calls.load(Ordering::SeqCst) - calls_before;
    assert!((1..=allowed).contains(&looks), "{looks} looks for 48 tickets in {elapsed:?}, at most {allowed}");
    assert!(calls <= 4 * looks, "{calls} RPC calls for {looks} looks");
    eprintln!("the flood of 64 tickets in {elapsed:?} cost {looks} look(s), {calls} RPC call(s)");
    assert_eq!(seen.lock().unwrap().len(), 1, "no refused ticket reached the upstream");
}

/// Every future's output, in order (what `futures::future::join_all` does, without the crate).
async fn join_all<F: std::future::Future<Output = T> + Send + 'static, T: Send + 'static>(
    futures: impl Iterator<Item = F>,
) -> Vec<T> {
    let handles: Vec<_> = futures.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.unwrap());
    }
    out
}
