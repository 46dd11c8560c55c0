#!/usr/bin/env bash
# Start-up overhead of `sbox -- true` against bare bubblewrap and plain `true`, in one run.
#
# References, all measured in the same run:
#   plain      `true` with no sandbox at all
#   bwrap-min  bare bwrap with the smallest useful sandbox (all namespaces, /usr, /proc, /dev)
#   bwrap-same bare bwrap with exactly sbox's mount plan (the options `sbox --dry-run` prints, up to
#              Sovereign's own part: the init's plan and the init), running `true` directly: what a
#              hand-written bwrap script with the same mounts costs without Sovereign's launcher,
#              init, Landlock and seccomp
# Goal from issue [1/7]: sbox ≤ 1.2× bare bwrap and under 10 ms.
#
# The commands run interleaved, one of each per round: on a shared VM the speed drifts over
# seconds, and interleaving gives every command the same drift (a block of runs per command, as
# hyperfine does, let the drift decide the ratio). Every command gets the same PATH, the sandbox's
# own, so `true` is looked up the same way inside and outside.
#
# Usage: bench/sbox-startup.sh [ROUNDS]   (builds the release binaries first; needs bubblewrap, python3)
set -euo pipefail
rounds=${1:-500}
root=$(cd "$(dirname "$0")/.." && pwd)
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
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin

same=$("$sbox" --dry-run -- true | tail -n 1 | sed 's| --clearenv .*| -- true|')
min="bwrap --unshare-all --die-with-parent --new-session --ro-bind /usr /usr --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 --proc /proc --dev /dev -- true"

echo "build measured: release profile (thin LTO), static (sbox) and dynamic (sbox-dynamic); kernel $(uname -r); $(bwrap --version); $rounds rounds"
python3 - "$rounds" sbox "$sbox -- true" sbox-dynamic "$dynamic -- true" bwrap-same "$same" bwrap-min "$min" plain "true" <<'PY'
import os, shlex, shutil, statistics, sys, time

rounds = int(sys.argv[1])
commands = [(name, shlex.split(line)) for name, line in zip(sys.argv[2::2], sys.argv[3::2])]
commands = [(name, [shutil.which(argv[0])] + argv[1:]) for name, argv in commands]
devnull = os.open(os.devnull, os.O_WRONLY)
times = {name: [] for name, _ in commands}
warmup = 30
# sbox hands bubblewrap its generated /etc files as pipes (`--file FD PATH`): bwrap-same gets a
# pipe for each as well, filled and spawned within the timed span, as sbox does.
etc_fds = {name: [int(argv[i + 1]) for i, word in enumerate(argv) if word == "--file"] for name, argv in commands}
for round in range(warmup + rounds):
    for name, argv in commands:
        start = time.perf_counter()
        actions, pipes = [(os.POSIX_SPAWN_DUP2, devnull, 1)], []
        for fd in etc_fds[name]:
            read, write = os.pipe()
            os.write(write, b"sbox\n")
            os.close(write)
            actions.append((os.POSIX_SPAWN_DUP2, read, fd))
            pipes.append(read)
        pid = os.posix_spawn(argv[0], argv, os.environ, file_actions=actions)
        for read in pipes:
            os.close(read)
        _, status = os.waitpid(pid, 0)
        elapsed = time.perf_counter() - start
        if status != 0:
            sys.exit(f"{name} failed (wait status {status}): {shlex.join(argv)}")
        if round >= warmup:
            times[name].append(elapsed * 1000)

median = {name: statistics.median(t) for name, t in times.items()}
for name, _ in commands:
    t = sorted(times[name])
    print(f"{name:12s} median {median[name]:6.2f} ms  (p10 {t[len(t) // 10]:.2f}, p90 {t[len(t) * 9 // 10]:.2f})")
paired = statistics.median(s / b for s, b in zip(times["sbox"], times["bwrap-same"]))
print(f"sbox start overhead over plain true: {median['sbox'] - median['plain']:.2f} ms (goal < 10 ms)")
print(f"ratio sbox / bwrap-same: {median['sbox'] / median['bwrap-same']:.3f}x, per round {paired:.3f}x"
      f"  (added by Sovereign: {median['sbox'] - median['bwrap-same']:.2f} ms; goal <= 1.2x)")
print(f"ratio sbox / bwrap-min:  {median['sbox'] / median['bwrap-min']:.2f}x")
PY
