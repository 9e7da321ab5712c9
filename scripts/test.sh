#!/usr/bin/env bash
# Sets up .venv with the test tools, type-checks cvbench/ and runs the test suite (slow tests
# excluded; the layers, import circles and module sizes are tests too: tests/test_architecture.py).
# Usage: bash scripts/test.sh [pytest args…]     e.g. bash scripts/test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export MPLBACKEND=Agg
echo "test: mypy cvbench"
.venv/bin/python -m mypy cvbench
exec .venv/bin/python -m pytest -m "not slow" -q --durations=25 "$@"
