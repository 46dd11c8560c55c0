//! The provider's side: an HTTP gateway, run inside the TEE, that serves the attestation bundle
//! and turns sealed requests into plain requests to a local OpenAI-compatible upstream (such as
//! llama-server), sealing the upstream's answers back.
//!
//! # Routes
//! - `GET /.well-known/sovereign-attestation` ([`ATTESTATION_PATH`]): the current bundle JSON
//!   (`application/json`), as held by a [`BundleHandle`]; 503 until one is set.
//! - Anything else: a sealed request ([`REQUEST_CONTENT_TYPE`]). The gateway opens it with its
//!   [`KeyPair`], sends the plain body to `upstream + path + query` with the same method and
//!   `content-type: application/json`, and seals the answer to the request's opener:
//!   - an upstream `text/event-stream` answer (an OpenAI streaming chat) goes back as a sealed
//!     stream ([`STREAM_CONTENT_TYPE`]), one sealed chunk per upstream chunk, each sent on as
//!     soon as it arrives, then an empty final chunk;
//!   - any other answer goes back as one sealed response ([`RESPONSE_CONTENT_TYPE`]).
//!
//!   The upstream's status code is passed through in the clear: it is not secret, the body is.
//!
//! # Guarantees
//! - Nothing reaches the upstream unless the request opened with this gateway's key: a request
//!   that is not sealed, tampered with, truncated, or sealed to another key is refused (415 or
//!   400) before any connection to the upstream is made.
//! - The upstream's body leaves the gateway only sealed to the opener of the request it answers.
//!   A stream cut short (the upstream fails mid-answer) lacks its final chunk, which the client
//!   reports as truncation.
//! - The gateway's own errors are plain JSON `{"error": {"message": "..."}}` that name the
//!   problem and never contain request or response content.
//! - No body, query string or header value is ever logged: events carry the method, the path,
//!   the status and errors about the upstream connection.
//!
//! # What it does not do
//! - Stop replays or charge for requests: the ZK-API proxy in front of it does (its nullifier
//!   makes a replayed request detectable).
//! - Hide the method, path, status or message lengths: they travel in the clear.
//! - Rotate keys: the [`KeyPair`] is fixed for the gateway's lifetime; refresh the bundle (a new
//!   epoch for the same key) with [`BundleHandle::set`].
//! - Fetch collateral: [`tee_bundle`] returns the bare evidence; see its documentation.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt as _;
use sov_attest::{Bundle, Kind, report_data};
use tracing::Instrument as _;

use crate::channel::{MAX_CHUNK_LEN, REQUEST_CONTENT_TYPE, RESPONSE_CONTENT_TYPE, STREAM_CONTENT_TYPE};
use crate::error::chain;
use crate::{Error, KeyPair, PublicKey, ResponseSealer, open_request};

/// Path at which a gateway serves its attestation bundle.
pub const ATTESTATION_PATH: &str = "/.well-known/sovereign-attestation";

/// The key id every request sealed to a bundle's key carries.
///
/// A [`Bundle`] has no key id field, so clients cannot learn one from it: they always seal with
/// key id 0, and a [`Gateway`] refuses a [`KeyPair`] with another id. Key rotation is done by
/// epoch (a new bundle for a new key), not by key id.
pub const BUNDLE_KEY_ID: u8 = 0;

/// Length of a key epoch: one day.
pub const EPOCH_SECS: u64 = 86_400;

/// Default limit on a sealed request's size (32 MiB).
pub const DEFAULT_REQUEST_LIMIT: usize = 32 << 20;

/// Limit on a whole (non-streamed) upstream answer (64 MiB).
pub const MAX_UPSTREAM_RESPONSE: usize = 64 << 20;

/// The key epoch at time `t`: whole days since the Unix epoch (0 before 1970).
pub fn epoch_at(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / EPOCH_SECS)
}

