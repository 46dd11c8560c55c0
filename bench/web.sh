#!/usr/bin/env bash
# Web search and pages (sov-web) on a private Tor network of Debian's tor (all on loopback in a
# network namespace this script makes, so nothing can leave the machine), in one run:
#
#   query latency    Web::search against a SearXNG-shaped engine behind the exit: a fresh circuit
#                    per query (Sovereign's way; paced 200 ms and back to back), one reused circuit
#                    (linkable; the baseline) and direct; median of ROUNDS
#   fetch            Web::fetch of a 1 MB page through Tor and direct, best of 5
#   extraction       HTML to readable text (MB/s): sov-web against Python's trafilatura and
#                    html2text, on the articles of the test ZIM archive (dumped by zim-tools)
#
# Usage: bench/web.sh [ROUNDS]   (as root: it makes a network namespace; needs Debian's tor and
# zim-tools, and pip for trafilatura and html2text in a venv of its own)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export ROUNDS=${1:-20}
command -v tor >/dev/null || { echo "install tor: sudo apt-get install -y tor" >&2; exit 1; }
command -v zimdump >/dev/null || { echo "install zim-tools: sudo apt-get install -y zim-tools" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "run as root: the benchmark makes a network namespace" >&2; exit 1; }
venv=${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/bench-venv
if ! "$venv/bin/python" -c 'import trafilatura, html2text' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet trafilatura==2.3.1 lxml_html_clean==0.4.7 html2text==2025.4.15
fi
export BENCH_PYTHON=$venv/bin/python
PAGES=$(mktemp -d)
export PAGES
trap 'rm -rf "$PAGES"' EXIT
zimdump dump --dir="$PAGES" "$root/crates/web/tests/fixtures/wikibooks_be_all_nopic_2017-02.zim" >/dev/null
find "$PAGES" -mindepth 2 -type f -name '*.html' -exec mv -t "$PAGES" {} + 2>/dev/null || true
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p sov-web --example web-bench
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
unshare --net -- bash -c 'ip link set lo up && SOV_TOR_TESTNET_NETNS=1 exec "$0"' "$target/release/examples/web-bench"
