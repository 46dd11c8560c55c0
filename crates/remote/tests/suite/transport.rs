//! Transports against a loopback upstream: Direct, and Socks5 through the test's own SOCKS5
//! server (which records exactly what our client sends).

use std::net::{Ipv4Addr, SocketAddr};

use sov_remote::{Direct, Error, Socks5, StreamIsolation, Transport};

use super::harness::{FakeSocks, SocksMode, Upstream, get, post, test_timeouts};

/// A loopback port with nothing listening on it.
fn closed_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn direct_sends_and_streams() {
    let up = Upstream::start().await;
    let direct = Direct::insecure_dev_with_timeouts(test_timeouts()).unwrap();
    assert_eq!(direct.name(), "direct");

    let response = direct.send(post(&up.url("127.0.0.1", "/echo"), b"ping")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect(1024).await.unwrap();
    assert_eq!(&body[..], b"echo:ping");

    let response = direct.send(get(&up.url("127.0.0.1", "/stream"))).await.unwrap();
    let mut body = response.into_body();
    assert!(body.is_streamed());
    let mut parts = Vec::new();
    while let Some(chunk) = body.next_chunk().await.unwrap() {
        parts.push(String::from_utf8(chunk.to_vec()).unwrap());
    }
    assert_eq!(parts.concat(), "part0;part1;part2;");
    assert!(parts.len() > 1, "the body arrived in one piece: {parts:?}");

    let response = direct.send(get(&up.url("127.0.0.1", "/stream"))).await.unwrap();
    let err = response.into_body().collect(8).await.unwrap_err();
    assert!(matches!(err, Error::BodyTooLarge { limit: 8 }), "{err}");
}

#[tokio::test]
async fn direct_reports_refused_connections_and_bad_urls() {
    let direct = Direct::insecure_dev_with_timeouts(test_timeouts()).unwrap();
    let addr = closed_port();
    let err = direct.send(get(&format!("http://{addr}/x"))).await.unwrap_err();
    assert!(matches!(err, Error::Connect { .. }), "{err}");
    assert!(err.to_string().contains(&addr.to_string()), "{err}");

    for url in ["/relative", "ftp://127.0.0.1/x"] {
        let err = direct.send(get(url)).await.unwrap_err();
        assert!(matches!(err, Error::InvalidRequest(_)), "{url}: {err}");
    }
}

#[tokio::test]
async fn socks5_uses_fresh_credentials_per_request_and_remote_dns() {
    let up = Upstream::start().await;
    let proxy = FakeSocks::start(SocksMode::Relay).await;
    let socks = Socks5::new(proxy.addr).with_timeouts(test_timeouts());
    assert_eq!(socks.isolation(), StreamIsolation::PerRequestCredentials);
    for _ in 0..3 {
        let response = socks.send(post(&up.url("localhost", "/echo"), b"via socks")).await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(&response.into_body().collect(1024).await.unwrap()[..], b"echo:via socks");
    }
    let seen = proxy.seen();
    assert_eq!(seen.len(), 3, "{seen:?}");
    for hello in &seen {
        // Only username/password is offered, so a proxy cannot silently skip isolation.
        assert_eq!(hello.methods, vec![2]);
        // The host name went to the proxy unresolved (address type 3 = domain name).
        assert_eq!((hello.atyp, hello.host.as_str(), hello.port), (3, "localhost", up.port));
        for cred in [&hello.user, &hello.pass] {
            let cred = cred.as_deref().unwrap();
            assert_eq!(cred.len(), 32, "{cred}");
            assert!(cred.bytes().all(|b| b.is_ascii_hexdigit()), "{cred}");
        }
    }
    let mut users: Vec<_> = seen.iter().map(|h| h.user.clone()).collect();
    let mut passes: Vec<_> = seen.iter().map(|h| h.pass.clone()).collect();
    users.dedup();
    passes.dedup();
    assert_eq!((users.len(), passes.len()), (3, 3), "credentials repeated: {seen:?}");
    // Each request came over its own connection.
    let peers = up.peers();
    assert_eq!(peers.len(), 3);
    let mut ports: Vec<_> = peers.iter().map(SocketAddr::port).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 3, "a connection was reused: {peers:?}");
}

