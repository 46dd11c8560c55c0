//! The private remote path: HPKE-sealed requests and responses, transports (direct, SOCKS5 to
//! Tor or Nym), the provider's gateway and the client that talks to it.
//!
//! # What it does
//! - [`seal_request`] / [`open_request`] seal a request body to a provider's attested X25519 key
//!   and open it inside the provider, in the shape of Oblivious HTTP (RFC 9458) over HPKE
//!   (RFC 9180); [`ResponseSealer`] / [`ResponseOpener`] carry the response back, whole or as a
//!   stream of chunks ([`StreamOpener`]). The format is described in [`channel`].
//! - [`KeyPair`] is the provider's key, kept in a file only its owner may read.
//! - [`Transport`] sends one HTTP request: [`Socks5`] through Tor or a Nym client, [`Direct`] for
//!   development.
//! - [`Gateway`] (the provider's side, in its TEE) serves the attestation bundle and forwards
//!   sealed requests to a local OpenAI-compatible server, sealing its answers ([`gateway`]).
//! - [`RemoteProvider`] (the client's side) verifies the provider's attestation with
//!   `sov-attest`, seals to the attested key, attaches a [`Payment`] ticket computed over the
//!   sealed bytes, and opens the answer ([`client`]).
//!
//! # What it does not do
//! It does not stop replays (the ZK-API nullifier does), compute payment tickets (the caller's
//! [`Payment`] does), sanitise prompts, or hide message lengths, paths and status codes.
//!
//! # Security properties
//! - A sealed request opens only with the provider's secret key, and any change to any byte of
//!   the envelope (header included) makes opening fail. The envelope carries no client identity:
//!   a fresh ephemeral key per request, no client key, no counter.
//! - A response opens only with the opener of the request it answers. A streamed response detects
//!   altered, reordered, dropped and duplicated chunks, and truncation after any chunk.
//! - [`RemoteProvider`] sends nothing to a provider's request path until its attestation
//!   verified locally and binds the key (a `dev` bundle only under `allow_dev`, with a warning
//!   on every request); the [`Gateway`] forwards nothing that did not open with its key.
//! - Secrets are wiped on drop and printed as `[redacted]`; bodies are never logged.
//! - [`Socks5`] never falls back to a direct connection, never resolves host names locally, and
//!   isolates every request (fresh SOCKS credentials and connection). [`Direct`] warns loudly.

pub mod channel;
pub mod client;
mod error;
pub mod gateway;
mod keys;
#[cfg(feature = "testing")]
pub mod testing;
pub mod transport;

pub use channel::{
    REQUEST_CONTENT_TYPE, RESPONSE_CONTENT_TYPE, ResponseOpener, ResponseSealer, STREAM_CONTENT_TYPE, StreamOpener,
    open_request, seal_request,
};
pub use client::{NoPayment, OpenedStream, Payment, RemoteBody, RemoteProvider, RemoteResponse};
pub use error::Error;
pub use gateway::{
    ATTESTATION_PATH, BUNDLE_KEY_ID, BundleHandle, Gateway, dev_bundle, epoch_at, epoch_expires_at, tee_bundle,
};
pub use keys::{KEY_LEN, KeyPair, PublicKey};
pub use transport::{BodyStream, BoxFuture, Direct, ResponseBody, Socks5, StreamIsolation, Timeouts, Transport};

/// Fills `buf` from the operating system's random number generator.
pub(crate) fn random(buf: &mut [u8]) -> Result<(), Error> {
    getrandom::fill(buf).map_err(|e| Error::Random(e.to_string()))
}