/// When a bundle for `epoch` expires: the end of the day after the epoch's day, so that a bundle
/// refreshed daily always overlaps the next one by a day. Capped at 9999-12-31T23:59:59Z.
pub fn epoch_expires_at(epoch: u64) -> SystemTime {
    const LAST_RFC3339_SECOND: u64 = 253_402_300_799;
    let secs = epoch.saturating_add(2).saturating_mul(EPOCH_SECS).min(LAST_RFC3339_SECOND);
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A `dev` bundle for `public_key`: no hardware evidence. Clients accept it only with a policy
/// that sets `allow_dev = true`, and report its key as unattested. For local testing only.
pub fn dev_bundle(public_key: &PublicKey, epoch: u64, expires_at: SystemTime) -> Bundle {
    tracing::warn!(
        "creating a DEV attestation bundle: it carries no hardware evidence; clients with a \
         default policy refuse it, and nothing protects what they send if they accept it"
    );
    Bundle {
        kind: Kind::Dev,
        evidence: Vec::new(),
        intel_collateral: None,
        snp_certs: None,
        hpke_public_key: *public_key.as_bytes(),
        epoch,
        expires_at,
    }
}

/// A hardware bundle for `public_key`: asks the TEE (through Linux configfs-tsm) for evidence
/// whose `report_data` is [`sov_attest::report_data`]`(public_key, epoch)`, i.e.
/// [`sov_attest::binding`]`(public_key, epoch) || 0^32`.
///
/// The bundle carries the evidence only. Clients verify offline, so before serving it the
/// provider must attach the collateral: `intel_collateral` for TDX (from Intel PCS or a PCCS),
/// `snp_certs` for SEV-SNP (the VCEK from AMD KDS). Without it clients refuse the bundle with a
/// "missing collateral" error.
///
/// # Errors
/// [`Error::Evidence`] if this machine cannot produce evidence (not a TDX or SEV-SNP guest, or
/// configfs-tsm is missing; development setups serve a [`dev_bundle`] instead, e.g. with
/// `--dev-no-tee`); [`Error::UnsupportedTee`] for a TEE other than TDX or SEV-SNP.
pub fn tee_bundle(public_key: &PublicKey, epoch: u64, expires_at: SystemTime) -> Result<Bundle, Error> {
    let (provider, evidence) =
        sov_attest::tsm_report(report_data(public_key.as_bytes(), epoch)).map_err(Error::Evidence)?;
    let kind = match provider.as_str() {
        "tdx_guest" => Kind::Tdx,
        "sev_guest" => Kind::Snp,
        _ => return Err(Error::UnsupportedTee(provider)),
    };
    Ok(Bundle {
        kind,
        evidence,
        intel_collateral: None,
        snp_certs: None,
        hpke_public_key: *public_key.as_bytes(),
        epoch,
        expires_at,
    })
}

/// The bundle a gateway serves, shared with whatever refreshes it (clone the handle; all clones
/// see the same bundle).
#[derive(Clone, Debug, Default)]
pub struct BundleHandle(Arc<RwLock<Bytes>>);

impl BundleHandle {
    /// A handle serving `bundle`.
    pub fn new(bundle: &Bundle) -> Self {
        Self::from_json(bundle.to_json())
    }

    /// A handle serving these JSON bytes as they are (the gateway does not check them).
    pub fn from_json(json: impl Into<Bytes>) -> Self {
        Self(Arc::new(RwLock::new(json.into())))
    }

    /// Serves `bundle` from now on.
    pub fn set(&self, bundle: &Bundle) {
        self.set_json(bundle.to_json());
    }

    /// Serves these JSON bytes from now on.
    pub fn set_json(&self, json: impl Into<Bytes>) {
        // Writes are single assignments, so a poisoned lock holds a whole value.
        *self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()) = json.into();
    }

    /// The JSON currently served (empty if none was set).
    pub fn json(&self) -> Bytes {
        self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner()).clone()
    }
}

/// The provider's gateway: build it with [`Gateway::new`], serve [`Gateway::router`].
#[derive(Clone)]
pub struct Gateway {
    key_pair: KeyPair,
    upstream: String,
    client: reqwest::Client,
    bundle: BundleHandle,
    request_limit: usize,
}

