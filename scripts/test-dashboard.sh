#!/usr/bin/env bash
# The Grafana dashboard's PromQL against a real Prometheus (issue #14): starts an orchestrator
# (`serve`, embedded store, local objects, loopback ports) and makes every series the dashboard
# shows exist: a realtime bot that answers queries, a bot that exits 3 (restarts, backoff, exit
# code), a scheduled bot every 5 s (runs, run durations), one realtime and one one-shot query
# through :9477. Prometheus (Debian's `prometheus`, scripts/install-deps.sh) scrapes its /metrics
# every second into a temp directory; scripts/dashboard/check.py then runs every panel's query and
# every variable of deploy/grafana/the0-runtime.json through Prometheus' HTTP API and fails naming
# the panel whose query errors or returns no data. Grafana itself is not run: the dashboard is
# checked for consistency (scripts/dashboard/test_dashboard.py), never loaded in Grafana.
# Bounded (DASHBOARD_TIMEOUT seconds, default 150); the orchestrator, Prometheus and every
# container of this run are removed on exit (8 at a time).
# Needs the orchestrator binary (ORCHESTRATOR_BIN, default: the debug build), the test image
# and prometheus.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
bin=${ORCHESTRATOR_BIN:-${CARGO_TARGET_DIR:-$here/target}/debug/orchestrator}
image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
prometheus=${PROMETHEUS:-prometheus}
bound=${DASHBOARD_TIMEOUT:-150}
board=deploy/grafana/the0-runtime.json
[ -x "$bin" ] || cargo build --locked -p the0-orchestrator --bin orchestrator  # before the bound
# The whole run is bounded: timeout signals this script and everything it started (its process
# group); the TERM trap below turns that into an exit, so the EXIT trap cleans up.
if [ "${THE0_DASHBOARD_BOUNDED:-}" != 1 ]; then
  THE0_DASHBOARD_BOUNDED=1 exec timeout -k 20 "$bound" "$0" "$@"
fi
t0=$(date +%s)

echo "== the dashboard on its own (scripts/dashboard/test_dashboard.py)"
out=$(python3 -m unittest discover -s scripts/dashboard 2>&1) || { echo "$out" >&2; exit 1; }
echo "${out##*$'\n'}"

command -v "$prometheus" >/dev/null || { echo "prometheus is not installed (scripts/install-deps.sh)" >&2; exit 1; }
docker image inspect "$image" >/dev/null 2>&1 || { echo "image $image is missing (make test-image)" >&2; exit 1; }

