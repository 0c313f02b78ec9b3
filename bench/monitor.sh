#!/usr/bin/env bash
# One model-quality monitoring execution over ROWS captured inferences (a
# Parquet data location with inference ids and times) joined with ROWS
# labels by id, beside `keel metrics` over the same rows already joined:
# wall time, peak memory and the ratio (issue 13's target: within 10x).
# Usage: bench/monitor.sh [ROWS...] (default 1000000 10000000).
#   KEEL_BIN  a keel binary to use instead of building a release one
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh >/dev/null
PY="$PWD/.venv/bin/python"
if [ -n "${KEEL_BIN:-}" ]; then
  KEEL="$KEEL_BIN"
else
  cargo build --release --locked -p keel
  KEEL="${CARGO_TARGET_DIR:-$PWD/target}/release/keel"
fi
OUT="${KEEL_BENCH_DATA:-${TMPDIR:-/tmp}/keel-bench-monitor}"
rm -rf "$OUT" && mkdir -p "$OUT"
exec "$PY" bench/monitor/run.py "$KEEL" "$OUT" "$@"
