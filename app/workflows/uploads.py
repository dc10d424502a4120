"""Uploads as jobs: the request stores the files, a job ingests them and syncs the index.

POST /v1/documents checks names, sizes and permissions, writes the files into a staging folder (uploads/tmp*, held
by a lock while it is written) and renames that folder into uploads/incoming/<id>/ — one atomic step: a job's files
are either all there or the request failed. Then it records an `upload` job (the jobs table, like every job: status,
progress, logs, result) and answers 202 with its id; GET /v1/uploads/{id} says how far it is.

The job runs in the API process (UploadRunner: a bounded number at once, a bounded number waiting, the rest refused
with 429 before anything is stored): uploads are interactive, the API holds the embedder already, and an install
without `teamlore worker` still ingests what its users upload. A job the API was running when it stopped goes
again when the API starts (its files are still staged; ingestion is idempotent by content hash, and an export's
source is named by the job, so a re-run updates the same source). The handler is an ordinary job kind, so a worker
that finds a stale one (`requeue_stale`) runs it the same way.

Deleting a document follows the same design (DELETE /v1/documents/{id}): the request deletes its rows and, in the
same transaction, queues an index sync that this runner runs (`queue_index_sync`; a sync queued and not started yet
is shared: 25 deletes in a burst cost one or two passes, not 25). From the commit on, the document is gone for
everyone: the listing and its original read the database, and search drops hits whose chunks are gone (the
published index may still hold its vectors until the sync). A sync cut short changes nothing the database says, so
the document never comes back; its job is resumed at the next start like an upload's. The stored original of an
uploaded document goes with it, so that an upload job resumed later cannot ingest it again.
"""
from __future__ import annotations

import logging
import os
import shutil
import threading
import time
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import session_scope
from app.db.jsonvalues import jsonable
from app.db.models import Document, Job
from app.settings import Settings
from app.workflows.jobs import JobContext, create_job, execute

log = logging.getLogger("teamlore.uploads")

KIND = "upload"
INDEX_KIND = "index"  # an index sync; the ones this runner runs (after deletions) say so in their params
IN_API = "in_api"
ORPHAN_AFTER_S = 3600  # an incoming folder no queued or running job names, older than this, is removed at start


def staging_lock(staging: Path) -> Path:
    """The lock a request holds while it writes a staging folder: beside the folder, never in it, so no uploaded
    file name (a user's `.lock`) can overwrite or remove it."""
    return staging.with_name(staging.name + ".lock")


def incoming_dir(settings: Settings) -> Path:
    return settings.uploads_dir / "incoming"


def queue_upload(settings: Settings, staging: Path, files: list[dict[str, Any]], *, owner_user_id: int,
                 is_admin: bool, visibility: str | None) -> int:
    """Move a fully written staging folder into incoming/ (atomically) and record its upload job; returns the job
    id. `files`: in upload order, {"filename": what the client sent, "name": the stored file name} or
    {"filename", "rejected": why} for a file refused while it was stored (over the size limit)."""
    dest = incoming_dir(settings) / uuid.uuid4().hex
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.rename(staging, dest)
    try:
        return create_job(settings, KIND, {"staged": str(dest), "files": files, "owner_user_id": owner_user_id,
                                           "is_admin": is_admin, "visibility": visibility})
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)  # no job names it: it would never be ingested
        raise


def _runs_here(kind: str, params: dict | None) -> bool:
    return kind == KIND or (kind == INDEX_KIND and bool((params or {}).get(IN_API)))


def queue_index_sync(session: Session, settings: Settings, reason: str) -> int | None:
    """In the caller's transaction, after it changed the corpus: the id of a new index-sync job for this runner, or
    None when one is queued already (and recent) — it has not read the corpus yet, so it includes this change. The
    row of that queued job is locked until the caller commits (PostgreSQL; SQLite's single writer is held already),
    so it cannot start in between. One queued longer than `job_stale_after_s` is not shared (the process that
    queued it may be gone)."""
    cutoff = datetime.now(timezone.utc) - timedelta(seconds=settings.job_stale_after_s)
    queued = session.scalars(select(Job).where(Job.kind == INDEX_KIND, Job.status == "queued")
                             .with_for_update()).all()
    for job in queued:
        created = job.created_at if job.created_at.tzinfo else job.created_at.replace(tzinfo=timezone.utc)
        if (job.params or {}).get(IN_API) and created > cutoff:
            return None
    job = Job(kind=INDEX_KIND, status="queued", params={IN_API: True, "reason": reason})
    session.add(job)
    session.flush()
    return job.id


