//! `sov zkapi …` (anonymous prepaid credits, the paying side) and `sov provider` (the paid side).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sov_chain::{Address, Credits, PrivateKeySigner, U256};
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_zkapi::field::{from_bytes, to_bytes, to_hex};
use sov_zkapi::provider::{Provider, Roots, router};
use sov_zkapi::{Fr, Membership, NullifierStore, Payer, Prover, SqliteStore, TICKET_HEADER, Wallet};

/// How many recent roots a ticket may be proved against (the contract keeps as many).
const ROOT_WINDOW: usize = 64;

/// The chain and the key that signs.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Ethereum JSON-RPC endpoint of the chain the deposit contract is on.
    #[arg(long, env = "SOV_ETH_RPC", default_value = "http://127.0.0.1:8545", value_name = "URL")]
    pub rpc: String,
    /// A file holding the hex private key of the Ethereum account that pays gas and deposits
    /// (keep it mode 0600). Also `SOV_ETH_KEY_FILE`. Never on the command line itself.
    #[arg(long, env = "SOV_ETH_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

/// `sov zkapi …`
#[derive(Debug, Subcommand)]
pub enum ZkapiCommand {
    /// Deploy a deposit contract (for providers): the price per call and the claim window.
    Deploy {
        /// The chain and the paying account.
        #[command(flatten)]
        chain: ChainArgs,
        /// Price of one call, in wei.
        #[arg(long, value_name = "WEI")]
        price: String,
        /// How long the provider has to claim served tickets after a withdrawal is requested.
        #[arg(long, default_value_t = 86_400, value_name = "SECONDS")]
        claim_window: u64,
    },
    /// Deposit once for N calls: a fresh identity, its commitment into the provider's contract.
    Deposit {
        /// The chain and the paying account.
        #[command(flatten)]
        chain: ChainArgs,
        /// The provider's deposit contract (its `GET /zkapi` names it).
        #[arg(long, value_name = "ADDRESS")]
        contract: String,
        /// Calls to buy; the deposit is this times the contract's price.
        #[arg(long, value_name = "N")]
        tickets: u32,
    },
    /// Show your credits: tickets used and left, per deposit.
    Balance,
    /// Make one paid call through a provider and print its answer.
    Call {
        /// The provider's URL and path, e.g. http://127.0.0.1:8090/v1/chat/completions.
        url: String,
        /// The request body (JSON); `@FILE` reads it from a file. Without it: a GET.
        #[arg(long, short = 'd', value_name = "BODY")]
        data: Option<String>,
        /// Ethereum JSON-RPC endpoint, to read the deposit tree.
        #[arg(long, env = "SOV_ETH_RPC", default_value = "http://127.0.0.1:8545", value_name = "URL")]
        rpc: String,
    },
}

/// `sov provider` flags.
#[derive(Debug, Args)]
pub struct ProviderArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// The deposit contract whose depositors pay (see `sov zkapi deploy`).
    #[arg(long, value_name = "ADDRESS")]
    contract: String,
    /// The OpenAI-compatible (or any HTTP) server the paid requests go to.
    #[arg(long, default_value = "http://127.0.0.1:8080", value_name = "URL")]
    upstream: String,
    /// Where the proxy listens.
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR:PORT")]
    listen: SocketAddr,
    /// Spent tickets: a SQLite file (default: provider.db in the data directory) or a
    /// postgres://… URL shared by several replicas.
    #[arg(long, value_name = "PATH|URL")]
    store: Option<String>,
}

