#!/usr/bin/env bash
# Scoped vs unscoped `switchboard bench rpc`, same server run, alternating rounds.
# Usage: cargo build --release && ROUNDS=3 DUR=4s scripts/bench-scopes.sh   (needs jq; port 18471)
set -euo pipefail
B=${B:-target/release/switchboard}
ROUNDS=${ROUNDS:-5}
DUR=${DUR:-4s}
export SWITCHBOARD__SERVER__DATA_DIR=$(mktemp -d)
export SWITCHBOARD__SERVER__PORT=18471
export SWITCHBOARD__AUTH__ADMIN_TOKEN=bench-admin-secret-0123456789abcdef
export SWITCHBOARD__LIMITS__CHAT_BURST=1000
export SWITCHBOARD__LOG__LEVEL=warn
URL=ws://127.0.0.1:18471/ws
ADMIN=$SWITCHBOARD__AUTH__ADMIN_TOKEN
"$B" serve >/tmp/scope-bench-serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null; rm -rf "$SWITCHBOARD__SERVER__DATA_DIR"' EXIT
for _ in $(seq 50); do "$B" call --url $URL health >/dev/null 2>&1 && break; sleep 0.2; done
# 21 sessions of agent main; A is the scoped token's.
A=$("$B" call --url $URL --token "$ADMIN" chat.send '{"message":"the scoped session"}' | tail -1 | jq -r .payload.sessionId)
for i in $(seq 20); do "$B" call --url $URL --token "$ADMIN" chat.send "{\"message\":\"other $i\"}" >/dev/null; done
PLAIN=$("$B" token create --role operator --name bench-plain)
SCOPED=$("$B" token create --role operator --name bench-scoped --session "$A")
AGENT=$("$B" token create --role operator --name bench-agent --agent main)
echo "session A = $A"
run() { # label token method params
  "$B" bench rpc --url $URL --token "$2" --method "$3" --params "$4" \
    --connections 16 --inflight 4 --duration $DUR --json | jq -c --arg l "$1" --arg m "$3" \
    '{token:$l, method:$m, rate:(.rate|floor), p50_ms, p99_ms, errors}'
}
for r in $(seq $ROUNDS); do
  for m in health "sessions.get" "sessions.list"; do
    case $m in sessions.get) p="{\"sessionId\":\"$A\"}";; *) p='{}';; esac
    case $(( r % 3 )) in
      1) run unscoped "$PLAIN" $m "$p"; run session-scoped "$SCOPED" $m "$p"; run agent-scoped "$AGENT" $m "$p";;
      2) run session-scoped "$SCOPED" $m "$p"; run agent-scoped "$AGENT" $m "$p"; run unscoped "$PLAIN" $m "$p";;
      0) run agent-scoped "$AGENT" $m "$p"; run unscoped "$PLAIN" $m "$p"; run session-scoped "$SCOPED" $m "$p";;
    esac
  done
done
