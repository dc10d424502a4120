"""Hybrid search over one snapshot: dense (FAISS) + BM25, fused, permission- and metadata-filtered, optionally
reranked by a cross-encoder.

Permission filtering happens on the candidate lists *before* fusion and truncation, so what a user may not see
never takes a result slot and is never returned. When filters leave too few candidates, the candidate depth grows
(up to the whole index) instead of returning fewer results than exist.
"""
from __future__ import annotations

import contextlib

import time
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any, Callable, Iterable, Mapping

import numpy as np

from retrieval.faiss_index import Snapshot
from retrieval.types import PUBLIC, Access, ChunkRecord, SearchHit

FILTER_KEYS = ("source", "channel", "origin_kind", "date_from", "date_to", "document_id")
MAX_QUERY_CHARS = 2000


class QueryError(ValueError):
    """The query or its filters are unusable; the message says why."""


@dataclass(frozen=True)
class FusionConfig:
    method: str = "rrf"  # rrf | dense | bm25
    rrf_k: int = 60
    dense_weight: float = 1.0
    bm25_weight: float = 1.0
    depth: int = 100  # candidates taken from each list


def _to_epoch(value: Any, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, datetime):
        return (value if value.tzinfo else value.replace(tzinfo=timezone.utc)).timestamp()
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc).timestamp()
    if isinstance(value, str):
        try:
            return _to_epoch(datetime.fromisoformat(value.strip()), key)
        except ValueError:
            pass
    raise QueryError(f"filter {key}: {_short(value)} is not a date (use YYYY-MM-DD or an ISO timestamp)")


def _short(value: Any) -> str:
    """A client's value in an error message, cut short (a 30 MB list was echoed whole)."""
    text = repr(value)
    return text if len(text) <= 100 else text[:100] + "…"


def normalize_filters(filters: Mapping[str, Any] | None) -> dict[str, Any]:
    """Validate filters; values may be a single value or a list (any of)."""
    if not filters:
        return {}
    unknown = sorted(set(filters) - set(FILTER_KEYS))
    if unknown:
        named = ", ".join(k[:40] for k in unknown[:5]) + (f" and {len(unknown) - 5} more" if len(unknown) > 5 else "")
        raise QueryError(f"unknown filter(s) {named}; known filters: {', '.join(FILTER_KEYS)}")
    out: dict[str, Any] = {}
    for key, value in filters.items():
        if value is None:
            continue
        if key in ("date_from", "date_to"):
            out[key] = _to_epoch(value, key)
        else:
            values = value if isinstance(value, (list, tuple, set, frozenset)) else [value]
            if not values:
                raise QueryError(f"filter {key}: empty list matches nothing")
            if not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in values):
                raise QueryError(f"filter {key}: {_short(value)} is not a name or id, or a list of them")
            out[key] = {str(v).lstrip("#") if key == "channel" else str(v) for v in values}
    if "date_from" in out and "date_to" in out and out["date_from"] > out["date_to"]:
        raise QueryError("filter date_from is after date_to")
    return out


def record_matches(rec: Mapping[str, Any], access: Access, filters: Mapping[str, Any]) -> bool:
    if not access.permits(list(rec.get("acl") or [])):
        return False
    for key in ("source", "channel", "origin_kind", "document_id"):
        if key in filters:
            v = rec.get(key)
            if v is None or str(v).lstrip("#") not in filters[key]:
                return False
    if "date_from" in filters or "date_to" in filters:
        ts = rec.get("ts")
        if ts is None:
            return False
        if "date_from" in filters and ts < filters["date_from"]:
            return False
        if "date_to" in filters and ts > filters["date_to"]:
            return False
    return True


@dataclass
class Ranking:
    """One query's fused ranking, the candidate lists it fused ({chunk id: score}) and the query's vector."""
    fused: list[tuple[int, float]]
    dense: dict[int, float]
    bm25: dict[int, float]
    query_vector: np.ndarray | None
    timings: dict[str, float]


