//! Sealed requests and whole responses: round trips, and every way a message can be wrong.

use sov_remote::channel::{ENC_LEN, HEADER_LEN, RESPONSE_NONCE_LEN, TAG_LEN};
use sov_remote::{Error, KeyPair, PublicKey, open_request, seal_request};

const BODY: &[u8] = b"{\"model\":\"qwen\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

#[test]
fn request_and_response_round_trip() {
    let kp = KeyPair::generate_with_id(5);
    let (envelope, opener) = seal_request(&kp.public_key(), 5, BODY).unwrap();
    let (body, sealer) = open_request(&kp, &envelope).unwrap();
    assert_eq!(body, BODY);
    let sealed = sealer.seal(b"the answer").unwrap();
    assert_eq!(sealed.len(), RESPONSE_NONCE_LEN + 10 + TAG_LEN);
    assert_eq!(opener.open(&sealed).unwrap(), b"the answer");
}

#[test]
fn empty_bodies_round_trip() {
    let kp = KeyPair::generate();
    let (envelope, opener) = seal_request(&kp.public_key(), 0, b"").unwrap();
    let (body, sealer) = open_request(&kp, &envelope).unwrap();
    assert!(body.is_empty());
    assert!(opener.open(&sealer.seal(b"").unwrap()).unwrap().is_empty());
}

#[test]
fn envelope_layout_and_nothing_identifies_the_client() {
    let kp = KeyPair::generate_with_id(9);
    let (a, _) = seal_request(&kp.public_key(), 9, BODY).unwrap();
    let (b, _) = seal_request(&kp.public_key(), 9, BODY).unwrap();
    assert_eq!(a.len(), HEADER_LEN + ENC_LEN + BODY.len() + TAG_LEN);
    // The header is the same for every request to this key: version, key id, suite ids.
    let header = [1, 9, 0x00, 0x20, 0x00, 0x01, 0x00, 0x03];
    assert_eq!(a[..HEADER_LEN], header);
    assert_eq!(b[..HEADER_LEN], header);
    // Everything after it is fresh per request (ephemeral key, hence ciphertext).
    let enc = HEADER_LEN..HEADER_LEN + ENC_LEN;
    assert_ne!(a[enc.clone()], b[enc.clone()]);
    assert_ne!(a[HEADER_LEN + ENC_LEN..], b[HEADER_LEN + ENC_LEN..]);
    // The ephemeral key is not the provider's key, and the plaintext does not show.
    assert_ne!(&a[enc], kp.public_key().as_bytes());
    assert!(!a.windows(5).any(|w| w == b"model"));
}

#[test]
fn every_flipped_bit_of_a_request_is_rejected() {
    let kp = KeyPair::generate_with_id(1);
    let (envelope, _) = seal_request(&kp.public_key(), 1, b"short body").unwrap();
    for byte in 0..envelope.len() {
        for bit in 0..8 {
            let mut tampered = envelope.clone();
            tampered[byte] ^= 1 << bit;
            let err = open_request(&kp, &tampered).unwrap_err();
            match byte {
                0 => assert!(matches!(err, Error::UnsupportedVersion(_)), "{err}"),
                1 => assert!(matches!(err, Error::WrongKeyId { expected: 1, .. }), "{err}"),
                2..HEADER_LEN => assert!(matches!(err, Error::UnsupportedSuite { .. }), "{err}"),
                _ => assert!(matches!(err, Error::RequestAuth), "byte {byte}: {err}"),
            }
        }
    }
}

#[test]
fn every_truncation_of_a_request_is_rejected() {
    let kp = KeyPair::generate();
    let (envelope, _) = seal_request(&kp.public_key(), 0, b"short body").unwrap();
    for len in 0..envelope.len() {
        let err = open_request(&kp, &envelope[..len]).unwrap_err();
        if len < HEADER_LEN + ENC_LEN + TAG_LEN {
            assert!(matches!(err, Error::Truncated { what: "request", .. }), "{err}");
        } else {
            assert!(matches!(err, Error::RequestAuth), "{err}");
        }
    }
    let mut longer = envelope.clone();
    longer.push(0);
    assert!(matches!(open_request(&kp, &longer), Err(Error::RequestAuth)));
}

#[test]
fn wrong_key_id_and_wrong_key_are_rejected() {
    let kp = KeyPair::generate_with_id(1);
    let (envelope, _) = seal_request(&kp.public_key(), 2, BODY).unwrap();
    let err = open_request(&kp, &envelope).unwrap_err();
    assert!(matches!(err, Error::WrongKeyId { got: 2, expected: 1 }), "{err}");
    assert!(err.to_string().contains("key id 2"), "{err}");

    let other = KeyPair::generate_with_id(1);
    let (envelope, _) = seal_request(&other.public_key(), 1, BODY).unwrap();
    let err = open_request(&kp, &envelope).unwrap_err();
    assert!(matches!(err, Error::RequestAuth), "{err}");
    assert!(err.to_string().contains("different public key"), "{err}");
}

