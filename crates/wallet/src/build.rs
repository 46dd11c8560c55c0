//! Sends, swaps and calls built by the wallet, never by the agent: from what the agent asks ("30
//! USDC to bob.eth"), the wallet chooses the account, resolves the name, encodes the
//! transaction, decodes it back ([`crate::decode`]), prices it from the user's table
//! ([`crate::price`]), simulates it on the latest state ([`crate::simulate`]), and writes the gate
//! action the AI reviewer and the human see: the decoded call, the balance changes the
//! simulation shows, the value the caps count, and why it must wait whatever the caps.
//!
//! # What the gate is told, and from where
//! - `value_usd`: the larger of what the call says it moves (the amount asked, priced) and what
//!   the simulation shows leaving the user's accounts (every asset priced). An asset the table
//!   has no price for is refused ([`Error::NoPrice`]), never valued at zero.
//! - `recipients`: who the call names and every other address the simulation shows gaining
//!   something from it (a "transfer" of a hostile token that pays a third party names that
//!   party), so the gate's "never paid before" rule sees them.
//! - `must_confirm`: the decoder's reasons, and the builder's: a simulation that moves other
//!   amounts than the call says, a swap that accepts more slippage than `[wallet]
//!   max_slippage_pct` or whose quote is far below the price table, a swap into something the
//!   table cannot price, an item (NFT) leaving the account, the zero address.
//! - `calldata_bytes`: the call data's length.
//!
//! # What this does not do
//! A build reads the chain (through the outbound policy) but signs and sends nothing: the gate
//! decides, and the executor ([`crate::exec`]) signs what was approved. The simulation is of the
//! latest block; the state may change before the transaction is mined (a swap's minimum output
//! bounds a moved pool; a transfer does not depend on it).

use std::sync::Arc;

use alloy::primitives::{Address, Bytes, I256, U256};
use alloy::providers::Provider;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use serde_json::{Value, json};
use sov_gate::{ActionRequest, Kind};

use crate::decode::{self, Call};
use crate::price::{Asset, Prices};
use crate::read::Reader;
use crate::send::Outgoing;
use crate::simulate::{Moved, Simulation};
use crate::{Error, Keystore};

alloy::sol! {
    function WETH() external view returns (address);
    function getAmountsOut(uint256 amountIn, address[] path) external view returns (uint256[] amounts);
    function allowance(address owner, address spender) external view returns (uint256);
}

/// A swap's deadline: this long after the latest block.
pub const SWAP_DEADLINE_SECS: u64 = 20 * 60;
/// A swap's slippage when the agent names none, in basis points of the quote (0.5 %).
pub const DEFAULT_SLIPPAGE_BPS: u32 = 50;
/// A quote worth less than this share of what goes in (by the price table) waits for the human.
const FAIR_QUOTE: f64 = 0.9;
/// At most this many balance changes are shown; more waits for the human.
const MAX_CHANGES: usize = 16;

/// The wallet's builder: reads through `reader`, the user's accounts from `keystore`.
#[derive(Debug, Clone)]
pub struct Builder {
    reader: Arc<Reader>,
    keystore: Keystore,
    prices: Prices,
    router: Option<Address>,
    max_slippage_bps: u32,
}

/// A built action, ready to submit to the gate.
#[derive(Debug, Clone)]
pub struct Built {
    /// The gate action.
    pub request: ActionRequest,
    /// The account that would sign.
    pub from: Address,
    /// The transaction.
    pub outgoing: Outgoing,
    /// What the simulation showed.
    pub simulation: Simulation,
}

