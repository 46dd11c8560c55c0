//! Reads of the chain for the user's accounts: ETH and ERC-20 balances, token metadata, ENS
//! names forward and reverse.
//!
//! Every read is pinned to one block: [`Reader::block`] takes the node's latest header, checks
//! that it hashes to the block hash the node gave, and the read asks about that block number.
//! Each answer is a [`Read`] that names the block and says whether its value was **verified**.
//!
//! # What is verified, and what is trusted
//! - **ETH balances** are verified: `eth_getProof`'s account proof is checked against the block
//!   header's `stateRoot` with alloy-trie ([`proof`]). A proof that does not lead from the root
//!   to the balance stated is [`Error::ProofInvalid`] and no balance is returned.
//! - **ERC-20 balances** are verified when the token keeps them where OpenZeppelin's ERC20 does
//!   ([`proof::BalancesLayout`]: slot 0, or OpenZeppelin 5's ERC-7201 namespace): the storage
//!   proofs of both places are checked against the (proven) storage root of the token, and the
//!   balance is verified if `balanceOf` at the same block gives a non-zero value that one of
//!   them proves. A proof that does not verify is [`Error::ProofInvalid`], as above. Otherwise
//!   (another layout, a rebasing token, a zero balance — which a token keeping balances
//!   elsewhere would also show there) the `balanceOf` answer is returned with `verified: false`:
//!   a lying node can make a balance unverified, not make a wrong one verified.
//! - **Token metadata and ENS** go through `eth_call`, which a node answers as it likes: they are
//!   returned with `verified: false`. A reverse name is accepted only if the name resolves
//!   forward to the same address. A contract's text (name, symbol) is cleaned and marked as the
//!   contract's words ([`ContractText`]).
//! - **Trusted**: the block header, hence its `stateRoot`, comes from the same node. A node that
//!   invents a whole consistent state with its own header is believed; only a light client
//!   (checking headers against the beacon chain's sync committee) would remove that trust, and
//!   there is none here yet. What is verified is that every value is the one the header commits
//!   to.
//!
//! # Privacy and what is never done
//! - Every request goes to the configured RPC through [`sov_chain::rpc::NetTransport`] over the
//!   [`sov_net::Http`] the caller passes: the outbound policy's route for `[net] chain` (Tor by
//!   default). Nothing here opens a connection of its own.
//! - ENS offchain lookups (EIP-3668 CCIP-Read) are refused ([`Error::OffchainName`]): a gateway
//!   URL chosen by a contract is never fetched.
//! - ENS wildcard resolution (ENSIP-10) and Unicode names are not supported yet ([`ens`]).
//! - No transaction history: a node has no index of an account's transactions (that needs an
//!   indexer, which would learn the user's addresses).

pub mod ens;
pub mod proof;
pub mod text;

use alloy::eips::{BlockId, BlockNumberOrTag};
use alloy::network::TransactionBuilder;
use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::rpc::client::RpcClient;
use alloy::rpc::types::TransactionRequest;
use alloy::sol_types::SolCall;
use alloy::transports::{RpcError, TransportError};

pub use text::ContractText;

use crate::Error;

alloy::sol! {
    interface IERC20 {
        function balanceOf(address holder) external view returns (uint256);
        function name() external view returns (string);
        function symbol() external view returns (string);
        function decimals() external view returns (uint8);
    }
    interface IEnsRegistry {
        function resolver(bytes32 node) external view returns (address);
    }
    interface IEnsResolver {
        function addr(bytes32 node) external view returns (address);
        function name(bytes32 node) external view returns (string);
    }
}

/// The block a read was made at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Block {
    /// Its number.
    pub number: u64,
    /// Its hash, which its header hashes to.
    pub hash: B256,
    /// The state root its header commits to.
    pub state_root: B256,
}

/// A value read from the chain at a block.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Read<T> {
    /// What was read.
    pub value: T,
    /// The block it was read at.
    pub block: Block,
    /// Whether `value` was checked against the block's state root by a Merkle proof. `false`:
    /// it is what the node said (an `eth_call`), unchecked.
    pub verified: bool,
}

/// An ERC-20 token's metadata, as its contract states it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct TokenInfo {
    /// The token's contract.
    pub address: Address,
    /// `name()`, cleaned: the contract's own words.
    pub name: ContractText,
    /// `symbol()`, cleaned: the contract's own words.
    pub symbol: ContractText,
    /// `decimals()`.
    pub decimals: u8,
}

