#!/usr/bin/env bash
# Creates the Python environment that Keel's tests and quickstart use: a virtual
# environment in .venv with pandas, pyarrow and scikit-learn, and uv, which Keel
# builds models' platform environments with (tests and scripts/quickstart.sh point
# KEEL_UV at .venv/bin/uv). Idempotent: a second run only checks what is there.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${KEEL_BASE_PYTHON:-python3}"
VENV="${KEEL_VENV:-.venv}"
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 9)' 2>/dev/null; then
  echo "error: Keel needs Python >= 3.9 as '$PY' (set KEEL_BASE_PYTHON)" >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
if ! "$VENV/bin/python" -c 'import pandas, pyarrow, sklearn, scipy, mlflow, skops, cloudpickle' 2>/dev/null; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
fi
# uv is a tool here, not a package the tests import, so it is checked apart.
if ! "$VENV/bin/uv" --version >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
"$VENV/bin/python" -c 'import pandas, pyarrow, sklearn; print("python env ok:", pandas.__version__, pyarrow.__version__, sklearn.__version__)'
"$VENV/bin/uv" --version
