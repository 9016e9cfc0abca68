#!/usr/bin/env bash
# The compose files, checked with the compose tool this machine has (Debian's docker-compose 1.29;
# Compose v2 as well when `docker compose` exists):
#
#   1. both files validate (`config -q`), and the full one is checked for its wiring: the
#      orchestrator on the host's network, no DOCKER_NETWORK (bots on `the0-bots`), the data dir
#      at the same path inside and out. It is not run: nats and minio cannot be pulled here.
#   2. docker-compose.standalone.yml comes up (unique project, instance, ports and data dir),
#      becomes healthy through the image's own health check, deploys examples/python-ticker with
#      `/app/runtime deploy`, sees it running on `the0-bots` with its state written to the host's
#      data dir, checks that the bot cannot reach the orchestrator's listeners, and comes down:
#      the bot is still running afterwards (D25) and is then removed, 8 containers at a time.
#
#   scripts/test-compose.sh            # builds the0/orchestrator:latest first when missing
#
# Needs the0/runtime:python (make images). A trap removes everything on failure too.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
t0=$(date +%s)
full=docker-compose.yml
standalone=docker-compose.standalone.yml
bot_image=${THE0_COMPOSE_BOT_IMAGE:-the0/runtime:python}
compose() { docker-compose "$@"; }
fail() { echo "test-compose: FAIL: $*" >&2; exit 1; }

command -v docker-compose >/dev/null || fail "docker-compose is missing (make deps installs it)"
gid=$(stat -c %g /var/run/docker.sock)

echo "== validate ($(docker-compose version --short))"
for f in "$full" "$standalone"; do
  DOCKER_GID=$gid compose -f "$f" config -q || fail "$f does not validate"
  # Without DOCKER_GID the file refuses to start and says why.
  if env -u DOCKER_GID docker-compose -f "$f" config -q 2>/dev/null; then fail "$f accepts a missing DOCKER_GID"; fi
  if docker compose version >/dev/null 2>&1; then
    DOCKER_GID=$gid docker compose -f "$f" config -q || fail "$f does not validate with Compose v2"
  fi
  echo "  $f: valid"
done
resolved=$(DOCKER_GID=$gid THE0_DATA_DIR=/srv/the0-x compose -f "$full" config)
for want in 'network_mode: host' '/srv/the0-x:/srv/the0-x' 'RUNTIME_IMAGE_PULL_POLICY: Never' "- '$gid'"; do
  grep -qF -- "$want" <<<"$resolved" || grep -qF -- "${want//\'/}" <<<"$resolved" || fail "$full: no '$want' in its resolved form"
done
if grep -q 'DOCKER_NETWORK:' <<<"$resolved"; then fail "$full sets DOCKER_NETWORK: bots would leave the0-bots"; fi
echo "  $full: orchestrator on the host network, bots on the0-bots, data dir at the same path"

echo "== up $standalone"
docker image inspect the0/orchestrator:latest >/dev/null 2>&1 || scripts/build-orchestrator-image.sh
docker image inspect "$bot_image" >/dev/null 2>&1 || fail "$bot_image is missing: run make images"

id=pack$$x$((RANDOM % 10000))
export COMPOSE_PROJECT_NAME="the0ct$id" THE0_INSTANCE="ct$id" DOCKER_GID=$gid RUNTIME_IMAGE=$bot_image
mkdir -p target
THE0_DATA_DIR=$(mktemp -d "$here/target/compose-data.XXXXXX")
export THE0_DATA_DIR
chown 1000:1000 "$THE0_DATA_DIR"
read -r admin_port health_port query_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(3)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
export THE0_ADMIN_ADDR=127.0.0.1:$admin_port THE0_HEALTH_ADDR=127.0.0.1:$health_port QUERY_SERVER_PORT=$query_port

bots() { docker ps -a -q --filter "label=runtime.instance=$THE0_INSTANCE" "$@"; }
remove_bots() { bots | xargs -r -n 8 docker rm -f >/dev/null; }
cleanup() {
  rc=$?
  if [ $rc != 0 ]; then
    echo "-- orchestrator log (last 30 lines)" >&2
    compose -f "$standalone" logs --no-color --tail 30 orchestrator >&2 2>/dev/null || true
  fi
  compose -f "$standalone" down --timeout 10 >/dev/null 2>&1 || true
  remove_bots || true
  rm -rf "$THE0_DATA_DIR"
  exit $rc
}
trap cleanup EXIT

