#!/usr/bin/env bash
# The main job on its embedded default: install bubblewrap, build and install `sov` and `sbox`
# into ~/.cargo/bin, then run a short session inside the sandbox that shows what it can and
# cannot see. (Until the local engine lands, the sandbox is Sovereign's main job.)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_install bubblewrap build-essential ca-certificates
require_rust
echo "==> building and installing sov and sbox (release)"
cargo install --locked --quiet --path crates/sov --root "${CARGO_HOME:-$HOME/.cargo}"
sbox=${CARGO_HOME:-$HOME/.cargo}/bin/sbox

project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
cd "$project"
echo "==> sbox in $project"
"$sbox" -- sh -c '
  echo "inside as $(id -un), working dir $PWD (writable):"; echo hello > hello.txt && ls -l hello.txt
  echo "the whole filesystem root:"; ls /
  echo "your home (an empty tmpfs):"; ls -A ~ ; echo "(empty)"
  echo "your SSH key:"; cat ~/.ssh/id_ed25519 2>&1 | head -n1
  echo "/etc/shadow:"; cat /etc/shadow 2>&1
  echo "network interfaces:"; ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1
  echo "a new user namespace:"; unshare -r true 2>&1 || echo "(refused)"
'
status=0
"$sbox" -- sh -c 'exit 3' || status=$?
echo "==> exit status passes through: sbox -- sh -c \"exit 3\" exited $status"
echo "==> done. Try: cd your-project && sbox   (a shell), or sbox --port 8080 -- your-agent"
