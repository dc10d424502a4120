"""Typed records that cross the retrieval seam."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

EVERYONE = "*"


@dataclass(frozen=True)
class Access:
    """Who is asking. `slack_user_ids` are the Slack identities mapped to the user; `groups` the document groups.

    `all_of`: when set (a Slack channel answer), content must be visible to *every* one of these principals —
    answers in a channel never cite what some member could not read.
    """
    slack_user_ids: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    is_admin: bool = False
    all_of: tuple["Access", ...] = ()

    def _sees(self, acl: list[str]) -> bool:
        if EVERYONE in acl:
            return True
        return any(a in self.slack_user_ids or (a.startswith("group:") and a[6:] in self.groups) for a in acl)

    def can_see(self, acl: list[str]) -> bool:
        if self.all_of:
            return all(p._sees(acl) for p in self.all_of)
        return self._sees(acl)


PUBLIC = Access()  # sees only content visible to everyone


@dataclass
class ChunkRecord:
    """One retrievable unit before it is stored: text plus what a citation needs."""
    text: str
    title: str
    origin_kind: str  # "document" | "slack_thread"
    origin_key: str
    acl: list[str] = field(default_factory=lambda: [EVERYONE])
    meta: dict[str, Any] = field(default_factory=dict)  # heading_path, page, channel, permalink, author, ts, source
    document_id: int | None = None


@dataclass
class SearchHit:
    chunk_id: int
    score: float
    text: str
    title: str
    meta: dict[str, Any]
    scores: dict[str, float] = field(default_factory=dict)  # per component: dense, bm25, rerank
