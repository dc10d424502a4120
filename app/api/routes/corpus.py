"""Search, documents (upload, list, delete), Slack export uploads, index status, sources."""
from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from pathlib import Path

from fastapi import APIRouter, File, Query, Request, UploadFile
from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool

from app.api.deps import AdminDep, PrincipalDep, SessionDep, SettingsDep, access_for
from app.api.errors import APIError
from app.db.models import Document, IngestionRun, Source
from app.observability import RETRIEVAL_LATENCY, Timer
from app.security import audit

router = APIRouter(prefix="/v1", tags=["corpus"])
CHUNK = 1 << 20


@router.get("/search")
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
             "meta": h.meta} for h in hits]


def _is_slack_export(path: Path) -> bool:
    try:
        with zipfile.ZipFile(path) as zf:
            names = {n.rsplit("/", 1)[-1] for n in zf.namelist()[:5000]}
        return "channels.json" in names or "users.json" in names
    except zipfile.BadZipFile:
        return False


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
                raise ValueError(f"{name} is larger than the upload limit of {limit // (1 << 20)} MB")
            out.write(block)
    return dest


@router.post("/documents")
async def upload_documents(request: Request, principal: PrincipalDep, settings: SettingsDep,
                           files: list[UploadFile] = File(...), visibility: str = "everyone"):
    from app.services import indexing, ingestion
    if visibility != "everyone" and not principal.is_admin:
        raise APIError(403, "only admins can restrict a document to a group", "admin_only")
    if visibility != "everyone" and not (visibility.startswith("group:") and len(visibility) > 6):
        # checked before any file is saved (the ingestion service would raise mid-request: a 500)
        raise APIError(400, f"visibility must be 'everyone' or 'group:<name>', got {visibility!r}",
                       "invalid_visibility")
    names = [safe_filename(u.filename) for u in files]  # a bad name refuses the batch before anything is saved
    if len(set(names)) != len(names):
        raise APIError(400, "two files in one upload have the same name", "duplicate_filename")
    limit = settings.max_upload_mb << 20
    results = []
    tmp = Path(tempfile.mkdtemp(dir=settings.uploads_dir))
    try:
        for upload in files:
            try:
                path = await _save(upload, tmp, limit)
            except ValueError as exc:
                results.append({"filename": upload.filename, "status": "rejected", "reason": str(exc)})
                continue
            if path.suffix.lower() == ".zip" and _is_slack_export(path):
                summary = await run_in_threadpool(ingestion.ingest_slack_export, settings, path,
                                                  source_name=f"upload:{path.name}")
            else:
                keep = settings.uploads_dir / "documents" / path.name  # stable path: re-upload replaces
                keep.parent.mkdir(parents=True, exist_ok=True)
                os.replace(path, keep)
                summary = await run_in_threadpool(ingestion.ingest_documents, settings, [keep],
                                                  source_name="uploads", visibility=visibility)
            results.append(_result_for(upload.filename, summary))
        changed = any(r.get("added") or r.get("updated") or r.get("deleted") for r in results)
        # nothing new (every file rejected or unchanged): no index work for this request
        index = await run_in_threadpool(indexing.sync_index, settings) if changed else None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return {"results": results, "index": _plain(index)}


def _result_for(filename: str | None, summary) -> dict:
    if summary.rejected:
        reasons = "; ".join(str(r[1]) for r in summary.rejections) or "rejected"
        return {"filename": filename, "status": "rejected", "reason": reasons, "run_id": summary.run_id}
    status = "ingested" if summary.added else "updated" if summary.updated else "unchanged"
    return {"filename": filename, "status": status, "run_id": summary.run_id, "added": summary.added,
            "updated": summary.updated, "skipped": summary.skipped, "deleted": summary.deleted}


def _plain(obj) -> dict:
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return obj
    return {k: v for k, v in vars(obj).items() if isinstance(v, (int, float, str, bool, type(None), list, dict))}


@router.get("/documents")
def list_documents(principal: PrincipalDep, session: SessionDep, q: str | None = None, source: str | None = None,
                   limit: int = Query(200, ge=1, le=2000)):
    stmt = select(Document, Source.name).join(Source, Source.id == Document.source_id)
    if q:
        like = f"%{q}%"
        stmt = stmt.where(or_(Document.title.ilike(like), Document.path.ilike(like)))
    if source:
        stmt = stmt.where(Source.name == source)
    rows = session.execute(stmt.order_by(Document.updated_at.desc()).limit(limit)).all()
    # group-restricted documents are listed to admins only (web users carry no document groups yet)
    return [{"id": d.id, "title": d.title, "path": d.path, "mime": d.mime, "pages": d.pages, "source": src,
             "visibility": d.visibility, "size_bytes": d.size_bytes, "updated_at": d.updated_at}
            for d, src in rows if d.visibility == "everyone" or principal.is_admin]


@router.delete("/documents/{document_id}", status_code=204)
def delete_document(document_id: int, principal: PrincipalDep, session: SessionDep, settings: SettingsDep):
    from app.services import indexing, ingestion
    doc = session.get(Document, document_id)
    if doc is None:
        raise APIError(404, f"no document {document_id}", "document_not_found")
    if doc.visibility != "everyone" and not principal.is_admin:
        raise APIError(403, "only admins can delete restricted documents", "admin_only")
    audit(session, principal, "document.delete", f"document:{document_id}", title=doc.title)
    session.commit()
    ingestion.delete_document(settings, document_id)
    indexing.sync_index(settings)


@router.get("/index/status")
def index_status(principal: PrincipalDep, settings: SettingsDep):
    from app.services import indexing
    return _plain(indexing.index_status(settings))


@router.get("/sources")
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