/// A decimal amount of whole units (`30`, `0.5`) in the smallest unit of an asset with
/// `decimals`: exact, no floats.
///
/// # Errors
/// [`Error::InvalidAmount`] for anything else: signs, exponents, more decimals than the asset
/// has, zero, or more than 2^256.
pub fn parse_units(text: &str, decimals: u8) -> Result<U256, Error> {
    let bad = |reason: String| Error::InvalidAmount { amount: text.chars().take(40).collect(), reason };
    let t = text.trim();
    let (int, frac) = t.split_once('.').unwrap_or((t, ""));
    if int.is_empty() && frac.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return Err(bad("write it as a decimal number of whole units, such as 30 or 0.5".into()));
    }
    if frac.len() > usize::from(decimals) {
        return Err(bad(format!("it has more than the {decimals} decimals this asset has")));
    }
    let digits = format!("{int}{frac:0<width$}", width = usize::from(decimals));
    let digits = digits.trim_start_matches('0');
    if digits.is_empty() {
        return Err(bad("it is zero".into()));
    }
    U256::from_str_radix(digits, 10).map_err(|_| bad("it is larger than any balance can be".into()))
}

/// `amount` (smallest unit, signed) in whole units of an asset with `decimals`, exact.
fn whole(amount: I256, decimals: u8) -> String {
    let sign = if amount.is_negative() { "-" } else { "" };
    format!("{sign}{}", crate::price::whole_units(amount.unsigned_abs(), decimals))
}

/// `text` as an asset: `ETH`, or a token's contract address.
///
/// # Errors
/// [`Error::InvalidAmount`]-like [`Error::InvalidAsset`] for anything else.
pub fn parse_asset(text: &str) -> Result<Asset, Error> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("eth") {
        return Ok(Asset::Eth);
    }
    t.parse::<Address>().map(Asset::Token).map_err(|_| Error::InvalidAsset { asset: t.chars().take(60).collect() })
}

impl Builder {
    /// A builder reading through `reader`, for the accounts of `keystore`, with the config's
    /// prices, router and slippage limit.
    pub fn new(reader: Arc<Reader>, keystore: Keystore, config: &sov_core::config::WalletConfig) -> Builder {
        Builder {
            reader,
            keystore,
            prices: Prices::from_config(config),
            router: config.router.parse().ok(),
            // The config checked 0..=100.
            max_slippage_bps: (config.max_slippage_pct * 100.0).round().clamp(0.0, 10_000.0) as u32,
        }
    }

    /// The same builder with swaps through `router`.
    pub fn with_router(mut self, router: Address) -> Builder {
        self.router = Some(router);
        self
    }

    /// The reader this builder reads through.
    pub fn reader(&self) -> &Arc<Reader> {
        &self.reader
    }

    /// The account named by `from` (an address or ENS name of one of the user's accounts; the
    /// default one when `None`) and all of the user's accounts.
    async fn account(&self, from: Option<&str>) -> Result<(Address, Vec<Address>), Error> {
        let keystore = self.keystore.clone();
        let accounts = tokio::task::spawn_blocking(move || keystore.list())
            .await
            .map_err(|e| Error::Tx(format!("listing the keystore: {e}")))??;
        let own: Vec<Address> = accounts.iter().map(|a| a.address).collect();
        let chosen = match from.map(str::trim).filter(|f| !f.is_empty()) {
            None => accounts
                .iter()
                .find(|a| a.is_default)
                .or(accounts.first())
                .map(|a| a.address)
                .ok_or(Error::NoAccounts)?,
            Some(name) if name.contains('.') => self.reader.resolve(name).await?.value,
            Some(text) => text.parse().map_err(|_| Error::InvalidAsset { asset: text.chars().take(60).collect() })?,
        };
        if !own.contains(&chosen) {
            return Err(Error::UnknownAccount { address: chosen });
        }
        Ok((chosen, own))
    }

    /// `to` (an address, or an ENS name resolved now) and how to show it.
    async fn recipient(&self, to: &str) -> Result<(Address, String), Error> {
        let to = to.trim();
        if to.contains('.') {
            let address = self.reader.resolve(to).await?.value;
            return Ok((address, format!("{to} ({address})")));
        }
        let address: Address = to.parse().map_err(|_| Error::InvalidRecipient { to: to.chars().take(60).collect() })?;
        Ok((address, address.to_string()))
    }

