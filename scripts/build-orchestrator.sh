#!/usr/bin/env bash
# Builds the host binary to dist/orchestrator (release by default; THE0_PROFILE=debug copies a
# debug build instead, for machines where a release build is too slow). rustls + ring only.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
mkdir -p dist
if [ "${THE0_PROFILE:-release}" = debug ]; then
  cargo build --locked -p the0-orchestrator --bin orchestrator
  out=${CARGO_TARGET_DIR:-target}/debug/orchestrator
else
  cargo build --release --locked -p the0-orchestrator --bin orchestrator
  out=${CARGO_TARGET_DIR:-target}/release/orchestrator
fi
cp "$out" dist/orchestrator.tmp && mv dist/orchestrator.tmp dist/orchestrator
ls -l dist/orchestrator | awk '{printf "dist/orchestrator: %.2f MiB ('"${THE0_PROFILE:-release}"')\n", $5/1048576}'