class HybridSearcher:
    """Searches one immutable snapshot. `hydrate(ids)` returns {id: ChunkRecord} for the final hits (from the
    database in the app; from memory in benchmarks)."""

    def __init__(self, snapshot: Snapshot, embedder, hydrate: Callable[[list[int]], Mapping[int, ChunkRecord]],
                 fusion: FusionConfig = FusionConfig(), reranker=None, rerank_depth: int = 20,
                 max_query_tokens: int | None = None):
        self.snapshot = snapshot
        self.embedder = embedder
        self.hydrate = hydrate
        self.fusion = fusion
        self.reranker = reranker
        self.rerank_depth = rerank_depth
        self.max_query_tokens = max_query_tokens or getattr(embedder, "max_seq_length", 256) - 2
        self.last_timings: dict[str, float] = {}

    # --- query hygiene -----------------------------------------------------------------------------
    def clean_query(self, query: Any) -> str:
        if not isinstance(query, str):
            raise QueryError(f"query must be text, got {type(query).__name__}")
        q = " ".join(query.split())
        if not q:
            raise QueryError("query is empty: type a question or some keywords")
        return q[:MAX_QUERY_CHARS]  # very long queries are truncated, not rejected

    # --- candidate lists ---------------------------------------------------------------------------
    def _visible(self, ids: Iterable[int], access: Access, filters: Mapping[str, Any]) -> list[int]:
        recs = self.snapshot.records
        return [i for i in ids if i in recs and record_matches(recs[i], access, filters)]

    def dense_candidates(self, qvec: np.ndarray, depth: int, access: Access, filters) -> list[tuple[int, float]]:
        n = len(self.snapshot.vectors)
        fetch = 2 * depth  # over-fetch once: ACL/filter losses would otherwise cost a second full scan
        while True:
            scores, ids = self.snapshot.vectors.search(qvec[None, :], min(fetch, n))
            pairs = [(int(i), float(s)) for i, s in zip(ids[0], scores[0]) if i >= 0]
            visible = set(self._visible((i for i, _ in pairs), access, filters))
            out = [(i, s) for i, s in pairs if i in visible]
            if len(out) >= depth or fetch >= n:
                return out[:depth]
            fetch = min(n, fetch * 8)

    def bm25_candidates(self, query: str, depth: int, access: Access, filters) -> list[tuple[int, float]]:
        n = len(self.snapshot.bm25)
        fetch = 2 * depth
        while True:
            pairs = self.snapshot.bm25.search(query, min(fetch, n)) if n else []
            visible = set(self._visible((i for i, _ in pairs), access, filters))
            out = [(i, s) for i, s in pairs if i in visible]
            if len(out) >= depth or fetch >= n or len(pairs) < min(fetch, n):
                return out[:depth]
            fetch = min(n, fetch * 8)

    def fuse(self, dense: list[tuple[int, float]], bm25: list[tuple[int, float]]) -> list[tuple[int, float]]:
        f = self.fusion
        if f.method == "dense":
            return dense
        if f.method == "bm25":
            return bm25
        score: dict[int, float] = {}
        for weight, ranked in ((f.dense_weight, dense), (f.bm25_weight, bm25)):
            for rank, (i, _) in enumerate(ranked):
                score[i] = score.get(i, 0.0) + weight / (f.rrf_k + rank + 1)
        return sorted(score.items(), key=lambda x: -x[1])

    def embed_query(self, query: str) -> np.ndarray:
        """The query's vector: cleaned, cut to the embedder's token budget, encoded (L2-normalised)."""
        return self.embedder.encode([self._truncate(self.clean_query(query))])[0]

    def rank(self, query: str, *, depth: int | None = None, access: Access = PUBLIC,
             filters: Mapping[str, Any] | None = None, method: str | None = None) -> Ranking:
        """The fused ranking before hydration, with the candidate lists it fused and the query vector (None when
        the method embeds nothing). Also fills `last_timings`."""
        q = self.clean_query(query)
        flt = normalize_filters(filters)
        depth = depth or self.fusion.depth
        method = method or self.fusion.method
        t0 = time.perf_counter()
        qvec: np.ndarray | None = None
        dense: list[tuple[int, float]] = []
        bm: list[tuple[int, float]] = []
        timings: dict[str, float] = {}
        if method in ("rrf", "dense"):
            qvec = self.embedder.encode([self._truncate(q)])[0]
            t1 = time.perf_counter()
            dense = self.dense_candidates(qvec, depth, access, flt)
            timings["embed_ms"] = (t1 - t0) * 1000
        t2 = time.perf_counter()
        if method in ("rrf", "bm25"):
            bm = self.bm25_candidates(q, depth, access, flt)
        t3 = time.perf_counter()
        if method == "dense":
            fused = dense
        elif method == "bm25":
            fused = bm
        else:
            fused = self.fuse(dense, bm)
        timings.update({"bm25_ms": (t3 - t2) * 1000, "search_ms": (time.perf_counter() - t0) * 1000})
        self.last_timings.update(timings)
        return Ranking(fused=fused, dense=dict(dense), bm25=dict(bm), query_vector=qvec, timings=timings)

    def ranked_ids(self, query: str, *, depth: int | None = None, access: Access = PUBLIC,
                   filters: Mapping[str, Any] | None = None, method: str | None = None) -> list[tuple[int, float]]:
        """The fused ranking alone (what evaluation scores)."""
        return self.rank(query, depth=depth, access=access, filters=filters, method=method).fused

    def _truncate(self, q: str) -> str:
        tok = getattr(self.embedder, "tokenizer", None)
        if tok is None:
            return q
        # truncation=False flips the shared tokenizer's state: never while the embedder tokenises a batch
        with getattr(self.embedder, "tokenizer_lock", None) or contextlib.nullcontext():
            ids = tok(q, add_special_tokens=False, truncation=False)["input_ids"]
        if len(ids) <= self.max_query_tokens:
            return q
        return tok.decode(ids[:self.max_query_tokens])

    def search(self, query: str, k: int = 5, access: Access = PUBLIC,
               filters: Mapping[str, Any] | None = None, *, dense_scores: bool = False) -> list[SearchHit]:
        """The top `k` hits the asker may see. With `dense_scores`, every hit carries its dense cosine (a hit only
        BM25 found gets it from the query vector the ranking already made; callers threshold on it)."""
        if not isinstance(k, int) or k < 1:
            raise QueryError(f"k must be a positive integer, got {k!r}")
        ranking = self.rank(query, access=access, filters=filters, depth=max(self.fusion.depth, k))
        dense, bm = ranking.dense, ranking.bm25
        fused = ranking.fused
        want = max(k, self.rerank_depth) if self.reranker else k
        hits = []
        start = 0
        # The first `want` of the ranking; a candidate the hydration drops is replaced by the next one, so a
        # document deleted since the snapshot was published leaves no gap in the results until the index catches up.
        while len(hits) < want and start < len(fused):
            pool = fused[start:start + want - len(hits)]
            start += len(pool)
            records = self.hydrate([i for i, _ in pool])
            for i, s in pool:
                rec = records.get(i)
                if rec is None:
                    continue  # deleted between publish and now
                if not access.is_admin and not access.can_see(rec.acl):
                    continue  # defence in depth: the database's ACL is the truth
                scores = {"fused": s}
                if i in dense:
                    scores["dense"] = dense[i]
                if i in bm:
                    scores["bm25"] = bm[i]
                meta = dict(rec.meta)
                meta.setdefault("title", rec.title)
                meta.setdefault("origin_kind", rec.origin_kind)
                meta.setdefault("document_id", rec.document_id)
                hits.append(SearchHit(chunk_id=i, score=float(s), text=rec.text, title=rec.title, meta=meta,
                                      scores=scores))
        if dense_scores:
            self._fill_dense_scores(ranking, query, hits)
        if self.reranker is not None and hits:
            t = time.perf_counter()
            rr = self.reranker.predict([(self.clean_query(query), h.text) for h in hits], show_progress_bar=False)
            for h, s in zip(hits, rr):
                h.scores["rerank"] = float(s)
                h.score = float(s)
            hits.sort(key=lambda h: -h.score)
            self.last_timings["rerank_ms"] = (time.perf_counter() - t) * 1000
        return hits[:k]

    def _fill_dense_scores(self, ranking: Ranking, query: str, hits: list[SearchHit]) -> None:
        missing = [h for h in hits if "dense" not in h.scores]
        if not missing:
            return
        q = ranking.query_vector if ranking.query_vector is not None else self.embed_query(query)
        for h in missing:
            v = self.snapshot.vectors.vector(h.chunk_id)
            if v is not None:
                h.scores["dense"] = float(np.dot(q, v))


def load_reranker(name_or_path: str):
    """A sentence-transformers CrossEncoder, loaded offline."""
    from sentence_transformers import CrossEncoder
    return CrossEncoder(name_or_path, device="cpu")
