#!/usr/bin/env bash
# Query front benchmark: the latency the executor's :9476 front adds over calling the query
# program directly, p50/p99 at 1 and 32 clients. Runs dist/runtime (release) as the query sidecar
# in front of the Python test query program, and a second copy of that program on its own port
# for the direct path. Both programs use a listen backlog of 128 (the Python SDK's http.server
# default is 5, which drops connections under 32 direct clients and would flatter the front).
# The bench client is built in the dev profile; its overhead is the same on both paths.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
[ -x dist/runtime ] || scripts/build-executor.sh
cargo build -q -p the0-executor --example query_bench
client="target/debug/examples/query_bench"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
front=$(free_port)
direct=$(free_port)
mkdir -p "$work/bot" "$work/state" "$work/the0/logs" "$work/objects"
cp executor/tests/fixtures/query_server.py "$work/bot/query.py"
: >"$work/the0/state-restored"

env -i PATH="$PATH" BOT_ID=bench RUNTIME=python3.11 ENTRYPOINT=query.py QUERY_ENTRYPOINT=query.py \
  BOT_TYPE=realtime CODE_PATH="$work/bot" STATE_PATH="$work/state" LOGS_PATH="$work/the0/logs" \
  THE0_STORAGE_DIR="$work/objects" THE0_QUERY_PORT="$front" FIXTURE_BACKLOG=128 LOG_LEVEL=WARN \
  dist/runtime execute --query-server-only >"$work/front.log" 2>&1 &
pids+=($!)
(cd "$work/bot" && exec env BOT_TYPE=realtime THE0_QUERY_PORT="$direct" FIXTURE_BACKLOG=128 python3 query.py) \
  >"$work/direct.log" 2>&1 &
pids+=($!)

ready() { curl -sf -o /dev/null "http://127.0.0.1:$1/ping"; }
for _ in $(seq 1 200); do
  if ready "$front" && ready "$direct"; then break; fi
  sleep 0.1
done
ready "$front" && ready "$direct" || { echo "query programs did not start" >&2; cat "$work"/*.log >&2; exit 1; }

echo "query front: added latency over the program called directly (load average: $(cut -d' ' -f1-3 /proc/loadavg))"
"$client" --direct "$direct" --front "$front" --clients 1 --requests "${BENCH_REQUESTS:-3000}" --rounds 6
"$client" --direct "$direct" --front "$front" --clients 32 --requests "${BENCH_REQUESTS_32:-6400}" --rounds 4
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
