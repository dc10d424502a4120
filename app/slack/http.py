"""HTTP Events mode: Slack posts events, interactions and slash commands to the API, bolt verifies and routes.

Mounted by create_app only when TEAMLORE_SLACK_BOT_TOKEN and TEAMLORE_SLACK_SIGNING_SECRET are set. Bolt checks
the v0 signature and the 5-minute replay window (401 otherwise); dispatch runs in a worker thread so a slow ack
never blocks the event loop, and answers run in the bot's thread pool after the acknowledgement.
"""
from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, Request
from slack_bolt import App
from slack_bolt.adapter.fastapi import SlackRequestHandler
from slack_bolt.adapter.starlette.handler import to_bolt_request, to_starlette_response
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


async def _handle(request: Request) -> Response:
    problem = _header_problem(request)
    if problem:
        status, reason = problem
        return JSONResponse(error_body(status, reason, "bad_slack_request"), status_code=status)
    await run_in_threadpool(bolt_app, request)
    return await request.app.state.slack_handler.handle(request)


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
