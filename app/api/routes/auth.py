"""Sign-in with a username and password (returns a session API key) and who-am-I."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import PrincipalDep, SessionDep, SettingsDep
from app.api.errors import APIError
from app.api.protocol import LoginResponse, UserOut
from app.db.models import User
from app.security import create_session_key, verify_password

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


@router.get("/me", response_model=UserOut)
def me(principal: PrincipalDep):
    return {"id": principal.user_id, "name": principal.name, "role": principal.role}