/// Reads from one Ethereum node. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reader {
    provider: DynProvider,
    ens_registry: Address,
}

/// Why an `eth_call` did not give an answer.
enum CallError {
    /// The contract reverted with this data.
    Reverted(Bytes),
    /// The node failed, or the call did not get through.
    Rpc(TransportError),
}

impl Reader {
    /// A reader of the node at `rpc_url`, reached through `http` (the outbound policy's client
    /// for `[net] chain`), resolving ENS names on mainnet's registry.
    ///
    /// # Errors
    /// [`Error::InvalidRpcUrl`] if `rpc_url` is not an `http://` or `https://` URL.
    pub fn new(rpc_url: &str, http: &sov_net::Http) -> Result<Self, Error> {
        if rpc_url.is_empty() {
            return Err(Error::NoRpc);
        }
        let transport = sov_chain::rpc::NetTransport::new(rpc_url, http).map_err(|e| match e {
            sov_chain::Error::InvalidRpcUrl { url, reason } => Error::InvalidRpcUrl { url, reason },
            other => Error::InvalidRpcUrl { url: rpc_url.into(), reason: other.to_string() },
        })?;
        let is_local = transport.is_local();
        let provider = ProviderBuilder::new()
            .disable_recommended_fillers()
            .connect_client(RpcClient::new(transport, is_local))
            .erased();
        Ok(Self { provider, ens_registry: ens::MAINNET_REGISTRY })
    }

    /// A reader of the node `[wallet] rpc` names.
    ///
    /// # Errors
    /// [`Error::NoRpc`] if it names none; [`Error::InvalidRpcUrl`] as [`Reader::new`].
    pub fn from_config(config: &sov_core::config::WalletConfig, http: &sov_net::Http) -> Result<Self, Error> {
        let reader = Self::new(&config.rpc, http)?;
        // The config checked the address's form.
        Ok(match config.ens_registry.parse::<Address>() {
            Ok(registry) => reader.with_ens_registry(registry),
            Err(_) => reader,
        })
    }

    /// The provider this reader asks (for the wallet's simulations and quotes).
    pub fn provider(&self) -> &DynProvider {
        &self.provider
    }

    /// The same reader, resolving ENS names on the registry at `registry` (another chain's, or a
    /// test chain's).
    pub fn with_ens_registry(mut self, registry: Address) -> Self {
        self.ens_registry = registry;
        self
    }

