"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.api.protocol import Health, Readiness
from app.db import session_scope
from app.observability import ERRORS, JOBS_QUEUED, JOBS_RUNNING

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz():
    """Alive: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}})
def readyz(request: Request):
    """Ready: the database, the index and the generator can serve."""
    settings = request.app.state.settings
    checks: dict[str, str] = {}
    notes: dict[str, str] = {}
    try:
        with session_scope(settings.db_url) as s:
            s.execute(text("select 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {type(exc).__name__}"
    # The published index must be readable (constructing the searcher alone proves nothing: it loads lazily).
    # No index yet is ready: a fresh install answers "I don't know" until something is uploaded.
    from retrieval.faiss_index import IndexMissing, IndexStore
    try:
        IndexStore(settings.index_dir).read_manifest()
        checks["index"] = "ok"
    except IndexMissing:
        checks["index"] = "ok"
        notes["index"] = "empty: nothing indexed yet"
    except Exception as exc:
        checks["index"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
    try:
        request.app.state.generators.choose(None)
        checks["generator"] = "ok"
    except Exception as exc:
        checks["generator"] = f"error: {type(exc).__name__}: {str(exc)[:200]}"
    ok = all(v == "ok" for v in checks.values())
    body = {"status": "ready" if ok else "not_ready", "checks": checks, **({"notes": notes} if notes else {})}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse,
            responses={200: {"description": "Prometheus text exposition format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
def metrics(request: Request):
    try:
        counts = request.app.state.jobs().counts()
        JOBS_QUEUED.set(counts.get("queued", 0))
        JOBS_RUNNING.set(counts.get("running", 0))
    except Exception:  # metrics must render even when the database is down
        ERRORS.labels("metrics_job_counts").inc()
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
