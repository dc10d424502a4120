"""Indexing service: corpus tables -> chunks table -> published FAISS + BM25 snapshot (sync only).

sync_index   incremental: rechunks the corpus, keeps unchanged chunks (content hash), embeds only new ones, removes
             vectors of deleted/changed chunks, publishes a new snapshot atomically.
rebuild_index the same, but re-embeds everything (model change, corrupt index, or on request).
index_status  what is published, and whether the embedding model changed since.
Searching is app/services/search.py; the embedding model is app/services/embeddings.py.
"""
from __future__ import annotations

import fcntl
import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

import numpy as np
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from app.db import session_scope
from app.db.models import Chunk, Document, SlackChannel, SlackMessage, Source
from app.settings import Settings
from retrieval.chunking import (ChunkLimitExceeded, Chunker, ChunkingConfig, TokenCounter, content_hash,
                                embedding_text)
from app.services.embeddings import embedding_backend, embedding_model_path, get_embedder_for
from retrieval.faiss_index import IndexCorrupt, IndexMismatch, IndexMissing, IndexStore, Manifest, Snapshot, VectorIndex
from retrieval.types import EVERYONE, ChunkRecord, acl_for_stored_visibility

log = logging.getLogger(__name__)

Progress = Callable[[str, float], None]
APPLY_TRIES = 5  # how often a sync applies its chunks when a document deletion races it (SQLite)


@dataclass
class IndexReport:
    version: int
    chunks: int
    added: int
    removed: int
    unchanged: int
    embedded: int
    full_rebuild: bool
    reason: str
    kind: str
    embedding_model: str
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)
    pending: int = 0  # chunks left for the next pass (bounded batches)

    def __str__(self) -> str:
        what = f"full rebuild ({self.reason})" if self.full_rebuild else "incremental sync"
        return (f"index v{self.version}: {self.chunks} chunks ({self.kind}), {what}: +{self.added} -{self.removed} "
                f"={self.unchanged}, {self.embedded} embedded in {self.seconds:.1f}s with {self.embedding_model}")


# --- corpus -> chunk records ----------------------------------------------------------------------------------

def _acl_for_channel(channel: SlackChannel | None) -> list[str]:
    if channel is None:
        return []  # unknown channel: nobody but admins, never everyone
    if channel.kind == "public":
        return [EVERYONE]
    return sorted({str(m) for m in (channel.members or [])})


def _acl_for_document(visibility: str | None) -> list[str]:
    acl = acl_for_stored_visibility(visibility)
    if not acl:
        log.warning("document visibility %r is not understood; restricting it to admins", visibility)
    return acl


def _epoch(dt: datetime | None) -> float | None:
    if dt is None:
        return None
    return (dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)).timestamp()


def corpus_chunks(settings: Settings, chunker: Chunker) -> list[ChunkRecord]:
    """Every chunk the corpus should have now, in a stable order."""
    out: list[ChunkRecord] = []
    with session_scope(settings.db_url) as s:
        sources = {src.id: src for src in s.scalars(select(Source))}
        for doc in s.scalars(select(Document).where(Document.quarantine_reason.is_(None)).order_by(Document.id)):
            src = sources.get(doc.source_id)
            meta = {"source": src.name if src else None, "source_kind": src.kind if src else None,
                    "path": doc.path, "mime": doc.mime, "ts": _epoch(doc.updated_at or doc.created_at)}
            try:
                chunks = chunker.chunk_document(title=doc.title, sections=doc.sections or [], origin_key=str(doc.id),
                                                acl=_acl_for_document(doc.visibility), document_id=doc.id,
                                                meta=meta, max_chunks=settings.max_document_chunks)
            except Exception as exc:  # noqa: BLE001 - one bad document must never poison the index for everyone
                # Quarantined with its reason (listed to its owner and admins), left out of this and every later
                # sync until a new version of it is uploaded.
                doc.quarantine_reason = (str(exc) if isinstance(exc, ChunkLimitExceeded)
                                         else f"indexing failed: {type(exc).__name__}: {str(exc)[:300]}")
                log.warning("document %s quarantined: %s", doc.id, doc.quarantine_reason)
                continue
            out.extend(chunks)
        channels = {(c.source_id, c.channel_id): c for c in s.scalars(select(SlackChannel))}
        threads: dict[tuple[int, str, str], list[SlackMessage]] = defaultdict(list)
        q = (select(SlackMessage).where(SlackMessage.deleted.is_(False), SlackMessage.filtered.is_(None))
             .order_by(SlackMessage.source_id, SlackMessage.channel_id, SlackMessage.ts))
        for m in s.scalars(q):
            threads[(m.source_id, m.channel_id, m.thread_ts or m.ts)].append(m)
        for (source_id, channel_id, thread_ts), msgs in sorted(threads.items()):
            msgs.sort(key=lambda m: float(m.ts))
            ch = channels.get((source_id, channel_id))
            src = sources.get(source_id)
            name = ch.name if ch else channel_id
            first_ts = float(msgs[0].ts) if msgs else None
            meta = {"source": src.name if src else None, "source_kind": src.kind if src else None,
                    "channel_id": channel_id, "channel_kind": ch.kind if ch else None,
                    "date": datetime.fromtimestamp(first_ts, timezone.utc).date().isoformat() if first_ts else None}
            chunks = chunker.chunk_thread(
                channel=name, origin_key=f"{source_id}:{channel_id}:{thread_ts}", acl=_acl_for_channel(ch),
                meta=meta, messages=[{"ts": m.ts, "thread_ts": m.thread_ts, "user_id": m.user_id,
                                      "user_name": m.user_name, "text": m.text, "permalink": m.permalink}
                                     for m in msgs])
            for c in chunks:  # the chunker sets slack_ts (citation id) and ts (epoch, for filters)
                if c.meta.get("ts") is None:
                    c.meta["ts"] = first_ts
            out.extend(chunks)
    return out


