"""Typed records the dataset builder works on: one Slack message as stored, one channel, one conversation.

They mirror the `slack_*` tables (what ingestion wrote) so that `app` can fill them from the database and tests
can build them by hand. Pure data: no database, no settings.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Msg:
    channel_id: str
    ts: str
    user_id: str | None
    text: str  # cleaned, readable (ingestion already rendered mentions and masked what it masks)
    thread_ts: str | None = None
    user_name: str | None = None
    is_bot: bool = False
    subtype: str | None = None
    filtered: str | None = None  # why ingestion keeps it out of the corpus (bot, join, …), or None
    deleted: bool = False
    reactions: dict[str, list[str]] = field(default_factory=dict, hash=False, compare=False)
    permalink: str | None = None
    raw_text: str = ""  # Slack markup: carries `<@U…>` mentions used by disentanglement

    @property
    def time(self) -> float:
        return float(self.ts)

    @property
    def speaker(self) -> str:
        return self.user_id or self.user_name or "unknown"


@dataclass(frozen=True)
class Channel:
    channel_id: str
    name: str
    kind: str = "public"  # public | private | dm | mpim

    @property
    def is_private(self) -> bool:
        return self.kind != "public"


@dataclass(frozen=True)
class Person:
    user_id: str
    name: str
    display_name: str | None = None
    title: str | None = None
    is_bot: bool = False

    @property
    def label(self) -> str:
        return self.display_name or self.name or self.user_id


@dataclass
class ConversationUnit:
    """A unit of dialogue: one Slack thread, one disentangled stretch of a channel, or one part of a long thread."""
    conversation_id: str  # stable: "<channel_id>:<first ts>[:p<part>]"
    channel: Channel
    messages: list[Msg]
    method: str  # thread | disentangled | single
    part: int = 0  # >0 when an enormous thread was split
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def asker(self) -> str:
        # whoever opens this conversation (or this part of a split one) asks
        return self.meta.get("asker") or self.messages[0].speaker

    @property
    def speakers(self) -> list[str]:
        seen: dict[str, None] = {}
        for m in self.messages:
            seen.setdefault(m.speaker, None)
        return list(seen)
