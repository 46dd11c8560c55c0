//! The client's side: verify a provider's attestation, seal a request to the attested key, pay
//! for it, send it through a [`Transport`], and open the answer, whole or streamed.
//!
//! # Order of a call ([`RemoteProvider::send`])
//! 1. Get an attested key: fetch the bundle from [`ATTESTATION_PATH`] through the transport and
//!    verify it locally ([`sov_attest::Cache::verify`], at the real clock, under the policy).
//!    Hardware bundles must bind their key ([`KeyBinding::Bound`]); a `dev` bundle is accepted
//!    only when the policy sets `allow_dev`, and every request sealed to a dev key logs a warning.
//!    A verified key is reused until its verdict's [`Verdict::usable_until`].
//! 2. Seal the body to that key ([`seal_request`], key id [`BUNDLE_KEY_ID`]).
//! 3. Ask the [`Payment`] for a ticket over the **sealed** bytes (so the payment proof commits to
//!    exactly what is sent, and reveals nothing of the plain body).
//! 4. POST the envelope through the transport and open the answer with the request's opener.
//!
//! # Guarantees
//! - Nothing is sent to the provider's request path unless its attestation verified: a refused
//!   bundle, an unbound key or a failed payment ends the call before the sealed request leaves.
//! - Only sealed answers are read: a success answer that is not sealed is discarded unread
//!   ([`Error::UnsealedResponse`]); an error answer that is not sealed (the gateway's own errors,
//!   a proxy's) is reported with at most 300 characters of it ([`Error::ProviderStatus`]).
//! - A streamed answer cut short is an error ([`Error::StreamTruncated`]), never a silent end.
//!
//! # Not covered here
//! Sanitising the prompt, choosing the transport (use [`crate::Socks5`] for privacy) and
//! computing ZK-API tickets belong to the caller.

use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use bytes::Bytes;
use futures_util::Stream;
use http::header::{ACCEPT, CONTENT_TYPE, HeaderName, HeaderValue};
use sov_attest::{Bundle, Cache, KeyBinding, Kind, Policy, Verdict};

use crate::channel::{REQUEST_CONTENT_TYPE, RESPONSE_CONTENT_TYPE, STREAM_CONTENT_TYPE};
use crate::gateway::{ATTESTATION_PATH, BUNDLE_KEY_ID, base_url, media_type};
use crate::{BoxFuture, Error, PublicKey, ResponseBody, StreamOpener, Transport, seal_request};

/// Largest attestation bundle accepted (4 MiB; Intel collateral with its CRLs is ~100 KiB).
pub const MAX_BUNDLE_LEN: usize = 4 << 20;
/// Largest whole sealed response accepted (64 MiB).
pub const MAX_RESPONSE_LEN: usize = 64 << 20;
/// How many characters of a plain error body an [`Error::ProviderStatus`] keeps.
pub const ERROR_BODY_CHARS: usize = 300;
/// How many bytes of a plain error body are read at most.
const ERROR_BODY_READ: usize = 4 << 10;

/// Pays for a request: returns an extra header (name, value) to send with it, such as a ZK-API
/// ticket, or `None` for a provider that takes no payment.
///
/// `body` is the **sealed** envelope exactly as it will be sent; `method` and `path_and_query`
/// are the request line's. An `Err` names why no ticket could be made; the request is then not
/// sent.
pub trait Payment: Send + Sync {
    /// The header to add to this request, if any.
    fn ticket(
        &self,
        method: &str,
        path_and_query: &str,
        body: &[u8],
    ) -> BoxFuture<'_, Result<Option<(String, String)>, String>>;
}

/// No payment: for providers that take none.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoPayment;

impl Payment for NoPayment {
    fn ticket(&self, _: &str, _: &str, _: &[u8]) -> BoxFuture<'_, Result<Option<(String, String)>, String>> {
        Box::pin(async { Ok(None) })
    }
}

/// A verified key: what requests are sealed to.
#[derive(Clone)]
struct Attested {
    public_key: PublicKey,
    key_id: u8,
    verdict: Verdict,
}

/// A remote provider behind a [`crate::Gateway`], reached through a transport, trusted only as
/// far as its attestation verifies under the policy.
pub struct RemoteProvider {
    base: String,
    transport: Arc<dyn Transport>,
    policy: Policy,
    cache: Arc<Cache>,
    current: Mutex<Option<Attested>>,
}

