#!/usr/bin/env bash
# deploy/systemd/the0-orchestrator.service verifies: `systemd-analyze verify` (Debian's systemd)
# in a scratch root holding the unit, the static orchestrator at its ExecStart path and the
# machine's own system units (so its After=/Wants= resolve), with no warning at all (a misspelt
# value is only a warning to verify, so any output fails). A copy with a broken directive must
# fail the same way, or the check proves nothing. Prints the unit's exposure score
# (`systemd-analyze security --offline=yes`).
#
# systemd need not be running: nothing is started, only files are read.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
unit=deploy/systemd/the0-orchestrator.service
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is missing (make deps installs systemd)" >&2; exit 1; }
[ -x dist/orchestrator-static ] || scripts/build-orchestrator-image.sh >/dev/null
exec_path=$(sed -n 's/^ExecStart=\([^ ]*\).*/\1/p' "$unit")

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
install -D -m 0755 dist/orchestrator-static "$root$exec_path"
mkdir -p "$root/usr/lib/systemd" "$root/etc/systemd/system"
cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
verify() { # verify NAME: rc 0 and not a line of output
  local out
  out=$(systemd-analyze --root="$root" verify "/etc/systemd/system/$1" 2>&1) && [ -z "$out" ] || {
    echo "$out"
    return 1
  }
}
install -m 0644 "$unit" "$root/etc/systemd/system/the0-orchestrator.service"
verify the0-orchestrator.service || { echo "check-systemd: FAIL: $unit does not verify" >&2; exit 1; }
sed 's/^ProtectSystem=strict/ProtectSystem=bogus/' "$unit" >"$root/etc/systemd/system/the0-broken.service"
if verify the0-broken.service >/dev/null; then
  echo "check-systemd: FAIL: a unit with ProtectSystem=bogus verifies too: the check proves nothing" >&2
  exit 1
fi
score=$(systemd-analyze --root="$root" security --offline=yes /etc/systemd/system/the0-orchestrator.service 2>&1 |
  sed -n 's/.*Overall exposure level for [^:]*: //p')
echo "$unit: systemd-analyze verify passes (systemd $(systemd-analyze --version | sed -n '1s/^systemd \([0-9]*\).*/\1/p')); a broken copy fails; exposure ${score:-?}"
