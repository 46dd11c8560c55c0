//! The nullifier stores: PostgreSQL against a real server the test starts itself (two
//! stores on one database stand for two replicas of a provider), and SQLite beside it.
//!
//! Needs PostgreSQL's server binaries (`apt-get install -y postgresql`); without them every test
//! here fails and says so.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Barrier, LazyLock};

use ark_ff::UniformRand as _;
use common::{Durability, PgServer};
use rln::prelude::{Hasher, PoseidonHash, Proof, SecretFr};
use sov_zkapi::tree::{id_commitment, rate_commitment};
use sov_zkapi::{
    Credential, Fr, Membership, NullifierStore, PostgresStore, Prover, Spend, Ticket, Verifier, ZkError, signal,
};

static PROVER: LazyLock<Prover> = LazyLock::new(Prover::new);

fn server() -> PgServer {
    PgServer::start(Durability::Off).unwrap_or_else(|e| panic!("cannot start the test's PostgreSQL: {e:#}"))
}

/// A ticket with the public values given and no valid proof: the store reads only the
/// nullifier and the share.
fn unproved(nullifier: Fr, x: Fr, y: Fr) -> Ticket {
    Ticket { proof: Proof::default(), root: Fr::from(0u32), nullifier, x, y }
}

fn store_error<T: std::fmt::Debug>(result: Result<T, ZkError>) -> String {
    match result {
        Err(ZkError::Store(message)) => message,
        other => panic!("expected a store error, got {other:?}"),
    }
}

#[test]
fn replicas_racing_to_spend_one_nullifier_let_exactly_one_through() {
    const NULLIFIERS: usize = 150;
    const THREADS_PER_REPLICA: usize = 4;
    let server = server();
    // The replicas start together too: both create the tables at once.
    let (tcp, socket) = (server.url(), server.socket_url());
    let starting = [
        std::thread::spawn(move || PostgresStore::connect(&tcp)),
        std::thread::spawn(move || PostgresStore::connect(&socket)),
    ];
    let replicas: Vec<Arc<PostgresStore>> = starting.map(|s| Arc::new(s.join().unwrap().unwrap())).into();

    // Each nullifier is one depositor's line `y = k + a·x`. Even ones are sent by every thread
    // for the same request (replays); odd ones for a request of each thread's own (double
    // spends, every one of which must give back exactly `k`).
    let mut rng = rand::thread_rng();
    let lines: Vec<(Fr, Fr, Fr)> =
        (0..NULLIFIERS).map(|_| (Fr::rand(&mut rng), Fr::rand(&mut rng), Fr::rand(&mut rng))).collect();
    let lines = Arc::new(lines);
    let threads = 2 * THREADS_PER_REPLICA;
    let barrier = Arc::new(Barrier::new(threads));
    let workers: Vec<_> = (0..threads)
        .map(|t| {
            let (store, lines, barrier) = (replicas[t % 2].clone(), lines.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, &(nullifier, k, a))| {
                        let x = if i % 2 == 0 { Fr::from(1000u32) } else { Fr::from(t as u32 + 1) };
                        store.spend(&unproved(nullifier, x, k + a * x)).unwrap()
                    })
                    .collect::<Vec<Spend>>()
            })
        })
        .collect();
    let outcomes: Vec<Vec<Spend>> = workers.into_iter().map(|w| w.join().unwrap()).collect();

    for (i, &(_, k, _)) in lines.iter().enumerate() {
        let mut seen: BTreeMap<&str, usize> = BTreeMap::new();
        for outcome in outcomes.iter().map(|of_thread| &of_thread[i]) {
            let kind = match outcome {
                Spend::New => "new",
                Spend::Replay => "replay",
                Spend::DoubleSpend { secret, commitment } => {
                    assert_eq!(
                        (*secret, *commitment),
                        (k, id_commitment(&SecretFr::from(&mut { k }))),
                        "nullifier {i}"
                    );
                    "double spend"
                }
            };
            *seen.entry(kind).or_default() += 1;
        }
        let others = if i % 2 == 0 { "replay" } else { "double spend" };
        assert_eq!(seen, BTreeMap::from([("new", 1), (others, threads - 1)]), "nullifier {i}");
    }
    for replica in &replicas {
        assert_eq!(replica.spent().unwrap(), NULLIFIERS as u64);
    }
}

#[test]
fn a_double_spend_at_another_replica_gives_away_exactly_the_secret_until_slashed() {
    let server = server();
    let (a, b) =
        (PostgresStore::connect(&server.url()).unwrap(), PostgresStore::connect(&server.socket_url()).unwrap());

    let mut rng = rand::thread_rng();
    let secret = SecretFr::rand(&mut rng);
    let limit = 3;
    let other = rate_commitment(id_commitment(&SecretFr::rand(&mut rng)), 5);
    let tree = Membership::new(&[other, rate_commitment(id_commitment(&secret), limit)]).unwrap();
    let e = Hasher::<PoseidonHash>::hash_single(Fr::from(7u32));
    let credential = Credential { secret: secret.clone(), limit };
    let pay = |index: u32, body: &str| {
        let x = signal("POST", "/v1/chat/completions", body.as_bytes());
        PROVER.prove(&credential, &tree.path(1).unwrap(), e, index, x).unwrap()
    };

    let first = pay(0, "first request");
    assert_eq!(a.spend(&first).unwrap(), Spend::New);
    assert_eq!(b.spend(&first).unwrap(), Spend::Replay, "a ticket spent at one replica is spent at all");
    // A modified client sends ticket 0 again, for another request, to the other replica.
    let cheat = pay(0, "second request");
    Verifier::new(e).check(&cheat, cheat.x, &[tree.root()]).unwrap();
    let commitment = id_commitment(&secret);
    assert_eq!(b.spend(&cheat).unwrap(), Spend::DoubleSpend { secret: *secret, commitment });
    assert_eq!(a.spend(&cheat).unwrap(), Spend::DoubleSpend { secret: *secret, commitment });

    b.record_double_spend(&commitment, &secret).unwrap();
    // The other replica found it too; the second record changes nothing.
    a.record_double_spend(&commitment, &secret).unwrap();
    assert_eq!(a.unslashed().unwrap(), vec![(commitment, *secret)]);
    a.mark_slashed(&commitment, "0xabc").unwrap();
    assert_eq!(b.unslashed().unwrap(), vec![]);

    // The honest ticket 1 is unaffected.
    assert_eq!(a.spend(&pay(1, "third request")).unwrap(), Spend::New);
    assert_eq!(b.spent().unwrap(), 2);
}