impl RemoteProvider {
    /// A provider at `base` (an absolute `http`/`https` URL; a path prefix is kept), reached
    /// through `transport`, whose bundles are verified under `policy` with `cache`.
    ///
    /// # Errors
    /// [`Error::Config`] if `base` is not an absolute `http`/`https` URL without a query, or the
    /// policy is invalid.
    pub fn new(base: &str, transport: Arc<dyn Transport>, policy: Policy, cache: Arc<Cache>) -> Result<Self, Error> {
        let base = base_url(base).map_err(|why| Error::Config(format!("provider URL {base:?}: {why}")))?;
        policy.validate().map_err(|e| Error::Config(format!("attestation policy: {e}")))?;
        Ok(Self { base, transport, policy, cache, current: Mutex::new(None) })
    }

    /// The provider's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn current(&self) -> MutexGuard<'_, Option<Attested>> {
        // Only whole values are stored, so a poisoned lock still holds a consistent one.
        self.current.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Fetches the provider's bundle through the transport now, verifies it, and returns the key
    /// to seal to, its key id (always [`BUNDLE_KEY_ID`]: a bundle conveys none) and the verdict.
    /// The key is remembered for [`RemoteProvider::send`].
    ///
    /// # Errors
    /// [`Error::Attestation`] if the bundle is refused (including a dev bundle under a policy
    /// without `allow_dev`); [`Error::KeyNotAttested`] if it verified without binding its key;
    /// [`Error::ProviderStatus`] if the provider did not serve a bundle; transport errors.
    pub async fn attested_key(&self) -> Result<(PublicKey, u8, Verdict), Error> {
        let url = format!("{}{ATTESTATION_PATH}", self.base);
        let request = http::Request::get(url)
            .header(ACCEPT, "application/json")
            .body(Bytes::new())
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        let response = self.transport.send(request).await?;
        let status = response.status();
        if !status.is_success() {
            return Err(plain_error("the attestation request", status, response.into_body()).await);
        }
        let json = response.into_body().collect(MAX_BUNDLE_LEN).await?;
        let verdict = self.cache.verify(&json, SystemTime::now(), &self.policy).map_err(Error::Attestation)?.verdict;
        let bundle = Bundle::from_json(&json).map_err(Error::Attestation)?;
        let public_key = attested_public_key(&bundle, &verdict, &self.policy)?;
        let attested = Attested { public_key, key_id: BUNDLE_KEY_ID, verdict };
        *self.current() = Some(attested.clone());
        Ok((attested.public_key, attested.key_id, attested.verdict))
    }

    /// Forgets the remembered key, so the next [`RemoteProvider::send`] fetches and verifies the
    /// bundle again (e.g. after the provider refused a request as sealed to a stale key).
    pub fn forget_key(&self) {
        *self.current() = None;
    }

    /// The remembered key while its verdict is usable, else a freshly attested one.
    async fn key(&self) -> Result<Attested, Error> {
        let now = SystemTime::now();
        let remembered = self.current().as_ref().filter(|a| now < a.verdict.usable_until()).cloned();
        if let Some(attested) = remembered {
            return Ok(attested);
        }
        let (public_key, key_id, verdict) = self.attested_key().await?;
        Ok(Attested { public_key, key_id, verdict })
    }

