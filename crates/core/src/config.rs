//! The one configuration file, `config.toml`, with documented defaults.
//!
//! Every key is optional: a missing file or a missing key means the default that
//! [`DEFAULT_CONFIG_TOML`] shows (a test keeps that text and [`Config::default`] equal).
//! Unknown keys are an error rather than silently ignored, so a typo never weakens a setting.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// The documented default configuration, as `sov config init` writes it.
pub const DEFAULT_CONFIG_TOML: &str = include_str!("default_config.toml");

/// Sovereign's whole configuration.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Logging.
    pub log: LogConfig,
    /// The sandbox (`sov sbox`).
    pub sandbox: SandboxConfig,
    /// The API daemon (`sov serve`).
    pub serve: ServeConfig,
    /// The gate: Tool API, human console and policy.
    pub gate: GateConfig,
    /// The local inference engine.
    pub engine: EngineConfig,
    /// The messaging daemon (email and Signal).
    pub msg: MsgConfig,
    /// The audit log.
    pub audit: AuditConfig,
    /// Anonymous prepaid credits (`sov zkapi`), the paying side.
    pub zkapi: ZkapiConfig,
    /// Selling calls for credits (`sov provider`).
    pub provider: ProviderConfig,
    /// The Ethereum wallet (`sov wallet`): the node its reads go to.
    pub wallet: WalletConfig,
    /// The attestation policy for remote models: allowed TCB statuses and measurement
    /// allowlists. Kept as a table here and read by `sov-attest` (its `Policy`), which checks
    /// every key.
    pub attest: toml::Table,
    /// What is stripped from text before it leaves for a remote model.
    pub sanitize: SanitizeConfig,
    /// Remote models by name (`sov ask --remote NAME`, `remote:NAME` in `sov serve`), each behind
    /// an attested provider.
    pub remote: BTreeMap<String, RemoteConfig>,
    /// Models by name, beyond the `*.gguf` files found in the models directory.
    pub models: BTreeMap<String, ModelConfig>,
    /// How each kind of connection that leaves this machine travels (`sov-net`).
    pub net: NetConfig,
    /// Web search and web pages (`sov-web`): engines, limits, the addresses a fetch may reach
    /// on this machine or network.
    pub web: WebConfig,
}

/// `[web]`: how `web.search` and `web.fetch` work. Both leave by `[net] web`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Search engines, asked together; one failing is reported, never fatal.
    pub engines: Vec<SearchEngineConfig>,
    /// Hosts (`name`, `name:port`, `10.0.0.5`, `[::1]:8080`) on this machine or its network that
    /// a fetch may reach anyway; everything else loopback, private, link-local or unique-local
    /// is refused, also after a redirect.
    pub allow: Vec<String>,
    /// Largest page body read, in bytes; the rest is cut off (and said so).
    pub max_bytes: usize,
    /// A fetch, redirects and body included, must end within this many seconds.
    pub timeout_secs: u64,
    /// Redirects followed, each checked again.
    pub max_redirects: u32,
    /// Results kept per search.
    pub max_results: usize,
}

/// `[[web.engines]]`: one search engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchEngineConfig {
    /// `searxng` (its JSON API), `wikipedia` (MediaWiki's search API), `duckduckgo` (its HTML
    /// page, no JavaScript), `kiwix` (a `kiwix-serve` with offline archives) or `zkapi` (a
    /// SearXNG JSON API behind a `sov provider`, each query paid with a ZK-API ticket from the
    /// wallet; the chain is read at `[zkapi] rpc`).
    pub kind: String,
    /// The engine's base URL, e.g. `http://127.0.0.1:8888` for your SearXNG (an onion address
    /// works), `https://en.wikipedia.org`, `https://html.duckduckgo.com`, `http://127.0.0.1:8080`,
    /// `http://provider.example:8090` (the `sov provider`).
    pub url: String,
    /// For `kiwix`: the book (archive name) to search; empty: the first one it serves.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub book: String,
}

