//! The Poseidon libraries `ZkApiCredits` calls. Its bytecode is linked against poseidon-solidity's
//! deterministic addresses, which hold the same code on every chain because the CREATE2 proxy
//! derives them from the code itself; on a chain that lacks them (a fresh anvil) they are put there
//! the same way, from `contracts/build/poseidon-libraries.json`.

use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, Bytes, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use serde::Deserialize;

use crate::error::{Error, Result};

const LIBRARIES_JSON: &str = include_str!("../../../contracts/build/poseidon-libraries.json");
const ACTION: &str = "deploying the Poseidon libraries";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Libraries {
    proxy: Proxy,
    libraries: Vec<Library>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Proxy {
    address: Address,
    from: Address,
    funding_wei: U256,
    tx: Bytes,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Library {
    name: String,
    address: Address,
    deploy_data: Bytes,
}

fn libraries() -> Result<Libraries> {
    serde_json::from_str(LIBRARIES_JSON)
        .map_err(|e| Error::unexpected(ACTION, format!("contracts/build/poseidon-libraries.json: {e}")))
}

/// The addresses the contract's bytecode calls, by library name.
pub fn addresses() -> Result<Vec<(String, Address)>> {
    Ok(libraries()?.libraries.into_iter().map(|l| (l.name, l.address)).collect())
}

async fn has_code(provider: &DynProvider, address: Address) -> Result<bool> {
    let code = provider.get_code_at(address).await.map_err(|e| Error::rpc(ACTION, e))?;
    Ok(!code.is_empty())
}

async fn mined(provider: &DynProvider, request: TransactionRequest) -> Result<()> {
    let pending = provider.send_transaction(request).await.map_err(|e| Error::rpc(ACTION, e))?;
    let receipt = pending.get_receipt().await.map_err(|e| Error::rpc(ACTION, e))?;
    if receipt.status() { Ok(()) } else { Err(Error::Failed { action: ACTION, tx: receipt.transaction_hash }) }
}

/// Makes sure PoseidonT2/T3/T4 exist at their addresses, deploying what is missing through the
/// CREATE2 proxy, and the proxy itself by its presigned keyless transaction if the chain has none.
/// The signer pays (about 10 M gas on a chain that has none of them).
pub(crate) async fn ensure(provider: &DynProvider) -> Result<()> {
    let libs = libraries()?;
    let mut missing = Vec::new();
    for lib in &libs.libraries {
        if !has_code(provider, lib.address).await? {
            missing.push(lib);
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    if !has_code(provider, libs.proxy.address).await? {
        tracing::info!(proxy = %libs.proxy.address, "deploying the CREATE2 proxy");
        mined(provider, TransactionRequest::default().with_to(libs.proxy.from).with_value(libs.proxy.funding_wei))
            .await?;
        let pending = provider.send_raw_transaction(&libs.proxy.tx).await.map_err(|e| Error::rpc(ACTION, e))?;
        pending.get_receipt().await.map_err(|e| Error::rpc(ACTION, e))?;
        if !has_code(provider, libs.proxy.address).await? {
            return Err(Error::unexpected(
                ACTION,
                format!("no CREATE2 proxy at {} after deploying it", libs.proxy.address),
            ));
        }
    }
    for lib in missing {
        tracing::info!(library = %lib.name, address = %lib.address, "deploying");
        mined(provider, TransactionRequest::default().with_to(libs.proxy.address).with_input(lib.deploy_data.clone()))
            .await?;
        if !has_code(provider, lib.address).await? {
            return Err(Error::unexpected(ACTION, format!("no code at {} after deploying {}", lib.address, lib.name)));
        }
    }
    Ok(())
}