def remove_stored_original(settings: Settings, path: str) -> bool:
    """Remove a deleted document's original when it is an upload's stored copy (uploads/documents/...) and no
    remaining document names it; files the CLI ingested from elsewhere are never touched. Whether it removed one."""
    root = (settings.uploads_dir / "documents").resolve()
    p = Path(path).resolve()
    if not p.is_relative_to(root) or not p.is_file():
        return False
    with session_scope(settings.db_url) as s:
        if s.scalar(select(Document.id).where(Document.path == path).limit(1)) is not None:
            return False
    p.unlink(missing_ok=True)
    return True


def _is_slack_export(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.rsplit("/", 1)[-1] for n in zf.namelist()[:5000]}
        return "channels.json" in names or "users.json" in names
    except zipfile.BadZipFile:
        return False


def _result_for(filename: str | None, summary) -> dict:
    if summary.rejected:
        reasons = "; ".join(dict.fromkeys(str(r[1]) for r in summary.rejections)) or "rejected"  # each once
        return {"filename": filename, "status": "rejected", "reason": reasons, "run_id": summary.run_id}
    status = "ingested" if summary.added else "updated" if summary.updated else "unchanged"
    return {"filename": filename, "status": status, "run_id": summary.run_id, "added": summary.added,
            "updated": summary.updated, "skipped": summary.skipped, "deleted": summary.deleted}


def _mark_quarantined(settings: Settings, results: list[dict]) -> None:
    """A document the index sync refused (too many chunks, a chunker error) is reported as quarantined."""
    runs = {r["run_id"]: r for r in results if r.get("run_id") is not None}
    if not runs:
        return
    with session_scope(settings.db_url) as s:
        for run_id, reason in s.execute(select(Document.run_id, Document.quarantine_reason)
                                        .where(Document.run_id.in_(runs), Document.quarantine_reason.is_not(None))):
            runs[run_id].update(status="quarantined", reason=reason)


def run_upload(settings: Settings, params: dict, ctx: JobContext) -> dict:
    """Ingest an upload's staged files in order, then sync the index once; {"results": per file, "index": the
    sync's report ({} when nothing changed)}. The staged folder goes when the job is done."""
    from app.services import indexing, ingestion
    staged = Path(params["staged"])
    owner, is_admin = int(params["owner_user_id"]), bool(params["is_admin"])
    files = list(params["files"])
    steps = len(files) + 1  # each file, then the index sync
    results: list[dict] = []
    for i, f in enumerate(files):
        if ctx.cancelled():
            ctx.log("cancelled: the remaining files are not ingested")
            break
        ctx.progress(i / steps)
        filename = f.get("filename")
        if f.get("rejected"):
            results.append({"filename": filename, "status": "rejected", "reason": f["rejected"]})
            continue
        path = staged / f["name"]
        keep = settings.uploads_dir / "documents" / str(owner) / f["name"]
        if path.suffix.lower() == ".zip" and path.is_file() and _is_slack_export(path):
            # Always a source of its own owned by the uploader, never a merge by file name (named by the job, so a
            # resumed job updates its own); a non-admin's export cannot touch channels another source holds.
            summary = ingestion.ingest_slack_export(
                settings, path, source_name=f"upload:{owner}:job-{ctx.job_id}:{path.name}"[:300],
                owner_user_id=owner, protect_foreign_channels=not is_admin)
        else:
            # One folder per uploader: re-uploading a name replaces only your own document of that name.
            if path.is_file():
                keep.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, keep)
            elif not keep.is_file():  # neither staged nor kept: lost before this (resumed) run
                results.append({"filename": filename, "status": "rejected",
                                "reason": "the stored upload is missing; upload the file again"})
                continue
            summary = ingestion.ingest_documents(settings, [keep], source_name="uploads",
                                                 visibility=params.get("visibility"), owner_user_id=owner,
                                                 may_widen=is_admin)
        results.append(_result_for(filename, summary))
        ctx.log(f"{filename}: {results[-1]['status']}")
    changed = any(r.get("added") or r.get("updated") or r.get("deleted") for r in results)
    # Nothing new: no index work — unless this is a run again of a job cut short, which may have ingested its
    # files (now "unchanged") and stopped before its index sync.
    changed = changed or (ctx.attempt > 1 and any(r.get("status") == "unchanged" for r in results))
    ctx.progress((steps - 1) / steps)
    index = indexing.sync_index(settings) if changed else None
    if changed:
        _mark_quarantined(settings, results)
    shutil.rmtree(staged, ignore_errors=True)
    return {"results": results, "index": jsonable(index) if index is not None else {}}