impl SearchEngineConfig {
    /// The engine kinds there are.
    pub const KINDS: [&'static str; 5] = ["searxng", "wikipedia", "duckduckgo", "kiwix", "zkapi"];
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            engines: vec![
                SearchEngineConfig {
                    kind: "wikipedia".into(),
                    url: "https://en.wikipedia.org".into(),
                    book: String::new(),
                },
                SearchEngineConfig {
                    kind: "duckduckgo".into(),
                    url: "https://html.duckduckgo.com".into(),
                    book: String::new(),
                },
            ],
            allow: Vec::new(),
            max_bytes: 2 << 20,
            timeout_secs: 30,
            max_redirects: 5,
            max_results: 10,
        }
    }
}

/// `[net]`: the one outbound policy. Every connection to anything that is not loopback leaves by
/// the route its class names; by `tor`, loopback destinations (a local Ethereum node, a local provider)
/// are always reached directly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetConfig {
    /// Remote models and their providers' attestation bundles.
    pub remote: Transport,
    /// Web search and web pages.
    pub web: Transport,
    /// Ethereum JSON-RPC reads and writes (deposit trees, roots, the wallet).
    pub chain: Transport,
    /// Paid calls to ZK-API providers (`sov zkapi call`).
    pub zkapi: Transport,
    /// The SOCKS5 proxy `socks5` routes use (a system Tor, a Nym client).
    pub socks: String,
    /// Up to this many milliseconds of random delay before each request that leaves by Tor or
    /// SOCKS5, so arrival times link a conversation's turns less; 0: none.
    pub jitter_ms: u64,
    /// How long a request waits for Tor to finish bootstrapping before it fails.
    pub bootstrap_timeout_secs: u64,
    /// Circuits Tor builds ahead for each port used lately, each then used by one request only
    /// (a request does not wait for its circuit to be built); 0: build each when it is needed.
    pub spare_circuits: usize,
    /// Tor's state and directory cache; empty: `tor` in the data directory.
    pub tor_dir: PathBuf,
    /// Settings passed to the in-process Tor client (arti's own `arti.toml` keys, such as
    /// `tor_network`, `bridges`, `path_rules`, `address_filter`); empty for the public Tor network.
    pub arti: toml::Table,
}

impl Config {
    /// How a `[remote.NAME]` entry's requests travel and the SOCKS5 proxy for `socks5`: its own
    /// settings, else `[net] remote` and `[net] socks`.
    pub fn remote_route<'a>(&'a self, remote: &'a RemoteConfig) -> (Transport, &'a str) {
        (remote.transport.unwrap_or(self.net.remote), remote.socks.as_deref().unwrap_or(&self.net.socks))
    }
}

impl Default for NetConfig {
    fn default() -> Self {
        Self {
            remote: Transport::Tor,
            web: Transport::Tor,
            chain: Transport::Tor,
            zkapi: Transport::Tor,
            socks: "127.0.0.1:9050".into(),
            jitter_ms: 0,
            bootstrap_timeout_secs: 120,
            spare_circuits: 2,
            tor_dir: PathBuf::new(),
            arti: toml::Table::new(),
        }
    }
}

/// `[remote.NAME]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RemoteConfig {
    /// The provider's base URL (`sov provider` with a TEE), e.g. `http://provider.example:8090`.
    pub url: String,
    /// The model to ask there.
    pub model: String,
    /// How requests travel: `tor`, `socks5` or `direct-insecure-dev` (see [`Transport`]);
    /// unset: `[net] remote`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transport: Option<Transport>,
    /// The SOCKS5 proxy's address and port for `socks5`; unset: `[net] socks`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub socks: Option<String>,
    /// Model names in `sov serve`'s APIs that mean this remote model, like `remote:NAME` (for
    /// clients that send a fixed name, such as `claude-sonnet-4-5`); such a name hides a local
    /// model of the same name.
    pub aliases: Vec<String>,
}

/// How one class of requests travels (`[net] remote`, `[remote.NAME] transport`, ...), parsed
/// once from the config.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub enum Transport {
    /// Tor inside Sovereign (no Tor daemon needed), a fresh circuit for every request.
    #[default]
    #[serde(rename = "tor")]
    Tor,
    /// A SOCKS5 proxy at `socks` (a system Tor, a Nym client), fresh credentials for every
    /// request, which a Tor proxy turns into a fresh circuit.
    #[serde(rename = "socks5")]
    Socks5,
    /// A direct connection: reveals your IP address to the destination; development only, and
    /// announced as such at every start.
    #[serde(rename = "direct-insecure-dev")]
    DirectInsecureDev,
}

