#!/usr/bin/env bash
# Local knowledge (sov-know) on copies of a real manual, Debian's python3-doc (HTML), in one run:
#
#   indexing     MB of files read per second, and the index's size as a share of them
#   queries      latency p50/p99 of `Knowledge::search` (top 10 passages) over 200 queries,
#                against `rg -i -l` (what an agent does today) on the same files and queries,
#                and the ratio
#
# Usage: bench/know.sh [COPIES]   (default 4 copies, ~270 MB; needs python3-doc and ripgrep)
# This first version measures one manual copied; the issue's 2 GB corpus with varied text and a
# MediaWiki dump, incremental timings and recall come later.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
copies=${1:-4}
manual=/usr/share/doc/python3-doc/html
[ -f "$manual/index.html" ] || { echo "install python3-doc: sudo apt-get install -y python3-doc" >&2; exit 1; }
command -v rg >/dev/null || { echo "install ripgrep: sudo apt-get install -y ripgrep" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in $(seq 1 "$copies"); do cp -rL "$manual" "$work/corpus-copy$n" 2>/dev/null || true; done
mkdir "$work/corpus" && mv "$work"/corpus-copy* "$work/corpus/"
words=(tempfile argparse "regular expression" datetime json socket thread subprocess "context manager"
  decorator generator "list comprehension" unicode pickle logging asyncio "virtual environment" dictionary
  exception "file descriptor")
: > "$work/queries"
for i in $(seq 0 199); do echo "${words[$((i % ${#words[@]}))]}" >> "$work/queries"; done
cargo build --quiet --release --manifest-path "$root/Cargo.toml" -p sov-know --example know-bench
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
echo "== sov-know on $copies copies of $manual (release build, $(nproc) cores)"
"$target/release/examples/know-bench" "$work/corpus" "$work/data" < "$work/queries" | tee "$work/know.out"
# ripgrep: every query of the list once (it is slow: 20 distinct queries, each timed once, cache warm).
rg -i -l tempfile "$work/corpus" >/dev/null || true
: > "$work/rg.ms"
for q in "${words[@]}"; do
  start=$(date +%s%N); rg -i -l -- "$q" "$work/corpus" >/dev/null || true; end=$(date +%s%N)
  echo $(( (end - start) / 1000 )) >> "$work/rg.ms"
done
sort -n "$work/rg.ms" > "$work/rg.sorted"
rg_p50=$(awk '{a[NR]=$1} END {printf "%.2f", a[int((NR+1)/2)]/1000}' "$work/rg.sorted")
know_p50=$(awk '/^query_p50_ms/ {print $2}' "$work/know.out")
echo "rg_p50_ms $rg_p50"
awk -v r="$rg_p50" -v k="$know_p50" 'BEGIN {printf "speedup_p50 %.0fx (rg -i -l / sov-know)\n", r / k}'
