"""DELETE /v1/documents/{id}: the document is gone for everyone when the request answers (its rows are deleted in
the request; search drops hits whose chunks are gone), and dropping its vectors from the index is a job queued in
the same transaction, run by the API's upload runner. Hostile cases: someone else's document, a second delete,
25 at once, and an API killed before or during the sync (the document never comes back)."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient
from sqlalchemy import select, update

from app.db import session_scope
from app.db.models import Job
from retrieval.faiss_index import IndexStore
from tests.app.conftest import auth, make_key
from tests.upload_jobs import wait_for

PARKING = ("parking.md", b"# Parking\n\nVisitors park in bay 7 behind the Zeta building; staff need a red permit.\n",
           "text/markdown")
LUNCH = ("lunch.md", b"# Lunch\n\nThe canteen opens at half past eleven; visitors eat for free on Fridays.\n",
         "text/markdown")


def upload(client, key: str, *files) -> dict:
    r = client.post("/v1/documents", headers=auth(key), files=[("files", f) for f in files])
    assert r.status_code == 202, r.text
    done = wait_for(client, r.json()["id"], auth(key)).json()
    assert done["status"] == "succeeded", done
    return done


def doc_ids(client, key: str) -> dict[str, int]:
    return {d["path"]: d["id"] for d in client.get("/v1/documents", headers=auth(key)).json()}


def search(client, key: str, q: str, k: int = 5) -> list[dict]:
    r = client.get("/v1/search", params={"q": q, "k": k}, headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()


def indexed_documents(settings) -> set[int]:
    """The documents the published index snapshot holds vectors of."""
    snap = IndexStore(settings.index_dir).load()
    return {r["document_id"] for r in snap.records.values() if r.get("document_id") is not None}


def index_jobs(settings) -> list[Job]:
    with session_scope(settings.db_url) as s:
        jobs = s.scalars(select(Job).where(Job.kind == "index").order_by(Job.id)).all()
        s.expunge_all()
        return jobs


def wait_jobs_done(settings, timeout: float = 120) -> list[Job]:
    import time
    deadline = time.monotonic() + timeout
    while True:
        jobs = index_jobs(settings)
        if all(j.status in ("succeeded", "failed", "cancelled") for j in jobs):
            return jobs
        assert time.monotonic() < deadline, [(j.id, j.status) for j in jobs]
        time.sleep(0.2)


def hold_jobs(app) -> list[int]:
    """The app's runner records what it is given instead of running it (an API stopped before the job ran)."""
    held: list[int] = []
    app.state.uploads().submit = lambda job_id, reserved=False: held.append(job_id)
    return held


def test_a_deleted_document_is_gone_for_everyone_at_once_and_the_index_catches_up_in_a_job(sqlite_settings):
    from app.api.main import create_app
    settings = sqlite_settings
    app = create_app(settings)
    with TestClient(app) as client:
        ana, bob = make_key(settings, "ana"), make_key(settings, "bob")
        upload(client, ana, PARKING, LUNCH)
        ids = doc_ids(client, ana)
        parking, lunch = ids["parking.md"], ids["lunch.md"]
        assert "bay 7" in search(client, bob, "where do visitors park")[0]["text"]
        stored = settings.uploads_dir / "documents"
        assert [p.name for p in stored.rglob("parking.md")] == ["parking.md"]

        # someone else's document: refused, and it stays
        assert client.delete(f"/v1/documents/{parking}", headers=auth(bob)).status_code == 403
        held = hold_jobs(app)  # the sync does not run yet: what users see must not depend on it
        r = client.delete(f"/v1/documents/{parking}", headers=auth(ana))
        assert r.status_code == 204, r.text
        assert parking in indexed_documents(settings)  # its vectors are still published …
        for who in (ana, bob):  # … yet nobody finds it any more, nor its original
            assert all("bay 7" not in h["text"] for h in search(client, who, "where do visitors park", k=10))
            assert "parking.md" not in doc_ids(client, who)
            assert client.get(f"/v1/documents/{parking}/original", headers=auth(who)).status_code == 404
        answer = client.post("/v1/chat/completions", headers=auth(bob), json={
            "model": "teamlore", "messages": [{"role": "user", "content": "Where do visitors park?"}]}).json()
        assert "bay 7" not in answer["choices"][0]["message"]["content"]
        assert all(c.get("document_id") != parking for c in answer["teamlore"]["citations"])
        # the deleted document leaves no gap: k=1 still gets the next candidate
        assert [h["meta"]["document_id"] for h in search(client, bob, "where do visitors park", k=1)] == [lunch]
        assert not list(stored.rglob("parking.md"))  # the stored upload went with it
        assert client.delete(f"/v1/documents/{parking}", headers=auth(ana)).status_code == 404  # twice: 404

        [job] = index_jobs(settings)
        assert held == [job.id] and job.status == "queued" and job.params["in_api"]
        del app.state.uploads().submit  # the runner's own again
        app.state.uploads().submit(job.id)
        [job] = wait_jobs_done(settings)
        assert job.status == "succeeded", job.error
        assert indexed_documents(settings) == {lunch}
        assert "canteen" in search(client, bob, "when does the canteen open")[0]["text"]