impl Transport {
    /// Every transport, in the order the documentation lists them.
    pub const ALL: [Transport; 3] = [Transport::Tor, Transport::Socks5, Transport::DirectInsecureDev];

    /// The name the config spells it with.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Tor => "tor",
            Transport::Socks5 => "socks5",
            Transport::DirectInsecureDev => "direct-insecure-dev",
        }
    }
}

impl std::fmt::Display for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Transport {
    type Err = String;

    fn from_str(name: &str) -> std::result::Result<Self, String> {
        Transport::ALL.into_iter().find(|t| t.as_str() == name).ok_or_else(|| {
            let names: Vec<&str> = Transport::ALL.iter().map(|t| t.as_str()).collect();
            format!("`transport = \"{}\"` is not a transport; use one of {}", name.escape_debug(), names.join(", "))
        })
    }
}

impl<'de> Deserialize<'de> for Transport {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> std::result::Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        name.parse().map_err(serde::de::Error::custom)
    }
}

/// `[sanitize]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SanitizeConfig {
    /// Your own names, replaced wherever they appear (`Alice Liddell`, `Alice`).
    pub names: Vec<String>,
    /// Your accounts and handles (`alice_l`, `@alice`).
    pub accounts: Vec<String>,
    /// The local model that also marks names, addresses, employers, health and money facts;
    /// empty: the rule-based detectors only.
    pub model: String,
}

/// `[zkapi]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ZkapiConfig {
    /// Ethereum JSON-RPC endpoint of the chain the deposit contracts are on.
    pub rpc: String,
    /// A file holding the hex private key of the account that pays deposits and gas; empty: none.
    pub key_file: PathBuf,
}

impl Default for ZkapiConfig {
    fn default() -> Self {
        Self { rpc: "http://127.0.0.1:8545".into(), key_file: PathBuf::new() }
    }
}

/// `[wallet]`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WalletConfig {
    /// The Ethereum JSON-RPC endpoint the wallet reads balances and ENS names from (by
    /// `[net] chain`); empty: none set, and reads say so.
    pub rpc: String,
    /// US dollars per whole unit of what the wallet may send, by `ETH` or a token contract's
    /// address: the value the gate's caps count. A transfer of anything not listed is refused.
    pub prices: BTreeMap<String, f64>,
    /// A file (yours, mode 0600) holding the keystore's passphrase, read by `sov serve` to unlock
    /// the accounts for sends; empty: the wallet is locked and sends are refused (reads work).
    pub passphrase_file: PathBuf,
    /// The Uniswap V2-style router swaps go through (its address); empty: no swaps.
    pub router: String,
    /// The largest slippage, in percent of the quote, a swap may accept without your
    /// confirmation whatever the caps.
    pub max_slippage_pct: f64,
    /// The ENS registry's address; empty: Ethereum mainnet's.
    pub ens_registry: String,
}

impl Default for WalletConfig {
    fn default() -> Self {
        Self {
            rpc: String::new(),
            prices: BTreeMap::new(),
            passphrase_file: PathBuf::new(),
            router: String::new(),
            max_slippage_pct: 1.0,
            ens_registry: String::new(),
        }
    }
}

/// `[provider]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProviderConfig {
    /// The deposit contract whose depositors pay; empty: `--contract` must name it.
    pub contract: String,
    /// The server paid requests go to.
    pub upstream: String,
    /// Where the proxy listens.
    pub listen: String,
    /// Spent tickets: a SQLite file or a `postgres://` URL; empty: `provider.db` in the data dir.
    pub store: String,
    /// Seconds between two on-chain commits of served tickets.
    pub commit_every_secs: u64,
    /// Milliseconds between two looks at the chain (roots, withdrawals, claims).
    pub poll_ms: u64,
    /// Whether this process sends the provider's transactions (commits, claims, slashes).
    pub chain_duties: bool,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            contract: String::new(),
            upstream: "http://127.0.0.1:8080".into(),
            listen: "127.0.0.1:8090".into(),
            store: String::new(),
            commit_every_secs: 600,
            poll_ms: 1000,
            chain_duties: true,
        }
    }
}

