"""Sign-in with a username and password (returns a session API key) and who-am-I."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import PrincipalDep, SessionDep, SettingsDep
from app.api.errors import APIError
from app.api.protocol import LoginResponse, UserOut
from app.db.models import ApiKey, User
from app.security import create_session_key, revoke_api_key, verify_password

router = APIRouter(prefix="/v1", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.post("/auth/login", response_model=LoginResponse)
def login(body: Login, request: Request, session: SessionDep, settings: SettingsDep):
    # Attempts are limited per account (guessing one password) and per client (trying many accounts) in a moving
    # window: an attacker is slowed down, and the real user can sign in again once the window has passed.
    limiter = request.app.state.rate_limiter
    for scope, ident, rate in (("login-account", body.username.lower(), settings.login_rate_limit),
                               ("login-client", _client_address(request), settings.login_client_rate_limit)):
        decision = limiter.hit(scope, ident, rate=rate)
        if not decision.allowed:
            raise APIError(429, "too many sign-in attempts; try again shortly", "rate_limited",
                           headers={"Retry-After": str(decision.retry_after)})
    user = session.scalar(select(User).where(User.name == body.username))
    if user is None or not verify_password(body.password, user.password_hash):
        raise APIError(401, "wrong username or password", "bad_credentials")
    row, key = create_session_key(session, user, ttl_hours=settings.session_key_ttl_hours,
                                  max_live=settings.max_session_keys)
    session.commit()  # the key works the moment the client has it
    return {"api_key": key, "expires_at": row.expires_at,
            "user": {"id": user.id, "name": user.name, "role": user.role}}


@router.post("/auth/session", response_model=LoginResponse)
def new_session(principal: PrincipalDep, session: SessionDep, settings: SettingsDep):
    """A short-lived sign-in key for the caller (what the web UI keeps for a browser session — in a cookie, so a
    reload stays signed in — instead of the long-lived API key it was signed in with). Stored hashed like every key,
    it expires after session_key_ttl_hours and ends at sign-out (`POST /v1/auth/logout`)."""
    user = session.get(User, principal.user_id)
    if user is None:
        raise APIError(401, "this key's user no longer exists", "unauthorized")
    caller = session.get(ApiKey, principal.key_id) if principal.key_id is not None else None
    # a sign-in key renewed from a sign-in key keeps its parent API key (revoking that still ends it)
    via = (caller.id if caller.kind != "session" else caller.parent_key_id) if caller is not None else None
    row, key = create_session_key(session, user, ttl_hours=settings.session_key_ttl_hours,
                                  max_live=settings.max_session_keys, via_key=via)
    session.commit()
    return {"api_key": key, "expires_at": row.expires_at,
            "user": {"id": user.id, "name": user.name, "role": user.role}}


class LogoutOut(BaseModel):
    revoked: bool = Field(description="the calling key was a sign-in key and is now revoked (an API key is only "
                          "revoked on the API keys page)")


@router.post("/auth/logout", response_model=LogoutOut)
def logout(principal: PrincipalDep, session: SessionDep):
    """Sign out: the calling sign-in key stops working at once."""
    row = session.get(ApiKey, principal.key_id) if principal.key_id is not None else None
    if row is None or row.kind != "session":
        return {"revoked": False}
    revoke_api_key(session, row.id)
    session.commit()
    return {"revoked": True}


@router.get("/me", response_model=UserOut)
def me(principal: PrincipalDep):
    return {"id": principal.user_id, "name": principal.name, "role": principal.role}
