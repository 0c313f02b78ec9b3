#!/usr/bin/env bash
# Creates the Python environment that Keel's tests and quickstart use: a virtual
# environment in .venv with pandas, pyarrow and scikit-learn, and uv, which Keel
# builds models' platform environments with (tests and scripts/quickstart.sh point
# KEEL_UV at .venv/bin/uv), and, in a venv of its own (.venv-tools, so that its
# packages never meet a model's), moto_server: the S3-compatible server the tests
# run. Idempotent: a second run only checks what is there.
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
# The tests' S3 server; KEEL_SKIP_MOTO=1 leaves it out (the S3 tests then skip).
TOOLS="${KEEL_TOOLS_VENV:-.venv-tools}"
if [ "${KEEL_SKIP_MOTO:-}" != 1 ] && [ ! -x "$TOOLS/bin/moto_server" ]; then
  [ -x "$TOOLS/bin/python" ] || "$PY" -m venv "$TOOLS"
  "$TOOLS/bin/python" -m pip install --quiet --disable-pip-version-check 'moto[server]>=5,<6'
fi
# uv is a tool here, not a package the tests import, so it is checked apart.
if ! "$VENV/bin/uv" --version >/dev/null 2>&1; then
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
fi
"$VENV/bin/python" -c 'import pandas, pyarrow, sklearn; print("python env ok:", pandas.__version__, pyarrow.__version__, sklearn.__version__)'
"$VENV/bin/uv" --version
