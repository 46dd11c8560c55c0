//! Timing helpers shared by the gate's benchmarks.

use std::time::{Duration, Instant};

/// Runs `f` a tenth of `runs` times to warm up, then `runs` times, timing each.
pub(crate) fn measure(runs: usize, mut f: impl FnMut()) -> Vec<Duration> {
    for _ in 0..runs / 10 {
        f();
    }
    (0..runs)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect()
}

/// The `p`th percentile of `sorted`.
pub(crate) fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}