/// `[serve]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// Address and port of the OpenAI/Anthropic-compatible API.
    pub listen: String,
    /// A file holding the API key clients must send; empty: no key. `SOV_API_KEY` overrides it.
    pub api_key_file: PathBuf,
    /// Browser origins allowed besides loopback pages (CORS), e.g. `https://chat.example`.
    pub cors_origins: Vec<String>,
}

impl Default for ServeConfig {
    fn default() -> Self {
        Self { listen: "127.0.0.1:8080".into(), api_key_file: PathBuf::new(), cors_origins: Vec::new() }
    }
}

/// `[gate]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct GateConfig {
    /// Address and port of the Tool API that sandboxed agents call.
    pub tool_listen: String,
    /// Address and port of the human console (never granted to a sandbox).
    pub console_listen: String,
    /// The policy file; empty: `policy.toml` beside the config file.
    pub policy_file: PathBuf,
    /// The model that reviews actions; empty: the default model.
    pub reviewer_model: String,
}

impl Default for GateConfig {
    fn default() -> Self {
        Self {
            tool_listen: "127.0.0.1:6000".into(),
            console_listen: "127.0.0.1:7000".into(),
            policy_file: PathBuf::new(),
            reviewer_model: String::new(),
        }
    }
}

/// `[audit]`
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// A file outside the data directory that gets a line `<ISO time> <entry count> <hash>` at
    /// every start of `sov serve` and every `sov audit verify`; empty: none.
    pub anchor_file: PathBuf,
}

/// `[msg]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MsgConfig {
    /// Seconds between two polls of every account.
    pub poll_secs: u64,
    /// The `signal-cli` program, for `sov msg signal link`.
    pub signal_cli: PathBuf,
    /// Where signal-cli's JSON-RPC daemon listens (`signal-cli -a NUMBER daemon --tcp ADDR
    /// --receive-mode manual`); accounts added without `--rpc` use it.
    pub signal_rpc: String,
}

impl Default for MsgConfig {
    fn default() -> Self {
        Self { poll_secs: 60, signal_cli: PathBuf::from("signal-cli"), signal_rpc: "127.0.0.1:7583".into() }
    }
}

/// `[engine]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Where GGUF files are found by name; empty: `<data dir>/models`.
    pub models_dir: PathBuf,
    /// The model for requests that name none; empty: the first by name.
    pub default_model: String,
    /// At most this many models in memory; loading another unloads the least recently used.
    pub max_resident: usize,
    /// Unload a model after this many seconds without requests; 0: never.
    pub idle_unload_secs: u64,
    /// Requests that may wait per model before new ones are answered "busy".
    pub queue: usize,
    /// CPU threads for models that do not set their own; 0: all CPUs (at most 16).
    pub threads: u32,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            models_dir: PathBuf::new(),
            default_model: String::new(),
            max_resident: 1,
            idle_unload_secs: 600,
            queue: 8,
            threads: 0,
        }
    }
}

/// `[models.NAME]`
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ModelConfig {
    /// The GGUF file: absolute, `~/`-relative, or relative to the models directory.
    pub file: PathBuf,
    /// Context size in tokens; 0: the trained context, at most 4096.
    pub context: u32,
    /// CPU threads; 0: all CPUs (at most 16).
    pub threads: u32,
    /// Layers offloaded to the GPU (CUDA or Vulkan builds only).
    pub gpu_layers: u32,
    /// Chat template instead of the GGUF's own: a llama.cpp name (`chatml`, `gemma`, `llama3`…)
    /// or the template text; empty: the GGUF's, else ChatML.
    pub template: String,
    // Sampling for requests that do not set it themselves, as a model card recommends; each is
    // llama-server's flag of the same name. Unset: llama-server's defaults.
    /// `--temp`; unset: 0.8. 0 is greedy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f32>,
    /// `--top-p`; unset: 0.95.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f32>,
    /// `--top-k`; unset: 40.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    /// `--min-p`; unset: 0.05.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_p: Option<f32>,
    /// `--repeat-penalty`; unset: 1.0 (off).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub repeat_penalty: Option<f32>,
    /// `--seed`; unset: a fresh seed per request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u32>,
}

