"""Durable jobs (training, dataset builds, index rebuilds, Slack syncs, uploads) on Huey.

Huey's SQLite storage is the embedded default (no extra server); Redis is the production broker. The `jobs` table
is the source of truth the UI reads: status, progress, result, error, logs. A worker that dies mid-job leaves
the row `running` with a stale heartbeat; any worker that starts (or its periodic check) re-queues such jobs,
and the handlers resume from their last checkpoint.
"""
from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from huey import RedisHuey, SqliteHuey
from huey.constants import EmptyData
from sqlalchemy import select, update

from app.db import lock_rows, session_scope
from app.db.jsonvalues import jsonable
from app.db.models import Job, TrainingMetric, utcnow
from app.observability import GPU_MEMORY, JOBS_QUEUED, JOBS_RUNNING, TRAIN_LOSS, TRAIN_TOKENS_PER_S
from app.settings import Settings

log = logging.getLogger("teamlore.jobs")

KINDS = ("train", "dataset", "index", "sync", "upload")  # uploads run in the API process (app/workflows/uploads.py)
HEARTBEAT_S = 10
WORKER_BEAT_S = 5.0  # a running `teamlore worker` says so this often (in the queue's storage, read by the API)
WORKER_ALIVE_S = 3 * WORKER_BEAT_S
_WORKER_KEY = "teamlore.worker.heartbeat"


@dataclass
class JobContext:
    """What a handler gets: report progress, log, store metrics, check for cancellation."""
    settings: Settings
    job_id: int
    log_path: Path
    attempt: int = 1  # 2 and more: the job is run again (its worker or API was killed, or it was retried)

    def progress(self, fraction: float) -> None:
        with session_scope(self.settings.db_url) as s:
            s.execute(update(Job).where(Job.id == self.job_id)
                      .values(progress=max(0.0, min(1.0, float(fraction))), updated_at=utcnow()))

    def log(self, line: str) -> None:
        with open(self.log_path, "a", encoding="utf-8") as f:
            f.write(f"{datetime.now(timezone.utc).isoformat(timespec='seconds')} {line}\n")

    def metrics(self, step: int, values: dict[str, Any]) -> None:
        with session_scope(self.settings.db_url) as s:
            s.add(TrainingMetric(job_id=self.job_id, step=int(step), values=values))
        export_training_metrics(self.job_id, values)

    def cancelled(self) -> bool:
        with session_scope(self.settings.db_url) as s:
            return bool(s.scalar(select(Job.cancel_requested).where(Job.id == self.job_id)))


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def export_training_metrics(job_id: int, values: dict[str, Any]) -> None:
    """Mirror one step's figures into the Prometheus gauges the worker serves."""
    label = str(job_id)
    if (loss := _number(values.get("loss"))) is not None:
        TRAIN_LOSS.labels(label).set(loss)
    if (tps := _number(values.get("tokens_per_s"))) is not None:
        TRAIN_TOKENS_PER_S.labels(label).set(tps)
    mem = _number(values.get("gpu_mem_bytes"))
    if mem is None and (gib := _number(values.get("gpu_mem_gib"))) is not None:
        mem = gib * (1 << 30)
    if mem is not None:
        GPU_MEMORY.labels(label).set(mem)


def forget_training_metrics(job_id: int) -> None:
    for gauge in (TRAIN_LOSS, TRAIN_TOKENS_PER_S, GPU_MEMORY):
        try:
            gauge.remove(str(job_id))
        except KeyError:
            pass


