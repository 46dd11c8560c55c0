//! A search end to end on the private Tor network of Debian's `tor` (see `sov-tor-testnet`),
//! inside a network namespace with only `lo`: the agent's `web_search` tool → the Tool API → the
//! gate → sov-web → arti → two engines, a SearXNG-shaped one as an onion service and a
//! MediaWiki-shaped one "off the machine" behind the exit → ranked results back in the agent.
//!
//! What the engines see is the point: each query arrives on a circuit of its own (the onion
//! service tells its engine the rendezvous circuit of every connection, by
//! `HiddenServiceExportCircuitID`), nothing arrives but through Tor, and the user's name and
//! e-mail address never arrive at all.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeSet;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sov_gate::Side;
use sov_tor_testnet::{ExitOnlyRelay, Options, TestNet};

mod support;

/// Stands for an address off this machine (an extra address on the namespace's `lo`).
const OFF_MACHINE: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

/// What an engine was asked: the circuit the onion service named (if it names one) and the query.
type Asked = Arc<Mutex<Vec<(Option<u32>, String)>>>;

/// A loopback engine answering `answer(query)` as JSON; a leading PROXY line (from the onion
/// service) is read for its circuit id.
async fn engine(answer: fn(&str) -> serde_json::Value) -> (std::net::SocketAddr, Asked) {
    let asked: Asked = Arc::default();
    let log = asked.clone();
    let base = support::serve(move |head| {
        let (circuit, request) = match head.split_once("\r\n") {
            Some((first, rest)) if first.starts_with("PROXY ") => {
                (Some(sov_tor_testnet::circuit_of_proxy_line(first).expect("a circuit id")), rest)
            }
            _ => (None, head),
        };
        let path = support::path_of(request);
        let query = [support::param(path, "q"), support::param(path, "srsearch")].concat();
        log.lock().unwrap().push((circuit, query.clone()));
        (200, "application/json".into(), answer(&query).to_string().into_bytes())
    })
    .await;
    (base.trim_start_matches("http://").parse().unwrap(), asked)
}

fn searxng(query: &str) -> serde_json::Value {
    serde_json::json!({"query": query, "results": [
        {"url": "https://onion-engine.example/a", "title": "Onion engine result", "content": "From the onion service", "engine": "x"},
    ]})
}

fn mediawiki(_: &str) -> serde_json::Value {
    serde_json::json!({"query": {"search": [{"title": "Exit engine result", "snippet": "From <b>behind</b> the exit"}]}})
}

fn queries(asked: &Asked) -> Vec<(Option<u32>, String)> {
    asked.lock().unwrap().clone()
}

