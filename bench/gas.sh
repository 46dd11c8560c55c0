#!/usr/bin/env bash
# Gas used by each ZkApiCredits operation (deploy, deposit, commitServed, slash, requestWithdraw,
# claimServed, finalizeWithdraw), measured on a local anvil by sov-chain's `gas_report` test.
#
# Usage: bench/gas.sh   (needs anvil from npm: see crates/chain/src/testing.rs; no network)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if ! out=$(cargo test --quiet --manifest-path "$root/Cargo.toml" -p sov-chain --test all gas_report -- --nocapture 2>&1); then
  printf '%s\n' "$out" >&2
  exit 1
fi
printf '%s\n' "$out" | sed -n 's/^gas: //p; /^gas used/p'
