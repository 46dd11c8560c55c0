//! `sov zkapi …` (anonymous prepaid credits, the paying side) and `sov provider` (the paid side).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use serde_json::{Value, json};
use sov_chain::{Credits, MemberState, PrivateKeySigner, U256};
use sov_core::config::Config;
use sov_core::paths::Paths;
use sov_zkapi::chain::{address, fr, membership, reader, u256};
use sov_zkapi::duties::{Duties, Schedule};
use sov_zkapi::field::to_hex;
use sov_zkapi::provider::{Provider, router};
use sov_zkapi::roots::{RootFollower, Roots};
use sov_zkapi::{Credit, CreditState, NullifierStore, Payer, Prover, SqliteStore, TICKET_HEADER, Wallet};

/// How many recent roots a ticket may be proved against (the contract keeps as many).
const ROOT_WINDOW: usize = 64;

/// The chain and the key that signs.
#[derive(Debug, Args)]
pub struct ChainArgs {
    /// Ethereum JSON-RPC endpoint of the chain the deposit contract is on [default: `[zkapi]
    /// rpc` in the config, http://127.0.0.1:8545].
    #[arg(long, env = "SOV_ETH_RPC", value_name = "URL")]
    pub rpc: Option<String>,
    /// A file holding the hex private key of the Ethereum account that pays gas and deposits
    /// (keep it mode 0600) [default: `[zkapi] key_file`]. Never the key on the command line.
    #[arg(long, env = "SOV_ETH_KEY_FILE", value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl ChainArgs {
    /// The flags, with what they leave out taken from the config.
    fn resolve(self, config: &Config) -> Chain {
        let configured_key = Some(config.zkapi.key_file.clone()).filter(|p| !p.as_os_str().is_empty());
        Chain { rpc: self.rpc.unwrap_or_else(|| config.zkapi.rpc.clone()), key_file: self.key_file.or(configured_key) }
    }
}

/// The chain to use and the key to sign with, flags and config merged.
struct Chain {
    rpc: String,
    key_file: Option<PathBuf>,
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
        /// Ethereum JSON-RPC endpoint, to read the deposit tree [default: `[zkapi] rpc`].
        #[arg(long, env = "SOV_ETH_RPC", value_name = "URL")]
        rpc: Option<String>,
    },
    /// Take a deposit back. The first run reveals the identity's secret on chain, which ends
    /// its calls and opens the provider's claim window for the calls it served; a run after the
    /// window (or with --wait) collects the refund of every call not claimed.
    Withdraw {
        /// The chain and the depositing account (only it may withdraw).
        #[command(flatten)]
        chain: ChainArgs,
        /// The identity to withdraw, as `sov zkapi balance` shows it; without it: every deposit.
        #[arg(long, value_name = "HEX")]
        identity: Option<String>,
        /// Wait until the claim window closes and collect the refund.
        #[arg(long)]
        wait: bool,
    },
}

