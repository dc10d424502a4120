"""The worker's Prometheus endpoint: queue depth and training gauges, in-process and from `teamlore worker`."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import httpx

from app.workflows.jobs import JobContext, JobQueue, execute
from tests.conftest import REPO


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _scrape(port: int, timeout: float = 20) -> str:
    deadline = time.time() + timeout
    while True:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        except httpx.HTTPError:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def _value(text: str, name: str, labels: str = "") -> float | None:
    for line in text.splitlines():
        if line.startswith(name + (labels or " ")) or (not labels and line.startswith(name + "{")):
            return float(line.rsplit(" ", 1)[1])
    return None


def test_training_metrics_become_gauges_and_leave_with_the_job(sqlite_settings):
    queue = JobQueue(sqlite_settings)
    job = queue.submit("dataset", {"name": "x"})
    port = _free_port()
    queue.serve_metrics(port, refresh_s=0.2, addr="127.0.0.1")
    ctx = JobContext(sqlite_settings, job.id, sqlite_settings.runs_dir / "m.log")
    ctx.metrics(3, {"loss": 2.5, "tokens_per_s": 1234.5, "gpu_mem_gib": 1.5, "lr": 1e-4})
    text = _scrape(port)
    label = f'{{job_id="{job.id}"}}'
    assert _value(text, "teamlore_train_loss", label) == 2.5
    assert _value(text, "teamlore_train_tokens_per_second", label) == 1234.5
    assert _value(text, "teamlore_gpu_memory_bytes", label) == 1.5 * (1 << 30)
    time.sleep(0.5)  # one refresh of the queue gauges
    assert _value(_scrape(port), "teamlore_jobs_queued") == 1.0
    execute(sqlite_settings, job.id)  # finishes (an empty workspace fails the build; either way it ends)
    text = _scrape(port)
    assert f'teamlore_train_loss{label}' not in text  # no stale series for a finished job
    time.sleep(0.5)
    assert _value(_scrape(port), "teamlore_jobs_queued") == 0.0


def test_teamlore_worker_serves_metrics_on_its_port(tmp_path):
    port = _free_port()
    env = {**os.environ, "TEAMLORE_DATA_DIR": str(tmp_path / "var"), "TEAMLORE_METRICS_PORT": str(port),
           "TEAMLORE_DATABASE_URL": f"sqlite:///{tmp_path / 'var' / 'teamlore.db'}"}
    env.pop("TEAMLORE_REDIS_URL", None)
    proc = subprocess.Popen([sys.executable, "-m", "app.cli", "worker"], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        text = _scrape(port, timeout=60)
        assert "teamlore_jobs_queued" in text and "teamlore_jobs_running" in text
        assert "# HELP teamlore_train_loss" in text
    finally:
        proc.kill()
        proc.wait(10)
