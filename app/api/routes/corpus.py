"""Search, documents (upload, list, delete), Slack export uploads, index status, sources."""
from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
from pathlib import Path

from fastapi import APIRouter, File, Query, Request, UploadFile
from fastapi.responses import FileResponse
from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminDep, PrincipalDep, SessionDep, SettingsDep, access_for
from app.api.errors import APIError
from app.api.protocol import (DocumentOut, ErrorResponse, IndexStatus, SearchResult, SourceOut, UploadOut,
                              upload_out)
from app.db import session_scope
from app.db.jsonvalues import jsonable
from app.db.models import Document, IngestionRun, Job, Source
from app.observability import RETRIEVAL_LATENCY, Timer
from app.security import audit
from retrieval.types import VisibilityError, acl_for_stored_visibility, acl_for_visibility, visibilities_for

router = APIRouter(prefix="/v1", tags=["corpus"])
CHUNK = 1 << 20


@router.get("/search", response_model=list[SearchResult])
def search(request: Request, principal: PrincipalDep, q: str = Query(max_length=10_000), k: int = Query(5, ge=1, le=50),
           source: str | None = None, channel: str | None = None):
    if not q.strip():
        raise APIError(400, "the query is empty", "empty_query")
    filters = {key: val for key, val in (("source", source), ("channel", channel)) if val}
    with Timer() as t:
        try:
            hits = request.app.state.searcher().search(q, k=k, access=access_for(principal), filters=filters or None)
        except ValueError as exc:
            raise APIError(400, str(exc), "invalid_query") from exc
    RETRIEVAL_LATENCY.observe(t.seconds)
    return [{"chunk_id": h.chunk_id, "score": h.score, "scores": h.scores, "title": h.title, "text": h.text,
             "meta": _public_meta(h.meta)} for h in hits]


def _public_meta(meta: dict | None) -> dict:
    """Chunk metadata as clients see it: a document's file name, never its path on the server."""
    out = dict(meta or {})
    if out.get("path"):
        out["path"] = Path(str(out["path"])).name
    return out


MAX_NAME_BYTES = 255  # what common file systems hold in one name


def safe_filename(filename: str | None) -> str:
    """The file name a client sent, reduced to its last component; APIError 400 when that is not a usable name
    (empty, '.', '..', over 255 bytes, control characters) — checked for every file before anything is saved."""
    raw = filename or "upload"
    name = raw.replace("\\", "/").rsplit("/", 1)[-1].strip()  # never trust client paths
    if name in ("", ".", ".."):
        raise APIError(400, f"file name {raw[:100]!r} is not a file name", "invalid_filename")
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise APIError(400, f"file name {name[:100]!r} contains control characters", "invalid_filename")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise APIError(400, "file name is not valid Unicode text", "invalid_filename") from None
    if size > MAX_NAME_BYTES:
        raise APIError(400, f"file name {name[:40]!r}… is {size} bytes long, over the limit of {MAX_NAME_BYTES}",
                       "invalid_filename")
    return name


async def _save(upload: UploadFile, folder: Path, limit: int) -> Path:
    name = safe_filename(upload.filename)
    dest = folder / name
    size = 0
    with open(dest, "wb") as out:
        while True:
            block = await upload.read(CHUNK)
            if not block:
                break
            size += len(block)
            if size > limit:
                out.close()
                dest.unlink(missing_ok=True)
                raise ValueError(f"{name} is larger than the upload limit of {limit // (1 << 20)} MB")
            out.write(block)
        out.flush()
        os.fsync(out.fileno())  # stored before the job that reads it is recorded
    return dest