/// `[log]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Default log filter (`error`, `warn`, `info`, `debug`, `trace`, or a tracing directive);
    /// `RUST_LOG` and `-v` override it.
    pub level: String,
}

/// `[sandbox]`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// The bubblewrap program: a name looked up on `PATH`, or an absolute path.
    pub bwrap: PathBuf,
    /// Run even where the kernel cannot enforce Landlock (the bubblewrap namespaces and seccomp
    /// still apply). Off by default: a protection that cannot be enforced is refused, not skipped.
    pub insecure_allow_without_landlock: bool,
    /// Named sets of grants; `sbox --profile NAME` picks one, and `default` applies otherwise.
    pub profiles: BTreeMap<String, SandboxProfile>,
}

/// What one sandbox profile grants on top of the minimal system.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxProfile {
    /// Paths visible read-only, at the same path. `~/` is the user's home.
    pub ro: Vec<PathBuf>,
    /// Paths visible read-write, at the same path. `~/` is the user's home.
    pub rw: Vec<PathBuf>,
    /// Host loopback TCP ports reachable from inside (relayed into the sandbox's own loopback).
    pub ports: Vec<u16>,
    /// Environment variables passed through in addition to the built-in allowlist.
    pub env: Vec<String>,
    /// Bind the user's PipeWire and PulseAudio sockets.
    pub audio: bool,
    /// Bind GPU device nodes (`/dev/dri`, `/dev/nvidia*`, `/dev/kfd`).
    pub gpu: bool,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self { level: "info".to_owned() }
    }
}

/// The bubblewrap program `sandbox.bwrap` names by default, looked up on `PATH`.
pub const DEFAULT_BWRAP: &str = "bwrap";

impl Default for SandboxConfig {
    fn default() -> Self {
        let agent = SandboxProfile { ports: vec![8080, 6000], ..SandboxProfile::default() };
        Self {
            bwrap: PathBuf::from(DEFAULT_BWRAP),
            insecure_allow_without_landlock: false,
            profiles: BTreeMap::from([("default".to_owned(), SandboxProfile::default()), ("agent".to_owned(), agent)]),
        }
    }
}

