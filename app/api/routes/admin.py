"""Admin-only routes: API keys, model versions (promote / roll back), usage, audit log."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone
from typing import Literal

import numpy as np
from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from app.api.deps import AdminDep, SessionDep
from app.api.errors import APIError
from app.db import lock_rows
from app.api.protocol import (AuditEventOut, CorrectionOut, ExtractiveServing, FeedbackOverview, KeyOut,
                              ModelVersionOut, NewKeyOut, UsageReport, UserAdminOut)
from app.db.models import ApiKey, AuditEvent, Feedback, Message, ModelVersion, User
from app.security import audit, create_api_key, hash_password, revoke_api_key
from app.services import registry
from app.services.ratings import feedback_row

router = APIRouter(prefix="/v1", tags=["admin"])


class NewKey(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    user: str = Field(min_length=1, max_length=200, description="user name; created if new")
    role: Literal["user", "admin"] | None = Field(default=None, description="only for a NEW user (default user)")
    password: str | None = Field(default=None, min_length=8, max_length=1000,
                                 description="only for a NEW user: their sign-in password")
    slack_user_id: str | None = Field(default=None, max_length=32, description="only for a NEW user")


class NewUser(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    role: Literal["user", "admin"] = "user"
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    slack_user_id: str | None = Field(default=None, max_length=32)


class UserChange(BaseModel):
    role: Literal["user", "admin"] | None = None
    password: str | None = Field(default=None, min_length=8, max_length=1000)
    slack_user_id: str | None = Field(default=None, max_length=32, description="'' clears it")


def _key_out(k: ApiKey) -> dict:
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "user": k.user.name, "role": k.user.role,
            "kind": k.kind, "created_at": k.created_at, "expires_at": k.expires_at, "revoked_at": k.revoked_at,
            "last_used_at": k.last_used_at}


def _user_out(u: User) -> dict:
    return {"id": u.id, "name": u.name, "role": u.role, "slack_user_id": u.slack_user_id,
            "has_password": bool(u.password_hash), "created_at": u.created_at}


def _insert_user(session, **fields) -> User | None:
    """A new user row, or None when a request beside this one created a user of that name first (names are unique:
    the loser of the race was a 500). The calling route has written nothing else yet, so its transaction is rolled
    back whole."""
    user = User(**fields)
    session.add(user)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return None
    return user


@router.get("/keys", response_model=list[KeyOut])
def list_keys(admin: AdminDep, session: SessionDep):
    return [_key_out(k) for k in session.scalars(select(ApiKey).order_by(ApiKey.id)).all()]


@router.post("/keys", status_code=201, response_model=NewKeyOut)
def create_key(body: NewKey, admin: AdminDep, session: SessionDep):
    """A new key for a user. It never changes an existing user: role, password and Slack id are set only when the
    user is new; changing them is PATCH /v1/users/{id}, an explicit admin action."""
    user = session.scalar(select(User).where(User.name == body.user))
    created = None
    if user is None:
        created = _insert_user(session, name=body.user, role=body.role or "user",
                               slack_user_id=body.slack_user_id or None,
                               password_hash=hash_password(body.password) if body.password else None)
        # None: a request beside this one created the user first; from here on it is an existing user
        user = created or session.scalar(select(User).where(User.name == body.user))
    if created is not None:
        audit(session, admin, "user.create", f"user:{user.id}", user=user.name, role=user.role)
    else:
        differs = [f for f, new, old in (("role", body.role, user.role),
                                          ("slack_user_id", body.slack_user_id, user.slack_user_id))
                   if new is not None and new != old] + (["password"] if body.password else [])
        if differs:
            raise APIError(409, f"user {user.name!r} exists: creating a key does not change a user "
                                f"({', '.join(differs)}); use PATCH /v1/users/{user.id}", "user_exists")
    row, key = create_api_key(session, user, body.name)
    audit(session, admin, "key.create", f"key:{row.id}", user=user.name, role=user.role)
    return {**_key_out(row), "key": key}


@router.get("/users", response_model=list[UserAdminOut])
def list_users(admin: AdminDep, session: SessionDep):
    return [_user_out(u) for u in session.scalars(select(User).order_by(User.id)).all()]


@router.post("/users", status_code=201, response_model=UserAdminOut)
def create_user(body: NewUser, admin: AdminDep, session: SessionDep):
    user = None
    if session.scalar(select(User).where(User.name == body.name)) is None:
        user = _insert_user(session, name=body.name, role=body.role, slack_user_id=body.slack_user_id or None,
                            password_hash=hash_password(body.password) if body.password else None)
    if user is None:
        raise APIError(409, f"user {body.name!r} exists", "user_exists")
    audit(session, admin, "user.create", f"user:{user.id}", user=user.name, role=user.role)
    return _user_out(user)


@router.patch("/users/{user_id}", response_model=UserAdminOut)
def change_user(user_id: int, body: UserChange, admin: AdminDep, session: SessionDep):
    user = session.get(User, user_id)
    if user is None:
        raise APIError(404, f"no user {user_id}", "user_not_found")
    if body.role is not None and body.role != user.role:
        if user.role == "admin":
            lock_rows(session, User, User.role == "admin")  # two demotions at once counted two admins each: none left
            session.refresh(user)  # as the lock left it
            admins = session.scalar(select(func.count()).select_from(User).where(User.role == "admin")) or 0
            if user.role == "admin" and admins <= 1:
                raise APIError(409, "this is the last admin: promote another user first", "last_admin")
        user.role = body.role
    if body.password:
        user.password_hash = hash_password(body.password)
    if body.slack_user_id is not None:
        user.slack_user_id = body.slack_user_id or None
    audit(session, admin, "user.change", f"user:{user.id}",
          fields=sorted(k for k, v in body.model_dump().items() if v is not None and k != "password")
          + (["password"] if body.password else []))
    return _user_out(user)


@router.delete("/keys/{key_id}", response_model=KeyOut)
def revoke_key(key_id: int, admin: AdminDep, session: SessionDep):
    row = revoke_api_key(session, key_id)
    if row is None:
        raise APIError(404, f"no key {key_id}", "key_not_found")
    audit(session, admin, "key.revoke", f"key:{key_id}")
    return _key_out(row)


def _mv_out(v: ModelVersion) -> dict:
    gate = registry.gate_of(v)
    return {"id": v.id, "name": v.name, "base_model": v.base_model, "adapter_path": v.adapter_path,
            "adapter_hash": v.adapter_hash, "dataset_version": v.dataset_version, "job_id": v.job_id,
            "metrics": v.metrics, "status": v.status, "created_at": v.created_at, "promoted_at": v.promoted_at,
            # the evaluation gate: passed, the reasons when not, and the candidate's and live answerer's figures
            "gate": gate, "recipe": ((v.metrics or {}).get("data") or {}).get("recipe"),
            "data": (v.metrics or {}).get("data"), "lineage": (v.metrics or {}).get("lineage"),
            "parent": ((v.metrics or {}).get("lineage") or {}).get("parent")}


class Promotion(BaseModel):
    force: bool = Field(default=False, description="promote although the version failed the evaluation gate "
                        "(recorded in the audit log with the gate's reasons)")
    reason: str | None = Field(default=None, max_length=2000, description="why (for the audit log)")


@router.get("/model-versions", response_model=list[ModelVersionOut])
def list_model_versions(admin: AdminDep, session: SessionDep):
    return [_mv_out(v) for v in session.scalars(select(ModelVersion).order_by(ModelVersion.id.desc())).all()]


def _go_live(request: Request, session, version: ModelVersion) -> None:
    """Prepare the serving side (e.g. load the adapter into vLLM) *before* committing, so the registry never says
    live for a version nothing can serve; then drop cached generators so the next answer uses it."""
    hook = getattr(request.app.state, "on_model_change", None)
    if hook:
        try:
            hook(version)
        except Exception as exc:
            session.rollback()
            raise APIError(503, f"could not make {version.name} servable: {exc}", "serving_not_ready") from exc
    session.commit()
    request.app.state.generators.forget()


@router.post("/model-versions/{version_id}/promote", response_model=ModelVersionOut)
def promote_version(version_id: int, request: Request, admin: AdminDep, session: SessionDep,
                    body: Promotion | None = None):
    body = body or Promotion()
    try:
        mv = registry.promote(session, version_id, admin, force=body.force, reason=body.reason)
    except registry.GateRefused as exc:
        raise APIError(409, str(exc), "gate_failed") from exc
    except registry.RegistryError as exc:
        raise APIError(404, str(exc), "model_version_not_found") from exc
    _go_live(request, session, mv)
    return _mv_out(mv)


@router.post("/model-versions/rollback", response_model=ModelVersionOut | ExtractiveServing)
def rollback_version(request: Request, admin: AdminDep, session: SessionDep):
    try:
        mv = registry.rollback(session, admin)
    except registry.RegistryError as exc:
        raise APIError(409, str(exc), "nothing_to_roll_back") from exc
    if mv is None:  # no earlier version: extractive answers from now on
        session.commit()
        request.app.state.generators.forget()
        return {"name": None, "status": "extractive", "answerer": "extractive",
                "detail": "no model version is live: answers are extractive"}
    _go_live(request, session, mv)
    return _mv_out(mv)


class Correction(BaseModel):
    answer: str = Field(min_length=1, max_length=20000, description="the corrected answer")
    comment: str | None = Field(default=None, max_length=4000)


@router.post("/admin/messages/{message_id}/correction", response_model=CorrectionOut)
def correct_answer(message_id: int, body: Correction, admin: AdminDep, session: SessionDep):
    """An admin's corrected answer: stored as the admin's 👎 with the correction, which the next retrain with
    feedback uses as the chosen answer of a preference pair (and as an SFT example)."""
    msg = session.get(Message, message_id)
    if msg is None or msg.role != "assistant":
        raise APIError(404, f"no answer {message_id}", "message_not_found")
    fb = feedback_row(session, message_id, admin.user_id, rating=-1, origin="web")
    fb.rating, fb.correction = -1, body.answer
    if body.comment is not None:
        fb.comment = body.comment
    session.flush()
    audit(session, admin, "feedback.correct", f"message:{message_id}")
    return {"id": fb.id, "message_id": message_id, "rating": fb.rating, "correction": fb.correction,
            "comment": fb.comment}


@router.get("/admin/feedback", response_model=FeedbackOverview)
def feedback_overview(request: Request, admin: AdminDep, days: int = 30, worst: int = 10):
    """Feedback per day and per channel, the worst-rated answers with their sources (text withheld where they
    were built from passages this admin cannot read), and what each retrain used."""
    from app.api.deps import access_for
    from app.services.feedback import overview
    return overview(request.app.state.settings, access_for(admin), days=days, worst=max(1, min(worst, 100)))


@router.get("/usage", response_model=UsageReport)
def usage(admin: AdminDep, session: SessionDep, days: int = 30):
    since = datetime.now(timezone.utc) - timedelta(days=max(1, min(days, 365)))
    rows = session.execute(select(Message.created_at, Message.latency)
                           .where(Message.role == "assistant", Message.created_at >= since)).all()
    per_day = Counter(r[0].date().isoformat() for r in rows)
    lat = [float(r[1].get("total_ms", 0)) for r in rows if r[1]]
    up = session.scalar(select(func.count()).select_from(Feedback).where(Feedback.rating > 0)) or 0
    down = session.scalar(select(func.count()).select_from(Feedback).where(Feedback.rating < 0)) or 0
    pct = (lambda q: round(float(np.percentile(lat, q)), 1)) if lat else (lambda q: None)
    return {"questions_per_day": [{"day": d, "count": c} for d, c in sorted(per_day.items())],
            "feedback": {"up": up, "down": down},
            "latency_ms": {"p50": pct(50), "p95": pct(95), "p99": pct(99)},
            "users": session.scalar(select(func.count()).select_from(User)) or 0}


@router.get("/audit", response_model=list[AuditEventOut])
def audit_log(admin: AdminDep, session: SessionDep, limit: int = 100):
    rows = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(max(1, min(limit, 1000)))).all()
    return [{"id": e.id, "action": e.action, "target": e.target, "details": e.details,
             "actor_user_id": e.actor_user_id, "created_at": e.created_at} for e in rows]
