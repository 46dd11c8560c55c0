//! The provider's gateway and the client pipeline end to end: a client `RemoteProvider` talks to a
//! `Gateway` (through a recording TCP relay, or through danted) in front of a loopback model
//! upstream that records what it receives.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use sov_attest::{Cache, Policy};
use sov_remote::{
    ATTESTATION_PATH, BoxFuture, BundleHandle, Direct, Error, Gateway, KeyPair, NoPayment, Payment, PublicKey,
    RemoteBody, RemoteProvider, Socks5, StreamIsolation, Transport, dev_bundle, epoch_at, epoch_expires_at,
    seal_request,
};

use super::harness::{Danted, MODEL_ANSWER, MODEL_EVENTS, ModelUpstream, Relay, contains, count, serve, test_timeouts};

const PROMPT: &str = r#"{"model":"m","messages":[{"role":"user","content":"PRIVATE-PROMPT-1234"}]}"#;
const STREAM_PROMPT: &str =
    r#"{"model":"m","stream":true,"messages":[{"role":"user","content":"PRIVATE-PROMPT-5678"}]}"#;

fn dev_policy() -> Policy {
    Policy { allow_dev: true, ..Policy::default() }
}

fn direct() -> Arc<dyn Transport> {
    Arc::new(Direct::insecure_dev_with_timeouts(test_timeouts()).unwrap())
}

fn client(url: &str, transport: Arc<dyn Transport>, policy: Policy) -> RemoteProvider {
    RemoteProvider::new(url, transport, policy, Arc::new(Cache::new())).unwrap()
}

fn dev_bundle_for(key: &KeyPair) -> BundleHandle {
    dev_bundle_for_key(key.public_key())
}

fn dev_bundle_for_key(key: PublicKey) -> BundleHandle {
    let epoch = epoch_at(SystemTime::now());
    BundleHandle::new(&dev_bundle(&key, epoch, epoch_expires_at(epoch)))
}

/// A model upstream, a gateway in front of it (serving a dev bundle of its own key), and a
/// recording relay in front of the gateway.
struct Setup {
    model: ModelUpstream,
    gateway: Gateway,
    gateway_addr: SocketAddr,
    relay: Relay,
}

impl Setup {
    async fn start() -> Self {
        Self::with_model(ModelUpstream::start().await).await
    }

    async fn with_model(model: ModelUpstream) -> Self {
        let key = KeyPair::generate();
        let bundle = dev_bundle_for(&key);
        let gateway = Gateway::new(key, &model.url(), bundle).unwrap();
        let gateway_addr = serve(gateway.router()).await;
        let relay = Relay::start(gateway_addr).await;
        Self { model, gateway, gateway_addr, relay }
    }

    fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway_addr)
    }
}

async fn within<T>(what: &str, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(15), fut).await.unwrap_or_else(|_| panic!("{what} timed out"))
}

/// Records what it was asked to pay for, and pays with a header (or refuses).
#[derive(Default)]
struct RecordingPayment {
    asked: Mutex<Vec<(String, String, Vec<u8>)>>,
    refuse: bool,
}

impl Payment for RecordingPayment {
    fn ticket(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> BoxFuture<'_, Result<Option<(String, String)>, String>> {
        self.asked.lock().unwrap().push((method.to_owned(), path_and_query.to_owned(), body.to_vec()));
        let answer = if self.refuse {
            Err("no credits left".to_owned())
        } else {
            Ok(Some(("x-zkapi-ticket".to_owned(), format!("ticket-over-{}-bytes", body.len()))))
        };
        Box::pin(async move { answer })
    }
}

