#!/usr/bin/env bash
# `make bench`: runs every scripts/bench-*.sh in turn (each prints its own table).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
status=0
for b in "$here"/scripts/bench-*.sh; do
  [ -x "$b" ] || continue
  echo "== $(basename "$b")"
  "$b" || status=1
done
exit "$status"
