"""The FastAPI application: routers, middleware (request ids, metrics, body limit), shared state."""
from __future__ import annotations

import logging
import time
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.middleware.cors import CORSMiddleware

from app.api import errors
from app.api.docs import install_docs
from app.api.guards import Gate, RequestGuard
from app.api.protocol import ChatCompletionChunk, ErrorResponse
from app.api.routes import admin, auth, conversations, corpus, health, jobs, openai
from app.db import migrate, session_scope
from app.db.session import configure_pool
from app.observability import HTTP_LATENCY, HTTP_REQUESTS, configure_logging, new_request_id
from app.ratelimit import RateLimiter
from app.security import create_api_key, get_or_create_user, hash_key
from app.settings import Settings, get_settings
from app.wiring import GeneratorProvider, build_engine, lazy, searcher_for

log = logging.getLogger("teamlore.api")


def _remove_stale_upload_dirs(settings: Settings, older_than_s: float = 3600) -> None:
    """Uploads are staged in uploads/tmp*/ and removed when handled; a killed API leaves its staging dir behind.
    A staging dir whose lock (uploads/tmp*.lock beside it; older versions: tmp*/.lock) no live process holds (its
    request died with its process) goes at once, with its lock; one without a lock file once it is an hour old."""
    import fcntl
    import shutil
    from app.workflows.uploads import staging_lock
    cutoff = time.time() - older_than_s
    for d in settings.uploads_dir.glob("tmp*"):
        if not d.is_dir():
            continue
        lock = staging_lock(d) if staging_lock(d).exists() else d / ".lock"
        if lock.exists():
            try:
                with open(lock, "a") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # held by a live upload: leave it
                    shutil.rmtree(d, ignore_errors=True)
                    lock.unlink(missing_ok=True)
            except BlockingIOError:
                continue
            except OSError:
                pass
        elif d.stat().st_mtime < cutoff:
            shutil.rmtree(d, ignore_errors=True)


def bootstrap_admin(settings: Settings) -> None:
    """Create the admin user and key from TEAMLORE_ADMIN_API_KEY, if set (idempotent)."""
    if not settings.admin_api_key:
        return
    from sqlalchemy import select
    from app.db.models import ApiKey
    with session_scope(settings.db_url) as s:
        if s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(settings.admin_api_key))) is None:
            admin_user = get_or_create_user(s, "admin", role="admin")
            create_api_key(s, admin_user, "bootstrap", key=settings.admin_api_key)


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        settings.ensure_dirs()
        _remove_stale_upload_dirs(settings)
        migrate(settings.db_url)  # an older schema is brought up to date on start
        bootstrap_admin(settings)
        app.state.uploads().resume()  # uploads a stopped API left unfinished go again: their files are stored
        yield
        app.state.uploads().shutdown()

    app = FastAPI(title="Teamlore API", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Answers from your team's Slack and documents, with citations. "
                              "OpenAI-compatible chat completions plus Teamlore's corpus, dataset, training "
                              "and model-registry endpoints.")
    app.state.settings = settings
    configure_pool(settings.db_pool_size, settings.db_max_overflow, settings.db_pool_timeout_s)
    app.state.rate_limiter = RateLimiter(settings.rate_limit, settings.redis_url)
    # back-pressure: answers run a bounded number at a time, a bounded number wait, the rest get 429
    app.state.answer_gate = Gate("answers", settings.max_concurrent_answers, settings.max_queued_answers,
                                 settings.answer_queue_timeout_s)

    def make_uploads():
        from app.workflows.uploads import UploadRunner
        return UploadRunner(settings)

    app.state.uploads = lazy(make_uploads)  # upload jobs run here: a bounded number at once, a bounded queue
    app.state.generators = GeneratorProvider(settings)

    app.state.searcher = lambda: searcher_for(settings)  # the searcher reloads when a newer index is published
    app.state.engine = lazy(lambda: build_engine(settings, app.state.generators))

    def make_jobs():
        from app.workflows.jobs import JobQueue
        return JobQueue(settings)

    app.state.jobs = lazy(make_jobs)

    if settings.generator in ("openai", "auto") and settings.openai_base_url:
        def load_adapter_into_vllm(version) -> None:
            # A promoted adapter goes live on vLLM without a restart (idempotent: a retried promote is safe).
            if version.adapter_path:
                from model.vllm_admin import load_lora_adapter
                load_lora_adapter(settings.openai_base_url, version.name, version.adapter_path,
                                  api_key=settings.openai_api_key)
        app.state.on_model_change = load_adapter_into_vllm

    errors.install(app)
    if settings.cors_origins:  # off by default: the UI talks to the API server-side
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["*"],
                           allow_headers=["*"])

    # Body size (Content-Length or chunked, counted as it arrives) and JSON text validity, before any route.
    app.add_middleware(RequestGuard, max_body=(settings.max_upload_mb << 20) + (1 << 20),
                       max_json=settings.max_json_mb << 20)

    @app.middleware("http")
    async def observe(request: Request, call_next):
        rid = new_request_id(request.headers.get("x-request-id"))
        t0 = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["X-Request-Id"] = rid
            return response
        finally:
            route = request.scope.get("route")
            path = getattr(route, "path", "unmatched")
            HTTP_REQUESTS.labels(path, request.method, str(status)).inc()
            HTTP_LATENCY.labels(path).observe(time.perf_counter() - t0)

    for module in (health, auth, openai, conversations, corpus, jobs, admin):
        app.include_router(module.router, responses=ERROR_RESPONSES)
    install_docs(app)  # /docs and /redoc from local assets (offline)
    if settings.slack_bot_token and settings.slack_signing_secret:  # HTTP Events mode for the Slack bot
        from app.slack.http import router as slack_router
        app.include_router(slack_router)
    app.openapi = lambda: _openapi(app)
    return app


# Every route may answer with the one error format (app/api/errors.py).
ERROR_RESPONSES: dict[int | str, dict] = {
    status: {"model": ErrorResponse, "description": text} for status, text in (
        (400, "bad request"), (401, "no or wrong API key"), (403, "not allowed"), (404, "not found"),
        (422, "invalid request"), (429, "rate limited"), (503, "a dependency is unavailable"))}


def _openapi(app: FastAPI) -> dict:
    """FastAPI's document, plus the models only server-sent events use (streamed chat chunks)."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi
        from pydantic.json_schema import models_json_schema
        schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
        _, defs = models_json_schema([(ChatCompletionChunk, "serialization")],
                                     ref_template="#/components/schemas/{model}")
        schema.setdefault("components", {}).setdefault("schemas", {}).update(defs.get("$defs", {}))
        app.openapi_schema = schema
    return app.openapi_schema
