#!/usr/bin/env bash
# :9477 query server benchmarks (issue #5), printed as a table and written to
# target/bench/query-server.md:
#  1. one-shot query latency through :9477 (a realtime bot that is not running, so a query
#     container runs the query program) against `docker run --rm` of the same image with the
#     same settings doing the same work, then reading and deleting the result file, alternated;
#     goal: ratio of medians <= 1.3;
#  2. realtime query through :9477 against calling the container's :9476 directly (both a new
#     connection per request), p50 and p99; goal: <= 1 ms added at p50;
#  3. a scheduled bot's warm query server (issue 15) through :9477 against the realtime bot
#     through :9477 (same code, same empty state, alternated rounds), p50 and p99, beside the
#     same scheduled bot's first (cold, one-shot) query; goal: warm p50 within 2 ms of realtime.
# Runs dist/orchestrator (release; THE0_BENCH_ORCHESTRATOR names another build, which the table
# then says) as `serve` with its own --instance, on loopback ports, with
# bots on a Docker network it creates (internal); everything is removed however the run ends.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
oneshots=${BENCH_ONESHOT:-12}
requests=${BENCH_REQUESTS:-2000}
scripts/ensure-docker.sh >/dev/null 2>&1 || true
if ! docker image inspect "$image" >/dev/null 2>&1; then
  [ -x dist/runtime ] || scripts/build-executor.sh
  scripts/build-test-image.sh "$image"
fi
orch=${THE0_BENCH_ORCHESTRATOR:-dist/orchestrator}
[ -n "${THE0_BENCH_ORCHESTRATOR:-}" ] || [ -x dist/orchestrator ] || scripts/build-orchestrator.sh
cargo build -q -p the0-orchestrator --example query_server_bench
client=target/debug/examples/query_server_bench

