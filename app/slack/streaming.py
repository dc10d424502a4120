"""Stream an answer into Slack: a placeholder message, throttled chat.update calls, one final update."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from app.slack.blocks import PLACEHOLDER, streaming_blocks

log = logging.getLogger("teamlore.slack")


class SlackStream:
    """One answer message. Intermediate updates are best effort (a rate-limited one is skipped, the next one
    carries the text); the final update is retried by the client's rate-limit handler."""

    def __init__(self, client: WebClient, channel: str, thread_ts: str | None, *, interval_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic):
        self.client = client
        self.channel = channel
        self.thread_ts = thread_ts
        self.interval_s = interval_s
        self.clock = clock
        self.ts: str | None = None
        self.updates = 0
        self._last_at = 0.0
        self._last_text = ""

    def start(self, text: str = PLACEHOLDER) -> str:
        resp = self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text)
        self.ts = resp["ts"]
        self._last_at = self.clock()
        return self.ts

    def push(self, text_so_far: str) -> bool:
        """Show the text so far if the throttle allows; returns whether an update was sent."""
        now = self.clock()
        if self.ts is None or now - self._last_at < self.interval_s or text_so_far == self._last_text:
            return False
        self._last_at = now
        try:
            self.client.chat_update(channel=self.channel, ts=self.ts, text=text_so_far,
                                    blocks=streaming_blocks(text_so_far))
        except SlackApiError as exc:  # e.g. ratelimited after retries: the final update still comes
            log.info("slack: streamed update skipped: %s", exc.response.get("error"))
            return False
        self._last_text = text_so_far
        self.updates += 1
        return True

    def finish(self, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        if self.ts is None:
            self.client.chat_postMessage(channel=self.channel, thread_ts=self.thread_ts, text=text, blocks=blocks)
            return
        self.client.chat_update(channel=self.channel, ts=self.ts, text=text, blocks=blocks or [])
        self.updates += 1
