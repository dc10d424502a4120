"""The process-wide searcher: one per index directory, on the newest published snapshot.

get_searcher  one Searcher per index directory; it notices a newer published snapshot and swaps to it between
             queries (a search in flight finishes on the snapshot it started with).
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Mapping

from sqlalchemy import select

from app.db import session_scope
from app.db.models import Chunk
from app.services.embeddings import get_embedder_for
from app.services.indexing import rebuild_index
from app.settings import Settings
from retrieval.faiss_index import IndexCorrupt, IndexMismatch, IndexMissing, IndexStore
from retrieval.hybrid import FusionConfig, HybridSearcher, load_reranker
from retrieval.types import PUBLIC, Access, ChunkRecord, SearchHit

log = logging.getLogger(__name__)


class Searcher:
    """Searches the newest published snapshot. Loading (and, on a corrupt or missing index, rebuilding) happens on
    first use; afterwards a newer `current` is picked up between queries."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.store = IndexStore(settings.index_dir)
        self._lock = threading.Lock()
        self._hs: HybridSearcher | None = None
        self._loaded_path: Path | None = None
        self.notice: str | None = None  # what happened at load (e.g. "index was corrupt; rebuilt")
        self.reranker = load_reranker(settings.reranker_model) if settings.reranker_model else None

    def _hydrate(self, ids: list[int]) -> Mapping[int, ChunkRecord]:
        if not ids:
            return {}
        with session_scope(self.settings.db_url) as s:
            rows = s.scalars(select(Chunk).where(Chunk.id.in_(ids))).all()
            return {r.id: ChunkRecord(text=r.text, title=r.title, origin_kind=r.origin_kind, origin_key=r.origin_key,
                                      acl=list(r.acl or []), meta=dict(r.meta or {}), document_id=r.document_id)
                    for r in rows}

    def _current_target(self) -> Path | None:
        return self.store.current_path()

    def _load(self) -> HybridSearcher:
        emb = get_embedder_for(self.settings)
        try:
            snap = self.store.load(expected_model_version=emb.version)
        except (IndexMissing, IndexCorrupt, IndexMismatch) as exc:
            self.notice = f"{type(exc).__name__}: {exc}; rebuilt the index from the corpus"
            log.warning("index not usable (%s); rebuilding from the corpus", exc)
            rebuild_index(self.settings, reason=str(exc))
            snap = self.store.load(expected_model_version=emb.version)
        self._loaded_path = snap.path
        fusion = FusionConfig(rrf_k=self.settings.retrieval_rrf_k, dense_weight=self.settings.retrieval_dense_weight,
                              bm25_weight=self.settings.retrieval_bm25_weight)
        return HybridSearcher(snap, emb, self._hydrate, fusion, reranker=self.reranker)

    def current(self) -> HybridSearcher:
        hs = self._hs
        target = self._current_target()
        if hs is not None and (target is None or target == self._loaded_path):
            return hs
        with self._lock:
            if self._hs is None or self._current_target() != self._loaded_path:
                try:
                    self._hs = self._load()
                except (IndexCorrupt, OSError) as exc:
                    if self._hs is None:
                        raise
                    # A half-visible new version (pruned or unreadable): keep serving the last good one.
                    log.warning("could not load the newer index (%s); still serving v%s", exc,
                                self._hs.snapshot.version)
            return self._hs

    @property
    def version(self) -> int:
        return self.current().snapshot.version

    def search(self, query: str, k: int = 5, access: Access = PUBLIC,
               filters: dict | None = None) -> list[SearchHit]:
        # every hit carries its dense cosine (callers threshold on it), from the one embedding of the query
        return self.current().search(query, k=k, access=access, filters=filters, dense_scores=True)


_SEARCHERS: dict[str, Searcher] = {}
_SEARCHERS_LOCK = threading.Lock()


def get_searcher(settings: Settings) -> Searcher:
    key = f"{settings.index_dir}|{settings.db_url}|{settings.embedding_model}|{settings.reranker_model}"
    with _SEARCHERS_LOCK:
        if key not in _SEARCHERS:
            _SEARCHERS[key] = Searcher(settings)
        return _SEARCHERS[key]


def reset_searchers() -> None:
    """Forget process-wide searchers (tests, or after the data directory moves)."""
    with _SEARCHERS_LOCK:
        _SEARCHERS.clear()
