//! The client talks to the node only through the outbound policy's `Http` (`sov_chain::rpc`),
//! and says clearly what a failing endpoint answered.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pretty_assertions::assert_eq;
use sov_chain::testing::Anvil;
use sov_chain::{Credits, Error, U256};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

use super::harness::{Chain, PRICE, external_nullifier};

/// A loopback HTTP server answering every request with `status`, `content_type` and `body`;
/// counts the requests it got.
async fn fixed_answer(
    status: &'static str,
    content_type: &'static str,
    body: &'static str,
) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/rpc", listener.local_addr().unwrap());
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else { return };
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                // Enough of the request to answer it: its head and whatever body came with it.
                let mut buf = vec![0u8; 64 << 10];
                let _ = stream.read(&mut buf).await;
                let answer = format!(
                    "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(answer.as_bytes()).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (url, seen)
}

fn reader(url: &str) -> Credits {
    Credits::at(url, sov_chain::Address::ZERO, Anvil::signer(9), &sov_chain::testing::http()).unwrap()
}

#[tokio::test]
async fn a_client_built_with_an_http_of_the_policy_reads_and_sends_through_it() {
    let chain = Chain::start().await;
    let address = chain.provider.address();
    // A client of its own, from the URL and an `Http` alone, under both loopback spellings.
    let port = chain.anvil.url().rsplit(':').next().unwrap().to_owned();
    for url in [chain.anvil.url().to_owned(), format!("http://localhost:{port}/")] {
        let credits = Credits::at(&url, address, Anvil::signer(3), &chain.anvil.http()).unwrap();
        assert_eq!(credits.price().await.unwrap(), U256::from(PRICE), "{url}");
        assert_eq!(credits.external_nullifier().await.unwrap(), external_nullifier(), "{url}");
        assert!(credits.block_number().await.unwrap() > 0, "{url}");
    }
    // A transaction and its receipt go the same way.
    let credits = Credits::at(chain.anvil.url(), address, Anvil::signer(3), &chain.anvil.http()).unwrap();
    let deposit = credits.deposit(U256::from(77u64), U256::from(PRICE) * U256::from(2u64)).await.unwrap();
    assert_eq!((deposit.leaf_index, deposit.limit), (0, 2));
    assert_eq!(chain.provider.leaf_count().await.unwrap(), 1);
}

#[tokio::test]
async fn an_error_status_from_the_endpoint_is_an_http_error_naming_the_status_and_the_body() {
    let (url, seen) = fixed_answer("503 Service Unavailable", "text/plain", "upstream node is down").await;
    let err = reader(&url).price().await.unwrap_err();
    assert!(matches!(err, Error::Rpc { action: "reading price", .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("reading price"), "{text}");
    assert!(text.contains("HTTP error 503"), "{text}");
    assert!(text.contains("upstream node is down"), "{text}");
    assert_eq!(seen.load(Ordering::SeqCst), 1, "nothing is retried behind the caller's back");
}

#[tokio::test]
async fn a_json_rpc_error_under_an_error_status_is_the_nodes_answer() {
    let body = r#"{"jsonrpc":"2.0","id":0,"error":{"code":-32005,"message":"daily request limit reached"}}"#;
    let (url, _) = fixed_answer("429 Too Many Requests", "application/json", body).await;
    let text = reader(&url).price().await.unwrap_err().to_string();
    assert!(text.contains("daily request limit reached"), "{text}");
    assert!(!text.contains("HTTP error"), "{text}");
}

#[tokio::test]
async fn an_answer_that_is_not_json_rpc_is_a_deserialization_error() {
    let (url, _) = fixed_answer("200 OK", "text/html", "<html>a captive portal</html>").await;
    let text = reader(&url).price().await.unwrap_err().to_string();
    assert!(text.contains("deserialization error"), "{text}");
    assert!(text.contains("captive portal"), "{text}");
}

#[tokio::test]
async fn a_failure_of_the_policy_keeps_its_message() {
    // Nothing listens on a port just released.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let text = reader(&format!("http://127.0.0.1:{port}")).price().await.unwrap_err().to_string();
    assert!(text.contains(&format!("could not connect to 127.0.0.1:{port}")), "{text}");
    // Off this machine the test policy's route is Tor that cannot bootstrap (its only directory
    // cache is a closed loopback port): the request fails closed, and says what to do.
    let text = reader("https://rpc.example.org/v3/key").price().await.unwrap_err().to_string();
    assert!(text.contains("Tor is not ready"), "{text}");
    assert!(text.contains("nothing was sent"), "{text}");
    assert!(!text.contains("v3/key"), "the URL's path stays out of messages: {text}");
}

#[test]
fn an_rpc_url_that_is_not_http_is_refused_at_once() {
    let http = sov_chain::testing::http();
    for url in ["ws://127.0.0.1:8545", "127.0.0.1:8545", ""] {
        let err = Credits::at(url, sov_chain::Address::ZERO, Anvil::signer(0), &http).unwrap_err();
        assert!(matches!(err, Error::InvalidRpcUrl { .. }), "{url}: {err:?}");
    }
}