    /// An asset's decimals and symbol (the token's own words, cleaned).
    async fn describe(&self, asset: Asset) -> Result<(u8, String), Error> {
        match asset {
            Asset::Eth => Ok((18, "ETH".into())),
            Asset::Token(token) => {
                let info = self.reader.token(token).await?.value;
                Ok((info.decimals, format!("{} ({token})", info.symbol)))
            }
        }
    }

    /// A send of `amount` whole units of `asset` from `from` (default account) to `to`.
    ///
    /// # Errors
    /// A bad account, recipient or amount, an asset without a price, a transfer the node says
    /// would fail or cannot simulate: each says what and why; nothing is submitted.
    pub async fn send(&self, from: Option<&str>, to: &str, asset: Asset, amount: &str) -> Result<Built, Error> {
        let (from, own) = self.account(from).await?;
        let (to, shown) = self.recipient(to).await?;
        let (decimals, symbol) = self.describe(asset).await?;
        let amount = parse_units(amount, decimals)?;
        let declared_usd = self.prices.usd(asset, amount, decimals)?;
        let (outgoing, moved) = match asset {
            Asset::Eth => (Outgoing { to, value: amount, data: Bytes::new() }, Moved::Eth),
            Asset::Token(token) => (
                Outgoing {
                    to: token,
                    value: U256::ZERO,
                    data: decode::transferCall { to, amount }.abi_encode().into(),
                },
                Moved::Token(token),
            ),
        };
        let summary = format!(
            "send {} {symbol} (≈{declared_usd:.2} USD) from {from} to {shown}",
            crate::price::whole_units(amount, decimals)
        );
        let signed = I256::try_from(amount).unwrap_or(I256::MAX);
        let check = move |sim: &Simulation| {
            let (paid, got) = (sim.delta(from, moved), sim.delta(to, moved));
            if from != to && (paid != -signed || got != signed) {
                vec![format!(
                    "the simulation moves other amounts than the transfer says: your account {}, the recipient {} (smallest units)",
                    paid, got
                )]
            } else {
                Vec::new()
            }
        };
        self.finish(Kind::WalletTransfer, from, &own, outgoing, summary, vec![to], declared_usd, Vec::new(), &check)
            .await
    }

