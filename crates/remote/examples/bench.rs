//! Benchmark of the sealed channel: a 4 KiB request and a 16 KiB response, sealed and opened.
//!
//! Run with `cargo run --release -p sov-remote --example remote-bench`. Goal: the whole round
//! (client seal, provider open, provider seal, client open) at most 1 ms at p50 and p99. The
//! "gateway overhead" row is the cryptographic work `Gateway` adds to each call (open the request,
//! seal the whole response), on top of the HTTP hop to the upstream.

use std::time::{Duration, Instant};

use sov_remote::{KeyPair, open_request, seal_request};

const ITERATIONS: usize = 2000;
const WARMUP: usize = 200;
const REQUEST_LEN: usize = 4 << 10;
const RESPONSE_LEN: usize = 16 << 10;
const STREAM_CHUNK: usize = 1 << 10;

#[derive(Default)]
struct Samples {
    seal_request: Vec<Duration>,
    open_request: Vec<Duration>,
    seal_response: Vec<Duration>,
    open_response: Vec<Duration>,
    gateway: Vec<Duration>,
    round: Vec<Duration>,
    streamed_round: Vec<Duration>,
}

fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    samples.sort_unstable();
    let index = ((samples.len() as f64 - 1.0) * p).round() as usize;
    samples.get(index).copied().unwrap_or_default()
}

fn main() -> Result<(), sov_remote::Error> {
    let key = KeyPair::generate();
    let public = key.public_key();
    let request: Vec<u8> = (0..REQUEST_LEN).map(|i| (i % 251) as u8).collect();
    let response: Vec<u8> = (0..RESPONSE_LEN).map(|i| (i % 241) as u8).collect();
    let mut s = Samples::default();

    for i in 0..WARMUP + ITERATIONS {
        let t0 = Instant::now();
        let (envelope, opener) = seal_request(&public, key.key_id(), &request)?;
        let t1 = Instant::now();
        let (body, sealer) = open_request(&key, &envelope)?;
        let t2 = Instant::now();
        let sealed = sealer.seal(&response)?;
        let t3 = Instant::now();
        let answer = opener.open(&sealed)?;
        let t4 = Instant::now();
        assert_eq!((body.len(), answer.len()), (REQUEST_LEN, RESPONSE_LEN));

        // The same round with the response streamed in 1 KiB chunks.
        let t5 = Instant::now();
        let (envelope, opener) = seal_request(&public, key.key_id(), &request)?;
        let (_, mut sealer) = open_request(&key, &envelope)?;
        let mut reader = opener.open_chunks();
        let mut received = 0;
        let chunks = response.chunks(STREAM_CHUNK).count();
        for (n, chunk) in response.chunks(STREAM_CHUNK).enumerate() {
            let frame = sealer.seal_chunk(chunk, n + 1 == chunks)?;
            received += reader.push(&frame)?.iter().map(Vec::len).sum::<usize>();
        }
        reader.finish()?;
        let t6 = Instant::now();
        assert_eq!(received, RESPONSE_LEN);

        if i >= WARMUP {
            s.seal_request.push(t1 - t0);
            s.open_request.push(t2 - t1);
            s.seal_response.push(t3 - t2);
            s.open_response.push(t4 - t3);
            s.gateway.push(t3 - t1);
            s.round.push(t4 - t0);
            s.streamed_round.push(t6 - t5);
        }
    }

    println!("{ITERATIONS} iterations, request {} KiB, response {} KiB", REQUEST_LEN >> 10, RESPONSE_LEN >> 10);
    println!("{:<40} {:>10} {:>10}", "step", "p50 µs", "p99 µs");
    let rows: [(&str, &mut Vec<Duration>); 7] = [
        ("client: seal request (HPKE encap)", &mut s.seal_request),
        ("provider: open request (HPKE decap)", &mut s.open_request),
        ("provider: seal response", &mut s.seal_response),
        ("client: open response", &mut s.open_response),
        ("gateway overhead: open + seal", &mut s.gateway),
        ("whole round", &mut s.round),
        ("whole round, response in 1 KiB chunks", &mut s.streamed_round),
    ];
    let mut worst_p99 = Duration::ZERO;
    for (name, samples) in rows {
        let p50 = percentile(samples, 0.50);
        let p99 = percentile(samples, 0.99);
        worst_p99 = worst_p99.max(p99);
        println!("{name:<40} {:>10.1} {:>10.1}", p50.as_secs_f64() * 1e6, p99.as_secs_f64() * 1e6);
    }
    let verdict = if worst_p99 <= Duration::from_millis(1) { "meets" } else { "MISSES" };
    println!("goal <= 1 ms per round at p99: {verdict}");
    Ok(())
}