impl Gateway {
    /// A gateway that opens requests with `key_pair`, forwards them to `upstream` (an absolute
    /// `http`/`https` base URL such as `http://127.0.0.1:8080`; a path prefix is kept) and serves
    /// the bundle held by `bundle`.
    ///
    /// # Errors
    /// [`Error::Config`] if `upstream` is not an absolute `http`/`https` URL without a query, or
    /// if the key pair's id is not [`BUNDLE_KEY_ID`]; [`Error::ClientBuild`] if the HTTP client
    /// cannot be built.
    pub fn new(key_pair: KeyPair, upstream: &str, bundle: BundleHandle) -> Result<Self, Error> {
        if key_pair.key_id() != BUNDLE_KEY_ID {
            return Err(Error::Config(format!(
                "the gateway's key pair has key id {}, but clients always seal with key id {BUNDLE_KEY_ID} \
                 (a bundle conveys no key id); generate the key with key id {BUNDLE_KEY_ID}",
                key_pair.key_id()
            )));
        }
        let upstream = base_url(upstream).map_err(|why| Error::Config(format!("upstream URL {upstream:?}: {why}")))?;
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .referer(false)
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| Error::ClientBuild(chain(&e)))?;
        Ok(Self { key_pair, upstream, client, bundle, request_limit: DEFAULT_REQUEST_LIMIT })
    }

    /// Sets the largest sealed request accepted (default [`DEFAULT_REQUEST_LIMIT`]); larger ones
    /// get 413.
    #[must_use]
    pub fn with_request_limit(mut self, bytes: usize) -> Self {
        self.request_limit = bytes;
        self
    }

    /// The public key requests must be sealed to.
    pub fn public_key(&self) -> PublicKey {
        self.key_pair.public_key()
    }

    /// The handle of the served bundle (to refresh it).
    pub fn bundle(&self) -> &BundleHandle {
        &self.bundle
    }

    /// The gateway's routes (see the module documentation).
    pub fn router(&self) -> Router {
        // The request limit is applied by `forward` itself (it reads the raw body).
        Router::new()
            .route(ATTESTATION_PATH, axum::routing::get(attestation))
            .fallback(forward)
            .with_state(Arc::new(self.clone()))
    }
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("key_pair", &self.key_pair)
            .field("upstream", &self.upstream)
            .field("request_limit", &self.request_limit)
            .finish_non_exhaustive()
    }
}

/// Checks an absolute `http`/`https` base URL without a query and returns it without a trailing
/// slash.
pub(crate) fn base_url(url: &str) -> Result<String, &'static str> {
    let uri: http::Uri = url.parse().map_err(|_| "not a URL")?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(_) => return Err("unsupported scheme; use http or https"),
        None => return Err("must be absolute (scheme://host[:port][/prefix])"),
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err("has no host");
    }
    if uri.query().is_some() {
        return Err("must not have a query");
    }
    Ok(url.trim_end_matches('/').to_owned())
}

/// The content type's essence (no parameters), lower-cased.
pub(crate) fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// An error the gateway answers itself: plain JSON naming the problem, nothing from any body.
struct GatewayError {
    status: StatusCode,
    message: String,
}

impl GatewayError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        tracing::info!(status = self.status.as_u16(), reason = %self.message, "refused");
        let body = serde_json::json!({ "error": { "message": self.message } });
        (self.status, [(header::CACHE_CONTROL, HeaderValue::from_static("no-store"))], axum::Json(body)).into_response()
    }
}

async fn attestation(State(gateway): State<Arc<Gateway>>) -> Response {
    let json = gateway.bundle.json();
    if json.is_empty() {
        return GatewayError::new(StatusCode::SERVICE_UNAVAILABLE, "no attestation bundle is loaded yet")
            .into_response();
    }
    ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], json).into_response()
}

