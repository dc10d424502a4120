"""Slack markup to readable text, and the rules that keep bot and system messages out of the corpus.

Every filtered message keeps a reason (`system:channel_join`, `bot`, `empty` …) so a run's report can say what
was left out and why; nothing is dropped silently.
"""
from __future__ import annotations

import html
import re
from collections.abc import Mapping

from ingest.types import SlackMessageRecord

# Subtypes that are Slack talking about the conversation, not people talking in it.
SYSTEM_SUBTYPES = frozenset({
    "channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name", "channel_archive",
    "channel_unarchive", "channel_convert_to_private", "channel_convert_to_public", "group_join", "group_leave",
    "group_topic", "group_purpose", "group_name", "group_archive", "group_unarchive", "pinned_item",
    "unpinned_item", "bot_add", "bot_remove", "bot_enable", "bot_disable", "reminder_add", "reminder_delete",
    "sh_room_created", "sh_room_shared", "huddle_thread", "channel_canvas_updated", "channel_posting_permissions",
    "app_conversation_join", "joiner_notification", "joiner_notification_for_inviter", "slackbot_response",
    "ekm_access_denied", "file_mention",
})
BOT_SUBTYPES = frozenset({"bot_message"})
SLACKBOT_ID = "USLACKBOT"

# <@U123>, <@U123|name>, <#C123|name>, <!here>, <!subteam^S1|@team>, <!date^…|fallback>, <url|label>, <url>
_ANGLE = re.compile(r"<([^<>\n]+)>")
_CODE = re.compile(r"```.*?```|`[^`\n]+`", re.S)


def _render_angle(body: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    target, _, label = body.partition("|")
    if target.startswith("@"):
        uid = target[1:]
        return "@" + (users.get(uid) or label or uid)
    if target.startswith("#"):
        cid = target[1:]
        return "#" + (label or channels.get(cid) or cid)
    if target.startswith("!"):
        special = target[1:]
        if special.startswith("subteam^"):
            return label if label.startswith("@") else "@" + (label or special.split("^", 1)[1])
        if special.startswith("date^"):
            return label or special
        return "@" + (label.lstrip("@") if label else special)  # @here, @channel, @everyone
    if target.startswith("mailto:"):
        return label or target[len("mailto:"):]
    if label:
        bare = re.sub(r"^[a-z]+://", "", target).rstrip("/")
        if label.rstrip("/") in (target, bare):
            return target
        return f"{label} ({target})"
    return target


def clean_text(raw: str, users: Mapping[str, str] | None = None, channels: Mapping[str, str] | None = None) -> str:
    """Slack mrkdwn → readable text. Mentions become @display name and #channel, links keep label and URL,
    entities are decoded, emoji shortcodes (:tada:) stay as text, code blocks are kept verbatim
    (only Slack's own entity escaping is undone inside them)."""
    if not raw:
        return ""
    users = users or {}
    channels = channels or {}
    out: list[str] = []
    last = 0
    for m in _CODE.finditer(raw):
        out.append(_clean_plain(raw[last:m.start()], users, channels))
        # Slack still wraps URLs in <> inside code; unwrap those but leave everything else as typed.
        out.append(html.unescape(re.sub(r"<((?:https?|mailto):[^<>|\s]+)(?:\|[^<>]*)?>", r"\1", m.group())))
        last = m.end()
    out.append(_clean_plain(raw[last:], users, channels))
    text = "".join(out)
    return re.sub(r"[ \t]+\n", "\n", text).strip()


def _clean_plain(part: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    part = _ANGLE.sub(lambda m: _render_angle(m.group(1), users, channels), part)
    return html.unescape(part)


def filter_reason(msg: SlackMessageRecord, bot_user_ids: frozenset[str] | set[str] = frozenset()) -> str | None:
    """Why a message stays out of the corpus, or None when it is content."""
    if msg.subtype in SYSTEM_SUBTYPES:
        return f"system:{msg.subtype}"
    if msg.subtype in BOT_SUBTYPES or msg.bot_id or msg.user_id == SLACKBOT_ID or (msg.user_id in bot_user_ids):
        return "bot"
    if not msg.text.strip():
        return "empty"
    return None


def clean_message(msg: SlackMessageRecord, users: Mapping[str, str], channels: Mapping[str, str],
                  bot_user_ids: frozenset[str] | set[str] = frozenset()) -> SlackMessageRecord:
    """Fill `text` and `filtered` in place (and return the record). Shared files are named in the text so a
    message that is only an upload is still findable."""
    text = clean_text(msg.raw_text, users, channels)
    if not text and msg.attachments_text:
        text = clean_text(msg.attachments_text, users, channels)
    if msg.files:
        listing = "\n".join(f"[file: {name}]" for name in msg.files)
        text = f"{text}\n{listing}" if text else listing
    msg.text = text
    msg.filtered = filter_reason(msg, bot_user_ids)
    return msg
