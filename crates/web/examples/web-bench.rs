//! `bench/web.sh`: web search and pages on a private Tor network (see `sov-tor-testnet`), inside
//! a network namespace the script makes, in one run:
//!
//! - query latency of `Web::search` against a SearXNG-shaped engine behind the exit: a fresh
//!   circuit per query (Sovereign's way, paced 200 ms and back to back), one reused circuit (the
//!   same GET on one isolated stream: linkable, the baseline), and direct;
//! - fetch throughput of a 1 MB page by `Web::fetch`, through Tor and direct;
//! - text extraction speed (MB/s) of HTML to readable text, `sov_web::text::readable` against
//!   Python's trafilatura and html2text on the same pages (the ZIM archive's articles, `PAGES`).
//!
//! Prints medians and ratios. Run by `bench/web.sh`, not by hand.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use sov_core::config::Config;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const SERVER: Ipv4Addr = Ipv4Addr::new(10, 99, 0, 1);

async fn serve(listener: tokio::net::TcpListener, page: std::sync::Arc<Vec<u8>>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else { continue };
        let page = page.clone();
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
            let (content_type, body) = if head.starts_with(b"GET /page") {
                ("text/html", page.to_vec())
            } else {
                let results: Vec<_> = (0..10)
                    .map(|i| serde_json::json!({"url": format!("https://r{i}.example/"), "title": format!("Result {i}"), "content": "A snippet of the page.", "engine": "bing"}))
                    .collect();
                ("application/json", serde_json::json!({"query": "q", "results": results}).to_string().into_bytes())
            };
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes()).await;
            let _ = conn.write_all(&body).await;
        });
    }
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The search GET on one isolated arti stream, to the end of the answer.
async fn raw_search(tor: &sov_net::Tor, port: u16, token: arti_client::IsolationToken) -> Duration {
    let start = Instant::now();
    let host = SERVER.to_string();
    let mut stream = tor.connect_isolated(&host, port, token).await.unwrap().stream;
    let request =
        format!("GET /search?q=onion+routing&format=json HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.unwrap();
    stream.flush().await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    start.elapsed()
}

fn extraction(pages: &[(String, String)]) {
    let bytes: usize = pages.iter().map(|(_, html)| html.len()).sum();
    println!("\ntext extraction, {} pages, {:.2} MB of HTML (best of 5 passes):", pages.len(), bytes as f64 / 1e6);
    let mut best = Duration::MAX;
    let mut chars = 0;
    for _ in 0..5 {
        let start = Instant::now();
        chars = pages.iter().map(|(_, html)| sov_web::text::readable(html, None).text.chars().count()).sum();
        best = best.min(start.elapsed());
    }
    let ours = bytes as f64 / 1e6 / best.as_secs_f64();
    println!("  sov-web readable       {ours:>8.2} MB/s   ({chars} characters of text)");
    let dir = std::env::var("PAGES").unwrap();
    let python = std::env::var("BENCH_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = r#"
import os, sys, time
import trafilatura, html2text
d = sys.argv[1]
pages = [open(os.path.join(d, f), encoding="utf-8", errors="replace").read() for f in sorted(os.listdir(d)) if f.endswith(".html")]
size = sum(len(p.encode()) for p in pages)
for name, fn in [("trafilatura", lambda h: trafilatura.extract(h, include_links=True) or ""), ("html2text", lambda h: html2text.html2text(h))]:
    best = 1e9
    for _ in range(5):
        t = time.perf_counter(); n = sum(len(fn(p)) for p in pages); best = min(best, time.perf_counter() - t)
    print(f"{name} {size / 1e6 / best:.4f} {n}")
"#;
    let out = std::process::Command::new(&python).args(["-c", script, &dir]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let rate: f64 = parts[1].parse().unwrap();
        println!(
            "  {:<22} {rate:>8.2} MB/s   ({} characters of text)   sov-web / it = {:.1}x",
            parts[0],
            parts[2],
            ours / rate
        );
    }
}

fn main() {
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(20);
    let dir = std::env::var("PAGES").expect("PAGES: a directory of HTML pages (bench/web.sh dumps the ZIM archive)");
    let mut pages: Vec<(String, String)> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "html"))
        .map(|e| {
            (e.path().display().to_string(), String::from_utf8_lossy(&std::fs::read(e.path()).unwrap()).into_owned())
        })
        .collect();
    pages.sort();
    extraction(&pages);

    // A 1 MB page: the archive's articles one after another.
    let mut big = String::from("<html><head><title>Big</title></head><body><main>");
    while big.len() < 1_000_000 {
        for (_, html) in &pages {
            big.push_str(html.split("<body").nth(1).and_then(|b| b.split_once('>')).map_or("", |(_, rest)| rest));
        }
    }
    big.push_str("</main></body></html>");
    let page = std::sync::Arc::new(big.into_bytes());

    sov_tor_testnet::add_lo_address(SERVER).expect("run by bench/web.sh, inside its network namespace");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind((SERVER, 0)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        tokio::spawn(serve(listener, page.clone()));
        let scratch = tempfile::tempdir().unwrap();
        let started = Instant::now();
        let testnet = sov_tor_testnet::TestNet::start(sov_tor_testnet::Options::default()).unwrap();
        println!("\nprivate network ready in {:.1} s", started.elapsed().as_secs_f64());
        let arti = sov_tor_testnet::arti_toml(&testnet);
        let make = |web: &str, dir: &str| {
            let text = format!(
                "[net]\nweb = \"{web}\"\ntor_dir = \"{}\"\n[web]\nallow = [\"{SERVER}\"]\nmax_bytes = 4194304\nengines = [{{ kind = \"searxng\", url = \"http://{SERVER}:{port}\" }}]\n",
                scratch.path().join(dir).display()
            );
            let mut config = Config::parse(&text, &scratch.path().join("config.toml"), Some(scratch.path())).unwrap();
            config.net.arti = toml::from_str(&arti).unwrap();
            let net = sov_net::Net::new(&config.net, scratch.path()).unwrap();
            (sov_web::Web::new(&config, net.http(sov_net::Class::Web)).unwrap(), net)
        };
        let (by_tor, tor_net) = make("tor", "arti");
        let (direct, _) = make("direct-insecure-dev", "unused");
        let tor = tor_net.tor().unwrap();
        tor.ready().await.unwrap();

        println!("\nquery latency, Web::search, {rounds} queries each, median:");
        by_tor.search("warm up").await.unwrap();
        let mut fresh_paced = Vec::new();
        for _ in 0..rounds {
            tokio::time::sleep(Duration::from_millis(200)).await;
            let t = Instant::now();
            let s = by_tor.search("onion routing").await.unwrap();
            assert_eq!(s.results.len(), 10, "{:?}", s.engines);
            fresh_paced.push(t.elapsed());
        }
        let mut fresh_back = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            by_tor.search("onion routing").await.unwrap();
            fresh_back.push(t.elapsed());
        }
        let token = arti_client::IsolationToken::new();
        raw_search(&tor, port, token).await;
        let mut reused = Vec::new();
        for _ in 0..rounds {
            reused.push(raw_search(&tor, port, token).await);
        }
        direct.search("warm up").await.unwrap();
        let mut by_direct = Vec::new();
        for _ in 0..rounds {
            let t = Instant::now();
            direct.search("onion routing").await.unwrap();
            by_direct.push(t.elapsed());
        }
        let (paced, back, reused, by_direct) = (median(fresh_paced), median(fresh_back), median(reused), median(by_direct));
        println!("  Tor, a fresh circuit per query, paced 200 ms  {:>8.2} ms", ms(paced));
        println!("  Tor, a fresh circuit per query, back to back  {:>8.2} ms", ms(back));
        println!("  Tor, one reused circuit (linkable; raw GET)   {:>8.2} ms", ms(reused));
        println!("  direct                                         {:>8.2} ms", ms(by_direct));
        println!("  fresh paced / reused = {:.2}x, fresh back to back / reused = {:.2}x, reused / direct = {:.1}x", paced.as_secs_f64() / reused.as_secs_f64(), back.as_secs_f64() / reused.as_secs_f64(), reused.as_secs_f64() / by_direct.as_secs_f64());
        println!("  {} streams opened by arti, {} of them on a spare circuit", tor.streams_opened(), tor.spares_used());

        println!("\nfetch throughput, Web::fetch of a {:.2} MB page (HTML to text included), best of 5:", page.len() as f64 / 1e6);
        let url = format!("http://{SERVER}:{port}/page");
        let mut rates = Vec::new();
        for (name, web) in [("Tor", &by_tor), ("direct", &direct)] {
            let mut best = Duration::MAX;
            for _ in 0..5 {
                let t = Instant::now();
                let p = web.fetch(&url).await.unwrap();
                assert!(!p.truncated && p.bytes == page.len(), "{} of {}", p.bytes, page.len());
                best = best.min(t.elapsed());
            }
            let rate = page.len() as f64 / 1e6 / best.as_secs_f64();
            println!("  {name:<8} {rate:>8.2} MB/s  ({:.0} ms)", ms(best));
            rates.push(rate);
        }
        println!("  Tor / direct = {:.2}x", rates[0] / rates[1]);
    });
}