work=$(mktemp -d)
inst=dash$$
cleanup() {
  set +e
  for p in "${prom_pid:-}" "${orch_pid:-}"; do
    [ -n "$p" ] && kill "$p" 2>/dev/null && wait "$p" 2>/dev/null
  done
  ids=$(docker ps -aq --filter "label=runtime.instance=$inst")
  [ -n "$ids" ] && echo $ids | xargs -n 8 docker rm -f >/dev/null  # 8 at a time: mass removal can wedge dockerd 20.10
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 124' TERM  # the bound (timeout, above): the EXIT trap still cleans up

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
admin=127.0.0.1:$(free_port)
health=127.0.0.1:$(free_port)
qport=$(free_port)
prom=127.0.0.1:$(free_port)
fail() { echo "FAIL: $*" >&2; echo "== orchestrator log (last 30 lines)" >&2; tail -n 30 "$work/orch.log" >&2; exit 1; }

echo "== orchestrator (health $health, admin $admin, :9477 on $qport)"
THE0_DATA_DIR=$work/data THE0_ADMIN_ADDR=$admin THE0_HEALTH_ADDR=$health QUERY_SERVER_PORT=$qport \
  THE0_INSTANCE=$inst RUNTIME_IMAGE=$image RUNTIME_IMAGE_PULL_POLICY=Never THE0_CRASH_BACKOFF=2s LOG_LEVEL=WARN \
  "$bin" serve >"$work/orch.log" 2>&1 &
orch_pid=$!
for _ in $(seq 1 100); do curl -sf "http://$health/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://$health/healthz" >/dev/null || fail "the orchestrator did not start"

echo "== prometheus on $prom, scraping http://$health/metrics every 1s"
cat >"$work/prometheus.yml" <<YML
global: { scrape_interval: 1s, scrape_timeout: 1s, evaluation_interval: 1s }
scrape_configs:
  - job_name: the0-orchestrator
    static_configs: [ { targets: ["$health"] } ]
YML
"$prometheus" --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prom" \
  --web.listen-address="$prom" --log.level=warn >"$work/prom.log" 2>&1 &
prom_pid=$!
for _ in $(seq 1 100); do curl -sf "http://$prom/-/ready" >/dev/null && break; sleep 0.1; done
curl -sf "http://$prom/-/ready" >/dev/null || { cat "$work/prom.log" >&2; fail "prometheus did not start"; }
# Waits (bounded, 30 s) until Prometheus answers EXPR with a series.
prom_has() {
  for _ in $(seq 1 120); do
    curl -sfG "http://$prom/api/v1/query" --data-urlencode "query=$1" | grep -q '"value"' && return 0
    sleep 0.25
  done
  fail "Prometheus has no data for $1"
}
# A scrape before any bot: the histograms' first samples are 0, so that the first start counts as
# an increase (rate() sees no increase in a series that is first scraped at 1).
prom_has the0_bots_desired

# Three bots' code (busybox sh on the test image; every file 0755): a realtime bot whose query
# program is busybox httpd with a CGI script, a bot that exits 3 after a second, and a scheduled
# bot whose run lasts a second and whose query program answers one-shot queries.
objects=$work/data/objects/custom-bots/u/dash
mkdir -p "$objects"
python3 - "$objects" <<'PY'
import sys, zipfile
loop = "#!/bin/sh\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done\n"
query = ('#!/bin/sh\nif [ -n "$QUERY_PATH" ]; then\n'
         '  printf \'{"status":"ok","data":{"path":"%s"}}\' "$QUERY_PATH" > /query/result.json; exit 0\nfi\n'
         'exec httpd -f -p "127.0.0.1:$THE0_QUERY_PORT" -h /bot/www\n')
cgi = "#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n{\"status\":\"ok\",\"data\":{\"up\":true}}'\n"
bots = {
    "rt": {"bot.sh": loop, "query.sh": query, "www/cgi-bin/status": cgi},
    "crash": {"bot.sh": "#!/bin/sh\nsleep 1\necho 'exiting 3 on purpose' >&2\nexit 3\n"},
    "sched": {"bot.sh": "#!/bin/sh\nsleep 1\necho run done\n", "query.sh": query},
}
for name, files in bots.items():
    with zipfile.ZipFile(f"{sys.argv[1]}/{name}", "w") as z:
        for path, body in files.items():
            i = zipfile.ZipInfo(path)
            i.external_attr = 0o755 << 16
            z.writestr(i, body)
PY
put() { # id code config entrypoints
  curl -sf -X PUT "http://$admin/bots/$1" -d '{"id":"'"$1"'","config":'"$3"',"custom":{"filePath":"u/dash/'"$2"'","version":"1.0.0","config":{"runtime":"gcc13","entrypoints":'"$4"'}}}' >/dev/null \
    || fail "PUT /bots/$1 refused"
}
echo "== bots: dash-rt (realtime, queries), dash-crash (exits 3), dash-sched (every 5 s)"
put dash-rt rt '{}' '{"bot":"bot.sh","query":"query.sh"}'
put dash-crash crash '{}' '{"bot":"bot.sh"}'
put dash-sched sched '{"schedule":"@every 5s"}' '{"bot":"bot.sh","query":"query.sh"}'

state() { curl -sf "http://$admin/bots/$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"]["state"])' 2>/dev/null || true; }
for _ in $(seq 1 120); do [ "$(state dash-rt)" = running ] && break; sleep 0.25; done
[ "$(state dash-rt)" = running ] || fail "dash-rt is not running: $(curl -s "http://$admin/bots/dash-rt")"

