"""Read a workspace through the Slack Web API (slack-sdk), incrementally.

Per conversation we keep a checkpoint: the newest `ts` seen. A sync asks `conversations.history` for everything
newer than the checkpoint *minus a re-read window*, and re-reads the replies of every thread active in that
window. Comparing what comes back with what we stored is how edits (same ts, new text) and deletions (gone from
the window) are noticed: Slack's history API does not report deletions otherwise.

Rate limits: every method has a token bucket sized like Slack's tier for it, and a 429 is retried after the
Retry-After the server asked for (slack-sdk retry handler, counted for the run's report).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from ingest.slack_export import parse_message, parse_users, without_nul
from ingest.types import RejectedFile, SlackChannelRecord, SlackMessageRecord, SlackUserRecord

# Requests per minute per method (Slack's documented tiers: 2 = 20+, 3 = 50+, 4 = 100+).
TIER_PER_MINUTE = {"conversations.list": 20, "users.list": 20, "conversations.history": 50,
                   "conversations.replies": 50, "conversations.members": 100, "auth.test": 100}
DEFAULT_RESYNC_WINDOW_S = 7 * 24 * 3600
PAGE_LIMIT = 200


class CountingRateLimitHandler(RateLimitErrorRetryHandler):
    """slack-sdk's 429 handler, sleeping exactly Retry-After (no added jitter) and counting the hits."""

    def __init__(self, max_retry_count: int = 10, sleep: Callable[[float], None] = time.sleep):
        super().__init__(max_retry_count=max_retry_count)
        self.hits = 0
        self.waited_s = 0.0
        self._sleep = sleep

    def prepare_for_next_attempt(self, *, state, request, response=None, error=None) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        self.hits += 1
        wait = 1.0
        for k, v in response.headers.items():
            if k.lower() == "retry-after":
                try:
                    wait = max(0.0, float(v[0] if isinstance(v, list) else v))
                except ValueError:
                    pass
        self.waited_s += wait
        self._sleep(wait)
        state.next_attempt_requested = True
        state.increment_current_attempt()


class TierPacer:
    """A token bucket per method: bursts up to the tier's per-minute allowance, then paces to it."""

    def __init__(self, per_minute: dict[str, int] | None = None, sleep: Callable[[float], None] = time.sleep):
        self.per_minute = dict(TIER_PER_MINUTE if per_minute is None else per_minute)
        self.tokens: dict[str, float] = {}
        self.stamp: dict[str, float] = {}
        self.lock = threading.Lock()
        self._sleep = sleep

    def wait(self, method: str) -> None:
        rate = self.per_minute.get(method)
        if not rate:
            return
        with self.lock:
            now = time.monotonic()
            tokens = min(rate, self.tokens.get(method, rate) + (now - self.stamp.get(method, now)) * rate / 60)
            delay = 0.0 if tokens >= 1 else (1 - tokens) * 60 / rate
            self.tokens[method] = tokens - 1 + delay * rate / 60
            self.stamp[method] = now + delay
        if delay:
            self._sleep(delay)


@dataclass
class LiveSyncResult:
    channels: list[SlackChannelRecord]
    users: list[SlackUserRecord]
    messages: list[SlackMessageRecord]
    checkpoints: dict[str, str]  # channel id -> newest ts seen
    # What was re-read completely, so anything stored there but not returned now was deleted:
    history_windows: dict[str, tuple[str, set[str]]] = field(default_factory=dict)  # channel -> (oldest, top-level ts)
    threads_read: dict[tuple[str, str], set[str]] = field(default_factory=dict)  # (channel, thread_ts) -> reply ts
    team_url: str | None = None
    rejected: list[RejectedFile] = field(default_factory=list)
    api_calls: int = 0
    rate_limited: int = 0
    waited_s: float = 0.0


