#!/usr/bin/env bash
# Orchestrator benchmarks against the local Docker engine and nats-server (no registry, loopback
# and `--network none` only):
#   1. converge N bots (default 200) from zero: orchestrator vs `xargs -P8 docker run -d` of the
#      same N hardened containers;
#   2. steady state with N running: orchestrator RSS and CPU over a window;
#   3. latency from a JetStream publish to the container running, and from a container's crash to
#      its restart being scheduled (the orchestrator's own log line).
#   4. with BENCH_DENSITY=1 (`make bench-density`): what each bot costs the host at steady state:
#      the executors' PSS (each container's PID 1), the container runtime's own PSS (the shims),
#      the host memory per bot (MemAvailable before the bots and at steady state, over N).
# BENCH_BOT=idle (default: a shell loop that sleeps) or active (state and a log line every second;
# the default of BENCH_DENSITY=1). Uses dist/orchestrator (make orchestrator; THE0_PROFILE=debug for a
# debug build) and the test image. Prints a table. Every container it starts is removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
n=${BENCH_BOTS:-200}
window=${BENCH_STEADY_SEC:-60}
density=${BENCH_DENSITY:-}
bot_kind=${BENCH_BOT:-$([ -n "$density" ] && echo active || echo idle)}
image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
bin=${ORCHESTRATOR_BIN:-$here/dist/orchestrator}
[ -x "$bin" ] || { echo "$bin missing: run make orchestrator" >&2; exit 1; }
work=$(mktemp -d)
inst=bench$$
base=basel$$
services_started=
cleanup() {
  set +e
  [ -n "${orch_pid:-}" ] && kill "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null
  for l in "runtime.instance=$inst" "bench=$base"; do
    ids=$(docker ps -aq --filter "label=$l")
    [ -n "$ids" ] && echo $ids | xargs -n 8 docker rm -f >/dev/null  # 8 at a time: mass removal can wedge dockerd 20.10
  done
  [ -n "$services_started" ] && THE0_SERVICES_DIR="$work/services" scripts/test-services.sh stop
  rm -rf "$work"
}
trap cleanup EXIT
if [ -z "${THE0_TEST_NATS_URL:-}" ]; then
  eval "$(THE0_SERVICES_DIR="$work/services" scripts/test-services.sh start)"
  services_started=1
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
now() { date +%s.%N; }
count() { docker ps -q --filter "label=$1" --filter status=running | wc -l; }
# Both converge halves end here: a `docker ps` every 0.25 s (a quarter second of resolution on
# half a minute and more; polling faster loads dockerd itself while it starts the containers).
wait_count() { # label want timeout
  local t0; t0=$(now)
  while [ "$(count "$1")" -lt "$2" ]; do
    sleep 0.25
    if [ "$(echo "$(now) - $t0 > $3" | bc)" = 1 ]; then echo "timeout waiting for $2 on $1" >&2; return 1; fi
  done
}
admin=127.0.0.1:$(free_port)
health=127.0.0.1:$(free_port)
data=$work/data
mkdir -p "$data/objects/custom-bots/u/bench"
python3 - "$data/objects/custom-bots/u/bench/1" "$bot_kind" <<'PY'
import sys, zipfile
bots = {
    "idle": "#!/bin/sh\nwhile true; do sleep 5; done\n",
    # What a small real bot does: its state and a log line every second.
    "active": "#!/bin/sh\ni=0\nwhile true; do i=$((i+1)); echo \"{\\\"i\\\":$i}\" > \"$STATE_DIR/tick.json\"; "
              "echo \"tick $i\"; sleep 1; done\n",
}
z = zipfile.ZipFile(sys.argv[1], "w")
i = zipfile.ZipInfo("bot.sh"); i.external_attr = 0o755 << 16
z.writestr(i, bots[sys.argv[2]]); z.close()
PY
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# --- 1a. baseline: xargs -P8 docker run -d of the same spec -------------------------------------
# Timed as the orchestrator's half is: until `docker ps` counts N running (the same poller beside
# both halves) and xargs is done.
mkdir -p "$work/base-objects/custom-bots/u/bench"
cp "$data/objects/custom-bots/u/bench/1" "$work/base-objects/custom-bots/u/bench/1"
t0=$(now)
# The container is the one the orchestrator creates (spec.rs with the settings of section 1b),
# environment included: its executors then do the same work in both halves (with NATS_URL
# unreachable under --network none, each retries its log connection every second).
seq 1 "$n" | xargs -P8 -I{} sh -c '
  mkdir -p "$0/bot-state/b{}" "$0/bot-logs/logs/b{}" && chown 1000:1000 "$0/bot-state/b{}" "$0/bot-logs/logs/b{}"
  docker run -d --name "'"$base"'-{}" --label bench='"$base"' --read-only --user 1000:1000 --cap-drop ALL \
    --security-opt no-new-privileges:true --stop-signal SIGTERM --workdir /tmp --network none \
    --memory 512m --cpu-shares 512 --pids-limit 512 --add-host host.docker.internal:host-gateway \
    --tmpfs /bot:rw,exec,nosuid,nodev,uid=1000,gid=1000,size=115m \
    --tmpfs /state:rw,nosuid,nodev,uid=1000,gid=1000,size=153m \
    --tmpfs /query:rw,nosuid,nodev,uid=1000,gid=1000,size=19m \
    --tmpfs /var/the0:rw,nosuid,nodev,uid=1000,gid=1000,size=38m \
    --tmpfs /tmp:rw,nosuid,nodev,uid=1000,gid=1000,mode=1777,size=57m \
    -v "$0/custom-bots/u/bench/1:/objects/custom-bots/u/bench/1:ro" -v "$0/bot-state/b{}:/objects/bot-state/b{}" \
    -v "$0/bot-logs/logs/b{}:/objects/bot-logs/logs/b{}" \
    -e BOT_ID=b{} -e ID=b{} -e RUNTIME=gcc13 -e ENTRYPOINT=bot.sh -e ENTRYPOINT_TYPE=bot -e CODE_MOUNT_DIR=bot \
    -e CODE_FILE=u/bench/1 -e BOT_TYPE=realtime -e IS_SCHEDULED=false -e CONFIG="{\"i\":{}}" \
    -e BOT_CONFIG="{\"i\":{}}" -e STATE_DIR=/state/.the0-state -e MAX_STATE_SIZE_MB=153 \
    -e MAX_STATE_FILE_SIZE_MB=10 -e MINIO_QUERY_RESULTS_BUCKET=query-results -e MINIO_USE_SSL=false \
    -e PYTHONDONTWRITEBYTECODE=1 -e NATS_URL="$1" -e THE0_STORAGE_DIR=/objects "'"$image"'" >/dev/null' \
  "$work/base-objects" "$THE0_TEST_NATS_URL" &
