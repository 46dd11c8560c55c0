//! `bench/net.sh`: on a private Tor network (see `sov-tor-testnet`), inside a network namespace
//! the script makes: arti's bootstrap, time to first byte and throughput through arti, through
//! the C-tor client's SOCKS5 and directly, and a fresh circuit per request (built on demand, or a
//! spare built ahead) against a reused one.
//! Prints medians and ratios. Run by `bench/net.sh`, not by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use sov_core::config::{NetConfig, Transport};
use sov_net::{Class, Net};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);
const BIG: usize = 4 << 20;

async fn serve(listener: tokio::net::TcpListener) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let Ok(n) = conn.read(&mut buf).await else { return };
                if n == 0 {
                    return;
                }
                head.extend_from_slice(&buf[..n]);
            }
            let big = head.starts_with(b"GET /big");
            let body = if big { vec![b'x'; BIG] } else { b"ok".to_vec() };
            let reply = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = conn.write_all(reply.as_bytes()).await;
            let _ = conn.write_all(&body).await;
        });
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Time to the answer's head, then to its end.
async fn get(http: &sov_net::Http, url: &str) -> (Duration, Duration, usize) {
    let start = Instant::now();
    let response = http.send(http::Request::get(url).body(Bytes::new()).unwrap()).await.unwrap();
    let first = start.elapsed();
    let body = response.into_body().collect(BIG * 2).await.unwrap();
    (first, start.elapsed(), body.len())
}

