//! The crate's one error type.
//!
//! Variants fall in three groups, kept apart so callers can react:
//! - **bad input from a peer** (a sealed message that is malformed, tampered, truncated or meant
//!   for another key or request): drop the message; never retry it as is;
//! - **local mistakes and configuration** (a bad key file, a bad URL, a misuse of a sealer);
//! - **transport faults** (the proxy is down, the provider is unreachable, a timeout): the request
//!   may be retried, but never over a weaker route.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Everything that can go wrong in the remote path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // ---- sealed messages from a peer ----
    /// A sealed message is shorter than its fixed parts.
    #[error("sealed {what} is truncated: {len} bytes, at least {min} needed")]
    Truncated {
        /// Which kind of message ("request", "response", "stream chunk").
        what: &'static str,
        /// Its length.
        len: usize,
        /// The least length a well-formed one has.
        min: usize,
    },
    /// The request envelope has a version this build does not speak.
    #[error("unsupported request envelope version {0} (this build speaks version 1)")]
    UnsupportedVersion(u8),
    /// The request envelope names a cipher suite other than the one this build uses.
    #[error(
        "unsupported cipher suite kem={kem:#06x} kdf={kdf:#06x} aead={aead:#06x} \
         (expected DHKEM(X25519, HKDF-SHA256)=0x0020, HKDF-SHA256=0x0001, ChaCha20-Poly1305=0x0003)"
    )]
    UnsupportedSuite {
        /// KEM id from the header.
        kem: u16,
        /// KDF id from the header.
        kdf: u16,
        /// AEAD id from the header.
        aead: u16,
    },
    /// The request was sealed to another key id than the one this provider holds.
    #[error("request is sealed to key id {got}, but this key pair has key id {expected} (stale or rotated key?)")]
    WrongKeyId {
        /// Key id in the envelope.
        got: u8,
        /// Key id of the key pair asked to open it.
        expected: u8,
    },
    /// The request failed authentication: it was tampered with or sealed to a different key.
    #[error("request failed authentication: it was tampered with or sealed to a different public key")]
    RequestAuth,
    /// The response failed authentication: tampered with, truncated, or sealed for another request.
    #[error("response failed authentication: it was tampered with, truncated, or belongs to another request")]
    ResponseAuth,
    /// A chunk of a streamed response failed authentication.
    #[error(
        "response stream chunk {index} failed authentication: tampered with, reordered, \
         or from another response"
    )]
    ChunkAuth {
        /// Zero-based position of the chunk in the stream.
        index: u64,
    },
    /// A streamed response ended before its final chunk.
    #[error("response stream was truncated: it ended after {chunks} chunk(s) without the final chunk")]
    StreamTruncated {
        /// How many chunks were authenticated before the end.
        chunks: u64,
    },
    /// Bytes followed the final chunk of a streamed response.
    #[error("response stream has {0} byte(s) after its final chunk")]
    StreamTrailingData(usize),
    /// A stream chunk announces a length above the limit.
    #[error("response stream chunk of {len} bytes exceeds the limit of {max} bytes")]
    ChunkTooLarge {
        /// Announced (or offered) length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The stream opener already failed; a broken stream cannot be resumed.
    #[error("response stream already failed; discard it")]
    StreamPoisoned,

    // ---- local misuse and configuration ----
    /// A public key could not be parsed or is unusable.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),
    /// The streamed response was already finished with its final chunk.
    #[error("response stream already has its final chunk; nothing can follow it")]
    StreamFinished,
    /// Sealing failed (the message is beyond what the AEAD can seal).
    #[error("sealing failed: {0}")]
    Seal(&'static str),
    /// The operating system's random number generator failed.
    #[error("the system random number generator failed: {0}")]
    Random(String),
    /// A key file could not be read or written.
    #[error("key file {path}: {source}")]
    KeyFileIo {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A key file is readable by others than its owner.
    #[error(
        "key file {path} has mode {mode:#o}: group or others may access it; \
         run `chmod 600 {path}` after checking nobody copied it"
    )]
    KeyFilePermissions {
        /// The file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A key file's content is not a key pair in this crate's format.
    #[error("key file {path} is not a Sovereign HPKE key pair: {reason}")]
    KeyFileFormat {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: &'static str,
    },

    // ---- transports ----
    /// The HTTP request cannot be sent as given (bad URL, unsupported scheme, bad header).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The SOCKS5 proxy could not be reached. Nothing was sent, and nothing will be sent directly.
    #[error(
        "SOCKS5 proxy {proxy} is unreachable ({reason}); the request was not sent, and is never \
         sent without the proxy. Is Tor or the Nym client running and listening there?"
    )]
    ProxyUnreachable {
        /// The proxy's address.
        proxy: SocketAddr,
        /// Why connecting to it failed.
        reason: String,
    },
    /// The SOCKS5 proxy answered but could not (or would not) connect to the provider.
    #[error("SOCKS5 proxy {proxy} could not connect to {host}: {reason}")]
    ProxyConnect {
        /// The proxy's address.
        proxy: SocketAddr,
        /// The provider's host and port.
        host: String,
        /// The proxy's or the handshake's error.
        reason: String,
    },
    /// A direct connection to the provider failed.
    #[error("could not connect to {host}: {reason}")]
    Connect {
        /// The provider's host and port.
        host: String,
        /// Why.
        reason: String,
    },
    /// The request or response timed out.
    #[error("request to {host} timed out")]
    Timeout {
        /// The provider's host and port.
        host: String,
    },
    /// The exchange failed after connecting (broken connection, malformed HTTP).
    #[error("HTTP exchange with {host} failed: {reason}")]
    Http {
        /// The provider's host and port.
        host: String,
        /// Why.
        reason: String,
    },
    /// A response body is larger than the caller's limit.
    #[error("response body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit.
        limit: usize,
    },
    /// The transport could not be set up (TLS backend initialisation).
    #[error("could not build the HTTP client: {0}")]
    ClientBuild(String),
    /// The outbound policy's route failed (Tor not bootstrapped, the proxy down, ...); nothing
    /// was sent by another route.
    #[error(transparent)]
    Net(#[from] sov_net::Error),

    // ---- the provider, seen from the client ----
    /// The provider's attestation bundle was not accepted: it is malformed, expired, forged, or
    /// not allowed by the policy. Nothing was sent to the provider.
    #[error("provider attestation not accepted, nothing was sent: {0}")]
    Attestation(sov_attest::Error),
    /// The attestation verified, but it does not bind the key that requests would be sealed to.
    #[error("provider attestation does not vouch for its HPKE key ({0}); nothing was sent")]
    KeyNotAttested(String),
    /// The provider answered with a status and a plain (unsealed) body, e.g. the gateway's own
    /// error; at most 300 characters of the body are kept.
    #[error("provider answered {what} with HTTP status {status} and a plain (unsealed) body: {body}")]
    ProviderStatus {
        /// Which request ("the attestation request", "the sealed request").
        what: &'static str,
        /// The HTTP status code.
        status: u16,
        /// Start of the body (at most 300 characters), lossily decoded as UTF-8; for an
        /// OpenAI-style error body (`{"error": {"message", "code"}}`, as a ZK-API proxy answers
        /// a 402), the start of its `message`.
        body: String,
        /// The `code` of an OpenAI-style error body (`unknown_root`, `limit_reached`, …).
        code: Option<String>,
    },
    /// A success answer came back unsealed where a sealed one was expected; it was discarded
    /// unread.
    #[error(
        "provider answered HTTP status {status} with an unsealed body (content-type {content_type:?}) \
         where a sealed response was expected; discarded unread"
    )]
    UnsealedResponse {
        /// The HTTP status code.
        status: u16,
        /// The content type it named (empty if none).
        content_type: String,
    },
    /// The payment (ZK-API ticket) for a request could not be produced. Nothing was sent.
    #[error("could not make the payment ticket for the request, nothing was sent: {0}")]
    Payment(String),

    // ---- the provider's own side (gateway) ----
    /// The gateway or client was configured with something unusable (a bad URL, a key id other
    /// than the one bundles convey).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// This machine cannot produce attestation evidence (not a TDX or SEV-SNP guest, or
    /// configfs-tsm is missing). Development setups can serve a dev bundle instead.
    #[error("cannot produce attestation evidence: {0}")]
    Evidence(sov_attest::Error),
    /// configfs-tsm produced evidence of a kind this build cannot put in a bundle.
    #[error("configfs-tsm provider {0:?} is not supported (expected tdx_guest or sev_guest)")]
    UnsupportedTee(String),
}

/// Renders an error and its sources as `outer: inner: innermost`, skipping repeated messages.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !out.ends_with(&s) {
            out.push_str(": ");
            out.push_str(&s);
        }
        source = e.source();
    }
    out
}