#[test]
fn the_agents_searches_reach_an_onion_engine_and_one_behind_the_exit_each_on_a_fresh_circuit() {
    if !sov_tor_testnet::in_private_netns(
        "the_agents_searches_reach_an_onion_engine_and_one_behind_the_exit_each_on_a_fresh_circuit",
    ) {
        return;
    }
    sov_tor_testnet::add_lo_address(OFF_MACHINE).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let (onion_engine, onion_asked) = engine(searxng).await;
        let (exit_engine, exit_asked) = engine(mediawiki).await;
        // The MediaWiki engine "off the machine": reachable only from the exit.
        let behind_exit = ExitOnlyRelay::start(OFF_MACHINE, Ipv4Addr::new(127, 0, 0, 2), exit_engine).unwrap();

        let t0 = Instant::now();
        let tor = TestNet::start(Options { onion_target: Some(onion_engine), export_circuit_id: true, ..Options::default() })
            .unwrap();
        eprintln!("private network up in {:.1} s", t0.elapsed().as_secs_f64());
        let onion = tor.onion_address().unwrap().to_owned();

        let text = format!(
            "[sanitize]\nnames = [\"Alice Liddell\"]\n\
             [web]\nallow = [\"{OFF_MACHINE}\"]\n\
             engines = [{{ kind = \"searxng\", url = \"http://{onion}/\" }}, {{ kind = \"wikipedia\", url = \"http://{}/\" }}]\n",
            behind_exit.addr()
        );
        let mut config =
            sov_core::config::Config::parse(&text, &dir.path().join("config.toml"), Some(dir.path())).unwrap();
        config.net.web = sov_core::config::Transport::Tor;
        config.net.arti = toml::from_str(&sov_tor_testnet::arti_toml(&tor)).unwrap();
        config.net.tor_dir = dir.path().join("arti");
        config.net.bootstrap_timeout_secs = 120;
        let net = sov_net::Net::new(&config.net, dir.path()).unwrap();
        let web = Arc::new(sov_web::Web::new(&config, net.http(sov_net::Class::Web)).unwrap());

        // arti learns the onion service's descriptor a consensus or two after C-tor, and on a
        // loaded machine it may not yet know the exit's policy ("rejected 6/6 as not exiting to
        // desired ports"): until then that engine is reported as failed and the other one answers
        // (one engine failing is never fatal). Wait, within a bound, until both answer.
        let t0 = Instant::now();
        loop {
            let found = web.search("warming up").await.unwrap();
            let onion_report = found.engines.iter().find(|e| e.engine == "searxng").unwrap();
            let exit_report = found.engines.iter().find(|e| e.engine == "wikipedia").unwrap();
            match (&onion_report.error, &exit_report.error) {
                (None, None) => break,
                (onion, exit) if t0.elapsed() < Duration::from_secs(120) => {
                    eprintln!("{:.0} s: onion engine {onion:?}, exit engine {exit:?}", t0.elapsed().as_secs_f64());
                    tokio::time::sleep(Duration::from_secs(5)).await;
                }
                _ => panic!("both engines never answered within 120 s: {found:?}"),
            }
        }
        eprintln!("both engines answer after {:.1} s", t0.elapsed().as_secs_f64());
        let (onion_before, exit_before) = (queries(&onion_asked).len(), queries(&exit_asked).len());
        let relayed_before = behind_exit.relayed();

        // The gate, its workers, the Tool API, and the agent's web_search tool.
        let (gate, _workers, tool) = support::tool_api(dir.path(), web).await;
        let session = gate.create_session(Side::Open, "test").unwrap().token;
        let api = sov_agent::services::ToolApi::new(&tool, Some(session));
        let search = sov_agent::services::web::tools(&api)[0].clone();

        const N: usize = 3;
        for i in 0..N {
            let search = search.clone();
            let arguments =
                serde_json::json!({"query": format!("Alice Liddell alice@wonderland.example question {i}")}).to_string();
            let framed = tokio::task::spawn_blocking(move || search.run(&arguments)).await.unwrap().unwrap();
            assert!(framed.starts_with("<<<WEB CONTENT source=web.search"), "{framed}");
            assert!(framed.contains("Onion engine result") && framed.contains("Exit engine result"), "{framed}");
        }

        // Each engine got the N queries, sanitised, and the onion engine saw N circuits.
        let onion_got: Vec<_> = queries(&onion_asked)[onion_before..].to_vec();
        let exit_got: Vec<_> = queries(&exit_asked)[exit_before..].to_vec();
        let expected: Vec<String> = (0..N).map(|i| format!("[PERSON_1] [EMAIL_1] question {i}")).collect();
        for got in [&onion_got, &exit_got] {
            let mut asked: Vec<String> = got.iter().map(|(_, q)| q.clone()).collect();
            asked.sort();
            assert_eq!(asked, expected, "the name and address never left");
        }
        let circuits: BTreeSet<u32> = onion_got.iter().map(|(c, _)| c.expect("the onion service names it")).collect();
        eprintln!("the onion engine's circuits, one per query: {onion_got:?}");
        assert_eq!(circuits.len(), N, "one circuit per query: {onion_got:?}");
        let all_circuits: BTreeSet<u32> = queries(&onion_asked).iter().filter_map(|(c, _)| *c).collect();
        assert_eq!(all_circuits.len(), queries(&onion_asked).len(), "no circuit was ever reused: {onion_asked:?}");
        assert_eq!(behind_exit.relayed() - relayed_before, N, "each query behind the exit on a connection of its own");
        assert_eq!(behind_exit.direct_connections(), 0, "nothing reached the exit engine but through Tor");
        assert!(exit_got.iter().all(|(c, _)| c.is_none()));
    });
}