query() { # bot path: the reply must say ok (the realtime container's query server may take a moment)
  local reply=""
  for _ in $(seq 1 40); do
    reply=$(curl -s -m 40 "http://127.0.0.1:$qport/query" -d '{"bot_id":"'"$1"'","query_path":"'"$2"'","params":{}}' || true)
    case "$reply" in *'"status":"ok"'*) echo "  query $1 $2: $reply"; return 0 ;; esac
    sleep 0.25
  done
  fail "query $1 $2: $reply"
}
# Twice each, with a scrape between: the `kind` series appear with their first query, and a rate
# needs an increase after that.
echo "== queries through :9477"
query dash-rt /cgi-bin/status
query dash-sched /status
prom_has 'the0_query_duration_seconds_count{kind="realtime"}'
prom_has 'the0_query_duration_seconds_count{kind="oneshot"}'
query dash-rt /cgi-bin/status
query dash-sched /status

echo "== waiting for Prometheus to have every kind of observation, then every panel's query"
python3 scripts/dashboard/check.py "$board" "http://$prom" --window 5m --wait-seconds 100 \
  --wait-for 'increase(the0_bot_restarts_total[5m]) > 0' \
  --wait-for 'the0_bot_last_exit_code{bot_id="dash-crash"}' \
  --wait-for 'max_over_time(the0_bot_state{bot_id="dash-crash",state="backing_off"}[5m])' \
  --wait-for 'increase(the0_run_duration_seconds_count[5m]) > 0' \
  --wait-for 'increase(the0_query_duration_seconds_count{kind="realtime"}[5m]) > 0' \
  --wait-for 'increase(the0_query_duration_seconds_count{kind="oneshot"}[5m]) > 0' \
  --wait-for 'increase(the0_event_to_running_seconds_count[5m]) > 0' \
  --wait-for 'increase(the0_container_start_duration_seconds_count[5m]) > 0' \
  --wait-for 'count_over_time(process_cpu_seconds_total[5m]) > 2' \
  || fail "dashboard queries (see above)"
# The check can fail: a copy of the dashboard with one metric name misspelt must fail, naming the panel.
sed 's/the0_container_start_duration_seconds_bucket/the0_container_start_duration_seconds_bucketx/' "$board" >"$work/broken.json"
if python3 scripts/dashboard/check.py "$work/broken.json" "http://$prom" --window 5m >/dev/null 2>"$work/broken.err"; then
  fail "a misspelt metric name passed the check"
fi
grep -q "panel 'Container start latency' / A: no data" "$work/broken.err" || { cat "$work/broken.err" >&2; fail "the misspelt metric's panel is not named"; }
echo "== a misspelt metric name fails the check, naming its panel: OK"
# The exposition itself, with bots in every state, through promtool's parser: a parse error (two
# families of one name, a malformed line) fails; its lint notes are not checked, since promtool
# reads the classic text format and names an OpenMetrics counter's HELP "missing" for `_total`.
echo "== /metrics through promtool check metrics (parse errors only)"
promtool=${PROMTOOL:-promtool}
if command -v "$promtool" >/dev/null; then
  curl -sf "http://$health/metrics" >"$work/metrics.txt" || fail "GET /metrics"
  "$promtool" check metrics <"$work/metrics.txt" >"$work/promtool.out" 2>&1 || true
  if grep -q "error while\|parsing error" "$work/promtool.out"; then cat "$work/promtool.out" >&2; fail "promtool cannot parse /metrics"; fi
  # The check can fail: the same text with one family declared twice must be refused.
  { grep -v '^# EOF' "$work/metrics.txt"; printf '# HELP the0_bots_running again\n# TYPE the0_bots_running gauge\nthe0_bots_running 1\n'; } >"$work/metrics-dup.txt"
  "$promtool" check metrics <"$work/metrics-dup.txt" >"$work/promtool-dup.out" 2>&1 || true
  grep -q "second HELP line\|second TYPE line" "$work/promtool-dup.out" || { cat "$work/promtool-dup.out" >&2; fail "promtool accepted a family declared twice"; }
  echo "== promtool parses /metrics; a family declared twice is refused: OK"
else
  fail "promtool is not installed (Debian's prometheus package, scripts/install-deps.sh)"
fi
echo "test-dashboard: OK in $(($(date +%s) - t0))s (the dashboard was not loaded in Grafana: its queries ran against Prometheus $("$prometheus" --version 2>&1 | awk 'NR == 1 { print $3 }'))"