    /// Seals `body` to the provider's attested key, pays with `payment` over the sealed bytes,
    /// POSTs it to `path_and_query` (e.g. `/v1/chat/completions`) through the transport, and
    /// returns the provider's status and opened answer.
    ///
    /// # Errors
    /// Attestation errors as in [`RemoteProvider::attested_key`] (then nothing was sent);
    /// [`Error::Payment`] if no ticket could be made (nothing was sent);
    /// [`Error::ProviderStatus`] for a plain error answer (e.g. the gateway's 400 for a request it
    /// could not open; the remembered key is then forgotten, so the next call fetches and
    /// verifies the bundle again); [`Error::UnsealedResponse`] for a plain success answer;
    /// [`Error::ResponseAuth`] and friends for a sealed answer that does not open; transport
    /// errors.
    pub async fn send(
        &self,
        path_and_query: &str,
        body: &[u8],
        payment: &dyn Payment,
    ) -> Result<RemoteResponse, Error> {
        if !path_and_query.starts_with('/') {
            return Err(Error::InvalidRequest(format!("the path {path_and_query:?} must start with '/'")));
        }
        let key = self.key().await?;
        if key.verdict.kind == Kind::Dev {
            tracing::warn!(
                provider = %self.base,
                "SENDING TO AN UNATTESTED DEV KEY: nothing proves this provider runs in a TEE; \
                 allowed only because the policy sets allow_dev = true"
            );
        }
        let (envelope, opener) = seal_request(&key.public_key, key.key_id, body)?;
        let ticket = payment.ticket("POST", path_and_query, &envelope).await.map_err(Error::Payment)?;
        let mut request = http::Request::post(format!("{}{path_and_query}", self.base))
            .header(CONTENT_TYPE, REQUEST_CONTENT_TYPE)
            .header(ACCEPT, format!("{RESPONSE_CONTENT_TYPE}, {STREAM_CONTENT_TYPE}"))
            .body(Bytes::from(envelope))
            .map_err(|e| Error::InvalidRequest(e.to_string()))?;
        if let Some((name, value)) = ticket {
            let name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                Error::Payment(format!("the ticket header name {name:?} is not a valid HTTP header name"))
            })?;
            let value = HeaderValue::from_str(&value)
                .map_err(|_| Error::Payment(format!("the {name} ticket is not a valid HTTP header value")))?;
            request.headers_mut().insert(name, value);
        }

        let response = self.transport.send(request).await?;
        let status = response.status();
        match media_type(response.headers()).as_str() {
            RESPONSE_CONTENT_TYPE => {
                let sealed = response.into_body().collect(MAX_RESPONSE_LEN).await?;
                Ok(RemoteResponse { status, body: RemoteBody::Whole(opener.open(&sealed)?) })
            }
            STREAM_CONTENT_TYPE => Ok(RemoteResponse {
                status,
                body: RemoteBody::Stream(OpenedStream {
                    body: response.into_body(),
                    opener: Some(opener.open_chunks()),
                    ready: VecDeque::new(),
                    failed: false,
                }),
            }),
            _ if !status.is_success() => {
                // The gateway answers in the clear only when it could not use the request (e.g.
                // it was sealed to a key it no longer holds): attest afresh next time.
                self.forget_key();
                Err(plain_error("the sealed request", status, response.into_body()).await)
            }
            other => Err(Error::UnsealedResponse { status: status.as_u16(), content_type: other.to_owned() }),
        }
    }
}

impl fmt::Debug for RemoteProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteProvider")
            .field("base", &self.base)
            .field("transport", &self.transport.name())
            .finish_non_exhaustive()
    }
}

/// The key a verified bundle lets requests be sealed to: a hardware verdict must bind exactly the
/// bundle's key and epoch with every measurement on the allowlist; a dev verdict is usable only
/// under a policy that allows dev bundles.
fn attested_public_key(bundle: &Bundle, verdict: &Verdict, policy: &Policy) -> Result<PublicKey, Error> {
    if verdict.kind != bundle.kind {
        return Err(Error::KeyNotAttested(format!("verdict is for {}, bundle is {}", verdict.kind, bundle.kind)));
    }
    if verdict.allowlist != sov_attest::AllowlistCheck::Passed {
        return Err(Error::KeyNotAttested("measurements were not checked against the allowlist".into()));
    }
    match (bundle.kind, verdict.key_binding) {
        (Kind::Dev, KeyBinding::Unattested) if policy.allow_dev => Ok(PublicKey::from_bytes(bundle.hpke_public_key)),
        (Kind::Dev, _) => Err(Error::Attestation(sov_attest::Error::DevRefused)),
        (_, KeyBinding::Bound { hpke_public_key, epoch })
            if hpke_public_key == bundle.hpke_public_key && epoch == bundle.epoch =>
        {
            Ok(PublicKey::from_bytes(hpke_public_key))
        }
        (_, KeyBinding::Bound { epoch, .. }) => Err(Error::KeyNotAttested(format!(
            "the evidence binds another key or epoch ({epoch}) than the bundle offers ({})",
            bundle.epoch
        ))),
        (_, KeyBinding::NotBound) => Err(Error::KeyNotAttested("the evidence binds no key".into())),
        (_, KeyBinding::Unattested) => Err(Error::KeyNotAttested("hardware evidence reported as unattested".into())),
    }
}

