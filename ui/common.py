"""Session plumbing shared by the pages: the signed-in client, error display, small formatters."""
from __future__ import annotations

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
# The UI never keeps a long-lived API key: signing in with a password gives a short-lived sign-in key, and an API
# key is exchanged for one at once (POST /v1/auth/session). The API stores sign-in keys hashed, they expire after
# its session_key_ttl_hours and end at sign-out. The browser keeps the sign-in key in a cookie (path /,
# SameSite=Strict, Secure over https, expiring with the key) — never in the URL, where history and server logs
# would keep it. A reload, even after the UI process restarted, signs back in from the cookie (checked with
# GET /v1/me), on the page its URL names.
COOKIE = "teamlore_session"
_COOKIE_SET = "_cookie_set"      # session_state: (key, max-age s) to write into the browser's cookie
_COOKIE_CLEAR = "_cookie_clear"  # session_state: delete the cookie (signed out)


def _browser_cookie() -> str | None:
    """The sign-in cookie the browser sent when this browser session (tab load) started."""
    try:
        value = st.context.cookies.get(COOKIE)
    except Exception:  # no browser behind this session (AppTest, bare mode)
        return None
    return value or None


def restore_session() -> None:
    """After a reload: sign back in from the cookie's sign-in key, if the API still accepts it."""
    if st.session_state.get(AUTH_KEY) or st.session_state.get(_COOKIE_CLEAR):
        return
    key = _browser_cookie()
    if not key:
        return
    keyed = base_client().with_key(key)
    try:
        user = keyed.me()
    except Unauthorized:
        st.session_state[_COOKIE_CLEAR] = True  # expired or revoked: sign in again
        return
    except ApiError:
        return  # the API is down: the sign-in page says so
    finally:
        keyed.close()
    st.session_state[AUTH_KEY] = {"api_key": key, "user": dict(user)}


def _max_age(expires_at: str | None) -> int:
    expires = parse_time(expires_at)
    if expires is None:
        return 8 * 3600
    return max(0, int((expires - datetime.now(timezone.utc)).total_seconds()))


def sync_cookie() -> None:
    """Each run: write (after sign-in) or delete (after sign-out) the browser's sign-in cookie."""
    pending = st.session_state.get(_COOKIE_SET)
    if pending:
        value, max_age = pending
        _cookie_script(f"{COOKIE}={value}; Max-Age={max_age}")
    elif st.session_state.get(_COOKIE_CLEAR):
        _cookie_script(f"{COOKIE}=; Max-Age=0")


def _cookie_script(assignment: str) -> None:
    # the value is a sign-in key (URL-safe characters only) or empty: nothing to escape
    js = (f"<script>document.cookie = '{assignment}; Path=/; SameSite=Strict'"
          "+ (location.protocol === 'https:' ? '; Secure' : '');</script>")
    with st.sidebar:
        st.html(js, unsafe_allow_javascript=True)


def sign_in(api_key: str, user: dict[str, Any], expires_at: str | None = None, *, session_key: bool = True) -> None:
    """Sign in with a sign-in key (`session_key`, from POST /v1/auth/login), or with an API key, which is exchanged
    for a sign-in key here and then forgotten."""
    if not session_key:
        keyed = base_client().with_key(api_key)
        try:
            result = keyed.new_session()
        finally:
            keyed.close()
        api_key, user, expires_at = result["api_key"], result["user"], result.get("expires_at")
    st.session_state[AUTH_KEY] = {"api_key": api_key, "user": dict(user)}
    st.session_state[_COOKIE_SET] = (api_key, _max_age(expires_at))
    st.session_state.pop(_COOKIE_CLEAR, None)
    st.session_state.pop(NOTICE_KEY, None)


def sign_out(notice: str | None = None) -> None:
    """End the sign-in key (the API revokes it), delete the cookie, and forget everything fetched with it (another
    person may sign in next)."""
    auth = st.session_state.get(AUTH_KEY)
    if auth:
        keyed = base_client().with_key(auth["api_key"])
        try:
            keyed.logout()
        except ApiError:
            pass  # already revoked or expired, or the API is down: the cookie goes all the same
        finally:
            keyed.close()
    for key in list(st.session_state.keys()):
        del st.session_state[key]
    st.session_state[_COOKIE_CLEAR] = True
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
