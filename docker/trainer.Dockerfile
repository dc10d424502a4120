# syntax=docker/dockerfile:1.7
# Teamlore GPU trainer: LoRA SFT / pretraining with torchrun, one or many GPUs, one or many nodes.
# Build from the repository root:  docker build -f docker/trainer.Dockerfile -t teamlore-trainer .
# Run (one node, all GPUs):  docker run --gpus all -v teamlore-data:/data teamlore-trainer \
#                               --nproc-per-node=gpu -m finetune.recipes.lora_sft --base /data/models/base --dataset /data/datasets/<version> --out /data/runs/<run>
# Kubernetes runs it as an indexed Job (docker/k8s/train-job.yaml) with --nnodes/--rdzv-endpoint.

# ---- build stage: CUDA devel image only for wheels that compile (bitsandbytes/liger ship wheels; this is the fallback) ----
FROM nvidia/cuda:12.8.1-cudnn-devel-ubuntu24.04 AS build
ENV DEBIAN_FRONTEND=noninteractive PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv python3-dev \
 && rm -rf /var/lib/apt/lists/*
RUN python3 -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Every dependency at its locked version with its hashes checked: requirements/gpu.txt (`make lock`) holds the
# gpu extra and PyPI's torch==2.13.0 for Linux, the CUDA build (its CUDA libraries come as nvidia-* wheels).
COPY requirements/gpu.txt ./requirements/
RUN pip install --require-hashes -r requirements/gpu.txt
COPY pyproject.toml README.md ./
COPY app ./app
COPY ingest ./ingest
COPY retrieval ./retrieval
COPY finetune ./finetune
COPY model ./model
COPY ui ./ui
RUN pip install --no-deps --no-build-isolation . && python -c "import finetune, torch; print(torch.__version__)"

# ---- runtime stage: cuDNN runtime (no compilers), the venv, non-root ----
FROM nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04 AS runtime
ENV DEBIAN_FRONTEND=noninteractive
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 teamlore \
 && useradd --system --uid 10001 --gid teamlore --home-dir /home/teamlore --create-home teamlore \
 && mkdir -p /data && chown teamlore:teamlore /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TEAMLORE_DATA_DIR=/data \
    HF_HOME=/data/hf \
    NCCL_DEBUG=WARN \
    OMP_NUM_THREADS=1
WORKDIR /home/teamlore
USER 10001:10001
VOLUME ["/data"]
# torchrun's rendezvous port (multi-node) and the trainer's Prometheus metrics port.
EXPOSE 29500 9400
# A training run is a batch job, not a service: no HEALTHCHECK. Liveness is the process itself
# (torchrun exits non-zero on a worker failure, and the Job's backoffLimit retries from the last checkpoint).
HEALTHCHECK NONE
ENTRYPOINT ["torchrun"]
# With no arguments the image prints the recipe's usage; a run passes its own (see the header, train-job.yaml).
CMD ["--nproc-per-node=gpu", "-m", "finetune.recipes.lora_sft", "--help"]
