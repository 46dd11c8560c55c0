//! A local anvil for tests (feature `testing`): started on 127.0.0.1 with a port the kernel
//! picks, killed when dropped. Nothing here reaches beyond the loopback interface.
//!
//! The binary comes from `$SOV_TEST_ANVIL`, else from the npm package
//! `@foundry-rs/anvil-linux-amd64` under `${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/node`
//! (`npm install @foundry-rs/anvil-linux-amd64@1.7.1` there).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use alloy::providers::{Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

pub mod wallet;

/// Private keys of anvil's default accounts (mnemonic "test test … junk"), public test keys that
/// hold ether only on development chains.
pub const DEV_KEYS: [&str; 10] = [
    "ac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
    "8b3a350cf5c34c9194ca85829a2df0ec3153be0318b5e2d3348e872092edffba",
    "92db14e403b83dfe3df233f83dfa3a0d7096f21ca9b0d6d6b8d88b2b4ec1564e",
    "4bbbf85ce3377467afe5d46f804f221813b2bb87f24d81f60f1fcdbf7cbf4356",
    "dbda1821b80551c9d65939329250298aa3472ba22feea921c0cf5d620ea67b97",
    "2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6",
];

const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Why anvil could not be started or driven.
#[derive(Debug, thiserror::Error)]
pub enum AnvilError {
    /// No executable where it was looked for.
    #[error(
        "anvil not found at {0}: set SOV_TEST_ANVIL, or run `npm install @foundry-rs/anvil-linux-amd64@1.7.1` in ${{XDG_CACHE_HOME:-$HOME/.cache}}/sovereign/node"
    )]
    NotFound(PathBuf),
    /// The process could not be spawned.
    #[error("starting {path}: {source}")]
    Spawn {
        /// The binary.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// It exited or stayed silent instead of announcing its port.
    #[error("anvil did not start listening within {timeout:?}; its output:\n{output}")]
    NotListening {
        /// How long it was given.
        timeout: Duration,
        /// What it printed.
        output: String,
    },
    /// It announced a port but does not answer JSON-RPC there.
    #[error("anvil at {url} does not answer eth_chainId: {reason}")]
    NotAnswering {
        /// Its URL.
        url: String,
        /// The last failure.
        reason: String,
    },
    /// A test-control RPC (evm_increaseTime, evm_mine, …) failed.
    #[error("{method}: {reason}")]
    Rpc {
        /// The JSON-RPC method.
        method: &'static str,
        /// The error.
        reason: String,
    },
}

/// A running anvil, killed on drop.
#[derive(Debug)]
pub struct Anvil {
    child: Child,
    url: String,
}

