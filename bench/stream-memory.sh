#!/usr/bin/env bash
# Peak memory of a scoring job whose model returns 1 KB per record (issue 11's
# figure): ROWS records (default 1,000,000) in, a batch score function that
# returns each id with a 1,000-byte string, written to CSV (about 1 GB), with
# 2 workers, in embedded mode. Prints the job's wall time and the largest
# resident set of the keel process and the workers it reaped (GNU time's %M).
# KEEL_BIN picks the binary (default: a release build of this checkout), so an
# older build can be measured beside this one.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS="${ROWS:-1000000}"
scripts/setup-python.sh >/dev/null
PY="$PWD/.venv/bin/python"
if [ -z "${KEEL_BIN:-}" ]; then
  cargo build --release --locked -p keel
  KEEL_BIN="${CARGO_TARGET_DIR:-$PWD/target}/release/keel"
fi
OUT="$PWD/bench-out/stream-memory"
rm -rf "$OUT" && mkdir -p "$OUT/model"
cat >"$OUT/model/model.py" <<'PY'
import pandas as pd

PAYLOAD = "x" * 1000


# modelop.score batch
def score(df):
    return pd.DataFrame({"id": df["id"], "payload": PAYLOAD})
PY
"$PY" - "$OUT/rows.parquet" "$ROWS" <<'PY'
import sys
import pyarrow as pa
import pyarrow.parquet as pq
pq.write_table(pa.table({"id": pa.array(range(int(sys.argv[2])), pa.int64())}), sys.argv[1])
PY
export KEEL_HOME="$OUT/.keel" KEEL_PYTHON="$PY"
unset KEEL_URL
"$KEEL_BIN" model register "$OUT/model" --name mem >/dev/null
/usr/bin/time -f '%e s wall, %M KiB max resident' -o "$OUT/time.txt" \
  "$KEEL_BIN" job create scoring mem "$OUT/rows.parquet" "$OUT/scores.csv" --workers 2 -o json \
  >"$OUT/job.json"
echo "$ROWS records, $(du -h "$OUT/scores.csv" | cut -f1) of output: $(cat "$OUT/time.txt")"