    /// A swap of `amount` whole units of `sell` for `buy` through the router, accepting
    /// `slippage_pct` below the router's quote (default 0.5 %), the output to `from`.
    ///
    /// # Errors
    /// As [`Builder::send`], and [`Error::NoRouter`] without `[wallet] router`; a token sold
    /// that the router may not spend yet is refused (approving it is a call of its own, which
    /// waits for the human).
    pub async fn swap(
        &self,
        from: Option<&str>,
        sell: Asset,
        buy: Asset,
        amount: &str,
        slippage_pct: Option<f64>,
    ) -> Result<Built, Error> {
        let router = self.router.ok_or(Error::NoRouter)?;
        if sell == buy {
            return Err(Error::InvalidAsset { asset: format!("{sell} for itself") });
        }
        let bps = match slippage_pct {
            None => DEFAULT_SLIPPAGE_BPS,
            Some(p) if p.is_finite() && (0.0..=100.0).contains(&p) => (p * 100.0).round() as u32,
            Some(p) => {
                return Err(Error::InvalidAmount {
                    amount: p.to_string(),
                    reason: "slippage is a percentage from 0 to 100".into(),
                });
            }
        };
        let (from, own) = self.account(from).await?;
        let provider = self.reader.provider();
        let weth = self.view(router, WETHCall {}).await?;
        let token_of = |asset: Asset| match asset {
            Asset::Eth => weth,
            Asset::Token(t) => t,
        };
        let (a, b) = (token_of(sell), token_of(buy));
        let path = if a == weth || b == weth { vec![a, b] } else { vec![a, weth, b] };
        let (decimals_in, symbol_in) = self.describe(sell).await?;
        let (decimals_out, symbol_out) = self.describe(buy).await?;
        let amount_in = parse_units(amount, decimals_in)?;
        let in_usd = self.prices.usd(sell, amount_in, decimals_in)?;
        if let Asset::Token(token) = sell {
            let allowed = self.view(token, allowanceCall { owner: from, spender: router }).await?;
            if allowed < amount_in {
                return Err(Error::Tx(format!(
                    "the router {router} may not spend your {symbol_in} yet (allowance {allowed}): approving it is a call \
                     of its own (`approve`), which always waits for you; nothing was submitted"
                )));
            }
        }
        let amounts = self.view(router, getAmountsOutCall { amountIn: amount_in, path: path.clone() }).await?;
        let quote = amounts.last().copied().unwrap_or_default();
        let min_out = quote * U256::from(10_000 - bps.min(10_000)) / U256::from(10_000u32);
        let latest = provider
            .get_block_by_number(alloy::eips::BlockNumberOrTag::Latest)
            .await
            .map_err(|e| Error::Rpc { action: "reading the latest block", message: e.to_string() })?
            .ok_or_else(|| Error::Rpc { action: "reading the latest block", message: "no block".into() })?;
        let deadline = U256::from(latest.header.timestamp + SWAP_DEADLINE_SECS);
        let (value, data): (U256, Bytes) = match (sell, buy) {
            (Asset::Eth, _) => (
                amount_in,
                decode::swapExactETHForTokensCall { amountOutMin: min_out, path, to: from, deadline }
                    .abi_encode()
                    .into(),
            ),
            (_, Asset::Eth) => (
                U256::ZERO,
                decode::swapExactTokensForETHCall {
                    amountIn: amount_in,
                    amountOutMin: min_out,
                    path,
                    to: from,
                    deadline,
                }
                .abi_encode()
                .into(),
            ),
            _ => (
                U256::ZERO,
                decode::swapExactTokensForTokensCall {
                    amountIn: amount_in,
                    amountOutMin: min_out,
                    path,
                    to: from,
                    deadline,
                }
                .abi_encode()
                .into(),
            ),
        };
        let mut extra = Vec::new();
        if bps > self.max_slippage_bps {
            extra.push(format!(
                "it accepts {:.2} % below the quote, more than [wallet] max_slippage_pct ({:.2} %)",
                f64::from(bps) / 100.0,
                f64::from(self.max_slippage_bps) / 100.0
            ));
        }
        let out_usd = match self.prices.usd(buy, quote, decimals_out) {
            Ok(usd) => {
                if usd < in_usd * FAIR_QUOTE {
                    extra.push(format!(
                        "the pool pays ≈{usd:.2} USD of {symbol_out} for ≈{in_usd:.2} USD of {symbol_in} by your price table"
                    ));
                }
                format!("≈{usd:.2} USD")
            }
            Err(_) => {
                extra.push(format!(
                    "no price for {symbol_out} in [wallet] prices: the wallet cannot tell whether the pool pays fairly"
                ));
                "no price".into()
            }
        };
        let summary = format!(
            "swap {} {symbol_in} (≈{in_usd:.2} USD) for at least {} {symbol_out} (quote {}, {out_usd}) through {router}",
            crate::price::whole_units(amount_in, decimals_in),
            crate::price::whole_units(min_out, decimals_out),
            crate::price::whole_units(quote, decimals_out),
        );
        let bought = match buy {
            Asset::Eth => Moved::Eth,
            Asset::Token(t) => Moved::Token(t),
        };
        let floor = I256::try_from(min_out).unwrap_or(I256::MAX);
        let check = move |sim: &Simulation| {
            let got = sim.delta(from, bought);
            if got < floor {
                vec![format!("the simulation gives your account {got} of what it buys, less than the minimum {floor}")]
            } else {
                Vec::new()
            }
        };
        let outgoing = Outgoing { to: router, value, data };
        self.finish(Kind::WalletCall, from, &own, outgoing, summary, vec![router], in_usd, extra, &check).await
    }

