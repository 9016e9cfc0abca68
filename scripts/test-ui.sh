#!/usr/bin/env bash
# The status page (/ui) in a real browser: starts an orchestrator (debug binary, embedded store,
# local objects, a temp data dir, ephemeral ports, its own instance label, an admin token),
# deploys the Python and the scheduled Node example, a bot that prints HTML and script in its
# log lines, a bot that crashes in a loop and a bot whose id is HTML, then loads /ui and the bot
# pages in Debian's headless Chromium (--dump-dom) and checks that every bot and its state is in
# the DOM and that no injected element exists; checks the 401 (with a Basic challenge) without
# the token, 200 with Basic and with bearer, and the stylesheet's hash in the CSP. Removes every
# container it made (8 at a time) and its temp dir.
#
#   scripts/test-ui.sh               # the test
#   scripts/test-ui.sh screenshots   # `make screenshots`: docs/images/ui.png and ui-bot.png from
#                                    # the examples/ bots (SCREENSHOT_WAIT seconds of runs, 150)
#
# Needs chromium (scripts/install-deps.sh), the test image the0-test/executor:dev and the bot
# images (the0/runtime:latest, else the per-family the0/runtime:python, :node, :native, :jvm).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
mode=${1:-test}
bin=${ORCHESTRATOR_BIN:-${CARGO_TARGET_DIR:-$here/target}/debug/orchestrator}
test_image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
command -v chromium >/dev/null || { echo "chromium is not installed (scripts/install-deps.sh)" >&2; exit 1; }
[ -x "$bin" ] || cargo build --locked -p the0-orchestrator --bin orchestrator
work=$(mktemp -d)
inst=ui$$
token=tok-$$-$RANDOM
cleanup() {
  set +e
  [ -n "${orch_pid:-}" ] && kill "$orch_pid" 2>/dev/null && wait "$orch_pid" 2>/dev/null
  ids=$(docker ps -aq --filter "label=runtime.instance=$inst")
  [ -n "$ids" ] && echo $ids | xargs -n 8 docker rm -f >/dev/null # 8 at a time: mass removal can wedge dockerd 20.10
  nets=$(docker network ls -q --filter "label=runtime.instance=$inst")
  [ -n "$nets" ] && echo $nets | xargs -n 8 docker network rm >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  tail -20 "$work/orch.log" >&2 || true
  exit 1
}
have() { docker image inspect "$1" >/dev/null 2>&1; }

# Images: the universal one, else each runtime's family image; the shell bots run on the test image.
images=()
if have the0/runtime:latest; then
  images+=(RUNTIME_IMAGE=the0/runtime:latest)
else
  for pair in PYTHON3_11:python NODEJS20:node GCC13:native SCALA3:jvm; do
    have "the0/runtime:${pair#*:}" && images+=("RUNTIME_IMAGE_${pair%%:*}=the0/runtime:${pair#*:}")
  done
fi
[ "$mode" = screenshots ] || images+=(RUNTIME_IMAGE_GCC13="$test_image")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
admin=127.0.0.1:$(free_port)
health=127.0.0.1:$(free_port)
export THE0_DATA_DIR=$work/data THE0_ADMIN_ADDR=$admin THE0_HEALTH_ADDR=$health THE0_INSTANCE=$inst
[ "$mode" = screenshots ] || export THE0_ADMIN_TOKEN=$token
env "${images[@]}" QUERY_SERVER_PORT="$(free_port)" RUNTIME_IMAGE_PULL_POLICY=Never LOG_LEVEL=WARN \
  "$bin" serve --query-bind 127.0.0.1 --stop-bots-on-shutdown >"$work/orch.log" 2>&1 &
orch_pid=$!
for _ in $(seq 1 100); do curl -sf "http://$health/healthz" >/dev/null && break; sleep 0.1; done
curl -sf "http://$health/healthz" >/dev/null || fail "the orchestrator did not start"

