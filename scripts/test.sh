#!/usr/bin/env bash
# `make test`: every test, against real servers. Builds the static executor and the scratch test
# image (Docker tests use them), the bot images the end-to-end tests run (`make images`: offline
# Debian bases when nothing can be pulled) and the compiled examples (`make examples`), checks the
# images (scripts/test-images.sh), starts moto (S3), nats-server (JetStream) and Ceph's S3 gateway
# (scripts/ceph-s3.sh) on loopback, runs the whole workspace's tests with nextest (or cargo test),
# then the S3 tests a second time against Ceph, the OpenAPI lane (schemathesis), the dashboard lane
# (Prometheus), the status page lane (Chromium), the deploy lane (orchestrator image, compose files,
# systemd unit), then the gVisor lane (scripts/test-gvisor.sh), and stops the servers whatever
# happens.
#
# THE0_TEST_IMAGES=0 skips building and checking the bot images: the end-to-end tests then skip
# (outside CI; with CI=true they fail). THE0_TEST_CEPH=0 skips Ceph's lane (outside CI only; the
# *_ceph tests then fail, saying the gateway is missing).
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
trap 'scripts/test-services.sh stop; scripts/ceph-s3.sh stop' EXIT
eval "$(scripts/test-services.sh start)"
if [ "${THE0_TEST_CEPH:-1}" != 0 ]; then
  scripts/ceph-s3.sh stop # daemons an interrupted earlier run left behind
  # On all addresses: bot containers of the scoped-credential tests reach it through
  # host.docker.internal. No auth is turned on, so only on a test machine.
  eval "$(THE0_CEPH_BIND=0.0.0.0 scripts/ceph-s3.sh start)"
fi
export THE0_TEST_IMAGE=the0-test/executor:dev
# What moto honours of conditional writes (measured, docs/security/storage.md section 6); the
# objstore s3 tests assert exactly this. A Ceph lane sets put-if-match,put-if-none-match.
export THE0_TEST_S3_CONDITIONAL=put-if-match,put-if-none-match,complete-if-none-match
export THE0_TEST_WRAPPERS_DIR="$here/runtime-images/wrappers"
rc=0
# Everything, with moto as the S3 server (tests named *_ceph use the gateway's own variables).
scripts/run-tests.sh --workspace "$@" || rc=$?
# The Ceph lane: the storage, state and log tests again, against a server that checks signatures
# and policies (moto checks neither). THE0_TEST_CEPH=0 skips it (outside CI only).
if [ -n "${THE0_TEST_CEPH_ENDPOINT:-}" ] && [ $# -eq 0 ]; then
  echo "== the S3 tests against Ceph's gateway ($THE0_TEST_CEPH_ENDPOINT)"
  t0=$(date +%s)
  (
    export THE0_TEST_S3_ENDPOINT="$THE0_TEST_CEPH_ENDPOINT" THE0_TEST_S3_ACCESS_KEY="$THE0_TEST_CEPH_ACCESS_KEY" \
      THE0_TEST_S3_SECRET_KEY="$THE0_TEST_CEPH_SECRET_KEY" THE0_TEST_S3_REGION="$THE0_TEST_CEPH_REGION" \
      THE0_TEST_S3_CONDITIONAL=put-if-match,put-if-none-match
    # --workspace with test names, not -p: see scripts/test-gvisor.sh (no second dependency build).
    scripts/run-tests.sh --workspace --test s3 --test state_s3 --test state_incremental --test logs_shipper_s3
  ) || rc=$?
  echo "Ceph lane done in $(($(date +%s) - t0))s"
elif [ "${CI:-}" = true ] && [ "${THE0_TEST_CEPH:-1}" = 0 ]; then
  echo "THE0_TEST_CEPH=0 is not allowed in CI: the Ceph lane is part of the tests" >&2
  rc=1
fi
# The OpenAPI lane: schemathesis against a running orchestrator's admin API and :9477, from the
# documents in orchestrator/openapi/ (scripts/test-openapi.sh; bounded examples per operation).
if [ $# -eq 0 ]; then
  echo "== OpenAPI: schemathesis against the admin API and :9477"
  scripts/test-openapi.sh || rc=$?
fi
# The dashboard lane: every panel's PromQL of deploy/grafana/the0-runtime.json run against a real
# Prometheus scraping a running orchestrator with bots in every state (scripts/test-dashboard.sh).
if [ $# -eq 0 ]; then
  echo "== Grafana dashboard: its PromQL against a real Prometheus"
  scripts/test-dashboard.sh || rc=$?
fi
# The status page lane: /ui and a bot's page loaded in headless Chromium against real bots (ids and
# log lines with HTML in them stay text; 401 without the token), scripts/test-ui.sh.
if [ "${THE0_TEST_IMAGES:-1}" != 0 ] && [ $# -eq 0 ]; then
  echo "== status page: /ui in headless Chromium"
  scripts/test-ui.sh || rc=$?
fi
# The deploy lane: the orchestrator image (rebuilt: the0/orchestrator:latest carries this tree),
# both compose files validated and the standalone one brought up with an example bot and down
# (scripts/test-compose.sh), and the systemd unit verified (scripts/check-systemd.sh). It needs
# the bot images; THE0_TEST_DEPLOY=0 skips it.
if [ "${THE0_TEST_DEPLOY:-1}" != 0 ] && [ "${THE0_TEST_IMAGES:-1}" != 0 ] && [ $# -eq 0 ]; then
  echo "== deploy: orchestrator image, compose files, systemd unit"
  { scripts/build-orchestrator-image.sh && scripts/test-compose.sh && scripts/check-systemd.sh; } || rc=$?
fi
# The gVisor lane: the executor's Docker tests and the hostile-bot tests again under runsc
# (scripts/test-gvisor.sh; it skips, with a message, where runsc cannot be registered).
# THE0_TEST_GVISOR=0 skips it.
if [ "${THE0_TEST_GVISOR:-1}" != 0 ] && [ $# -eq 0 ]; then
  scripts/test-gvisor.sh || rc=$?
fi
exit "$rc"