#[tokio::test]
async fn a_whole_answer_round_trips_and_only_ciphertext_crosses_the_wire() {
    let s = Setup::start().await;
    let provider = client(&s.relay.url(), direct(), dev_policy());
    let payment = RecordingPayment::default();

    let response =
        within("send", provider.send("/v1/chat/completions?trace=0", PROMPT.as_bytes(), &payment)).await.unwrap();
    assert_eq!(response.status, 200);
    assert!(!response.is_streamed());
    assert_eq!(response.into_bytes().await.unwrap(), MODEL_ANSWER.as_bytes());

    // The upstream got exactly the plain body, at the same path and query.
    let seen = s.model.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path_and_query, "/v1/chat/completions?trace=0");
    assert_eq!(seen[0].content_type, "application/json");
    assert_eq!(seen[0].body, PROMPT.as_bytes());

    // The payment was computed over the sealed bytes, which are what went over the wire.
    let asked = payment.asked.lock().unwrap().clone();
    assert_eq!(asked.len(), 1);
    let (method, path, sealed) = &asked[0];
    assert_eq!((method.as_str(), path.as_str()), ("POST", "/v1/chat/completions?trace=0"));
    assert!(!contains(sealed, b"PRIVATE-PROMPT"));
    let wire_up = s.relay.to_server();
    assert!(contains(&wire_up, sealed), "the sealed bytes the payment saw were not what was sent");
    assert!(contains(&wire_up, format!("x-zkapi-ticket: ticket-over-{}-bytes", sealed.len()).as_bytes()));
    assert!(contains(&wire_up, b"content-type: message/sovereign-request"));

    // Neither direction carried plaintext.
    assert!(!contains(&wire_up, b"PRIVATE-PROMPT"), "the prompt crossed the wire in the clear");
    let wire_down = s.relay.to_client();
    assert!(!contains(&wire_down, b"ANSWER-SECRET"), "the answer crossed the wire in the clear");
    assert!(contains(&wire_down, b"content-type: message/sovereign-response"));

    // A second request reuses the verified key: one bundle fetch in all.
    let again = within("send", provider.send("/v1/chat/completions", PROMPT.as_bytes(), &NoPayment)).await.unwrap();
    assert_eq!(again.into_bytes().await.unwrap(), MODEL_ANSWER.as_bytes());
    let wire_up = s.relay.to_server();
    assert_eq!(count(&wire_up, format!("GET {ATTESTATION_PATH} ").as_bytes()), 1);
    assert_eq!(count(&wire_up, b"POST /v1/chat/completions"), 2);
}

#[tokio::test]
async fn a_streamed_answer_arrives_chunk_by_chunk_as_the_upstream_sends_it() {
    // The upstream sends its first event, then waits for the test.
    let s = Setup::with_model(ModelUpstream::start_gated(0).await).await;
    let provider = client(&s.relay.url(), direct(), dev_policy());

    let response =
        within("send", provider.send("/v1/chat/completions", STREAM_PROMPT.as_bytes(), &NoPayment)).await.unwrap();
    assert_eq!(response.status, 200);
    let RemoteBody::Stream(mut stream) = response.body else { panic!("expected a stream") };
    // The first event arrives while the upstream still holds the rest: the gateway flushed it.
    let first = within("first chunk", stream.next_chunk()).await.unwrap().unwrap();
    assert_eq!(first, MODEL_EVENTS[0].as_bytes());

    s.model.release(MODEL_EVENTS.len());
    let mut rest = Vec::new();
    while let Some(chunk) = within("next chunk", stream.next_chunk()).await.unwrap() {
        rest.push(String::from_utf8(chunk).unwrap());
    }
    assert_eq!(rest.concat(), MODEL_EVENTS[1..].concat());
    assert_eq!(stream.next_chunk().await.unwrap(), None, "a finished stream stays finished");

    let seen = s.model.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, STREAM_PROMPT.as_bytes());
    assert!(!contains(&s.relay.to_server(), b"PRIVATE-PROMPT"));
    let wire_down = s.relay.to_client();
    assert!(contains(&wire_down, b"content-type: message/sovereign-response-stream"));
    assert!(!contains(&wire_down, b"STREAM-SECRET") && !contains(&wire_down, b"data:"));
}