#[tokio::test]
async fn socks5_without_isolation_offers_no_authentication() {
    let up = Upstream::start().await;
    let proxy = FakeSocks::start(SocksMode::Relay).await;
    let socks = Socks5::new(proxy.addr).with_isolation(StreamIsolation::Off).with_timeouts(test_timeouts());
    let response = socks.send(post(&up.url("localhost", "/echo"), b"x")).await.unwrap();
    assert_eq!(response.status(), 200);
    let seen = proxy.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].methods, vec![0]);
    assert_eq!(seen[0].user, None);
}

#[tokio::test]
async fn socks5_with_the_proxy_down_fails_closed() {
    let up = Upstream::start().await;
    let proxy = closed_port();
    let socks = Socks5::new(proxy).with_timeouts(test_timeouts());
    // The upstream is reachable directly; the transport must still refuse.
    let err = socks.send(post(&up.url("127.0.0.1", "/echo"), b"secret")).await.unwrap_err();
    assert!(matches!(err, Error::ProxyUnreachable { proxy: p, .. } if p == proxy), "{err}");
    let message = err.to_string();
    assert!(message.contains(&proxy.to_string()), "{message}");
    assert!(message.contains("never sent without the proxy"), "{message}");
    assert!(up.peers().is_empty(), "something reached the upstream");
}

#[tokio::test]
async fn socks5_reports_a_proxy_that_cannot_reach_the_provider() {
    let up = Upstream::start().await;
    let proxy = FakeSocks::start(SocksMode::Refuse).await;
    let socks = Socks5::new(proxy.addr).with_timeouts(test_timeouts());
    let err = socks.send(post(&up.url("localhost", "/echo"), b"x")).await.unwrap_err();
    assert!(matches!(err, Error::ProxyConnect { .. }), "{err}");
    let message = err.to_string();
    assert!(message.contains(&proxy.addr.to_string()), "{message}");
    assert!(message.contains(&format!("localhost:{}", up.port)), "{message}");
    assert!(up.peers().is_empty());
}

#[tokio::test]
async fn transports_work_as_trait_objects() {
    let up = Upstream::start().await;
    let proxy = FakeSocks::start(SocksMode::Relay).await;
    let transports: Vec<Box<dyn Transport>> = vec![
        Box::new(Direct::insecure_dev_with_timeouts(test_timeouts()).unwrap()),
        Box::new(Socks5::new(proxy.addr).with_timeouts(test_timeouts())),
    ];
    for t in &transports {
        assert!(t.streams_responses());
        let response = t.send(post(&up.url("localhost", "/echo"), b"dyn")).await.unwrap();
        assert_eq!(&response.into_body().collect(64).await.unwrap()[..], b"echo:dyn");
    }
}

/// Collects log output in memory.
#[derive(Clone, Default)]
struct LogBuffer(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn logs_of(f: impl FnOnce()) -> String {
    let buffer = LogBuffer::default();
    let writer = buffer.clone();
    let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
    tracing::subscriber::with_default(subscriber, f);
    String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap()
}

#[test]
fn direct_warns_loudly_that_it_reveals_the_ip() {
    let logs = logs_of(|| {
        Direct::insecure_dev().unwrap();
    });
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("FOR DEVELOPMENT ONLY"), "{logs}");
    assert!(logs.contains("IP address"), "{logs}");
}

#[test]
fn turning_isolation_off_warns_and_socks5_alone_does_not() {
    let proxy = closed_port();
    let quiet = logs_of(|| {
        Socks5::new(proxy);
    });
    assert_eq!(quiet, "");
    let logs = logs_of(|| {
        let _ = Socks5::new(proxy).with_isolation(StreamIsolation::Off);
    });
    assert!(logs.contains("WARN") && logs.contains("isolation is off"), "{logs}");
}
