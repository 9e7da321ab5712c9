#!/usr/bin/env bash
# Sets up .venv with the test tools and runs the test suite (slow tests excluded).
# Usage: bash scripts/test.sh [pytest args…]     e.g. bash scripts/test.sh -m slow
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --dev
export MPLBACKEND=Agg
exec .venv/bin/python -m pytest -m "not slow" -q "$@"
