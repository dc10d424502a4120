"""HTTP Events mode: Slack posts events, interactions and slash commands to the API, bolt verifies and routes.

Mounted by create_app only when TEAMLORE_SLACK_BOT_TOKEN and TEAMLORE_SLACK_SIGNING_SECRET are set. The v0
signature and the 5-minute replay window are checked here on the raw bytes, before bolt sees the request (bolt
parses the body when it builds its request, before its own check: a forged request with a malformed body was a
500 with a traceback in the log); then the body must be what Slack sends (JSON object, or a form whose `payload` is
one). Every refusal is in the API's one error format. Dispatch runs in a worker thread so a slow ack never blocks
the event loop, and answers run in the bot's thread pool after the acknowledgement.
"""
from __future__ import annotations

import hashlib
import hmac
import threading
import time
from typing import Any

from fastapi import APIRouter, Request
from slack_bolt import App
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
from slack_bolt.request.internals import parse_body
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse, Response

from app.api.errors import error_body

from app.slack.bot import build_bolt_app

router = APIRouter(prefix="/slack", tags=["slack"], include_in_schema=False)
_lock = threading.Lock()


class ThreadedSlackRequestHandler(SlackRequestHandler):
    """bolt's FastAPI handler, with App.dispatch (synchronous: it may wait for a command's ack) off the loop."""

    async def handle(self, req: Request, addition_context_properties: dict[str, Any] | None = None) -> Response:
        if req.method != "POST":
            return await super().handle(req, addition_context_properties)
        body = await req.body()
        bolt_resp = await run_in_threadpool(self.app.dispatch, to_bolt_request(req, body,
                                                                               addition_context_properties))
        return to_starlette_response(bolt_resp)


def bolt_app(request: Request) -> App:
    """One bolt App per API app, built on the first Slack request."""
    state = request.app.state
    handler = getattr(state, "slack_handler", None)
    if handler is None:
        with _lock:
            handler = getattr(state, "slack_handler", None)
            if handler is None:
                handler = ThreadedSlackRequestHandler(build_bolt_app(state.settings, state.engine,
                                                                     verify_token=False))
                state.slack_handler = handler
    return handler.app


def _header_problem(request: Request) -> tuple[int, str] | None:
    """Why Slack's signing headers cannot be checked, if they cannot: bolt would raise on malformed ones (a 500).
    Absent headers: 401 (not signed); present but malformed: 400."""
    ts = request.headers.get("x-slack-request-timestamp")
    sig = request.headers.get("x-slack-signature")
    if ts is None or sig is None:
        return 401, "missing X-Slack-Request-Timestamp or X-Slack-Signature header: not a signed Slack request"
    if not (ts.isascii() and ts.isdigit() and len(ts) <= 12):
        return 400, "X-Slack-Request-Timestamp must be a Unix time in seconds"
    if not sig or not sig.isascii() or len(sig) > 200:
        return 400, "malformed X-Slack-Signature header"
    return None


REPLAY_WINDOW_S = 5 * 60  # Slack's own rule: a request older (or newer) than this is refused


def signature_valid(secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None) -> bool:
    """Slack's v0 signature over the raw bytes (any bytes: bolt's own check decodes them as UTF-8 first), and
    the timestamp within the replay window."""
    if abs((time.time() if now is None else now) - int(timestamp)) > REPLAY_WINDOW_S:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def body_problem(body: bytes, content_type: str | None) -> str | None:
    """Why a signed body is not something Slack sends, read the way bolt reads it; None when it is."""
    try:
        data = parse_body(body.decode("utf-8"), content_type)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return "the body is not UTF-8 JSON or form data as Slack sends it"
    if not isinstance(data, dict):
        return "the body must be a JSON object (or a form whose payload is one)"
    if not isinstance(data.get("event", {}), dict):
        return "the event must be a JSON object"
    return None


def _refuse(status: int, reason: str) -> Response:
    return JSONResponse(error_body(status, reason, "bad_slack_request"), status_code=status)


async def _handle(request: Request) -> Response:
    problem = _header_problem(request)
    if problem:
        return _refuse(*problem)
    body = await request.body()
    secret = request.app.state.settings.slack_signing_secret or ""
    if not signature_valid(secret, request.headers["x-slack-request-timestamp"],
                           request.headers["x-slack-signature"], body):
        return _refuse(401, "invalid Slack signature, or a timestamp outside the 5-minute replay window")
    problem_text = body_problem(body, request.headers.get("content-type"))
    if problem_text:
        return _refuse(400, problem_text)
    await run_in_threadpool(bolt_app, request)
    response = await request.app.state.slack_handler.handle(request)
    if response.status_code >= 500:  # bolt's own failure (e.g. Slack's API unreachable): the one error format
        return JSONResponse(error_body(503, "the Slack request could not be handled now (Slack's API may be "
                                       "unreachable); Slack retries it", "slack_unavailable"), status_code=503)
    return response


@router.post("/events")
async def slack_events(request: Request) -> Response:
    """Events API (url_verification, app_mention, message.*, app_home_opened)."""
    return await _handle(request)


@router.post("/interactions")
async def slack_interactions(request: Request) -> Response:
    """Interactivity: the answer buttons."""
    return await _handle(request)


@router.post("/commands")
async def slack_commands(request: Request) -> Response:
    """The /teamlore slash command."""
    return await _handle(request)
