"""Liveness, readiness and Prometheus metrics."""
from __future__ import annotations

import logging

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from app.api.deps import bearer_key
from app.api.protocol import Health, Readiness
from app.db import session_scope
from app.observability import ERRORS, JOBS_QUEUED, JOBS_RUNNING, redact
from app.security import authenticate

log = logging.getLogger("teamlore.api")

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
def healthz():
    """Alive: the process answers."""
    return {"status": "ok"}


def _is_admin(request: Request, settings) -> bool:
    """Whether /readyz was asked with an admin key (a missing or bad key is no error here: probes send none)."""
    key = bearer_key(request)
    if not key:
        return False
    try:
        with session_scope(settings.db_url) as s:
            principal = authenticate(s, key)
    except Exception:
        return False
    return principal is not None and principal.is_admin


@router.get("/readyz", response_model=Readiness, responses={503: {"model": Readiness, "description": "not ready"}})
def readyz(request: Request):
    """Ready: the database, the index and the generator can serve. Each check is "ok" or "failed"; why one failed
    (exception type and message) is in the server log, and in the response only for an admin key: the route needs
    no key (orchestrator probes), and error texts name hosts, paths and configuration."""
    settings = request.app.state.settings
    errors: dict[str, str] = {}
    notes: dict[str, str] = {}
    try:
        with session_scope(settings.db_url) as s:
            s.execute(text("select 1"))
    except Exception as exc:
        errors["database"] = f"{type(exc).__name__}: {exc}"
    # The published index must be readable (constructing the searcher alone proves nothing: it loads lazily).
    # No index yet is ready: a fresh install answers "I don't know" until something is uploaded.
    from retrieval.faiss_index import IndexMissing, IndexStore
    try:
        IndexStore(settings.index_dir).read_manifest()
    except IndexMissing:
        notes["index"] = "empty: nothing indexed yet"
    except Exception as exc:
        errors["index"] = f"{type(exc).__name__}: {exc}"
    try:
        request.app.state.generators.choose(None)
    except Exception as exc:
        errors["generator"] = f"{type(exc).__name__}: {exc}"
    for name, detail in errors.items():
        log.warning("readiness check %s failed: %s", name, redact(detail))
    # an admin key is looked up in the database: with the database down the detail is in the log only
    admin = bool(errors) and "database" not in errors and _is_admin(request, settings)
    checks = {name: (f"error: {redact(errors[name])[:300]}" if admin else "failed") if name in errors else "ok"
              for name in ("database", "index", "generator")}
    body = {"status": "not_ready" if errors else "ready", "checks": checks, **({"notes": notes} if notes else {})}
    return JSONResponse(body, status_code=503 if errors else 200)


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
