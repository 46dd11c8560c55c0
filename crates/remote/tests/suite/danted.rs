//! Socks5 through a real SOCKS5 server, Debian's `danted`, started by the test on loopback.
//!
//! Dante's `username` method checks system passwords, so these runs use `socksmethod: none` and
//! the client's [`StreamIsolation::Off`]; per-request credentials are tested against the test's
//! own SOCKS5 server in `transport.rs`. Isolation still shows here as one proxy connection per
//! request.

use std::net::SocketAddr;

use axum::body::Bytes;
use sov_remote::{Socks5, StreamIsolation, Transport, seal_request};

use super::harness::{Danted, Upstream, post, test_timeouts};

fn through(danted: &Danted) -> Socks5 {
    Socks5::new(danted.addr).with_isolation(StreamIsolation::Off).with_timeouts(test_timeouts())
}

/// Dante logs each relayed connection as `client proxy -> proxy-side-source target`, with
/// addresses written `ip.port`.
fn relay_leg(peer: SocketAddr, upstream_port: u16) -> String {
    format!("{}.{} 127.0.0.1.{upstream_port}", peer.ip(), peer.port())
}

#[tokio::test]
async fn a_request_through_danted_reaches_the_upstream_from_danted() {
    let up = Upstream::start().await;
    let danted = Danted::start();
    let response = through(&danted).send(post(&up.url("127.0.0.1", "/echo"), b"hello")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(&response.into_body().collect(64).await.unwrap()[..], b"echo:hello");
    let peers = up.peers();
    assert_eq!(peers.len(), 1);
    // The connection the upstream saw is the one danted opened.
    let leg = relay_leg(peers[0], up.port);
    assert!(danted.wait_for_log(&leg), "no `{leg}` in danted's log:\n{}", danted.log());
}

#[tokio::test]
async fn the_host_name_is_resolved_by_the_proxy() {
    let up = Upstream::start().await;
    let danted = Danted::start();
    let response = through(&danted).send(post(&up.url("localhost", "/echo"), b"by name")).await.unwrap();
    assert_eq!(response.status(), 200);
    // Dante's debug log shows the request named the host (address type 3) and that dante
    // resolved it.
    let named = format!("ATYP: 3 address: localhost.{}", up.port);
    assert!(danted.wait_for_log(&named), "no `{named}` in danted's log");
    let resolved = format!("hostname localhost.{} in connect-request resolved", up.port);
    assert!(danted.wait_for_log(&resolved), "no `{resolved}` in danted's log");
}

#[tokio::test]
async fn each_request_through_danted_uses_a_new_connection() {
    let up = Upstream::start().await;
    let danted = Danted::start();
    let socks = through(&danted);
    for _ in 0..3 {
        let response = socks.send(post(&up.url("127.0.0.1", "/echo"), b"x")).await.unwrap();
        response.into_body().collect(64).await.unwrap();
    }
    let peers = up.peers();
    assert_eq!(peers.len(), 3);
    for peer in &peers {
        let leg = relay_leg(*peer, up.port);
        assert!(danted.wait_for_log(&leg), "no `{leg}` in danted's log");
    }
    let mut ports: Vec<_> = peers.iter().map(SocketAddr::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "a connection was reused: {peers:?}");
}

#[tokio::test]
async fn a_sealed_request_and_streamed_sealed_response_cross_danted() {
    let up = Upstream::start().await;
    let danted = Danted::start();
    let (envelope, opener) = seal_request(&up.key.public_key(), up.key.key_id(), b"private question here").unwrap();
    let request = http::Request::post(up.url("localhost", "/sealed"))
        .header("content-type", "message/sovereign-request")
        .body(Bytes::from(envelope))
        .unwrap();
    let response = through(&danted).send(request).await.unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    let mut reader = opener.open_chunks();
    let mut answer = Vec::new();
    while let Some(bytes) = body.next_chunk().await.unwrap() {
        for chunk in reader.push(&bytes).unwrap() {
            answer.extend(chunk);
        }
    }
    reader.finish().unwrap();
    assert_eq!(String::from_utf8(answer).unwrap(), "PRIVATE QUESTION HERE ");
    // Danted relayed ciphertext only.
    assert!(!danted.log().contains("private question"));
}
