# syntax=docker/dockerfile:1.7
# vLLM OpenAI-compatible server for Teamlore: the official image, pinned, with LoRA adapters enabled.
# Build:  docker build -f docker/vllm.Dockerfile -t teamlore-vllm .
# Run:    docker run --gpus all -p 8001:8000 -v teamlore-models:/models \
#           -e VLLM_MODEL=/models/base teamlore-vllm
# The version matches docker/setup_vllm_venv.sh (the CPU build the tests run against).

# ---- probe stage: the health probe, byte-compiled once, copied into the server image ----
FROM python:3.11.13-slim-bookworm AS probe
COPY docker/healthcheck.py /out/teamlore-healthcheck
RUN python -m py_compile /out/teamlore-healthcheck

# ---- server stage ----
FROM vllm/vllm-openai:v0.32.0 AS server
COPY --from=probe /out/teamlore-healthcheck /usr/local/bin/teamlore-healthcheck
# The official image runs as root; run as a fixed non-root UID, with HOME and caches on the models volume.
RUN groupadd --system --gid 10001 vllm \
 && useradd --system --uid 10001 --gid vllm --home-dir /home/vllm --create-home vllm \
 && mkdir -p /models && chown vllm:vllm /models
ENV HF_HOME=/models/hf \
    VLLM_MODEL=/models/base \
    VLLM_SERVED_NAME=teamlore \
    VLLM_MAX_LORAS=4 \
    VLLM_MAX_LORA_RANK=64 \
    VLLM_MAX_MODEL_LEN=8192 \
    VLLM_GPU_MEMORY_UTILIZATION=0.90 \
    VLLM_ALLOW_RUNTIME_LORA_UPDATING=True
WORKDIR /home/vllm
USER 10001:10001
VOLUME ["/models"]
EXPOSE 8000
HEALTHCHECK --interval=20s --timeout=5s --start-period=300s --retries=5 \
  CMD ["python3", "/usr/local/bin/teamlore-healthcheck", "http://127.0.0.1:8000/health"]
# Shell form so the VLLM_* settings above (or -e overrides) reach the flags; exec keeps vLLM as PID 1.
# Runtime LoRA updating lets Teamlore register a newly promoted adapter via /v1/load_lora_adapter
# without restarting the server.
ENTRYPOINT ["/bin/sh", "-c", "exec vllm serve \"$VLLM_MODEL\" --host 0.0.0.0 --port 8000 --served-model-name \"$VLLM_SERVED_NAME\" --enable-lora --max-loras \"$VLLM_MAX_LORAS\" --max-lora-rank \"$VLLM_MAX_LORA_RANK\" --max-model-len \"$VLLM_MAX_MODEL_LEN\" --gpu-memory-utilization \"$VLLM_GPU_MEMORY_UTILIZATION\" \"$@\"", "vllm"]
CMD []
