//! Ticket benchmark: proof latency (zerokit's one-step proof, the reference, beside Sovereign's
//! finish-from-precomputed path), verification latency and throughput, and bytes per call.
//!
//! `cargo run --release -p sov-zkapi --example bench -- [--proofs N] [--verifications N]`;
//! `bench/zkapi.sh` runs it pinned to one core for the per-core figures.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::{Duration, Instant};

use rln::prelude::{Hasher, PoseidonHash, RLNBuilder, RLNProofValues, SecretFr};
use sov_zkapi::tree::{id_commitment, rate_commitment};
use sov_zkapi::{Credential, Fr, Membership, Prover, Ticket, Verifier, signal};

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let at = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[at.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn report(name: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let p50 = percentile(&samples, 0.5);
    println!(
        "{name:<44} p50 {:>8.2} ms   p99 {:>8.2} ms   ({} runs)",
        ms(p50),
        ms(percentile(&samples, 0.99)),
        samples.len()
    );
    p50
}

fn main() {
    let proofs = arg("--proofs", 10);
    let verifications = arg("--verifications", 300);
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    println!("RLN tickets (rln 3.0.0, Groth16/BN254, tree depth 20); rayon threads: {threads}");

    let started = Instant::now();
    let prover = Prover::new();
    println!("{:<44} {:>8.2} ms", "load circuit and proving key", ms(started.elapsed()));

    let mut rng = rand::thread_rng();
    let secret = SecretFr::rand(&mut rng);
    let limit = 65_535u32;
    let leaves: Vec<Fr> = (0..1000u32)
        .map(|i| if i == 500 { rate_commitment(id_commitment(&secret), limit) } else { Fr::from(i + 1) })
        .collect();
    let tree = Membership::new(&leaves).unwrap();
    let path = tree.path(500).unwrap();
    let credential = Credential { secret, limit };
    let e = Hasher::<PoseidonHash>::hash_single(Fr::from(1u32));
    let mut index = 0u32;
    let mut next_x = || {
        index += 1;
        (index, signal("POST", "/v1/chat/completions", format!("{{\"n\":{index}}}").as_bytes()))
    };

    // Warm up the allocator and rayon's pool.
    let (i, x) = next_x();
    prover.prove(&credential, &path, e, i, x).unwrap();

    let mut full = Vec::new();
    for _ in 0..proofs {
        let (i, x) = next_x();
        let t = Instant::now();
        prover.prove(&credential, &path, e, i, x).unwrap();
        full.push(t.elapsed());
    }
    let full_p50 = report("proof, one step (zerokit's path, reference)", full);

    let t = Instant::now();
    let prepared = prover.prepare(&credential, path.clone(), tree.root()).unwrap();
    println!(
        "{:<44} {:>8.2} ms   (once per tree root, off the call path)",
        "precompute partial proof",
        ms(t.elapsed())
    );
    let mut finished = Vec::new();
    let mut tickets: Vec<Ticket> = Vec::new();
    for _ in 0..proofs {
        let (i, x) = next_x();
        let t = Instant::now();
        tickets.push(prover.finish(&prepared, &credential, e, i, x).unwrap());
        finished.push(t.elapsed());
    }
    let finish_p50 = report("proof, finished from precompute (Sovereign)", finished);
    println!("{:<44} {:>8.2}x faster than one step", "  ratio", ms(full_p50) / ms(finish_p50));

    // Verification: Sovereign's check (signal, root window, proof) against rln's own
    // `verify_with_roots` on the same tickets.
    let verifier = Verifier::new(e);
    let reference = RLNBuilder::stateless().build();
    let roots = [tree.root()];
    let mut ours = Vec::new();
    let mut theirs = Vec::new();
    for n in 0..verifications {
        let ticket = &tickets[n % tickets.len()];
        let t = Instant::now();
        verifier.check(ticket, ticket.x, &roots).unwrap();
        ours.push(t.elapsed());
        let values = RLNProofValues::new_single()
            .y(ticket.y)
            .root(ticket.root)
            .nullifier(ticket.nullifier)
            .x(ticket.x)
            .external_nullifier(e)
            .build();
        let t = Instant::now();
        assert!(reference.verify_with_roots(&ticket.proof, &values, &ticket.x, &roots).unwrap());
        theirs.push(t.elapsed());
    }
    let theirs_p50 = report("verify, rln verify_with_roots (reference)", theirs);
    let ours_p50 = report("verify, Sovereign Verifier::check", ours.clone());
    println!("{:<44} {:>8.2}x the reference's time", "  ratio", ms(ours_p50) / ms(theirs_p50));
    let total: Duration = ours.iter().sum();
    println!("{:<44} {:>8.0} /s", "verifications per second (sequential)", verifications as f64 / total.as_secs_f64());
    // Batches, as the provider's verification threads form them under load.
    for size in [8usize, 32, 64] {
        let batch: Vec<(&Ticket, Fr)> = (0..size).map(|n| &tickets[n % tickets.len()]).map(|t| (t, t.x)).collect();
        let rounds = (verifications / size).max(3);
        let t = Instant::now();
        for _ in 0..rounds {
            assert!(verifier.check_batch(&batch, &roots).iter().all(Result::is_ok));
        }
        let per_ticket = t.elapsed() / (rounds * size) as u32;
        println!(
            "{:<44} {:>8.3} ms per ticket = {:>6.0} /s   ({:.1}x sequential)",
            format!("verify in batches of {size}"),
            ms(per_ticket),
            1.0 / per_ticket.as_secs_f64(),
            ms(ours_p50) / ms(per_ticket)
        );
    }
    println!(
        "{:<44} {:>8} bytes (header: {} characters)",
        "ticket per call",
        sov_zkapi::ticket::TICKET_BYTES,
        tickets[0].encode().len()
    );
}
