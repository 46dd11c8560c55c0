#!/usr/bin/env bash
# The wallet's send path on a fresh anvil with the wallet's test chain (ERC-20s, Uniswap V2, ENS),
# in one run (crates/wallet/examples/wallet-bench.rs):
#
#   send_to_broadcast_ms   median time from an agent's POST /wallet/send (what `wallet_send`
#                          does) to the answer with the hash of an auto-allowed, broadcast
#                          ERC-20 transfer: build (price, encode, decode, simulate), the gate's
#                          decision, sign, store durably, broadcast
#   build_ms, simulation_ms   the build alone and the simulation (eth_simulateV1) alone
#   simulation_share_pct   the simulation as a share of the whole send
#   bare_alloy_send_ms     the reference: alloy's wallet sending the same transfer directly
#                          (nothing priced, simulated, gated or stored), and the ratio
#
# Usage: bench/wallet.sh [SENDS]   (default 50; needs the test chain's contracts and anvil, as
# scripts/test.sh installs them: SOV_TEST_ANVIL, SOV_TEST_NODE_MODULES)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
sends=${1:-50}
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p sov-wallet --example wallet-bench
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo "== sov-wallet send path on anvil, $sends sends (release build, $(nproc) cores)"
"$target/release/examples/wallet-bench" "$sends"
