#!/usr/bin/env bash
# Make .venv with striate (editable), the test tools (pytest, ruff) and the peers (PyTorch,
# Keras 3). Safe to run again: pip skips what is already there.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/python -m pip install -q torch==2.13.0 keras
