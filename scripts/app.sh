#!/usr/bin/env bash
# Sets up .venv and opens the cvbench workbench (Voila) on a sample project at 127.0.0.1.
# Usage: bash scripts/app.sh [PROJECT_DIR] [--port N]
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/cvbench app "$@"
