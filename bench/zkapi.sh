#!/usr/bin/env bash
# ZK-API tickets: proof latency (zerokit's one-step proof beside Sovereign's finish from a
# precomputed partial proof), verification (rln's verify_with_roots beside Sovereign's check),
# bytes per call; once with every core, once pinned to one core with one rayon thread (the
# per-core figures). Then the nullifier store at 10^6 entries (SQLite; PostgreSQL with --postgres),
# and the deposit contract's gas.
#
# Usage: bench/zkapi.sh [--postgres]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet -p sov-zkapi --example bench --example store_bench
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo "== tickets, all cores ($(nproc))"
"$target/release/examples/bench" --proofs 10 --verifications 500
echo
echo "== tickets, one core"
RAYON_NUM_THREADS=1 taskset -c 0 "$target/release/examples/bench" --proofs 10 --verifications 500
echo
echo "== nullifier store"
"$target/release/examples/store_bench" "$@"
if [ -x bench/gas.sh ]; then
  echo
  echo "== deposit contract gas"
  bench/gas.sh
fi