    /// A call of `data` on `to`, with `value` whole ETH sent along.
    ///
    /// # Errors
    /// As [`Builder::send`]; `data` must be hex.
    pub async fn call(&self, from: Option<&str>, to: &str, data: &str, value: Option<&str>) -> Result<Built, Error> {
        let (from, own) = self.account(from).await?;
        let (to, shown) = self.recipient(to).await?;
        let hex = data.trim();
        let data: Bytes = alloy::hex::decode(hex.strip_prefix("0x").unwrap_or(hex))
            .map_err(|e| Error::InvalidCallData { reason: e.to_string() })?
            .into();
        let value = match value.map(str::trim).filter(|v| !v.is_empty() && *v != "0") {
            None => U256::ZERO,
            Some(v) => parse_units(v, 18)?,
        };
        let declared_usd = if value.is_zero() { 0.0 } else { self.prices.usd(Asset::Eth, value, 18)? };
        let summary = format!(
            "call {shown} with {} bytes of data and {} ETH, from {from}",
            data.len(),
            crate::price::whole_units(value, 18)
        );
        let outgoing = Outgoing { to, value, data };
        self.finish(Kind::WalletCall, from, &own, outgoing, summary, vec![to], declared_usd, Vec::new(), &|_| {
            Vec::new()
        })
        .await
    }

    async fn view<C: SolCall>(&self, to: Address, call: C) -> Result<C::Return, Error> {
        let request = TransactionRequest::default()
            .to(to)
            .input(alloy::rpc::types::TransactionInput::new(call.abi_encode().into()));
        let out = self
            .reader
            .provider()
            .call(request)
            .await
            .map_err(|e| Error::Rpc { action: C::SIGNATURE, message: e.to_string() })?;
        C::abi_decode_returns(&out)
            .map_err(|e| Error::Rpc { action: C::SIGNATURE, message: format!("{to} answered something else: {e}") })
    }

    /// Decodes, simulates, values and writes the action.
    #[allow(clippy::too_many_arguments)]
    async fn finish(
        &self,
        kind: Kind,
        from: Address,
        own: &[Address],
        outgoing: Outgoing,
        summary: String,
        named: Vec<Address>,
        declared_usd: f64,
        mut must_confirm: Vec<String>,
        check: &(dyn Fn(&Simulation) -> Vec<String> + Sync),
    ) -> Result<Built, Error> {
        let decoded = decode::decode(outgoing.to, outgoing.value, &outgoing.data, own);
        let provider = self.reader.provider();
        let chain_id = provider
            .get_chain_id()
            .await
            .map_err(|e| Error::Rpc { action: "reading the chain id", message: e.to_string() })?;
        let simulation = crate::simulate::simulate(provider, from, &outgoing).await?;
        must_confirm.extend(decoded.must_confirm.iter().cloned());
        must_confirm.extend(check(&simulation));
        if named.contains(&Address::ZERO) {
            must_confirm.push("it goes to the zero address: whatever is sent there is lost".into());
        }
        if simulation.changes.len() > MAX_CHANGES {
            must_confirm
                .push(format!("it moves {} balances, more than the {MAX_CHANGES} shown", simulation.changes.len()));
        }
        // What leaves the user's accounts, priced; who gains.
        let mut lost_usd = 0.0;
        let mut changes = Vec::new();
        let mut recipients: Vec<Address> = named.clone();
        for change in simulation.changes.iter().take(MAX_CHANGES) {
            let mine = own.contains(&change.holder);
            let (asset, decimals, symbol) = match change.asset {
                Moved::Eth => (Some(Asset::Eth), 18, "ETH".to_owned()),
                Moved::Token(t) => {
                    let (decimals, symbol) = self.describe(Asset::Token(t)).await?;
                    (Some(Asset::Token(t)), decimals, symbol)
                }
                Moved::Nft(c) => (None, 0, format!("items of the collection {c}")),
            };
            if mine && change.delta.is_negative() {
                match asset {
                    Some(asset) => lost_usd += self.prices.usd(asset, change.delta.unsigned_abs(), decimals)?,
                    None => must_confirm.push(format!("{} {symbol} leave your account", change.delta.unsigned_abs())),
                }
            }
            if !mine && change.delta.is_positive() && !recipients.contains(&change.holder) {
                recipients.push(change.holder);
            }
            let who = if mine {
                "you"
            } else if named.contains(&change.holder) {
                "named"
            } else {
                ""
            };
            changes.push(json!({
                "holder": change.holder.to_string(), "who": who, "asset": symbol,
                "change": if asset.is_some() { whole(change.delta, decimals) } else { change.delta.to_string() },
            }));
        }
        let value_usd = declared_usd.max(lost_usd);
        let to_self = recipients.iter().all(|r| own.contains(r));
        let params = json!({
            "from": from.to_string(),
            "chain_id": chain_id,
            "to": outgoing.to.to_string(),
            "value_wei": outgoing.value.to_string(),
            "data": format!("0x{}", alloy::hex::encode(&outgoing.data)),
            "call": decoded.call.to_string(),
            "changes": changes,
            "gas": simulation.gas_used,
            "value_usd": value_usd,
            "simulated_at": "latest",
        });
        let mut request = ActionRequest::new(kind);
        request.summary =
            summary.chars().filter(|c| !c.is_control()).take(sov_gate::action::MAX_SUMMARY_CHARS).collect();
        request.params = match params {
            Value::Object(map) => map,
            _ => serde_json::Map::new(),
        };
        request.recipients = recipients.iter().map(ToString::to_string).collect();
        request.to_self = to_self;
        request.value_usd = Some(value_usd);
        request.calldata_bytes = outgoing.data.len() as u64;
        must_confirm.dedup();
        request.must_confirm = must_confirm;
        Ok(Built { request, from, outgoing, simulation })
    }
}

