#!/usr/bin/env bash
# The private remote path's own overhead per call, excluding network and model time, against the
# issue's goals: sanitising a 4 KB prompt, verifying a TDX quote (then cached) and an SNP report,
# sealing and opening (client and provider side), and the ZK-API proof (finished from a
# precomputed partial proof, and in one step), and what routing a call through the gate adds in
# `sov serve`, each with its reference printed beside it.
#
# Usage: bench/remote.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo build --release --quiet -p sov-sanitize -p sov-attest -p sov-remote -p sov-zkapi \
  --example sanitize-bench --example attest-bench --example remote-bench --example bench
target=$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo "== sanitise (goal: a few ms of the 250 ms client budget)"
"$target/release/examples/sanitize-bench"
echo
echo "== attestation (goal: <= 5 ms per TDX quote; a verified bundle is cached until it expires)"
"$target/release/examples/attest-bench" 500
echo
echo "== HPKE seal and open (goal: <= 1 ms)"
"$target/release/examples/remote-bench"
echo
echo "== ZK-API proof, one core (the client's share of the 250 ms goal; zerokit's one-step proof beside it)"
RAYON_NUM_THREADS=1 taskset -c 0 "$target/release/examples/bench" --proofs 10 --verifications 100
echo
echo "== the gate's share in sov serve (remote:NAME): sanitise, submit, execute, settle, restore, against sanitise + restore"
cargo bench --quiet -p sov-gate --bench remote_route -- 500
