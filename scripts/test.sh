#!/usr/bin/env bash
# `make test`: every test, against real servers. Builds the static executor and the scratch test
# image (Docker tests use them), the bot images the end-to-end tests run (`make images`: offline
# Debian bases when nothing can be pulled) and the compiled examples (`make examples`), checks the
# images (scripts/test-images.sh), starts moto (S3) and nats-server (JetStream) on loopback, runs
# the whole workspace's tests with nextest (or cargo test), and stops the servers whatever happens.
#
# THE0_TEST_IMAGES=0 skips building and checking the bot images: the end-to-end tests then skip
# (outside CI; with CI=true they fail).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/build-executor.sh
scripts/build-test-image.sh
if [ "${THE0_TEST_IMAGES:-1}" != 0 ]; then
  t0=$(date +%s)
  # dotnet is not built: no test runs a .NET bot, and offline its image has no .NET runtime.
  scripts/build-images.sh python node native jvm universal
  scripts/build-examples.sh
  scripts/test-images.sh python node native jvm universal
  echo "bot images built and checked in $(($(date +%s) - t0))s"
fi
eval "$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT
export THE0_TEST_IMAGE=the0-test/executor:dev
# What moto honours of conditional writes (measured, docs/security/storage.md section 6); the
# objstore s3 tests assert exactly this. A Ceph lane sets put-if-match,put-if-none-match.
export THE0_TEST_S3_CONDITIONAL=put-if-match,put-if-none-match,complete-if-none-match
export THE0_TEST_WRAPPERS_DIR="$here/runtime-images/wrappers"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --no-fail-fast "$@"
else
  cargo test --workspace --no-fail-fast "$@"
fi
