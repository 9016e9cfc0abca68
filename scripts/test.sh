#!/usr/bin/env bash
# `make test`: every test, against real servers. Builds the static executor and the scratch test
# image (Docker tests use them), starts moto (S3) and nats-server (JetStream) on loopback, runs the
# whole workspace's tests with nextest (or cargo test), and stops the servers whatever happens.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/build-executor.sh
scripts/build-test-image.sh
eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT
export THE0_TEST_IMAGE=the0-test/executor:dev
export THE0_TEST_WRAPPERS_DIR="$here/runtime-images/wrappers"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