#[test]
fn low_order_public_keys_are_refused() {
    for bytes in [[0u8; 32], {
        let mut one = [0u8; 32];
        one[0] = 1;
        one
    }] {
        let err = seal_request(&PublicKey::from_bytes(bytes), 0, BODY).unwrap_err();
        assert!(matches!(err, Error::InvalidPublicKey(_)), "{err}");
    }
}

#[test]
fn a_low_order_enc_is_rejected_by_the_provider() {
    let kp = KeyPair::generate();
    let (mut envelope, _) = seal_request(&kp.public_key(), 0, BODY).unwrap();
    envelope[HEADER_LEN..HEADER_LEN + ENC_LEN].fill(0);
    assert!(matches!(open_request(&kp, &envelope), Err(Error::RequestAuth)));
}

#[test]
fn every_flipped_bit_and_truncation_of_a_response_is_rejected() {
    let kp = KeyPair::generate();
    let (envelope, _) = seal_request(&kp.public_key(), 0, BODY).unwrap();
    let (_, sealer) = open_request(&kp, &envelope).unwrap();
    let sealed = sealer.seal(b"answer").unwrap();
    // Opening consumes the opener, so each attempt uses a fresh request and its response.
    let openers = || {
        let (envelope, opener) = seal_request(&kp.public_key(), 0, BODY).unwrap();
        let (_, sealer) = open_request(&kp, &envelope).unwrap();
        (opener, sealer.seal(b"answer").unwrap())
    };
    for byte in 0..sealed.len() {
        for bit in 0..8 {
            let (opener, mut tampered) = openers();
            tampered[byte] ^= 1 << bit;
            let err = opener.open(&tampered).unwrap_err();
            assert!(matches!(err, Error::ResponseAuth), "byte {byte}: {err}");
        }
    }
    for len in 0..sealed.len() {
        let (opener, good) = openers();
        let err = opener.open(&good[..len]).unwrap_err();
        if len < RESPONSE_NONCE_LEN + TAG_LEN {
            assert!(matches!(err, Error::Truncated { what: "response", .. }), "{err}");
        } else {
            assert!(matches!(err, Error::ResponseAuth), "{err}");
        }
    }
    let (opener, mut longer) = openers();
    longer.push(0);
    assert!(matches!(opener.open(&longer), Err(Error::ResponseAuth)));
}

#[test]
fn a_response_does_not_open_with_another_requests_opener() {
    let kp = KeyPair::generate();
    let (env_a, opener_a) = seal_request(&kp.public_key(), 0, BODY).unwrap();
    let (env_b, opener_b) = seal_request(&kp.public_key(), 0, BODY).unwrap();
    let (_, sealer_a) = open_request(&kp, &env_a).unwrap();
    let (_, sealer_b) = open_request(&kp, &env_b).unwrap();
    let response_a = sealer_a.seal(b"for a").unwrap();
    let response_b = sealer_b.seal(b"for b").unwrap();
    let err = opener_b.open(&response_a).unwrap_err();
    assert!(matches!(err, Error::ResponseAuth), "{err}");
    assert!(err.to_string().contains("another request"), "{err}");
    assert_eq!(opener_a.open(&response_b).unwrap_err().to_string(), err.to_string());
}

#[test]
fn a_replayed_request_gets_an_independent_response_key() {
    // Replays are stopped by the ZK-API nullifier; here we only check that the provider's
    // random response nonce gives each answer a fresh key even for an identical envelope.
    let kp = KeyPair::generate();
    let (envelope, opener) = seal_request(&kp.public_key(), 0, BODY).unwrap();
    let (_, s1) = open_request(&kp, &envelope).unwrap();
    let (_, s2) = open_request(&kp, &envelope).unwrap();
    let (r1, r2) = (s1.seal(b"same").unwrap(), s2.seal(b"same").unwrap());
    assert_ne!(r1, r2);
    assert_eq!(opener.open(&r2).unwrap(), b"same");
}

#[test]
fn debug_output_redacts_secrets() {
    let kp = KeyPair::generate();
    let (envelope, opener) = seal_request(&kp.public_key(), 0, BODY).unwrap();
    let (_, sealer) = open_request(&kp, &envelope).unwrap();
    assert_eq!(format!("{opener:?}"), "ResponseOpener([redacted])");
    assert_eq!(format!("{sealer:?}"), "ResponseSealer([redacted])");
    assert!(format!("{kp:?}").contains("[redacted]"));
}
