"""Per-key (and per-Slack-user/channel) rate limits with the `limits` library: memory by default, Redis in production."""
from __future__ import annotations

from dataclasses import dataclass

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter


@dataclass
class RateDecision:
    allowed: bool
    retry_after: int = 0


class RateLimiter:
    def __init__(self, rate: str, storage_url: str | None = None):
        self.item = parse(rate)  # e.g. "120/minute"; raises ValueError naming the bad string
        self.storage = storage_from_string(storage_url or "memory://")
        self.limiter = MovingWindowRateLimiter(self.storage)

    def hit(self, *identifiers: str, rate: str | None = None) -> RateDecision:
        """One request by `identifiers` (e.g. "key", "42"), against this limiter's rate or `rate`."""
        item = self.item if rate is None else self._parsed(rate)
        if self.limiter.hit(item, *identifiers):
            return RateDecision(True)
        reset_at, _ = self.limiter.get_window_stats(item, *identifiers)
        import time
        return RateDecision(False, retry_after=max(1, int(reset_at - time.time()) + 1))

    _items: dict = {}

    def _parsed(self, rate: str):
        if rate not in self._items:
            self._items[rate] = parse(rate)
        return self._items[rate]

    def reset(self) -> None:
        self.storage.reset()
