#!/usr/bin/env bash
# Compiles contracts/src with solc-js into contracts/build (checked in, so the Rust crate sov-chain
# embeds the exact bytecode whose source sits beside it), and the wallet's test fixtures
# (contracts/test-fixtures: ERC-20s, ENS, and Uniswap V2's published artifacts) into
# contracts/test-fixtures/build.
#   scripts/compile-contracts.sh          install the pinned npm packages, compile, write build/
#   scripts/compile-contracts.sh --check  compile and exit 1 if build/ differs from the fresh output
# The npm packages (solc, poseidon-solidity, @zk-kit/imt.sol and the fixtures' OpenZeppelin, ENS,
# Uniswap V2 and solc 0.7; versions from contracts/package-lock.json)
# go to ${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/contracts-node, never into the work tree.
set -euo pipefail
cd "$(dirname "$0")/.."

check=()
case "${1:-}" in
  --check) check=(--check) ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

command -v npm >/dev/null || { echo "Node.js and npm are needed to compile the contracts" >&2; exit 1; }
node_dir=${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/contracts-node
mkdir -p "$node_dir"
# npm ci wipes node_modules on every run; skip it while the installed lockfile is the same.
if ! cmp -s contracts/package-lock.json "$node_dir/package-lock.json" \
  || [ ! -f "$node_dir/node_modules/solc/package.json" ]; then
  echo "==> installing the contract build's npm packages into $node_dir"
  cp contracts/package.json contracts/package-lock.json "$node_dir/"
  (cd "$node_dir" && npm ci --silent --no-audit --no-fund)
fi
node contracts/compile.js --modules "$node_dir/node_modules" "${check[@]}"
node contracts/test-fixtures/build.js --modules "$node_dir/node_modules" "${check[@]}"
