#!/usr/bin/env bash
# The chaos run of issue 12 at the bench's size: the chaos test
# (crates/keel/tests/it/chaos.rs) with KEEL_CHAOS_JOBS jobs (default 1000)
# and KEEL_CHAOS_KILLS kill -9s of a random server or worker, each restarted
# (default 50), and PostgreSQL restarted once, on a PostgreSQL server and an
# S3 server of its own. It fails unless every job ended COMPLETED with its
# whole output or FAILED with a reason, none lost, none published twice or
# partly, every attempt accounted for and no process left behind; it prints
# how many completed, how many were retried, and the jobs per minute.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh >/dev/null
export KEEL_TEST_PYTHON="$PWD/.venv/bin/python"
export KEEL_CHAOS_JOBS="${KEEL_CHAOS_JOBS:-1000}"
export KEEL_CHAOS_KILLS="${KEEL_CHAOS_KILLS:-50}"
unset KEEL_URL KEEL_HOME KEEL_PYTHON KEEL_TOKEN
exec cargo nextest run -p keel --locked --no-capture -E 'test(jobs_survive_killed_servers_and_workers)'