inst="qbench$$"
net="the0-bench-$inst"
work=$(mktemp -d)
orch_pid=
cleanup() {
  [ -n "$orch_pid" ] && kill "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null
  docker ps -aq --filter "label=runtime.instance=$inst" | xargs -r -n 8 docker rm -f >/dev/null 2>&1 || true
  docker network rm "$net" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
data="$work/data"
objects="$data/objects"
mkdir -p "$objects/custom-bots/u/bench"
python3 - "$objects/custom-bots/u/bench/1" <<'PY'
import sys, zipfile
files = {
    "bot.sh": "#!/bin/sh\ntrap 'exit 0' TERM\nwhile true; do sleep 1; done\n",
    "query.sh": "#!/bin/sh\nif [ -n \"$QUERY_PATH\" ]; then\n"
                "  printf '{\"status\":\"ok\",\"data\":{\"path\":\"%s\",\"params\":%s}}' \"$QUERY_PATH\" \"$QUERY_PARAMS\" > /query/result.json\n"
                "  exit 0\nfi\nexec httpd -f -p \"127.0.0.1:$THE0_QUERY_PORT\" -h /bot/www\n",
    "www/cgi-bin/echo": "#!/bin/sh\nprintf 'Content-Type: application/json\\r\\n\\r\\n{\"status\":\"ok\",\"data\":\"%s\"}' \"$QUERY_STRING\"\n",
}
with zipfile.ZipFile(sys.argv[1], "w") as z:
    for name, body in files.items():
        info = zipfile.ZipInfo(name)
        info.external_attr = 0o100755 << 16
        z.writestr(info, body)
PY
docker network create --internal "$net" >/dev/null
admin=$(free_port); health=$(free_port); qport=$(free_port)
env -u MINIO_ENDPOINT -u NATS_URL DOCKER_NETWORK="$net" LOG_LEVEL=WARN BOT_STOP_TIMEOUT_SEC=2 \
  "$orch" serve --data-dir "$data" --admin-addr "127.0.0.1:$admin" --health-addr "127.0.0.1:$health" \
  --port "$qport" --query-bind 127.0.0.1 --instance "$inst" --runtime-image "$image" \
  --runtime-image-pull-policy Never >"$work/orchestrator.log" 2>&1 &
orch_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$qport/health" && break; sleep 0.1; done

put() { # id config
  curl -sf -o /dev/null -X PUT "http://127.0.0.1:$admin/bots/$1" -H 'Content-Type: application/json' -d \
    "{\"id\":\"$1\",\"config\":$2,\"custom\":{\"filePath\":\"u/bench/1\",\"version\":\"1\",\"config\":{\"runtime\":\"gcc13\",\"entrypoints\":{\"bot\":\"bot.sh\",\"query\":\"query.sh\"}}}}"
}
put rt '{}'
put os '{"enabled":false}'
put sc '{"schedule":"0 0 1 1 *"}'
q() { curl -s -m 60 -o "$work/reply.json" -w '%{http_code} %{time_total}' -X POST "http://127.0.0.1:$qport/query" \
  -H 'Content-Type: application/json' -d "{\"bot_id\":\"$1\",\"query_path\":\"$2\"}"; }
ok=
for _ in $(seq 1 300); do
  if [ "$(q rt /cgi-bin/echo | cut -d' ' -f1)" = 200 ]; then ok=1; break; fi
  sleep 0.1
done
[ -n "$ok" ] || { echo "the realtime bench bot never answered" >&2; cat "$work/orchestrator.log" >&2; exit 1; }

# 1. One-shot: ours (through :9477) against docker run --rm of the same container, alternated.
q os /warmup >/dev/null   # creates the state and result directories the peer binds too
peer() { # i: the same container as a query container, result read and deleted like ours
  local key="os/peer-$1/result.json"
  docker run --rm --read-only --user 1000:1000 --workdir /tmp --cap-drop ALL \
    --security-opt no-new-privileges:true --stop-signal SIGTERM --network "$net" --memory 512m --cpu-shares 512 \
    --add-host host.docker.internal:host-gateway \
    --tmpfs /bot:rw,exec,nosuid,nodev,uid=1000,gid=1000 --tmpfs /state:rw,nosuid,nodev,uid=1000,gid=1000 \
    --tmpfs /query:rw,nosuid,nodev,uid=1000,gid=1000 --tmpfs /var/the0:rw,nosuid,nodev,uid=1000,gid=1000 \
    --tmpfs /tmp:rw,nosuid,nodev,uid=1000,gid=1000,mode=1777 \
    -v "$objects/custom-bots/u/bench/1:/objects/custom-bots/u/bench/1:ro" \
    -v "$objects/bot-state/os:/objects/bot-state/os:ro" \
    -v "$objects/query-results/os:/objects/query-results/os" \
    -e BOT_ID=os -e CODE_FILE=u/bench/1 -e RUNTIME=gcc13 -e ENTRYPOINT=query.sh -e QUERY_ENTRYPOINT=query.sh \
    -e BOT_TYPE=scheduled -e IS_SCHEDULED=true -e ENTRYPOINT_TYPE=query -e CODE_MOUNT_DIR=query \
    -e STATE_DIR=/state/.the0-state -e BOT_CONFIG='{}' -e QUERY_PATH=/p -e QUERY_PARAMS='{}' \
    -e QUERY_RESULT_KEY="$key" -e MINIO_QUERY_RESULTS_BUCKET=query-results -e THE0_STORAGE_DIR=/objects \
    "$image" >/dev/null 2>&1
  grep -q '"status":"ok"' "$objects/query-results/$key"
  rm -rf "$objects/query-results/os/peer-$1"
}
ours_ms=(); peer_ms=()
now_ms() { date +%s%N | awk '{printf "%.1f", $1/1e6}'; }
for i in $(seq 1 "$oneshots"); do
  for arm in $( [ $((i % 2)) = 0 ] && echo "ours peer" || echo "peer ours" ); do
    if [ "$arm" = ours ]; then
      t0=$(now_ms); r=$(q os /p); t1=$(now_ms)
      [ "${r%% *}" = 200 ] || { echo "one-shot query failed: $r $(cat "$work/reply.json")" >&2; exit 1; }
      ours_ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')")
    else
      t0=$(now_ms); peer "$i"; t1=$(now_ms)
      peer_ms+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')")
    fi
  done
done
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
o_med=$(median "${ours_ms[@]}"); p_med=$(median "${peer_ms[@]}")
ratio=$(awk -v o="$o_med" -v p="$p_med" 'BEGIN{printf "%.2f", o/p}')
met1=$(awk -v r="$ratio" 'BEGIN{print (r <= 1.3) ? "yes" : "no"}')
leftover=$(find "$objects/query-results" -type f | wc -l)

# 2. Realtime: through :9477 against the container's :9476 directly.
cid=$(docker ps -q --filter "label=runtime.instance=$inst" --filter "label=runtime.id=rt")
ip=$(docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "$cid")
read -r v50 v99 d50 d99 < <("$client" --via "127.0.0.1:$qport" --direct "$ip:9476" --bot rt --path /cgi-bin/echo \
  --requests "$requests" --rounds 4)
add50=$(awk -v a="$v50" -v b="$d50" 'BEGIN{printf "%+.3f", a-b}')
add99=$(awk -v a="$v99" -v b="$d99" 'BEGIN{printf "%+.3f", a-b}')
met2=$(awk -v a="$add50" 'BEGIN{print (a <= 1.0) ? "yes" : "no"}')

# 3. Warm: the scheduled bot's first query is a one-shot (cold); it then gets a warm server.
metric() { curl -sf "http://127.0.0.1:$health/metrics" | awk -v n="$1" '$1 == n {print $2}'; }
t0=$(now_ms); r=$(q sc /cgi-bin/echo); t1=$(now_ms)
[ "${r%% *}" = 200 ] || { echo "cold query of the scheduled bot failed: $r $(cat "$work/reply.json")" >&2; exit 1; }
cold_ms=$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')
warm=
for _ in $(seq 1 300); do
  q sc /cgi-bin/echo >/dev/null
  if [ "$(metric the0_queries_warm_total)" != 0 ]; then warm=1; break; fi
  sleep 0.1
done
[ -n "$warm" ] || { echo "the scheduled bot never got a warm query server" >&2; cat "$work/orchestrator.log" >&2; exit 1; }
read -r w50 w99 r50 r99 < <("$client" --via "127.0.0.1:$qport" --other-bot rt --bot sc --path /cgi-bin/echo \
  --requests "$requests" --rounds 4)
wadd50=$(awk -v a="$w50" -v b="$r50" 'BEGIN{printf "%+.3f", a-b}')
wadd99=$(awk -v a="$w99" -v b="$r99" 'BEGIN{printf "%+.3f", a-b}')
met3=$(awk -v a="$wadd50" 'BEGIN{print (a <= 2.0) ? "yes" : "no"}')
warm_n=$(metric the0_queries_warm_total)

mkdir -p target/bench
{
  echo "| benchmark | ours | peer | ratio/diff | goal | met? |"
  echo "|---|---|---|---|---|---|"
  echo "| one-shot query, median of $oneshots (ms) | $o_med | $p_med (docker run --rm) | $ratio | <= 1.3 | $met1 |"
  echo "| realtime query p50 (ms) | $v50 (:9477) | $d50 (:9476 direct) | $add50 ms | <= +1 ms | $met2 |"
  echo "| realtime query p99 (ms) | $v99 (:9477) | $d99 (:9476 direct) | $add99 ms | — | — |"
  echo "| warm query p50 (ms) | $w50 (scheduled, warm) | $r50 (realtime, :9477) | $wadd50 ms | <= +2 ms | $met3 |"
  echo "| warm query p99 (ms) | $w99 (scheduled, warm) | $r99 (realtime, :9477) | $wadd99 ms | — | — |"
  echo "| scheduled bot, cold one-shot (ms) | $cold_ms (its first query) | $o_med (one-shot median above) | — | — | — |"
  echo
  echo "one-shot samples (ms): ours ${ours_ms[*]}; peer ${peer_ms[*]}; result objects left: $leftover"
  echo "orchestrator: $orch; executor image: $image"
  echo "warm: the0_queries_warm_total $warm_n after the run (every warm-row request was proxied warm)"
  echo "realtime: $requests requests per path, 4 alternating rounds, new connection per request;" \
    "load average $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee target/bench/query-server.md
[ "$leftover" = 0 ] || { echo "error: $leftover result objects were left" >&2; exit 1; }