impl Config {
    /// Reads `path`; a missing file yields the defaults. `home` expands `~/` in paths.
    pub fn load(path: &Path, home: Option<&Path>) -> Result<Self> {
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, path, home),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(source) => Err(Error::Io { action: "reading config file", path: path.to_owned(), source }),
        }
    }

    /// Parses and validates config text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &Path, home: Option<&Path>) -> Result<Self> {
        let mut config: Config = toml::from_str(text)
            .map_err(|e| Error::ConfigInvalid { path: origin.to_owned(), message: e.to_string() })?;
        config.validate(home)?;
        Ok(config)
    }

    /// The effective configuration as TOML, for `sov config show`.
    pub fn to_toml(&self) -> String {
        // Serialising plain structs of strings, numbers, paths and maps cannot fail; fall back to
        // Debug rather than panic if it ever does.
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# could not render config: {e}\n# {self:?}\n"))
    }

    /// The profile `name`, or a clear error listing the ones that exist.
    pub fn sandbox_profile(&self, name: &str) -> Result<&SandboxProfile> {
        self.sandbox.profiles.get(name).ok_or_else(|| Error::ConfigValue {
            key: format!("sandbox.profiles.{name}"),
            message: format!(
                "no such sandbox profile; defined: {}",
                self.sandbox.profiles.keys().cloned().collect::<Vec<_>>().join(", ")
            ),
        })
    }

    fn validate(&mut self, home: Option<&Path>) -> Result<()> {
        for (key, listen) in [
            ("serve.listen", &self.serve.listen),
            ("gate.tool_listen", &self.gate.tool_listen),
            ("gate.console_listen", &self.gate.console_listen),
            ("msg.signal_rpc", &self.msg.signal_rpc),
            ("provider.listen", &self.provider.listen),
        ] {
            if listen.parse::<std::net::SocketAddr>().is_err() {
                return Err(Error::ConfigValue {
                    key: key.into(),
                    message: format!("`{listen}` is not an address and port, e.g. 127.0.0.1:8080 or [::1]:8080"),
                });
            }
        }
        for (key, path) in [
            ("serve.api_key_file", &mut self.serve.api_key_file),
            ("engine.models_dir", &mut self.engine.models_dir),
            ("gate.policy_file", &mut self.gate.policy_file),
            ("zkapi.key_file", &mut self.zkapi.key_file),
            ("wallet.passphrase_file", &mut self.wallet.passphrase_file),
            ("audit.anchor_file", &mut self.audit.anchor_file),
        ] {
            if !path.as_os_str().is_empty() {
                *path = expand_home(path, home).map_err(|message| Error::ConfigValue { key: key.into(), message })?;
            }
        }
        for (asset, usd) in &self.wallet.prices {
            let is_address =
                asset.len() == 42 && asset.starts_with("0x") && asset[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if asset != "ETH" && !is_address {
                return Err(Error::ConfigValue {
                    key: format!("wallet.prices.{asset}"),
                    message: "name `ETH` or a token contract's address (0x and 40 hex digits)".into(),
                });
            }
            if !(usd.is_finite() && *usd > 0.0) {
                return Err(Error::ConfigValue {
                    key: format!("wallet.prices.{asset}"),
                    message: format!("{usd} is not a price in US dollars above zero"),
                });
            }
        }
        for (key, value) in [("wallet.router", &self.wallet.router), ("wallet.ens_registry", &self.wallet.ens_registry)]
        {
            let is_address =
                value.len() == 42 && value.starts_with("0x") && value[2..].bytes().all(|b| b.is_ascii_hexdigit());
            if !value.is_empty() && !is_address {
                return Err(Error::ConfigValue {
                    key: key.into(),
                    message: format!("`{value}` is not a contract address (0x and 40 hex digits)"),
                });
            }
        }
        if !(self.wallet.max_slippage_pct.is_finite() && (0.0..=100.0).contains(&self.wallet.max_slippage_pct)) {
            return Err(Error::ConfigValue {
                key: "wallet.max_slippage_pct".into(),
                message: format!("{} is not a percentage from 0 to 100", self.wallet.max_slippage_pct),
            });
        }
        if !(self.wallet.rpc.is_empty()
            || self.wallet.rpc.starts_with("http://")
            || self.wallet.rpc.starts_with("https://"))
        {
            return Err(Error::ConfigValue {
                key: "wallet.rpc".into(),
                message: format!("`{}` is not an http:// or https:// URL", self.wallet.rpc),
            });
        }
        for (i, engine) in self.web.engines.iter().enumerate() {
            let key = |field: &str| format!("web.engines[{i}].{field}");
            if !SearchEngineConfig::KINDS.contains(&engine.kind.as_str()) {
                return Err(Error::ConfigValue {
                    key: key("kind"),
                    message: format!(
                        "`{}` is not an engine kind; use one of {}",
                        engine.kind,
                        SearchEngineConfig::KINDS.join(", ")
                    ),
                });
            }
            if !(engine.url.starts_with("http://") || engine.url.starts_with("https://")) {
                return Err(Error::ConfigValue {
                    key: key("url"),
                    message: format!("`{}` is not an http:// or https:// URL", engine.url),
                });
            }
        }
        for (key, value) in [
            ("web.max_bytes", self.web.max_bytes as u64),
            ("web.timeout_secs", self.web.timeout_secs),
            ("web.max_results", self.web.max_results as u64),
        ] {
            if value == 0 {
                return Err(Error::ConfigValue { key: key.into(), message: "must be more than 0".into() });
            }
        }
        for (name, remote) in &self.remote {
            let key = |field: &str| format!("remote.{name}.{field}");
            if remote.url.is_empty() {
                return Err(Error::ConfigValue {
                    key: key("url"),
                    message: "is missing: name the provider's URL".into(),
                });
            }
            if let Some(socks) = &remote.socks
                && socks.parse::<std::net::SocketAddr>().is_err()
            {
                return Err(Error::ConfigValue {
                    key: key("socks"),
                    message: format!("`{socks}` is not an address and port, e.g. 127.0.0.1:9050"),
                });
            }
        }
        if self.net.socks.parse::<std::net::SocketAddr>().is_err() {
            return Err(Error::ConfigValue {
                key: "net.socks".into(),
                message: format!("`{}` is not an address and port, e.g. 127.0.0.1:9050", self.net.socks),
            });
        }
        if self.net.bootstrap_timeout_secs == 0 {
            return Err(Error::ConfigValue {
                key: "net.bootstrap_timeout_secs".into(),
                message: "must be at least 1".into(),
            });
        }
        if !self.net.tor_dir.as_os_str().is_empty() {
            self.net.tor_dir = expand_home(&self.net.tor_dir, home)
                .map_err(|message| Error::ConfigValue { key: "net.tor_dir".into(), message })?;
        }
        if self.provider.commit_every_secs == 0 || self.provider.poll_ms == 0 {
            return Err(Error::ConfigValue {
                key: "provider".into(),
                message: "`commit_every_secs` and `poll_ms` must be at least 1".into(),
            });
        }
        if self.msg.poll_secs == 0 {
            return Err(Error::ConfigValue { key: "msg.poll_secs".into(), message: "must be at least 1".into() });
        }
        if self.engine.queue == 0 || self.engine.max_resident == 0 {
            return Err(Error::ConfigValue {
                key: "engine".into(),
                message: "`queue` and `max_resident` must be at least 1".into(),
            });
        }
        for (name, model) in &mut self.models {
            let key = format!("models.{name}.file");
            if model.file.as_os_str().is_empty() {
                return Err(Error::ConfigValue { key, message: "is missing: name the GGUF file".into() });
            }
            if model.file.starts_with("~") {
                model.file = expand_home(&model.file, home).map_err(|message| Error::ConfigValue { key, message })?;
            }
        }
        if let Err(message) = tracing_level_is_plausible(&self.log.level) {
            return Err(Error::ConfigValue { key: "log.level".into(), message });
        }
        for (name, profile) in &mut self.sandbox.profiles {
            let key = |field: &str| format!("sandbox.profiles.{name}.{field}");
            for (field, paths) in [("ro", &mut profile.ro), ("rw", &mut profile.rw)] {
                for path in paths.iter_mut() {
                    *path =
                        expand_home(path, home).map_err(|message| Error::ConfigValue { key: key(field), message })?;
                }
            }
            if profile.ports.contains(&0) {
                return Err(Error::ConfigValue {
                    key: key("ports"),
                    message: "port 0 is not a port; use 1-65535".into(),
                });
            }
            if let Some(bad) = profile.env.iter().find(|n| !is_env_name(n)) {
                return Err(Error::ConfigValue {
                    key: key("env"),
                    message: format!("`{bad}` is not an environment variable name (letters, digits, `_`)"),
                });
            }
        }
        Ok(())
    }
}