# A shell bot (runtime gcc13): `shell_bot ID 'script'`.
shell_bot() {
  local dir=$work/bots/$1
  mkdir -p "$dir"
  printf '#!/bin/sh\n%s\n' "$2" >"$dir/bot.sh"
  chmod +x "$dir/bot.sh"
  printf 'name: %s\nversion: 1.0.0\ntype: realtime\nruntime: gcc13\nentrypoints:\n  bot: bot.sh\n' "$1" >"$dir/bot-config.yaml"
  echo '{}' >"$dir/config.json"
  "$bin" deploy "$dir" >/dev/null
}
# A bot whose program is `ticker`/`bot.jar` is deployed only once `make examples` built it.
for dir in examples/*/; do
  [ -f "$dir/bot-config.yaml" ] || continue
  name=$(basename "$dir")
  [ "$mode" = screenshots ] || [[ "$name" = python-ticker || "$name" = node-scheduled ]] || continue
  entry=$(awk '/^entrypoints:/ { e = 1; next } e && /bot:/ { print $2; exit }' "$dir/bot-config.yaml")
  [ -e "$dir/$entry" ] || { echo "  $name: skipped ($entry is not built: make examples)"; continue; }
  "$bin" deploy "$dir" >/dev/null
done
if [ "$mode" = screenshots ]; then
  shell_bot flaky-shell 'echo "connecting to the exchange"; sleep 4; echo "lost the connection" >&2; exit 3'
else
  evil='<script>document.title="pwned"</script><img src=x onerror="document.title=1">'
  shell_bot evil-logs "echo '$evil'; echo 'plain line'; while true; do sleep 5; done"
  shell_bot crashy 'echo "crashing"; exit 3'
  # An id that is HTML: the admin API refuses it (400); a the0 event can carry it, and the ingest
  # stores it as the row written here (never run: not a safe name; shown on the pages).
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $token" -X PUT \
    "http://$admin/bots/%3Cscript%3Ealert(1)%3C%2Fscript%3E" -d '{"config":{},"custom":{}}')
  [ "$code" = 400 ] || fail "PUT of the HTML id answered $code, not 400"
  python3 - "$work/data/orchestrator.db" <<'PY' || fail "storing the HTML id as an event would"
import json, sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], timeout=5)
custom = {"filePath": "u/x/1", "config": {"runtime": "gcc13", "entrypoints": {"bot": "b.sh"}}}
with db:
    db.execute("INSERT INTO bots (id, config, custom, enabled, updated_ms) VALUES (?, '{}', ?, NULL, ?)",
               ("<script>alert(1)</script>", json.dumps(custom), int(time.time() * 1000)))
PY
fi

# The page in the browser. Credentials in the URL: Chromium sends them as HTTP Basic.
page_url() { # path
  if [ -n "${THE0_ADMIN_TOKEN:-}" ]; then echo "http://admin:$token@$admin$1"; else echo "http://$admin$1"; fi
}
chrome() { # output-flag path [height]
  timeout -k 5 90 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
    --user-data-dir="$work/chrome" --window-size=1280,"${3:-900}" "$1" "$(page_url "$2")" 2>>"$work/chrome.log"
}
get() { curl -s -H "Authorization: Bearer ${THE0_ADMIN_TOKEN:-}" "http://$admin$1"; }
wait_for() { # seconds path text: until the page (curl) contains text
  for _ in $(seq 1 $(($1 * 2))); do get "$2" | grep -qF -- "$3" && return 0; sleep 0.5; done
  return 1
}

if [ "$mode" = screenshots ]; then
  wait_for 120 /ui '>running</span>' || fail "no bot running"
  sleep "${SCREENSHOT_WAIT:-150}" # scheduled runs and crashes to draw
  mkdir -p docs/images
  chrome --screenshot="$here/docs/images/ui.png" /ui 400 # the overview of a few bots: no blank half
  chrome --screenshot="$here/docs/images/ui-bot.png" /ui/bots/node-scheduled
  ls -l docs/images/ui.png docs/images/ui-bot.png
  exit 0
fi

# The token: 401 with a Basic challenge without it (or with a wrong one), 200 with Basic or bearer.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
[ "$(code "http://$admin/ui")" = 401 ] || fail "/ui without the token is not 401"
[ "$(code -u admin:wrong "http://$admin/ui")" = 401 ] || fail "/ui with a wrong password is not 401"
curl -s -D - -o /dev/null "http://$admin/ui" | grep -qi '^www-authenticate: Basic realm="the0"' || fail "no Basic challenge"
[ "$(code -u admin:"$token" "http://$admin/ui")" = 200 ] || fail "/ui with Basic is not 200"
[ "$(code -H "Authorization: Bearer $token" "http://$admin/ui/bots/crashy")" = 200 ] || fail "bearer is not 200"
[ "$(code -u admin:"$token" "http://$admin/bots")" = 401 ] || fail "the JSON API took Basic"
# The CSP's style hash is the page's stylesheet (so the page renders styled, and nothing else).
headers=$(curl -s -D - -o "$work/ui.html" -u admin:"$token" "http://$admin/ui")
grep -qi '^content-type: text/html; charset=utf-8' <<<"$headers" || fail "content type: $headers"
css=$(python3 -c 'import re,sys; print(re.search(r"<style>(.*?)</style>", open(sys.argv[1]).read(), re.S).group(1), end="")' "$work/ui.html")
hash=$(printf '%s' "$css" | openssl dgst -sha256 -binary | base64)
grep -qiF "style-src 'sha256-$hash'" <<<"$headers" || fail "the CSP does not allow the stylesheet ($hash): $headers"

wait_for 60 /ui '>running</span>' || fail "nothing runs"
wait_for 60 /ui/bots/evil-logs 'plain line' || fail "evil-logs' lines are not on its page"
wait_for 60 /ui/bots/crashy 'backing-off' || fail "crashy is not backing off"
wait_for 90 /ui/bots/node-scheduled 'succeeded' || fail "node-scheduled has no run"

dom=$work/ui.dom
chrome --dump-dom /ui >"$dom"
for id in python-ticker node-scheduled evil-logs crashy '&lt;script&gt;alert(1)&lt;/script&gt;'; do
  grep -qF ">$id</a>" "$dom" || fail "$id is not in the DOM of /ui"
done
for state in '>running</span>' '>failed</span>'; do
  grep -qF "$state" "$dom" || fail "no $state in the DOM of /ui"
done
# crashy restarts in a loop: backing off, or starting again at the moment the page was read.
grep -qE '>(backing-off|starting)</span>' "$dom" || fail "crashy is neither backing off nor starting in the DOM"
check_inert() { # dom-file what
  grep -qi '<script' "$1" && fail "$2: a script element in the DOM"
  grep -qi '<img' "$1" && fail "$2: an img element in the DOM"
  grep -q '<title>pwned' "$1" && fail "$2: the injected script ran"
  return 0
}
check_inert "$dom" /ui
chrome --dump-dom /ui/bots/evil-logs >"$dom"
grep -qF '&lt;script&gt;document.title="pwned"&lt;/script&gt;&lt;img src=x onerror="document.title=1"&gt;' "$dom" \
  || fail "the hostile log line is not shown as text: $(grep -A3 '<pre>' "$dom")"
check_inert "$dom" /ui/bots/evil-logs
chrome --dump-dom /ui/bots/%3Cscript%3Ealert%281%29%3C%2Fscript%3E >"$dom"
grep -qF '<span class="id">&lt;script&gt;alert(1)&lt;/script&gt;</span>' "$dom" || fail "the HTML id's page"
check_inert "$dom" "the HTML id's page"
chrome --dump-dom /ui/bots/node-scheduled >"$dom"
grep -qF '<h2>recent runs</h2>' "$dom" && grep -qF '<svg class="spark"' "$dom" || fail "node-scheduled's runs and sparkline"
chrome --screenshot="$work/ui.png" /ui
[ -s "$work/ui.png" ] || fail "no screenshot"
echo "status page in Chromium: OK (bots and states in the DOM, hostile id and log line inert, 401/200)"