xargs_pid=$!
wait_count "bench=$base" "$n" 600
wait "$xargs_pid"
t_base=$(echo "$(now) - $t0" | bc)
ids=$(docker ps -aq --filter "label=bench=$base"); [ -n "$ids" ] && echo $ids | xargs -n 8 docker rm -f >/dev/null  # 8 at a time: mass removal can wedge dockerd 20.10

# --- 1b. orchestrator: register N bots, time until N run ----------------------------------------
mem_avail() { awk '/MemAvailable/ {print $2}' /proc/meminfo; }
sleep 5; avail_before=$(mem_avail)
# THE0_EVENTS as the0's API creates it (six subjects, limits, file storage, 7 days).
python3 - "$THE0_TEST_NATS_URL" <<'PY'
import json, socket, sys
host, port = sys.argv[1].split("//")[1].split(":")
s = socket.create_connection((host, int(port))); s.recv(4096)
subjects = [f"the0.{k}.{e}" for k in ("bot", "bot-schedule") for e in ("created", "updated", "deleted")]
cfg = json.dumps({"name": "THE0_EVENTS", "subjects": subjects, "retention": "limits", "storage": "file",
                  "max_age": 7 * 24 * 3600 * 10**9}).encode()
s.sendall(b'CONNECT {"verbose":false}\r\nSUB _INBOX.bench 1\r\n')
s.sendall(b"PUB $JS.API.STREAM.CREATE.THE0_EVENTS _INBOX.bench %d\r\n%s\r\nPING\r\n" % (len(cfg), cfg))
buf = b""
while b"MSG _INBOX.bench" not in buf:
    buf += s.recv(65536)
PY
THE0_DATA_DIR=$data THE0_ADMIN_ADDR=$admin THE0_HEALTH_ADDR=$health THE0_INSTANCE=$inst \
  RUNTIME_IMAGE=$image RUNTIME_IMAGE_PULL_POLICY=Never DOCKER_NETWORK=none NATS_URL=$THE0_TEST_NATS_URL \
  LOG_LEVEL=INFO "$bin" serve >"$work/orch.log" 2>&1 &
