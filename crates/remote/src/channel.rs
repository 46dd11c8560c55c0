//! The sealed request/response channel: OHTTP's shape (RFC 9458) over HPKE (RFC 9180).
//!
//! # Request envelope
//! ```text
//! header (8 bytes)            enc (32)    ciphertext (body + 16-byte tag)
//! version key_id kem kdf aead
//! 0x01    u8     0x0020 0x0001 0x0003
//! ```
//! The body is sealed with HPKE mode Base to the provider's X25519 key, with a fresh ephemeral key
//! per request, suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / ChaCha20-Poly1305, and
//! `info = "sovereign request" || 0x00 || header`, so any change to the header fails to open.
//! Nothing in the envelope identifies the client: no client key, no counter, no session id; the
//! header is the same for every client of a provider key.
//!
//! # Response
//! As in OHTTP §4.4: `secret = Export("sovereign response", 32)` from the request's HPKE context;
//! the provider draws a random 32-byte `response_nonce`;
//! `prk = HKDF-Extract(salt = enc || response_nonce, secret)`, and the AEAD key and nonce are
//! `HKDF-Expand(prk, "key", 32)` and `HKDF-Expand(prk, "nonce", 12)`. The sealed response is
//! `response_nonce || ChaCha20-Poly1305(body)`. Only the holder of the request's opener can open
//! it, and a response to one request does not open with another request's opener.
//!
//! # Streamed response
//! `response_nonce` then frames `flag (1) || length (4, big-endian) || ciphertext`, where `flag` is
//! 0 for a chunk that more chunks follow and 1 for the final chunk. Keys come from the same `prk`
//! with labels `"stream key"` and `"stream nonce"` (so a stream and a whole response never share a
//! key and nonce); chunk `i` uses `nonce XOR i` (as a 96-bit big-endian integer) and authenticates
//! its flag as associated data. Reordered, dropped, duplicated or altered chunks fail
//! authentication; a stream cut before its final chunk is reported by [`StreamOpener::finish`].
//!
//! # Not covered here
//! Replay of a request to the provider is stopped by the ZK-API nullifier, not by this layer.
//! Message lengths are not hidden; pad bodies before sealing if that matters.

