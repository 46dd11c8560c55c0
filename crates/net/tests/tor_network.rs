//! The outbound policy on a private Tor network of Debian's `tor` (three authorities, relays,
//! one exit, an onion service, a C-tor client), all inside a network namespace this test makes
//! with only `lo`: nothing can leave the machine. The destination "off the machine" is a server
//! on 10.99.0.1 (an extra address on `lo`, so the policy does not take it for loopback) that
//! answers only connections from the exit and counts every other one as direct.
//!
//! The network starts once; the cases run in order on it, the destructive ones (onion service
//! down, exit gone) last.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sov_core::config::{NetConfig, Transport};
use sov_net::{Class, Net};
use sov_tor_testnet::{ExitOnlyServer, Options, TestNet};

const OFF_MACHINE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// `[net.arti]` for the private network: its authorities and caches, local addresses allowed,
/// no same-subnet rule (every relay is on 127.0.0.1).
fn arti_for(net: &TestNet) -> toml::Table {
    toml::from_str(&sov_tor_testnet::arti_toml(net)).unwrap()
}

fn net_with(arti: toml::Table, web: Transport, socks: &str, dir: &std::path::Path, timeout: u64) -> Arc<Net> {
    let config = NetConfig {
        web,
        socks: socks.to_owned(),
        bootstrap_timeout_secs: timeout,
        tor_dir: dir.to_owned(),
        arti,
        ..NetConfig::default()
    };
    Net::new(&config, dir).unwrap()
}

async fn get(http: &sov_net::Http, url: &str) -> Result<(u16, String, Option<String>), sov_net::Error> {
    let request = http::Request::get(url).body(Bytes::new()).unwrap();
    let (response, circuit) = http.send_traced(request).await?;
    let status = response.status().as_u16();
    let body = response.into_body().collect(1 << 20).await?;
    Ok((status, String::from_utf8_lossy(&body).trim_end().to_owned(), circuit))
}

