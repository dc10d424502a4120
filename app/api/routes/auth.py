"""Sign-in with a username and password (returns a session API key) and who-am-I."""
from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import PrincipalDep, SessionDep
from app.api.errors import APIError
from app.db.models import User
from app.security import create_api_key, verify_password

router = APIRouter(prefix="/v1", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1000)


@router.post("/auth/login")
def login(body: Login, request: Request, session: SessionDep):
    decision = request.app.state.rate_limiter.hit("login", body.username)
    if not decision.allowed:
        raise APIError(429, "too many sign-in attempts", "rate_limited",
                       headers={"Retry-After": str(decision.retry_after)})
    user = session.scalar(select(User).where(User.name == body.username))
    if user is None or not verify_password(body.password, user.password_hash):
        raise APIError(401, "wrong username or password", "bad_credentials")
    _, key = create_api_key(session, user, "web sign-in")
    return {"api_key": key, "user": {"id": user.id, "name": user.name, "role": user.role}}


@router.get("/me")
def me(principal: PrincipalDep):
    return {"id": principal.user_id, "name": principal.name, "role": principal.role}
