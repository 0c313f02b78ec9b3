#!/usr/bin/env bash
# Runs every test of Keel, after installing what the tests need: the Python
# environment (pandas, pyarrow, scikit-learn) and uv in .venv. Formatting and clippy
# run first, so style breaks fail fast. `.ci/run` calls this script.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup-python.sh
export KEEL_TEST_PYTHON="$PWD/.venv/bin/python"
# The platform tests build real environments with this uv (and with pip).
export KEEL_TEST_UV="$PWD/.venv/bin/uv"
# A stray KEEL_URL or KEEL_HOME would point the CLI tests elsewhere, and a
# stray Python setting would change which interpreter they run, and a stray
# token would act as someone.
unset KEEL_URL KEEL_HOME KEEL_PYTHON KEEL_BASE_PYTHON KEEL_UV KEEL_TOKEN KEEL_CONFIG_DIR

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
echo "== tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast
else
  cargo test --workspace --locked --no-fail-fast
fi
