//! End-to-end: a private Tor network inside a fresh network namespace carries SOCKS5 traffic through its
//! exit to a loopback server that refuses direct connections, and to an onion service.

use std::time::{Duration, Instant};

use sov_tor_testnet::{ExitOnlyServer, Options, TestNet, http_get_via_socks5, in_private_netns};

const FETCH_TIMEOUT: Duration = Duration::from_secs(60);

fn body_of(response: &str) -> &str {
    response.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or_default()
}

#[test]
fn a_private_network_carries_socks_traffic_to_an_exit_only_server_and_an_onion_service() -> anyhow::Result<()> {
    if !in_private_netns("a_private_network_carries_socks_traffic_to_an_exit_only_server_and_an_onion_service") {
        return Ok(());
    }
    let t0 = Instant::now();
    let server = ExitOnlyServer::start(std::net::Ipv4Addr::new(127, 0, 0, 2))?;
    let net = TestNet::start(Options { onion_target: Some(server.addr()), ..Options::default() })?;
    let started = t0.elapsed();
    println!("network started and client bootstrapped (onion service reachable) in {started:.1?}");
    for (phase, at) in net.start_timings() {
        println!("  {phase} after {at:.1?}");
    }
    println!("test network dir: {}", net.dir().display());
    assert_eq!(net.exit_address(), std::net::Ipv4Addr::new(127, 0, 0, 2));
    assert_eq!(net.authorities().len(), 3);
    assert_eq!(net.relays().len(), 3 + 2 + 1);
    assert_eq!(net.relays().iter().filter(|r| r.is_exit).count(), 1);
    for a in net.authorities() {
        assert_eq!(a.v3ident.len(), 40, "{a:?}");
        assert_eq!(a.rsa_identity.len(), 40, "{a:?}");
        assert_eq!(a.ed25519_identity.len(), 43, "{a:?}");
    }
    let bootstrap = net.control("GETINFO status/bootstrap-phase")?;
    assert!(bootstrap.contains("PROGRESS=100"), "{bootstrap}");

    let port = server.addr().port();
    let socks = net.client_socks();

    // Clearnet through the exit.
    let t = Instant::now();
    let before = net.client_stream_circuits().len();
    let response = http_get_via_socks5(socks, "127.0.0.1", port, "/x", Some(("alice", "a")), FETCH_TIMEOUT)?;
    println!("first clearnet fetch took {:.1?}", t.elapsed());
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(body_of(&response), "hello from /x\n");
    assert_eq!(server.served(), vec![("GET".to_owned(), "/x".to_owned())]);
    assert_eq!(server.direct_connections(), 0);
    let after_alice = net.client_stream_circuits();
    assert_eq!(after_alice.len(), before + 1, "{after_alice:?}");

    // A second clearnet fetch with other SOCKS credentials gets another circuit (IsolateSOCKSAuth).
    let t = Instant::now();
    let response = http_get_via_socks5(socks, "127.0.0.1", port, "/x2", Some(("bob", "b")), FETCH_TIMEOUT)?;
    println!("second clearnet fetch (other credentials) took {:.1?}", t.elapsed());
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let after_bob = net.client_stream_circuits();
    assert_eq!(after_bob.len(), after_alice.len() + 1, "{after_bob:?}");
    assert_ne!(after_alice.last(), after_bob.last(), "different SOCKS credentials shared a circuit: {after_bob:?}");

    // The onion service.
    let onion = net.onion_address().map(str::to_owned);
    let Some(onion) = onion else { anyhow::bail!("no onion address") };
    assert_eq!(onion.len(), 56 + ".onion".len(), "{onion}");
    let t = Instant::now();
    let response = http_get_via_socks5(socks, &onion, 80, "/y", Some(("carol", "c")), FETCH_TIMEOUT)?;
    println!("onion fetch took {:.1?}", t.elapsed());
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert_eq!(body_of(&response), "hello from /y\n");
    assert_eq!(server.served().last(), Some(&("GET".to_owned(), "/y".to_owned())));
    assert_eq!(server.direct_connections(), 0);

    // Without the exit, clearnet fetches fail and nothing reaches the server.
    let mut net = net;
    net.stop_exit();
    let served_before = server.served().len();
    let t = Instant::now();
    let result = http_get_via_socks5(socks, "127.0.0.1", port, "/z", Some(("dave", "d")), Duration::from_secs(30));
    println!(
        "clearnet fetch without exit failed after {:.1?}: {}",
        t.elapsed(),
        result.as_ref().err().map(|e| format!("{e:#}")).unwrap_or_default()
    );
    assert!(result.as_ref().map(|r| !r.starts_with("HTTP/1.1 200")).unwrap_or(true), "{result:?}");
    assert_eq!(server.served().len(), served_before);
    assert_eq!(server.direct_connections(), 0);

    // A direct connection is refused and counted.
    let mut direct = std::net::TcpStream::connect(server.addr())?;
    std::io::Write::write_all(&mut direct, b"GET /direct HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    std::io::Read::read_to_string(&mut direct, &mut response)?;
    assert!(response.starts_with("HTTP/1.1 403"), "{response}");
    assert_eq!(server.direct_connections(), 1);
    assert_eq!(server.served().len(), served_before);

    net.stop_onion_service();
    drop(net);
    println!("total {:.1?}", t0.elapsed());
    Ok(())
}