def test_25_concurrent_deletes_share_their_sync_and_one_document_is_deleted_once(settings):
    """On SQLite and PostgreSQL: 25 documents deleted at once all go, in far fewer index passes than 25; 25
    deletes of one document are one 204 and 24 404s, never a 500."""
    from app.api.main import create_app
    app = create_app(settings)
    with TestClient(app) as client:
        ana, root = make_key(settings, "ana"), make_key(settings, "root", "admin")
        files = [(f"note-{i:02d}.md", f"# Note {i}\n\nThe locker code for room {i} is {1000 + i}.\n".encode(),
                  "text/markdown") for i in range(26)]
        upload(client, ana, *files)
        ids = doc_ids(client, ana)
        assert len(ids) == 26 and set(ids.values()) <= indexed_documents(settings)
        targets = [ids[f"note-{i:02d}.md"] for i in range(25)]
        start = threading.Barrier(25)

        def delete(doc_id: int, key: str) -> int:
            start.wait()
            return client.delete(f"/v1/documents/{doc_id}", headers=auth(key)).status_code

        with ThreadPoolExecutor(25) as pool:
            codes = list(pool.map(delete, targets, [ana] * 25))
        assert codes == [204] * 25
        assert list(doc_ids(client, root)) == ["note-25.md"]
        jobs = wait_jobs_done(settings)
        assert all(j.status == "succeeded" for j in jobs) and 1 <= len(jobs) < 25, [(j.id, j.status) for j in jobs]
        assert indexed_documents(settings) == {ids["note-25.md"]}
        assert all("locker code for room 3 " not in h["text"] for h in search(client, root, "locker code room 3"))

        last = ids["note-25.md"]
        start = threading.Barrier(25)
        with ThreadPoolExecutor(25) as pool:
            codes = sorted(pool.map(delete, [last] * 25, [ana, root] * 12 + [ana]))
        assert codes == [204] + [404] * 24, codes
        assert doc_ids(client, root) == {}
        wait_jobs_done(settings)
        assert indexed_documents(settings) == set()


def test_an_api_killed_during_the_sync_never_brings_the_document_back(sqlite_settings):
    """Killed mid-sync: the delete's index job is left `running` with a stale heartbeat, and so is the upload job
    that ingested the document (killed during its own index sync). The next start resumes both: the upload finds
    its stored file gone instead of ingesting it again, and the sync drops the vectors."""
    from app.api.main import create_app
    settings = sqlite_settings
    first = create_app(settings)
    with TestClient(first) as client:
        ana = make_key(settings, "ana")
        upload_job = upload(client, ana, PARKING, LUNCH)["id"]
        parking = doc_ids(client, ana)["parking.md"]
        held = hold_jobs(first)
        assert client.delete(f"/v1/documents/{parking}", headers=auth(ana)).status_code == 204
    [sync_job] = held
    stale = datetime.now(timezone.utc) - timedelta(hours=1)
    with session_scope(settings.db_url) as s:  # as a kill -9 leaves them
        s.execute(update(Job).where(Job.id.in_((upload_job, sync_job))).values(
            status="running", attempts=1, updated_at=stale))
    assert parking in indexed_documents(settings)
    with TestClient(create_app(settings)) as client:
        # before the resumed jobs run (their heartbeats must look stale first), it is gone already
        assert "parking.md" not in doc_ids(client, ana)
        assert all("bay 7" not in h["text"] for h in search(client, ana, "where do visitors park", k=10))
        done = wait_for(client, upload_job, auth(ana)).json()
        assert done["status"] == "succeeded", done
        assert {r["filename"]: r["status"] for r in done["results"]} == {"parking.md": "rejected",
                                                                         "lunch.md": "unchanged"}
        jobs = {j.id: j for j in wait_jobs_done(settings)}
        assert jobs[sync_job].status == "succeeded" and jobs[sync_job].attempts == 2
        assert "parking.md" not in doc_ids(client, ana)
        assert parking not in indexed_documents(settings)
        assert all("bay 7" not in h["text"] for h in search(client, ana, "where do visitors park", k=10))
