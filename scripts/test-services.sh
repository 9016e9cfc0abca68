#!/usr/bin/env bash
# Starts (or stops) the real servers the tests talk to, on loopback only:
#   * moto in server mode: an S3-compatible endpoint (from PyPI, in a virtualenv)
#   * nats-server with JetStream (Debian package)
# `start` prints `export` lines for THE0_TEST_S3_ENDPOINT and THE0_TEST_NATS_URL; `stop` ends them.
# State (pids, logs) lives in $THE0_SERVICES_DIR (default: target/test-services).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${THE0_SERVICES_DIR:-$here/target/test-services}
venv=${THE0_VENV:-$here/target/venv}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_port() { # host port what
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "$3 did not start on $1:$2; see $dir" >&2
  return 1
}

start() {
  mkdir -p "$dir"
  [ -x "$venv/bin/moto_server" ] || { echo "moto is not installed in $venv (run scripts/install-deps.sh)" >&2; exit 1; }
  command -v nats-server >/dev/null || { echo "nats-server is not installed (run scripts/install-deps.sh)" >&2; exit 1; }
  local s3port natsport
  s3port=$(free_port)
  natsport=$(free_port)
  "$venv/bin/moto_server" -H 127.0.0.1 -p "$s3port" >"$dir/moto.log" 2>&1 &
  echo $! >"$dir/moto.pid"
  nats-server -a 127.0.0.1 -p "$natsport" -js -sd "$dir/jetstream" >"$dir/nats.log" 2>&1 &
  echo $! >"$dir/nats.pid"
  wait_port 127.0.0.1 "$s3port" moto >&2
  wait_port 127.0.0.1 "$natsport" nats-server >&2
  echo "export THE0_TEST_S3_ENDPOINT=127.0.0.1:$s3port"
  echo "export THE0_TEST_NATS_URL=nats://127.0.0.1:$natsport"
}

stop() {
  for name in moto nats; do
    if [ -f "$dir/$name.pid" ]; then
      kill "$(cat "$dir/$name.pid")" 2>/dev/null || true
      rm -f "$dir/$name.pid"
    fi
  done
  rm -rf "$dir/jetstream"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
