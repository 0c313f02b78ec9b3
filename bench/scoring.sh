#!/usr/bin/env bash
# Scoring speed, as ratios in one run (issue 10's targets), on ROWS rows x 20
# float64 columns (default 1,000,000), with a release build:
#  - a batch score function calling a scikit-learn LogisticRegression's
#    predict_proba, with the default settings (2 workers) and with 1 worker,
#    against a plain pandas script that reads the same Parquet file, calls
#    predict_proba once and writes Parquet (target: Keel at most 0.8x its wall);
#  - a per-record score function with 1 and 2 workers (target: 2 workers at
#    least 1.7x faster);
#  - Keel's own CPU (everything but the model's function: the keel process,
#    and the workers' time outside the function) against the model's
#    function's CPU (target: at most 15 %).
# Each run is repeated RUNS times (default 3); the medians are reported.
#
# Every Keel run is measured twice: cold, as one embedded `keel job create`
# (a fresh Python per worker, importing pyarrow, pandas and scikit-learn),
# and warm, as a job sent to a `keel server` whose workers are kept from the
# previous job of the same model version (KEEL_WARM_WORKERS). A warm job's
# wall time is the server's, from the job's creation to its end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-1000000}"
RUNS="${RUNS:-3}"
scripts/setup-python.sh >/dev/null
PY="$PWD/.venv/bin/python"
cargo build --release --locked -p keel
KEEL="${CARGO_TARGET_DIR:-$PWD/target}/release/keel"
OUT="$PWD/bench-out/scoring"
rm -rf "$OUT" && mkdir -p "$OUT"
"$PY" bench/scoring/make_data.py "$OUT" "$ROWS"
export KEEL_HOME="$OUT/.keel" KEEL_PYTHON="$PY"
unset KEEL_URL
"$KEEL" model register "$OUT/batch" --name bench-batch >/dev/null
"$KEEL" model register "$OUT/record" --name bench-record >/dev/null

# One timed Keel run: prints {"wall", "cpu", "stdout"} (stdout is the job JSON).
keel_run() {
  "$PY" bench/scoring/run.py "$KEEL" job create scoring "$1" "$OUT/rows.parquet" "$2" \
    --workers "$3" -o json
}

: >"$OUT/runs.jsonl"
for i in $(seq "$RUNS"); do
  echo "{\"kind\": \"plain\", \"run\": $("$PY" bench/scoring/plain.py "$OUT/rows.parquet" "$OUT/model.pkl" "$OUT/plain.parquet")}" >>"$OUT/runs.jsonl"
  for w in 2 1; do
    echo "{\"kind\": \"batch\", \"workers\": $w, \"run\": $(keel_run bench-batch "batch$w.parquet" "$w")}" >>"$OUT/runs.jsonl"
    echo "{\"kind\": \"record\", \"workers\": $w, \"run\": $(keel_run bench-record "record$w.parquet" "$w")}" >>"$OUT/runs.jsonl"
  done
done

# The same runs against a server, after one warm-up job per model.
# Outside $OUT, which is the server's data root: a root may not hold Keel's
# own data directory.
SERVER_HOME="$OUT-server"
rm -rf "$SERVER_HOME"
PORT="$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
KEEL_HOME="$SERVER_HOME" "$KEEL" server --bind "127.0.0.1:$PORT" --data-root "$OUT" 2>"$OUT/server.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true' EXIT
export KEEL_URL="http://127.0.0.1:$PORT"
for _ in $(seq 100); do
  "$KEEL" model list >/dev/null 2>&1 && break
  sleep 0.1
done
"$KEEL" model register "$OUT/batch" --name bench-batch >/dev/null
"$KEEL" model register "$OUT/record" --name bench-record >/dev/null
# The input is named by a file:// URI under the server's data root, which the
# server reads where it is, as the embedded command does; a plain path would
# be uploaded first.
server_run() {
  "$PY" bench/scoring/server_run.py "$SERVER" "$KEEL" job create scoring "$1" "file://$OUT/rows.parquet" \
    "$2" --workers "$3" --wait -o json
}
for m in bench-batch bench-record; do
  server_run "$m" "warmup-$m.parquet" 2 >/dev/null
done
for i in $(seq "$RUNS"); do
  for w in 2 1; do
    echo "{\"kind\": \"batch\", \"workers\": $w, \"warm\": true, \"run\": $(server_run bench-batch "wbatch$w-$i.parquet" "$w")}" >>"$OUT/runs.jsonl"
    echo "{\"kind\": \"record\", \"workers\": $w, \"warm\": true, \"run\": $(server_run bench-record "wrecord$w-$i.parquet" "$w")}" >>"$OUT/runs.jsonl"
  done
done
kill "$SERVER"
wait "$SERVER" 2>/dev/null || true
trap - EXIT
"$PY" bench/scoring/report.py "$OUT/runs.jsonl" "$KEEL_HOME" "$SERVER_HOME" "$ROWS"