@router.post("/documents", status_code=202, response_model=UploadOut)
async def upload_documents(request: Request, principal: PrincipalDep, settings: SettingsDep,
                           files: list[UploadFile] = File(...), visibility: str | None = None):
    """Upload documents or Slack export zips. `visibility`: everyone (new documents' default) or group:<name>
    (admins); left out, a re-uploaded document keeps the visibility it has. The files are stored, then a job
    ingests them and syncs the index: the answer is that job (202); follow it at GET /v1/uploads/{id}."""
    if visibility not in (None, "everyone") and not principal.is_admin:
        raise APIError(403, "only admins can restrict a document to a group", "admin_only")
    if visibility is not None:
        try:  # checked before any file is saved (the ingestion job would only fail later)
            acl_for_visibility(visibility)
        except VisibilityError as exc:
            raise APIError(400, str(exc), "invalid_visibility") from exc
    names = [safe_filename(u.filename) for u in files]  # a bad name refuses the batch before anything is saved
    if len(set(names)) != len(names):
        raise APIError(400, "two files in one upload have the same name", "duplicate_filename")
    runner = request.app.state.uploads()
    if not runner.reserve():  # back-pressure: a burst of uploads gets a 429, never a pile-up
        raise APIError(429, f"the server is busy with other uploads ({runner.pending} waiting or running); retry "
                       "in a few seconds", "server_busy", headers={"Retry-After": "5"})
    try:
        job_id = await _store(settings, principal, files, visibility)
    except BaseException:
        runner.release()
        raise
    runner.submit(job_id, reserved=True)
    return await run_in_threadpool(_upload_view, settings, job_id)


def _upload_view(settings, job_id: int) -> UploadOut:
    with session_scope(settings.db_url) as s:
        return upload_out(s.get(Job, job_id))


async def _store(settings, principal, files: list[UploadFile], visibility: str | None) -> int:
    """Write the files into a staging folder, hand it to a new upload job (one rename); the job's id."""
    from app.workflows.uploads import queue_upload, staging_lock
    limit = settings.max_upload_mb << 20
    staging = Path(tempfile.mkdtemp(dir=settings.uploads_dir))
    lock_path = staging_lock(staging)
    lock = open(lock_path, "w")  # held while this request stores files: a restart removes only dead ones
    fcntl.flock(lock, fcntl.LOCK_EX)
    try:
        stored: list[dict] = []
        for upload in files:
            try:
                path = await _save(upload, staging, limit)
            except ValueError as exc:
                stored.append({"filename": upload.filename, "rejected": str(exc)})
            else:
                stored.append({"filename": upload.filename, "name": path.name})
        return await run_in_threadpool(queue_upload, settings, staging, stored, owner_user_id=principal.user_id,
                                       is_admin=principal.is_admin, visibility=visibility)
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when the job took it
        lock_path.unlink(missing_ok=True)
        lock.close()


def _is_upload_of(job: Job | None, principal) -> bool:
    """An upload job the asker may follow: their own, or any for an admin."""
    return job is not None and job.kind == "upload" and (
        principal.is_admin or (job.params or {}).get("owner_user_id") == principal.user_id)


@router.get("/uploads/{job_id}", response_model=UploadOut)
def get_upload(job_id: int, principal: PrincipalDep, session: SessionDep):
    """How far an upload is: status, progress and, once done, the per-file results. The uploader's and admins'."""
    job = session.get(Job, job_id)
    if not _is_upload_of(job, principal):
        raise APIError(404, f"no upload {job_id}", "upload_not_found")
    return upload_out(job)


@router.get("/uploads", response_model=list[UploadOut])
def get_uploads(principal: PrincipalDep, session: SessionDep, ids: list[int] = Query(max_length=100)):
    """Several uploads in one request (a page following a batch polls this, not one route per file); ids the
    asker may not follow, or that are no uploads, are left out."""
    jobs = session.scalars(select(Job).where(Job.id.in_(ids)).order_by(Job.id)).all()
    return [upload_out(j) for j in jobs if _is_upload_of(j, principal)]


@router.get("/documents", response_model=list[DocumentOut])
def list_documents(principal: PrincipalDep, session: SessionDep, q: str | None = None, source: str | None = None,
                   limit: int = Query(200, ge=1, le=2000)):
    stmt = select(Document, Source.name).join(Source, Source.id == Document.source_id)
    seen = visibilities_for(access_for(principal))  # the document visibility rule, as a filter
    if seen is not None:
        stmt = stmt.where(Document.visibility.in_(seen))
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Document.title.ilike(like), Document.path.ilike(like)))
    if source:
        stmt = stmt.where(Source.name == source)
    rows = session.execute(stmt.order_by(Document.updated_at.desc()).limit(limit)).all()
    # `path` is the file name only: no server path leaves the server
    return [{"id": d.id, "title": d.title, "path": display_name(d.path), "mime": d.mime, "pages": d.pages,
             "source": src, "visibility": d.visibility, "size_bytes": d.size_bytes, "updated_at": d.updated_at,
             "mine": d.owner_user_id == principal.user_id, "quarantined": d.quarantine_reason}
            for d, src in rows]


