#!/usr/bin/env bash
# Records the requests the real Claude Code client sends to an Anthropic-compatible server.
#
#   scripts/record-claude-code.sh OUT_DIR [VERSION]
#
# 1. installs @anthropic-ai/claude-code (VERSION, default: latest) from the npm registry into
#    $CC_PREFIX (default /tmp/cc), unless that version is there already;
# 2. starts scripts/claude-code-capture.py on a free 127.0.0.1 port;
# 3. runs Claude Code inside sbox, whose only network is that loopback port, in a scratch working
#    directory (/tmp/cc-record.XXXXXX) with a notes.txt and its own HOME inside it, so nothing can
#    leave this machine.
#
# CAPTURE_MODE=print (default) runs `claude -p "read notes.txt ..." --output-format stream-json`.
# CAPTURE_MODE=interactive runs the TUI under a private tmux server, types the same prompt, then
# /compact, then "thanks", then /exit (this adds the session-title and compaction requests).
# CAPTURE_TOOL=bash makes the scripted server call Bash (`echo hi`) instead of Read.
#
# Writes to OUT_DIR: capture.jsonl (one JSON object per request; API keys redacted),
# claude-stdout.jsonl (print mode) or claude-screen.txt (interactive), claude-debug.txt (Claude
# Code's debug log: it shows any connection attempt that the sandbox blocked), version.txt and
# workdir.txt (the working directory, for `claude-code-capture.py extract --workdir`).
# Needs node/npm on the host, python3, tmux for interactive mode, and the built sbox
# (target/debug/sbox, or $SBOX).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
out=${1:?usage: record-claude-code.sh OUT_DIR [VERSION]}
version=${2:-latest}
prefix=${CC_PREFIX:-/tmp/cc}
sbox=${SBOX:-$root/target/debug/sbox}
mode=${CAPTURE_MODE:-print}
tool=${CAPTURE_TOOL:-read}
case $tool in
  read) prompt="read notes.txt and tell me what it says"; allowed=(Read) ;;
  bash) prompt="run echo hi in the shell and tell me what it prints"; allowed=(Read "Bash(echo hi)") ;;
  *) echo "CAPTURE_TOOL is read or bash" >&2; exit 2 ;;
esac
case $mode in print | interactive) ;; *) echo "CAPTURE_MODE is print or interactive" >&2; exit 2 ;; esac

mkdir -p "$out"
out=$(cd "$out" && pwd)

# 1. Install (npm registry only; the native binary comes in the per-platform npm package).
mkdir -p "$prefix"
installed=$(node -p "try{require('$prefix/node_modules/@anthropic-ai/claude-code/package.json').version}catch(e){''}")
if [ -z "$installed" ] || { [ "$version" != latest ] && [ "$installed" != "$version" ]; }; then
  (cd "$prefix" && { [ -f package.json ] || npm init -y >/dev/null; } &&
    npm install --no-audit --no-fund "@anthropic-ai/claude-code@$version")
fi
claude=$prefix/node_modules/@anthropic-ai/claude-code/bin/claude.exe
# The wrapper package's postinstall hard-links the native binary over a stub; if npm skipped it,
# use the native package's binary directly.
if [ "$(stat -c %s "$claude")" -lt 100000 ]; then
  claude=$prefix/node_modules/@anthropic-ai/claude-code-linux-x64/claude
fi
node -p "require('$prefix/node_modules/@anthropic-ai/claude-code/package.json').version" >"$out/version.txt"
echo "==> claude-code $(cat "$out/version.txt") at $claude ($mode mode, $tool tool)"

# 2. The capture server. The working directory must not contain Sovereign's data (sbox refuses),
# so HOME is set only inside the sandbox.
work=$(mktemp -d /tmp/cc-record.XXXXXX)
mkdir -p "$work/home"
printf 'hello from the capture fixture\n' >"$work/notes.txt"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
: >"$out/capture.jsonl"
python3 "$here/claude-code-capture.py" --port "$port" --log "$out/capture.jsonl" --workdir "$work" \
  --tool "$tool" >"$out/capture-server.txt" 2>&1 &
capture_pid=$!
tmux_socket=cc-record-$$
cleanup() {
  kill "$capture_pid" 2>/dev/null || true
  tmux -L "$tmux_socket" kill-server 2>/dev/null || true
  rm -rf "$work" "$work.run"
}
trap cleanup EXIT
for _ in $(seq 50); do
  grep -q listening "$out/capture-server.txt" 2>/dev/null && break
  sleep 0.1