use chacha20poly1305::aead::{Aead as _, KeyInit as _, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use hpke::{Deserializable as _, OpModeR, OpModeS, Serializable as _};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::{Error, KeyPair, PublicKey};

pub(crate) type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type HpkeAead = hpke::aead::ChaCha20Poly1305;

/// HTTP content type of a sealed request envelope.
pub const REQUEST_CONTENT_TYPE: &str = "message/sovereign-request";
/// HTTP content type of a whole sealed response ([`ResponseSealer::seal`]).
pub const RESPONSE_CONTENT_TYPE: &str = "message/sovereign-response";
/// HTTP content type of a streamed sealed response ([`ResponseSealer::seal_chunk`]).
pub const STREAM_CONTENT_TYPE: &str = "message/sovereign-response-stream";

/// Envelope format version.
pub const VERSION: u8 = 1;
/// HPKE KEM id of DHKEM(X25519, HKDF-SHA256).
pub const KEM_ID: u16 = 0x0020;
/// HPKE KDF id of HKDF-SHA256.
pub const KDF_ID: u16 = 0x0001;
/// HPKE AEAD id of ChaCha20-Poly1305.
pub const AEAD_ID: u16 = 0x0003;
/// Length of the request header.
pub const HEADER_LEN: usize = 8;
/// Length of the encapsulated (ephemeral public) key.
pub const ENC_LEN: usize = 32;
/// Length of an AEAD tag.
pub const TAG_LEN: usize = 16;
/// Length of the response nonce that starts a sealed response or stream.
pub const RESPONSE_NONCE_LEN: usize = 32;
/// Length of a stream frame's header (flag and length).
pub const FRAME_HEADER_LEN: usize = 5;
/// Largest plaintext one stream chunk may carry (16 MiB).
pub const MAX_CHUNK_LEN: usize = 16 << 20;

const REQUEST_LABEL: &[u8] = b"sovereign request";
const RESPONSE_LABEL: &[u8] = b"sovereign response";
const SECRET_LEN: usize = 32;
const AEAD_KEY_LEN: usize = 32;
const AEAD_NONCE_LEN: usize = 12;
const FLAG_MORE: u8 = 0;
const FLAG_LAST: u8 = 1;

fn header(key_id: u8) -> [u8; HEADER_LEN] {
    let [k0, k1] = KEM_ID.to_be_bytes();
    let [d0, d1] = KDF_ID.to_be_bytes();
    let [a0, a1] = AEAD_ID.to_be_bytes();
    [VERSION, key_id, k0, k1, d0, d1, a0, a1]
}

fn info(header: &[u8; HEADER_LEN]) -> Vec<u8> {
    let mut info = Vec::with_capacity(REQUEST_LABEL.len() + 1 + HEADER_LEN);
    info.extend_from_slice(REQUEST_LABEL);
    info.push(0);
    info.extend_from_slice(header);
    info
}

/// Seals `body` to the provider's public key `pk`, labelled with the provider's `key_id`.
///
/// Returns the envelope to send and the opener for the response to this request (keep it; it
/// holds the only key that opens the response, and is wiped when dropped).
///
/// # Errors
/// [`Error::InvalidPublicKey`] if `pk` is a low-order point (encapsulation would give an all-zero
/// secret). [`Error::Seal`] if the body is beyond what the AEAD can seal.
///
/// # Panics
/// Only if the operating system cannot provide random bytes.
pub fn seal_request(pk: &PublicKey, key_id: u8, body: &[u8]) -> Result<(Vec<u8>, ResponseOpener), Error> {
    let header = header(key_id);
    let info = info(&header);
    let (enc, mut ctx) = hpke::setup_sender::<HpkeAead, Kdf, Kem>(&OpModeS::Base, &pk.to_hpke()?, &info)
        .map_err(|_| Error::InvalidPublicKey("encapsulation failed: the key is a low-order point".into()))?;
    let ciphertext = ctx.seal(body, &[]).map_err(|_| Error::Seal("the request body is too long"))?;
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    ctx.export(RESPONSE_LABEL, secret.as_mut_slice()).map_err(|_| Error::Seal("secret export failed"))?;

    let mut enc_bytes = [0u8; ENC_LEN];
    enc_bytes.copy_from_slice(&enc.to_bytes());
    let mut envelope = Vec::with_capacity(HEADER_LEN + ENC_LEN + ciphertext.len());
    envelope.extend_from_slice(&header);
    envelope.extend_from_slice(&enc_bytes);
    envelope.extend_from_slice(&ciphertext);
    Ok((envelope, ResponseOpener { keys: ResponseKeys { secret, enc: enc_bytes } }))
}

/// Opens a request envelope with the provider's key pair.
///
/// Returns the body and the sealer for the response to this request.
///
/// # Errors
/// [`Error::Truncated`], [`Error::UnsupportedVersion`], [`Error::UnsupportedSuite`],
/// [`Error::WrongKeyId`] for a malformed or misaddressed envelope; [`Error::RequestAuth`] if it
/// was tampered with or sealed to another key; [`Error::Random`] if no response nonce can be drawn.
pub fn open_request(key_pair: &KeyPair, envelope: &[u8]) -> Result<(Vec<u8>, ResponseSealer), Error> {
    const MIN: usize = HEADER_LEN + ENC_LEN + TAG_LEN;
    let truncated = || Error::Truncated { what: "request", len: envelope.len(), min: MIN };
    let version = *envelope.first().ok_or_else(truncated)?;
    if version != VERSION {
        return Err(Error::UnsupportedVersion(version));
    }
    if envelope.len() < MIN {
        return Err(truncated());
    }
    let (head, rest) = envelope.split_at(HEADER_LEN);
    let (enc_bytes, ciphertext) = rest.split_at(ENC_LEN);
    let id = |i: usize| u16::from_be_bytes([head[i], head[i + 1]]);
    let (kem, kdf, aead) = (id(2), id(4), id(6));
    if (kem, kdf, aead) != (KEM_ID, KDF_ID, AEAD_ID) {
        return Err(Error::UnsupportedSuite { kem, kdf, aead });
    }
    if head[1] != key_pair.key_id() {
        return Err(Error::WrongKeyId { got: head[1], expected: key_pair.key_id() });
    }
    let header = header(head[1]);
    let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(enc_bytes).map_err(|_| Error::RequestAuth)?;
    let mut ctx = hpke::setup_receiver::<HpkeAead, Kdf, Kem>(&OpModeR::Base, key_pair.secret(), &enc, &info(&header))
        .map_err(|_| Error::RequestAuth)?;
    let body = ctx.open(ciphertext, &[]).map_err(|_| Error::RequestAuth)?;
    let mut secret = Zeroizing::new([0u8; SECRET_LEN]);
    ctx.export(RESPONSE_LABEL, secret.as_mut_slice()).map_err(|_| Error::Seal("secret export failed"))?;
    let mut response_nonce = [0u8; RESPONSE_NONCE_LEN];
    crate::random(&mut response_nonce)?;
    let mut enc = [0u8; ENC_LEN];
    enc.copy_from_slice(enc_bytes);
    Ok((body, ResponseSealer { keys: ResponseKeys { secret, enc }, response_nonce, stream: None }))
}

/// Key material shared by a request's sealer and opener: the exported secret and `enc`.
struct ResponseKeys {
    secret: Zeroizing<[u8; SECRET_LEN]>,
    enc: [u8; ENC_LEN],
}

/// Which response format a key is for.
#[derive(Clone, Copy)]
enum Format {
    Whole,
    Stream,
}

impl ResponseKeys {
    /// OHTTP's response key schedule, with labels per format.
    fn derive(&self, response_nonce: &[u8], format: Format) -> Result<(ChaCha20Poly1305, [u8; AEAD_NONCE_LEN]), Error> {
        let (key_label, nonce_label): (&[u8], &[u8]) = match format {
            Format::Whole => (b"key", b"nonce"),
            Format::Stream => (b"stream key", b"stream nonce"),
        };
        let mut salt = [0u8; ENC_LEN + RESPONSE_NONCE_LEN];
        salt[..ENC_LEN].copy_from_slice(&self.enc);
        salt[ENC_LEN..].copy_from_slice(response_nonce);
        let hkdf = hkdf::Hkdf::<Sha256>::new(Some(&salt), self.secret.as_slice());
        let mut key = Zeroizing::new([0u8; AEAD_KEY_LEN]);
        let mut nonce = [0u8; AEAD_NONCE_LEN];
        hkdf.expand(key_label, key.as_mut_slice())
            .and_then(|()| hkdf.expand(nonce_label, &mut nonce))
            .map_err(|_| Error::Seal("key derivation failed"))?;
        let cipher =
            ChaCha20Poly1305::new_from_slice(key.as_slice()).map_err(|_| Error::Seal("key derivation failed"))?;
        Ok((cipher, nonce))
    }
}

/// `base XOR counter`, the counter as a 96-bit big-endian integer (as in HPKE and TLS 1.3).
fn chunk_nonce(base: &[u8; AEAD_NONCE_LEN], counter: u64) -> Nonce {
    let mut nonce = *base;
    for (n, c) in nonce[AEAD_NONCE_LEN - 8..].iter_mut().zip(counter.to_be_bytes()) {
        *n ^= c;
    }
    Nonce::from(nonce)
}

/// The provider's side of one request's response. Seal either one whole response with
/// [`ResponseSealer::seal`] or a stream with [`ResponseSealer::seal_chunk`].
pub struct ResponseSealer {
    keys: ResponseKeys,
    response_nonce: [u8; RESPONSE_NONCE_LEN],
    stream: Option<StreamSealState>,
}

struct StreamSealState {
    cipher: ChaCha20Poly1305,
    base_nonce: [u8; AEAD_NONCE_LEN],
    counter: u64,
    finished: bool,
}

impl ResponseSealer {
    /// Seals a whole response: `response_nonce || ciphertext`.
    ///
    /// # Errors
    /// [`Error::Seal`] only if the body is beyond what the AEAD can seal (about 256 GiB).
    pub fn seal(self, body: &[u8]) -> Result<Vec<u8>, Error> {
        let (cipher, nonce) = self.keys.derive(&self.response_nonce, Format::Whole)?;
        let ciphertext =
            cipher.encrypt(&Nonce::from(nonce), body).map_err(|_| Error::Seal("the response body is too long"))?;
        let mut out = Vec::with_capacity(RESPONSE_NONCE_LEN + ciphertext.len());
        out.extend_from_slice(&self.response_nonce);
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }

    /// Seals the next chunk of a streamed response and returns the bytes to send (for the first
    /// chunk, preceded by the response nonce). Mark the last chunk with `last = true`; it may be
    /// empty. Nothing can be sealed after it.
    ///
    /// # Errors
    /// [`Error::StreamFinished`] after the last chunk; [`Error::ChunkTooLarge`] if `data` is over
    /// [`MAX_CHUNK_LEN`].
    pub fn seal_chunk(&mut self, data: &[u8], last: bool) -> Result<Vec<u8>, Error> {
        if data.len() > MAX_CHUNK_LEN {
            return Err(Error::ChunkTooLarge { len: data.len(), max: MAX_CHUNK_LEN });
        }
        let mut out = Vec::with_capacity(RESPONSE_NONCE_LEN + FRAME_HEADER_LEN + data.len() + TAG_LEN);
        let state = match &mut self.stream {
            Some(state) => state,
            None => {
                let (cipher, base_nonce) = self.keys.derive(&self.response_nonce, Format::Stream)?;
                out.extend_from_slice(&self.response_nonce);
                self.stream.insert(StreamSealState { cipher, base_nonce, counter: 0, finished: false })
            }
        };
        if state.finished {
            return Err(Error::StreamFinished);
        }
        let flag = if last { FLAG_LAST } else { FLAG_MORE };
        let ciphertext = state
            .cipher
            .encrypt(&chunk_nonce(&state.base_nonce, state.counter), Payload { msg: data, aad: &[flag] })
            .map_err(|_| Error::Seal("the chunk is too long"))?;
        state.counter = state.counter.checked_add(1).ok_or(Error::Seal("stream chunk counter exhausted"))?;
        state.finished = last;
        let len = u32::try_from(ciphertext.len()).map_err(|_| Error::Seal("the chunk is too long"))?;
        out.push(flag);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&ciphertext);
        Ok(out)
    }
}

