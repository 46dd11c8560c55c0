//! The protocol with real proofs: honest calls, replays, double spends, the limit, and every way
//! a ticket can be forged or damaged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::LazyLock;

use rln::prelude::{Hasher, PoseidonHash, SecretFr};
use sov_zkapi::tree::{id_commitment, rate_commitment};
use sov_zkapi::{
    Credential, Fr, Membership, NullifierStore as _, Prover, Spend, SqliteStore, Ticket, Verifier, ZkError, signal,
};

static PROVER: LazyLock<Prover> = LazyLock::new(Prover::new);

struct Depositor {
    credential: Credential,
    leaf_index: usize,
}

/// Three deposits; the middle one is ours.
fn setup(limit: u32) -> (Depositor, Membership, Fr) {
    let mut rng = rand::thread_rng();
    let secret = SecretFr::rand(&mut rng);
    let others: Vec<Fr> = (0..2).map(|_| rate_commitment(id_commitment(&SecretFr::rand(&mut rng)), 5)).collect();
    let leaves = vec![others[0], rate_commitment(id_commitment(&secret), limit), others[1]];
    let tree = Membership::new(&leaves).unwrap();
    let external_nullifier = Hasher::<PoseidonHash>::hash_single(Fr::from(7u32));
    (Depositor { credential: Credential { secret, limit }, leaf_index: 1 }, tree, external_nullifier)
}

fn pay(d: &Depositor, tree: &Membership, e: Fr, index: u32, body: &str) -> Ticket {
    let x = signal("POST", "/v1/chat/completions", body.as_bytes());
    PROVER.prove(&d.credential, &tree.path(d.leaf_index).unwrap(), e, index, x).unwrap()
}

