#!/usr/bin/env bash
# `make run` from a fresh clone, as a user would run it: clones this repository (committed files
# only) into a temp directory, runs `make run` there, checks that every realtime example runs and
# that the Python example answers a query, then `make stop` and checks that no bot container is
# left. Prints the time from `make run` to the first bot running. CI runs it after `make test`.
#
#   scripts/test-make-run.sh        # CARGO_TARGET_DIR is shared with this checkout unless set
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
export THE0_INSTANCE=${THE0_INSTANCE:-run-ci$$}
work=$(mktemp -d)
clone=$work/the0-runtime
cleanup() {
  (cd "$clone" 2>/dev/null && scripts/run.sh stop >/dev/null 2>&1) || true
  rm -rf "$work"
}
trap cleanup EXIT
git clone -q "$here" "$clone"
cd "$clone"
t0=$(date +%s)
make run | tee "$work/run.log"
echo "make run: $(($(date +%s) - t0))s in all"

fail() { echo "FAIL: $*" >&2; dist/orchestrator list >&2 || true; exit 1; }
want=(python-ticker c-ticker jvm-ticker)
all_running() {
  running=$(dist/orchestrator list --state running | awk 'NR > 1 { print $1 }')
  for b in "${want[@]}"; do grep -qx "$b" <<<"$running" || return 1; done
}
ok=0
for _ in $(seq 1 120); do
  if all_running; then ok=1; break; fi
  sleep 0.5
done
[ $ok = 1 ] || fail "running: $(echo $running), want: ${want[*]}"
container=the0-bot-python-ticker-$THE0_INSTANCE
reply=""
for _ in $(seq 1 60); do
  reply=$(docker exec "$container" python3 -c \
    "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:9476/status', timeout=10).read().decode())" \
    2>/dev/null || true)
  case "$reply" in *'"status": "ok"'*) break ;; esac
  sleep 0.5
done
case "$reply" in *'"status": "ok"'*) echo "query /status: $reply" ;; *) fail "python-ticker /status: '$reply'" ;; esac
make stop
left=$(docker ps -aq --filter "label=runtime.instance=$THE0_INSTANCE" | wc -l)
[ "$left" = 0 ] || fail "$left containers left after make stop"
echo "make run from a fresh clone: OK ($(grep -o 'first bot running.*' "$work/run.log"))"
