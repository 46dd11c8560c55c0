//! The wallet's tools, through the Tool API: `wallet_balance` (an ETH or ERC-20 balance of one of
//! the user's accounts), `ens_resolve` (an ENS name to its address, or back), `wallet_send` (ETH
//! or a token to someone), `wallet_swap` (through the user's router) and `wallet_tx` (what
//! became of a send). A session that used any has read private data: from then on the gate
//! holds its internet actions for the user. Offered only when `sov serve` serves the wallet
//! (`[wallet] rpc` set).
//!
//! The agent says what to send; the wallet builds, prices and simulates the transaction and the
//! gate decides: within the user's daily caps and to someone paid before it goes at once, else
//! it waits for the AI reviewer and the human. The agent never sets a value or a fee.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::messages::ToolApi;
use crate::tool::{Tool, ToolError, cap, object_schema, parse};

/// The names of the wallet tools, in the order they are offered.
pub const NAMES: [&str; 5] = ["wallet_balance", "ens_resolve", "wallet_send", "wallet_swap", "wallet_tx"];

/// Why the wallet tools are missing when they are.
pub(crate) const WHY_ABSENT: &str = "the wallet is not set up in sov serve (its config's [wallet] rpc is empty)";

/// Whether the Tool API at `api` serves the wallet: its `/wallet/ens` answers a request without
/// parameters with 400 (it exists), where a server without the wallet answers 404.
pub fn served(api: &ToolApi) -> bool {
    api.status_of("/wallet/ens") == Some(400)
}

/// The wallet tools over `api`, in the order of [`NAMES`].
pub fn tools(api: &ToolApi) -> [Arc<dyn Tool>; 5] {
    [
        Arc::new(WalletBalance(api.clone())),
        Arc::new(EnsResolve(api.clone())),
        Arc::new(WalletSend(api.clone())),
        Arc::new(WalletSwap(api.clone())),
        Arc::new(WalletTx(api.clone())),
    ]
}

/// `wallet_balance`: `GET /wallet/balance`.
#[derive(Debug, Clone)]
pub struct WalletBalance(pub ToolApi);

impl Tool for WalletBalance {
    fn name(&self) -> &str {
        NAMES[0]
    }

    fn description(&self) -> &str {
        "The balance of one of the user's Ethereum accounts: ETH, or an ERC-20 token given by its contract address. The default account when none is named (an address or an ENS name). `verified` says whether it was checked against the chain's state root. Reading the wallet makes later web searches wait for the user."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({
                "account": {"type": "string", "description": "0x address or ENS name of one of the user's accounts"},
                "token": {"type": "string", "description": "0x address of an ERC-20 token contract"}
            }),
            &[],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Call {
            account: Option<String>,
            token: Option<String>,
        }
        let call: Call = parse(self.name(), arguments)?;
        let query: Vec<(&str, String)> =
            [("account", call.account), ("token", call.token)].into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        self.0.get("/wallet/balance", &query).map(cap)
    }
}

/// `ens_resolve`: `GET /wallet/ens`.
#[derive(Debug, Clone)]
pub struct EnsResolve(pub ToolApi);

impl Tool for EnsResolve {
    fn name(&self) -> &str {
        NAMES[1]
    }

    fn description(&self) -> &str {
        "An ENS name (alice.eth) to its Ethereum address, or an address to its ENS name (only a name that resolves back to it). Give exactly one of `name` or `address`."
    }

    fn schema(&self) -> Value {
        object_schema(json!({"name": {"type": "string"}, "address": {"type": "string"}}), &[])
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Call {
            name: Option<String>,
            address: Option<String>,
        }
        let call: Call = parse(self.name(), arguments)?;
        let query: Vec<(&str, String)> =
            [("name", call.name), ("address", call.address)].into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        self.0.get("/wallet/ens", &query).map(cap)
    }
}

/// `wallet_send`: `POST /wallet/send`.
#[derive(Debug, Clone)]
pub struct WalletSend(pub ToolApi);

impl Tool for WalletSend {
    fn name(&self) -> &str {
        NAMES[2]
    }

    fn description(&self) -> &str {
        "Send ETH, or an ERC-20 token given by its contract address, from the user's account to an address or ENS name. The amount is in whole units (\"30\", \"0.05\"). The wallet prices and simulates it; within the user's daily limits and to someone paid before it is sent at once (the answer has its hash), otherwise it waits for the user's approval (the answer says pending). Never retry a pending send."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({
                "to": {"type": "string", "description": "0x address or ENS name"},
                "amount": {"type": "string", "description": "whole units, e.g. \"30\" or \"0.05\""},
                "token": {"type": "string", "description": "0x address of the ERC-20 token; omit for ETH"}
            }),
            &["to", "amount"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Call {
            to: String,
            amount: Value,
            token: Option<String>,
        }
        let call: Call = parse(self.name(), arguments)?;
        let mut body = json!({"to": call.to, "amount": amount_text(&call.amount)});
        if let Some(token) = call.token.filter(|t| !t.trim().is_empty() && !t.trim().eq_ignore_ascii_case("eth")) {
            body["token"] = json!(token);
        }
        self.0.post("/wallet/send", &body).map(cap)
    }
}

/// A model writes amounts as strings or as numbers: both become the decimal text the wallet
/// reads exactly.
fn amount_text(amount: &Value) -> String {
    match amount {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `wallet_swap`: `POST /wallet/swap`.
#[derive(Debug, Clone)]
pub struct WalletSwap(pub ToolApi);

impl Tool for WalletSwap {
    fn name(&self) -> &str {
        NAMES[3]
    }

    fn description(&self) -> &str {
        "Swap an amount of one asset for another through the user's configured Uniswap V2-style router: `sell` and `buy` are \"ETH\" or a token's contract address, the amount is in whole units of what is sold. The output goes to the user's own account; the wallet quotes, sets the minimum output and a deadline, and simulates it. Large slippage or an unpriced output always waits for the user."
    }

    fn schema(&self) -> Value {
        object_schema(
            json!({
                "sell": {"type": "string", "description": "\"ETH\" or a token's 0x address"},
                "buy": {"type": "string", "description": "\"ETH\" or a token's 0x address"},
                "amount": {"type": "string", "description": "whole units of what is sold"},
                "slippage_pct": {"type": "number", "description": "accepted % below the quote, default 0.5"}
            }),
            &["sell", "buy", "amount"],
        )
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Call {
            sell: String,
            buy: String,
            amount: Value,
            slippage_pct: Option<f64>,
        }
        let call: Call = parse(self.name(), arguments)?;
        let mut body = json!({"sell": call.sell, "buy": call.buy, "amount": amount_text(&call.amount)});
        if let Some(pct) = call.slippage_pct {
            body["slippage_pct"] = json!(pct);
        }
        self.0.post("/wallet/swap", &body).map(cap)
    }
}

/// `wallet_tx`: `GET /wallet/tx`.
#[derive(Debug, Clone)]
pub struct WalletTx(pub ToolApi);

impl Tool for WalletTx {
    fn name(&self) -> &str {
        NAMES[4]
    }

    fn description(&self) -> &str {
        "What became of a send or swap of this session, by the id wallet_send or wallet_swap gave: waiting for the user, refused, or its transaction signed, pending, mined, reverted or dropped."
    }

    fn schema(&self) -> Value {
        object_schema(json!({"id": {"type": "string"}}), &["id"])
    }

    fn run(&self, arguments: &str) -> Result<String, ToolError> {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Call {
            id: String,
        }
        let call: Call = parse(self.name(), arguments)?;
        self.0.get("/wallet/tx", &[("id", call.id)]).map(cap)
    }
}
