#!/usr/bin/env bash
# The executor's memory inside a container after a long run (issue #17 item 2; `make bench` runs
# every scripts/bench-*.sh): an active bot (state and a log line every second, a query through the
# :9476 front every 3 s) for BENCH_MEMORY_SEC seconds (default 600; BENCH_QUICK=1: 60), beside
# tini-static running the same bot in the same kind of container; the executor's PID 1 RSS and
# anonymous memory against the goals (3.5 MiB, 1 MiB). Prints a table (also written to
# target/bench/executor-memory.md). Uses the scratch test image (THE0_TEST_IMAGE, default
# the0-test/executor:dev) and says which executor build it carries.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
seconds=${BENCH_MEMORY_SEC:-$([ "${BENCH_QUICK:-0}" = 1 ] && echo 60 || echo 600)}
docker image inspect "$image" >/dev/null 2>&1 || scripts/build-test-image.sh "$image"
out=$here/target/bench
mkdir -p "$out"
objects=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/the0-bench-mem.XXXXXX")
trap 'rm -rf "$objects"' EXIT
mkdir -p "$objects/bot-state" "$objects/bot-logs" "$objects/custom-bots"
chmod -R a+rwX "$objects"
build=$(docker image inspect -f '{{index .Config.Labels "org.the0.runtime.executor-build"}}' "$image" 2>/dev/null || true)
json=$(timeout --foreground -k 10 $((seconds + 120)) python3 scripts/bench/executor_memory.py "$image" "$objects" "$seconds")
python3 - "$json" "$build" "$image" "$seconds" <<'PY' | tee "$out/executor-memory.md"
import json, sys
r, build, image, seconds = json.loads(sys.argv[1]), sys.argv[2] or "unknown build", sys.argv[3], sys.argv[4]
mib = lambda kib: kib / 1024
e, t = r["executor"], r["tini"]
print(f"executor in {image} ({build}); {seconds} s; active bot; queries answered {r['answered']}/{r['queries']}; "
      f"bot still ticking at the end: {r['bot_still_ticking']}")
print()
print("| PID 1 at the end of the run | executor | tini-static (peer) | ratio | goal | met |")
print("|---|---|---|---|---|---|")
rows = [("RSS", e["last"]["rss"], t["last"]["rss"], 3.5), ("anonymous", e["last"]["anon"], t["last"]["anon"], 1.0),
        ("PSS", e["last"]["pss"], t["last"]["pss"], None),
        ("largest RSS over the run", e["max_rss"], t["max_rss"], 3.5),
        ("largest anonymous over the run", e["max_anon"], t["max_anon"], 1.0)]
for label, ours, peer, goal in rows:
    ratio = f"×{ours / peer:.1f}" if peer else "—"
    met = "—" if goal is None else ("yes" if mib(ours) <= goal else "NO")
    print(f"| {label} | {mib(ours):.2f} MiB | {mib(peer):.2f} MiB | {ratio} | {'≤ %.1f MiB' % goal if goal else '—'} | {met} |")
print(f"\n{e['samples']} readings of each PID 1's /proc/<pid>/smaps_rollup, every 30 s.")
PY