#[test]
fn the_policy_reaches_the_world_only_through_tor_on_a_private_network() {
    if !sov_tor_testnet::in_private_netns("the_policy_reaches_the_world_only_through_tor_on_a_private_network") {
        return;
    }
    sov_tor_testnet::add_lo_address(OFF_MACHINE).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let scratch = tempfile::tempdir().unwrap();

        // 1. Tor cannot bootstrap (its authorities do not answer yet): the request waits, then
        //    fails with a message, and nothing reaches the destination by any route.
        let server = ExitOnlyServer::start_on(OFF_MACHINE, Ipv4Addr::new(127, 0, 0, 2)).unwrap();
        let target = format!("http://{}", server.addr());
        let unreachable: toml::Table = toml::from_str(&format!(
            "[tor_network.authorities]\nv3idents = [\"{}\"]\n[[tor_network.fallback_caches]]\n\
             rsa_identity = \"{}\"\ned_identity = \"{}\"\norports = [\"127.0.0.1:9\"]\n\
             [storage.permissions]\ndangerously_trust_everyone = true\n",
            "A".repeat(40),
            "B".repeat(40),
            "A".repeat(43),
        ))
        .unwrap();
        let lonely = net_with(unreachable, Transport::Tor, "127.0.0.1:9", &scratch.path().join("lonely"), 3);
        let started = Instant::now();
        let err = get(&lonely.http(Class::Web), &format!("{target}/never")).await.unwrap_err();
        assert!(matches!(err, sov_net::Error::TorNotReady { .. }), "{err}");
        assert!(err.to_string().contains("nothing was sent"), "{err}");
        assert!(started.elapsed() >= Duration::from_secs(3), "it waited for the bootstrap first");
        // The SOCKS5 route with no proxy listening fails closed the same way.
        let no_proxy = net_with(toml::Table::new(), Transport::Socks5, "127.0.0.1:9", &scratch.path().join("np"), 3);
        let err = get(&no_proxy.http(Class::Web), &format!("{target}/never")).await.unwrap_err();
        assert!(matches!(err, sov_net::Error::ProxyUnreachable { .. }), "{err}");
        assert_eq!(server.served(), vec![]);
        assert_eq!(server.direct_connections(), 0);

        // The network, with an onion service in front of the same server.
        let t0 = Instant::now();
        let mut tor = TestNet::start(Options { onion_target: Some(server.addr()), ..Options::default() }).unwrap();
        eprintln!("private network up in {:.1} s: {:?}", t0.elapsed().as_secs_f64(), tor.start_timings());
        let onion = format!("http://{}", tor.onion_address().unwrap());

        // 2. arti in process: through the exit, and to the onion service.
        let net = net_with(arti_for(&tor), Transport::Tor, "127.0.0.1:9", &scratch.path().join("arti"), 120);
        let web = net.http(Class::Web);
        let t0 = Instant::now();
        let (status, body, first_circuit) = get(&web, &format!("{target}/arti-0")).await.unwrap();
        eprintln!("arti bootstrapped and fetched in {:.1} s", t0.elapsed().as_secs_f64());
        assert_eq!((status, body.as_str()), (200, "hello from /arti-0"));

        // 3. N requests, N circuits: each request has an isolation token of its own.
        let mut circuits = vec![first_circuit.expect("arti names the circuit")];
        for i in 1..4 {
            let (status, _, circuit) = get(&web, &format!("{target}/arti-{i}")).await.unwrap();
            assert_eq!(status, 200);
            circuits.push(circuit.unwrap());
        }
        let distinct: std::collections::BTreeSet<_> = circuits.iter().collect();
        assert_eq!(distinct.len(), circuits.len(), "one circuit per request: {circuits:?}");

        //    Spare circuits, built ahead for the port just used: each is taken by one request,
        //    and still no two requests share a circuit.
        let arti = net.tor().unwrap();
        let port = server.addr().port();
        let t0 = Instant::now();
        while arti.spares_ready(port) < 2 {
            assert!(t0.elapsed() < Duration::from_secs(60), "no spare circuits were built for port {port}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let used = arti.spares_used();
        for i in 0..2 {
            let (status, body, circuit) = get(&web, &format!("{target}/spare-{i}")).await.unwrap();
            assert_eq!((status, body), (200, format!("hello from /spare-{i}")));
            circuits.push(circuit.unwrap());
        }
        assert_eq!(arti.spares_used() - used, 2, "both requests took a spare");
        let distinct: std::collections::BTreeSet<_> = circuits.iter().collect();
        assert_eq!(distinct.len(), circuits.len(), "a spare is a circuit of its own: {circuits:?}");

        // The descriptor may reach the directories arti asks a consensus or two after C-tor's.
        let t0 = Instant::now();
        let (status, body, _) = loop {
            match get(&web, &format!("{onion}/arti-onion")).await {
                Ok(answer) => break answer,
                Err(e) if t0.elapsed() < Duration::from_secs(90) => {
                    eprintln!("onion by arti, {:.0} s: {e}", t0.elapsed().as_secs_f64());
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                Err(e) => panic!("{e}"),
            }
        };
        eprintln!("arti reached the onion service in {:.1} s", t0.elapsed().as_secs_f64());
        assert_eq!((status, body.as_str()), (200, "hello from /arti-onion"));

        // 4. The C-tor client by SOCKS5 (fresh credentials per request): the same, and its
        //    streams each on their own circuit too.
        let socks = net_with(
            toml::Table::new(),
            Transport::Socks5,
            &tor.client_socks().to_string(),
            &scratch.path().join("s"),
            120,
        );
        let by_socks = socks.http(Class::Web);
        let before = tor.client_stream_circuits().len();
        for i in 0..3 {
            let (status, body, _) = get(&by_socks, &format!("{target}/socks-{i}")).await.unwrap();
            assert_eq!((status, body), (200, format!("hello from /socks-{i}")));
        }
        let socks_circuits: Vec<String> = tor.client_stream_circuits()[before..].to_vec();
        let distinct: std::collections::BTreeSet<_> = socks_circuits.iter().collect();
        assert_eq!(distinct.len(), 3, "one circuit per SOCKS5 request: {socks_circuits:?}");
        let (status, body, _) = get(&by_socks, &format!("{onion}/socks-onion")).await.unwrap();
        assert_eq!((status, body.as_str()), (200, "hello from /socks-onion"));

        let served: Vec<String> = server.served().into_iter().map(|(_, path)| path).collect();
        assert_eq!(
            served,
            [
                "/arti-0",
                "/arti-1",
                "/arti-2",
                "/arti-3",
                "/spare-0",
                "/spare-1",
                "/arti-onion",
                "/socks-0",
                "/socks-1",
                "/socks-2",
                "/socks-onion"
            ]
        );
        assert_eq!(server.direct_connections(), 0, "nothing reached the destination but through Tor");

        // 5. The onion service gone: a clear error by either route, nothing served.
        tor.stop_onion_service();
        // Let the relays tear down the service's circuits (intro points, rendezvous) first.
        tokio::time::sleep(Duration::from_secs(5)).await;
        let fresh = net_with(arti_for(&tor), Transport::Tor, "127.0.0.1:9", &scratch.path().join("arti"), 120);
        // arti either learns that the service is gone (its introduction points refuse) or gives
        // up connecting: both are an error naming the destination, and nothing is served.
        let patient = fresh
            .http(Class::Web)
            .with_timeouts(sov_net::Timeouts { connect: Duration::from_secs(30), read: Some(Duration::from_secs(30)) });
        let err = get(&patient, &format!("{onion}/gone")).await.unwrap_err();
        assert!(matches!(err, sov_net::Error::Tor { .. } | sov_net::Error::Timeout { .. }), "{err}");
        assert!(err.to_string().contains(".onion"), "the error names the destination: {err}");

        // 6. The exit gone: a clear error by either route, nothing sent directly.
        tor.stop_exit();
        let err = get(&web, &format!("{target}/no-exit")).await.unwrap_err();
        assert!(err.to_string().contains(&OFF_MACHINE.to_string()), "names the destination: {err}");
        let err = get(&by_socks, &format!("{target}/no-exit-socks")).await.unwrap_err();
        assert!(matches!(err, sov_net::Error::Proxy { .. }), "{err}");
        assert_eq!(server.served().len(), 11, "nothing new was served (neither /gone nor /no-exit)");
        assert_eq!(server.direct_connections(), 0, "and nothing arrived directly");
    });
}