#[tokio::test]
async fn the_upstream_status_passes_through_with_a_sealed_body() {
    let s = Setup::start().await;
    let provider = client(&s.relay.url(), direct(), dev_policy());
    let response = within("send", provider.send("/v1/missing", PROMPT.as_bytes(), &NoPayment)).await.unwrap();
    assert_eq!(response.status, 404);
    assert_eq!(response.into_bytes().await.unwrap(), br#"{"error":{"message":"model not found"}}"#);
    assert!(!contains(&s.relay.to_client(), b"model not found"));
}

#[tokio::test]
async fn a_stream_the_upstream_breaks_off_is_reported_as_truncated() {
    let s = Setup::start().await;
    let provider = client(&s.gateway_url(), direct(), dev_policy());
    let response = within("send", provider.send("/v1/broken", STREAM_PROMPT.as_bytes(), &NoPayment)).await.unwrap();
    let RemoteBody::Stream(mut stream) = response.body else { panic!("expected a stream") };
    assert_eq!(stream.next_chunk().await.unwrap().unwrap(), MODEL_EVENTS[0].as_bytes());
    let err = within("end", stream.next_chunk()).await.unwrap_err();
    assert!(matches!(err, Error::StreamTruncated { chunks: 1 }), "{err:?}");
    assert!(err.to_string().contains("truncated"), "{err}");
    assert!(stream.next_chunk().await.is_err(), "a failed stream must not end quietly later");
}

#[tokio::test]
async fn a_dev_bundle_is_refused_under_the_default_policy_and_nothing_is_sent() {
    let s = Setup::start().await;
    let provider = client(&s.relay.url(), direct(), Policy::default());
    let payment = RecordingPayment::default();
    let err = within("send", provider.send("/v1/chat/completions", PROMPT.as_bytes(), &payment)).await.unwrap_err();
    assert!(matches!(err, Error::Attestation(sov_attest::Error::DevRefused)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("dev bundle refused") && text.contains("nothing was sent"), "{text}");

    let err = within("attest", provider.attested_key()).await.unwrap_err();
    assert!(matches!(err, Error::Attestation(_)), "{err:?}");

    assert!(s.model.seen().is_empty());
    assert!(payment.asked.lock().unwrap().is_empty(), "no ticket may be spent on a refused provider");
    let wire_up = s.relay.to_server();
    assert_eq!(count(&wire_up, format!("GET {ATTESTATION_PATH} ").as_bytes()), 2);
    assert!(!contains(&wire_up, b"POST "), "a request reached the gateway's fallback");
}

#[tokio::test]
async fn a_tampered_or_unsealed_request_gets_4xx_and_the_upstream_sees_nothing() {
    let s = Setup::start().await;
    let url = format!("{}/v1/chat/completions", s.gateway_url());
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let (envelope, _opener) = seal_request(&s.gateway.public_key(), 0, PROMPT.as_bytes()).unwrap();

    // A flipped byte in the header, in the encapsulated key and in the ciphertext.
    for index in [1, 2, 8 + 5, envelope.len() - 20, envelope.len() - 1] {
        let mut tampered = envelope.clone();
        tampered[index] ^= 0x01;
        let response =
            http.post(&url).header("content-type", "message/sovereign-request").body(tampered).send().await.unwrap();
        assert_eq!(response.status(), 400, "byte {index}");
        assert_eq!(response.headers()["content-type"], "application/json");
        let body: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        let message = body["error"]["message"].as_str().unwrap();
        assert!(!message.is_empty() && !message.contains("PRIVATE"), "byte {index}: {message}");
    }
    // Cut short.
    let response = http
        .post(&url)
        .header("content-type", "message/sovereign-request")
        .body(envelope[..30].to_vec())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    // Not sealed at all.
    let response = http.post(&url).header("content-type", "application/json").body(PROMPT).send().await.unwrap();
    assert_eq!(response.status(), 415);
    let text = response.text().await.unwrap();
    assert!(text.contains("message/sovereign-request"), "{text}");

    assert!(s.model.seen().is_empty(), "the upstream received: {:?}", s.model.seen());

    // The untouched envelope does get through.
    let response = http
        .post(&url)
        .header("content-type", "message/sovereign-request")
        .body(envelope.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(s.model.seen().len(), 1);
}

#[tokio::test]
async fn a_bundle_for_another_key_leads_to_a_refused_request_with_a_clear_error() {
    let s = Setup::start().await;
    // The gateway serves a (dev) bundle for a key that is not its own.
    let impostor = KeyPair::generate();
    s.gateway.bundle().set_json(dev_bundle_for(&impostor).json());
    let provider = client(&s.gateway_url(), direct(), dev_policy());
    let (key, key_id, _) = provider.attested_key().await.unwrap();
    assert_eq!((key, key_id), (impostor.public_key(), 0));

    let err = within("send", provider.send("/v1/chat/completions", PROMPT.as_bytes(), &NoPayment)).await.unwrap_err();
    let Error::ProviderStatus { status, body, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*status, 400);
    assert!(body.contains("failed authentication"), "{body}");
    assert!(err.to_string().contains("HTTP status 400"), "{err}");
    assert!(s.model.seen().is_empty());

    // Once the gateway serves its own key's bundle again, the next call re-attests and succeeds.
    s.gateway.bundle().set_json(dev_bundle_for_key(s.gateway.public_key()).json());
    let response = within("send", provider.send("/v1/chat/completions", PROMPT.as_bytes(), &NoPayment)).await.unwrap();
    assert_eq!(response.into_bytes().await.unwrap(), MODEL_ANSWER.as_bytes());
    assert_eq!(s.model.seen().len(), 1);
}

#[tokio::test]
async fn the_bundle_is_served_as_json_and_can_be_replaced() {
    let key = KeyPair::generate();
    let empty = BundleHandle::default();
    let gateway = Gateway::new(key.clone(), "http://127.0.0.1:9", empty.clone()).unwrap();
    let addr = serve(gateway.router()).await;
    let url = format!("http://{addr}{ATTESTATION_PATH}");
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    assert_eq!(http.get(&url).send().await.unwrap().status(), 503);

    empty.set(&dev_bundle(&key.public_key(), 7, epoch_expires_at(7)));
    let response = http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    let bundle = sov_attest::Bundle::from_json(&response.bytes().await.unwrap()).unwrap();
    assert_eq!((bundle.hpke_public_key, bundle.epoch), (*key.public_key().as_bytes(), 7));

    // Epoch 7 ended long ago: the client refuses the expired bundle.
    let provider = client(&format!("http://{addr}"), direct(), dev_policy());
    let err = provider.attested_key().await.unwrap_err();
    assert!(err.to_string().contains("bundle expired"), "{err}");
}

#[tokio::test]
async fn an_unreachable_upstream_gives_a_plain_502() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let key = KeyPair::generate();
    let bundle = dev_bundle_for(&key);
    let gateway = Gateway::new(key, &format!("http://{closed}"), bundle).unwrap();
    let addr = serve(gateway.router()).await;
    let provider = client(&format!("http://{addr}"), direct(), dev_policy());
    let err = within("send", provider.send("/v1/chat/completions", PROMPT.as_bytes(), &NoPayment)).await.unwrap_err();
    let Error::ProviderStatus { status, body, .. } = &err else { panic!("{err:?}") };
    assert_eq!(*status, 502);
    assert!(body.contains("could not be reached") && !body.contains("PRIVATE"), "{body}");
}

#[tokio::test]
async fn a_refused_payment_sends_nothing() {
    let s = Setup::start().await;
    let provider = client(&s.relay.url(), direct(), dev_policy());
    let payment = RecordingPayment { refuse: true, ..RecordingPayment::default() };
    let err = within("send", provider.send("/v1/chat/completions", PROMPT.as_bytes(), &payment)).await.unwrap_err();
    assert!(matches!(&err, Error::Payment(why) if why == "no credits left"), "{err:?}");
    assert!(!contains(&s.relay.to_server(), b"POST "));
    assert!(s.model.seen().is_empty());
}

#[tokio::test]
async fn an_unsealed_success_answer_is_discarded() {
    // A "provider" that serves a valid dev bundle but answers requests in the clear.
    let key = KeyPair::generate();
    let bundle = dev_bundle_for(&key).json();
    let router = axum::Router::new()
        .route(ATTESTATION_PATH, axum::routing::get(move || async move { bundle.clone() }))
        .fallback(|| async { ([("content-type", "application/json")], MODEL_ANSWER) });
    let addr = serve(router).await;
    let provider = client(&format!("http://{addr}"), direct(), dev_policy());
    let err = within("send", provider.send("/v1/chat/completions", PROMPT.as_bytes(), &NoPayment)).await.unwrap_err();
    assert!(
        matches!(&err, Error::UnsealedResponse { status: 200, content_type } if content_type == "application/json")
    );
    assert!(!err.to_string().contains("ANSWER-SECRET"), "{err}");
}

#[tokio::test]
async fn a_streamed_answer_crosses_danted() {
    let s = Setup::start().await;
    let danted = Danted::start();
    let socks = Socks5::new(danted.addr).with_isolation(StreamIsolation::Off).with_timeouts(test_timeouts());
    let provider = client(&s.gateway_url(), Arc::new(socks), dev_policy());

    let response =
        within("send", provider.send("/v1/chat/completions", STREAM_PROMPT.as_bytes(), &NoPayment)).await.unwrap();
    assert!(response.is_streamed());
    let mut chunks = Vec::new();
    let RemoteBody::Stream(mut stream) = response.body else { unreachable!() };
    while let Some(chunk) = within("chunk", stream.next_chunk()).await.unwrap() {
        chunks.push(String::from_utf8(chunk).unwrap());
    }
    assert_eq!(chunks.concat(), MODEL_EVENTS.concat());
    assert_eq!(s.model.seen()[0].body, STREAM_PROMPT.as_bytes());
    // Both the bundle fetch and the sealed request went through danted.
    let port = s.gateway_addr.port();
    assert!(danted.wait_for_log(&format!("127.0.0.1.{port}")), "danted relayed nothing:\n{}", danted.log());
    assert!(!danted.log().contains("PRIVATE-PROMPT"));
}
