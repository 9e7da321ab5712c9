#!/usr/bin/env bash
# Creates .venv (if missing) and installs cvbench with its dependencies into it, once: a
# later run whose pyproject.toml and extras are unchanged only checks and returns.
# Usage: bash scripts/setup.sh [--dev]   (--dev adds the test tools and Debian's chromium)
#
# PyTorch: CVBENCH_TORCH=auto (default) takes PyTorch's own CPU wheels
# (https://download.pytorch.org/whl/cpu, a few hundred MB) on a machine without an NVIDIA
# GPU when that index answers, and the package index's default build otherwise (CUDA builds
# on Linux: several GB, and they run on the CPU too). CVBENCH_TORCH=cpu insists on the CPU
# index; CVBENCH_TORCH=default skips it.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WANT=${CVBENCH_TORCH:-auto}
CPU_INDEX=https://download.pytorch.org/whl/cpu
extra=""
if [ "${1:-}" = "--dev" ]; then extra="[dev]"; fi
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
STAMP=.venv/.cvbench-installed
stamp="$(sha256sum pyproject.toml | cut -c1-16) ${extra:-[]}"
have=$(cat "$STAMP" 2>/dev/null || true)
# an install with the test tools serves a run without them too
if { [ "$have" = "$stamp" ] || { [ -z "$extra" ] && [ "$have" = "${stamp% *} [dev]" ]; }; } \
   && $VPY -c "import importlib.metadata as m; [m.version(p) for p in ('cvbench', 'torch', 'torchvision')]" \
      >/dev/null 2>&1; then
  exit 0  # installed before, nothing changed (the install is editable: code changes count)
fi
$VPY -m pip install -q --upgrade pip >/dev/null
if ! $VPY -c "import torch, torchvision" >/dev/null 2>&1; then
  use_cpu=no
  case "$WANT" in
    cpu) use_cpu=yes ;;
    default) ;;
    auto)
      if [ ! -e /proc/driver/nvidia ] && ! command -v nvidia-smi >/dev/null 2>&1 \
         && $VPY -c "import urllib.request as u; u.urlopen('$CPU_INDEX/', timeout=5)" \
            >/dev/null 2>&1; then
        use_cpu=yes
      fi ;;
    *) echo "setup: CVBENCH_TORCH=$WANT should be auto, cpu or default" >&2; exit 2 ;;
  esac
  if [ "$use_cpu" = yes ]; then
    echo "setup: installing torch and torchvision (CPU build, from $CPU_INDEX)"
    $VPY -m pip install -q torch torchvision --index-url "$CPU_INDEX" || {
      [ "$WANT" = cpu ] && { echo "setup: the CPU index failed (CVBENCH_TORCH=cpu)" >&2; exit 1; }
      use_cpu=no; }
  fi
  if [ "$use_cpu" = no ]; then
    echo "setup: installing torch and torchvision (the package index's default build)"
    $VPY -m pip install -q "torch==2.14.1" "torchvision==0.29.1" \
      || $VPY -m pip install -q "torch>=2.2" "torchvision>=0.17"
  fi
fi
echo "setup: installing cvbench${extra}"
if ! $VPY -m pip install -q -e ".${extra}" > .venv/pip-install.log 2>&1; then
  cat .venv/pip-install.log >&2; echo "setup: installing cvbench failed (above)" >&2; exit 1
fi
$VPY -m ipykernel install --sys-prefix --name python3 >/dev/null  # notebooks run on this venv
if [ "${1:-}" = "--dev" ] && [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing Debian's chromium for the browser tests"
  if [ "$(id -u)" = "0" ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
      || echo "setup: could not install chromium; the browser tests need it"
  else
    echo "setup: run 'sudo apt-get install -y chromium' to enable the browser tests"
  fi
fi
$VPY -c "import torch; print('setup: torch', torch.__version__, '(CUDA build)' if torch.version.cuda else '(CPU build)', '- GPU in use' if torch.cuda.is_available() else '- running on the CPU')"
echo "$stamp" > "$STAMP"
echo "setup: done (.venv)"