/// `sov provider` flags; each defaults to its key in the config's `[provider]` section.
#[derive(Debug, Args)]
pub struct ProviderArgs {
    #[command(flatten)]
    chain: ChainArgs,
    /// The deposit contract whose depositors pay (see `sov zkapi deploy`) [default: `contract`].
    #[arg(long, value_name = "ADDRESS")]
    contract: Option<String>,
    /// The OpenAI-compatible (or any HTTP) server the paid requests go to [default: `upstream`,
    /// http://127.0.0.1:8080].
    #[arg(long, value_name = "URL")]
    upstream: Option<String>,
    /// Where the proxy listens [default: `listen`, 127.0.0.1:8090].
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// Spent tickets: a SQLite file or a postgres://… URL shared by several replicas [default:
    /// `store`, provider.db in the data directory].
    #[arg(long, value_name = "PATH|URL")]
    store: Option<String>,
    /// Seconds between two on-chain commits of served tickets [default: `commit_every_secs`, 600].
    #[arg(long, value_name = "SECONDS")]
    commit_every: Option<u64>,
    /// Milliseconds between two looks at the chain [default: `poll_ms`, 1000].
    #[arg(long, value_name = "MS")]
    poll_ms: Option<u64>,
    /// Fewest milliseconds between two extra looks at the chain for tickets that name a deposit
    /// tree the proxy does not know yet (a deposit made since its last look): each such ticket
    /// waits for the next permitted look, so a flood of them costs one look per interval.
    #[arg(long, value_name = "MS", default_value_t = sov_zkapi::roots::MIN_REFRESH_MS)]
    refresh_ms: u64,
    /// Send no transactions (commits, claims, slashes): for all but one of several replicas.
    #[arg(long)]
    no_chain_duties: bool,
    /// Serve sealed requests from inside a TEE: attest the HPKE key with a TDX or SEV-SNP report
    /// from configfs-tsm, serve the bundle at /.well-known/sovereign-attestation, open each
    /// request and seal each answer. Clients of `sov ask --remote` need this.
    #[arg(long, conflicts_with = "dev_no_tee")]
    tee: bool,
    /// With --tee: the collateral clients need to check the report, attached to the bundle and
    /// read again at each daily renewal (keep it fresh from Intel's PCS or a PCCS, or AMD's KDS):
    /// `{"intel_collateral": {...}}` (dcap-qvl's QuoteCollateralV3) for TDX, or
    /// `{"snp_certs": {"vcek": BASE64-DER, "cert_chain": PEM}}` for SEV-SNP.
    #[arg(long, value_name = "FILE", requires = "tee")]
    collateral: Option<PathBuf>,
    /// Like --tee but without a TEE, for development: the bundle carries no evidence and no
    /// client verifies it unless its config sets `[attest] allow_dev = true`.
    #[arg(long)]
    dev_no_tee: bool,
}

fn signer(chain: &Chain) -> Result<PrivateKeySigner> {
    let Some(path) = &chain.key_file else {
        bail!(
            "name the Ethereum key with --key-file FILE, SOV_ETH_KEY_FILE or `[zkapi] key_file` in the config: \
             a file holding its hex private key"
        );
    };
    let text = std::fs::read_to_string(path).with_context(|| format!("reading the key file {}", path.display()))?;
    text.trim().parse().map_err(|e| anyhow::anyhow!("the key file {} holds no hex private key: {e}", path.display()))
}

fn wallet(paths: &Paths) -> Result<Wallet> {
    Ok(Wallet::open_in(paths)?)
}

/// The outbound policy of `[net]`: the chain and ZK-API providers are reached through it only.
fn net(config: &Config, paths: &Paths) -> Result<Arc<sov_net::Net>> {
    sov_net::Net::new(&config.net, &paths.data_dir).context("the [net] section of the config")
}

/// The most a provider's answer (or its `/zkapi` description) may hold.
const MAX_ANSWER_BYTES: usize = 64 << 20;

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread().enable_all().build().context("starting the async runtime")
}