impl Anvil {
    /// Where the binary is looked for: `$SOV_TEST_ANVIL`, else the npm package in the cache.
    pub fn binary() -> PathBuf {
        if let Some(path) = std::env::var_os("SOV_TEST_ANVIL") {
            return path.into();
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache"));
        cache.join("sovereign/node/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")
    }

    /// Starts anvil with its defaults (ten funded dev accounts, automine, the CREATE2 deployer).
    pub fn start() -> Result<Self, AnvilError> {
        Self::start_with(&[])
    }

    /// Starts anvil with extra arguments, e.g. `--disable-default-create2-deployer`.
    pub fn start_with(extra_args: &[&str]) -> Result<Self, AnvilError> {
        Self::start_on("127.0.0.1", extra_args)
    }

    /// Starts anvil listening on `host` (an address of this machine, e.g. one a test added to
    /// `lo` in its own network namespace) with extra arguments.
    pub fn start_on(host: &str, extra_args: &[&str]) -> Result<Self, AnvilError> {
        let path = Self::binary();
        if !path.is_file() {
            return Err(AnvilError::NotFound(path));
        }
        let mut child = Command::new(&path)
            .args(["--host", host, "--port", "0"])
            .args(extra_args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|source| AnvilError::Spawn { path: path.clone(), source })?;
        let port = match child.stdout.take() {
            Some(stdout) => wait_for_port(stdout),
            None => Err(String::new()),
        };
        let mut anvil = Self { child, url: String::new() };
        // On error `anvil` drops here and the process is killed.
        let port = port.map_err(|output| AnvilError::NotListening { timeout: START_TIMEOUT, output })?;
        anvil.url = format!("http://{host}:{port}");
        wait_until_answering(host, port)
            .map_err(|reason| AnvilError::NotAnswering { url: anvil.url.clone(), reason })?;
        Ok(anvil)
    }

    /// The JSON-RPC URL, `http://HOST:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// An HTTP client of the outbound policy for talking to this anvil (see [`http`]).
    pub fn http(&self) -> sov_net::Http {
        http()
    }

    /// Dev account `index` (0–9), funded with 10 000 ether.
    #[allow(clippy::expect_used)] // constant keys, all parsed by the unit test below
    pub fn signer(index: usize) -> PrivateKeySigner {
        DEV_KEYS[index % DEV_KEYS.len()].parse().expect("anvil's dev keys are valid secp256k1 keys")
    }

    async fn call(&self, method: &'static str, params: serde_json::Value) -> Result<serde_json::Value, AnvilError> {
        let url = self.url.parse().map_err(|e| AnvilError::Rpc { method, reason: format!("{e}") })?;
        let provider = ProviderBuilder::new().connect_http(url);
        provider.raw_request(method.into(), params).await.map_err(|e| AnvilError::Rpc { method, reason: e.to_string() })
    }

    /// Moves the chain's clock forward and mines a block with the new time.
    pub async fn advance_time(&self, secs: u64) -> Result<(), AnvilError> {
        self.call("evm_increaseTime", serde_json::json!([secs])).await?;
        self.mine().await
    }

    /// Mines one block now.
    pub async fn mine(&self) -> Result<(), AnvilError> {
        self.call("evm_mine", serde_json::json!([])).await.map(drop)
    }

    /// Switches mining of each transaction on arrival on or off (off: transactions wait for
    /// [`Anvil::mine`], so several land in one block).
    pub async fn set_automine(&self, on: bool) -> Result<(), AnvilError> {
        self.call("evm_setAutomine", serde_json::json!([on])).await.map(drop)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        // Only our own child, by its handle; an already exited one makes both calls fail harmlessly.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP client of the outbound policy for a chain on loopback, as [`crate::Credits`] takes
/// it. Loopback is reached directly; anything else would go to Tor, whose only (made-up)
/// directory cache is 127.0.0.1:9, where nothing listens: it cannot bootstrap, and after a
/// second the request fails saying nothing was sent. A test cannot reach beyond this machine
/// by mistake.
#[allow(clippy::expect_used)] // a constant, valid configuration
pub fn http() -> sov_net::Http {
    let arti = format!(
        "[tor_network.authorities]\nv3idents = [\"{a}\"]\n[[tor_network.fallback_caches]]\n\
         rsa_identity = \"{a}\"\ned_identity = \"{e}\"\norports = [\"127.0.0.1:9\"]\n\
         [storage.permissions]\ndangerously_trust_everyone = true\n",
        a = "A".repeat(40),
        e = "A".repeat(43)
    );
    let config = sov_core::config::NetConfig {
        bootstrap_timeout_secs: 1,
        tor_dir: std::env::temp_dir().join(format!("sov-chain-testing-tor-{}", std::process::id())),
        arti: toml::from_str(&arti).expect("a constant arti configuration"),
        ..Default::default()
    };
    sov_net::Net::new(&config, &std::env::temp_dir()).expect("a constant configuration").http(sov_net::Class::Chain)
}

/// Reads anvil's output until "Listening on 127.0.0.1:PORT" and keeps draining it afterwards so
/// a full pipe never stalls anvil; on failure returns what it printed.
fn wait_for_port(stdout: impl Read + Send + 'static) -> Result<u16, String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut sent = false;
        let mut seen = String::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if sent {
                continue;
            }
            let port = line.trim().strip_prefix("Listening on ").and_then(|addr| addr.rsplit(':').next()?.parse().ok());
            match port {
                Some(port) => {
                    let _ = tx.send(Ok(port));
                    sent = true;
                }
                None => {
                    seen.push_str(&line);
                    seen.push('\n');
                }
            }
        }
        if !sent {
            let _ = tx.send(Err(seen));
        }
    });
    rx.recv_timeout(START_TIMEOUT).unwrap_or_else(|e| Err(format!("(no line announcing the port: {e})")))
}

/// Posts `eth_chainId` with plain HTTP/1.1 until anvil answers, so the harness needs no runtime.
fn wait_until_answering(host: &str, port: u16) -> Result<(), String> {
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#;
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut stream = TcpStream::connect((host, port))?;
            stream.set_read_timeout(Some(Duration::from_secs(5)))?;
            stream.write_all(request.as_bytes())?;
            let mut response = String::new();
            stream.read_to_string(&mut response)?;
            Ok(response)
        })();
        match attempt {
            Ok(response) if response.contains("\"result\"") => return Ok(()),
            Ok(response) if Instant::now() > deadline => return Err(format!("unexpected answer: {response}")),
            Err(e) if Instant::now() > deadline => return Err(e.to_string()),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_keys_are_anvils_accounts() {
        assert_eq!(Anvil::signer(0).address().to_string(), "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266");
        assert_eq!(Anvil::signer(9).address().to_string(), "0xa0Ee7A142d267C1f36714E4a8F75612F20a79720");
        for i in 0..DEV_KEYS.len() {
            let _ = Anvil::signer(i);
        }
    }
}