/// A raw GET on an arti stream; time to the first byte of the answer.
async fn raw_ttfb(tor: &sov_net::Tor, port: u16, token: Option<arti_client::IsolationToken>) -> Duration {
    let start = Instant::now();
    let host = SERVER.to_string();
    let mut stream = match token {
        Some(token) => tor.connect_isolated(&host, port, token).await.unwrap().stream,
        None => tor.connect(&host, port).await.unwrap().stream,
    };
    stream
        .write_all(format!("GET /small HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .unwrap();
    stream.flush().await.unwrap();
    let mut byte = [0u8; 1];
    stream.read_exact(&mut byte).await.unwrap();
    let first = start.elapsed();
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    first
}

fn arti_config(net: &sov_tor_testnet::TestNet) -> toml::Table {
    toml::from_str(&sov_tor_testnet::arti_toml(net)).unwrap()
}

fn main() {
    sov_tor_testnet::add_lo_address(SERVER).expect("run by bench/net.sh, inside its network namespace");
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((SERVER, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener));
        let scratch = tempfile::tempdir().unwrap();

        let started = Instant::now();
        let testnet = sov_tor_testnet::TestNet::start(sov_tor_testnet::Options::default()).unwrap();
        println!(
            "private network (3 authorities, 2 relays, 1 exit, C-tor client) ready in {:.1} s",
            started.elapsed().as_secs_f64()
        );
        for (phase, at) in testnet.start_timings() {
            println!("  {phase:<24} {:>6.1} s", at.as_secs_f64());
        }

        let make = |web: Transport, dir: &str| {
            let config = NetConfig {
                web,
                socks: testnet.client_socks().to_string(),
                tor_dir: scratch.path().join(dir),
                arti: arti_config(&testnet),
                ..NetConfig::default()
            };
            Net::new(&config, scratch.path()).unwrap()
        };
        let by_arti = make(Transport::Tor, "arti");
        let by_socks = make(Transport::Socks5, "unused");
        let direct = make(Transport::DirectInsecureDev, "unused2");

        let tor = by_arti.tor().unwrap();
        let t0 = Instant::now();
        tor.ready().await.unwrap();
        println!("arti bootstrap (private network's directory): {:.2} s", t0.elapsed().as_secs_f64());

        let small = format!("http://{SERVER}:{port}/small");
        let big = format!("http://{SERVER}:{port}/big");
        println!("\ntime to first byte, {rounds} requests each, median (a fresh connection and circuit per request):");
        let mut ttfb = Vec::new();
        for (name, net) in [("arti (in process)", &by_arti), ("C-tor SOCKS5", &by_socks), ("direct", &direct)] {
            let http = net.http(Class::Web);
            get(&http, &small).await; // warm-up
            let mut times = Vec::new();
            for _ in 0..rounds {
                times.push(get(&http, &small).await.0);
            }
            let m = median(times);
            println!("  {name:<20} {:>8.2} ms", m.as_secs_f64() * 1e3);
            ttfb.push(m);
        }
        println!(
            "  arti / C-tor = {:.2}x   (goal: at most 1.2x)\n  C-tor / direct = {:.1}x",
            ttfb[0].as_secs_f64() / ttfb[1].as_secs_f64(),
            ttfb[1].as_secs_f64() / ttfb[2].as_secs_f64()
        );

        println!("\nthroughput, a {} MiB body, best of 3:", BIG >> 20);
        let mut rates = Vec::new();
        for (name, net) in [("arti (in process)", &by_arti), ("C-tor SOCKS5", &by_socks), ("direct", &direct)] {
            let http = net.http(Class::Web);
            let mut best = Duration::MAX;
            for _ in 0..3 {
                let (_, total, len) = get(&http, &big).await;
                assert_eq!(len, BIG);
                best = best.min(total);
            }
            let rate = BIG as f64 / best.as_secs_f64() / (1 << 20) as f64;
            println!("  {name:<20} {rate:>8.1} MiB/s");
            rates.push(rate);
        }
        println!("  arti / C-tor = {:.2}x", rates[0] / rates[1]);

        println!("\nthe price of unlinkability (arti, raw stream, time to first byte, median of {rounds}):");
        // Built on demand: the same client without spares.
        let on_demand = {
            let config = NetConfig {
                spare_circuits: 0,
                tor_dir: scratch.path().join("arti-on-demand"),
                arti: arti_config(&testnet),
                ..NetConfig::default()
            };
            Net::new(&config, scratch.path()).unwrap()
        };
        let bare = on_demand.tor().unwrap();
        bare.ready().await.unwrap();
        let mut built_then = Vec::new();
        for _ in 0..rounds {
            built_then.push(raw_ttfb(&bare, port, None).await);
        }
        // With spares (the default), back to back and paced (a request every 200 ms, time for the
        // spare behind it to be built).
        raw_ttfb(&tor, port, None).await; // notes the port: spares are built for it
        let used_before = tor.spares_used();
        let mut spare_back_to_back = Vec::new();
        for _ in 0..rounds {
            spare_back_to_back.push(raw_ttfb(&tor, port, None).await);
        }
        let mut spare_paced = Vec::new();
        for _ in 0..rounds {
            tokio::time::sleep(Duration::from_millis(200)).await;
            spare_paced.push(raw_ttfb(&tor, port, None).await);
        }
        let took_spare = tor.spares_used() - used_before;
        let token = arti_client::IsolationToken::new();
        raw_ttfb(&tor, port, Some(token)).await; // builds the shared circuit
        let mut reused = Vec::new();
        for _ in 0..rounds {
            reused.push(raw_ttfb(&tor, port, Some(token)).await);
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (built_then, back, paced, reused) =
            (median(built_then), median(spare_back_to_back), median(spare_paced), median(reused));
        println!("  fresh circuit, built when the request comes   {:>8.2} ms", ms(built_then));
        println!("  fresh circuit, a spare built ahead, back to back {:>6.2} ms", ms(back));
        println!("  fresh circuit, a spare built ahead, paced 200 ms {:>6.2} ms", ms(paced));
        println!("  one reused circuit (linkable)                 {:>8.2} ms", ms(reused));
        println!("  {took_spare} of {} fresh-circuit requests took a spare", 2 * rounds);
        println!("  built on demand / reused = {:.2}x", built_then.as_secs_f64() / reused.as_secs_f64());
        println!("  spare, back to back / reused = {:.2}x", back.as_secs_f64() / reused.as_secs_f64());
        println!(
            "  spare, paced / reused = {:.2}x   (goal: at most 1.5x; Sovereign's default)",
            paced.as_secs_f64() / reused.as_secs_f64()
        );
    });
}
