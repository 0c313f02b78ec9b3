#!/usr/bin/env bash
# The job queue for a team (issue 12's numbers), with a release build, on a
# fresh PostgreSQL database (KEEL_BENCH_POSTGRES_URL, default the test
# server): an API-only `keel server` and `keel worker` processes.
#  - claim latency: jobs submitted one at a time to one idle worker; the
#    time from a job's creation to its claim, as the database recorded both
#    (target: median at most 50 ms);
#  - throughput: JOBS small scoring jobs (default 60) submitted at once,
#    run by 1 and by 3 workers; jobs per minute from the first creation to
#    the last finish.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh >/dev/null
PY="$PWD/.venv/bin/python"
cargo build --release --locked -p keel
KEEL="${CARGO_TARGET_DIR:-$PWD/target}/release/keel"
OUT="$PWD/bench-out/queue"
rm -rf "$OUT" && mkdir -p "$OUT"
exec "$PY" bench/queue/run.py "$KEEL" "$OUT" "$PY"
