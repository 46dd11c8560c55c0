#!/usr/bin/env bash
# Start-up overhead of `sbox -- true` against bare bubblewrap and plain `true`, in one run.
#
# Three references, all measured by hyperfine in the same run:
#   plain      `true` with no sandbox at all
#   bwrap-min  bare bwrap with the smallest useful sandbox (all namespaces, /usr, /proc, /dev)
#   bwrap-same bare bwrap with exactly sbox's mount plan (taken from `sbox --dry-run`), running
#              `true` directly: what a hand-written bwrap script with the same protection costs
#              without Sovereign's launcher, Landlock, seccomp and init
# Goal from issue [1/7]: sbox ≤ 1.2× bare bwrap and under 10 ms.
#
# Usage: bench/sbox-startup.sh [RUNS]   (builds the release binary first; needs bubblewrap, hyperfine)
set -euo pipefail
runs=${1:-300}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || { echo "install hyperfine: sudo apt-get install -y hyperfine" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin sov --bin sbox
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
sov="$target/release/sov"
sbox="$target/release/sbox"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

same=$("$sbox" --dry-run -- true | tail -n 1 | sed 's| -- /run/sovereign/sbox-init .*| -- true|')
min="bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev -- true"

echo "build measured: release profile (thin LTO), target-cpu=native; kernel $(uname -r); $(bwrap --version)"
hyperfine -N --warmup 30 --runs "$runs" --export-json "$work/result.json" \
  -n sbox "$sbox -- true" -n "sov sbox" "$sov sbox -- true" -n bwrap-same "$same" -n bwrap-min "$min" -n plain "true" >/dev/null

python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["mean"] * 1000
sd = lambda n: r[n]["stddev"] * 1000
for n in ("sbox", "sov sbox", "bwrap-same", "bwrap-min", "plain"):
    print(f"{n:11s} {ms(n):6.2f} ms ± {sd(n):.2f}")
print(f"sbox start overhead over plain true: {ms('sbox') - ms('plain'):.2f} ms (goal < 10 ms)")
print(f"ratio sbox / bwrap-same: {ms('sbox') / ms('bwrap-same'):.2f}x  (added by Sovereign: {ms('sbox') - ms('bwrap-same'):.2f} ms)")
print(f"ratio sbox / bwrap-min:  {ms('sbox') / ms('bwrap-min'):.2f}x  (goal <= 1.2x bare bwrap)")
PY
