#!/usr/bin/env bash
# Runs every cargo fuzz target (fuzz/fuzz_targets/) for a fixed budget and
# prints one row per target: executions, executions per second, corpus size and
# what it found. Not run in CI: CI replays the saved corpus instead (the
# keel-fuzz crate's `it` test). See docs/fuzzing.md.
# Usage: bench/fuzz.sh [TARGET...] (default: every target)
#   KEEL_FUZZ_SECONDS   budget per target, in seconds (default 60)
#   KEEL_FUZZ_RSS_MB    libFuzzer -rss_limit_mb: the process's resident memory cap (default 2048)
#   KEEL_FUZZ_MALLOC_MB libFuzzer -malloc_limit_mb: the cap on one allocation (default 128)
#   KEEL_FUZZ_TIMEOUT   libFuzzer -timeout: seconds one input may take before it is a hang (default 10)
#   KEEL_FUZZ_MAX_LEN   libFuzzer -max_len: the largest input in bytes (default 65536)
#   KEEL_FUZZ_OUT       where the run's corpus, artifacts and logs go
#                       (default ${TMPDIR:-/tmp}/keel-fuzz); the saved corpus is only read
#
# cargo fuzz needs nightly compiler flags (-Zsanitizer=address and others).
# Keel builds with stable Rust, so this script sets RUSTC_BOOTSTRAP=1, which
# lets the stable compiler accept them; a nightly toolchain works as well.
# Install cargo fuzz with `cargo install cargo-fuzz --locked`.
#
# Each target starts from its saved corpus (fuzz/corpus/TARGET) and writes the
# inputs it finds to KEEL_FUZZ_OUT/corpus/TARGET. A target stops at its first
# crash, hang or out-of-memory; the input is saved under
# KEEL_FUZZ_OUT/artifacts/TARGET/. Minimize one with `cargo fuzz tmin TARGET FILE`
# and save it in fuzz/corpus/TARGET/ with the fix. The exit status is 1 when
# any target found something.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
SECONDS_EACH="${KEEL_FUZZ_SECONDS:-60}"
RSS_MB="${KEEL_FUZZ_RSS_MB:-2048}"
MALLOC_MB="${KEEL_FUZZ_MALLOC_MB:-128}"
TIMEOUT="${KEEL_FUZZ_TIMEOUT:-10}"
MAX_LEN="${KEEL_FUZZ_MAX_LEN:-65536}"
OUT="${KEEL_FUZZ_OUT:-${TMPDIR:-/tmp}/keel-fuzz}"
export RUSTC_BOOTSTRAP=1

if [ $# -gt 0 ]; then
  TARGETS=("$@")
else
  mapfile -t TARGETS < <(cargo fuzz list)
fi
# -O: optimised; -a: with debug assertions, so an integer overflow is a crash,
# as it would be in a debug build.
cargo fuzz build -O -a

echo "budget ${SECONDS_EACH}s per target; caps: -rss_limit_mb=${RSS_MB} -malloc_limit_mb=${MALLOC_MB} -timeout=${TIMEOUT} -max_len=${MAX_LEN}"
ROWS=()
FOUND=0
for t in "${TARGETS[@]}"; do
  mkdir -p "$OUT/corpus/$t" "$OUT/artifacts/$t" "$OUT/logs"
  log="$OUT/logs/$t.log"
  set +e
  cargo fuzz run -O -a "$t" "$OUT/corpus/$t" "corpus/$t" -- \
    -max_total_time="$SECONDS_EACH" -rss_limit_mb="$RSS_MB" -malloc_limit_mb="$MALLOC_MB" \
    -timeout="$TIMEOUT" -max_len="$MAX_LEN" -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$t/" >"$log" 2>&1
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  # The last status line, such as "#123 DONE cov: 456 ft: 789 corp: 12/3456b ...".
  corp=$(grep -o 'corp: [0-9]*/[0-9]*[a-zA-Z]*' "$log" | tail -n 1 | sed 's/corp: //')
  count() { find "$OUT/artifacts/$t" -maxdepth 1 -name "$1-*" | wc -l; }
  crashes=$(( $(count crash) + $(count leak) + $(count deadly_signal) ))
  hangs=$(count timeout)
  ooms=$(count oom)
  if [ $((crashes + hangs + ooms)) -gt 0 ]; then FOUND=1; fi
  ROWS+=("$(printf '%-15s %12s %9s %14s %8s %6s %5s' "$t" "${execs:-?}" "${rate:-?}" "${corp:-?}" "$crashes" "$hangs" "$ooms")")
done
printf '%-15s %12s %9s %14s %8s %6s %5s\n' target executions execs/s corpus crashes hangs ooms
printf '%s\n' "${ROWS[@]}"
echo "logs, new inputs and findings: $OUT"
exit "$FOUND"
