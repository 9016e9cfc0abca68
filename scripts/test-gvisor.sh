#!/usr/bin/env bash
# The gVisor lane (docs/security/gvisor.md): the executor's Docker tests and the hostile-bot tests
# again, with every bot container under gVisor's runsc (THE0_TEST_BOT_RUNTIME=runsc: the executor
# tests pass `docker run --runtime runsc`, the orchestrator tests `--bot-runtime runsc`).
# scripts/test.sh runs it after the main pass; alone it needs THE0_TEST_IMAGE (the scratch test
# image). Where runsc cannot be registered with the running engine (scripts/gvisor.sh exits 3)
# the lane says so and exits 0: that alone never fails a run. Extra arguments go to the test runner.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
: "${THE0_TEST_IMAGE:?THE0_TEST_IMAGE is not set (scripts/build-test-image.sh builds it)}"
rc=0
scripts/gvisor.sh register || rc=$?
if [ "$rc" = 3 ]; then
  echo "== gVisor lane SKIPPED: runsc cannot be registered with this engine (see above)"
  exit 0
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi
export THE0_TEST_BOT_RUNTIME=runsc
executor_tests=(docker docker_harden docker_query)
orchestrator_tests=(bot_limits bot_isolation hostile_query_result)
echo "== gVisor lane ($(runsc --version 2>/dev/null | head -1), platform ptrace): the0-executor ${executor_tests[*]}; the0-orchestrator ${orchestrator_tests[*]}"
t0=$(date +%s)
rc=0
# --workspace with test names, not -p: a single package resolves its dependencies' features apart
# from the workspace and so rebuilds them (bytes, syn, ...), a second copy of the dependency tree on
# disk; with --workspace the main pass's build is reused.
scripts/run-tests.sh --workspace $(printf -- '--test %s ' "${executor_tests[@]}" "${orchestrator_tests[@]}") "$@" || rc=$?
echo "== gVisor lane done in $(($(date +%s) - t0))s (rc=$rc)"
exit "$rc"