def _record(chunk: Chunk | ChunkRecord) -> dict[str, Any]:
    """What the snapshot keeps per id for permission and metadata filtering without a database round trip."""
    meta = chunk.meta or {}
    return {"acl": list(chunk.acl or []), "source": meta.get("source"), "channel": meta.get("channel"),
            "ts": meta.get("ts"), "origin_kind": chunk.origin_kind, "document_id": chunk.document_id,
            "hash": getattr(chunk, "content_hash", None)}


def _chunk_text(row: Chunk) -> str:
    return embedding_text(ChunkRecord(text=row.text, title=row.title, origin_kind=row.origin_kind,
                                      origin_key=row.origin_key, meta=row.meta or {}))


# --- sync / rebuild -------------------------------------------------------------------------------------------

@contextmanager
def _sync_lock(settings: Settings) -> Iterator[None]:
    """One writer per index directory (across processes); readers never take it."""
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.index_dir / ".sync.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _note(progress: Progress | None, stage: str, frac: float) -> None:
    if progress:
        progress(stage, frac)


def _apply_chunks(settings: Settings, wanted: list[ChunkRecord]) -> tuple[list[int], list[int], int]:
    """Make the chunks table equal `wanted`, keeping rows (and ids) of unchanged chunks.
    Returns (added ids, removed ids, unchanged count)."""
    by_origin: dict[tuple[str, str], list[ChunkRecord]] = defaultdict(list)
    for c in wanted:
        by_origin[(c.origin_kind, c.origin_key)].append(c)
    added: list[int] = []
    removed: list[int] = []
    unchanged = 0
    with session_scope(settings.db_url) as s:
        existing: dict[tuple[str, str], list[tuple[int, str]]] = defaultdict(list)
        for cid, kind, key, h in s.execute(select(Chunk.id, Chunk.origin_kind, Chunk.origin_key, Chunk.content_hash)):
            existing[(kind, key)].append((cid, h))
        new_rows: list[Chunk] = []
        for origin in set(existing) | set(by_origin):
            old = existing.get(origin, [])
            free: dict[str, list[int]] = defaultdict(list)
            for cid, h in old:
                free[h].append(cid)
            for c in by_origin.get(origin, []):
                h = content_hash(c)
                if free.get(h):
                    free[h].pop()
                    unchanged += 1
                    continue
                new_rows.append(Chunk(origin_kind=c.origin_kind, origin_key=c.origin_key, document_id=c.document_id,
                                      text=c.text, title=c.title[:500], meta=c.meta, acl=c.acl, content_hash=h))
            removed.extend(cid for ids in free.values() for cid in ids)
        # A document deleted since the corpus was read (a DELETE request does not wait for the index) gets no new
        # chunks; the ones that do are locked against deletion until this commits (PostgreSQL: FOR KEY SHARE).
        new_docs = sorted({r.document_id for r in new_rows if r.document_id is not None})
        alive: set[int] = set()
        for i in range(0, len(new_docs), 500):
            alive.update(s.scalars(select(Document.id).where(Document.id.in_(new_docs[i:i + 500]))
                                   .with_for_update(read=True, key_share=True)))
        new_rows = [r for r in new_rows if r.document_id is None or r.document_id in alive]
        for i in range(0, len(removed), 500):
            s.execute(delete(Chunk).where(Chunk.id.in_(removed[i:i + 500])))
        s.add_all(new_rows)
        s.flush()
        added = [r.id for r in new_rows]
    return added, removed, unchanged