/// Expands a leading `~/` with `home` and insists on an absolute result.
pub fn expand_home(path: &Path, home: Option<&Path>) -> std::result::Result<PathBuf, String> {
    let expanded = match (path.strip_prefix("~"), home) {
        (Ok(rest), Some(home)) => home.join(rest),
        (Ok(_), None) => return Err(format!("{} starts with ~ but HOME is not set", path.display())),
        (Err(_), _) => path.to_owned(),
    };
    if expanded.is_absolute() {
        Ok(expanded)
    } else {
        Err(format!("{} is relative; write an absolute path or one starting with ~/", path.display()))
    }
}

/// True for names a shell would accept as an environment variable.
pub fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn tracing_level_is_plausible(level: &str) -> std::result::Result<(), String> {
    if level.trim().is_empty() {
        return Err("empty; use error, warn, info, debug or trace".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn wallet_prices_name_eth_or_a_token_address_and_are_above_zero() {
        let parse = |text: &str| Config::parse(text, Path::new("c.toml"), None);
        let ok =
            parse("[wallet.prices]\nETH = 3000.0\n\"0xA0b86991c6218b36c1d19D4a2e9Eb0cE3606eB48\" = 1.0\n").unwrap();
        assert_eq!(ok.wallet.prices.len(), 2);
        for (text, key) in [
            ("[wallet.prices]\nBTC = 1.0\n", "wallet.prices.BTC"),
            ("[wallet.prices]\nETH = 0.0\n", "wallet.prices.ETH"),
            ("[wallet.prices]\nETH = nan\n", "wallet.prices.ETH"),
            ("[wallet.prices]\n\"0x1234\" = 1.0\n", "wallet.prices.0x1234"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn documented_default_file_equals_builtin_defaults() {
        let parsed = Config::parse(DEFAULT_CONFIG_TOML, Path::new("default_config.toml"), None).unwrap();
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn effective_config_round_trips_through_toml() {
        let config = Config::default();
        let again = Config::parse(&config.to_toml(), Path::new("shown"), None).unwrap();
        assert_eq!(again, config);
    }

    #[test]
    fn missing_file_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(Config::load(&dir.path().join("none.toml"), None).unwrap(), Config::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let err = Config::parse("[sandbox]\nport = [1]\n", Path::new("/c.toml"), None).unwrap_err().to_string();
        assert!(err.contains("/c.toml") && err.contains("port") && err.contains("line 2"), "{err}");
    }

    #[test]
    fn profile_paths_expand_home_and_reject_relative() {
        let text = "[sandbox.profiles.notes]\nro = [\"~/notes\"]\n";
        let config = Config::parse(text, Path::new("c"), Some(Path::new("/home/ada"))).unwrap();
        assert_eq!(config.sandbox.profiles["notes"].ro, vec![PathBuf::from("/home/ada/notes")]);
        let err = Config::parse("[sandbox.profiles.x]\nrw = [\"data\"]\n", Path::new("c"), None).unwrap_err();
        assert!(err.to_string().contains("sandbox.profiles.x.rw") && err.to_string().contains("relative"), "{err}");
    }

    #[test]
    fn bad_port_and_env_names_are_rejected() {
        let err = Config::parse("[sandbox.profiles.x]\nports = [0]\n", Path::new("c"), None).unwrap_err();
        assert!(err.to_string().contains("port 0"), "{err}");
        let err = Config::parse("[sandbox.profiles.x]\nenv = [\"A=B\"]\n", Path::new("c"), None).unwrap_err();
        assert!(err.to_string().contains("`A=B`"), "{err}");
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let err = Config::default().sandbox_profile("nope").unwrap_err().to_string();
        assert!(err.contains("agent, default"), "{err}");
    }

    #[test]
    fn transports_parse_by_their_documented_names_and_a_bad_one_names_the_field_and_the_choices() {
        for transport in Transport::ALL {
            let text = format!("[remote.big]\nurl = \"http://p.example\"\ntransport = \"{transport}\"\n");
            assert_eq!(Config::parse(&text, Path::new("c"), None).unwrap().remote["big"].transport, Some(transport));
        }
        // Unset, a remote travels as [net] remote says (tor unless changed) via [net] socks.
        let text = "[remote.big]\nurl = \"http://p.example\"\n";
        let config = Config::parse(text, Path::new("c"), None).unwrap();
        assert_eq!(config.remote_route(&config.remote["big"]), (Transport::Tor, "127.0.0.1:9050"));
        let text = "[net]\nremote = \"socks5\"\nsocks = \"127.0.0.1:1080\"\n[remote.big]\nurl = \"http://p.example\"\n";
        let config = Config::parse(text, Path::new("c"), None).unwrap();
        assert_eq!(config.remote_route(&config.remote["big"]), (Transport::Socks5, "127.0.0.1:1080"));
        for (text, needle) in [
            ("[net]\nsocks = \"tor\"\n", "net.socks"),
            ("[net]\nchain = \"direct\"\n", "use one of tor, socks5, direct-insecure-dev"),
            ("[net]\nbootstrap_timeout_secs = 0\n", "net.bootstrap_timeout_secs"),
        ] {
            let err = Config::parse(text, Path::new("c"), None).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
        let text = "[remote.big]\nurl = \"http://p.example\"\ntransport = \"direct\"\n";
        let err = Config::parse(text, Path::new("/c.toml"), None).unwrap_err().to_string();
        assert!(err.contains("/c.toml") && err.contains("line 3"), "{err}");
        assert!(
            err.contains("`transport = \"direct\"` is not a transport; use one of tor, socks5, direct-insecure-dev"),
            "{err}"
        );
    }
}
