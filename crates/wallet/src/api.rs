//! The Tool API's wallet reads, for agents:
//!
//! - `GET /wallet/balance[?account=ADDRESS|NAME][&token=ADDRESS]`: the ETH balance (or an ERC-20
//!   token's) of one of the user's accounts (the default one when none is named), in whole units
//!   and in the smallest unit, with the block it was read at and whether a Merkle proof checked
//!   it against that block's state root. An account that is not in the keystore is refused: the
//!   agent reads the user's wallet, not anyone's.
//! - `GET /wallet/ens?name=NAME` or `?address=ADDRESS`: an ENS name forward (its address), or an
//!   address backward (its name, only if that name resolves back to it).
//!
//! Addresses are written in their checksum case (EIP-55).
//!
//! Each read first marks the session as having read wallet data (the gate's taint: from then on
//! its internet actions need the human), before anything is read, even when the read then
//! fails. The reads are those of [`crate::read`]: through the outbound policy, never a
//! transaction, nothing signed.

use std::sync::Arc;

use alloy::primitives::{Address, U256};
use axum::extract::{FromRef, RawQuery, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};
use sov_gate::{Gate, Label};
use sov_toolapi::{AgentSession, ApiError, Routes, blocking, parse_query};

use crate::read::Reader;
use crate::{Error, Keystore};

#[derive(Clone)]
struct Api {
    gate: Arc<Gate>,
    reader: Arc<Reader>,
    keystore: Keystore,
}

impl FromRef<Api> for Arc<Gate> {
    fn from_ref(api: &Api) -> Arc<Gate> {
        api.gate.clone()
    }
}

/// The routes, for `ToolApi::service`: reads by `reader` for the accounts of `keystore`.
pub fn routes(gate: Arc<Gate>, reader: Arc<Reader>, keystore: Keystore) -> Routes {
    Routes::new(Router::new().route("/wallet/balance", get(balance)).route("/wallet/ens", get(ens)).with_state(Api {
        gate,
        reader,
        keystore,
    }))
}

fn failed(e: &Error) -> ApiError {
    match e {
        Error::NoRpc | Error::NoAccounts | Error::UnknownAccount { .. } => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Error::NoSuchName { .. } | Error::NoAddress { .. } | Error::InvalidName { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, e.to_string())
        }
        _ => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// Taints `session` as having read wallet data; refused for an internet-side session.
async fn taint(api: &Api, mut session: sov_gate::Session) -> Result<(), ApiError> {
    let gate = api.gate.clone();
    blocking(move || Ok(gate.note_read(&mut session, Label::Wallet)?)).await
}

/// `amount` of a token with `decimals` as a decimal string (`1.5`), exact.
fn whole_units(amount: U256, decimals: u8) -> String {
    let digits = amount.to_string();
    let decimals = usize::from(decimals);
    if decimals == 0 {
        return digits;
    }
    let padded = format!("{digits:0>width$}", width = decimals + 1);
    let (int, frac) = padded.split_at(padded.len() - decimals);
    let frac = frac.trim_end_matches('0');
    if frac.is_empty() { int.to_owned() } else { format!("{int}.{frac}") }
}

#[derive(serde::Deserialize)]
struct BalanceQuery {
    account: Option<String>,
    token: Option<String>,
}

fn parse_address(field: &str, text: &str) -> Result<Address, ApiError> {
    text.parse::<Address>().map_err(|e| {
        ApiError::bad_request(format!("`{field}` = `{text}` is not an Ethereum address (0x and 40 hex digits): {e}"))
            .with_field(field)
    })
}

async fn balance(
    State(api): State<Api>,
    AgentSession(session): AgentSession,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query: BalanceQuery = parse_query(raw.as_deref())?;
    let token = query.token.as_deref().map(|t| parse_address("token", t)).transpose()?;
    taint(&api, session).await?;
    let keystore = api.keystore.clone();
    let accounts = blocking(move || keystore.list().map_err(|e| failed(&e))).await?;
    let account = match query.account.as_deref() {
        None => accounts
            .iter()
            .find(|a| a.is_default)
            .or(accounts.first())
            .map(|a| a.address)
            .ok_or_else(|| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, Error::NoAccounts.to_string()))?,
        Some(text) if text.contains('.') => api.reader.resolve(text).await.map_err(|e| failed(&e))?.value,
        Some(text) => parse_address("account", text)?,
    };
    if !accounts.iter().any(|a| a.address == account) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            format!("{account} is not one of your accounts (`sov wallet list`): the wallet reads only yours"),
        )
        .with_field("account"));
    }
    let answer = match token {
        None => {
            let read = api.reader.eth_balance(account).await.map_err(|e| failed(&e))?;
            json!({
                "account": account.to_string(), "asset": "ETH", "decimals": 18,
                "balance": whole_units(read.value, 18), "raw": read.value.to_string(),
                "block": read.block.number, "verified": read.verified,
            })
        }
        Some(token) => {
            let info = api.reader.token(token).await.map_err(|e| failed(&e))?;
            let read = api.reader.token_balance(token, account).await.map_err(|e| failed(&e))?;
            json!({
                "account": account.to_string(), "asset": token.to_string(), "symbol": info.value.symbol.to_string(),
                "decimals": info.value.decimals,
                "balance": whole_units(read.value, info.value.decimals), "raw": read.value.to_string(),
                "block": read.block.number, "verified": read.verified,
            })
        }
    };
    Ok(Json(answer))
}

#[derive(serde::Deserialize)]
struct EnsQuery {
    name: Option<String>,
    address: Option<String>,
}

async fn ens(
    State(api): State<Api>,
    AgentSession(session): AgentSession,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query: EnsQuery = parse_query(raw.as_deref())?;
    let address = query.address.as_deref().map(|a| parse_address("address", a)).transpose()?;
    if query.name.is_some() == address.is_some() {
        return Err(
            ApiError::bad_request("give exactly one of `name` (alice.eth) or `address` (0x…)").with_field("name")
        );
    }
    taint(&api, session).await?;
    Ok(Json(match (query.name, address) {
        (Some(name), _) => {
            let read = api.reader.resolve(&name).await.map_err(|e| failed(&e))?;
            json!({"name": name, "address": read.value.to_string(), "block": read.block.number, "verified": read.verified})
        }
        (None, Some(address)) => {
            let read = api.reader.reverse(address).await.map_err(|e| failed(&e))?;
            json!({"address": address.to_string(), "name": read.value, "block": read.block.number, "verified": read.verified})
        }
        (None, None) => Value::Null,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_written_exactly_in_whole_units() {
        assert_eq!(whole_units(U256::from(1_500_000_000_000_000_000u128), 18), "1.5");
        assert_eq!(whole_units(U256::from(5u8), 6), "0.000005");
        assert_eq!(whole_units(U256::ZERO, 18), "0");
        assert_eq!(whole_units(U256::from(2_000_000u64), 6), "2");
        assert_eq!(whole_units(U256::from(7u8), 0), "7");
        assert_eq!(whole_units(U256::MAX, 18).len(), 79, "{}", whole_units(U256::MAX, 18));
    }
}
