#!/usr/bin/env bash
# The outbound policy's routes on a private Tor network of Debian's tor (3 authorities, 2 relays,
# 1 exit, a C-tor client; all on loopback in a network namespace this script makes, so nothing
# can leave the machine), in one run:
#
#   bootstrap        arti (in process) downloading the private network's directory
#   first byte       a small GET, a fresh connection (and circuit) per request: arti, the C-tor
#                    client by SOCKS5 (fresh credentials), and direct; median of ROUNDS
#   throughput       a 4 MiB body by each route, best of 3
#   unlinkability    arti: a fresh circuit per request against one reused circuit, time to first
#                    byte, median of ROUNDS; the fresh circuit built when the request comes
#                    ([net] spare_circuits = 0), or a spare built ahead (the default, 2), with
#                    requests back to back and 200 ms apart
#
# Goals: fresh / reused at most 1.5x; arti within 1.2x of C-tor. The private network's latency
# is loopback's, so these ratios show the clients' own costs, not the Tor network's.
#
# Usage: bench/net.sh [ROUNDS]   (as root: it creates a network namespace; needs Debian's tor)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export ROUNDS=${1:-20}
command -v tor >/dev/null || { echo "install tor: sudo apt-get install -y tor" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmark makes a network namespace" >&2; exit 1; }
cargo build --quiet --manifest-path "$root/Cargo.toml" -p sov-net --example net-bench
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
exec unshare --net -- bash -c 'ip link set lo up && SOV_TOR_TESTNET_NETNS=1 exec "$0"' "$target/debug/examples/net-bench"