/// The error for a plain answer with a failure status: the status and the start of the body.
async fn plain_error(what: &'static str, status: http::StatusCode, mut body: ResponseBody) -> Error {
    let mut bytes = Vec::new();
    while bytes.len() < ERROR_BODY_READ {
        match body.next_chunk().await {
            Ok(Some(chunk)) => bytes.extend_from_slice(&chunk),
            Ok(None) | Err(_) => break,
        }
    }
    // An OpenAI-style error says why in its `message` and names the case in its `code`.
    let parsed: Option<serde_json::Value> = serde_json::from_slice(&bytes).ok();
    let error = parsed.as_ref().map(|v| &v["error"]);
    let code = error.and_then(|e| e["code"].as_str()).map(str::to_owned);
    let text = match error.and_then(|e| e["message"].as_str()) {
        Some(message) => message.into(),
        None => String::from_utf8_lossy(&bytes),
    };
    let mut shown: String = text.chars().take(ERROR_BODY_CHARS).collect();
    if text.chars().nth(ERROR_BODY_CHARS).is_some() {
        shown.push('…');
    }
    Error::ProviderStatus { what, status: status.as_u16(), body: shown.trim().to_owned(), code }
}

/// A provider's opened answer.
pub struct RemoteResponse {
    /// The provider's status (the upstream model server's, passed through in the clear).
    pub status: http::StatusCode,
    /// The opened body.
    pub body: RemoteBody,
}

impl RemoteResponse {
    /// Whether the body arrives as a stream.
    pub fn is_streamed(&self) -> bool {
        matches!(self.body, RemoteBody::Stream(_))
    }

    /// The whole plain body (a stream is read to its end and joined).
    ///
    /// # Errors
    /// As [`OpenedStream::next_chunk`].
    pub async fn into_bytes(self) -> Result<Vec<u8>, Error> {
        match self.body {
            RemoteBody::Whole(bytes) => Ok(bytes),
            RemoteBody::Stream(mut stream) => {
                let mut out = Vec::new();
                while let Some(chunk) = stream.next_chunk().await? {
                    out.extend_from_slice(&chunk);
                }
                Ok(out)
            }
        }
    }
}

impl fmt::Debug for RemoteResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteResponse").field("status", &self.status).field("body", &self.body).finish()
    }
}

/// The plain body of a provider's answer.
pub enum RemoteBody {
    /// A whole answer, opened.
    Whole(Vec<u8>),
    /// A streamed answer (an event stream), opened chunk by chunk as it arrives.
    Stream(OpenedStream),
}

impl fmt::Debug for RemoteBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RemoteBody::Whole(b) => write!(f, "Whole({} bytes, [redacted])", b.len()),
            RemoteBody::Stream(_) => f.write_str("Stream([redacted])"),
        }
    }
}

/// A streamed answer being opened: each call to [`OpenedStream::next_chunk`] returns the next
/// plain chunk as soon as its sealed frame is in.
pub struct OpenedStream {
    body: ResponseBody,
    /// `None` once the stream has been finished.
    opener: Option<StreamOpener>,
    ready: VecDeque<Vec<u8>>,
    failed: bool,
}

impl OpenedStream {
    /// The next plain chunk, or `None` after the final chunk (empty chunks are skipped).
    ///
    /// # Errors
    /// [`Error::StreamTruncated`] if the answer ended before its final chunk;
    /// [`Error::ChunkAuth`] and friends for a tampered stream; transport errors. After an error
    /// every call fails.
    pub async fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Error> {
        if self.failed {
            return Err(Error::StreamPoisoned);
        }
        let result = self.next_inner().await;
        if result.is_err() {
            self.failed = true;
            self.ready.clear();
        }
        result
    }

    async fn next_inner(&mut self) -> Result<Option<Vec<u8>>, Error> {
        loop {
            if let Some(chunk) = self.ready.pop_front() {
                return Ok(Some(chunk));
            }
            let Some(opener) = self.opener.as_mut() else {
                return Ok(None);
            };
            match self.body.next_chunk().await? {
                Some(bytes) => {
                    let chunks = opener.push(&bytes)?;
                    self.ready.extend(chunks.into_iter().filter(|c| !c.is_empty()));
                }
                None => {
                    if let Some(opener) = self.opener.take() {
                        opener.finish()?;
                    }
                }
            }
        }
    }

    /// The stream as a [`Stream`] of plain chunks, e.g. to relay it as server-sent events.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
        futures_util::stream::unfold(Some(self), |state| async move {
            let mut stream = state?;
            match stream.next_chunk().await {
                Ok(Some(chunk)) => Some((Ok(Bytes::from(chunk)), Some(stream))),
                Ok(None) => None,
                Err(e) => Some((Err(e), None)),
            }
        })
    }
}