orch_pid=$!
for _ in $(seq 1 100); do curl -sf "http://$health/healthz" >/dev/null && break; sleep 0.1; done
t0=$(now)
clk=$(getconf CLK_TCK)
read -r cu0 cs0 < <(awk '{print $14, $15}' "/proc/$orch_pid/stat")
python3 - "$admin" "$n" <<'PY'
import http.client, json, sys
addr, n = sys.argv[1], int(sys.argv[2])
c = http.client.HTTPConnection(addr)
for i in range(1, n + 1):
    body = json.dumps({"id": f"b{i}", "config": {"i": i}, "custom": {"filePath": "u/bench/1",
        "config": {"runtime": "gcc13", "entrypoints": {"bot": "bot.sh"}}}})
    c = http.client.HTTPConnection(addr); c.request("PUT", f"/bots/b{i}", body); c.getresponse().read()
PY
wait_count "runtime.instance=$inst" "$n" 600
t_orch=$(echo "$(now) - $t0" | bc)
read -r cu1 cs1 < <(awk '{print $14, $15}' "/proc/$orch_pid/stat")
converge_cpu=$(echo "scale=2; ($cu1 + $cs1 - $cu0 - $cs0) / $clk" | bc)
metric() { curl -s "http://$health/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
passes=$(metric the0_reconcile_duration_seconds_count)
pass_sec=$(metric the0_reconcile_duration_seconds_sum)
calls=$(metric the0_docker_call_duration_seconds_count)
# The slowest pass, bounded by a histogram (the pass's wall time, or its own CPU time): the smallest
# bucket that holds every pass.
slowest_pass() { # histogram passes
  curl -s "http://$health/metrics" | awk -v h="$1_bucket" -v total="$2" '
    index($0, h) == 1 {
      match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5)
      if ($2 + 0 >= total + 0 && found == "") found = le
    }
    END { print (found == "" ? "?" : found) }'
}

# --- 2. steady state ----------------------------------------------------------------------------
sleep 5
read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$orch_pid/stat")
sleep "$window"
read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$orch_pid/stat")
cpu=$(echo "scale=3; 100 * ($u1 + $s1 - $u0 - $s0) / $clk / $window" | bc)
all_passes=$(metric the0_reconcile_duration_seconds_count)
slowest=$(slowest_pass the0_reconcile_duration_seconds "$all_passes")
slowest_cpu=$(slowest_pass the0_reconcile_cpu_seconds "$all_passes")
pass_cpu=$(metric the0_reconcile_cpu_seconds_sum)
rss=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' "/proc/$orch_pid/status")
hwm=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$orch_pid/status")
rss_anon=$(awk '/RssAnon/ {printf "%.1f", $2/1024}' "/proc/$orch_pid/status")
rss_file=$(awk '/RssFile/ {printf "%.1f", $2/1024}' "/proc/$orch_pid/status")

# --- 4. density: what each bot costs the host -------------------------------------------------------
if [ -n "$density" ]; then
  avail_after=$(mem_avail)
  docker ps -q --filter "label=runtime.instance=$inst" | xargs -n 50 docker inspect -f '{{.State.Pid}}' >"$work/pids"
  read -r exec_n exec_pss exec_rss exec_anon shim_n shim_pss < <(python3 scripts/bench/density.py "$work/pids")
fi

# --- 3a. publish -> running -----------------------------------------------------------------------
pub_lat=$(python3 - "$THE0_TEST_NATS_URL" "$inst" <<'PY'
import json, subprocess, sys, time, socket
url, inst = sys.argv[1], sys.argv[2]
host, port = url.split("//")[1].split(":")
s = socket.create_connection((host, int(port))); s.recv(4096)
payload = json.dumps({"id": "lat1", "config": {}, "custom": {"filePath": "u/bench/1",
    "config": {"runtime": "gcc13", "entrypoints": {"bot": "bot.sh"}}}}).encode()
s.sendall(b'CONNECT {"verbose":false}\r\n')
t0 = time.time()
# JetStream stream may not exist here: core publish reaches the core fallback or the stream alike.
s.sendall(b"PUB the0.bot.created %d\r\n%s\r\nPING\r\n" % (len(payload), payload)); s.recv(4096)
while True:
    out = subprocess.run(["docker", "ps", "-q", "--filter", f"label=runtime.instance={inst}",
        "--filter", "label=runtime.id=lat1", "--filter", "status=running"], capture_output=True, text=True).stdout
    if out.strip(): break
    if time.time() - t0 > 60: print("timeout"); sys.exit()
    time.sleep(0.02)
print(f"{time.time() - t0:.3f}")
PY
)
# Docker's own create+start time for the same container, for comparison.
t0=$(now); docker run -d --label "bench=$base" --read-only --network none --user 1000:1000 "$image" >/dev/null; t_docker_start=$(echo "$(now) - $t0" | bc)

