#!/usr/bin/env bash
# `make run`: the example bots on this machine with nothing but Docker. Builds what is missing or
# stale (dist/runtime, dist/orchestrator, the universal bot image the0/runtime:latest, offline
# Debian bases when nothing can be pulled, the compiled examples), starts `orchestrator serve` in
# the background with the embedded defaults (SQLite and local objects in ./the0-data, no NATS, no
# MinIO), deploys every example in examples/ that has a bot-config.yaml, waits until the first bot
# runs, and prints how to watch logs, query a bot and stop everything.
#
#   scripts/run.sh          # start (again: the running orchestrator is replaced, bots adopted)
#   scripts/run.sh stop     # stop the orchestrator and every bot it started
#
# Knobs: THE0_DATA_DIR (./the0-data), THE0_ADMIN_ADDR (127.0.0.1:9478), THE0_HEALTH_ADDR
# (127.0.0.1:8080), THE0_PROFILE=debug (a debug orchestrator: faster to build), THE0_INSTANCE
# (`run`: this orchestrator manages, adopts and stops only containers labelled
# runtime.instance=run, so other orchestrators and test runs on the machine are left alone;
# set it empty to manage every the0 container).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
data=${THE0_DATA_DIR:-$here/the0-data}
export THE0_ADMIN_ADDR=${THE0_ADMIN_ADDR:-127.0.0.1:9478}
export THE0_HEALTH_ADDR=${THE0_HEALTH_ADDR:-127.0.0.1:8080}
export THE0_DATA_DIR=$data
export THE0_INSTANCE=${THE0_INSTANCE-run}
pidfile=$data/orchestrator.pid
orch=$here/dist/orchestrator

# Stops the orchestrator this script started (its pid file), bounded; it stops its bots itself
# (--stop-bots-on-shutdown), then stop-all removes anything left.
stop() {
  if [ -f "$pidfile" ]; then
    pid=$(cat "$pidfile")
    if kill -0 "$pid" 2>/dev/null && grep -q orchestrator "/proc/$pid/cmdline" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 1 90); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -0 "$pid" 2>/dev/null && { echo "orchestrator $pid still running after 90 s; killing it" >&2; kill -9 "$pid"; }
    fi
    rm -f "$pidfile"
  fi
  if [ -x "$orch" ]; then "$orch" stop-all; fi
}

if [ "${1:-}" = stop ]; then
  stop
  echo "stopped: state, logs and the bot store are kept in $data"
  exit 0
fi

t0=$(date +%s)
scripts/ensure-docker.sh
echo "== building (executor, orchestrator, bot image, compiled examples)"
scripts/build-executor.sh
scripts/build-orchestrator.sh
scripts/build-images.sh universal
scripts/build-examples.sh

stop >/dev/null 2>&1 || true
mkdir -p "$data"
echo "== starting the orchestrator (log: $data/orchestrator.log)"
# setsid: the orchestrator outlives this script (and make); `make stop` ends it.
# The :9477 query API stays on loopback here (serve's default, 0.0.0.0, is for the0's API container).
setsid "$orch" serve --runtime-image the0/runtime:latest --runtime-image-pull-policy Never \
  --query-bind 127.0.0.1 --stop-bots-on-shutdown >>"$data/orchestrator.log" 2>&1 </dev/null &
echo $! >"$pidfile"
for _ in $(seq 1 50); do curl -fsS "http://$THE0_HEALTH_ADDR/healthz" >/dev/null 2>&1 && break; sleep 0.2; done
curl -fsS "http://$THE0_HEALTH_ADDR/healthz" >/dev/null || {
  tail -n 20 "$data/orchestrator.log" >&2
  echo "error: the orchestrator did not start" >&2
  exit 1
}

echo "== deploying examples/"
refused=()
for dir in examples/*/; do
  [ -f "$dir/bot-config.yaml" ] || continue
  name=$(basename "$dir")
  if ! out=$("$orch" deploy "$dir" 2>&1); then
    echo "  $name: NOT deployed: $out"
    refused+=("$name")
    continue
  fi
  echo "  $out"
done

# The first bot running ends the wait (bounded).
first=""
for _ in $(seq 1 120); do
  first=$("$orch" list --state running 2>/dev/null | awk 'NR > 1 { print $1; exit }')
  [ -n "$first" ] && break
  sleep 0.5
done
[ -n "$first" ] || { "$orch" list >&2 || true; echo "error: no bot is running after 60 s" >&2; exit 1; }
echo "first bot running ($first) $(($(date +%s) - t0))s after make run started"
echo
"$orch" list

container=the0-bot-python-ticker${THE0_INSTANCE:+-$THE0_INSTANCE}
query_line='ip=$(docker inspect -f "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}" '$container'); curl "http://$ip:9476/prices?last=5"'
if curl -fsS -m 2 http://127.0.0.1:9477/health >/dev/null 2>&1; then
  query_line="curl -s localhost:9477/query -d '{\"bot_id\":\"python-ticker\",\"query_path\":\"/prices\",\"params\":{\"last\":\"5\"}}'"
fi
cat <<MSG

The orchestrator runs in the background (pid $(cat "$pidfile"); data, state and logs in $data).
In your shell first:  export THE0_INSTANCE=$THE0_INSTANCE THE0_DATA_DIR=$data
  status page: http://$THE0_ADMIN_ADDR/ui      (in a browser: every bot, its state, runs and last log lines)
  bots:        dist/orchestrator list
  logs:        dist/orchestrator logs python-ticker -f      (also c-ticker, jvm-ticker)
  query:       $query_line
               (paths: /status, /prices?last=N)
  status:      curl -s http://$THE0_ADMIN_ADDR/bots/python-ticker
  runs:        curl -s http://$THE0_ADMIN_ADDR/bots/node-scheduled/runs    (the scheduled Node bot, every minute)
  metrics:     curl -s http://$THE0_HEALTH_ADDR/metrics
  stop:        make stop        (the orchestrator and every bot; run make run again to resume)
MSG
if [ ${#refused[@]} -gt 0 ]; then
  echo "not deployed: ${refused[*]} (see above)"
fi
