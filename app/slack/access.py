"""Who asks, and what they may read: Slack user -> Teamlore user; channel -> intersection of members' access."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from slack_sdk import WebClient
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import session_scope
from app.db.models import User
from retrieval.types import Access


@dataclass(frozen=True)
class SlackPerson:
    user_id: int  # Teamlore users.id
    slack_user_id: str
    is_admin: bool


def teamlore_user(db_url: str, slack_user_id: str) -> SlackPerson:
    """The Teamlore user mapped to this Slack identity, created with role `user` on first sight."""
    for _ in range(2):  # two first messages at once: the loser of the insert race reads the winner's row
        try:
            with session_scope(db_url) as s:
                user = s.scalar(select(User).where(User.slack_user_id == slack_user_id).order_by(User.id).limit(1))
                if user is None:
                    user = User(name=f"slack:{slack_user_id}", role="user", slack_user_id=slack_user_id)
                    s.add(user)
                    s.flush()
                return SlackPerson(user.id, slack_user_id, user.role == "admin")
        except IntegrityError:
            continue
    raise RuntimeError(f"could not map Slack user {slack_user_id} to a Teamlore user")


def user_access(slack_user_id: str) -> Access:
    """A DM or a private reply: what this one person can read in Slack. Never `is_admin` (which would lift
    every ACL): in Slack even an admin gets only what their Slack identity can read."""
    return Access(slack_user_ids=frozenset({slack_user_id}))


class ChannelMembers:
    """conversations.members with a short cache: membership changes rarely, answers come in bursts."""

    def __init__(self, client: WebClient, ttl_s: float = 60.0):
        self.client = client
        self.ttl_s = ttl_s
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def get(self, channel: str) -> frozenset[str]:
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(channel)
            if hit and now - hit[0] < self.ttl_s:
                return hit[1]
        members: set[str] = set()
        cursor = None
        while True:
            resp = self.client.conversations_members(channel=channel, limit=1000, cursor=cursor)
            members.update(resp.get("members") or [])
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                break
        result = frozenset(members)
        with self._lock:
            self._cache[channel] = (now, result)
        return result

    def forget(self, channel: str | None = None) -> None:
        with self._lock:
            if channel is None:
                self._cache.clear()
            else:
                self._cache.pop(channel, None)


def channel_access(members: frozenset[str], *, exclude: set[str]) -> Access:
    """Content every member can read. The bot itself is left out (it reads nothing private on its own behalf);
    an empty member list means the public view."""
    people = sorted(m for m in members if m not in exclude)
    if not people:
        return Access()
    return Access(all_of=tuple(user_access(m) for m in people))