#[test]
fn honest_calls_verify_and_share_nothing_that_links_them() {
    let (d, tree, e) = setup(4);
    let verifier = Verifier::new(e);
    let store = SqliteStore::in_memory().unwrap();
    let roots = [tree.root()];

    let first = pay(&d, &tree, e, 0, r#"{"q":"one"}"#);
    // The second ticket is finished from a precomputed partial proof, as the client does.
    let prepared = PROVER.prepare(&d.credential, tree.path(d.leaf_index).unwrap(), tree.root()).unwrap();
    let x2 = signal("POST", "/v1/chat/completions", br#"{"q":"two"}"#);
    let second = PROVER.finish(&prepared, &d.credential, e, 1, x2).unwrap();

    for ticket in [&first, &second] {
        let decoded = Ticket::decode(&ticket.encode()).unwrap();
        assert_eq!(&decoded, ticket);
        verifier.check(&decoded, decoded.x, &roots).unwrap();
        assert_eq!(store.spend(&decoded).unwrap(), Spend::New);
    }
    // What the provider keeps of each call: the nullifier and the share. Nothing is common to
    // the two except the root, which every depositor shares.
    assert_ne!(first.nullifier, second.nullifier);
    assert_ne!(first.y, second.y);
    // Only the secret links them: once a withdrawal reveals it, the provider recomputes exactly
    // these nullifiers to claim the tickets it served.
    let secret = &d.credential.secret;
    assert_eq!([0, 1].map(|i| sov_zkapi::tree::nullifier(secret, e, i)), [first.nullifier, second.nullifier]);
    assert_ne!(first.proof, second.proof);
    let commitment = id_commitment(&d.credential.secret);
    for ticket in [&first, &second] {
        let wire = ticket.encode();
        assert!(!wire.contains(&sov_zkapi::field::to_hex(&commitment)[2..]));
        for value in [ticket.nullifier, ticket.y, ticket.x] {
            assert_ne!(value, commitment);
            assert_ne!(value, *d.credential.secret);
        }
    }
    assert_eq!(store.spent().unwrap(), 2);
}

#[test]
fn a_replay_is_refused_and_a_double_spend_gives_away_exactly_the_secret() {
    let (d, tree, e) = setup(3);
    let store = SqliteStore::in_memory().unwrap();
    let first = pay(&d, &tree, e, 0, "first request");
    assert_eq!(store.spend(&first).unwrap(), Spend::New);
    assert_eq!(store.spend(&first).unwrap(), Spend::Replay);

    // A modified client reuses ticket 0 for another request.
    let cheat = pay(&d, &tree, e, 0, "second request");
    Verifier::new(e).check(&cheat, cheat.x, &[tree.root()]).unwrap();
    assert_eq!(cheat.nullifier, first.nullifier, "one ticket index, one nullifier");
    match store.spend(&cheat).unwrap() {
        Spend::DoubleSpend { secret, commitment } => {
            assert_eq!(secret, *d.credential.secret);
            assert_eq!(commitment, id_commitment(&d.credential.secret));
            store.record_double_spend(&commitment, &secret).unwrap();
            assert_eq!(store.unslashed().unwrap(), vec![(commitment, secret)]);
            store.mark_slashed(&commitment, "0xabc").unwrap();
            assert!(store.unslashed().unwrap().is_empty());
        }
        other => panic!("expected a double spend, got {other:?}"),
    }
    // The honest ticket 1 is unaffected.
    assert_eq!(store.spend(&pay(&d, &tree, e, 1, "third request")).unwrap(), Spend::New);
}

#[test]
fn a_ticket_past_the_limit_is_refused_by_the_prover_and_a_forced_one_by_the_verifier() {
    let (d, tree, e) = setup(2);
    let x = signal("POST", "/", b"over");
    let path = tree.path(d.leaf_index).unwrap();
    match PROVER.prove(&d.credential, &path, e, 2, x) {
        Err(ZkError::LimitReached { limit: 2 }) => {}
        other => panic!("expected the limit, got {other:?}"),
    }
    // A patched client claims a larger limit: its leaf is then not the deposit's, so it proves
    // membership of a tree that never existed.
    let inflated = Credential { secret: d.credential.secret.clone(), limit: 1000 };
    let forced = PROVER.prove(&inflated, &path, e, 2, x).unwrap();
    assert_ne!(forced.root, tree.root());
    match Verifier::new(e).check(&forced, x, &[tree.root()]) {
        Err(ZkError::UnknownRoot) => {}
        other => panic!("expected an unknown root, got {other:?}"),
    }
    // Claiming the forged root as known does not help either: the verifier's window comes from
    // the contract, and the proof is still bound to its own root.
    let mut relabelled = forced.clone();
    relabelled.root = tree.root();
    assert!(matches!(Verifier::new(e).check(&relabelled, x, &[tree.root()]), Err(ZkError::InvalidProof)));
}

#[test]
fn forged_mutated_truncated_and_misdirected_tickets_are_refused_with_their_reason() {
    let (d, tree, e) = setup(3);
    let verifier = Verifier::new(e);
    let roots = [tree.root()];
    let ticket = pay(&d, &tree, e, 0, "the request");
    let x = ticket.x;
    let wire = ticket.encode();

    // Each public value changed.
    let one = Fr::from(1u32);
    for (what, mutate) in [
        ("y", Box::new(|t: &mut Ticket| t.y += one) as Box<dyn Fn(&mut Ticket)>),
        ("nullifier", Box::new(|t: &mut Ticket| t.nullifier += one)),
    ] {
        let mut bad = ticket.clone();
        mutate(&mut bad);
        assert!(matches!(verifier.check(&bad, x, &roots), Err(ZkError::InvalidProof)), "{what}");
    }
    // Another request's signal, or the ticket's x rewritten to match another request.
    let other_x = signal("POST", "/v1/chat/completions", b"another request");
    assert!(matches!(verifier.check(&ticket, other_x, &roots), Err(ZkError::WrongRequest)));
    let mut moved = ticket.clone();
    moved.x = other_x;
    assert!(matches!(verifier.check(&moved, other_x, &roots), Err(ZkError::InvalidProof)));
    // A root the contract never had, or one that left the window.
    let other_tree = Membership::new(&[Fr::from(99u32)]).unwrap();
    assert!(matches!(verifier.check(&ticket, x, &[other_tree.root()]), Err(ZkError::UnknownRoot)));
    // A ticket for another provider (another external nullifier).
    let elsewhere = Verifier::new(Hasher::<PoseidonHash>::hash_single(Fr::from(8u32)));
    assert!(matches!(elsewhere.check(&ticket, x, &roots), Err(ZkError::InvalidProof)));

    // Damage on the wire: each bit flip of the proof is refused as malformed or invalid; none
    // verifies.
    let bytes = base64_decode(&wire);
    for bit in [0usize, 7, 100, 513, 1000, 1023] {
        let mut flipped = bytes.clone();
        flipped[1 + bit / 8] ^= 1 << (bit % 8);
        match Ticket::decode(&base64_encode(&flipped)) {
            Err(ZkError::Malformed(_)) => {}
            Ok(t) => assert!(verifier.check(&t, x, &roots).is_err(), "bit {bit} of the proof verified"),
            Err(other) => panic!("bit {bit}: {other:?}"),
        }
    }
    for (case, text, needle) in [
        ("truncated", base64_encode(&bytes[..bytes.len() - 1]), "holds 256 bytes"),
        ("empty", String::new(), "empty"),
        ("not base64", "!!!".to_owned(), "not base64url"),
        ("version", base64_encode(&[&[9u8][..], &bytes[1..]].concat()), "version 9"),
        ("modulus", base64_encode(&[&bytes[..bytes.len() - 32], &[0xffu8; 32][..]].concat()), "not below"),
    ] {
        match Ticket::decode(&text) {
            Err(ZkError::Malformed(message)) => assert!(message.contains(needle), "{case}: {message}"),
            other => panic!("{case}: {other:?}"),
        }
    }
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text).unwrap()
}

fn base64_encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[test]
fn a_batch_with_forged_tickets_refuses_only_those() {
    let (d, tree, e) = setup(6);
    let verifier = Verifier::new(e);
    let mut tickets: Vec<Ticket> = (0..5).map(|i| pay(&d, &tree, e, i, &format!("request {i}"))).collect();
    let all: Vec<(&Ticket, Fr)> = tickets.iter().map(|t| (t, t.x)).collect();
    assert!(verifier.check_batch(&all, &[tree.root()]).iter().all(Result::is_ok));

    tickets[1].y += Fr::from(1u32);
    tickets[3].proof.a = tickets[4].proof.a;
    let stale = Membership::new(&[Fr::from(5u32)]).unwrap().root();
    tickets[4].root = stale;
    let mixed: Vec<(&Ticket, Fr)> = tickets.iter().map(|t| (t, t.x)).collect();
    let verdicts = verifier.check_batch(&mixed, &[tree.root(), stale]);
    let summary: Vec<&str> = verdicts
        .iter()
        .map(|v| match v {
            Ok(()) => "ok",
            Err(ZkError::InvalidProof) => "invalid",
            Err(_) => "other",
        })
        .collect();
    assert_eq!(summary, ["ok", "invalid", "ok", "invalid", "invalid"]);
}
