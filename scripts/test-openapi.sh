#!/usr/bin/env bash
# The admin API and the :9477 query API against their OpenAPI documents (issue #13 item 2):
# schemathesis (PyPI, in the venv) sends generated requests to a running orchestrator (`serve`,
# embedded store, local objects) and fails on a 5xx that the document does not declare, a
# response that contradicts its schema or status codes, or a request that hangs. Bounded: at most
# OPENAPI_EXAMPLES (default 20) examples per operation and OPENAPI_MAX_TIME seconds per API; a
# valid :9477 query of a scheduled bot may start a container, so the orchestrator runs with its
# own instance label and every container with it is removed at the end (8 at a time).
# Needs the orchestrator binary (ORCHESTRATOR_BIN, default: the debug build) and the test image.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv=${THE0_VENV:-$here/target/venv}
bin=${ORCHESTRATOR_BIN:-${CARGO_TARGET_DIR:-$here/target}/debug/orchestrator}
image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
examples=${OPENAPI_EXAMPLES:-20}
max_time=${OPENAPI_MAX_TIME:-300}  # the bound of each run, with the timeout command
[ -x "$venv/bin/schemathesis" ] || { echo "schemathesis is not installed in $venv (scripts/install-deps.sh)" >&2; exit 1; }
[ -x "$bin" ] || cargo build --locked -p the0-orchestrator --bin orchestrator
work=$(mktemp -d)
inst=openapi$$
cleanup() {
  set +e
  [ -n "${orch_pid:-}" ] && kill "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null
  ids=$(docker ps -aq --filter "label=runtime.instance=$inst")
  [ -n "$ids" ] && echo $ids | xargs -n 8 docker rm -f >/dev/null  # 8 at a time: mass removal can wedge dockerd 20.10
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
admin=127.0.0.1:$(free_port)
health=127.0.0.1:$(free_port)
qport=$(free_port)
THE0_DATA_DIR=$work/data THE0_ADMIN_ADDR=$admin THE0_HEALTH_ADDR=$health QUERY_SERVER_PORT=$qport \
  THE0_INSTANCE=$inst RUNTIME_IMAGE=$image RUNTIME_IMAGE_PULL_POLICY=Never LOG_LEVEL=WARN \
  "$bin" serve >"$work/orch.log" 2>&1 &
orch_pid=$!
for _ in $(seq 1 100); do curl -sf "http://$health/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://$health/healthz" >/dev/null || { cat "$work/orch.log" >&2; echo "the orchestrator did not start" >&2; exit 1; }
# One realtime and one scheduled bot, so that ids the documents give as examples exist.
mkdir -p "$work/data/objects/custom-bots/u/openapi"
python3 - "$work/data/objects/custom-bots/u/openapi/1" <<'PY'
import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], "w")
i = zipfile.ZipInfo("bot.sh"); i.external_attr = 0o755 << 16
z.writestr(i, "#!/bin/sh\nwhile true; do sleep 5; done\n"); z.close()
PY
for b in rt:'{}' sched:'{"schedule":"0 0 1 1 *"}'; do
  id=${b%%:*} cfg=${b#*:}
  curl -sf -X PUT "http://$admin/bots/openapi-$id" -d '{"id":"openapi-'"$id"'","config":'"$cfg"',"custom":{"filePath":"u/openapi/1","config":{"runtime":"gcc13","entrypoints":{"bot":"bot.sh"}}}}' >/dev/null
done
checks=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance
rc=0
run() { # name schema-url base-url
  echo "== schemathesis: $1 ($2, at most $examples examples per operation)"
  timeout -k 10 $((max_time + 60)) "$venv/bin/schemathesis" run "$2" --url "$3" --checks "$checks" \
    --max-examples "$examples" --request-timeout 40 --workers 1 --seed 1 \
    --no-color --suppress-health-check all || rc=1
}
run "admin API" "http://$admin/openapi.json" "http://$admin"
run ":9477 query API" "http://$admin/openapi/query.json" "http://127.0.0.1:$qport"
if [ "$rc" != 0 ]; then
  echo "== orchestrator log (last 40 lines)"; tail -40 "$work/orch.log"
fi
exit "$rc"
