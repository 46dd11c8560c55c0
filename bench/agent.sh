#!/usr/bin/env bash
# Agent overhead: `sov agent` against the pi coding agent, both driven through the same scripted
# task by the same scripted model (so model time is ~0 and alike), both inside sbox, in one run.
#
#   session start   one task whose only step is the model's answer (no tool): start-up, the
#                   sandbox, the context, one request, the answer
#   task            42 tool steps: write hello.sh, edit it, run it with the shell 40 times; answer
#   per step        (task - session start) / 42: the agent's own time per tool step, including
#                   the tool's work (the same tiny commands for both) and the scripted model's
#                   reply (~1 ms, the same for both)
#
# Usage: bench/agent.sh [RUNS]   (needs hyperfine, python3, node, and pi from npm: scripts/test.sh
# installs it, or SOV_TEST_NODE_MODULES pointing at a node_modules with @mariozechner/pi-coding-agent)
set -euo pipefail
runs=${1:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
command -v hyperfine >/dev/null || { echo "install hyperfine: sudo apt-get install -y hyperfine" >&2; exit 1; }
node_modules=${SOV_TEST_NODE_MODULES:-${XDG_CACHE_HOME:-$HOME/.cache}/sovereign/node/node_modules}
pi="$node_modules/@mariozechner/pi-coding-agent/dist/cli.js"
[ -f "$pi" ] || { echo "pi is not installed at $pi (run scripts/test.sh, or npm install @mariozechner/pi-coding-agent)" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml" --bin sov
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$root/Cargo.toml" | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
sov="$target/release/sov"
scripted="$root/crates/sov/tests/clients/scripted_model.py"

base=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$base"' EXIT
mkdir -p "$base/cfg" "$base/home" "$base/state" "$base/work" "$base/pi"
export HOME="$base/home" SOV_CONFIG="$base/cfg/config.toml" SOV_DATA_DIR="$base/home/data" SOV_STATE_DIR="$base/state"
# No Tool API here: both agents get only the model.
printf '[gate]\ntool_listen = "127.0.0.1:9"\n' > "$SOV_CONFIG"

model() { # NAME SCRIPT_JSON -> sets port_NAME
  printf '%s' "$2" > "$base/$1.json"
  python3 "$scripted" "$base/$1.json" "$base/$1.log" > "$base/$1.port" &
  pids+=($!)
  for _ in $(seq 50); do [ -s "$base/$1.port" ] && break; sleep 0.1; done
  printf -v "port_$1" '%s' "$(cat "$base/$1.port")"
}
answer='[{"content": "ok"}]'
# write, edit, then the shell STEPS-2 times, then the answer.
steps=${AGENT_BENCH_STEPS:-42}
task() { # EDIT_ARGUMENTS
  printf '[{"tool_calls":[{"name":"write","arguments":{"path":"hello.sh","content":"echo hello\\n"}}]},'
  printf '{"tool_calls":[{"name":"edit","arguments":%s}]},' "$1"
  for _ in $(seq $((steps - 2))); do printf '{"tool_calls":[{"name":"bash","arguments":{"command":"sh hello.sh"}}]},'; done
  printf '{"content":"It prints hello, sandbox."}]'
}
sov_task=$(task '{"path":"hello.sh","old_text":"hello","new_text":"hello, sandbox"}')
pi_task=$(task '{"path":"hello.sh","edits":[{"oldText":"hello","newText":"hello, sandbox"}]}')
model answer "$answer"
model sovtask "$sov_task"
model pitask "$pi_task"

cat > "$base/pi/models.json" <<JSON
{"providers": {
  "answer": {"baseUrl": "http://127.0.0.1:$port_answer/v1", "api": "openai-completions", "apiKey": "none", "models": [{"id": "scripted"}]},
  "task": {"baseUrl": "http://127.0.0.1:$port_pitask/v1", "api": "openai-completions", "apiKey": "none", "models": [{"id": "scripted"}]}}}
JSON
echo '{"retry":{"enabled":false,"provider":{"maxRetries":0}}}' > "$base/pi/settings.json"
export PI_CODING_AGENT_DIR="$base/pi" PI_OFFLINE=1
cd "$base/work"
pi_cmd() { # PROVIDER
  echo "$sov sbox --port $1 --rw $base/pi --ro $node_modules --env PI_CODING_AGENT_DIR --env PI_OFFLINE -- node $pi --provider $2 --model scripted --no-session --no-context-files --no-skills --tools read,bash,edit,write --mode json -p go"
}
sov_cmd() { # PORT
  echo "$sov agent --url http://127.0.0.1:$1 --json -p go"
}

# Both must really finish the task before they are timed.
out=$($(sov_cmd "$port_sovtask") 2>/dev/null)
grep -q '"type":"answer","text":"It prints hello, sandbox."' <<<"$out" || { echo "sov agent did not finish the task: $out" >&2; exit 1; }
ran=$(grep -c '"type":"tool_result","name":"[a-z]*","ok":true' <<<"$out")
[ "$ran" -eq "$steps" ] || { echo "sov agent ran $ran tool steps, not $steps" >&2; exit 1; }
grep -q "hello, sandbox" hello.sh
rm hello.sh
out=$($(pi_cmd "$port_pitask" task))
grep -q '"stopReason":"stop"' <<<"$out" || { echo "pi did not finish the task: $out" >&2; exit 1; }
ran=$(grep -c '"type":"tool_execution_end"' <<<"$out")
[ "$ran" -eq "$steps" ] || { echo "pi ran $ran tool steps, not $steps" >&2; exit 1; }
grep -q "hello, sandbox" hello.sh

echo "build measured: release profile; $(nproc) CPUs; pi $(node -p "require('$node_modules/@mariozechner/pi-coding-agent/package.json').version"); node $(node --version)"
hyperfine -N --warmup 3 --runs "$runs" --export-json "$base/result.json" \
  -n "sov start" "$(sov_cmd "$port_answer")" \
  -n "sov task" "$(sov_cmd "$port_sovtask")" \
  -n "pi start" "$(pi_cmd "$port_answer" answer)" \
  -n "pi task" "$(pi_cmd "$port_pitask" task)" >/dev/null

python3 - "$base/result.json" "$steps" <<'PY'
import json, sys
steps = int(sys.argv[2])
r = {x["command"]: x for x in json.load(open(sys.argv[1]))["results"]}
ms = lambda n: r[n]["mean"] * 1000
sd = lambda n: r[n]["stddev"] * 1000
for n in ("sov start", "sov task", "pi start", "pi task"):
    print(f"{n:10s} {ms(n):8.1f} ms ± {sd(n):.1f}")
sov_step = (ms("sov task") - ms("sov start")) / steps
pi_step = (ms("pi task") - ms("pi start")) / steps
print(f"session start in the sandbox: sov {ms('sov start'):.1f} ms, pi {ms('pi start'):.1f} ms, ratio sov/pi {ms('sov start') / ms('pi start'):.2f}")
print(f"per tool step:               sov {sov_step:.1f} ms, pi {pi_step:.1f} ms, ratio sov/pi {sov_step / pi_step:.2f}")
PY