class UploadRunner:
    """Runs upload jobs in this process: `max_concurrent_uploads` at once, up to `max_queued_uploads` waiting;
    `reserve` is false beyond that (the route answers 429 before storing anything). It runs the index syncs that
    deletions queue too (`queue_index_sync`: at most one waiting at a time)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.slots = settings.max_concurrent_uploads
        self.max_waiting = settings.max_queued_uploads
        self._pool = ThreadPoolExecutor(self.slots, thread_name_prefix="upload")
        self._lock = threading.Lock()
        self.pending = 0  # submitted and not finished

    def reserve(self) -> bool:
        """Take a place for one more upload (False: full, answer 429); `submit(..., reserved=True)` or `release`
        gives it back."""
        with self._lock:
            if self.pending >= self.slots + self.max_waiting:
                return False
            self.pending += 1
            return True

    def release(self) -> None:
        with self._lock:
            self.pending -= 1

    def submit(self, job_id: int, reserved: bool = False) -> None:
        if not reserved:
            with self._lock:
                self.pending += 1
        try:
            self._pool.submit(self._run, job_id)
        except RuntimeError:  # shutting down: the job stays queued and resumes at the next start
            self.release()

    def _run(self, job_id: int) -> None:
        try:
            execute(self.settings, job_id)
        except Exception:  # execute records a handler's failure itself; this is the database being away
            log.exception("upload job %s could not run", job_id)
        finally:
            with self._lock:
                self.pending -= 1

    def resume(self) -> list[int]:
        """Run again the upload jobs and index syncs a stopped API left queued or running (a live one elsewhere is
        left to its process: execute() checks its heartbeat), and remove incoming folders no upload job names."""
        with session_scope(self.settings.db_url) as s:
            jobs = [(job_id, params, status) for job_id, kind, params, status in s.execute(
                select(Job.id, Job.kind, Job.params, Job.status).where(
                    Job.kind.in_((KIND, INDEX_KIND)), Job.status.in_(("queued", "running")))).all()
                if _runs_here(kind, params)]
        for job_id, _, status in jobs:
            log.info("resuming job %s (%s)", job_id, status)
            self.submit(job_id)
            if status == "running":  # its heartbeat may look alive a while yet: look again once it cannot
                timer = threading.Timer(self.settings.job_stale_after_s + 1, self.submit, args=(job_id,))
                timer.daemon = True
                timer.start()
        named = {str((params or {}).get("staged")) for _, params, _ in jobs}
        cutoff = time.time() - ORPHAN_AFTER_S
        folder = incoming_dir(self.settings)
        for d in folder.iterdir() if folder.is_dir() else ():
            if str(d) not in named and d.stat().st_mtime < cutoff:
                shutil.rmtree(d, ignore_errors=True)
        return [job_id for job_id, _, _ in jobs]

    def shutdown(self) -> None:
        """Stop taking work and finish the jobs running now; jobs not started stay queued and resume at the next
        start (one cut short by a kill resumes from its stored files too)."""
        self._pool.shutdown(wait=True, cancel_futures=True)
