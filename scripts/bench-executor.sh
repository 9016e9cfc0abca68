#!/usr/bin/env bash
# The executor's benchmarks (issue #2; `make bench` runs every scripts/bench-*.sh), printed as a table and written to
# target/bench/results.md. Every figure is paired with a peer run in the same session (tini-static;
# tar -cz | rclone rcat), alternating the two, so the load of a shared machine cancels out.
#   BENCH_QUICK=1   small data and few repetitions (a smoke run, under 2 minutes)
#   BENCH_TMP=DIR   where the scratch data goes (default: $TMPDIR or /tmp; the full run needs ~1.1 GiB)
#   BENCH_RUNTIME=F the executor binary to measure (default dist/runtime), e.g. an older build to
#                   compare against with the same benchmark code
#   BENCH_BOUND=S   time bound in seconds (default 840, quick 110); on expiry the table so far is
#                   still written, with the cut benchmark as an error row, and the exit code is 124
# Starts moto (S3) for the run, and s3s-fs (a second S3 server, in Rust, objects in files, for 3b;
# built once from crates.io into target/tools), stops them
# and removes the scratch data, whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
venv=${THE0_VENV:-$here/target/venv}
quick=${BENCH_QUICK:-0}
out=$here/target/bench
runtime=${BENCH_RUNTIME:-$here/dist/runtime}

[ -x "$runtime" ] || { echo "$runtime missing: run make executor" >&2; exit 1; }
for tool in tini-static rclone tar gzip; do
  command -v "$tool" >/dev/null || { echo "$tool is not installed (run scripts/install-deps.sh)" >&2; exit 1; }
done
[ -x "$venv/bin/python3" ] || { echo "no virtualenv at $venv (run scripts/install-deps.sh)" >&2; exit 1; }

mkdir -p "$out"
work=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/the0-bench.XXXXXX")
# Our own services directory, so a `make test` in this tree keeps its servers.
export THE0_SERVICES_DIR=$out/services
export THE0_VENV=$venv PYTHONDONTWRITEBYTECODE=1
s3s_pid=
cleanup() {
  scripts/test-services.sh stop || true
  [ -z "$s3s_pid" ] || kill "$s3s_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

eval "$(scripts/test-services.sh start)"
s3s=$here/target/tools/bin/s3s-fs
if [ ! -x "$s3s" ]; then
  echo "building s3s-fs 0.14.1 into target/tools (once)" >&2
  cargo install --quiet --root "$here/target/tools" --version 0.14.1 --features binary s3s-fs \
    || echo "s3s-fs could not be built; 3b runs against moto only" >&2
fi
fast=()
if [ -x "$s3s" ]; then
  port=$("$venv/bin/python3" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$work/s3s-root"
  "$s3s" --host 127.0.0.1 --port "$port" --access-key bench --secret-key bench "$work/s3s-root" \
    >"$out/s3s-fs.log" 2>&1 &
  s3s_pid=$!
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  fast=(--s3-fast "127.0.0.1:$port")
fi
if [ "$quick" = 1 ]; then bound=110; mode=--quick; else bound=840; mode=; fi
bound=${BENCH_BOUND:-$bound}
# The whole run is bounded: the driver gets SIGTERM (and kills what it started) after $bound s.
timeout --foreground -k 10 "$bound" "$venv/bin/python3" scripts/bench/run.py $mode \
  --runtime "$runtime" --tini "$(command -v tini-static)" --work "$work" \
  --out "$out/results.md" --s3 "$THE0_TEST_S3_ENDPOINT" --services-dir "$THE0_SERVICES_DIR" "${fast[@]}"
