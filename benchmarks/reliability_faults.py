"""Faults with real processes and kill -9 (SIGKILL: no cleanup handlers run).

  worker   the worker is killed during an index rebuild job; while it is dead the API keeps serving the
           previous index; a restarted worker re-queues the job (stale heartbeat) and finishes it.
  train    the worker is killed during a training job right after its first checkpoint; a restarted worker
           resumes from that checkpoint, registers exactly one model version, and stores each step's metrics once.
  upload   the API is killed during a document upload (mid-body, and while its upload job ingests/indexes);
           after a restart there is no half-written document, the job left behind finishes, and a retry leaves
           exactly one.
  delete   the API is killed while the index sync that DELETE /v1/documents/{id} queued runs; the published index still holds the document's vectors, yet after a restart no
           search finds it, the sync job is resumed and drops them, and the document never comes back.
  postgres PostgreSQL (a throwaway cluster on its own port, never the shared one) is restarted under chat
           load; requests fail with JSON 5xx errors while it is down and succeed again without restarting
           Teamlore (pool_pre_ping).

Needs a data directory with an ingested + indexed workspace to copy (the worker/upload scenarios) — e.g.
`TEAMLORE_DATA_DIR=/tmp/rel/var teamlore demo --no-serve --no-train`.

    .venv/bin/python benchmarks/reliability_faults.py --seed-dir /tmp/rel/var worker upload delete postgres \
        --out var/reliability/faults.json
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))
from benchmarks.report import write_json  # noqa: E402
from reliability_load import free_port, wait_ready  # noqa: E402
from tests.upload_jobs import finished  # noqa: E402

BASE_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
            "TEAMLORE_RATE_LIMIT": "1000000/minute", "TEAMLORE_METRICS_PORT": "0"}


def spawn(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "app.cli", *args], cwd=REPO, env={**os.environ, **BASE_ENV, **env},
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)


def kill9(proc: subprocess.Popen) -> None:
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(30)


def stop(proc: subprocess.Popen | None) -> None:
    if proc is not None and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def copy_seed(seed: Path, name: str) -> Path:
    dest = Path(tempfile.mkdtemp(prefix=f"teamlore-fault-{name}-")) / "var"
    shutil.copytree(seed, dest, symlinks=True, ignore=shutil.ignore_patterns("*.log", "tiny-llama", "queue.db*"))
    return dest


def db_rows(data_dir: Path, sql: str, args=()) -> list[tuple]:
    with sqlite3.connect(data_dir / "teamlore.db") as c:
        return c.execute(sql, args).fetchall()


class Poller:
    """Hits one URL every `every` seconds in a thread; records (t, status, ok-json, detail)."""

    def __init__(self, url: str, headers: dict, check, every: float = 0.5):
        self.url, self.headers, self.check, self.every = url, headers, check, every
        self.samples: list[tuple[float, int, bool, str]] = []
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                t = time.time()
                try:
                    r = http.get(self.url, headers=self.headers)
                    self.samples.append((t, r.status_code, *self.check(r)))
                except httpx.HTTPError as exc:
                    self.samples.append((t, 0, False, type(exc).__name__))
                self._stop.wait(self.every)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self.thread.join(35)


# -- worker killed during an index rebuild ----------------------------------------------------------------

def scenario_worker(seed: Path) -> dict:
    data = copy_seed(seed, "worker")
    env = {"TEAMLORE_DATA_DIR": str(data), "TEAMLORE_JOB_STALE_AFTER_S": "4"}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    user = {"Authorization": "Bearer " + (data / "demo-user.key").read_text().strip()}
    api = spawn(["serve", "--port", str(port)], env, data / "api.log")
    worker = None
    try:
        wait_ready(url)
        v0 = httpx.get(url + "/v1/index/status", headers=user, timeout=600).json().get("version")
        os.environ.update({"TEAMLORE_DATA_DIR": str(data)})
        from app.settings import load_settings
        from app.workflows.jobs import JobQueue
        settings = load_settings(data_dir=data, job_stale_after_s=4)
        job_id = JobQueue(settings).submit("index", {"rebuild": True}).id

        def search_ok(r):
            ok = r.status_code == 200 and isinstance(r.json(), list) and len(r.json()) > 0
            return ok, "" if ok else r.text[:200]

        with Poller(url + "/v1/search?q=how%20many%20vacation%20days", user, search_ok) as searches:
            worker = spawn(["worker"], env, data / "worker1.log")
            t_sub = time.time()
            while time.time() - t_sub < 300:
                status = db_rows(data, "select status from jobs where id=?", (job_id,))[0][0]
                if status == "running":
                    break
                time.sleep(0.3)
            time.sleep(3)  # mid-rebuild: loading the embedder / embedding
            kill9(worker)
            t_kill = time.time()
            status_after_kill = db_rows(data, "select status from jobs where id=?", (job_id,))[0][0]
            v_dead = httpx.get(url + "/v1/index/status", headers=user, timeout=600).json().get("version")
            time.sleep(6)  # longer than the stale window: its heartbeat is gone
            worker = spawn(["worker"], env, data / "worker2.log")
            t_restart = time.time()
            final = None
            while time.time() - t_restart < 600:
                final = db_rows(data, "select status, attempts, error from jobs where id=?", (job_id,))[0]
                if final[0] in ("succeeded", "failed", "cancelled"):
                    break
                time.sleep(0.5)
            t_done = time.time()
            v1 = httpx.get(url + "/v1/index/status", headers=user, timeout=600).json().get("version")
            time.sleep(1)
        during_outage = [s for s in searches.samples if t_kill <= s[0] <= t_restart]
        return {
            "job_status_after_kill": status_after_kill, "index_version_before": v0,
            "index_version_while_worker_dead": v_dead, "index_version_after": v1,
            "job_final": {"status": final[0], "attempts": final[1], "error": final[2]},
            "seconds_from_restart_to_done": round(t_done - t_restart, 1),
            "searches": len(searches.samples), "search_failures": sum(1 for s in searches.samples if not s[2]),
            "searches_while_worker_dead": len(during_outage),
            "search_failures_while_worker_dead": sum(1 for s in during_outage if not s[2]),
            "pass": (status_after_kill == "running" and final[0] == "succeeded" and final[1] == 2
                     and v_dead == v0 and v1 is not None and v0 is not None and v1 > v0
                     and all(s[2] for s in searches.samples)),
        }
    finally:
        stop(worker)
        stop(api)


# -- worker killed during training ----------------------------------------------------------------------------

def scenario_train(seed: Path) -> dict:
    """kill -9 the worker after the run's first checkpoint; a restarted worker resumes from it and registers one
    model version; no metric step is stored twice."""
    data = copy_seed(seed, "train")
    env = {"TEAMLORE_DATA_DIR": str(data), "TEAMLORE_JOB_STALE_AFTER_S": "4"}
    version = db_rows(data, "select version from dataset_versions order by id desc limit 1")[0][0]
    from app.settings import load_settings
    from app.workflows.jobs import JobQueue
    settings = load_settings(data_dir=data, job_stale_after_s=4)
    params = {"dataset": version, "pretrain": True, "size": "demo", "steps": 40, "evaluate": False,
              "name": "fault-train", "config": {"tokens_per_step": 2048, "micro_batch_tokens": 2048,
                                                 "checkpoint_every": 5}}
    job_id = JobQueue(settings).submit("train", params).id
    latest = data / "runs" / f"job-{job_id}" / "checkpoints" / "LATEST"
    worker = spawn(["worker"], env, data / "worker1.log")
    try:
        t0 = time.time()
        while not latest.exists() and time.time() - t0 < 600:
            time.sleep(0.2)
        killed_after = latest.read_text().strip() if latest.exists() else None
        kill9(worker)
        steps_before = db_rows(data, "select max(step) from training_metrics where job_id=?", (job_id,))[0][0]
        status_after_kill = db_rows(data, "select status from jobs where id=?", (job_id,))[0][0]
        time.sleep(6)  # past the stale window
        worker = spawn(["worker"], env, data / "worker2.log")
        t_restart = time.time()
        final = None
        while time.time() - t_restart < 600:
            final = db_rows(data, "select status, attempts, error, result from jobs where id=?", (job_id,))[0]
            if final[0] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
        result = json.loads(final[3] or "{}")
        steps = [r[0] for r in db_rows(data, "select step from training_metrics where job_id=? order by step",
                                       (job_id,))]
        versions = db_rows(data, "select name, status from model_versions where job_id=?", (job_id,))
        return {
            "killed_after_checkpoint": killed_after, "last_metric_step_before_kill": steps_before,
            "job_status_after_kill": status_after_kill,
            "job_final": {"status": final[0], "attempts": final[1], "error": final[2]},
            "resumed_from": result.get("resumed_from"), "steps_run": result.get("steps"),
            "metric_steps": len(steps), "duplicate_metric_steps": len(steps) - len(set(steps)),
            "model_versions_registered": versions, "seconds_from_restart_to_done": round(time.time() - t_restart, 1),
            "pass": (status_after_kill == "running" and final[0] == "succeeded" and final[1] == 2
                     and result.get("resumed_from") is not None and len(versions) == 1
                     and steps == list(range(1, 41))),
        }
    finally:
        stop(worker)


# -- API killed during an upload ----------------------------------------------------------------------------

def _document(n_paragraphs: int) -> bytes:
    paras = [f"## Section {i}\n\nThe fault-injection handbook, part {i}: the escalation contact for region {i} is "
             f"team-{i % 17}, reachable on weekdays; incidents of severity {i % 4} page the on-call engineer "
             f"within {5 + i % 11} minutes and are reviewed on the following {('Monday', 'Thursday')[i % 2]}."
             for i in range(n_paragraphs)]
    return ("# Fault injection handbook\n\n" + "\n\n".join(paras)).encode()


def scenario_upload(seed: Path) -> dict:
    data = copy_seed(seed, "upload")
    env = {"TEAMLORE_DATA_DIR": str(data), "TEAMLORE_JOB_STALE_AFTER_S": "4"}
    admin = {"Authorization": "Bearer " + (data / "demo-admin.key").read_text().strip()}
    body = _document(600)
    name = "fault-handbook.md"
    results = {}
    for kill_point in ("mid_body", "during_ingest_or_index"):
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        api = spawn(["serve", "--port", str(port)], env, data / "api.log")
        try:
            wait_ready(url)
            httpx.get(url + "/v1/me", headers=admin, timeout=600)  # warm

            def send():
                boundary = "teamloreboundary"
                head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; filename=\"{name}\"\r\n"
                        f"Content-Type: text/markdown\r\n\r\n").encode()
                tail = f"\r\n--{boundary}--\r\n".encode()

                def stream():
                    yield head
                    for i in range(0, len(body), 16384):
                        yield body[i:i + 16384]
                        if kill_point == "mid_body":
                            time.sleep(0.2)  # a slow client: the kill lands inside the body
                    yield tail
                try:
                    httpx.post(url + "/v1/documents", content=stream(), timeout=600,
                               headers={**admin, "content-type": f"multipart/form-data; boundary={boundary}"})
                except httpx.HTTPError:
                    pass  # the server dies under us: expected
            t = threading.Thread(target=send, daemon=True)
            t.start()
            time.sleep(1.0 if kill_point == "mid_body" else 4.0)
            kill9(api)
            t.join(30)
        finally:
            stop(api)
        docs = db_rows(data, "select id, size_bytes, length(sections) from documents where path like ?", (f"%{name}",))
        kept = list((data / "uploads" / "documents").glob(f"*/{name}"))  # uploads/documents/<owner id>/<name>
        jobs = db_rows(data, "select status from jobs where kind = 'upload' order by id desc limit 1")
        results[kill_point] = {"documents_after_kill": len(docs),
                               "complete": all(d[1] == len(body) and d[2] > 2 for d in docs),
                               "kept_files": len(kept),
                               "kept_file_complete": all(k.stat().st_size == len(body) for k in kept),
                               "job_left": jobs[0][0] if jobs else None}
    # restart and retry the upload: exactly one document, indexed and searchable
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = spawn(["serve", "--port", str(port)], env, data / "api.log")
    try:
        wait_ready(url)
        with httpx.Client(base_url=url, headers=admin, timeout=900) as c:  # each upload: its job's outcome
            r = finished(c, c.post("/v1/documents", files={"files": (name, body, "text/markdown")}))
            retry = (r.json()["results"][0] if r.status_code == 200 and r.json()["results"]
                     else {"status": f"HTTP {r.status_code}", "body": r.text[:300]})
            r2 = finished(c, c.post("/v1/documents", files={"files": (name, body, "text/markdown")}))
            again = (r2.json()["results"][0]["status"] if r2.status_code == 200 and r2.json()["results"]
                     else f"HTTP {r2.status_code}")
        query = {"q": "escalation contact for region 42 fault-injection handbook"}
        found_after_retries = any("fault" in (h.get("title") or "").lower() for h in httpx.get(
            url + "/v1/search", headers=admin, timeout=60, params=query).json())
        # the upload job the kill left `running` is run again once its heartbeat is stale (4 s here)
        t0, deadline = time.time(), time.time() + 300
        while time.time() < deadline and db_rows(
                data, "select id from jobs where kind = 'upload' and status in ('queued', 'running')"):
            time.sleep(0.5)
        resumed_s = round(time.time() - t0, 1)
        hits = httpx.get(url + "/v1/search", headers=admin, timeout=60, params=query).json()
    finally:
        stop(api)
    docs = db_rows(data, "select id from documents where path like ?", (f"%{name}",))
    chunks = db_rows(data, "select count(*) from chunks where origin_kind='document' and origin_key=?",
                     (str(docs[0][0]),)) if docs else [(0,)]
    leftovers = [p.name for p in (data / "uploads").iterdir() if p.is_dir() and p.name.startswith("tmp")]
    unfinished = db_rows(data, "select id, status from jobs where kind = 'upload' and status in ('queued', 'running')")
    return {"kills": results, "retry_status": retry.get("status"), "second_retry_status": again,
            "documents_after_retries": len(docs), "chunks_for_document": chunks[0][0],
            "search_finds_it_after_the_retries": found_after_retries,
            "seconds_after_the_retries_until_the_killed_job_finished": resumed_s,
            "search_finds_it": any("fault" in (h.get("title") or "").lower() for h in hits),
            "leftover_temp_upload_dirs": len(leftovers), "unfinished_upload_jobs": len(unfinished),
            "pass": all(v["complete"] and v["kept_file_complete"] and v["documents_after_kill"] <= 1
                        for v in results.values()) and len(docs) == 1 and chunks[0][0] > 0 and not unfinished
                    and any("fault" in (h.get("title") or "").lower() for h in hits)}


# -- API killed during the index sync a document deletion queued ---------------------------------------------

def _indexed_documents(data: Path) -> set[int]:
    records = json.loads(((data / "index" / "current").resolve() / "records.json").read_text())  # the published one
    return {r["document_id"] for r in records.values() if r.get("document_id") is not None}


def scenario_delete(seed: Path) -> dict:
    data = copy_seed(seed, "delete")
    env = {"TEAMLORE_DATA_DIR": str(data), "TEAMLORE_JOB_STALE_AFTER_S": "4"}
    admin = {"Authorization": "Bearer " + (data / "demo-admin.key").read_text().strip()}
    name, body = "fault-handbook.md", _document(600)
    query = {"q": "escalation contact for region 42 fault-injection handbook", "k": 10}

    def finds_it(url: str) -> bool:
        hits = httpx.get(url + "/v1/search", headers=admin, params=query, timeout=60).json()
        return any(h["meta"].get("document_id") == doc_id for h in hits)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = spawn(["serve", "--port", str(port)], env, data / "api.log")
    try:
        wait_ready(url)
        with httpx.Client(base_url=url, headers=admin, timeout=900) as c:
            r = finished(c, c.post("/v1/documents", files={"files": (name, body, "text/markdown")}))
            assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
            doc_id = next(d["id"] for d in c.get("/v1/documents").json() if d["path"] == name)
            found_before = finds_it(url)
            t = time.perf_counter()
            r = c.delete(f"/v1/documents/{doc_id}")
            delete_ms = (time.perf_counter() - t) * 1000
            deadline = time.time() + 30  # kill -9 once the sync the delete queued is running
            while time.time() < deadline and not db_rows(
                    data, "select id from jobs where kind = 'index' and status = 'running'"):
                time.sleep(0.01)
            kill9(api)
    finally:
        stop(api)
    job = db_rows(data, "select id, status from jobs where kind = 'index' order by id desc limit 1")
    after_kill = {"delete_status": r.status_code, "delete_ms": round(delete_ms, 1),
                  "document_rows": len(db_rows(data, "select id from documents where id = ?", (doc_id,))),
                  "still_in_published_index": doc_id in _indexed_documents(data),
                  "sync_job": job[0][1] if job else None,
                  "stored_original_left": len(list((data / "uploads" / "documents").glob(f"*/{name}")))}
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = spawn(["serve", "--port", str(port)], env, data / "api.log")
    try:
        t0 = time.time()
        wait_ready(url)
        found_at_restart = finds_it(url)
        deadline = time.time() + 300
        while time.time() < deadline:  # a `running` job is resumed once its heartbeat is stale (4 s here)
            status = db_rows(data, "select status, attempts from jobs where id = ?", (job[0][0],))[0] if job else None
            if status is None or status[0] in ("succeeded", "failed", "cancelled"):
                break
            time.sleep(0.5)
        synced_s = round(time.time() - t0, 1)
        found_after = finds_it(url)
        listed = any(d["id"] == doc_id for d in httpx.get(url + "/v1/documents", headers=admin, timeout=60).json())
    finally:
        stop(api)
    after_restart = {"found_by_search_at_restart": found_at_restart, "sync_job": status,
                     "seconds_from_restart_to_synced": synced_s, "found_by_search_after": found_after,
                     "listed": listed, "in_published_index": doc_id in _indexed_documents(data)}
    return {"found_before_delete": found_before, "after_kill": after_kill, "after_restart": after_restart,
            "pass": (found_before and after_kill["delete_status"] == 204 and after_kill["document_rows"] == 0
                     and not after_kill["stored_original_left"] and not found_at_restart and not found_after
                     and not listed and status is not None and status[0] == "succeeded"
                     and not after_restart["in_published_index"])}


# -- PostgreSQL restarted under load -------------------------------------------------------------------------

PG_VERSION, PG_CLUSTER = "15", "teamlore_reliability"


def _pg(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=120)


def throwaway_cluster(port: int) -> str:
    if PG_CLUSTER not in _pg("pg_lsclusters").stdout:
        done = _pg("pg_createcluster", "-p", str(port), PG_VERSION, PG_CLUSTER)
        if done.returncode:
            raise SystemExit(f"pg_createcluster failed: {done.stderr}")
        hba = Path(f"/etc/postgresql/{PG_VERSION}/{PG_CLUSTER}/pg_hba.conf")
        hba.write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n" + hba.read_text())
    _pg("pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, PG_CLUSTER, "start")
    for _ in range(60):
        if _pg("pg_isready", "-h", "127.0.0.1", "-p", str(port)).returncode == 0:
            break
        time.sleep(0.5)
    _pg("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "drop database if exists teamlore")
    _pg("psql", "-h", "127.0.0.1", "-p", str(port), "-U", "postgres", "-c", "create database teamlore")
    return f"postgresql+psycopg://postgres@127.0.0.1:{port}/teamlore"


def scenario_postgres(seed: Path, pg_port: int, clients: int = 8, down_s: float = 8.0) -> dict:
    url_db = throwaway_cluster(pg_port)
    data = Path(tempfile.mkdtemp(prefix="teamlore-fault-pg-")) / "var"
    # models/ holds the exported ONNX embedder: copying it saves re-exporting
    shutil.copytree(seed / "models", data / "models")
    env = {"TEAMLORE_DATA_DIR": str(data), "TEAMLORE_DATABASE_URL": url_db}
    from app.db import migrate
    from app.settings import load_settings
    from app.services import indexing, ingestion
    from app.security import create_api_key, get_or_create_user
    from app.db import session_scope
    settings = load_settings(data_dir=data, database_url=url_db)
    settings.ensure_dirs()
    migrate(url_db)
    handbook = REPO / "sample" / "handbook"
    ingestion.ingest_documents(settings, sorted(handbook.glob("0*.md")), source_name="handbook")
    indexing.sync_index(settings)
    with session_scope(url_db) as s:
        _, key = create_api_key(s, get_or_create_user(s, "loadtest"), "pg")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    api = spawn(["serve", "--port", str(port)], env, data / "api.log")
    samples: list[tuple[float, int, bool, str]] = []
    stop_ev = threading.Event()

    def client(i: int):
        with httpx.Client(base_url=url, timeout=60, headers={"Authorization": f"Bearer {key}"}) as http:
            while not stop_ev.is_set():
                t = time.time()
                try:
                    r = http.post("/v1/chat/completions", json={"messages": [
                        {"role": "user", "content": "How many days of annual leave do we get?"}]})
                    try:
                        body = r.json()
                        shaped = r.status_code == 200 or isinstance(body.get("error"), dict)
                    except ValueError:
                        shaped = False
                    samples.append((t, r.status_code, shaped, ""))
                except httpx.HTTPError as exc:
                    samples.append((t, 0, False, type(exc).__name__))
                time.sleep(0.2)

    try:
        wait_ready(url)
        pid0 = api.pid
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        for th in threads:
            th.start()
        time.sleep(15)
        t_down = time.time()
        _pg("pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, PG_CLUSTER, "stop", "-m", "fast")
        time.sleep(down_s)
        _pg("pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, PG_CLUSTER, "start")
        t_up = time.time()
        ready = None
        for _ in range(120):
            r = httpx.get(url + "/readyz", timeout=30)
            if r.status_code == 200:
                ready = time.time()
                break
            time.sleep(0.5)
        time.sleep(15)
        stop_ev.set()
        for th in threads:
            th.join(70)
        alive = api.poll() is None and api.pid == pid0
    finally:
        stop_ev.set()
        stop(api)
        _pg("pg_ctlcluster", "--skip-systemctl-redirect", PG_VERSION, PG_CLUSTER, "stop")
    before = [s for s in samples if s[0] < t_down]
    during = [s for s in samples if t_down <= s[0] < t_up]
    after = [s for s in samples if s[0] >= (ready or t_up) + 1]
    first_ok_after = min((s[0] for s in samples if s[0] >= t_up and s[1] == 200), default=None)
    codes = {}
    for s in during:
        codes[str(s[1])] = codes.get(str(s[1]), 0) + 1
    return {
        "clients": clients, "postgres_down_s": round(t_up - t_down, 1),
        "requests_before": len(before), "errors_before": sum(1 for s in before if s[1] != 200),
        "requests_while_down": len(during), "status_codes_while_down": codes,
        "non_json_or_dropped_while_down": sum(1 for s in during if not s[2]),
        "seconds_from_restart_to_first_200": round(first_ok_after - t_up, 2) if first_ok_after else None,
        "seconds_from_restart_to_ready": round(ready - t_up, 2) if ready else None,
        "requests_after_recovery": len(after), "errors_after_recovery": sum(1 for s in after if s[1] != 200),
        "teamlore_not_restarted": alive,
        "pass": alive and all(s[2] for s in samples) and not [s for s in after if s[1] != 200] and bool(after),
    }


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("scenarios", nargs="+", choices=["worker", "train", "upload", "delete", "postgres"])
    ap.add_argument("--seed-dir", type=Path, required=True)
    ap.add_argument("--pg-port", type=int, default=5499)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    report = {}
    for name in args.scenarios:
        t0 = time.time()
        fn = {"worker": scenario_worker, "train": scenario_train, "upload": scenario_upload,
              "delete": scenario_delete}.get(name)
        report[name] = fn(args.seed_dir.resolve()) if fn else scenario_postgres(args.seed_dir.resolve(), args.pg_port)
        report[name]["seconds"] = round(time.time() - t0, 1)
        print(json.dumps({name: report[name]}, indent=2), flush=True)
    if args.out:
        write_json(args.out, report)
    return 0 if all(r.get("pass") for r in report.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