def _handler(kind: str) -> Callable[[Settings, dict, JobContext], dict]:
    # Imported lazily: the API process should not load torch just to enqueue a job.
    if kind == "train":
        def run(settings, params, ctx):
            from app.workflows.training import run_training
            total = max(1, int(params.get("steps") or 1))
            if ctx.attempt > 1:  # its worker died (or it was retried): say where it goes on from, and show it
                from finetune.checkpoint import latest
                found = latest(settings.runs_dir / f"job-{ctx.job_id}" / "checkpoints")
                step = int(found.name.split("-")[1]) if found else 0
                ctx.log(f"attempt {ctx.attempt}: " + (f"resuming from the checkpoint at step {step}" if found else
                                                      "no checkpoint was saved yet: training starts over at step 0"))
                ctx.progress(step / total if params.get("steps") else 0.0)

            def on_metrics(step, values):
                export_training_metrics(ctx.job_id, values)  # run_training stores the rows itself
                ctx.progress(values.get("progress", step / total))
                ctx.log("step %d %s" % (step, " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                                                         for k, v in values.items())))
            return run_training(settings, params, job_id=ctx.job_id, on_metrics=on_metrics,
                                should_cancel=ctx.cancelled)
        return run
    if kind == "dataset":
        def run(settings, params, ctx):
            from app.services.datasets import build_dataset
            out = build_dataset(settings, **params)
            return out if isinstance(out, dict) else {"version": getattr(out, "version", str(out))}
        return run
    if kind == "index":
        def run(settings, params, ctx):
            from app.services import indexing
            fn = indexing.rebuild_index if params.get("rebuild") else indexing.sync_index
            return jsonable(fn(settings))
        return run
    if kind == "sync":
        def run(settings, params, ctx):
            from slack_sdk import WebClient
            from app.services.ingestion import sync_slack_live
            if not settings.slack_bot_token:
                raise ValueError("TEAMLORE_SLACK_BOT_TOKEN is not set")
            client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
            summary = sync_slack_live(settings, client, source_name=params.get("source_name", "slack"))
            return {k: v for k, v in vars(summary).items() if isinstance(v, (int, str, float))}
        return run
    if kind == "upload":
        from app.workflows.uploads import run_upload
        return run_upload
    raise ValueError(f"unknown job kind {kind!r}; expected one of {KINDS}")


def create_job(settings: Settings, kind: str, params: dict[str, Any]) -> int:
    """Record a queued job; returns its id (whoever runs it calls `execute`)."""
    if kind not in KINDS:
        raise ValueError(f"unknown job kind {kind!r}; expected one of {KINDS}")
    with session_scope(settings.db_url) as s:
        job = Job(kind=kind, params=params, status="queued")
        s.add(job)
        s.flush()
        return job.id


def execute(settings: Settings, job_id: int, worker: str | None = None) -> str:
    """Run one job to completion in this process; returns its final status."""
    worker = worker or f"{socket.gethostname()}:{os.getpid()}"
    with session_scope(settings.db_url) as s:
        lock_rows(s, Job, Job.id == job_id)  # SQLite too: two deliveries at once both read "queued" and both ran it
        job = s.get(Job, job_id)
        if job is None or job.status in ("succeeded", "failed", "cancelled"):
            return job.status if job else "missing"
        if job.cancel_requested:
            job.status, job.finished_at = "cancelled", utcnow()
            return "cancelled"
        if job.status == "running":  # delivered twice (brokers are at-least-once): only a dead worker's job is ours
            beat = job.updated_at if job.updated_at.tzinfo else job.updated_at.replace(tzinfo=timezone.utc)
            if beat > datetime.now(timezone.utc) - timedelta(seconds=settings.job_stale_after_s):
                return "running"
        job.status, job.worker, job.attempts = "running", worker, job.attempts + 1
        job.started_at = job.started_at or utcnow()
        kind, params, attempt = job.kind, dict(job.params), job.attempts
    log_path = settings.runs_dir / f"job-{job_id}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    ctx = JobContext(settings, job_id, log_path, attempt=attempt)
    ctx.log(f"started on {worker}")
    stop = threading.Event()

    def heartbeat() -> None:
        # beat well inside the stale window, or a slow job would be re-queued while it is still running
        while not stop.wait(min(HEARTBEAT_S, settings.job_stale_after_s / 3)):
            with session_scope(settings.db_url) as s:
                s.execute(update(Job).where(Job.id == job_id).values(updated_at=utcnow()))

    beat = threading.Thread(target=heartbeat, daemon=True)
    beat.start()
    status, result, error = "succeeded", {}, None
    try:
        result = _handler(kind)(settings, params, ctx) or {}
        if ctx.cancelled():
            status = "cancelled"
    except Exception as exc:  # recorded for the UI; the worker keeps serving other jobs
        status, error = "failed", f"{type(exc).__name__}: {exc}"
        ctx.log("failed: " + "".join(traceback.format_exception_only(type(exc), exc)).strip())
        log.warning("job %s failed: %s", job_id, error)
    finally:
        stop.set()
        forget_training_metrics(job_id)
    ctx.log(f"finished: {status}")
    with session_scope(settings.db_url) as s:
        job = s.get(Job, job_id)
        job.status, job.error, job.finished_at = status, error, utcnow()
        job.result = jsonable(result)
        if status == "succeeded":
            job.progress = 1.0
    return status


class JobQueue:
    """Submit jobs and run workers; one Huey instance per settings."""

    def __init__(self, settings: Settings):
        self.settings = settings
        if settings.redis_url:
            self.huey = RedisHuey(settings.queue_name, url=settings.redis_url)
        else:
            self.huey = SqliteHuey("teamlore", filename=str(settings.data_dir / "queue.db"))
        self._task = self.huey.task(retries=0, name="teamlore.run_job")(self._run)

    def _run(self, job_id: int) -> str:
        return execute(self.settings, job_id)

    def submit(self, kind: str, params: dict[str, Any], actor_user_id: int | None = None) -> Job:
        job_id = create_job(self.settings, kind, params)
        self._task(job_id)
        with session_scope(self.settings.db_url) as s:
            return s.get(Job, job_id)

    def cancel(self, job_id: int) -> Job | None:
        with session_scope(self.settings.db_url) as s:
            job = s.get(Job, job_id)
            if job is None:
                return None
            if job.status in ("queued", "running"):
                job.cancel_requested = True
                if job.status == "queued":
                    job.status, job.finished_at = "cancelled", utcnow()
            return job

    def retry(self, job_id: int, run: Callable[[int], None] | None = None) -> Job:
        """Queue a failed or cancelled job again (`run`: who runs it, when not a worker through the queue)."""
        with session_scope(self.settings.db_url) as s:
            job = s.get(Job, job_id)
            if job is None:
                raise LookupError(f"no job {job_id}")
            # one conditional update: two retries at once (a double click) both saw "failed" and queued it twice
            retried = s.execute(update(Job).where(Job.id == job_id, Job.status.in_(("failed", "cancelled")))
                                .values(status="queued", error=None, cancel_requested=False, finished_at=None,
                                        updated_at=utcnow())).rowcount
            if not retried:
                s.refresh(job)
                raise ValueError(f"job {job_id} is {job.status}; only failed or cancelled jobs can be retried")
        (run or self._task)(job_id)
        with session_scope(self.settings.db_url) as s:
            return s.get(Job, job_id)

    def requeue_stale(self, stale_after_s: float | None = None) -> list[int]:
        """Jobs left `running` by a dead worker (no heartbeat) go back on the queue to resume."""
        stale_after_s = self.settings.job_stale_after_s if stale_after_s is None else stale_after_s
        cutoff = datetime.now(timezone.utc) - timedelta(seconds=stale_after_s)
        with session_scope(self.settings.db_url) as s:
            stale = s.scalars(select(Job).where(Job.status == "running")).all()
            ids = []
            for job in stale:
                updated = job.updated_at if job.updated_at.tzinfo else job.updated_at.replace(tzinfo=timezone.utc)
                if updated < cutoff:
                    job.status = "queued"
                    ids.append(job.id)
        for job_id in ids:
            log.warning("re-queueing job %s: its worker stopped sending heartbeats", job_id)
            self._task(job_id)
        return ids

    def drain(self, max_jobs: int = 100) -> int:
        """Run queued tasks in this process until the queue is empty (tests, `teamlore worker --burst`)."""
        done = 0
        while done < max_jobs:
            task = self.huey.dequeue()
            if task is None:
                break
            self.huey.execute(task)
            done += 1
        return done

    def counts(self) -> dict[str, int]:
        with session_scope(self.settings.db_url) as s:
            rows = s.execute(select(Job.status, Job.id)).all()
        out: dict[str, int] = {}
        for status, _ in rows:
            out[status] = out.get(status, 0) + 1
        return out

    def refresh_queue_gauges(self) -> None:
        counts = self.counts()
        JOBS_QUEUED.set(counts.get("queued", 0))
        JOBS_RUNNING.set(counts.get("running", 0))

    def serve_metrics(self, port: int, refresh_s: float = 10.0, addr: str = "0.0.0.0") -> threading.Thread:
        """Prometheus endpoint of the worker (training loss, tokens/s, GPU memory, queue depth)."""
        from prometheus_client import start_http_server
        start_http_server(port, addr=addr)

        def refresh() -> None:
            while True:
                try:
                    self.refresh_queue_gauges()
                except Exception:  # the database may be restarting; the next round retries
                    log.warning("could not refresh job queue gauges", exc_info=True)
                time.sleep(refresh_s)

        thread = threading.Thread(target=refresh, name="metrics-refresh", daemon=True)
        thread.start()
        return thread

    def beat(self, worker: str) -> None:
        """Record that `worker` is alive and consuming (the admin page warns when no worker is)."""
        self.huey.storage.put_data(_WORKER_KEY, json.dumps({"worker": worker, "at": time.time()}).encode())

    def worker_status(self) -> dict[str, Any]:
        """{alive, worker, last_seen_s}: whether any worker beat within WORKER_ALIVE_S (None: never seen)."""
        raw = self.huey.storage.peek_data(_WORKER_KEY)
        seen = json.loads(raw) if raw is not EmptyData and raw else None
        age = max(0.0, time.time() - float(seen["at"])) if seen else None
        return {"alive": age is not None and age < WORKER_ALIVE_S, "worker": seen["worker"] if seen else None,
                "last_seen_s": round(age, 1) if age is not None else None}

    def _beat_forever(self, worker: str) -> None:
        while True:
            try:
                self.beat(worker)
            except Exception:  # the broker may be restarting; the next beat retries
                log.warning("could not record the worker heartbeat", exc_info=True)
            time.sleep(WORKER_BEAT_S)

    def run_worker(self, workers: int = 1) -> None:
        """Blocking consumer loop (`teamlore worker`)."""
        threading.Thread(target=self._beat_forever, args=(f"{socket.gethostname()}:{os.getpid()}",),
                         name="worker-heartbeat", daemon=True).start()
        self.requeue_stale()
        self.huey.periodic_task(_every_minute(), name="teamlore.requeue_stale")(lambda: self.requeue_stale())
        consumer = self.huey.create_consumer(workers=workers, worker_type="thread", periodic=True,
                                             check_worker_health=True)
        consumer.run()


def _every_minute():
    from huey import crontab
    return crontab(minute="*")
