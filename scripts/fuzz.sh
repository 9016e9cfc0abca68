#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser of outside input (fuzz/, docs/fuzzing.md), with cargo fuzz
# (libFuzzer) on the stable toolchain through RUSTC_BOOTSTRAP=1.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [--keep] [TARGET...]
#
# Builds all targets once, then runs each (all, or those named) for SECONDS_PER_TARGET (default 60)
# on the corpus in fuzz/corpus/<target>/. SECONDS_PER_TARGET 0 replays the corpus only: every
# committed input once, no new input, so the result depends on the code alone (what CI runs:
# `make fuzz-ci`); discovery, which is random, is `make fuzz`. New inputs go to a scratch directory; with --keep, those
# that add coverage are merged into fuzz/corpus/<target>/ (commit them). A crash, a failed safety
# assertion, a timeout or an out-of-memory fails the script, naming the artifact to reproduce with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -s none <target> <artifact>
# Environment: THE0_FUZZ_SANITIZER (none; `address` for ASan, a slower build and run),
# THE0_FUZZ_RSS_MB (2048), THE0_FUZZ_JOBS (1 process per target).
set -euo pipefail
cd "$(dirname "$0")/.."

secs=60
keep=0
targets=()
for a in "$@"; do
  case "$a" in
    --keep) keep=1 ;;
    ''|*[!0-9]*) targets+=("$a") ;;
    *) secs="$a" ;;
  esac
done

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "fuzz: cargo-fuzz is missing; scripts/install-deps.sh installs it (cargo install cargo-fuzz --locked)" >&2
  exit 2
fi
export RUSTC_BOOTSTRAP=1
sanitizer="${THE0_FUZZ_SANITIZER:-none}"
rss="${THE0_FUZZ_RSS_MB:-2048}"
jobs="${THE0_FUZZ_JOBS:-1}"
# One flag set for build and run, so `run` reuses the build instead of rebuilding.
flags=(--fuzz-dir fuzz -s "$sanitizer" --debug-assertions)
# -jobs makes libFuzzer send each worker's output to a file of its own: only when asked for.
parallel=()
if [ "$jobs" -gt 1 ]; then parallel=(-jobs="$jobs" -workers="$jobs"); fi

if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi

t0=$(date +%s)
cargo fuzz build "${flags[@]}"
echo "fuzz: built ${#targets[@]} targets in $(( $(date +%s) - t0 ))s"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts" "$scratch/$t"
  if [ "$secs" = 0 ]; then
    echo "fuzz: $t, replaying its $(ls "$corpus" | wc -l) corpus inputs"
    bound=(-runs=0)
  else
    echo "fuzz: $t for ${secs}s"
    bound=(-max_total_time="$secs")
  fi
  log="$scratch/$t.log"
  # The first corpus directory receives new inputs: the scratch one, so the repo's stays as is.
  # -close_fd_mask=1: the executor's own log lines go to stdout; panics and reports to stderr.
  if cargo fuzz run "${flags[@]}" "$t" "$scratch/$t" "$corpus" -- \
      "${bound[@]}" -timeout=20 -rss_limit_mb="$rss" -close_fd_mask=1 \
      ${parallel[@]+"${parallel[@]}"} -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1; then
    grep -E '^(stat::number_of_executed_units|stat::new_units_added|Done)' "$log" | tr '\n' ' ' || true
    echo
  else
    tail -n 40 "$log" >&2
    art=$(grep -oE "$artifacts/[a-z-]+-[0-9a-f]+" "$log" | tail -n 1 || true)
    echo "fuzz: FAILED $t: artifact ${art:-(none written; see the log above)}" >&2
    failed+=("$t")
    continue
  fi
  if [ "$keep" = 1 ] && [ -n "$(ls -A "$scratch/$t")" ]; then
    before=$(ls "$corpus" | wc -l)
    cargo fuzz run "${flags[@]}" "$t" "$corpus" "$scratch/$t" -- -merge=1 -close_fd_mask=1 >"$log.merge" 2>&1 \
      || { tail -n 20 "$log.merge" >&2; failed+=("$t (merge)"); continue; }
    echo "fuzz: $t corpus $before -> $(ls "$corpus" | wc -l) inputs"
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: ${#targets[@]} targets ran $([ "$secs" = 0 ] && echo "their corpus" || echo "${secs}s each"), no crash (total $(( $(date +%s) - t0 ))s)"
