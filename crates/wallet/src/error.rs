//! The wallet's one error type. No variant carries a key or a passphrase, and none quotes the
//! content of a file given as a secret or as a keystore.

use std::path::PathBuf;

use alloy::primitives::Address;

/// What went wrong, and what the caller can do about it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    // --- the user's input ---
    /// The keystore holds no account.
    #[error("no accounts yet: run `sov wallet new` (or `sov wallet import`)")]
    NoAccounts,
    /// No keystore file holds this address.
    #[error("no account {address} in the keystore: `sov wallet list` shows the accounts")]
    UnknownAccount {
        /// The address asked for.
        address: Address,
    },
    /// The account is in the keystore already.
    #[error("account {address} is in the keystore already ({})", file.display())]
    AccountExists {
        /// The account.
        address: Address,
        /// Its keystore file.
        file: PathBuf,
    },
    /// The passphrase does not open the account's keystore file.
    #[error("wrong passphrase for {address}")]
    WrongPassphrase {
        /// The account whose file did not open.
        address: Address,
    },
    /// The passphrase does not open the keystore file being imported.
    #[error("wrong passphrase for the keystore file {}", path.display())]
    WrongFilePassphrase {
        /// The file being imported.
        path: PathBuf,
    },
    /// A file that should be an Ethereum keystore (v3 JSON) is not one, or is one this wallet
    /// refuses to open (unknown cipher, absurd KDF cost).
    #[error("{} is not a keystore file: {reason}", path.display())]
    NotAKeystore {
        /// The file.
        path: PathBuf,
        /// What is wrong with it (never its content).
        reason: String,
    },
    /// A private key given to import is not one.
    #[error("not a private key: {reason}")]
    InvalidPrivateKey {
        /// The shape expected (never the text given).
        reason: &'static str,
    },
    /// An empty passphrase or key.
    #[error("the {what} is empty")]
    EmptySecret {
        /// `passphrase` or `private key`.
        what: &'static str,
    },
    /// A secret file that group or others may read or write.
    #[error("{} may be read or changed by others (mode {mode:04o}): run `chmod 600 {}`", path.display(), path.display())]
    SecretFileMode {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A secret file owned by someone else.
    #[error("{} is owned by uid {owner}, not by you: use a file of your own (mode 0600)", path.display())]
    SecretFileOwner {
        /// The file.
        path: PathBuf,
        /// Its owner.
        owner: u32,
    },
    /// A secret file that cannot be one (a directory, too long, not text).
    #[error("{} cannot be used as a secret file: {reason}", path.display())]
    SecretFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: &'static str,
    },
    /// A prompt was needed but there is no terminal.
    #[error("no terminal to ask on: give it in a file instead (see --help)")]
    NoTerminal,

    // --- reading the chain: the configuration and the caller's input ---
    /// No Ethereum node is configured.
    #[error("no Ethereum RPC to read from: set [wallet] rpc in the config (an http:// or https:// URL)")]
    NoRpc,
    /// The configured RPC is not a URL that can be reached.
    #[error("invalid RPC URL `{url}`: {reason}")]
    InvalidRpcUrl {
        /// The URL as given.
        url: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// An ENS name that is not resolved here.
    #[error("`{name}` is not resolved: {reason}")]
    InvalidName {
        /// The name, cleaned for display.
        name: String,
        /// Why.
        reason: &'static str,
    },
    /// The ENS registry has no resolver for the name: nobody registered it (or it is a
    /// wildcard name, which is not resolved yet).
    #[error("no such name: `{name}` has no resolver in the ENS registry")]
    NoSuchName {
        /// The normalised name.
        name: String,
    },
    /// The name's resolver gives no Ethereum address for it.
    #[error("`{name}` is registered but names no Ethereum address")]
    NoAddress {
        /// The normalised name.
        name: String,
    },
    /// The name's resolver asks for an offchain lookup (EIP-3668 CCIP-Read).
    #[error(
        "offchain ENS names are not resolved yet: the resolver of `{name}` asks to fetch its answer from a \
         gateway URL the contract chose, and that is never fetched"
    )]
    OffchainName {
        /// The name.
        name: String,
    },

    // --- reading the chain: the node's answers ---
    /// The node could not be asked, or answered with an error.
    #[error("{action}: the Ethereum node failed: {message}")]
    Rpc {
        /// What was being read.
        action: &'static str,
        /// The node's or the transport's error.
        message: String,
    },
    /// The node's proof does not verify against the block's state root: it answered something
    /// the chain does not say. Nothing was read.
    #[error(
        "the RPC answered something the chain does not say: its proof for {account} at block {block} does not \
         verify against the block's state root ({reason}); nothing was read, try another RPC"
    )]
    ProofInvalid {
        /// The account (or token contract) whose proof failed.
        account: alloy::primitives::Address,
        /// The block number.
        block: u64,
        /// What did not verify.
        reason: String,
    },
    /// The node's block header does not hash to the block hash it gave.
    #[error(
        "the RPC answered something the chain does not say: its header of block {number} hashes to {computed}, \
         not to the block hash {claimed} it gave; nothing was read, try another RPC"
    )]
    HeaderMismatch {
        /// The block number.
        number: u64,
        /// The hash the node gave.
        claimed: alloy::primitives::B256,
        /// The hash of the header it gave.
        computed: alloy::primitives::B256,
    },
    /// A contract does not answer as an ERC-20 token does.
    #[error("{token} does not answer as an ERC-20 token: {reason}")]
    NotAToken {
        /// The contract.
        token: alloy::primitives::Address,
        /// What it did.
        reason: String,
    },
    /// An ENS registry or resolver does not answer as ENS's do.
    #[error("resolving `{name}`: {reason}")]
    Ens {
        /// The name (normalised) or reverse name.
        name: String,
        /// What went wrong.
        reason: String,
    },

    // --- the keystore directory ---
    /// A keystore file whose key is not the account its name or `address` field says.
    #[error("{} holds the key of {actual}, not of {claimed}: the file was changed or misnamed", path.display())]
    AddressMismatch {
        /// The file.
        path: PathBuf,
        /// The address it claims.
        claimed: Address,
        /// The address of the key inside.
        actual: Address,
    },
    /// A file or directory could not be read or written.
    #[error("{action} {}: {source}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// To what.
        path: PathBuf,
        /// The OS's error.
        #[source]
        source: std::io::Error,
    },

    // --- internal faults ---
    /// The keystore crate failed for a reason other than a wrong passphrase (its messages name
    /// parameters, never secrets).
    #[error("keystore encryption failed: {0}")]
    Crypto(String),
    /// The wallet has no price for what would be sent, so it cannot say what the send is worth.
    #[error(
        "no US dollar price for {asset}: add it to [wallet] prices (USD per whole unit); the wallet refuses to value what it cannot price"
    )]
    NoPrice {
        /// What has no price.
        asset: String,
    },
    /// An amount the wallet cannot read.
    #[error("the amount `{amount}` is not valid: {reason}")]
    InvalidAmount {
        /// The text given (cut short).
        amount: String,
        /// Why.
        reason: String,
    },
    /// Not `ETH` nor a token contract's address.
    #[error(
        "`{asset}` is not an asset the wallet sends: name `ETH` or a token contract's address (0x and 40 hex digits)"
    )]
    InvalidAsset {
        /// The text given (cut short).
        asset: String,
    },
    /// Not an address nor an ENS name.
    #[error("`{to}` is not a recipient: give an address (0x and 40 hex digits) or an ENS name (bob.eth)")]
    InvalidRecipient {
        /// The text given (cut short).
        to: String,
    },
    /// Call data that is not hex.
    #[error("the call data is not hex (0x…): {reason}")]
    InvalidCallData {
        /// Why.
        reason: String,
    },
    /// A swap without a router.
    #[error("no router for swaps: set [wallet] router to a Uniswap V2-style router's address")]
    NoRouter,
    /// The accounts are not unlocked in this daemon.
    #[error(
        "the wallet is locked: sends need [wallet] passphrase_file (a file of yours, mode 0600, holding the keystore's passphrase) and a restart of sov serve; reads work without it"
    )]
    Locked,
    /// The node refused a signed transaction and does not have it: it was not sent.
    #[error("{0}")]
    Refused(String),
    /// A signed transaction may or may not have reached the node (it could not be asked): it
    /// stays signed, and only its bytes are ever sent again.
    #[error("{0}")]
    Broadcast(String),
    /// The outbox of signed transactions cannot be read or written.
    #[error("the wallet's outbox of transactions: {0}")]
    Outbox(String),
    /// A transaction could not be prepared, signed or broadcast.
    #[error("{0}")]
    Tx(String),
}