    /// The node's latest block, whose header hashes to the hash the node gave for it.
    ///
    /// # Errors
    /// [`Error::Rpc`] if the node cannot be asked; [`Error::HeaderMismatch`] if its header
    /// does not hash to its hash.
    pub async fn block(&self) -> Result<Block, Error> {
        const ACTION: &str = "reading the latest block";
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Latest)
            .await
            .map_err(|e| rpc_error(ACTION, &e))?
            .ok_or_else(|| Error::Rpc { action: ACTION, message: "the node has no latest block".into() })?;
        let header = block.header;
        let computed = header.inner.hash_slow();
        if computed != header.hash {
            return Err(Error::HeaderMismatch { number: header.number, claimed: header.hash, computed });
        }
        Ok(Block { number: header.number, hash: header.hash, state_root: header.state_root })
    }

    /// `account`'s ETH balance (in wei), verified against the state root.
    ///
    /// # Errors
    /// [`Error::ProofInvalid`] if the node's proof does not verify (nothing is returned);
    /// [`Error::Rpc`], [`Error::HeaderMismatch`] as [`Reader::block`].
    pub async fn eth_balance(&self, account: Address) -> Result<Read<U256>, Error> {
        let block = self.block().await?;
        let answer = self.proof(&block, account, Vec::new()).await?;
        Ok(Read { value: answer.balance, block, verified: true })
    }

    /// `holder`'s balance of the ERC-20 `token` (in its base units), verified against the state
    /// root where the token keeps balances as OpenZeppelin's ERC20 does (see the module's doc).
    ///
    /// # Errors
    /// [`Error::ProofInvalid`] if the node's proof does not verify (nothing is returned);
    /// [`Error::NotAToken`] if `balanceOf` gives no balance; [`Error::Rpc`],
    /// [`Error::HeaderMismatch`] as [`Reader::block`].
    pub async fn token_balance(&self, token: Address, holder: Address) -> Result<Read<U256>, Error> {
        let block = self.block().await?;
        let slots: Vec<B256> = proof::BalancesLayout::ALL
            .iter()
            .map(|layout| proof::balance_slot(holder, layout.mapping_slot()))
            .collect();
        let answer = self.proof(&block, token, slots).await?;
        let balance = self.token_call(token, IERC20::balanceOfCall { holder }, &block).await?;
        let verified = !balance.is_zero() && answer.storage_proof.iter().any(|slot| slot.value == balance);
        Ok(Read { value: balance, block, verified })
    }

    /// The ERC-20 `token`'s name, symbol and decimals (unverified, `eth_call`): name and symbol
    /// cleaned and marked as the contract's own words. A `bytes32` name or symbol (as early
    /// tokens have) is read as text.
    ///
    /// # Errors
    /// [`Error::NotAToken`] if the contract does not answer them; [`Error::Rpc`],
    /// [`Error::HeaderMismatch`] as [`Reader::block`].
    pub async fn token(&self, token: Address) -> Result<Read<TokenInfo>, Error> {
        let block = self.block().await?;
        let name = self.token_text(token, IERC20::nameCall {}, &block).await?;
        let symbol = self.token_text(token, IERC20::symbolCall {}, &block).await?;
        let decimals = self.token_call(token, IERC20::decimalsCall {}, &block).await?;
        Ok(Read { value: TokenInfo { address: token, name, symbol, decimals }, block, verified: false })
    }

    /// The address the ENS name `name` resolves to (unverified, `eth_call`): registry →
    /// resolver → `addr`.
    ///
    /// # Errors
    /// [`Error::InvalidName`] for a name that is not resolved here (see [`ens`]);
    /// [`Error::NoSuchName`] if the registry has no resolver for it; [`Error::NoAddress`] if its
    /// resolver gives no address; [`Error::OffchainName`] if the resolver asks for an offchain
    /// lookup; [`Error::Rpc`], [`Error::HeaderMismatch`] as [`Reader::block`].
    pub async fn resolve(&self, name: &str) -> Result<Read<Address>, Error> {
        let name =
            ens::normalize(name).map_err(|reason| Error::InvalidName { name: ContractText::new(name).text, reason })?;
        let block = self.block().await?;
        let address = self.resolve_at(&name, &block).await?;
        Ok(Read { value: address, block, verified: false })
    }

    /// The ENS name of `address` (unverified, `eth_call`), or `None`: no reverse record, or one
    /// whose name does not resolve forward to `address` (anyone can claim any name in their own
    /// reverse record), or is not a normalised name.
    ///
    /// # Errors
    /// [`Error::OffchainName`] if a resolver asks for an offchain lookup; [`Error::Rpc`],
    /// [`Error::HeaderMismatch`] as [`Reader::block`].
    pub async fn reverse(&self, address: Address) -> Result<Read<Option<String>>, Error> {
        let block = self.block().await?;
        let reverse = ens::reverse_name(address);
        let node = ens::namehash(&reverse);
        let resolver = self.ens_call(self.ens_registry, IEnsRegistry::resolverCall { node }, &reverse, &block).await?;
        let unverified = |block| Ok(Read { value: None, block, verified: false });
        if resolver.is_zero() {
            return unverified(block);
        }
        let claimed = match self.ens_call(resolver, IEnsResolver::nameCall { node }, &reverse, &block).await {
            Ok(claimed) => claimed,
            Err(Error::Ens { .. }) => return unverified(block),
            Err(e) => return Err(e),
        };
        // The claimed name is the account owner's words: it counts only if it is already a
        // normalised name and that name's owner points it back at this address.
        match ens::normalize(&claimed) {
            Ok(name) if name == claimed => {}
            _ => return unverified(block),
        }
        match self.resolve_at(&claimed, &block).await {
            Ok(forward) if forward == address => Ok(Read { value: Some(claimed), block, verified: false }),
            Ok(_) | Err(Error::NoSuchName { .. } | Error::NoAddress { .. }) => unverified(block),
            Err(e) => Err(e),
        }
    }

    /// Forward resolution of a normalised `name` at `block`.
    async fn resolve_at(&self, name: &str, block: &Block) -> Result<Address, Error> {
        let node = ens::namehash(name);
        let resolver = self.ens_call(self.ens_registry, IEnsRegistry::resolverCall { node }, name, block).await?;
        if resolver.is_zero() {
            return Err(Error::NoSuchName { name: name.into() });
        }
        let address = self.ens_call(resolver, IEnsResolver::addrCall { node }, name, block).await?;
        if address.is_zero() {
            return Err(Error::NoAddress { name: name.into() });
        }
        Ok(address)
    }

    /// `eth_getProof` of `account` and `slots` at `block`, verified against its state root.
    async fn proof(
        &self,
        block: &Block,
        account: Address,
        slots: Vec<B256>,
    ) -> Result<alloy::rpc::types::EIP1186AccountProofResponse, Error> {
        let answer = self
            .provider
            .get_proof(account, slots.clone())
            .block_id(BlockId::number(block.number))
            .await
            .map_err(|e| rpc_error("reading a proof (eth_getProof)", &e))?;
        match proof::verify(block.state_root, account, &slots, &answer) {
            Ok(()) => Ok(answer),
            Err(reason) => {
                tracing::warn!(%account, block = block.number, %reason, "the node's proof does not verify");
                Err(Error::ProofInvalid { account, block: block.number, reason })
            }
        }
    }

    /// `call` to `to` at `block`.
    async fn call<C: SolCall>(&self, to: Address, call: C, block: &Block) -> Result<Bytes, CallError> {
        let request = TransactionRequest::default().with_to(to).with_input(call.abi_encode());
        self.provider.call(request).block(BlockId::number(block.number)).await.map_err(|e| {
            match e.as_error_resp().and_then(|payload| payload.as_revert_data()) {
                Some(data) => CallError::Reverted(data),
                None => CallError::Rpc(e),
            }
        })
    }

    /// An ENS call about `name`, decoded.
    async fn ens_call<C: SolCall>(&self, to: Address, call: C, name: &str, block: &Block) -> Result<C::Return, Error> {
        let bytes = match self.call(to, call, block).await {
            Ok(bytes) => bytes,
            Err(CallError::Reverted(data)) if ens::is_offchain_lookup(&data) => {
                return Err(Error::OffchainName { name: name.into() });
            }
            Err(CallError::Reverted(_)) => {
                return Err(Error::Ens { name: name.into(), reason: format!("{} reverted", C::SIGNATURE) });
            }
            Err(CallError::Rpc(e)) => return Err(rpc_error("resolving an ENS name", &e)),
        };
        C::abi_decode_returns(&bytes).map_err(|_| Error::Ens {
            name: name.into(),
            reason: format!("{to} answered {} with something else than its result", C::SIGNATURE),
        })
    }

    /// An ERC-20 call to `token`, decoded.
    async fn token_call<C: SolCall>(&self, token: Address, call: C, block: &Block) -> Result<C::Return, Error> {
        let bytes = self.token_bytes(token, call, block).await?;
        C::abi_decode_returns(&bytes).map_err(|_| not_a_token::<C>(token, &bytes))
    }

    async fn token_bytes<C: SolCall>(&self, token: Address, call: C, block: &Block) -> Result<Bytes, Error> {
        match self.call(token, call, block).await {
            Ok(bytes) => Ok(bytes),
            Err(CallError::Reverted(_)) => {
                Err(Error::NotAToken { token, reason: format!("{} reverted", C::SIGNATURE) })
            }
            Err(CallError::Rpc(e)) => Err(rpc_error("reading a token", &e)),
        }
    }

    /// `name()` or `symbol()`: a string, or the `bytes32` early tokens return.
    async fn token_text<C: SolCall<Return = String>>(
        &self,
        token: Address,
        call: C,
        block: &Block,
    ) -> Result<ContractText, Error> {
        let bytes = self.token_bytes(token, call, block).await?;
        if let Ok(text) = C::abi_decode_returns(&bytes) {
            return Ok(ContractText::new(&text));
        }
        if bytes.len() == 32 {
            let end = bytes.iter().position(|&b| b == 0).unwrap_or(32);
            return Ok(ContractText::new(&String::from_utf8_lossy(&bytes[..end])));
        }
        Err(not_a_token::<C>(token, &bytes))
    }
}

fn not_a_token<C: SolCall>(token: Address, answer: &[u8]) -> Error {
    let reason = if answer.is_empty() {
        format!("{} returned nothing: is there a contract at this address?", C::SIGNATURE)
    } else {
        format!("{} returned {} bytes that are not its result", C::SIGNATURE, answer.len())
    };
    Error::NotAToken { token, reason }
}

fn rpc_error(action: &'static str, e: &RpcError<alloy::transports::TransportErrorKind>) -> Error {
    Error::Rpc { action, message: e.to_string() }
}