/// `sov zkapi …`
pub fn run(cmd: ZkapiCommand, config: &Config, paths: &Paths) -> Result<i32> {
    let net = net(config, paths)?;
    let chain_http = net.http(sov_net::Class::Chain);
    runtime()?.block_on(async move {
        match cmd {
            ZkapiCommand::Deploy { chain, price, claim_window } => {
                let chain = chain.resolve(config);
                let price: U256 =
                    price.parse().map_err(|e| anyhow::anyhow!("--price `{price}` is not a number of wei: {e}"))?;
                // One constant external nullifier per provider, random so that tickets for one
                // provider are worthless at any other.
                let external_nullifier = sov_zkapi::field::random();
                let credits = Credits::deploy(
                    &chain.rpc,
                    signer(&chain)?,
                    price,
                    u256(&external_nullifier),
                    claim_window,
                    &chain_http,
                )
                .await?;
                println!("{:#x}", credits.address());
                eprintln!(
                    "deployed; start the proxy with: sov provider --contract {:#x} --upstream URL",
                    credits.address()
                );
                Ok(0)
            }
            ZkapiCommand::Deposit { chain, contract, tickets } => {
                let chain = chain.resolve(config);
                let contract_address = address(&contract)?;
                let credits = Credits::at(&chain.rpc, contract_address, signer(&chain)?, &chain_http)?;
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
            ZkapiCommand::Call { url, data, rpc } => {
                let rpc = rpc.unwrap_or_else(|| config.zkapi.rpc.clone());
                call(paths, &url, data, &rpc, &chain_http, &net.http(sov_net::Class::Zkapi)).await
            }
            ZkapiCommand::Withdraw { chain, identity, wait } => {
                withdraw(paths, &chain.resolve(config), identity.as_deref(), wait, &chain_http).await
            }
        }
    })
}

/// `sov zkapi call`: reads the deposit tree through `chain_http`, then talks to the provider
/// through `zkapi_http` (`[net] zkapi`).
async fn call(
    paths: &Paths,
    url: &str,
    data: Option<String>,
    rpc: &str,
    chain_http: &sov_net::Http,
    zkapi_http: &sov_net::Http,
) -> Result<i32> {
    let body = match data {
        Some(text) if text.starts_with('@') => {
            std::fs::read(&text[1..]).with_context(|| format!("reading the request body from {}", &text[1..]))?
        }
        Some(text) => text.into_bytes(),
        None => Vec::new(),
    };
    let parsed: http::Uri = url.parse().map_err(|e| anyhow::anyhow!("`{url}` is not a URL: {e}"))?;
    let (Some(scheme), Some(authority)) = (parsed.scheme_str(), parsed.authority()) else {
        bail!("`{url}` is not an absolute URL (http://host:port/path)");
    };
    let info_url: http::Uri = format!("{scheme}://{authority}/zkapi").parse()?;
    let info_request = http::Request::get(info_url.clone()).body(bytes::Bytes::new())?;
    let info = zkapi_http
        .send(info_request)
        .await
        .with_context(|| format!("asking {info_url} how this provider is paid"))?
        .into_body()
        .collect(MAX_ANSWER_BYTES)
        .await
        .with_context(|| format!("reading {info_url}"))?;
    let info: Value =
        serde_json::from_slice(&info).with_context(|| format!("{info_url} did not describe a ZK-API provider"))?;
    let contract = address(info["contract"].as_str().unwrap_or_default())?;
    let external_nullifier = sov_zkapi::field::from_hex(
        "the provider's external nullifier",
        info["external_nullifier"].as_str().unwrap_or_default(),
    )?;
    let credits = reader(rpc, contract, chain_http)?;
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
    let mut request =
        http::Request::builder().method(method).uri(parsed.clone()).header(TICKET_HEADER, ticket.encode());
    if !body.is_empty() {
        request = request.header(http::header::CONTENT_TYPE, "application/json");
    }
    let request = request.body(bytes::Bytes::from(body))?;
    let response = zkapi_http
        .send(request)
        .await
        .with_context(|| format!("sending the paid request to {scheme}://{authority}"))?;
    let status = response.status();
    let text = response.into_body().collect(MAX_ANSWER_BYTES).await.context("reading the provider's answer")?;
    println!("{}", String::from_utf8_lossy(&text));
    if !status.is_success() {
        bail!("the provider answered {status}");
    }
    Ok(0)
}

/// `sov zkapi withdraw`: reveals, then collects, each chosen deposit.
async fn withdraw(
    paths: &Paths,
    chain: &Chain,
    identity: Option<&str>,
    wait: bool,
    chain_http: &sov_net::Http,
) -> Result<i32> {
    let wallet = wallet(paths)?;
    let chosen: Vec<Credit> = match identity {
        Some(hex) => {
            let commitment = sov_zkapi::field::from_hex("--identity", hex)?;
            let found = wallet.credits()?.into_iter().filter(|c| c.commitment == commitment).collect::<Vec<_>>();
            if found.is_empty() {
                bail!("no deposit {hex} in this wallet; `sov zkapi balance` lists them");
            }
            found
        }
        None => wallet
            .credits()?
            .into_iter()
            .filter(|c| matches!(c.state, CreditState::Active | CreditState::Withdrawing))
            .collect(),
    };
    if chosen.is_empty() {
        println!("nothing to withdraw");
    }
    let signer = signer(chain)?;
    for credit in chosen {
        let hex = to_hex(&credit.commitment);
        let credits = Credits::at(&chain.rpc, address(&credit.contract)?, signer.clone(), chain_http)?;
        let commitment = u256(&credit.commitment);
        let Some(member) = credits.member(commitment).await? else {
            bail!("deposit {hex} is not registered in contract {}", credit.contract);
        };
        match member.state {
            MemberState::Active => {
                // Marked first, so no call is paid with a secret that is about to be public.
                wallet.set_state(&credit.commitment, CreditState::Withdrawing)?;
                let secret = wallet.secret(&credit.commitment)?;
                let tree = membership(&credits).await?;
                let siblings: Vec<U256> =
                    tree.path(usize::try_from(member.leaf_index)?)?.path_elements().iter().map(u256).collect();
                let request = match credits.request_withdraw(u256(&secret), &siblings).await {
                    Ok(request) => request,
                    Err(e) => {
                        wallet.set_state(&credit.commitment, CreditState::Active)?;
                        return Err(e.into());
                    }
                };
                println!(
                    "withdrawal of {hex} requested (tx {:#x}); the provider may claim the calls it served until {}",
                    request.tx,
                    rfc3339(request.deadline)
                );
                if wait {
                    finalize(&credits, &wallet, &credit, request.deadline).await?;
                } else {
                    println!("collect the refund after then with `sov zkapi withdraw --identity {hex}` (or --wait)");
                }
            }
            MemberState::Withdrawing => {
                wallet.set_state(&credit.commitment, CreditState::Withdrawing)?;
                let deadline = credits.withdrawal(commitment).await?.map(|w| w.deadline).unwrap_or_default();
                if wait || unix_now() > deadline {
                    finalize(&credits, &wallet, &credit, deadline).await?;
                } else {
                    println!(
                        "{hex}: the provider's claim window is open until {}; run again after then, or with --wait",
                        rfc3339(deadline)
                    );
                }
            }
            MemberState::Withdrawn => {
                wallet.set_state(&credit.commitment, CreditState::Closed)?;
                match credits.payout(commitment).await? {
                    Some(done) => println!(
                        "{hex} was paid out: refunded {} wei; {} wei paid to the provider (tx {:#x})",
                        done.refund, done.provider_amount, done.tx
                    ),
                    None => println!("{hex} was paid out"),
                }
            }
            MemberState::Slashed => {
                wallet.set_state(&credit.commitment, CreditState::Slashed)?;
                println!("{hex} was slashed: its secret was revealed by a double spend, and its deposit taken");
            }
        }
    }
    Ok(0)
}

/// Waits for the claim window to close, then pays out: the refund to the depositor, the
/// claimed calls to the provider.
async fn finalize(credits: &Credits, wallet: &Wallet, credit: &Credit, deadline: u64) -> Result<()> {
    let now = unix_now();
    if now <= deadline {
        eprintln!("waiting {} s for the claim window to close at {}", deadline + 1 - now, rfc3339(deadline));
        // The chain's clock, not ours, decides; a block made one second after the deadline is past it.
        tokio::time::sleep(Duration::from_secs(deadline + 1 - now)).await;
    }
    let commitment = u256(&credit.commitment);
    let done = match credits.finalize_withdraw(commitment).await {
        Ok(done) => done,
        // Anyone may pay a withdrawal out once its window closed; the provider often does.
        Err(e) => match credits.payout(commitment).await? {
            Some(done) => done,
            None => return Err(e.into()),
        },
    };
    wallet.set_state(&credit.commitment, CreditState::Closed)?;
    println!(
        "{}: refunded {} wei; {} wei paid to the provider for the calls it proved (tx {:#x})",
        to_hex(&credit.commitment),
        done.refund,
        done.provider_amount,
        done.tx
    );
    Ok(())
}

fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

fn rfc3339(unix: u64) -> String {
    i64::try_from(unix)
        .ok()
        .and_then(|secs| chrono::DateTime::from_timestamp(secs, 0))
        .map_or_else(|| format!("unix time {unix}"), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

/// `sov provider`
pub fn provider(args: ProviderArgs, config: &Config, paths: &Paths) -> Result<i32> {
    let settings = &config.provider;
    let store_location = args.store.clone().or_else(|| Some(settings.store.clone()).filter(|s| !s.is_empty()));
    // The PostgreSQL client runs a runtime of its own, which must not start inside ours.
    let store: Arc<dyn NullifierStore> = match &store_location {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Arc::new(sov_zkapi::PostgresStore::connect(url)?)
        }
        Some(path) => Arc::new(SqliteStore::open(Path::new(path))?),
        None => Arc::new(SqliteStore::open(&paths.data_dir.join("provider.db"))?),
    };
    let contract = match args.contract.clone().or_else(|| Some(settings.contract.clone()).filter(|c| !c.is_empty())) {
        Some(contract) => address(&contract)?,
        None => bail!("name the deposit contract with --contract ADDRESS or `[provider] contract` in the config"),
    };
    let upstream = args.upstream.clone().unwrap_or_else(|| settings.upstream.clone());
    let listen = match args.listen {
        Some(listen) => listen,
        None => settings.listen.parse().with_context(|| format!("`[provider] listen` = {}", settings.listen))?,
    };
    let poll = Duration::from_millis(args.poll_ms.unwrap_or(settings.poll_ms).max(1));
    let refresh = Duration::from_millis(args.refresh_ms);
    let commit_every = Duration::from_secs(args.commit_every.unwrap_or(settings.commit_every_secs).max(1));
    let duties = settings.chain_duties && !args.no_chain_duties;
    let chain = args.chain.resolve(config);
    let chain_http = net(config, paths)?.http(sov_net::Class::Chain);
    runtime()?.block_on(async move {
        let credits = Credits::at(&chain.rpc, contract, signer(&chain)?, &chain_http)?;
        let external_nullifier = fr(credits.external_nullifier().await?)?;
        let price = credits.price().await?;
        let roots = Arc::new(Roots::new(ROOT_WINDOW));
        let head = credits.block_number().await?;
        roots.push(fr(credits.root().await?)?);
        let follower = Arc::new(RootFollower::new(credits.clone(), roots.clone(), head + 1).with_min_interval(refresh));
        let (slash_tx, slash_rx) = tokio::sync::mpsc::unbounded_channel();
        let info = json!({
            "protocol": "zkapi-rln-v1",
            "contract": format!("{contract:#x}"),
            "price_wei": price.to_string(),
            "external_nullifier": to_hex(&external_nullifier),
            "ticket_header": TICKET_HEADER,
        });
        let (paid_upstream, attestation) = if args.tee || args.dev_no_tee {
            let evidence = match args.dev_no_tee {
                true => Evidence::Dev,
                false => Evidence::Tee { collateral: args.collateral.clone() },
            };
            let (gateway, bundle) = sealing_gateway(paths, &upstream, evidence).await?;
            (gateway, Some(bundle))
        } else {
            (upstream.clone(), None)
        };
        let proxy = Provider::new(external_nullifier, store.clone(), roots, &paid_upstream, Some(slash_tx), info)
            .following(follower.clone());
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("listening on {listen} (is another provider running there?)"))?;
        let local = listener.local_addr()?;
        tokio::spawn(follower.follow(poll));
        if duties {
            let duties = Duties::new(credits, store, external_nullifier);
            tokio::spawn(duties.run(slash_rx, Schedule { commit_every, poll }));
        } else {
            tracing::info!("--no-chain-duties: another replica commits, claims and slashes");
        }
        // One line on stdout, so scripts and tests can find the port; a closed stdout must not
        // end the daemon (println! would panic), so a failure to write it is ignored.
        let line =
            format!("sov provider listening on http://{local} for contract {contract:#x}, upstream {upstream}\n");
        let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), line.as_bytes());
        let mut app = router(Arc::new(proxy));
        if let Some(bundle) = attestation {
            // The bundle is free: a client checks it before it pays for anything.
            let attested = axum::routing::get(move || {
                let json = bundle.json();
                async move { ([(axum::http::header::CONTENT_TYPE, "application/json")], json) }
            });
            app = axum::Router::new().route(sov_remote::ATTESTATION_PATH, attested).merge(app);
        }
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .context("serving")?;
        Ok(0)
    })
}