impl std::fmt::Debug for ResponseSealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseSealer([redacted])")
    }
}

/// The client's side of one request's response: opens a whole response with
/// [`ResponseOpener::open`] or a stream with [`ResponseOpener::open_chunks`].
pub struct ResponseOpener {
    keys: ResponseKeys,
}

impl ResponseOpener {
    /// Opens a whole sealed response.
    ///
    /// # Errors
    /// [`Error::Truncated`] if shorter than a response nonce and a tag; [`Error::ResponseAuth`] if
    /// tampered with, cut, or sealed for another request.
    pub fn open(self, sealed: &[u8]) -> Result<Vec<u8>, Error> {
        const MIN: usize = RESPONSE_NONCE_LEN + TAG_LEN;
        if sealed.len() < MIN {
            return Err(Error::Truncated { what: "response", len: sealed.len(), min: MIN });
        }
        let (response_nonce, ciphertext) = sealed.split_at(RESPONSE_NONCE_LEN);
        let (cipher, nonce) = self.keys.derive(response_nonce, Format::Whole)?;
        cipher.decrypt(&Nonce::from(nonce), ciphertext).map_err(|_| Error::ResponseAuth)
    }

    /// Starts reading a streamed response incrementally.
    pub fn open_chunks(self) -> StreamOpener {
        StreamOpener { keys: self.keys, cipher: None, buf: Vec::new(), counter: 0, finished: false, poisoned: false }
    }
}

