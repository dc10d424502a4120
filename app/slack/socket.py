"""Socket Mode: the bot opens a WebSocket to Slack (apps.connections.open) — no public URL needed."""
from __future__ import annotations

from typing import Callable

from slack_bolt.adapter.socket_mode import SocketModeHandler

from app.answering.engine import AnswerEngine
from app.settings import Settings
from app.slack.bot import build_bolt_app, default_engine_provider


def socket_mode_handler(settings: Settings,
                        engine_provider: Callable[[], AnswerEngine] | None = None) -> SocketModeHandler:
    """The bolt app behind a Socket Mode connection; `.start()` blocks, `.connect()` returns once connected."""
    if not settings.slack_app_token or not settings.slack_app_token.startswith("xapp-"):
        raise ValueError("TEAMLORE_SLACK_APP_TOKEN must be an app-level token (xapp-…) with connections:write")
    app = build_bolt_app(settings, engine_provider or default_engine_provider(settings))
    # the WebSocket URL comes from apps.connections.open on the same Web API base as every other call
    return SocketModeHandler(app, settings.slack_app_token, web_client=app.client)
