#!/usr/bin/env bash
# The gap of an update of a realtime bot (issue #15): the time no bot process of the bot runs,
# with the update handover (`--update-handover on`, the default) against the old stop-then-start
# path (`off`), on the same bot and state (1 MiB code zip, 10 MiB state), alternating, local
# storage, `--network none`. Goals: the handover's gap <= the old container's final sync + the
# state restore + 100 ms, and <= half the old path's gap. BENCH_UPDATE_ROUNDS (default 3) updates
# of each. Uses dist/orchestrator (ORCHESTRATOR_BIN: another build) and the test image
# (THE0_TEST_IMAGE, built from dist/runtime if absent: it needs an executor with `runtime release`).
# Every container it starts is removed.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
rounds=${BENCH_UPDATE_ROUNDS:-3}
[ -n "${BENCH_QUICK:-}" ] && rounds=1
if ! docker image inspect "$image" >/dev/null 2>&1; then
  [ -x dist/runtime ] || scripts/build-executor.sh
  scripts/build-test-image.sh "$image"
fi
bin=${ORCHESTRATOR_BIN:-$here/dist/orchestrator}
[ -x "$bin" ] || scripts/build-orchestrator.sh
inst="gap$$"
work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/update-gap.XXXXXX")
cleanup() {
  docker ps -aq --filter "label=runtime.instance=$inst" | xargs -r -n 8 docker rm -f >/dev/null 2>&1 || true
  rm -rf "$work" 2>/dev/null || docker run --rm -v "$work:/w" --entrypoint /bin/rm "$image" -rf /w/data >/dev/null 2>&1 || true
  rm -rf "$work" 2>/dev/null || true
}
trap cleanup EXIT
python3 scripts/bench/update_gap.py "$(realpath "$bin")" "$image" "$work" "$rounds" "$inst"
