//! Every connection to anything that is not loopback goes through `sov-net`: no other crate's
//! code builds an HTTP client or opens a socket, except the places listed here, each with the
//! reason it cannot reach off the machine or is allowed to (mail servers the user configured
//! keep their direct TLS; they already know the user). A new such place fails this test until
//! it goes through `sov-net` or is listed with its reason; a listed place that no longer opens
//! anything fails it too, so the list stays true.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What opens a socket or builds an HTTP client.
const OPENERS: &[&str] = &[
    "reqwest::Client",
    "reqwest::ClientBuilder",
    "ureq::Agent",
    "ureq::get(",
    "ureq::post(",
    "TcpStream::connect",
    "UdpSocket::bind",
    "connect_http(",
    "SmtpTransport",
    "TlsConnector",
    "ToSocketAddrs",
    "lookup_host(",
];

/// Files outside `crates/net` allowed to open connections, and why.
const ALLOWED: &[(&str, &str)] = &[
    ("crates/agent/src/client.rs", "the agent's client of `sov serve` on loopback (or the sandbox's relay to it)"),
    ("crates/agent/src/services/messages.rs", "the agent's client of the Tool API on loopback"),
    ("crates/agent/src/services/remote.rs", "the agent's client of `sov serve` on loopback"),
    ("crates/sov/src/llm.rs", "`sov ask`/`sov chat` talk to `sov serve` on loopback"),
    ("crates/sov/src/agent.rs", "probes whether `sov serve` listens on 127.0.0.1"),
    ("crates/sandbox/src/relay.rs", "relays a sandbox's granted port to 127.0.0.1 / ::1 only"),
    ("crates/escape-probe/src/main.rs", "the escape suite's probe, run inside the sandbox against 127.0.0.1"),
    ("crates/sanitize/src/finder.rs", "the sanitiser's local model, served by `sov serve` on loopback"),
    ("crates/msg/src/email.rs", "mail servers the user configured: direct TLS, they already know the user"),
    ("crates/msg/src/signal.rs", "the user's signal-cli daemon (its HTTP API, normally on loopback)"),
    ("crates/remote/src/gateway.rs", "the provider's side: forwards opened requests to its local model server"),
    ("crates/zkapi/src/provider.rs", "the provider's side: forwards paid requests to its upstream"),
    (
        "crates/remote/src/transport/mod.rs",
        "sov-remote's reqwest transports, kept for its own tests and bench; the product's transport is sov-net's (sov-private)",
    ),
    ("crates/remote/src/transport/direct.rs", "as transport/mod.rs"),
    ("crates/remote/src/transport/socks5.rs", "as transport/mod.rs"),
    ("crates/remote/src/testing.rs", "test harness (feature `testing`): waits for its own danted on loopback"),
    ("crates/chain/src/testing.rs", "test harness (feature `testing`): its own anvil on loopback"),
    ("crates/tor-testnet/src/lib.rs", "test harness: its own private Tor network on loopback in a namespace"),
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn only_sov_net_and_the_listed_loopback_or_mail_code_open_connections() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found the sources ({} files)", files.len());

    let mut found: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for file in &files {
        let rel = file.strip_prefix(&root).unwrap().to_string_lossy().into_owned();
        if rel.starts_with("crates/net/") {
            continue;
        }
        let text = std::fs::read_to_string(file).unwrap();
        for (n, line) in text.lines().enumerate() {
            if line.trim_start().starts_with("//") {
                continue;
            }
            for opener in OPENERS {
                if line.contains(opener) {
                    found.entry(rel.clone()).or_default().push(format!("{}: {}", n + 1, line.trim()));
                }
            }
        }
    }

    let allowed: BTreeMap<&str, &str> = ALLOWED.iter().copied().collect();
    let unlisted: Vec<String> = found
        .iter()
        .filter(|(file, _)| !allowed.contains_key(file.as_str()))
        .map(|(file, lines)| format!("{file}:\n  {}", lines.join("\n  ")))
        .collect();
    assert!(
        unlisted.is_empty(),
        "these open connections outside sov-net; use `sov_net::Net::http` (or list them here with the reason they \
         cannot leave the machine):\n{}",
        unlisted.join("\n")
    );
    let stale: Vec<&str> = allowed.keys().copied().filter(|file| !found.contains_key(*file)).collect();
    assert!(stale.is_empty(), "listed but no longer opening anything; remove them from ALLOWED: {stale:?}");
}