/// Starts the gateway that opens sealed requests, forwards them to `upstream` and seals the
/// answers, on a loopback port of its own that the paid proxy forwards to. Returns its URL and
/// the attestation bundle to serve.
/// What vouches for the provider's HPKE key.
#[derive(Debug, Clone)]
enum Evidence {
    /// Nothing: development only.
    Dev,
    /// A TEE report from configfs-tsm, with the collateral from this file.
    Tee { collateral: Option<PathBuf> },
}

async fn sealing_gateway(
    paths: &Paths,
    upstream: &str,
    evidence: Evidence,
) -> Result<(String, sov_remote::BundleHandle)> {
    let key_file = paths.data_dir.join("provider-hpke.key");
    let key = if key_file.exists() {
        sov_remote::KeyPair::load(&key_file)?
    } else {
        let key = sov_remote::KeyPair::generate();
        key.save(&key_file)?;
        key
    };
    let public_key = key.public_key();
    let epoch = sov_remote::epoch_at(std::time::SystemTime::now());
    if matches!(evidence, Evidence::Dev) {
        eprintln!(
            "WARNING: --dev-no-tee: this provider runs in no TEE and its key is attested by nothing. \
             Clients refuse it unless they set `[attest] allow_dev = true`; never use it for real data."
        );
    }
    let bundle = attest_key(&evidence, &public_key, epoch)
        .context("attesting the HPKE key (on a machine without a TEE, --dev-no-tee serves a development bundle)")?;
    let handle = sov_remote::BundleHandle::new(&bundle);
    // A bundle is good for its epoch (a day) and the next: renew it when the day changes.
    let renewed = handle.clone();
    tokio::spawn(async move {
        let mut current = epoch;
        loop {
            tokio::time::sleep(Duration::from_secs(600)).await;
            let epoch = sov_remote::epoch_at(std::time::SystemTime::now());
            if epoch == current {
                continue;
            }
            match attest_key(&evidence, &public_key, epoch) {
                Ok(bundle) => {
                    renewed.set(&bundle);
                    current = epoch;
                }
                Err(e) => tracing::error!("renewing the attestation bundle failed, will retry: {e}"),
            }
        }
    });
    let gateway = sov_remote::Gateway::new(key, upstream, handle.clone())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.context("starting the sealing gateway")?;
    let address = listener.local_addr()?;
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, gateway.router()).await {
            tracing::error!("the sealing gateway stopped: {e}");
        }
    });
    Ok((format!("http://{address}"), handle))
}

/// The bundle vouching for `public_key` in `epoch`: a TEE report with its collateral, or
/// nothing at all in development.
fn attest_key(evidence: &Evidence, public_key: &sov_remote::PublicKey, epoch: u64) -> Result<sov_attest::Bundle> {
    let expires_at = sov_remote::epoch_expires_at(epoch);
    match evidence {
        Evidence::Dev => Ok(sov_remote::dev_bundle(public_key, epoch, expires_at)),
        Evidence::Tee { collateral } => {
            let mut bundle = sov_remote::tee_bundle(public_key, epoch, expires_at)?;
            match collateral {
                Some(file) => sov_attest::Collateral::read(file)
                    .and_then(|c| c.attach(&mut bundle))
                    .with_context(|| format!("--collateral {}", file.display()))?,
                None => tracing::warn!(
                    "the attestation bundle carries no collateral: clients refuse the report until --collateral FILE supplies it"
                ),
            }
            Ok(bundle)
        }
    }
}