impl fmt::Debug for OpenedStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("OpenedStream([redacted])")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use std::time::Duration;

    use super::*;
    use crate::gateway::{dev_bundle, epoch_expires_at};

    fn verdict(kind: Kind, key_binding: KeyBinding) -> Verdict {
        let now = SystemTime::now();
        Verdict {
            kind,
            tcb_status: "UpToDate".into(),
            advisory_ids: Vec::new(),
            measurements: Vec::new(),
            allowlist: sov_attest::AllowlistCheck::Passed,
            report_data: String::new(),
            key_binding,
            valid_until: now + Duration::from_secs(60),
            key_expires_at: None,
            verified_at: now,
        }
    }

    fn bundle(kind: Kind, key: [u8; 32], epoch: u64) -> Bundle {
        let mut b = dev_bundle(&PublicKey::from_bytes(key), epoch, epoch_expires_at(epoch));
        b.kind = kind;
        b
    }

    #[test]
    fn only_a_bound_key_or_an_allowed_dev_key_is_usable() {
        let strict = Policy::default();
        let dev = Policy { allow_dev: true, ..Policy::default() };
        let k = [7u8; 32];
        let tdx = bundle(Kind::Tdx, k, 3);
        let bound = verdict(Kind::Tdx, KeyBinding::Bound { hpke_public_key: k, epoch: 3 });
        assert_eq!(attested_public_key(&tdx, &bound, &strict).unwrap(), PublicKey::from_bytes(k));

        let other_key = verdict(Kind::Tdx, KeyBinding::Bound { hpke_public_key: [8u8; 32], epoch: 3 });
        let other_epoch = verdict(Kind::Tdx, KeyBinding::Bound { hpke_public_key: k, epoch: 4 });
        for v in [
            other_key,
            other_epoch,
            verdict(Kind::Tdx, KeyBinding::NotBound),
            verdict(Kind::Tdx, KeyBinding::Unattested),
        ] {
            let err = attested_public_key(&tdx, &v, &strict).unwrap_err();
            assert!(matches!(err, Error::KeyNotAttested(_)), "{err:?}");
        }
        let mut skipped = bound.clone();
        skipped.allowlist = sov_attest::AllowlistCheck::Skipped;
        assert!(matches!(attested_public_key(&tdx, &skipped, &strict), Err(Error::KeyNotAttested(_))));
        assert!(matches!(
            attested_public_key(&bundle(Kind::Snp, k, 3), &bound, &strict),
            Err(Error::KeyNotAttested(_))
        ));

        let devb = bundle(Kind::Dev, k, 3);
        let unattested = verdict(Kind::Dev, KeyBinding::Unattested);
        assert_eq!(attested_public_key(&devb, &unattested, &dev).unwrap(), PublicKey::from_bytes(k));
        let err = attested_public_key(&devb, &unattested, &strict).unwrap_err();
        assert!(err.to_string().contains("dev bundle refused"), "{err}");
    }

    #[tokio::test]
    async fn plain_errors_keep_at_most_300_characters() {
        let long = "é".repeat(1000);
        let err = plain_error("the sealed request", http::StatusCode::BAD_GATEWAY, ResponseBody::whole(long)).await;
        let Error::ProviderStatus { status, body, .. } = &err else { panic!("{err:?}") };
        assert_eq!(*status, 502);
        assert_eq!(body.chars().count(), ERROR_BODY_CHARS + 1);
        assert!(err.to_string().contains("HTTP status 502"), "{err}");
    }

    #[tokio::test]
    async fn an_openai_style_error_gives_its_message_and_code_and_any_other_body_its_start() {
        let long = "m".repeat(400);
        let json = serde_json::json!({"error": {"message": long, "type": "payment_required", "code": "unknown_root"}});
        let body = ResponseBody::whole(json.to_string());
        let err = plain_error("the sealed request", http::StatusCode::PAYMENT_REQUIRED, body).await;
        let Error::ProviderStatus { status, body, code, .. } = &err else { panic!("{err:?}") };
        assert_eq!((*status, code.as_deref()), (402, Some("unknown_root")));
        assert_eq!(body.chars().count(), ERROR_BODY_CHARS + 1);
        assert!(body.starts_with("mmm"), "{body}");

        for plain in ["Payment Required", "{\"error\": \"no\"}", ""] {
            let err =
                plain_error("the sealed request", http::StatusCode::PAYMENT_REQUIRED, ResponseBody::whole(plain)).await;
            let Error::ProviderStatus { body, code, .. } = &err else { panic!("{err:?}") };
            assert_eq!((body.as_str(), code.as_deref()), (plain, None));
        }
    }
}