done

# 3. Claude Code in the sandbox: only 127.0.0.1:$port, a HOME inside the working dir.
export ANTHROPIC_BASE_URL=http://127.0.0.1:$port
export ANTHROPIC_API_KEY=sk-test-dummy
export CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1
export DISABLE_ERROR_REPORTING=1
sandbox=("$sbox" --port "$port" --ro "$prefix"
  --env ANTHROPIC_BASE_URL --env ANTHROPIC_API_KEY --env CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
  --env DISABLE_TELEMETRY --env DISABLE_AUTOUPDATER --env DISABLE_ERROR_REPORTING)
status=0

if [ "$mode" = print ]; then
  (cd "$work" && timeout 300 "${sandbox[@]}" -- /usr/bin/env HOME="$work/home" "$claude" -p "$prompt" \
    --output-format stream-json --verbose --allowedTools "${allowed[@]}" \
    --debug-file "$work/claude-debug.txt" \
    >"$out/claude-stdout.jsonl" 2>"$out/claude-stderr.txt") || status=$?
else
  # Skip onboarding, the API-key question (it remembers a key by its last 20 characters) and the
  # trust dialog, as a returning user would.
  key=$ANTHROPIC_API_KEY
  [ ${#key} -le 20 ] || key=${key: -20}
  cat >"$work/home/.claude.json" <<EOF
{"hasCompletedOnboarding": true, "theme": "dark",
 "customApiKeyResponses": {"approved": ["$key"], "rejected": []},
 "projects": {"$work": {"hasTrustDialogAccepted": true, "allowedTools": []}}}
EOF
  # tmux runs the command with its server's environment, so a runner script carries ours.
  {
    echo "cd '$work'"
    printf 'export %s\n' ANTHROPIC_BASE_URL="$ANTHROPIC_BASE_URL" ANTHROPIC_API_KEY="$ANTHROPIC_API_KEY" \
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_TELEMETRY=1 DISABLE_AUTOUPDATER=1 \
      DISABLE_ERROR_REPORTING=1 TERM=xterm-256color
    printf '%q ' "${sandbox[@]}" --env TERM -- /usr/bin/env HOME="$work/home" "$claude" \
      --allowedTools "${allowed[@]}" --debug-file "$work/claude-debug.txt"
    echo
  } >"$work.run"
  tmux -L "$tmux_socket" new-session -d -s record -x 200 -y 50 "bash '$work.run'"
  requests() { grep -c '"/v1/messages' "$out/capture.jsonl" || true; }
  screen() { tmux -L "$tmux_socket" capture-pane -t record -p 2>/dev/null || true; }
  # wait_for SECONDS COMMAND...: polls until COMMAND succeeds.
  wait_for() {
    local limit=$1
    shift
    for _ in $(seq $((limit * 2))); do
      "$@" && return 0
      sleep 0.5
    done
    echo "timed out waiting for: $*" >&2
    screen >&2
    return 1
  }
  more_requests_than() { [ "$(requests)" -gt "$1" ]; }
  type_line() {
    tmux -L "$tmux_socket" send-keys -t record -l "$1"
    sleep 1
    tmux -L "$tmux_socket" send-keys -t record Enter
  }
  wait_for 30 bash -c "tmux -L '$tmux_socket' capture-pane -t record -p | grep -q '❯'"
  type_line "$prompt"
  wait_for 60 grep -q '"kind": "final_text"' "$out/capture.jsonl"
  sleep 3 # the session title request runs alongside
  n=$(requests)
  type_line "/compact"
  wait_for 60 more_requests_than "$n"
  sleep 3
  n=$(requests)
  type_line "thanks"
  wait_for 60 more_requests_than "$n"
  sleep 3
  screen >"$out/claude-screen.txt"
  type_line "/exit"
  sleep 3
fi

cp "$work/claude-debug.txt" "$out/claude-debug.txt" 2>/dev/null || true
echo "$work" >"$out/workdir.txt"
echo "==> claude exited $status; $(wc -l <"$out/capture.jsonl") requests in $out/capture.jsonl"
grep -E 'Could not resolve|fetch failed|ENOTFOUND|ECONNREFUSED|timeout of' "$out/claude-debug.txt" |
  sed 's/^/blocked? /' | head -20 || true
exit "$status"
