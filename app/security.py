"""Users, API keys and passwords. Keys are shown once and stored only as SHA-256 hashes."""
from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db.models import ApiKey, AuditEvent, User

KEY_PREFIX = "tl_"
ROLES = ("user", "admin")


@dataclass(frozen=True)
class Principal:
    """The authenticated caller of a request."""
    user_id: int
    name: str
    role: str
    key_id: int | None
    slack_user_id: str | None = None
    key_last_used_at: datetime | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def hash_key(key: str) -> str:
    # API keys carry 256 bits of entropy, so a fast hash is safe here (no dictionary to attack).
    return hashlib.sha256(key.encode()).hexdigest()


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str | None) -> bool:
    if not stored or not stored.startswith("scrypt$"):
        return False
    _, salt_hex, _ = stored.split("$", 2)
    return hmac.compare_digest(hash_password(password, salt=bytes.fromhex(salt_hex)), stored)


def get_or_create_user(session: Session, name: str, role: str = "user", **fields) -> User:
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    user = session.scalar(select(User).where(User.name == name))
    if user is None:
        user = User(name=name, role=role, **fields)
        session.add(user)
        session.flush()
    return user


def create_api_key(session: Session, user: User, name: str, *, key: str | None = None, kind: str = "api",
                   expires_at: datetime | None = None, parent_key_id: int | None = None) -> tuple[ApiKey, str]:
    """Create a key for `user` (never changing the user); returns the row and the plaintext key (the only time it
    exists)."""
    key = key or KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(user_id=user.id, name=name, prefix=key[:10], key_hash=hash_key(key), kind=kind,
                 expires_at=expires_at, parent_key_id=parent_key_id)
    session.add(row)
    session.flush()
    return row, key


def _aware(dt: datetime | None) -> datetime | None:
    return dt.replace(tzinfo=timezone.utc) if dt is not None and dt.tzinfo is None else dt  # SQLite: naive


def create_session_key(session: Session, user: User, *, ttl_hours: float, max_live: int,
                       via_key: int | None = None) -> tuple[ApiKey, str]:
    """A sign-in key that expires after `ttl_hours`; the user keeps at most `max_live` live sign-in keys (the
    oldest are revoked), so signing in again and again never piles up keys. `via_key`: the API key it was exchanged
    for (the web UI signed in with an API key); revoking that key ends this one too."""
    now = datetime.now(timezone.utc)
    live = session.scalars(select(ApiKey).where(ApiKey.user_id == user.id, ApiKey.kind == "session",
                                                ApiKey.revoked_at.is_(None)).order_by(ApiKey.id)).all()
    live = [k for k in live if k.expires_at is None or _aware(k.expires_at) > now]
    for old in live[:max(0, len(live) - max_live + 1)]:
        old.revoked_at = now
    name = f"web sign-in via key #{via_key}" if via_key is not None else "web sign-in"  # a label: the link is the id
    return create_api_key(session, user, name, kind="session", expires_at=now + timedelta(hours=ttl_hours),
                          parent_key_id=via_key)


def authenticate(session: Session, key: str) -> Principal | None:
    if not key:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(key)))
    if row is None or row.revoked_at is not None:
        return None
    now = datetime.now(timezone.utc)
    if row.expires_at is not None and _aware(row.expires_at) <= now:
        return None
    # a sign-in key lives only as long as the key it was made from (also one made while that key was revoked)
    parent = row.parent if row.parent_key_id is not None else None
    if parent is not None and (parent.revoked_at is not None or
                               (parent.expires_at is not None and _aware(parent.expires_at) <= now)):
        return None
    user = row.user
    return Principal(user_id=user.id, name=user.name, role=user.role, key_id=row.id,
                     slack_user_id=user.slack_user_id, key_last_used_at=row.last_used_at)


def revoke_api_key(session: Session, key_id: int) -> ApiKey | None:
    """Revoke a key, and the sign-in keys a web UI exchanged it for (POST /v1/auth/session)."""
    row = session.get(ApiKey, key_id)
    if row is not None and row.revoked_at is None:
        now = datetime.now(timezone.utc)
        row.revoked_at = now
        for child in session.scalars(select(ApiKey).where(ApiKey.parent_key_id == row.id,
                                                          ApiKey.revoked_at.is_(None))):
            child.revoked_at = now
    return row


def audit(session: Session, actor: Principal | None, action: str, target: str | None = None, **details) -> None:
    session.add(AuditEvent(actor_user_id=actor.user_id if actor else None, action=action, target=target,
                           details=details))