async fn forward(State(gateway): State<Arc<Gateway>>, request: Request) -> Response {
    let span = tracing::info_span!("sealed_request", method = %request.method(), path = %request.uri().path());
    async move {
        match forward_inner(&gateway, request).await {
            Ok(response) => {
                tracing::info!(status = response.status().as_u16(), "answered sealed");
                response
            }
            Err(e) => e.into_response(),
        }
    }
    .instrument(span)
    .await
}

async fn forward_inner(gateway: &Gateway, request: Request) -> Result<Response, GatewayError> {
    let (parts, body) = request.into_parts();
    let content_type = media_type(&parts.headers);
    if content_type != REQUEST_CONTENT_TYPE {
        return Err(GatewayError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected a sealed request (content-type {REQUEST_CONTENT_TYPE})"),
        ));
    }
    let envelope = axum::body::to_bytes(body, gateway.request_limit).await.map_err(|_| {
        GatewayError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the sealed request is over the limit of {} bytes, or was cut off", gateway.request_limit),
        )
    })?;
    let (plain, sealer) = open_request(&gateway.key_pair, &envelope)
        .map_err(|e| GatewayError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
    drop(envelope);

    let path_and_query = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let url = format!("{}{path_and_query}", gateway.upstream);
    let upstream = gateway
        .client
        .request(parts.method, url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(plain)
        .send()
        .await
        .map_err(|e| {
            let (timeout, connect) = (e.is_timeout(), e.is_connect());
            tracing::warn!(error = %chain(&e.without_url()), "upstream request failed");
            if timeout {
                GatewayError::new(StatusCode::GATEWAY_TIMEOUT, "the upstream model server did not answer in time")
            } else if connect {
                GatewayError::new(StatusCode::BAD_GATEWAY, "the upstream model server could not be reached")
            } else {
                GatewayError::new(StatusCode::BAD_GATEWAY, "the upstream model server failed to answer")
            }
        })?;

    let status = upstream.status();
    if media_type(upstream.headers()) == "text/event-stream" {
        Ok(sealed_response(status, STREAM_CONTENT_TYPE, Body::from_stream(sealed_stream(upstream, sealer))))
    } else {
        let body = read_limited(upstream, MAX_UPSTREAM_RESPONSE).await?;
        let sealed = sealer.seal(&body).map_err(|e| {
            tracing::error!(error = %e, "sealing the response failed");
            GatewayError::new(StatusCode::INTERNAL_SERVER_ERROR, "the response could not be sealed")
        })?;
        Ok(sealed_response(status, RESPONSE_CONTENT_TYPE, Body::from(sealed)))
    }
}

fn sealed_response(status: StatusCode, content_type: &'static str, body: Body) -> Response {
    (
        status,
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        body,
    )
        .into_response()
}

/// Reads a whole upstream answer, refusing more than `limit` bytes.
async fn read_limited(mut upstream: reqwest::Response, limit: usize) -> Result<Vec<u8>, GatewayError> {
    let mut body = Vec::new();
    loop {
        match upstream.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > limit {
                    tracing::warn!(limit, "upstream answer over the limit");
                    return Err(GatewayError::new(StatusCode::BAD_GATEWAY, "the upstream answer is too large"));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => return Ok(body),
            Err(e) => {
                tracing::warn!(error = %chain(&e.without_url()), "reading the upstream answer failed");
                return Err(GatewayError::new(StatusCode::BAD_GATEWAY, "the upstream answer broke off"));
            }
        }
    }
}

/// The upstream's event stream, sealed chunk by chunk as it arrives, then an empty final chunk.
/// If the upstream breaks off, the stream ends without its final chunk (the client reports
/// truncation).
fn sealed_stream(
    upstream: reqwest::Response,
    sealer: ResponseSealer,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    struct State {
        upstream: Option<futures_util::stream::BoxStream<'static, reqwest::Result<Bytes>>>,
        sealer: ResponseSealer,
    }
    let state = State { upstream: Some(upstream.bytes_stream().boxed()), sealer };
    futures_util::stream::unfold(state, |mut state| async move {
        let upstream = state.upstream.as_mut()?;
        let item = loop {
            match upstream.next().await {
                Some(Ok(chunk)) if chunk.is_empty() => {}
                Some(Ok(chunk)) => {
                    let mut frames = Vec::with_capacity(chunk.len() + 64);
                    let sealed = chunk.chunks(MAX_CHUNK_LEN).try_for_each(|piece| {
                        state.sealer.seal_chunk(piece, false).map(|frame| frames.extend_from_slice(&frame))
                    });
                    break sealed.map(|()| Bytes::from(frames));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %chain(&e.without_url()), "upstream stream broke off; ending the sealed stream without its final chunk");
                    return None;
                }
                None => {
                    state.upstream = None;
                    break state.sealer.seal_chunk(&[], true).map(Bytes::from);
                }
            }
        };
        match item {
            Ok(bytes) => Some((Ok(bytes), state)),
            Err(e) => {
                tracing::error!(error = %e, "sealing a stream chunk failed");
                state.upstream = None;
                Some((Err(std::io::Error::other("sealing a stream chunk failed")), state))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn epochs_are_days_and_bundles_expire_at_the_end_of_the_next_day() {
        let t = UNIX_EPOCH + Duration::from_secs(20_000 * EPOCH_SECS + 3_600);
        assert_eq!(epoch_at(t), 20_000);
        assert_eq!(epoch_at(UNIX_EPOCH), 0);
        assert_eq!(epoch_expires_at(20_000), UNIX_EPOCH + Duration::from_secs(20_002 * EPOCH_SECS));
        assert_eq!(sov_attest::format_rfc3339(epoch_expires_at(0)), "1970-01-03T00:00:00Z");
        assert_eq!(sov_attest::format_rfc3339(epoch_expires_at(u64::MAX)), "9999-12-31T23:59:59Z");
    }

    #[test]
    fn base_urls_are_checked() {
        assert_eq!(base_url("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(base_url("https://h/v1prefix").unwrap(), "https://h/v1prefix");
        assert!(base_url("127.0.0.1:8080").is_err());
        assert!(base_url("ftp://h").is_err());
        assert!(base_url("http://h/?q=1").is_err());
        assert!(base_url("not a url").is_err());
    }

    #[test]
    fn media_type_ignores_parameters_and_case() {
        let mut h = HeaderMap::new();
        assert_eq!(media_type(&h), "");
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static("Text/Event-Stream; charset=utf-8"));
        assert_eq!(media_type(&h), "text/event-stream");
    }

    #[test]
    fn a_gateway_refuses_a_key_id_bundles_cannot_convey() {
        let err =
            Gateway::new(KeyPair::generate_with_id(4), "http://127.0.0.1:1", BundleHandle::default()).unwrap_err();
        assert!(err.to_string().contains("key id 4"), "{err}");
        let err = Gateway::new(KeyPair::generate(), "localhost:8080", BundleHandle::default()).unwrap_err();
        assert!(err.to_string().contains("upstream URL"), "{err}");
    }

    #[test]
    fn dev_bundles_carry_the_key_and_no_evidence() {
        let pk = KeyPair::generate().public_key();
        let b = dev_bundle(&pk, 5, epoch_expires_at(5));
        assert_eq!((b.kind, b.evidence.len(), b.hpke_public_key, b.epoch), (Kind::Dev, 0, *pk.as_bytes(), 5));
        let handle = BundleHandle::new(&b);
        assert_eq!(Bundle::from_json(&handle.json()).unwrap(), b);
    }

    #[test]
    fn tee_bundle_without_configfs_tsm_says_so() {
        if std::path::Path::new(sov_attest::TSM_REPORT_DIR).exists() {
            return; // a real TEE guest: nothing to check here
        }
        let pk = KeyPair::generate().public_key();
        let err = tee_bundle(&pk, 1, epoch_expires_at(1)).unwrap_err();
        assert!(matches!(err, Error::Evidence(_)), "{err:?}");
        assert!(err.to_string().contains("configfs-tsm"), "{err}");
    }
}
