"""Session plumbing shared by the pages: the signed-in client, error display, small formatters."""
from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import streamlit as st

from ui.client import ApiError, TeamloreClient, Unauthorized, api_url_from_env

AUTH_KEY = "auth"  # session_state: {"api_key", "user": {id, name, role}}
NOTICE_KEY = "signin_notice"


def base_client() -> TeamloreClient:
    """An unauthenticated client (for sign-in), one per browser session."""
    url = api_url_from_env()
    c = st.session_state.get("_anon_client")
    if c is None or c.base_url != url:
        c = st.session_state["_anon_client"] = TeamloreClient(url)
    return c


def current_user() -> dict[str, Any] | None:
    auth = st.session_state.get(AUTH_KEY)
    return auth["user"] if auth else None


def is_admin() -> bool:
    user = current_user()
    return bool(user and user.get("role") == "admin")


def client() -> TeamloreClient:
    """The signed-in client; pages are only routed to when someone is signed in."""
    auth = st.session_state.get(AUTH_KEY)
    if not auth:
        st.session_state[NOTICE_KEY] = "Please sign in."
        st.rerun()
    c = st.session_state.get("_client")
    if c is None or c.api_key != auth["api_key"] or c.base_url != api_url_from_env():
        c = st.session_state["_client"] = TeamloreClient(api_url_from_env(), auth["api_key"])
    return c


# --- staying signed in across a browser reload ----------------------------------------------------------------
# A reload starts a new Streamlit session. The URL carries an opaque, random, short-lived session token (never the
# API key); this UI process maps it to the signed-in key. Tokens expire, end at sign-out, and die with the process.
SESSION_PARAM = "session"
SESSION_TTL_S = 8 * 3600
_TOKEN_KEY = "_session_token"


class _SessionStore:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_token: dict[str, tuple[float, dict[str, Any]]] = {}

    def issue(self, auth: dict[str, Any]) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            now = time.time()
            self._by_token = {t: v for t, v in self._by_token.items() if v[0] > now}  # drop expired ones
            self._by_token[token] = (now + SESSION_TTL_S, dict(auth))
        return token

    def get(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._by_token.get(token)
            if entry is None or entry[0] <= time.time():
                self._by_token.pop(token, None)
                return None
            return dict(entry[1])

    def drop(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._by_token.pop(token, None)


SESSIONS = _SessionStore()


def restore_session() -> None:
    """After a reload: sign back in from the URL's session token, if it is still valid."""
    if st.session_state.get(AUTH_KEY):
        return
    token = st.query_params.get(SESSION_PARAM)
    auth = SESSIONS.get(token) if token else None
    if auth:
        st.session_state[AUTH_KEY] = auth
        st.session_state[_TOKEN_KEY] = token
    elif token:
        del st.query_params[SESSION_PARAM]  # expired or unknown: sign in again


def keep_session_in_url() -> None:
    """Each run: the signed-in session's token stays in the address bar (page switches drop query parameters)."""
    token = st.session_state.get(_TOKEN_KEY)
    if token and st.query_params.get(SESSION_PARAM) != token:
        st.query_params[SESSION_PARAM] = token


def sign_in(api_key: str, user: dict[str, Any]) -> None:
    st.session_state[AUTH_KEY] = {"api_key": api_key, "user": dict(user)}
    st.session_state[_TOKEN_KEY] = SESSIONS.issue(st.session_state[AUTH_KEY])
    st.session_state.pop(NOTICE_KEY, None)


def sign_out(notice: str | None = None) -> None:
    """Forget the key, its session token and everything fetched with it (another person may sign in next)."""
    SESSIONS.drop(st.session_state.get(_TOKEN_KEY))
    if SESSION_PARAM in st.query_params:
        del st.query_params[SESSION_PARAM]
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    if notice:
        st.session_state[NOTICE_KEY] = notice


def signed_out(exc: Unauthorized) -> None:
    """The key stopped working mid-session (revoked, expired): back to sign-in, saying why."""
    why = exc.server_message or "your key is no longer valid"
    sign_out(f"You have been signed out ({why}). Please sign in again.")
    st.rerun()


@contextmanager
def api_errors(action: str | None = None) -> Iterator[None]:
    """Show an API failure as a message instead of a traceback; the rest of the block is skipped.
    A 401 means the key was revoked or the session expired: go back to sign-in."""
    try:
        yield
    except Unauthorized as exc:
        signed_out(exc)
    except ApiError as exc:
        prefix = f"{action}: " if action else ""
        st.error(prefix + exc.user_message, icon=":material/error:")


def rerun_with_toast(message: str, icon: str = ":material/check_circle:") -> None:
    """Show a toast after the rerun that a state change needs (toasts shown before st.rerun are lost)."""
    st.session_state["_toast"] = (message, icon)
    st.rerun()


def flush_toast() -> None:
    pending = st.session_state.pop("_toast", None)
    if pending:
        st.toast(pending[0], icon=pending[1])


# --- formatters ---------------------------------------------------------------------------------

def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def fmt_time(value: str | None, never: str = "never") -> str:
    dt = parse_time(value)
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else never


def fmt_ago(value: str | None, now: datetime | None = None, never: str = "never") -> str:
    dt = parse_time(value)
    if dt is None:
        return never
    seconds = ((now or datetime.now(timezone.utc)) - dt).total_seconds()
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size:
            n = int(seconds // size)
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"  # pragma: no cover


def fmt_bytes(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"  # pragma: no cover


STATUS_ICONS = {"done": "✅", "ingested": "✅", "updated": "🔄", "unchanged": "⏸️", "rejected": "❌",
                "queued": "🕒", "running": "⏳", "succeeded": "✅", "failed": "❌", "cancelled": "⛔",
                "live": "🟢", "candidate": "🟡", "retired": "⚪"}


def status_badge(status: str | None) -> str:
    return f"{STATUS_ICONS.get(status or '', '•')} {status or 'unknown'}"