def _may_see(principal, doc: Document | None) -> bool:
    """Whether the document exists for this asker: the one visibility rule (retrieval.types), as search applies it
    to the document's chunks."""
    return doc is not None and access_for(principal).permits(acl_for_stored_visibility(doc.visibility))


def display_name(path: str | None) -> str:
    return Path(path or "").name


# Served as files, never rendered on the API's origin: a stored HTML or SVG could otherwise run script there.
_INLINE_SAFE = {"application/pdf", "text/plain", "text/markdown", "text/csv", "image/png", "image/jpeg"}


@router.get("/documents/{document_id}/original", response_class=FileResponse,
            responses={200: {"description": "the original file, with its own media type",
                             "content": {"application/octet-stream": {"schema": {"type": "string",
                                                                                 "format": "binary"}}}},
                       410: {"model": ErrorResponse, "description": "the original is no longer stored"}})
def document_original(document_id: int, principal: PrincipalDep, session: SessionDep):
    """The stored original of a document (what a citation's "Open document" opens), if the asker may see it."""
    doc = session.get(Document, document_id)
    # a restricted document is as absent as a missing one to someone who may not see it
    if not _may_see(principal, doc):
        raise APIError(404, f"no document {document_id}", "document_not_found")
    path = Path(doc.path)
    if not path.is_file():
        raise APIError(410, f"the original file of document {document_id} is no longer stored; its indexed text "
                       "is still searchable", "original_gone")
    mime = doc.mime or "application/octet-stream"
    if mime.startswith("text/") and mime not in ("text/html",):
        mime += "; charset=utf-8"
    disposition = "inline" if (doc.mime or "") in _INLINE_SAFE else "attachment"
    return FileResponse(path, media_type=mime, filename=path.name, content_disposition_type=disposition,
                        headers={"X-Content-Type-Options": "nosniff", "Content-Security-Policy": "sandbox"})


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(document_id: int, request: Request, principal: PrincipalDep, session: SessionDep,
                    settings: SettingsDep):
    """Delete a document (the uploader's own, or any for an admin). When this answers, it is gone for everyone:
    from the listing, its original and every answer. Dropping its vectors from the index is a job, as an upload's
    ingestion is (app/workflows/uploads.py): queued in the same transaction, so it cannot be lost."""
    from app.services import ingestion
    from app.workflows.uploads import queue_index_sync, remove_stored_original
    doc = session.get(Document, document_id)
    # One answer for "missing" and "exists but not yours to see": no oracle for restricted documents.
    if not _may_see(principal, doc):
        raise APIError(404, f"no document {document_id}", "document_not_found")
    if doc.owner_user_id != principal.user_id and not principal.is_admin:
        raise APIError(403, "you can delete only documents you uploaded", "not_owner")
    gone = ingestion.remove_document(session, document_id)
    if gone is None:  # a concurrent delete of the same document won
        raise APIError(404, f"no document {document_id}", "document_not_found")
    audit(session, principal, "document.delete", f"document:{document_id}", title=gone["title"])
    job_id = queue_index_sync(session, settings, reason=f"document {document_id} deleted")
    session.commit()
    session.close()  # its connection goes back to the pool
    remove_stored_original(settings, gone["path"])
    if job_id is not None:
        request.app.state.uploads().submit(job_id)


@router.get("/index/status", response_model=IndexStatus)
def index_status(principal: PrincipalDep, settings: SettingsDep):
    from app.services import indexing
    return jsonable(indexing.index_status(settings))


@router.get("/sources", response_model=list[SourceOut])
def list_sources(admin: AdminDep, session: SessionDep):
    out = []
    for src in session.scalars(select(Source).order_by(Source.id)).all():
        run = session.scalar(select(IngestionRun).where(IngestionRun.source_id == src.id)
                             .order_by(IngestionRun.id.desc()).limit(1))
        out.append({"id": src.id, "kind": src.kind, "name": src.name, "last_sync_at": src.last_sync_at,
                    "last_run": None if run is None else {
                        "id": run.id, "status": run.status, "added": run.added, "updated": run.updated,
                        "skipped": run.skipped, "rejected": run.rejected, "deleted": run.deleted,
                        "started_at": run.started_at, "finished_at": run.finished_at}})
    return out