compose -f "$standalone" up -d 2>&1 | sed 's/^/  /'
cid=$(compose -f "$standalone" ps -q orchestrator)
[ -n "$cid" ] || fail "no orchestrator container"
user=$(docker inspect -f '{{.Config.User}} groups={{.HostConfig.GroupAdd}} ro={{.HostConfig.ReadonlyRootfs}}' "$cid")
echo "  orchestrator container: user $user"
[ "$user" = "1000:1000 groups=[$gid] ro=true" ] || fail "orchestrator runs as '$user'"

# Healthy through the image's HEALTHCHECK (`/app/runtime healthcheck`; the file checks every 10 s).
health=""
for _ in $(seq 1 60); do
  health=$(docker inspect -f '{{.State.Health.Status}}' "$cid")
  [ "$health" = healthy ] && break
  [ "$(docker inspect -f '{{.State.Running}}' "$cid")" = true ] || fail "the orchestrator container exited"
  sleep 1
done
[ "$health" = healthy ] || fail "orchestrator not healthy after 60 s ($health)"
echo "  healthy (HEALTHCHECK /app/runtime healthcheck) after $(($(date +%s) - t0))s"

out=$(compose -f "$standalone" exec -T orchestrator /app/runtime deploy /bots/python-ticker) || fail "deploy: $out"
echo "  $out"
running=""
for _ in $(seq 1 60); do
  running=$(bots --filter status=running)
  [ -n "$running" ] && break
  sleep 1
done
[ -n "$running" ] || fail "python-ticker never ran: $(compose -f "$standalone" exec -T orchestrator /app/runtime list)"
compose -f "$standalone" exec -T orchestrator /app/runtime list | sed 's/^/  /'
net=$(docker inspect -f '{{range $k, $v := .NetworkSettings.Networks}}{{$k}} {{end}}' "$running")
[ "$net" = "the0-bots " ] || fail "the bot is on '$net', not the0-bots"
icc=$(docker network inspect the0-bots -f '{{index .Options "com.docker.network.bridge.enable_icc"}}')
[ "$icc" = false ] || fail "the0-bots has inter-container traffic on ($icc)"
echo "  bot $running runs on the0-bots (enable_icc=false)"

# The bot's state is written where the orchestrator mounted it from: the host's data dir.
state=""
for _ in $(seq 1 60); do
  state=$(find "$THE0_DATA_DIR/objects" -path '*python-ticker*' -type f 2>/dev/null | head -n1)
  [ -n "$state" ] && break
  sleep 1
done
[ -n "$state" ] || fail "nothing of the bot under $THE0_DATA_DIR/objects"
echo "  bot objects in the host's data dir (${state#"$THE0_DATA_DIR"/})"

# From the bot, none of the orchestrator's listeners answers (they are on the host's loopback).
probe='import socket,sys
for port in sys.argv[1:]:
    try:
        socket.create_connection(("host.docker.internal", int(port)), timeout=3).close(); print("open", port)
    except OSError: pass'
opened=$(docker exec "$running" python3 -c "$probe" "$admin_port" "$health_port" "$query_port")
[ -z "$opened" ] || fail "the bot reaches the orchestrator: $opened"
# The probe can see an open port: a listener on all of the host's addresses answers it.
read -r control_port < <(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(); time.sleep(60)' "$control_port" &
control=$!
seen=""
for _ in $(seq 1 10); do
  seen=$(docker exec "$running" python3 -c "$probe" "$control_port")
  [ -n "$seen" ] && break
  sleep 0.5
done
kill "$control" 2>/dev/null || true
wait "$control" 2>/dev/null || true
[ -n "$seen" ] || fail "the probe does not see a listener on 0.0.0.0:$control_port either: it proves nothing here"
echo "  the bot cannot reach the orchestrator's admin, health or query ports (it reaches a 0.0.0.0 listener)"

echo "== down"
compose -f "$standalone" down --timeout 30 2>&1 | sed 's/^/  /'
[ "$(docker inspect -f '{{.State.Running}}' "$running")" = true ] || fail "the bot stopped with the orchestrator (D25)"
echo "  the bot is still running after down (D25): removing it"
remove_bots
[ -z "$(bots)" ] || fail "bot containers left: $(bots)"
echo "compose checks passed in $(($(date +%s) - t0))s"
