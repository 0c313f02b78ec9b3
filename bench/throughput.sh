#!/usr/bin/env bash
# Scoring throughput of a per-record score function: Keel (release build,
# WORKERS worker processes, default 2) against a bare Python loop calling the
# same function on the same rows. ROWS defaults to 1,000,000.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-1000000}"
WORKERS="${WORKERS:-2}"
scripts/setup-python.sh >/dev/null
PY="$PWD/.venv/bin/python"
cargo build --release --locked -p keel
KEEL="${CARGO_TARGET_DIR:-$PWD/target}/release/keel"
OUT="$PWD/bench-out"
rm -rf "$OUT" && mkdir -p "$OUT"
"$PY" bench/make_rows.py "$OUT" "$ROWS"
export KEEL_HOME="$OUT/.keel" KEEL_PYTHON="$PY"
unset KEEL_URL
"$KEEL" model register "$OUT/model" --name bench >/dev/null

t0=$(date +%s.%N)
"$KEEL" job create scoring bench "$OUT/rows.parquet" scores.parquet --workers "$WORKERS" -o json >"$OUT/job.json"
t1=$(date +%s.%N)
keel_s=$("$PY" -c "print($t1 - $t0)")
bare_s=$("$PY" bench/bare_loop.py "$OUT/rows.parquet" "$OUT/bare.parquet")

"$PY" - "$OUT/job.json" "$ROWS" "$keel_s" "$bare_s" "$WORKERS" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))
rows, keel_s, bare_s, workers = int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
assert job["status"] == "COMPLETED", job
assert job["counts"]["written"] == rows, job["counts"]
print(f"rows: {rows:,}")
print(f"keel scoring job ({workers} workers, wall incl. CLI start): {keel_s:.2f}s = {rows / keel_s:,.0f} records/s")
print(f"bare python loop (1 process):                       {bare_s:.2f}s = {rows / bare_s:,.0f} records/s")
print(f"ratio keel/bare: {bare_s / keel_s:.2f}x")
PY
