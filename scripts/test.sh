#!/usr/bin/env bash
# Set up .venv (scripts/setup.sh), then run the whole test suite, slow tier included.
# Used by the README and by CI (.ci/run). Extra arguments go to pytest, e.g.
# `bash scripts/test.sh -m "not slow"` for the quick tier.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export KERAS_BACKEND=torch
.venv/bin/python -m pytest "$@"
