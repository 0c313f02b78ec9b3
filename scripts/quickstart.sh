#!/usr/bin/env bash
# Sets up the Python environment, builds Keel, and runs `keel quickstart`:
# an example scikit-learn model is registered and scored, back-tested and
# retrained on the embedded default (SQLite and local files in ./keel-quickstart).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh
export KEEL_PYTHON="$PWD/.venv/bin/python"
cargo run --release --locked -p keel -- quickstart --dir keel-quickstart "$@"
