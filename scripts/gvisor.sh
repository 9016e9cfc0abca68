#!/usr/bin/env bash
# gVisor's `runsc` as a Docker runtime for bot containers (docs/security/gvisor.md).
#
#   scripts/gvisor.sh register   merge {"runtimes": {"runsc": …}} into /etc/docker/daemon.json
#                                (every other key kept) and SIGHUP dockerd, which reloads runtimes;
#                                the engine is NEVER restarted. Exit 0 when `docker info` lists
#                                runsc afterwards, 3 (with a message saying why) when it cannot be
#                                registered here: callers skip the gVisor lane on 3.
#   scripts/gvisor.sh check      exit 0 when the engine lists runsc, 3 otherwise.
#
# runsc runs with --network=host: gVisor's own network stack refuses to start in the host's root
# network namespace on these machines; with it, gVisor passes socket calls to the host kernel's
# stack inside the container's own (Docker's) network namespace.
set -euo pipefail
RUNSC=${THE0_RUNSC:-/usr/bin/runsc}
DAEMON_JSON=${THE0_DOCKER_DAEMON_JSON:-/etc/docker/daemon.json}
skip() { echo "gvisor: cannot register runsc: $*" >&2; exit 3; }

listed() { timeout 10 docker info --format '{{json .Runtimes}}' 2>/dev/null | grep -q '"runsc"'; }

case "${1:-}" in
check)
  if listed; then echo "gvisor: the engine lists runsc"; exit 0; fi
  echo "gvisor: the engine does not list runsc (scripts/gvisor.sh register)" >&2
  exit 3
  ;;
register) ;;
*) echo "usage: $0 register|check" >&2; exit 2 ;;
esac

[ -x "$RUNSC" ] || skip "$RUNSC is missing (THE0_GVISOR=1 scripts/install-deps.sh installs Debian's runsc)"
timeout 10 docker info >/dev/null 2>&1 || skip "no Docker engine answers"
if listed; then echo "gvisor: runsc already registered"; exit 0; fi
sudo_cmd=""
[ "$(id -u)" -eq 0 ] || sudo_cmd="sudo -n"
pid=$(pidof dockerd 2>/dev/null | awk '{print $1}') || true
[ -n "$pid" ] || skip "no dockerd process on this machine (a remote or rootless engine cannot be reconfigured here)"
command -v python3 >/dev/null || skip "python3 is needed to merge $DAEMON_JSON"

# Merge, keeping every key the file has; write through a temporary file, then move it in place.
tmp=$(mktemp)
trap 'rm -f "$tmp" "$tmp.in"' EXIT
if [ -e "$DAEMON_JSON" ]; then
  $sudo_cmd cat "$DAEMON_JSON" >"$tmp.in" || skip "cannot read $DAEMON_JSON"
else
  echo '{}' >"$tmp.in"
fi
python3 - "$tmp.in" "$tmp" "$RUNSC" <<'PY' || { rm -f "$tmp.in"; skip "$DAEMON_JSON is not a JSON object"; }
import json, sys
src, dst, runsc = sys.argv[1:4]
text = open(src).read().strip() or "{}"
cfg = json.loads(text)
if not isinstance(cfg, dict):
    sys.exit(1)
cfg.setdefault("runtimes", {})["runsc"] = {"path": runsc, "runtimeArgs": ["--network=host"]}
with open(dst, "w") as f:
    json.dump(cfg, f, indent=2)
    f.write("\n")
PY
rm -f "$tmp.in"
$sudo_cmd mkdir -p "$(dirname "$DAEMON_JSON")" || skip "cannot write $DAEMON_JSON"
[ -f "$DAEMON_JSON" ] && { $sudo_cmd cp "$DAEMON_JSON" "$DAEMON_JSON.bak-the0" || skip "cannot back up $DAEMON_JSON"; }
$sudo_cmd cp "$tmp" "$DAEMON_JSON" || skip "cannot write $DAEMON_JSON"
$sudo_cmd kill -HUP "$pid" || skip "cannot signal dockerd (pid $pid)"
for _ in $(seq 1 20); do
  if listed; then echo "gvisor: runsc registered ($RUNSC --network=host)"; exit 0; fi
  sleep 0.5
done
skip "dockerd reloaded $DAEMON_JSON but does not list runsc (see its log)"
