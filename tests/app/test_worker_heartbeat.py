"""Worker liveness: a running worker beats into the queue's storage; the API reports it for the admin page."""
import time

from fastapi.testclient import TestClient

from app.workflows import jobs
from app.workflows.jobs import JobQueue
from tests.app.conftest import auth, make_key


def test_no_worker_then_a_beat_then_stale(sqlite_settings, monkeypatch):
    q = JobQueue(sqlite_settings)
    assert q.worker_status() == {"alive": False, "worker": None, "last_seen_s": None}
    q.beat("host:1")
    # another JobQueue on the same settings (the API's) sees the worker's beat
    status = JobQueue(sqlite_settings).worker_status()
    assert status["alive"] and status["worker"] == "host:1" and status["last_seen_s"] < jobs.WORKER_ALIVE_S
    later = time.time() + jobs.WORKER_ALIVE_S + 1
    monkeypatch.setattr(jobs.time, "time", lambda: later)
    status = q.worker_status()
    assert not status["alive"] and status["last_seen_s"] > jobs.WORKER_ALIVE_S


def test_api_reports_worker_liveness_to_admins_only(sqlite_settings):
    from app.api.main import create_app
    admin, user = make_key(sqlite_settings, "root", "admin"), make_key(sqlite_settings, "ana")
    with TestClient(create_app(sqlite_settings)) as c:
        assert c.get("/v1/workers", headers=auth(user)).status_code == 403
        body = c.get("/v1/workers", headers=auth(admin)).json()
        assert body["alive"] is False and "teamlore worker" in body["how_to_start"]
        JobQueue(sqlite_settings).beat("w:2")
        assert c.get("/v1/workers", headers=auth(admin)).json()["alive"] is True
