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
# As scripts/demo.sh installs them: sbox and sbox-init linked statically.
triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" cargo build --release --quiet --manifest-path "$root/Cargo.toml" \
  --target "$triple" --bin sbox --bin sbox-init
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin sbox --bin sbox-init
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
sbox="$target/$triple/release/sbox"
dynamic="$target/release/sbox"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

same=$("$sbox" --dry-run -- true | tail -n 1 | sed 's| -- /run/sovereign/sbox-init .*| -- true|')
min="bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev -- true"

echo "build measured: release profile (thin LTO), static (sbox) and dynamic (sbox-dynamic); kernel $(uname -r); $(bwrap --version)"
hyperfine -N --warmup 30 --runs "$runs" --export-json "$work/result.json" \
  -n sbox "$sbox -- true" -n "sbox-dynamic" "$dynamic -- true" -n bwrap-same "$same" -n bwrap-min "$min" \
  -n plain "true" >/dev/null

python3 - "$work/result.json" <<'PY'
import json, sys
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["median"] * 1000
sd = lambda n: r[n]["stddev"] * 1000
for n in ("sbox", "sbox-dynamic", "bwrap-same", "bwrap-min", "plain"):
    print(f"{n:12s} median {ms(n):6.2f} ms (σ {sd(n):.2f})")
print(f"sbox start overhead over plain true: {ms('sbox') - ms('plain'):.2f} ms (goal < 10 ms)")
print(f"ratio sbox / bwrap-same: {ms('sbox') / ms('bwrap-same'):.2f}x  (added by Sovereign: {ms('sbox') - ms('bwrap-same'):.2f} ms)")
print(f"ratio sbox / bwrap-min:  {ms('sbox') / ms('bwrap-min'):.2f}x  (goal <= 1.2x bare bwrap)")
PY