# --- 3b. crash -> restart scheduled ----------------------------------------------------------------
victim=$(docker ps -q --filter "label=runtime.instance=$inst" --filter "label=runtime.id=b7")
t_kill=$(date -u +%s.%N)
docker kill "$victim" >/dev/null
for _ in $(seq 1 200); do grep -q '"bot_id":"b7".*exited unrequested\|exited unrequested.*"bot_id":"b7"' "$work/orch.log" && break; sleep 0.05; done
t_sched=$(grep 'exited unrequested' "$work/orch.log" | grep '"bot_id":"b7"' | head -1 | python3 -c '
import json, sys, datetime
line = sys.stdin.readline()
t = json.loads(line)["time"][:26] + "+00:00"
print(datetime.datetime.fromisoformat(t).timestamp())')
crash_lat=$(echo "$t_sched - $t_kill" | bc)
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

printf '\n%-52s %s\n' "benchmark ($n bots, $(nproc) cores)" "result"
printf '%-52s %s\n' "converge from zero: xargs -P8 docker run -d" "${t_base}s"
printf '%-52s %s\n' "converge from zero: orchestrator (--max-parallel 8)" "${t_orch}s"
printf '%-52s %s\n' "ratio orchestrator / xargs (goal <= 1.1)" "$(echo "scale=2; $t_orch / $t_base" | bc)"
printf '%-52s %s\n' "  reconcile passes (total s) / Docker calls" "$passes ($pass_sec s) / $calls"
printf '%-52s %s\n' "  slowest reconcile pass: CPU (goal <= 0.2 s) / wall" "<= ${slowest_cpu}s / <= ${slowest}s (of $all_passes passes)"
printf '%-52s %s\n' "  reconcile passes' CPU in total" "${pass_cpu}s"
printf '%-52s %s\n' "  orchestrator CPU while converging (all of it)" "${converge_cpu}s"
printf '%-52s %s\n' "steady state RSS now / peak (goal <= 32 MiB)" "${rss} / ${hwm} MiB"
printf '%-52s %s\n' "  of it anonymous / file-backed (the binary's pages)" "${rss_anon} / ${rss_file} MiB"
printf '%-52s %s\n' "steady state CPU over ${window}s (goal < 2 %)" "${cpu} % of a core"
printf '%-52s %s\n' "publish -> running" "${pub_lat}s"
printf '%-52s %s\n' "  docker run -d of one container, for reference" "${t_docker_start}s"
printf '%-52s %s\n' "crash (docker kill) -> restart scheduled" "${crash_lat}s"
if [ -n "$density" ]; then
  mib() { echo "scale=2; $1 / 1024" | bc; }
  printf '%-52s %s\n' "bot program" "$bot_kind ($([ "$bot_kind" = active ] && echo 'state + a log line every second' || echo 'a shell loop that sleeps'))"
  printf '%-52s %s\n' "executors: total PSS ($exec_n containers)" "$(mib "$exec_pss") MiB"
  printf '%-52s %s\n' "executor per bot: PSS (goal <= 3.5 MiB)" "$(mib "$((exec_pss / exec_n))") MiB"
  printf '%-52s %s\n' "executor per bot: RSS / anonymous" "$(mib "$((exec_rss / exec_n))") / $(mib "$((exec_anon / exec_n))") MiB"
  printf '%-52s %s\n' "container runtime (shims): total PSS ($shim_n), per bot" "$(mib "$shim_pss") MiB, $(mib "$((shim_pss / exec_n))") MiB"
  printf '%-52s %s\n' "host memory per bot (MemAvailable drop / N)" "$(mib "$(((avail_before - avail_after) / n))") MiB"
fi
printf '%-52s %s\n' "load average before / after" "$load_before / $load_after"