fn signer(chain: &ChainArgs) -> Result<PrivateKeySigner> {
    let Some(path) = &chain.key_file else {
        bail!("name the Ethereum key with --key-file FILE (or SOV_ETH_KEY_FILE): a file holding its hex private key");
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?;
    text.trim().parse().map_err(|e| anyhow::anyhow!("the key file {} holds no hex private key: {e}", path.display()))
}

/// A client for reading only: reads need no key, so none is loaded.
fn reader(rpc: &str, contract: Address) -> Result<Credits> {
    Ok(Credits::at(rpc, contract, PrivateKeySigner::random())?)
}

fn address(text: &str) -> Result<Address> {
    text.parse().map_err(|e| anyhow::anyhow!("`{text}` is not an Ethereum address (0x and 40 hex digits): {e}"))
}

fn fr(value: U256) -> Result<Fr> {
    Ok(from_bytes("a value from the contract", &value.to_be_bytes::<32>())?)
}

fn u256(value: &Fr) -> U256 {
    U256::from_be_bytes(to_bytes(value))
}

fn wallet(paths: &Paths) -> Result<Wallet> {
    Ok(Wallet::open(&paths.database(), &paths.data_dir.join("zkapi-keys"))?)
}

async fn membership(credits: &Credits) -> Result<Membership> {
    let leaves = credits.leaves().await?.into_iter().map(fr).collect::<Result<Vec<_>>>()?;
    Ok(Membership::new(&leaves)?)
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// `sov zkapi …`
pub fn run(cmd: ZkapiCommand, _config: &Config, paths: &Paths) -> Result<i32> {
    runtime()?.block_on(async move {
        match cmd {
            ZkapiCommand::Deploy { chain, price, claim_window } => {
                let price: U256 =
                    price.parse().map_err(|e| anyhow::anyhow!("--price `{price}` is not a number of wei: {e}"))?;
                // One constant external nullifier per provider, random so that tickets for one
                // provider are worthless at any other.
                let external_nullifier = sov_zkapi::field::random();
                let credits =
                    Credits::deploy(&chain.rpc, signer(&chain)?, price, u256(&external_nullifier), claim_window)
                        .await?;
                println!("{:#x}", credits.address());
                eprintln!(
                    "deployed; start the proxy with: sov provider --contract {:#x} --upstream URL",
                    credits.address()
                );
                Ok(0)
            }
            ZkapiCommand::Deposit { chain, contract, tickets } => {
                let contract_address = address(&contract)?;
                let credits = Credits::at(&chain.rpc, contract_address, signer(&chain)?)?;
                let price = credits.price().await?;
                let value = price * U256::from(tickets);
                let wallet = wallet(paths)?;
                // The secret is on disk before anything is sent, so a crash cannot lose a deposit.
                let commitment = wallet.new_identity(&format!("{contract_address:#x}"))?;
                let deposit = credits.deposit(u256(&commitment), value).await?;
                wallet.activate(&commitment, u64::from(deposit.leaf_index), u32::from(deposit.limit))?;
                println!(
                    "deposited {value} wei for {} calls (identity {}, leaf {}, tx {:#x})",
                    deposit.limit,
                    to_hex(&commitment),
                    deposit.leaf_index,
                    deposit.tx
                );
                Ok(0)
            }
            ZkapiCommand::Balance => {
                let credits = wallet(paths)?.credits()?;
                if credits.is_empty() {
                    println!("no credits; deposit with `sov zkapi deposit --contract ADDRESS --tickets N`");
                }
                for c in credits {
                    println!(
                        "{}  contract {}  {:?}  {} of {} calls used, {} left",
                        to_hex(&c.commitment),
                        c.contract,
                        c.state,
                        c.next_ticket,
                        c.limit,
                        c.remaining()
                    );
                }
                Ok(0)
            }
            ZkapiCommand::Call { url, data, rpc } => call(paths, &url, data, &rpc).await,
        }
    })
}

async fn call(paths: &Paths, url: &str, data: Option<String>, rpc: &str) -> Result<i32> {
    let body = match data {
        Some(text) if text.starts_with('@') => {
            std::fs::read(&text[1..]).with_context(|| format!("reading the request body from {}", &text[1..]))?
        }
        Some(text) => text.into_bytes(),
        None => Vec::new(),
    };
    let parsed: reqwest::Url = url.parse().map_err(|e| anyhow::anyhow!("`{url}` is not a URL: {e}"))?;
    let client = reqwest::Client::new();
    let info_url = parsed.join("/zkapi")?;
    let info: Value = client
        .get(info_url.clone())
        .send()
        .await
        .with_context(|| format!("asking {info_url} how this provider is paid"))?
        .json()
        .await
        .with_context(|| format!("{info_url} did not describe a ZK-API provider"))?;
    let contract = address(info["contract"].as_str().unwrap_or_default())?;
    let external_nullifier = sov_zkapi::field::from_hex(
        "the provider's external nullifier",
        info["external_nullifier"].as_str().unwrap_or_default(),
    )?;
    let credits = reader(rpc, contract)?;
    let tree = membership(&credits).await?;
    let payer =
        Payer::new(Arc::new(wallet(paths)?), Arc::new(Prover::new()), &format!("{contract:#x}"), external_nullifier);
    let method = if body.is_empty() { "GET" } else { "POST" };
    let path_and_query = match parsed.query() {
        Some(q) => format!("{}?{q}", parsed.path()),
        None => parsed.path().to_owned(),
    };
    let ticket = {
        let body = body.clone();
        tokio::task::spawn_blocking(move || payer.pay(&tree, method, &path_and_query, &body)).await??
    };
    let mut request = client.request(method.parse()?, parsed.clone()).header(TICKET_HEADER, ticket.encode());
    if !body.is_empty() {
        request = request.header("content-type", "application/json").body(body);
    }
    let response = request.send().await.with_context(|| format!("sending the paid request to {parsed}"))?;
    let status = response.status();
    let text = response.text().await?;
    println!("{text}");
    if !status.is_success() {
        bail!("the provider answered {status}");
    }
    Ok(0)
}

/// `sov provider`
pub fn provider(args: ProviderArgs, _config: &Config, paths: &Paths) -> Result<i32> {
    // The PostgreSQL client runs a runtime of its own, which must not start inside ours.
    let store: Arc<dyn NullifierStore> = match &args.store {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Arc::new(sov_zkapi::PostgresStore::connect(url)?)
        }
        Some(path) => Arc::new(SqliteStore::open(Path::new(path))?),
        None => Arc::new(SqliteStore::open(&paths.data_dir.join("provider.db"))?),
    };
    runtime()?.block_on(async move {
        let contract = address(&args.contract)?;
        let credits = Credits::at(&args.chain.rpc, contract, signer(&args.chain)?)?;
        let external_nullifier = fr(credits.external_nullifier().await?)?;
        let price = credits.price().await?;
        let roots = Arc::new(Roots::new(ROOT_WINDOW));
        roots.push(fr(credits.root().await?)?);
        let (slash_tx, slash_rx) = tokio::sync::mpsc::unbounded_channel();
        let info = json!({
            "protocol": "zkapi-rln-v1",
            "contract": format!("{contract:#x}"),
            "price_wei": price.to_string(),
            "external_nullifier": to_hex(&external_nullifier),
            "ticket_header": TICKET_HEADER,
        });
        let proxy =
            Provider::new(external_nullifier, store.clone(), roots.clone(), &args.upstream, Some(slash_tx), info);
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("listening on {} (is another provider running there?)", args.listen))?;
        let local = listener.local_addr()?;
        tokio::spawn(follow_roots(credits.clone(), roots));
        tokio::spawn(slash_double_spenders(credits, store, slash_rx));
        // One line on stdout, so scripts and tests can find the port.
        println!("sov provider listening on http://{local} for contract {contract:#x}, upstream {}", args.upstream);
        axum::serve(listener, router(Arc::new(proxy)))
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")?;
        Ok(0)
    })
}

