"""Typed records produced by the ingestion parsers. Pure data: no database, no settings."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class IngestError(Exception):
    """Input that cannot be ingested; the message says exactly why (shown to the user as the rejection reason)."""


@dataclass
class SlackChannelRecord:
    channel_id: str
    name: str
    kind: str  # public | private | dm | mpim
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""
    team_id: str | None = None  # the workspace it belongs to (channels.json `context_team_id`), when exported


@dataclass
class SlackUserRecord:
    user_id: str
    name: str
    display_name: str | None = None
    real_name: str | None = None
    title: str | None = None
    is_bot: bool = False
    deleted: bool = False

    @property
    def label(self) -> str:
        """What `<@U…>` mentions render as: the display name, else the real name, else the handle."""
        return self.display_name or self.real_name or self.name or self.user_id


@dataclass
class SlackMessageRecord:
    """One Slack message as parsed (raw markup); cleaning fills `text` and `filtered`."""
    channel_id: str
    ts: str
    user_id: str | None
    raw_text: str
    thread_ts: str | None = None
    subtype: str | None = None
    bot_id: str | None = None
    user_name: str | None = None  # name given on the message itself (bots, user_profile)
    reactions: dict[str, list[str]] = field(default_factory=dict)
    edited_ts: str | None = None
    reply_count: int = 0
    files: list[str] = field(default_factory=list)  # file names / titles shared with the message
    attachments_text: str = ""  # fallback text of unfurls and bot attachments
    text: str = ""  # cleaned, readable
    filtered: str | None = None  # why it stays out of the corpus, or None


@dataclass
class Section:
    heading_path: list[str]
    page: int | None
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"heading_path": list(self.heading_path), "page": self.page, "text": self.text}


@dataclass
class ParsedDocument:
    path: str
    title: str
    mime: str
    sections: list[Section]
    pages: int | None = None
    size_bytes: int = 0
    content_hash: str = ""  # sha256 of the file's bytes

    @property
    def text(self) -> str:
        return "\n\n".join(s.text for s in self.sections)


@dataclass
class RejectedFile:
    path: str
    reason: str


@dataclass
class SlackExport:
    """Everything parsed out of one export archive."""
    channels: list[SlackChannelRecord]
    users: list[SlackUserRecord]
    messages: list[SlackMessageRecord]
    team_domain: str | None = None  # e.g. "acme" for acme.slack.com, when every channel's metadata agrees
    channel_domains: dict[str, str] = field(default_factory=dict)  # channel id -> its workspace's domain
    rejected: list[RejectedFile] = field(default_factory=list)  # day files that could not be read
