#!/usr/bin/env bash
# Runs the workspace's tests with the given arguments, every test even after a failure: with
# cargo-nextest when it is installed (parallel processes, per-test timing), else with cargo test.
# Used by scripts/test.sh and scripts/test-gvisor.sh.
set -euo pipefail
if cargo nextest --version >/dev/null 2>&1; then
  exec cargo nextest run --no-fail-fast "$@"
else
  exec cargo test --no-fail-fast "$@"
fi
