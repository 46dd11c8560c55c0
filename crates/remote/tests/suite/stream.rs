//! Streamed responses: chunks in any split, and truncated, reordered, duplicated, altered or
//! foreign chunks.

use sov_remote::channel::{FRAME_HEADER_LEN, MAX_CHUNK_LEN, RESPONSE_NONCE_LEN, TAG_LEN};
use sov_remote::{Error, KeyPair, ResponseOpener, ResponseSealer, open_request, seal_request};

fn pair() -> (ResponseOpener, ResponseSealer) {
    let kp = KeyPair::generate();
    let (envelope, opener) = seal_request(&kp.public_key(), 0, b"stream please").unwrap();
    let (_, sealer) = open_request(&kp, &envelope).unwrap();
    (opener, sealer)
}

const CHUNKS: [&[u8]; 4] = [b"The ", b"answer ", b"is ", b"42."];

/// Seals `CHUNKS` and returns (response nonce, frames).
fn sealed_frames(sealer: &mut ResponseSealer) -> (Vec<u8>, Vec<Vec<u8>>) {
    let mut frames = Vec::new();
    for (i, chunk) in CHUNKS.iter().enumerate() {
        frames.push(sealer.seal_chunk(chunk, i + 1 == CHUNKS.len()).unwrap());
    }
    let prefix = frames[0][..RESPONSE_NONCE_LEN].to_vec();
    frames[0].drain(..RESPONSE_NONCE_LEN);
    (prefix, frames)
}

fn joined(prefix: &[u8], frames: &[&Vec<u8>]) -> Vec<u8> {
    let mut out = prefix.to_vec();
    for f in frames {
        out.extend_from_slice(f);
    }
    out
}

#[test]
fn frames_have_the_documented_layout() {
    let (_, mut sealer) = pair();
    let first = sealer.seal_chunk(b"abc", false).unwrap();
    assert_eq!(first.len(), RESPONSE_NONCE_LEN + FRAME_HEADER_LEN + 3 + TAG_LEN);
    assert_eq!(first[RESPONSE_NONCE_LEN], 0, "flag: more follows");
    assert_eq!(first[RESPONSE_NONCE_LEN + 1..RESPONSE_NONCE_LEN + 5], 19u32.to_be_bytes());
    let last = sealer.seal_chunk(b"", true).unwrap();
    assert_eq!(last.len(), FRAME_HEADER_LEN + TAG_LEN);
    assert_eq!(last[0], 1, "flag: final");
}

#[test]
fn a_stream_opens_whatever_the_split() {
    for split in [1usize, 2, 3, 7, 32, 33, 1000] {
        let (opener, mut sealer) = pair();
        let (prefix, frames) = sealed_frames(&mut sealer);
        let wire = joined(&prefix, &frames.iter().collect::<Vec<_>>());
        let mut reader = opener.open_chunks();
        let mut got = Vec::new();
        for piece in wire.chunks(split) {
            got.extend(reader.push(piece).unwrap());
            assert_eq!(reader.push(&[]).unwrap(), Vec::<Vec<u8>>::new());
        }
        assert!(reader.is_finished());
        reader.finish().unwrap();
        assert_eq!(got, CHUNKS.iter().map(|c| c.to_vec()).collect::<Vec<_>>(), "split {split}");
    }
}

#[test]
fn chunks_are_delivered_as_soon_as_they_are_complete() {
    let (opener, mut sealer) = pair();
    let mut reader = opener.open_chunks();
    let first = sealer.seal_chunk(b"hel", false).unwrap();
    assert_eq!(reader.push(&first).unwrap(), vec![b"hel".to_vec()]);
    assert!(!reader.is_finished());
    let second = sealer.seal_chunk(b"lo", true).unwrap();
    assert_eq!(reader.push(&second).unwrap(), vec![b"lo".to_vec()]);
    reader.finish().unwrap();
}

#[test]
fn a_stream_cut_before_its_final_chunk_is_truncated() {
    // Cut at every byte boundary short of the end.
    let (_, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let full_len = joined(&prefix, &frames.iter().collect::<Vec<_>>()).len();
    for cut in 0..full_len {
        let (opener, mut sealer) = pair();
        let (prefix, frames) = sealed_frames(&mut sealer);
        let wire = joined(&prefix, &frames.iter().collect::<Vec<_>>());
        let mut reader = opener.open_chunks();
        let got = reader.push(&wire[..cut]).unwrap();
        assert!(got.len() < CHUNKS.len());
        let err = reader.finish().unwrap_err();
        assert!(matches!(err, Error::StreamTruncated { chunks } if chunks == got.len() as u64), "cut {cut}: {err}");
    }
}

#[test]
fn dropping_the_final_chunk_is_detected() {
    let (opener, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let mut reader = opener.open_chunks();
    let got = reader.push(&joined(&prefix, &frames[..3].iter().collect::<Vec<_>>())).unwrap();
    assert_eq!(got.len(), 3);
    let err = reader.finish().unwrap_err();
    assert!(matches!(err, Error::StreamTruncated { chunks: 3 }), "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
}

#[test]
fn reordered_chunks_are_rejected() {
    let (opener, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let mut reader = opener.open_chunks();
    let err = reader.push(&joined(&prefix, &[&frames[1], &frames[0], &frames[2], &frames[3]])).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 0 }), "{err}");
    assert!(err.to_string().contains("reordered"), "{err}");

    // A swap later in the stream: the first chunk is delivered, the swapped one is not.
    let (opener, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let mut reader = opener.open_chunks();
    assert_eq!(reader.push(&joined(&prefix, &[&frames[0]])).unwrap(), vec![b"The ".to_vec()]);
    let err = reader.push(&joined(&[], &[&frames[2], &frames[1]])).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 1 }), "{err}");
    // A broken stream stays broken.
    assert!(matches!(reader.push(&frames[3]), Err(Error::StreamPoisoned)));
    assert!(matches!(reader.finish(), Err(Error::StreamPoisoned)));
}