/// Keeps the window of accepted roots up to date with the contract.
async fn follow_roots(credits: Credits, roots: Arc<Roots>) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match credits.root().await.map_err(anyhow::Error::from).and_then(fr) {
            Ok(root) => roots.push(root),
            Err(e) => tracing::warn!("cannot read the contract's root: {e:#}"),
        }
    }
}

/// Slashes each double spender's deposit, paying the provider; retries what did not land.
async fn slash_double_spenders(
    credits: Credits,
    store: Arc<dyn NullifierStore>,
    mut found: tokio::sync::mpsc::UnboundedReceiver<(Fr, Fr)>,
) {
    loop {
        let pending = {
            let store = store.clone();
            tokio::task::spawn_blocking(move || store.unslashed()).await
        };
        for (commitment, secret) in pending.ok().and_then(Result::ok).unwrap_or_default() {
            match slash(&credits, &commitment, &secret).await {
                Ok(tx) => {
                    tracing::warn!(commitment = %to_hex(&commitment), %tx, "slashed a double spender's deposit");
                    let store = store.clone();
                    let _ = tokio::task::spawn_blocking(move || store.mark_slashed(&commitment, &tx)).await;
                }
                Err(e) => tracing::error!(commitment = %to_hex(&commitment), "slash failed, will retry: {e:#}"),
            }
        }
        // Wake on a new double spend, or retry failures every minute.
        let _ = tokio::time::timeout(Duration::from_secs(60), found.recv()).await;
    }
}

async fn slash(credits: &Credits, commitment: &Fr, secret: &Fr) -> Result<String> {
    let Some(member) = credits.member(u256(commitment)).await? else {
        bail!("no deposit with this identity");
    };
    let tree = membership(credits).await?;
    let path = tree.path(usize::try_from(member.leaf_index)?)?;
    let siblings: Vec<U256> = path.path_elements().iter().map(u256).collect();
    let slash = credits.slash(u256(secret), credits.account(), &siblings).await?;
    Ok(format!("{:#x}", slash.tx))
}
