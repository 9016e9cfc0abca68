#!/usr/bin/env bash
# Makes sure a Docker engine answers: tests and `make run` need one. If `docker info` fails, start
# the engine (the init script, else dockerd directly, detached) and wait for it, bounded.
set -euo pipefail
if timeout 10 docker info >/dev/null 2>&1; then
  exit 0
fi
command -v dockerd >/dev/null || { echo "no Docker engine installed (dockerd not found)" >&2; exit 1; }
echo "Docker engine not answering; starting it" >&2
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
$sudo_cmd service docker start >/dev/null 2>&1 || true
for _ in $(seq 1 15); do timeout 5 docker info >/dev/null 2>&1 && exit 0; sleep 1; done
if ! pgrep -x dockerd >/dev/null; then
  $sudo_cmd setsid nohup dockerd >/tmp/dockerd.log 2>&1 </dev/null &
fi
for _ in $(seq 1 60); do timeout 5 docker info >/dev/null 2>&1 && exit 0; sleep 1; done
echo "the Docker engine did not come up; see /tmp/dockerd.log" >&2
exit 1
