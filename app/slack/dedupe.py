"""Answer each Slack message once: Slack retries events (X-Slack-Retry-Num) and sends both `app_mention`
and `message` for one mention. First claim wins; memory by default, Redis when several bot processes run."""
from __future__ import annotations

import threading
import time


class Deduper:
    def __init__(self, redis_url: str | None = None, ttl_s: int = 3600, prefix: str = "teamlore:slack:seen:"):
        self.ttl_s = ttl_s
        self.prefix = prefix
        self._redis = None
        if redis_url:
            import redis
            self._redis = redis.Redis.from_url(redis_url)
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, key: str) -> bool:
        """True the first time `key` is seen within the TTL."""
        if self._redis is not None:
            return bool(self._redis.set(self.prefix + key, b"1", nx=True, ex=self.ttl_s))
        now = time.monotonic()
        with self._lock:
            if len(self._seen) > 10_000:  # drop expired keys now and then; the dict stays small
                self._seen = {k: t for k, t in self._seen.items() if now - t < self.ttl_s}
            at = self._seen.get(key)
            if at is not None and now - at < self.ttl_s:
                return False
            self._seen[key] = now
            return True
