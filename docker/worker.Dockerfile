# syntax=docker/dockerfile:1.7
# Teamlore job worker (huey consumer): ingestion, indexing, dataset builds and CPU training jobs.
# Build from the repository root:  docker build -f docker/worker.Dockerfile -t teamlore-worker .

# ---- build stage: resolve and install every wheel into a self-contained venv ----
FROM python:3.11.13-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# CPU torch: the lock pins torch==2.13.0+cpu, which the PyTorch CPU index serves;
# GPU training runs in the trainer image (docker/trainer.Dockerfile),
# so the worker does not carry ~3 GB of CUDA libraries.
# Every dependency at its locked version with its hashes checked (requirements/runtime.txt, written by
# `make lock`), in its own layer so a code change does not reinstall them.
COPY requirements/runtime.txt ./requirements/
RUN pip install --require-hashes --extra-index-url https://download.pytorch.org/whl/cpu -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY app ./app
COPY ingest ./ingest
COPY retrieval ./retrieval
COPY finetune ./finetune
COPY model ./model
COPY ui ./ui
RUN pip install --no-deps --no-build-isolation . && teamlore --help >/dev/null

# ---- runtime stage: the venv only, no build tools, non-root ----
FROM python:3.11.13-slim-bookworm AS runtime
RUN groupadd --system --gid 10001 teamlore \
 && useradd --system --uid 10001 --gid teamlore --home-dir /home/teamlore --create-home teamlore \
 && mkdir -p /data && chown teamlore:teamlore /data
COPY --from=build /opt/venv /opt/venv
COPY docker/healthcheck.py /usr/local/bin/teamlore-healthcheck
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    TEAMLORE_DATA_DIR=/data \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1
WORKDIR /home/teamlore
# Numeric UID so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
VOLUME ["/data"]
# The worker serves no HTTP: it is healthy while its queue (Redis) answers; a dead consumer exits and is restarted.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python", "/usr/local/bin/teamlore-healthcheck", "--redis"]
ENTRYPOINT ["teamlore"]
CMD ["worker"]
