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
//! - `POST /wallet/send` `{"to": "bob.eth" | "0x…", "amount": "30", "token": "0x…"?, "from"?}`:
//!   ETH (no `token`) or an ERC-20 token to someone.
//! - `POST /wallet/swap` `{"sell": "ETH" | "0x…", "buy": …, "amount": "0.1", "slippage_pct"?,
//!   "from"?}`: through `[wallet] router`, the output to the account that pays.
//! - `POST /wallet/call` `{"to", "data": "0x…", "value": "0"?, "from"?}`: any contract call
//!   (unknown calls, approvals and permits always wait for the human).
//! - `GET /wallet/tx?id=ACTION`: what became of a send of this session: the gate's state, and
//!   the transaction's (`signed`, `pending`, `mined`, `reverted`, `dropped`).
//!
//! A send, swap or call is built by the wallet ([`crate::build`]: encoded, decoded, priced,
//! simulated) and submitted to the gate as the wallet's action; the answer says whether it was
//! sent (with its hash), waits for the AI reviewer and the human (with the console's link), or
//! was refused, and shows the simulated balance changes. Without `[wallet] passphrase_file` the
//! wallet is locked and these answer 503; the reads work.
//!
//! Addresses are written in their checksum case (EIP-55).
//!
//! Each read first marks the session as having read wallet data (the gate's taint: from then on
//! its internet actions need the human), before anything is read, even when the read then
//! fails. The reads are those of [`crate::read`]: through the outbound policy, never a
//! transaction, nothing signed.

use std::sync::Arc;

use std::time::{Duration, Instant};

use alloy::primitives::Address;
use axum::body::Bytes;
use axum::extract::{FromRef, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sov_gate::{ActionRecord, Gate, Label, State as ActionState};
use sov_toolapi::{AgentSession, ApiError, Routes, blocking, parse_body, parse_query};

use crate::build::{Builder, Built};
use crate::read::Reader;
use crate::send::Outbox;
use crate::{Error, Keystore};

/// What sends need: the builder, the outbox the executor writes, and the console's address
/// (for the link to an action that waits for the human).
#[derive(Debug, Clone)]
pub struct Sends {
    /// Builds the actions.
    pub builder: Arc<Builder>,
    /// The executor's outbox, read for `/wallet/tx`.
    pub outbox: Arc<Outbox>,
    /// The console's base URL (`http://127.0.0.1:7000`).
    pub console_url: String,
}

#[derive(Clone)]
struct Api {
    gate: Arc<Gate>,
    reader: Arc<Reader>,
    keystore: Keystore,
    sends: Option<Sends>,
}

impl FromRef<Api> for Arc<Gate> {
    fn from_ref(api: &Api) -> Arc<Gate> {
        api.gate.clone()
    }
}

/// The routes, for `ToolApi::service`: reads by `reader` for the accounts of `keystore`, and
/// sends when `sends` is given (the wallet is unlocked); without it the send routes say the
/// wallet is locked.
pub fn routes(gate: Arc<Gate>, reader: Arc<Reader>, keystore: Keystore, sends: Option<Sends>) -> Routes {
    Routes::new(
        Router::new()
            .route("/wallet/balance", get(balance))
            .route("/wallet/ens", get(ens))
            .route("/wallet/send", post(send))
            .route("/wallet/swap", post(swap))
            .route("/wallet/call", post(call))
            .route("/wallet/tx", get(tx_status))
            .with_state(Api { gate, reader, keystore, sends }),
    )
}

fn failed(e: &Error) -> ApiError {
    match e {
        Error::UnknownAccount { .. } => ApiError::new(StatusCode::FORBIDDEN, e.to_string()).with_field("from"),
        Error::NoRpc | Error::NoAccounts | Error::NoRouter | Error::Locked => {
            ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
        }
        Error::NoSuchName { .. } | Error::NoAddress { .. } | Error::InvalidName { .. } => {
            ApiError::new(StatusCode::NOT_FOUND, e.to_string())
        }
        Error::InvalidAmount { .. } => ApiError::bad_request(e.to_string()).with_field("amount"),
        Error::InvalidAsset { .. } => ApiError::bad_request(e.to_string()).with_field("token"),
        Error::InvalidRecipient { .. } => ApiError::bad_request(e.to_string()).with_field("to"),
        Error::InvalidCallData { .. } => ApiError::bad_request(e.to_string()).with_field("data"),
        // Refused by the wallet: no price, or the node says it would fail.
        Error::NoPrice { .. } | Error::Tx(_) | Error::NotAToken { .. } => {
            ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.to_string())
        }
        _ => ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()),
    }
}

/// Taints `session` as having read wallet data; refused for an internet-side session.
async fn taint(api: &Api, mut session: sov_gate::Session) -> Result<sov_gate::Session, ApiError> {
    let gate = api.gate.clone();
    blocking(move || {
        gate.note_read(&mut session, Label::Wallet)?;
        Ok(session)
    })
    .await
}