#[test]
fn duplicated_and_skipped_chunks_are_rejected() {
    let (opener, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let err = opener.open_chunks().push(&joined(&prefix, &[&frames[0], &frames[0]])).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 1 }), "{err}");

    let (opener, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let err = opener.open_chunks().push(&joined(&prefix, &[&frames[0], &frames[2]])).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 1 }), "{err}");
}

#[test]
fn every_flipped_bit_of_a_stream_is_rejected() {
    let (_, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let len = joined(&prefix, &frames.iter().collect::<Vec<_>>()).len();
    for byte in 0..len {
        for bit in 0..8 {
            let (opener, mut sealer) = pair();
            let (prefix, frames) = sealed_frames(&mut sealer);
            let mut wire = joined(&prefix, &frames.iter().collect::<Vec<_>>());
            wire[byte] ^= 1 << bit;
            let mut reader = opener.open_chunks();
            // A flipped length bit may make the reader wait for more bytes instead of failing
            // at once; then the end of the stream reports it.
            let outcome = reader.push(&wire).and_then(|_| reader.finish());
            assert!(outcome.is_err(), "byte {byte} bit {bit} was accepted");
        }
    }
}

#[test]
fn a_final_flag_cannot_be_forged() {
    let (opener, mut sealer) = pair();
    let (prefix, mut frames) = sealed_frames(&mut sealer);
    frames[1][0] = 1; // claim chunk 1 is the last, to cut the stream there
    let err = opener.open_chunks().push(&joined(&prefix, &[&frames[0], &frames[1]])).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 1 }), "{err}");
}

#[test]
fn bytes_after_the_final_chunk_are_rejected() {
    let (opener, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let mut wire = joined(&prefix, &frames.iter().collect::<Vec<_>>());
    wire.push(0);
    let err = opener.open_chunks().push(&wire).unwrap_err();
    assert!(matches!(err, Error::StreamTrailingData(1)), "{err}");

    let (opener, mut sealer) = pair();
    let (prefix, frames) = sealed_frames(&mut sealer);
    let mut reader = opener.open_chunks();
    reader.push(&joined(&prefix, &frames.iter().collect::<Vec<_>>())).unwrap();
    let err = reader.push(&frames[3]).unwrap_err();
    assert!(matches!(err, Error::StreamTrailingData(_)), "{err}");
}

#[test]
fn nothing_can_be_sealed_after_the_final_chunk() {
    let (_, mut sealer) = pair();
    sealer.seal_chunk(b"done", true).unwrap();
    assert!(matches!(sealer.seal_chunk(b"more", false), Err(Error::StreamFinished)));
    assert!(matches!(sealer.seal_chunk(b"", true), Err(Error::StreamFinished)));
}

#[test]
fn chunks_from_another_response_are_rejected() {
    let (opener_a, mut sealer_a) = pair();
    let (_, mut sealer_b) = pair();
    let (prefix_a, frames_a) = sealed_frames(&mut sealer_a);
    let (_, frames_b) = sealed_frames(&mut sealer_b);
    // Splice response b's second chunk into response a.
    let err = opener_a.open_chunks().push(&joined(&prefix_a, &[&frames_a[0], &frames_b[1]])).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 1 }), "{err}");

    // A whole stream opened with another request's opener.
    let (opener_c, _) = pair();
    let (_, mut sealer_d) = pair();
    let (prefix_d, frames_d) = sealed_frames(&mut sealer_d);
    let err = opener_c.open_chunks().push(&joined(&prefix_d, &frames_d.iter().collect::<Vec<_>>())).unwrap_err();
    assert!(matches!(err, Error::ChunkAuth { index: 0 }), "{err}");
}

#[test]
fn whole_and_streamed_formats_do_not_open_as_each_other() {
    let (opener, sealer) = pair();
    let whole = sealer.seal(b"whole answer").unwrap();
    let mut reader = opener.open_chunks();
    let outcome = reader.push(&whole).and_then(|_| reader.finish());
    assert!(outcome.is_err());

    let (opener, mut sealer) = pair();
    let streamed = sealer.seal_chunk(b"whole answer", true).unwrap();
    assert!(matches!(opener.open(&streamed), Err(Error::ResponseAuth)));
}

#[test]
fn oversized_chunks_are_refused_both_ways() {
    let (_, mut sealer) = pair();
    let big = vec![0u8; MAX_CHUNK_LEN + 1];
    assert!(matches!(sealer.seal_chunk(&big, false), Err(Error::ChunkTooLarge { .. })));

    let (opener, mut sealer) = pair();
    let mut first = sealer.seal_chunk(b"x", false).unwrap();
    let len_at = RESPONSE_NONCE_LEN + 1;
    first[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
    let err = opener.open_chunks().push(&first).unwrap_err();
    assert!(matches!(err, Error::ChunkTooLarge { .. }), "{err}");
}
