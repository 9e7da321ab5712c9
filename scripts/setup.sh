#!/usr/bin/env bash
# Creates .venv (if missing) and installs cvbench with its dependencies into it.
# Usage: bash scripts/setup.sh [--dev]   (--dev adds the test tools and Debian's chromium)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
$VPY -m pip install -q --upgrade pip >/dev/null
# CPU wheels of torch/torchvision from the local disk when available; a range otherwise
if ! $VPY -c "import torch, torchvision" >/dev/null 2>&1; then
  echo "setup: installing torch and torchvision"
  $VPY -m pip install -q "torch==2.14.1" "torchvision==0.29.1" \
    || $VPY -m pip install -q "torch>=2.2" "torchvision>=0.17"
fi
extra=""
if [ "${1:-}" = "--dev" ]; then extra="[dev]"; fi
echo "setup: installing cvbench${extra}"
$VPY -m pip install -q -e ".${extra}"
$VPY -m ipykernel install --sys-prefix --name python3 >/dev/null  # notebooks run on this venv
if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; browser tests will be skipped"
  else
    echo "setup: run 'sudo apt-get install -y chromium' to enable the browser tests"
  fi
fi
echo "setup: done (.venv)"
