#!/usr/bin/env bash
# The standard single-broker benchmark (issue: broker core): one broker and
# the producer on this machine, 6 partitions, 100-byte records, acks 0/1/all
# interleaved over RUNS runs, then the consume rate; and the idle RSS of a
# broker holding 100 partitions. Results go to stdout; copy them into
# docs/BENCHMARKS.md with the date and machine.
set -euo pipefail
cd "$(dirname "$0")/.."
RECORDS=${RECORDS:-1000000}
RUNS=${RUNS:-3}
PORT=${PORT:-19392}
BIN=./bin/samsa
[ -x "$BIN" ] || go build -o "$BIN" ./cmd/samsa

data=$(mktemp -d)
cleanup() { [ -n "${pid:-}" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$data"; }
trap cleanup EXIT

start_broker() {
  "$BIN" broker --data-dir "$data/$1" --listen 127.0.0.1:$PORT --raft-addr 127.0.0.1:$((PORT+10000)) --log-level warn &
  pid=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null && return; sleep 0.1; done
  echo "broker did not start" >&2; exit 1
}

echo "== samsa bench: $RECORDS x 100 B records, 6 partitions, acks 0,1,all, $RUNS runs"
start_broker bench
"$BIN" bench --brokers 127.0.0.1:$PORT --acks 0,1,all --records "$RECORDS" --size 100 --partitions 6 --runs "$RUNS" --json "$data/bench.json"
kill "$pid"; wait "$pid" 2>/dev/null || true; pid=

echo "== idle RSS with 100 partitions"
start_broker idle
"$BIN" --brokers 127.0.0.1:$PORT topics create idle --partitions 100 >/dev/null
sleep 10
echo "broker RSS after 10 s idle with 100 partitions: $(awk '/VmRSS/ {printf "%.0f MB", $2/1024}' /proc/$pid/status)"
