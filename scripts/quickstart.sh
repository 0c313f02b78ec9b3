#!/usr/bin/env bash
# Sets up the Python environment, builds Keel, and runs `keel quickstart`:
# an example scikit-learn model is registered and scored, back-tested and
# retrained on the embedded default (SQLite and local files in ./keel-quickstart).
# KEEL_PYTHON stays unset, so Keel builds the example model's own platform
# environment under keel-quickstart/.keel/envs as it would for any model, with
# the uv that setup-python.sh puts in .venv (a few seconds; pip would be slower).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-python.sh
unset KEEL_PYTHON
export KEEL_UV="$PWD/.venv/bin/uv"
cargo run --release --locked -p keel -- quickstart --dir keel-quickstart "$@"
