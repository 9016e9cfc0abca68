#!/usr/bin/env bash
# The price of gVisor (issue #16; `make bench` runs every scripts/bench-*.sh, `make bench-gvisor`
# this one): container start to bot running, the executor's start overhead, the :9476 front's
# latency and the host memory per bot, under runsc against the engine's default runtime, as a
# table (also written to target/bench/gvisor.md). Uses the scratch test image (THE0_TEST_IMAGE,
# default the0-test/executor:dev; built from dist/runtime when missing). Skips, saying why,
# where runsc cannot be registered (scripts/gvisor.sh). BENCH_QUICK=1: fewer runs.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
image=${THE0_TEST_IMAGE:-the0-test/executor:dev}
rc=0
scripts/gvisor.sh register || rc=$?
if [ "$rc" = 3 ]; then
  echo "bench-gvisor SKIPPED: runsc cannot be registered with this engine (see above)"
  exit 0
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi
docker image inspect "$image" >/dev/null 2>&1 || scripts/build-test-image.sh "$image"
out=$here/target/bench
mkdir -p "$out"
objects=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/the0-bench-gv.XXXXXX")
trap 'rm -rf "$objects"' EXIT
mkdir -p "$objects/bot-state" "$objects/bot-logs" "$objects/custom-bots"
chmod -R a+rwX "$objects"
quick=()
[ "${BENCH_QUICK:-0}" = 1 ] && quick=(--quick)
# musl static, or the static glibc fallback of scripts/build-executor.sh (its only two outputs).
build="glibc static fallback"
cmp -s dist/runtime "${CARGO_TARGET_DIR:-target}/x86_64-unknown-linux-musl/release/runtime" && build="musl static"
{
  echo "gVisor: $(runsc --version | head -1), platform ptrace (runsc's default; runtimeArgs --network=host)"
  echo "executor: dist/runtime ($build), image $image"
  echo "host: $(nproc) cores, $(uname -r), $(docker version --format '{{.Server.Version}}') engine"
  echo
  timeout --foreground -k 10 "${BENCH_BOUND:-900}" python3 scripts/bench/gvisor.py "$image" "$objects" "${quick[@]}" \
    2>"$out/gvisor.json"
} | tee "$out/gvisor.md"
