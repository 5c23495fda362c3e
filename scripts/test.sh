#!/usr/bin/env bash
# Set up a virtual environment with striate, the test tools and the peers (PyTorch, Keras 3),
# then run the whole test suite. Used by the README and by CI (.ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m pip install -q torch==2.13.0 keras
export KERAS_BACKEND=torch
.venv/bin/python -m pytest "$@"
