"""What the bot reports about the system (App Home, `/teamlore status`): read from the database and the engine,
nothing of Slack."""
from __future__ import annotations

from typing import Callable

from sqlalchemy import func, select

from app.answering.engine import AnswerEngine
from app.db import session_scope
from app.db.models import Chunk, Conversation, Feedback, Message
from app.settings import Settings


def live_model_version(settings: Settings) -> str | None:
    from app.services.registry import live_version
    with session_scope(settings.db_url) as s:
        mv = live_version(s)
        return mv.name if mv is not None else None


def effective_generator(settings: Settings) -> str:
    """What answers now: extractive, transformers or openai (the `auto` setting resolved for the live version)."""
    from app.services.registry import live_version
    from app.wiring import serving_backend
    with session_scope(settings.db_url) as s:
        return serving_backend(settings, live_version(s))


def status_text(settings: Settings, engine_provider: Callable[[], AnswerEngine]) -> str:
    with session_scope(settings.db_url) as s:
        chunks = s.scalar(select(func.count()).select_from(Chunk)) or 0
        answers = s.scalar(select(func.count()).select_from(Message).join(Conversation).where(
            Conversation.channel == "slack", Message.role == "assistant")) or 0
        up = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.rating > 0)) or 0
        down = s.scalar(select(func.count()).select_from(Feedback).where(Feedback.rating < 0)) or 0
    try:
        engine_provider().generators.choose()
        model_state = "available"
    except Exception as exc:
        model_state = f"unavailable ({type(exc).__name__}: {str(exc)[:120]})"
    return "\n".join([
        "*Teamlore status*",
        f"• Generator: {effective_generator(settings)}, live model: {live_model_version(settings) or 'none'}, "
        f"{model_state}",
        f"• Indexed chunks: {chunks}",
        f"• Slack answers: {answers}; feedback 👍 {up} / 👎 {down}",
        f"• Help channels: {', '.join(settings.slack_help_channels) or 'none'}; "
        f"support group: {settings.slack_support_group or 'not set'}",
    ])