fn sends(api: &Api) -> Result<&Sends, ApiError> {
    api.sends.as_ref().ok_or_else(|| failed(&Error::Locked))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SendBody {
    to: String,
    amount: String,
    token: Option<String>,
    from: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SwapBody {
    sell: String,
    buy: String,
    amount: String,
    slippage_pct: Option<f64>,
    from: Option<String>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CallBody {
    to: String,
    data: String,
    value: Option<String>,
    from: Option<String>,
}

async fn send(
    State(api): State<Api>,
    AgentSession(session): AgentSession,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: SendBody = parse_body(&headers, &body)?;
    let asset = match request.token.as_deref() {
        None => crate::price::Asset::Eth,
        Some(token) => crate::build::parse_asset(token).map_err(|e| failed(&e))?,
    };
    let sends = sends(&api)?.clone();
    let session = taint(&api, session).await?;
    let built = sends.builder.send(request.from.as_deref(), &request.to, asset, &request.amount).await;
    submit(&api, &sends, session, built.map_err(|e| failed(&e))?).await
}

async fn swap(
    State(api): State<Api>,
    AgentSession(session): AgentSession,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: SwapBody = parse_body(&headers, &body)?;
    let sell = crate::build::parse_asset(&request.sell).map_err(|e| failed(&e).with_field("sell"))?;
    let buy = crate::build::parse_asset(&request.buy).map_err(|e| failed(&e).with_field("buy"))?;
    let sends = sends(&api)?.clone();
    let session = taint(&api, session).await?;
    let built = sends.builder.swap(request.from.as_deref(), sell, buy, &request.amount, request.slippage_pct).await;
    submit(&api, &sends, session, built.map_err(|e| failed(&e))?).await
}

async fn call(
    State(api): State<Api>,
    AgentSession(session): AgentSession,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let request: CallBody = parse_body(&headers, &body)?;
    let sends = sends(&api)?.clone();
    let session = taint(&api, session).await?;
    let built = sends.builder.call(request.from.as_deref(), &request.to, &request.data, request.value.as_deref()).await;
    submit(&api, &sends, session, built.map_err(|e| failed(&e))?).await
}

/// How long an allowed send is waited for before the answer says "queued".
const SENT_WAIT: Duration = Duration::from_secs(20);

/// Submits `built` for `session` and says what became of it.
async fn submit(api: &Api, sends: &Sends, session: sov_gate::Session, built: Built) -> Result<Json<Value>, ApiError> {
    let gate = api.gate.clone();
    let console = sends.console_url.clone();
    blocking(move || {
        let record = gate.submit(&session, built.request)?;
        let record = if record.state == ActionState::Approved {
            let mut seen = 0;
            let deadline = Instant::now() + SENT_WAIT;
            loop {
                let now = gate.get(&record.id)?;
                if !matches!(now.state, ActionState::Approved | ActionState::Executing) || Instant::now() >= deadline {
                    break now;
                }
                gate.wait_for_change(&mut seen, Duration::from_millis(500));
            }
        } else {
            record
        };
        Ok(Json(view(&record, &console)))
    })
    .await
}

/// What an agent is told of a wallet action.
fn view(record: &ActionRecord, console_url: &str) -> Value {
    let p = &record.request.params;
    let mut answer = json!({
        "id": record.id,
        "state": record.state,
        "summary": record.request.summary,
        "value_usd": record.request.value_usd,
        "changes": p.get("changes"),
        "call": p.get("call"),
        "must_confirm": record.request.must_confirm,
        "reasons": record.reasons,
        "sent": record.state == ActionState::Executed,
    });
    match record.state {
        ActionState::Executed => {
            answer["hash"] = record.outcome.as_ref().and_then(|o| o.get("hash")).cloned().unwrap_or(Value::Null);
        }
        ActionState::Denied => answer["message"] = json!("refused: nothing was signed or sent"),
        ActionState::Failed => {
            answer["error"] = record.outcome.as_ref().and_then(|o| o.get("error")).cloned().unwrap_or(Value::Null);
        }
        ActionState::Approved | ActionState::Executing => {
            answer["message"] = json!("allowed and being sent; GET /wallet/tx?id=ID shows when it is on chain");
        }
        _ if record.state.is_pending() => {
            answer["pending"] = json!(true);
            answer["confirm_url"] = json!(format!("{console_url}/actions/{}", record.id));
            answer["message"] = json!(
                "not sent: waiting for the AI reviewer and the human; it is sent once both approve. GET /wallet/tx?id=ID shows its state"
            );
        }
        _ => {}
    }
    answer
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TxQuery {
    id: String,
}

async fn tx_status(
    State(api): State<Api>,
    AgentSession(session): AgentSession,
    RawQuery(raw): RawQuery,
) -> Result<Json<Value>, ApiError> {
    let query: TxQuery = parse_query(raw.as_deref())?;
    let sends = sends(&api)?.clone();
    let gate = api.gate.clone();
    let id = query.id.clone();
    let record = blocking(move || {
        let record = gate.get(&id)?;
        if record.session != session.id || !record.request.kind.moves_money() {
            return Err(sov_gate::GateError::NotFound(id).into());
        }
        Ok(record)
    })
    .await?;
    let status = sends.outbox.status(&record.id, api.reader.provider()).await.map_err(|e| failed(&e))?;
    let mut answer = view(&record, &sends.console_url);
    answer["tx"] = json!(status.word());
    if let Some(stored) = status.stored() {
        answer["hash"] = json!(stored.hash.to_string());
        answer["nonce"] = json!(stored.nonce);
    }
    if let crate::send::TxStatus::Mined { block, .. } = status {
        answer["block"] = json!(block);
    }
    if matches!(status, crate::send::TxStatus::Dropped(_)) {
        answer["message"] = json!(
            "the node no longer has this transaction and it is in no block: it was dropped. It stays signed; only the user can send it again or replace it"
        );
    }
    Ok(Json(answer))
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
                "balance": crate::price::whole_units(read.value, 18), "raw": read.value.to_string(),
                "block": read.block.number, "verified": read.verified,
            })
        }
        Some(token) => {
            let info = api.reader.token(token).await.map_err(|e| failed(&e))?;
            let read = api.reader.token_balance(token, account).await.map_err(|e| failed(&e))?;
            json!({
                "account": account.to_string(), "asset": token.to_string(), "symbol": info.value.symbol.to_string(),
                "decimals": info.value.decimals,
                "balance": crate::price::whole_units(read.value, info.value.decimals), "raw": read.value.to_string(),
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
