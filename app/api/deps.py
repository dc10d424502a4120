"""Request dependencies (full-stack-fastapi-template style: Annotated types used by every route)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Annotated, Iterator

from fastapi import Depends, Request
from sqlalchemy import update
from sqlalchemy.orm import Session

from app.api.errors import APIError
from app.db import session_scope
from app.db.models import ApiKey
from app.answering.engine import AnswerEngine
from app.security import Principal, authenticate
from app.settings import Settings
from retrieval.types import Access


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


def get_session(settings: SettingsDep) -> Iterator[Session]:
    """One session per request: committed when the route function returns — before the response is sent, so a
    client that reads back what it just wrote always finds it — and rolled back when it raises. A streaming route
    gets its connection back into the pool before the stream starts."""
    with session_scope(settings.db_url) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session, scope="function")]


def bearer_key(request: Request) -> str:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.headers.get("x-api-key", "").strip()


LAST_USED_RESOLUTION = timedelta(minutes=1)


def get_principal(request: Request, session: SessionDep) -> Principal:
    key = bearer_key(request)
    if not key:
        raise APIError(401, "missing API key: send 'Authorization: Bearer tl_...'", "missing_api_key")
    principal = authenticate(session, key)
    if principal is None:
        raise APIError(401, "invalid or revoked API key", "invalid_api_key")
    limiter = request.app.state.rate_limiter
    decision = limiter.hit("key", str(principal.key_id))
    if not decision.allowed:
        raise APIError(429, "rate limit exceeded for this API key", "rate_limited",
                       headers={"Retry-After": str(decision.retry_after)})
    # and per user: signing in again for a fresh key does not reset the budget
    decision = limiter.hit("user", str(principal.user_id), rate=request.app.state.settings.user_rate_limit)
    if not decision.allowed:
        raise APIError(429, "rate limit exceeded for this user", "rate_limited",
                       headers={"Retry-After": str(decision.retry_after)})
    now = datetime.now(timezone.utc)
    last = principal.key_last_used_at
    if last is not None and last.tzinfo is None:
        last = last.replace(tzinfo=timezone.utc)  # SQLite returns naive datetimes
    if last is None or now - last > LAST_USED_RESOLUTION:
        # A minute's resolution is plenty for "last used", and spares every request a write on the hot path.
        session.execute(update(ApiKey).where(ApiKey.id == principal.key_id).values(last_used_at=now))
    # Commit now (also when nothing was written): the write lock (all of SQLite, the key's row in PostgreSQL) and
    # the pooled connection must not be held for the whole request — a request waiting in a queue, or streaming,
    # holds no connection; a route that needs the database again checks one out for its own short use.
    session.commit()
    request.state.principal = principal
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require_admin(principal: PrincipalDep) -> Principal:
    if not principal.is_admin:
        raise APIError(403, "this route needs the admin role", "admin_only")
    return principal


AdminDep = Annotated[Principal, Depends(require_admin)]


def get_engine(request: Request) -> AnswerEngine:
    return request.app.state.engine()


EngineDep = Annotated[AnswerEngine, Depends(get_engine)]


def access_for(principal: Principal) -> Access:
    """What a web/API user may read: public content, plus their own Slack identity's channels and DMs."""
    ids = frozenset({principal.slack_user_id}) if principal.slack_user_id else frozenset()
    return Access(slack_user_ids=ids, is_admin=principal.is_admin)
