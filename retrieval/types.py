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

    def permits(self, acl: list[str]) -> bool:
        """Admins read everything; everyone else what the ACL grants them."""
        return self.is_admin or self.can_see(acl)


PUBLIC = Access()  # sees only content visible to everyone


class VisibilityError(ValueError):
    pass


def acl_for_visibility(visibility: str | None) -> list[str]:
    """A document's visibility as a chunk ACL: "everyone" (the default) -> ["*"], "group:<name>" -> itself.
    The one rule: uploads validate with it, indexing applies it, listings filter with it (visibilities_for)."""
    v = (visibility or "everyone").strip()
    if v == "everyone":
        return [EVERYONE]
    if v.startswith("group:") and len(v) > 6:
        return [v]
    raise VisibilityError(f"visibility must be 'everyone' or 'group:<name>', got {visibility!r}")


def acl_for_stored_visibility(visibility: str | None) -> list[str]:
    """The ACL of a document as stored: `acl_for_visibility`, or [] (admins only, never everyone) for a visibility
    this version does not understand."""
    try:
        return acl_for_visibility(visibility)
    except VisibilityError:
        return []


def visibilities_for(access: Access) -> list[str] | None:
    """The document visibilities `access` may read, for a database filter (None: every one — an admin). The same
    rule as `access.permits(acl_for_visibility(v))`: everyone's, plus the groups the asker (every asker, for a
    channel answer) belongs to."""
    if access.is_admin:
        return None
    askers = access.all_of or (access,)
    groups = frozenset.intersection(*(a.groups for a in askers))
    return ["everyone", *sorted(f"group:{g}" for g in groups)]


@dataclass(frozen=True)
class ChunkOrigin:
    """Where a chunk comes from — the fields a citation is made of. A typed view of the chunk metadata: read a
    chunk's origin through `ChunkRecord.origin` / `SearchHit.origin`, never by metadata key."""
    kind: str  # "document" | "slack_thread"
    title: str
    url: str | None = None  # Slack: the permalink of the chunk's first message; documents: their link, if any
    channel: str | None = None  # Slack channel name
    slack_ts: str | None = None  # Slack: the ts id (a string like "1712345678.000100") of the chunk's first message
    thread_ts: str | None = None  # Slack: the thread's root ts
    ts: float | None = None  # epoch seconds (Slack message time; document update time): what date filters use
    page: int | None = None
    heading_path: tuple[str, ...] = ()
    document_id: int | None = None

    @property
    def is_slack(self) -> bool:
        return self.kind == "slack_thread"

    @classmethod
    def from_meta(cls, kind: str, title: str, meta: dict[str, Any], document_id: int | None = None) -> "ChunkOrigin":
        ts = meta.get("ts")
        return cls(kind=kind, title=title, url=meta.get("permalink") or meta.get("url"),
                   channel=meta.get("channel"), slack_ts=meta.get("slack_ts"), thread_ts=meta.get("thread_ts"),
                   ts=float(ts) if isinstance(ts, (int, float)) else None, page=meta.get("page"),
                   heading_path=tuple(meta.get("heading_path") or ()),
                   document_id=document_id if document_id is not None else meta.get("document_id"))


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

    @property
    def origin(self) -> ChunkOrigin:
        return ChunkOrigin.from_meta(self.origin_kind, self.title, self.meta, self.document_id)


@dataclass
class SearchHit:
    chunk_id: int
    score: float
    text: str
    title: str
    meta: dict[str, Any]
    scores: dict[str, float] = field(default_factory=dict)  # per component: dense, bm25, rerank

    @property
    def origin(self) -> ChunkOrigin:
        return ChunkOrigin.from_meta(self.meta.get("origin_kind", "document"), self.title, self.meta)
