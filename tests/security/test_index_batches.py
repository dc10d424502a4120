"""Index work in bounded passes (issue #15, attack 5's "every other upload waits behind the index lock"): one big
document is embedded `index_batch_chunks` at a time, each pass publishes a snapshot and releases the sync lock,
and the last pass leaves every chunk with its vector — on SQLite and PostgreSQL, with the real embedder."""
from __future__ import annotations

import fcntl

import pytest

from app.db import session_scope
from app.db.models import Chunk, Document, Source


@pytest.fixture
def isettings(settings, monkeypatch):
    from app.services import search
    from app.settings import load_settings
    monkeypatch.setenv("TEAMLORE_EMBEDDING_BACKEND", "torch")
    monkeypatch.setenv("TEAMLORE_INDEX_BATCH_CHUNKS", "7")
    s = load_settings()
    search.reset_searchers()
    yield s
    search.reset_searchers()


def test_big_document_is_indexed_in_passes_that_release_the_lock(isettings):
    from app.services.indexing import sync_index
    from retrieval.faiss_index import IndexStore
    with session_scope(isettings.db_url) as s:
        src = Source(kind="docs", name="handbook")
        s.add(src)
        s.flush()
        sections = [{"heading_path": [f"Part {i}"], "page": None,
                     "text": f"Section {i} explains locker {i} on floor {i % 5}. " * 30} for i in range(24)]
        s.add(Document(source_id=src.id, path="big.md", title="Big", mime="text/markdown", content_hash="h",
                       sections=sections))
    free_between_passes = []

    def progress(stage: str, _frac: float) -> None:
        if stage == "done":  # a pass has ended: its lock must be free for anyone else's sync
            with open(isettings.index_dir / ".sync.lock", "w") as fh:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    free_between_passes.append(True)
                    fcntl.flock(fh, fcntl.LOCK_UN)
                except BlockingIOError:
                    free_between_passes.append(False)

    report = sync_index(isettings, progress)
    with session_scope(isettings.db_url) as s:
        rows = {c.id: c.content_hash for c in s.query(Chunk)}
    assert len(rows) > 21  # more than three batches of 7
    assert report.timings["passes"] == -(-len(rows) // 7), report
    assert report.embedded == len(rows) and report.pending == 0
    assert free_between_passes and all(free_between_passes)
    snap = IndexStore(isettings.index_dir).load()
    assert len(snap.vectors) == len(rows)
    assert {cid: rec["hash"] for cid, rec in snap.records.items()} == rows  # nothing left marked pending
