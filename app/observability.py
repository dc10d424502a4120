"""Structured JSON logs with request ids, and Prometheus metrics."""
from __future__ import annotations

import contextvars
import logging
import re
import sys
import time
import uuid

from prometheus_client import Counter, Gauge, Histogram
from pythonjsonlogger.json import JsonFormatter

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

HTTP_REQUESTS = Counter("teamlore_http_requests_total", "HTTP requests", ["route", "method", "status"])
HTTP_LATENCY = Histogram("teamlore_http_request_duration_seconds", "HTTP request latency", ["route"],
                         buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
TTFT = Histogram("teamlore_ttft_seconds", "time to first answer token",
                 buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))
TOKENS_PER_S = Histogram("teamlore_generation_tokens_per_second", "answer pieces per second per request",
                         buckets=(1, 5, 10, 25, 50, 100, 250, 1000))
RETRIEVAL_LATENCY = Histogram("teamlore_retrieval_duration_seconds", "retrieval latency",
                              buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1))
ERRORS = Counter("teamlore_errors_total", "errors by kind", ["kind"])
JOBS_QUEUED = Gauge("teamlore_jobs_queued", "jobs waiting for a worker")
JOBS_RUNNING = Gauge("teamlore_jobs_running", "jobs being worked on")
# Worker/trainer side (served on TEAMLORE_METRICS_PORT by `teamlore worker`); labelled by job so two
# trainings on one worker do not overwrite each other; a finished job's series are removed.
TRAIN_LOSS = Gauge("teamlore_train_loss", "latest training loss", ["job_id"])
TRAIN_TOKENS_PER_S = Gauge("teamlore_train_tokens_per_second", "training throughput", ["job_id"])
GPU_MEMORY = Gauge("teamlore_gpu_memory_bytes", "GPU memory held by training", ["job_id"])

# Secrets must never reach logs: mask anything shaped like our keys, Slack tokens or URL passwords.
_SECRET_PATTERNS = [re.compile(r"tl_[A-Za-z0-9_\-]{20,}"), re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
                    re.compile(r"xapp-[A-Za-z0-9-]+"), re.compile(r"\bsk-[A-Za-z0-9_\-]{20,}"), re.compile(r"(?<=://)([^:/@\s]+):([^@/\s]+)(?=@)")]


def redact(text: str) -> str:
    for pat in _SECRET_PATTERNS:
        text = pat.sub("[REDACTED]", text)
    return text


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id.get()
        record.msg = redact(str(record.msg))
        if record.args:
            record.args = tuple(redact(str(a)) if isinstance(a, str) else a for a in record.args) \
                if isinstance(record.args, tuple) else record.args
        return True


class RedactingJsonFormatter(JsonFormatter):
    """Redacts the whole rendered line: tracebacks (exc_info) and extra fields can carry secrets too."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _Handler(logging.StreamHandler):
    """Teamlore's own log handler (configuring again replaces it, never stacks a second one)."""


def configure_logging(level: str = "INFO") -> None:
    handler = _Handler(sys.stderr)
    handler.setFormatter(RedactingJsonFormatter("%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"))
    handler.addFilter(_Context())
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _Handler):
            root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)


def new_request_id(incoming: str | None) -> str:
    rid = incoming if incoming and re.fullmatch(r"[A-Za-z0-9\-]{8,64}", incoming) else uuid.uuid4().hex
    request_id.set(rid)
    return rid


class Timer:
    def __enter__(self):
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