impl std::fmt::Display for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::EthTransfer { to, value } => write!(f, "ETH transfer of {value} wei to {to}"),
            Call::Transfer { token, to, amount } => write!(f, "ERC-20 transfer(to {to}, amount {amount}) on {token}"),
            Call::TransferFrom { token, from, to, amount } => {
                write!(f, "ERC-20 transferFrom(from {from}, to {to}, amount {amount}) on {token}")
            }
            Call::Allowance { token, function, spender, amount } => {
                write!(f, "{function}(spender {spender}, amount {amount}) on {token}")
            }
            Call::ApprovalForAll { collection, operator, approved } => {
                write!(f, "setApprovalForAll(operator {operator}, {approved}) on {collection}")
            }
            Call::Swap { router, function, amount_in, amount_out_min, path, to, deadline } => {
                let path: Vec<String> = path.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{function}(in {amount_in}, least out {amount_out_min}, path {}, to {to}, deadline {deadline}) on {router}",
                    path.join(" → ")
                )
            }
            Call::Permit2 { contract, function } => write!(f, "{function} on {contract}"),
            Call::Unknown { contract, selector } => match selector {
                Some(s) => write!(f, "an unknown call (selector 0x{}) on {contract}", alloy::hex::encode(s)),
                None => write!(f, "an unknown call on {contract}"),
            },
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly_and_anything_odd_is_refused() {
        assert_eq!(parse_units("30", 6).unwrap(), U256::from(30_000_000u64));
        assert_eq!(parse_units("0.5", 18).unwrap(), U256::from(500_000_000_000_000_000u128));
        assert_eq!(parse_units(" 1.000001 ", 6).unwrap(), U256::from(1_000_001u64));
        assert_eq!(parse_units(".25", 2).unwrap(), U256::from(25u8));
        assert_eq!(parse_units("7", 0).unwrap(), U256::from(7u8));
        for (bad, why) in [
            ("", "decimal number"),
            ("-1", "decimal number"),
            ("1e18", "decimal number"),
            ("0x10", "decimal number"),
            ("1.5.1", "decimal number"),
            ("0.0000001", "more than the 6 decimals"),
            ("0", "zero"),
            ("0.000", "zero"),
            ("1".repeat(90).as_str(), "larger than"),
        ] {
            let err = parse_units(bad, 6).unwrap_err().to_string();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        assert_eq!(parse_asset("eth").unwrap(), Asset::Eth);
        assert!(parse_asset("USDC").is_err());
        assert_eq!(whole(I256::try_from(-1_500_000i64).unwrap(), 6), "-1.5");
    }
}