def _load_previous(store: IndexStore, model_version: str) -> tuple[Snapshot | None, str]:
    try:
        return store.load(expected_model_version=model_version), ""
    except IndexMissing:
        return None, "no index yet"
    except IndexMismatch as exc:
        return None, f"embedding model changed: {exc}"
    except IndexCorrupt as exc:
        log.warning("published index is unreadable, rebuilding from the corpus: %s", exc)
        return None, f"index corrupt: {exc}"


def _sync(settings: Settings, progress: Progress | None, force_full: bool, reason: str = "",
          max_embed: int | None = None) -> IndexReport:
    """One pass under the sync lock. With `max_embed`, at most that many chunks are embedded (newest first); the
    rest are published as pending (searchable by keyword, no vector yet) and picked up by the next pass."""
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    settings.ensure_dirs()
    emb = get_embedder_for(settings)
    chunker = Chunker(TokenCounter(emb.tokenizer, emb.max_seq_length, lock=emb.tokenizer_lock),
                      ChunkingConfig(min(settings.chunk_tokens, emb.max_seq_length - 2),
                                     min(settings.chunk_overlap, settings.chunk_tokens // 2)))
    store = IndexStore(settings.index_dir)
    with _sync_lock(settings):
        _note(progress, "chunking", 0.0)
        t = time.perf_counter()
        wanted = corpus_chunks(settings, chunker)
        for attempt in range(APPLY_TRIES):
            try:
                added, removed, unchanged = _apply_chunks(settings, wanted)
                break
            except IntegrityError:
                # On SQLite, a document deleted in the instant between _apply_chunks' check and its insert: the
                # transaction rolled back; apply again.
                if attempt == APPLY_TRIES - 1:
                    raise
        timings["chunk_s"] = time.perf_counter() - t
        previous, why = (None, reason or "requested") if force_full else _load_previous(store, emb.version)
        full = previous is None
        with session_scope(settings.db_url) as s:
            rows = list(s.scalars(select(Chunk).order_by(Chunk.id)))
            s.expunge_all()
        db_ids = {r.id for r in rows}
        if full:
            vectors_index = None
            to_embed = [r for r in rows]
            to_remove: list[int] = []
        else:
            # Heal any divergence (a crash between the database commit and the publish): the DB is the truth.
            # Ids can be reused by the database (SQLite hands out max+1 again), so a vector is only kept when
            # the stored content hash matches too.
            indexed = previous.records
            to_embed = [r for r in rows if indexed.get(r.id, {}).get("hash") != r.content_hash]
            to_remove = sorted((set(indexed) - db_ids) | {r.id for r in to_embed if r.id in indexed})
            vectors_index = previous.vectors.copy()
        pending: set[int] = set()
        if max_embed is not None and len(to_embed) > max_embed:
            # newest first: a small upload's chunks are not stuck behind a big one's (their ids are higher)
            to_embed.sort(key=lambda r: r.id, reverse=True)
            pending = {r.id for r in to_embed[max_embed:]}
            to_embed = to_embed[:max_embed]
        _note(progress, "embedding", 0.1)
        t = time.perf_counter()
        texts = [_chunk_text(r) for r in to_embed]
        vecs = emb.encode(texts, progress=(lambda d, n: _note(progress, "embedding", 0.1 + 0.8 * d / max(n, 1)))
                          if progress else None)
        timings["embed_s"] = time.perf_counter() - t
        t = time.perf_counter()
        ids = np.asarray([r.id for r in to_embed], dtype=np.int64)
        threshold = settings.ivf_threshold
        want_kind = "ivf" if len(db_ids) >= threshold else "flat"
        if vectors_index is not None and vectors_index.kind != want_kind:
            # The size crossed the threshold: re-index the vectors we have (no re-embedding needed).
            old_ids, old_vecs = vectors_index.all_vectors()
            keep = ~np.isin(old_ids, to_remove)
            ids = np.concatenate([old_ids[keep], ids])
            vecs = np.concatenate([old_vecs[keep], vecs])
            vectors_index, to_remove = None, []
        if vectors_index is None:
            vectors_index = VectorIndex.build(ids, vecs, ivf_threshold=threshold)
        else:
            vectors_index.remove(to_remove)
            vectors_index.add(ids, vecs)
        # Chunks still pending (no vector yet) stay out of this snapshot entirely; the next pass embeds them.
        published = [r for r in rows if r.id not in pending]
        records = {r.id: _record(r) for r in published}
        manifest = Manifest(version=0, embedding_model=settings.embedding_model, model_version=emb.version,
                            dim=emb.dim, count=len(vectors_index), kind=vectors_index.kind,
                            params=vectors_index.params,
                            last_full_rebuild=time.time() if full else previous.manifest.last_full_rebuild,
                            stats={"chunk_tokens": chunker.config.target_tokens,
                                   "overlap_tokens": chunker.config.overlap_tokens,
                                   "backend": emb.backend, "rebuild_reason": why if full else None})
        _note(progress, "publishing", 0.9)
        path = store.publish(manifest=manifest, vectors=vectors_index, records=records,
                             bm25_ids=[r.id for r in published], bm25_texts=[_chunk_text(r) for r in published])
        timings["index_s"] = time.perf_counter() - t
    _note(progress, "done", 1.0)
    m = store.read_manifest(path)
    return IndexReport(version=m.version, chunks=m.count, added=len(added), removed=len(removed),
                       unchanged=unchanged, embedded=len(to_embed), pending=len(pending), full_rebuild=full,
                       reason=why if full else "",
                       kind=m.kind, embedding_model=settings.embedding_model, seconds=time.perf_counter() - t0,
                       timings={k: round(v, 3) for k, v in timings.items()})


def _in_batches(settings: Settings, progress: Progress | None, force_full: bool, reason: str = "") -> IndexReport:
    """Index work in bounded passes of at most `index_batch_chunks` embeddings, each publishing a snapshot and
    releasing the sync lock, so one big upload never holds the index for everyone else's."""
    batch = settings.index_batch_chunks
    first = report = _sync(settings, progress, force_full=force_full, reason=reason, max_embed=batch)
    embedded, passes = report.embedded, 1
    while report.pending:
        report = _sync(settings, progress, force_full=False, max_embed=batch)
        embedded, passes = embedded + report.embedded, passes + 1
    report.embedded, report.added, report.removed = embedded, first.added, first.removed
    report.full_rebuild, report.reason = first.full_rebuild, first.reason
    report.timings["passes"] = passes
    return report


def sync_index(settings: Settings, progress: Progress | None = None) -> IndexReport:
    return _in_batches(settings, progress, force_full=False)


def rebuild_index(settings: Settings, progress: Progress | None = None, reason: str = "requested") -> IndexReport:
    return _in_batches(settings, progress, force_full=True, reason=reason)


def index_status(settings: Settings) -> dict[str, Any]:
    store = IndexStore(settings.index_dir)
    try:
        m = store.read_manifest()
    except (IndexMissing, IndexCorrupt) as exc:
        return {"version": None, "chunks": 0, "embedding_model": settings.embedding_model, "kind": None,
                "last_rebuild": None, "status": "missing" if isinstance(exc, IndexMissing) else "corrupt",
                "detail": str(exc)}
    expected = None
    try:  # the vector-space identity without loading the model: status stays cheap
        from retrieval.embedder import model_fingerprint, resolve_model_path
        expected = f"{model_fingerprint(resolve_model_path(embedding_model_path(settings)))}-{embedding_backend(settings)}"
    except Exception as exc:  # noqa: BLE001 - status must answer even if the model is missing
        log.warning("cannot fingerprint the embedding model for status: %s", exc)
    stale = expected is not None and expected != m.model_version
    return {"version": m.version, "chunks": m.count, "embedding_model": m.embedding_model,
            "model_version": m.model_version, "kind": m.kind, "params": m.params,
            "last_rebuild": _iso(m.last_full_rebuild), "published_at": _iso(m.created_at),
            "status": "stale: embedding model changed, run `teamlore index rebuild`" if stale else "ok",
            "stats": m.stats}


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).isoformat() if ts else None