#[test]
fn a_server_that_goes_away_gives_errors_naming_it_and_the_store_recovers_when_it_returns() {
    let mut server = server();
    let store = PostgresStore::connect(&server.url()).unwrap();
    let ticket = |n: u32| unproved(Fr::from(n), Fr::from(1u32), Fr::from(2u32));
    // Use every pooled connection, so each is left idle on a server that then goes away.
    for n in 0..sov_zkapi::postgres::CONNECTIONS as u32 {
        assert_eq!(store.spend(&ticket(n)).unwrap(), Spend::New);
    }

    server.stop().unwrap();
    let address = format!("postgres@127.0.0.1:{}/postgres", server.port());
    for message in [
        store_error(store.spend(&ticket(100))),
        store_error(store.spent()),
        store_error(store.unslashed()),
        store_error(PostgresStore::connect(&server.url()).map(|_| ())),
    ] {
        assert!(message.contains(&format!("PostgreSQL at {address}")), "{message}");
        assert!(message.contains("check that the server is running"), "{message}");
    }

    // Back again: nothing is lost, and no call fails on a connection left from before.
    server.restart().unwrap();
    for n in 0..sov_zkapi::postgres::CONNECTIONS as u32 {
        assert_eq!(store.spend(&ticket(n)).unwrap(), Spend::Replay);
    }
    assert_eq!(store.spend(&ticket(100)).unwrap(), Spend::New);
}

#[test]
fn an_unusable_address_gives_an_error_that_says_what_to_fix() {
    let server = server();
    for (url, needle) in [
        ("postgresql://postgres:hunter2@127.0.0.1:notaport/postgres", "the PostgreSQL address is not valid"),
        ("not a url at all", "the PostgreSQL address is not valid"),
        ("postgresql://postgres:hunter2@192.0.2.1/postgres", "refusing PostgreSQL at postgres@192.0.2.1:5432"),
        (&format!("postgresql://postgres:hunter2@127.0.0.1:{}/no_such_database", server.port()), "no_such_database"),
    ] {
        let message = store_error(PostgresStore::connect(url).map(|_| ()));
        assert!(message.contains(needle), "{url}: {message}");
        assert!(!message.contains("hunter2"), "{url}: the password leaked into {message}");
    }
}

/// What both stores must do with served nullifiers on their way to the chain; `a` and `b` are
/// two handles on one store (two replicas, for PostgreSQL).
fn batches_hold_every_served_nullifier_once(a: &dyn NullifierStore, b: &dyn NullifierStore) {
    let ticket = |n: u32| unproved(Fr::from(n), Fr::from(1u32), Fr::from(n + 2));
    for n in (1..=5).rev() {
        assert_eq!(a.spend(&ticket(n)).unwrap(), Spend::New);
    }
    assert_eq!(b.spend(&ticket(3)).unwrap(), Spend::Replay, "a replay is not served, so not batched");
    let first = a.next_batch(3).unwrap().unwrap();
    // Sorted by value, not by arrival: a batch does not record the order calls came in.
    assert_eq!(first.nullifiers, [1u32, 2, 3].map(Fr::from));
    // Until its commit is recorded, the same batch comes back (it may have been sent before a
    // crash), also at another replica.
    assert_eq!(b.next_batch(3).unwrap().unwrap(), first);
    a.batch_committed(first.id, 0).unwrap();
    assert_eq!(b.spend(&ticket(9)).unwrap(), Spend::New);
    let second = b.next_batch(100).unwrap().unwrap();
    assert_eq!(second.nullifiers, [4u32, 5, 9].map(Fr::from));
    assert_ne!(second.id, first.id);
    b.batch_committed(second.id, 7).unwrap();
    assert_eq!(a.next_batch(100).unwrap(), None, "nothing waits");
    assert_eq!(a.committed_batches().unwrap(), vec![(0, first.nullifiers), (7, second.nullifiers)]);
}

#[test]
fn sqlite_batches_hold_every_served_nullifier_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("provider.db");
    let (a, b) = (sov_zkapi::SqliteStore::open(&path).unwrap(), sov_zkapi::SqliteStore::open(&path).unwrap());
    batches_hold_every_served_nullifier_once(&a, &b);
}

#[test]
fn postgres_batches_hold_every_served_nullifier_once_across_replicas() {
    let server = server();
    let (a, b) =
        (PostgresStore::connect(&server.url()).unwrap(), PostgresStore::connect(&server.socket_url()).unwrap());
    batches_hold_every_served_nullifier_once(&a, &b);
}