class LiveReader:
    def __init__(self, client: WebClient, *, pacer: TierPacer | None = None, page_limit: int = PAGE_LIMIT,
                 resync_window_s: float = DEFAULT_RESYNC_WINDOW_S, progress: Callable[[str], None] | None = None):
        self.client = client
        self.pacer = pacer if pacer is not None else TierPacer()
        self.page_limit = page_limit
        self.resync_window_s = resync_window_s
        self.progress = progress or (lambda _msg: None)
        self.calls = 0
        self.rate_handler = next((h for h in client.retry_handlers if isinstance(h, CountingRateLimitHandler)), None)
        if self.rate_handler is None:
            # Replace a plain 429 handler, if the caller added one, by ours (so the hits are counted).
            client.retry_handlers[:] = [h for h in client.retry_handlers
                                        if not isinstance(h, RateLimitErrorRetryHandler)]
            self.rate_handler = CountingRateLimitHandler()
            client.retry_handlers.append(self.rate_handler)

    def _call(self, method: str, **params: Any) -> dict[str, Any]:
        self.pacer.wait(method)
        self.calls += 1
        return without_nul(self.client.api_call(method, http_verb="GET", params=params).data)

    def _paged(self, method: str, key: str, **params: Any) -> Iterable[dict[str, Any]]:
        cursor = None
        while True:
            data = self._call(method, limit=self.page_limit, **({"cursor": cursor} if cursor else {}), **params)
            yield from data.get(key) or []
            cursor = (data.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return

    def read(self, checkpoints: dict[str, str], recent_threads: Iterable[tuple[str, str]] = ()) -> LiveSyncResult:
        """Fetch users, conversations and messages newer than each checkpoint minus the re-read window, plus the
        replies of `recent_threads` (threads with activity in the window that history alone would not show)."""
        team_url = None
        try:
            team_url = self._call("auth.test").get("url")
        except SlackApiError:
            pass  # permalinks are then left out; the sync itself does not need auth.test
        self.progress("users")
        users = parse_users(list(self._paged("users.list", "members")), "users.list")
        self.progress("conversations")
        channels = []
        for c in self._paged("conversations.list", "channels", types="public_channel,private_channel,mpim,im",
                             exclude_archived="false"):
            channels.append(self._channel(c))
        result = LiveSyncResult(channels=channels, users=users, messages=[], checkpoints=dict(checkpoints),
                                team_url=team_url)
        recent = {}
        for ch_id, thread_ts in recent_threads:
            recent.setdefault(ch_id, set()).add(thread_ts)
        for ch in channels:
            self.progress(f"#{ch.name}")
            try:
                self._read_channel(ch, checkpoints.get(ch.channel_id), recent.get(ch.channel_id, set()), result)
            except SlackApiError as exc:
                error = exc.response.get("error") if exc.response is not None else str(exc)
                result.rejected.append(RejectedFile(f"#{ch.name} ({ch.channel_id})",
                                                    f"Slack API refused reading it: {error}"))
        result.api_calls = self.calls
        result.rate_limited = self.rate_handler.hits
        result.waited_s = self.rate_handler.waited_s
        return result

    def _channel(self, c: dict[str, Any]) -> SlackChannelRecord:
        if c.get("is_im"):
            kind, name = "dm", f"dm-{c.get('user') or c['id']}"
            members = [m for m in [c.get("user")] if m]
        else:
            kind = "mpim" if c.get("is_mpim") else "private" if (c.get("is_private") or c.get("is_group")) else "public"
            name = c.get("name") or c["id"]
            members = []
        if kind != "dm":
            try:
                members = [str(m) for m in self._paged("conversations.members", "members", channel=c["id"])]
            except SlackApiError:
                members = []  # not a member: we will not read its history either
        topic = c.get("topic") if isinstance(c.get("topic"), dict) else {}
        purpose = c.get("purpose") if isinstance(c.get("purpose"), dict) else {}
        return SlackChannelRecord(channel_id=c["id"], name=str(name), kind=kind, members=members,
                            topic=str(topic.get("value") or ""), purpose=str(purpose.get("value") or ""))

    def _read_channel(self, ch: SlackChannelRecord, checkpoint: str | None, recent: set[str],
                      result: LiveSyncResult) -> None:
        oldest = "0"
        if checkpoint:
            oldest = f"{max(0.0, float(checkpoint) - self.resync_window_s):.6f}"
        top_level: set[str] = set()
        threads: set[str] = set(recent)
        newest = checkpoint
        for m in self._paged("conversations.history", "messages", channel=ch.channel_id, oldest=oldest):
            if "ts" not in m:
                continue
            rec = parse_message(m, ch.channel_id)
            top_level.add(rec.ts)
            result.messages.append(rec)
            if m.get("reply_count") or (m.get("thread_ts") == m["ts"] and m.get("latest_reply")):
                threads.add(rec.ts)
            newest = rec.ts if newest is None or float(rec.ts) > float(newest) else newest
        result.history_windows[ch.channel_id] = (oldest, top_level)
        for thread_ts in sorted(threads):
            replies: set[str] = set()
            try:
                for m in self._paged("conversations.replies", "messages", channel=ch.channel_id, ts=thread_ts):
                    if "ts" not in m or m["ts"] == thread_ts:
                        continue  # the parent comes first in every page of replies; history has it
                    rec = parse_message(m, ch.channel_id)
                    rec.thread_ts = rec.thread_ts or thread_ts
                    replies.add(rec.ts)
                    result.messages.append(rec)
                    newest = rec.ts if newest is None or float(rec.ts) > float(newest) else newest
            except SlackApiError as exc:
                if (exc.response.get("error") if exc.response is not None else None) == "thread_not_found":
                    replies = set()  # the whole thread is gone: every stored reply was deleted
                else:
                    raise
            result.threads_read[(ch.channel_id, thread_ts)] = replies
        if newest:
            result.checkpoints[ch.channel_id] = newest
