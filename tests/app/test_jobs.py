"""Durable jobs through the API: submit a retrain, a worker runs it, live metrics and logs, a candidate model
version, promote; cancel, retry, stale-worker recovery; the queue on SQLite (embedded) and Redis (production)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from app.db import session_scope
from app.db.models import DatasetVersion, Job
from tests.app.conftest import auth, make_key
from tests.finetune.conftest import write_dataset

TINY_CONFIG = {"tokens_per_step": 600, "micro_batch_tokens": 256}


@pytest.fixture(scope="module")
def tiny_base(tmp_path_factory):
    from tests.model.tiny_llama import build_tiny_llama
    return build_tiny_llama(tmp_path_factory.mktemp("base"), hidden_size=64)


def _dataset(settings, version="dsv1"):
    path = write_dataset(settings.datasets_dir / version)
    with session_scope(settings.db_url) as s:
        s.add(DatasetVersion(name="slack-qa", version=version, path=str(path), stats={"train": 48}))
    return version


@pytest.fixture(params=["sqlite-queue", pytest.param("redis-queue", marks=pytest.mark.redis)])
def queue_settings(request, sqlite_settings):
    if request.param == "sqlite-queue":
        return sqlite_settings
    from tests.conftest import REDIS_URL
    import redis
    import uuid
    redis.Redis.from_url(REDIS_URL).ping()
    # a queue of its own per test (Huey's keys are per queue name): two suites on one Redis (CI beside a
    # developer's run) took each other's jobs when both used "teamlore" and flushed the database
    return sqlite_settings.model_copy(update={"redis_url": REDIS_URL, "queue_name": f"test-{uuid.uuid4().hex}"})


def test_retrain_job_end_to_end_through_the_api(queue_settings, tiny_base):
    from app.api.main import create_app
    settings = queue_settings
    version = _dataset(settings)
    admin = make_key(settings, "root", "admin")
    with TestClient(create_app(settings)) as c:
        h = auth(admin)
        r = c.post("/v1/jobs/train", headers=h, json={"dataset_version": "nope", "base_model": str(tiny_base)})
        assert r.status_code == 404
        r = c.post("/v1/jobs/train", headers=h, json={"dataset_version": version, "base_model": str(tiny_base),
                                                       "steps": 3, "learning_rate": 5e-3, "lora_r": 4,
                                                       "name": f"cand-{uuid.uuid4().hex[:6]}"})
        assert r.status_code == 202, r.text
        job_id = r.json()["id"]
        assert r.json()["status"] == "queued"
        # the worker: the same queue the API wrote to (SQLite file or Redis)
        with session_scope(settings.db_url) as s:  # the API does not know TINY_CONFIG; tests keep steps tiny
            job = s.get(Job, job_id)
            job.params = {**job.params, "config": {**job.params["config"], **TINY_CONFIG}}
        assert c.app.state.jobs().drain() == 1
        job = c.get(f"/v1/jobs/{job_id}", headers=h).json()
        assert job["status"] == "succeeded", job
        assert job["progress"] == 1.0 and job["result"]["model_version"]["name"].startswith("cand-")
        metrics = c.get(f"/v1/jobs/{job_id}/metrics", headers=h).json()
        assert [m["step"] for m in metrics] == [1, 2, 3] and all("loss" in m for m in metrics)
        assert c.get(f"/v1/jobs/{job_id}/metrics", params={"after_step": 2}, headers=h).json()[0]["step"] == 3
        logs = c.get(f"/v1/jobs/{job_id}/logs", headers=h).json()["lines"]
        assert any("step 3" in line for line in logs) and logs[-1].endswith("finished: succeeded")
        versions = c.get("/v1/model-versions", headers=h).json()
        cand = next(v for v in versions if v["job_id"] == job_id)
        assert cand["status"] == "candidate" and cand["metrics"]["heldout"]["candidate"]["loss"] > 0
        # the gate could not measure answers (no index here): registered, not promoted; an admin can force it
        assert cand["gate"]["passed"] is False and job["result"]["promoted"] is False
        r = c.post(f"/v1/model-versions/{cand['id']}/promote", headers=h)
        assert r.status_code == 409 and r.json()["error"]["code"] == "gate_failed"
        assert c.post(f"/v1/model-versions/{cand['id']}/promote", headers=h,
                      json={"force": True}).json()["status"] == "live"


def test_cancel_retry_and_failures_are_reported(sqlite_settings):
    from app.workflows.jobs import JobQueue
    q = JobQueue(sqlite_settings)
    job = q.submit("train", {"dataset": "missing-version", "base": "x"})
    assert q.cancel(job.id).status == "cancelled"
    assert q.drain() == 1  # the queued task runs and sees the cancellation
    with session_scope(sqlite_settings.db_url) as s:
        assert s.get(Job, job.id).status == "cancelled"
    q.retry(job.id)
    q.drain()
    with session_scope(sqlite_settings.db_url) as s:
        failed = s.get(Job, job.id)
        assert failed.status == "failed" and "missing-version" in failed.error and failed.attempts == 1
    with pytest.raises(ValueError, match="unknown job kind"):
        q.submit("mine-bitcoin", {})


def test_a_job_left_running_by_a_dead_worker_is_requeued(sqlite_settings):
    from app.workflows.jobs import JobQueue
    q = JobQueue(sqlite_settings)
    job = q.submit("train", {"dataset": "missing-version", "base": "x"})
    q.drain()
    with session_scope(sqlite_settings.db_url) as s:  # pretend a worker claimed it and died 5 minutes ago
        s.execute(update(Job).where(Job.id == job.id).values(
            status="running", updated_at=datetime.now(timezone.utc) - timedelta(minutes=5)))
    fresh = q.submit("train", {"dataset": "missing-version", "base": "x"})
    with session_scope(sqlite_settings.db_url) as s:
        s.execute(update(Job).where(Job.id == fresh.id).values(status="running"))  # alive: recent heartbeat
    assert q.requeue_stale(stale_after_s=60) == [job.id]
    q.drain()
    with session_scope(sqlite_settings.db_url) as s:
        assert s.get(Job, job.id).attempts == 2 and s.get(Job, fresh.id).status == "running"


def test_qlora_flag_reaches_the_recipe_and_needs_a_base_model(sqlite_settings, tiny_base):
    """The Retrain page's QLoRA checkbox: `qlora` becomes the recipe's quantize_4bit; without a base model (that
    would be pretraining) it is refused with a 422 that says why."""
    from app.api.main import create_app
    settings = sqlite_settings
    version = _dataset(settings, "dsq")
    admin = make_key(settings, "root", "admin")
    with TestClient(create_app(settings)) as c:
        h = auth(admin)
        r = c.post("/v1/jobs/train", headers=h, json={"dataset_version": version, "qlora": True})
        assert r.status_code == 422 and "base model" in r.text
        r = c.post("/v1/jobs/train", headers=h, json={"dataset_version": version, "base_model": str(tiny_base),
                                                       "qlora": True, "steps": 2})
        assert r.status_code == 202, r.text
        with session_scope(settings.db_url) as s:
            assert s.get(Job, r.json()["id"]).params["config"]["quantize_4bit"] is True


def test_a_restarted_training_job_says_where_it_goes_on_from(sqlite_settings, monkeypatch):
    """kill -9 of the worker at step 2 of 30 with no checkpoint yet: the next worker starts over, and the job
    said nothing of it — its progress stayed at the dead attempt's 7 % until the new attempt's first step."""
    from app.workflows import jobs, training
    from app.workflows.jobs import JobQueue
    seen = {}

    def fake_run_training(settings, params, *, job_id=None, on_metrics=None, should_cancel=None):
        with session_scope(settings.db_url) as s:
            seen["progress"] = s.get(Job, job_id).progress
        return {"status": "done"}
    monkeypatch.setattr(training, "run_training", fake_run_training)
    q = JobQueue(sqlite_settings)
    job = q.submit("train", {"dataset": "v", "base": "x", "steps": 30})
    with session_scope(sqlite_settings.db_url) as s:  # the first attempt got to step 2, then its worker died
        s.execute(update(Job).where(Job.id == job.id).values(
            status="running", attempts=1, progress=2 / 30, updated_at=datetime.now(timezone.utc) - timedelta(minutes=5)))
    assert jobs.execute(sqlite_settings, job.id) == "succeeded"
    log = (sqlite_settings.runs_dir / f"job-{job.id}.log").read_text()
    assert "attempt 2: no checkpoint was saved yet: training starts over at step 0" in log
    assert seen["progress"] == 0.0
    # with a checkpoint at step 10, it says so and shows 10/30
    from finetune.checkpoint import save
    save(sqlite_settings.runs_dir / f"job-{job.id}" / "checkpoints", 10, weights={}, optimizer={}, state={})
    with session_scope(sqlite_settings.db_url) as s:
        s.execute(update(Job).where(Job.id == job.id).values(status="running", progress=0.5,
                                                             updated_at=datetime.now(timezone.utc) - timedelta(minutes=5)))
    jobs.execute(sqlite_settings, job.id)
    assert "attempt 3: resuming from the checkpoint at step 10" in \
        (sqlite_settings.runs_dir / f"job-{job.id}.log").read_text()
    assert seen["progress"] == pytest.approx(10 / 30)
