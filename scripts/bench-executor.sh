#!/usr/bin/env bash
# The executor's benchmarks (issue #2; `make bench` runs every scripts/bench-*.sh), printed as a table and written to
# target/bench/results.md. Every figure is paired with a peer run in the same session (tini-static;
# tar -cz | rclone rcat), alternating the two, so the load of a shared machine cancels out.
#   BENCH_QUICK=1   small data and few repetitions (a smoke run, under 2 minutes)
#   BENCH_TMP=DIR   where the scratch data goes (default: $TMPDIR or /tmp; the full run needs ~1.1 GiB)
#   BENCH_BOUND=S   time bound in seconds (default 840, quick 110); on expiry the table so far is
#                   still written, with the cut benchmark as an error row, and the exit code is 124
# Starts moto (S3) for the run and stops it, and removes the scratch data, whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv=${THE0_VENV:-$here/target/venv}
quick=${BENCH_QUICK:-0}
out=$here/target/bench
runtime=$here/dist/runtime

[ -x "$runtime" ] || { echo "dist/runtime missing: run make executor" >&2; exit 1; }
for tool in tini-static rclone tar gzip; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (run scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$venv/bin/python3" ] || { echo "no virtualenv at $venv (run scripts/install-deps.sh)" >&2; exit 1; }

mkdir -p "$out"
work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/the0-bench.XXXXXX")
# Our own services directory, so a `make test` in this tree keeps its servers.
export THE0_SERVICES_DIR=$out/services
export THE0_VENV=$venv PYTHONDONTWRITEBYTECODE=1
cleanup() {
  scripts/test-services.sh stop || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eval "$(scripts/test-services.sh start)"
if [ "$quick" = 1 ]; then bound=110; mode=--quick; else bound=840; mode=; fi
bound=${BENCH_BOUND:-$bound}
# The whole run is bounded: the driver gets SIGTERM (and kills what it started) after $bound s.
timeout --foreground -k 10 "$bound" "$venv/bin/python3" scripts/bench/run.py $mode \
  --runtime "$runtime" --tini "$(command -v tini-static)" --work "$work" \
  --out "$out/results.md" --s3 "$THE0_TEST_S3_ENDPOINT" --services-dir "$THE0_SERVICES_DIR"
