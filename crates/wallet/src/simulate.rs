//! What a transaction would change, asked of the node before anything is signed: the node runs
//! it on the latest state (`eth_simulateV1` with `traceTransfers`, which geth, reth, Nethermind,
//! Erigon and anvil serve) and the wallet reads the balance changes from what happened, not from
//! what the call data claims.
//!
//! Every ERC-20 `Transfer` event and every movement of ETH the node traced (reported as a log of
//! the pseudo-address `0xEeee…EEeE`) is summed per holder and asset. A transfer whose decoded
//! arguments say "30 USDC to Bob" but whose token moves everything to someone else shows the
//! latter here; the AI reviewer and the human see these changes, and the value the gate's caps
//! count is the larger of the two.
//!
//! # What this cannot see
//! - Changes that emit no `Transfer` event (a token that does not log, a vault's internal
//!   accounting, an NFT's `Transfer` has a fourth topic and is listed as such, not valued).
//! - What the state will be when the transaction is mined: a pool can move in between (the
//!   swap's minimum output bounds that), the simulation is of the latest block.
//! - The node's honesty: it is the RPC's word (the same node that would receive the
//!   transaction), not proven.

use alloy::primitives::{Address, B256, I256, U256, address, b256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::rpc::types::simulate::{SimBlock, SimulatePayload};

use crate::Error;
use crate::send::Outgoing;

/// The pseudo-address the node reports ETH movements from (`traceTransfers`).
pub const ETH_PSEUDO: Address = address!("0xEeeeeEeeeEeEeeEeEeEeeEEEeeeeEeeeeeeeEEeE");
/// `keccak256("Transfer(address,address,uint256)")`.
pub const TRANSFER_TOPIC: B256 = b256!("0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef");

/// What is moved: ETH, or a token by its contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Moved {
    /// Ether.
    Eth,
    /// An ERC-20 token (a `Transfer` with three topics and a 32-byte amount).
    Token(Address),
    /// An NFT (a `Transfer` with the token id as a fourth topic): moved, not valued.
    Nft(Address),
}

/// A change of one holder's balance of one asset.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Change {
    /// Whose balance.
    pub holder: Address,
    /// Of what.
    pub asset: Moved,
    /// By how much, in the asset's smallest unit (for an NFT: the number of items), signed.
    pub delta: I256,
}

/// The outcome of a simulation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Simulation {
    /// The changes, by holder then asset (none with a zero delta).
    pub changes: Vec<Change>,
    /// Gas the node says it used.
    pub gas_used: u64,
    /// What the call returned.
    pub return_data: alloy::primitives::Bytes,
}

impl Simulation {
    /// The change of `holder`'s balance of `asset` (zero when none).
    pub fn delta(&self, holder: Address, asset: Moved) -> I256 {
        self.changes.iter().find(|c| c.holder == holder && c.asset == asset).map_or(I256::ZERO, |c| c.delta)
    }
}

/// Sums `logs` into per-holder changes. Pure, so its rules are unit-tested.
pub fn changes_of(logs: &[alloy::primitives::Log]) -> Vec<Change> {
    let mut sums: std::collections::BTreeMap<(Address, Moved), I256> = std::collections::BTreeMap::new();
    for log in logs {
        let topics = log.topics();
        if topics.first() != Some(&TRANSFER_TOPIC) || topics.len() < 3 {
            continue;
        }
        let from = Address::from_word(topics[1]);
        let to = Address::from_word(topics[2]);
        let (asset, amount) = match (topics.len(), log.address) {
            (3, a) if a == ETH_PSEUDO && log.data.data.len() == 32 => (Moved::Eth, U256::from_be_slice(&log.data.data)),
            (3, a) if log.data.data.len() == 32 => (Moved::Token(a), U256::from_be_slice(&log.data.data)),
            (4, a) => (Moved::Nft(a), U256::from(1u8)),
            // A `Transfer` of another shape: not a movement this module can read.
            _ => continue,
        };
        // An amount beyond I256 (a hostile token's) saturates: shown as enormous, never wrapped.
        let amount = I256::try_from(amount).unwrap_or(I256::MAX);
        if from != to {
            let out = sums.entry((from, asset)).or_insert(I256::ZERO);
            *out = out.saturating_sub(amount);
            let into = sums.entry((to, asset)).or_insert(I256::ZERO);
            *into = into.saturating_add(amount);
        }
    }
    sums.into_iter()
        .filter(|(_, delta)| !delta.is_zero())
        .map(|((holder, asset), delta)| Change { holder, asset, delta })
        .collect()
}

