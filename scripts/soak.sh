#!/bin/sh
# The kill -9 convergence soak: kill the orchestrator at a random moment while it converges 50
# bots, restart it, check that exactly 50 run, none twice, none killed. SOAK_REPS repetitions
# (20 by default); one summary line per repetition and a total. Needs THE0_TEST_IMAGE (the
# scratch test image: scripts/build-test-image.sh).
set -eu
cd "$(dirname "$0")/.."
: "${THE0_TEST_IMAGE:?build the test image (scripts/build-test-image.sh) and set THE0_TEST_IMAGE}"
THE0_CONVERGE_REPS=${SOAK_REPS:-20} exec cargo test -p the0-orchestrator --test converge_kill9 -- --nocapture