impl std::fmt::Debug for ResponseOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ResponseOpener([redacted])")
    }
}

/// Incremental reader of a streamed response: feed it bytes as they arrive, in any split, with
/// [`StreamOpener::push`]; call [`StreamOpener::finish`] at the end of the stream to learn whether
/// it was complete. After any error the reader refuses further input.
pub struct StreamOpener {
    keys: ResponseKeys,
    cipher: Option<(ChaCha20Poly1305, [u8; AEAD_NONCE_LEN])>,
    buf: Vec<u8>,
    counter: u64,
    finished: bool,
    poisoned: bool,
}

impl StreamOpener {
    /// Adds received bytes; returns the plaintext of every chunk they completed, in order.
    ///
    /// # Errors
    /// [`Error::ChunkAuth`] for a tampered, reordered, duplicated or foreign chunk;
    /// [`Error::ChunkTooLarge`] for an oversized length; [`Error::StreamTrailingData`] for bytes
    /// after the final chunk; [`Error::StreamPoisoned`] after an earlier error.
    pub fn push(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        if self.poisoned {
            return Err(Error::StreamPoisoned);
        }
        let result = self.push_inner(bytes);
        if result.is_err() {
            self.poisoned = true;
            self.buf.clear();
        }
        result
    }

    fn push_inner(&mut self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, Error> {
        if self.finished {
            if bytes.is_empty() {
                return Ok(Vec::new());
            }
            return Err(Error::StreamTrailingData(bytes.len()));
        }
        self.buf.extend_from_slice(bytes);
        let mut pos = 0;
        if self.cipher.is_none() {
            if self.buf.len() < RESPONSE_NONCE_LEN {
                return Ok(Vec::new());
            }
            self.cipher = Some(self.keys.derive(&self.buf[..RESPONSE_NONCE_LEN], Format::Stream)?);
            pos = RESPONSE_NONCE_LEN;
        }
        let mut chunks = Vec::new();
        while let Some((cipher, base_nonce)) = &self.cipher {
            let Some(frame) = self.buf.get(pos..pos + FRAME_HEADER_LEN) else {
                break;
            };
            let flag = frame[0];
            let len = u32::from_be_bytes([frame[1], frame[2], frame[3], frame[4]]) as usize;
            if len > MAX_CHUNK_LEN + TAG_LEN {
                return Err(Error::ChunkTooLarge { len, max: MAX_CHUNK_LEN + TAG_LEN });
            }
            let index = self.counter;
            if (flag != FLAG_MORE && flag != FLAG_LAST) || len < TAG_LEN {
                return Err(Error::ChunkAuth { index });
            }
            let start = pos + FRAME_HEADER_LEN;
            let Some(ciphertext) = self.buf.get(start..start + len) else {
                break;
            };
            let plaintext = cipher
                .decrypt(&chunk_nonce(base_nonce, index), Payload { msg: ciphertext, aad: &[flag] })
                .map_err(|_| Error::ChunkAuth { index })?;
            chunks.push(plaintext);
            pos = start + len;
            self.counter += 1;
            if flag == FLAG_LAST {
                self.finished = true;
                let trailing = self.buf.len() - pos;
                if trailing > 0 {
                    return Err(Error::StreamTrailingData(trailing));
                }
                break;
            }
        }
        self.buf.drain(..pos);
        Ok(chunks)
    }

    /// True once the final chunk has been authenticated.
    pub fn is_finished(&self) -> bool {
        self.finished && !self.poisoned
    }

    /// Ends the stream: `Ok` only if the final chunk was received and nothing followed it.
    ///
    /// # Errors
    /// [`Error::StreamTruncated`] if the stream ended early; [`Error::StreamPoisoned`] after an
    /// earlier error.
    pub fn finish(self) -> Result<(), Error> {
        if self.poisoned {
            Err(Error::StreamPoisoned)
        } else if !self.finished {
            Err(Error::StreamTruncated { chunks: self.counter })
        } else {
            Ok(())
        }
    }
}

impl std::fmt::Debug for StreamOpener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamOpener")
            .field("chunks", &self.counter)
            .field("finished", &self.finished)
            .field("poisoned", &self.poisoned)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn header_layout_matches_ohttp_ids() {
        assert_eq!(header(9), [1, 9, 0x00, 0x20, 0x00, 0x01, 0x00, 0x03]);
        let info = info(&header(9));
        assert!(info.starts_with(b"sovereign request\0"));
        assert!(info.ends_with(&header(9)));
    }

    #[test]
    fn chunk_nonce_xors_big_endian_counter_into_the_tail() {
        let base = [0xffu8; 12];
        assert_eq!(chunk_nonce(&base, 0).as_slice(), &base);
        let n = chunk_nonce(&base, 0x0102);
        assert_eq!(n[..10], [0xff; 10]);
        assert_eq!(n[10..], [0xff ^ 0x01, 0xff ^ 0x02]);
        let n = chunk_nonce(&[0u8; 12], u64::MAX);
        assert_eq!(n[..4], [0; 4]);
        assert_eq!(n[4..], [0xff; 8]);
    }

    #[test]
    fn whole_and_stream_keys_differ() {
        let keys = ResponseKeys { secret: Zeroizing::new([7u8; SECRET_LEN]), enc: [1u8; ENC_LEN] };
        let rn = [2u8; RESPONSE_NONCE_LEN];
        let (_, n1) = keys.derive(&rn, Format::Whole).unwrap();
        let (_, n2) = keys.derive(&rn, Format::Stream).unwrap();
        assert_ne!(n1, n2);
    }
}
