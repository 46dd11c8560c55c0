//! The wallet's read tools, through the Tool API: `wallet_balance` (an ETH or ERC-20 balance of
//! one of the user's accounts) and `ens_resolve` (an ENS name to its address, or back). A session
//! that used either has read private data: from then on the gate holds its internet actions for
//! the user. Offered only when `sov serve` serves the wallet (`[wallet] rpc` set). Sending is
//! not offered yet.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Value, json};

use super::messages::ToolApi;
use crate::tool::{Tool, ToolError, cap, object_schema, parse};

/// The names of the wallet tools, in the order they are offered.
pub const NAMES: [&str; 2] = ["wallet_balance", "ens_resolve"];

/// Why the wallet tools are missing when they are.
pub(crate) const WHY_ABSENT: &str = "the wallet is not set up in sov serve (its config's [wallet] rpc is empty)";

/// Whether the Tool API at `api` serves the wallet: its `/wallet/ens` answers a request without
/// parameters with 400 (it exists), where a server without the wallet answers 404.
pub fn served(api: &ToolApi) -> bool {
    api.status_of("/wallet/ens") == Some(400)
}

/// The wallet tools over `api`, in the order of [`NAMES`].
pub fn tools(api: &ToolApi) -> [Arc<dyn Tool>; 2] {
    [Arc::new(WalletBalance(api.clone())), Arc::new(EnsResolve(api.clone()))]
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