/// Runs `outgoing` from `from` on the latest state.
///
/// # Errors
/// [`Error::Tx`] when the node cannot simulate (it lacks `eth_simulateV1`: the wallet then
/// refuses to build the send rather than show the human a guess) or the transaction would
/// fail (its revert reason).
pub async fn simulate(provider: &DynProvider, from: Address, outgoing: &Outgoing) -> Result<Simulation, Error> {
    let call = TransactionRequest::default()
        .from(from)
        .to(outgoing.to)
        .value(outgoing.value)
        .input(alloy::rpc::types::TransactionInput::new(outgoing.data.clone()));
    let payload = SimulatePayload {
        block_state_calls: vec![SimBlock { block_overrides: None, state_overrides: None, calls: vec![call] }],
        trace_transfers: true,
        validation: false,
        return_full_transactions: false,
    };
    let blocks = provider.simulate(&payload).await.map_err(|e| {
        Error::Tx(format!(
            "the Ethereum node could not simulate the transaction (eth_simulateV1): {e}; the wallet shows no send it has not simulated"
        ))
    })?;
    let Some(result) = blocks.first().and_then(|b| b.calls.first()) else {
        return Err(Error::Tx("the Ethereum node's simulation answered no call result".into()));
    };
    if !result.status {
        let why = result.error.as_ref().map_or_else(|| "no reason given".to_owned(), |e| e.message.clone());
        return Err(Error::Tx(format!(
            "the transaction would fail (simulated on the latest block): {why}; nothing was signed"
        )));
    }
    let logs: Vec<alloy::primitives::Log> = result.logs.iter().map(|l| l.inner.clone()).collect();
    Ok(Simulation { changes: changes_of(&logs), gas_used: result.gas_used, return_data: result.return_data.clone() })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use alloy::primitives::{Bytes, Log, LogData};

    fn transfer(contract: Address, from: Address, to: Address, amount: u64) -> Log {
        Log {
            address: contract,
            data: LogData::new_unchecked(
                vec![TRANSFER_TOPIC, from.into_word(), to.into_word()],
                Bytes::from(U256::from(amount).to_be_bytes::<32>().to_vec()),
            ),
        }
    }

    #[test]
    fn transfers_are_summed_per_holder_and_asset_and_odd_events_are_not_read_as_money() {
        let (alice, bob, eve) = (Address::repeat_byte(1), Address::repeat_byte(2), Address::repeat_byte(3));
        let token = Address::repeat_byte(9);
        let nft = LogData::new_unchecked(
            vec![TRANSFER_TOPIC, alice.into_word(), eve.into_word(), B256::with_last_byte(7)],
            Bytes::new(),
        );
        let odd =
            LogData::new_unchecked(vec![TRANSFER_TOPIC, alice.into_word(), eve.into_word()], Bytes::from(vec![1]));
        let logs = vec![
            transfer(ETH_PSEUDO, alice, bob, 5),
            transfer(token, alice, bob, 30),
            transfer(token, bob, eve, 10),
            transfer(token, alice, alice, 1000),
            Log { address: Address::repeat_byte(8), data: nft },
            Log { address: token, data: odd },
        ];
        let changes = changes_of(&logs);
        let sim = Simulation { changes, gas_used: 0, return_data: Bytes::new() };
        assert_eq!(sim.delta(alice, Moved::Eth), I256::try_from(-5).unwrap());
        assert_eq!(sim.delta(bob, Moved::Eth), I256::try_from(5).unwrap());
        assert_eq!(sim.delta(alice, Moved::Token(token)), I256::try_from(-30).unwrap());
        assert_eq!(sim.delta(bob, Moved::Token(token)), I256::try_from(20).unwrap());
        assert_eq!(sim.delta(eve, Moved::Token(token)), I256::try_from(10).unwrap());
        assert_eq!(sim.delta(eve, Moved::Nft(Address::repeat_byte(8))), I256::ONE);
        assert_eq!(sim.changes.len(), 7, "{:?}", sim.changes);
        // A hostile amount beyond I256 saturates instead of wrapping to a small number.
        let huge = Log {
            address: token,
            data: LogData::new_unchecked(
                vec![TRANSFER_TOPIC, alice.into_word(), eve.into_word()],
                Bytes::from(U256::MAX.to_be_bytes::<32>().to_vec()),
            ),
        };
        assert_eq!(changes_of(&[huge])[0].delta, -I256::MAX);
    }
}
