"""The buttons under an answer in Slack: 👍 / 👎 (stored as feedback, the same table the web UI writes), *Show
sources* (every citation, privately) and *Ask a human* (mentions the support group in the thread)."""
from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import select

from app.db import session_scope
from app.db.models import Message
from app.services.ratings import feedback_row
from app.settings import Settings
from app.slack import blocks as bk
from app.slack.access import teamlore_user
from model.base import Citation

log = logging.getLogger("teamlore.slack")


class AnswerButtons:
    def __init__(self, settings: Settings, client: WebClient):
        self.settings = settings
        self.client = client

    def _ephemeral(self, body: dict[str, Any], text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        user = (body.get("user") or {}).get("id")
        thread_ts = (body.get("message") or {}).get("thread_ts") or (body.get("container") or {}).get("thread_ts")
        try:
            self.client.chat_postEphemeral(channel=channel, user=user, text=text, blocks=blocks,
                                           thread_ts=thread_ts)
        except SlackApiError as exc:
            log.warning("slack: ephemeral reply failed: %s", exc.response.get("error"))

    @staticmethod
    def _message_id(action: dict[str, Any]) -> int | None:
        value = str(action.get("value") or "")
        return int(value) if value.isdigit() else None

    def on_feedback(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        message_id = self._message_id(action)
        rating = 1 if action.get("action_id") == bk.FEEDBACK_UP else -1
        person = teamlore_user(self.settings.db_url, body["user"]["id"])
        with session_scope(self.settings.db_url) as s:
            msg = s.get(Message, message_id) if message_id is not None else None
            if msg is None or msg.role != "assistant":
                stored = False
            else:
                row = feedback_row(s, msg.id, person.user_id, rating=rating, origin="slack")
                row.rating, row.origin = rating, "slack"  # changing one's mind replaces the earlier rating
                stored = True
        self._ephemeral(body, ("Thanks for the feedback " + ("👍" if rating > 0 else "👎") +
                               ": it helps train the next model.") if stored
                        else "That answer no longer exists, so the feedback was not stored.")

    def _stored_answer(self, message_id: int | None) -> tuple[str | None, list[Citation]]:
        """(the question, the citations) of a stored answer."""
        if message_id is None:
            return None, []
        with session_scope(self.settings.db_url) as s:
            msg = s.get(Message, message_id)
            if msg is None:
                return None, []
            question = s.scalar(select(Message.content).where(
                Message.conversation_id == msg.conversation_id, Message.role == "user", Message.id < msg.id)
                .order_by(Message.id.desc()).limit(1))
            return question, [Citation.from_dict(c) for c in msg.citations or []]

    def on_show_sources(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        _, citations = self._stored_answer(self._message_id(action))
        self._ephemeral(body, bk.sources_text(citations), bk.sources_blocks(citations))

    def on_ask_human(self, body: dict[str, Any], action: dict[str, Any]) -> None:
        group = self.settings.slack_support_group
        if not group:
            self._ephemeral(body, "No support group is configured (TEAMLORE_SLACK_SUPPORT_GROUP): please ask in "
                                  "your team's help channel.")
            return
        question, _ = self._stored_answer(self._message_id(action))
        mention = f"<!subteam^{group}>" if re.fullmatch(r"S[A-Z0-9]+", group) else bk.escape(group)
        asker = body["user"]["id"]
        channel = (body.get("channel") or {}).get("id") or (body.get("container") or {}).get("channel_id")
        message = body.get("message") or {}
        thread_ts = message.get("thread_ts") or message.get("ts")
        text = f"{mention} <@{asker}> would like a human to help with this question"
        if question:
            text += f":\n> {bk.escape(question)[:1500]}"
        post(self.client, channel, thread_ts, text)


def post(client: WebClient, channel: str, thread_ts: str | None, text: str) -> None:
    try:
        client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=text)
    except SlackApiError as exc:
        log.warning("slack: could not post to %s: %s", channel, exc.response.get("error"))
