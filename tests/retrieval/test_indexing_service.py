"""sync_index / rebuild_index / get_searcher against a real database (SQLite and PostgreSQL) and real MiniLM."""
from __future__ import annotations

import shutil
import threading
import time

import pytest
from sqlalchemy import select

from app.db import session_scope
from app.db.models import Chunk, Document, SlackChannel, SlackMessage, Source
from retrieval.types import PUBLIC, Access


@pytest.fixture
def isettings(settings, monkeypatch):
    """Indexing on the torch backend (no ONNX export per test); fresh process-wide searchers."""
    from app.services import search
    from app.settings import load_settings
    monkeypatch.setenv("TEAMLORE_EMBEDDING_BACKEND", "torch")
    s = load_settings()
    search.reset_searchers()
    yield s
    search.reset_searchers()


def _seed(url: str) -> None:
    with session_scope(url) as s:
        slack = Source(kind="slack_export", name="acme-slack")
        docs = Source(kind="docs", name="handbook")
        s.add_all([slack, docs])
        s.flush()
        s.add_all([
            SlackChannel(source_id=slack.id, channel_id="C1", name="general", kind="public", members=[]),
            SlackChannel(source_id=slack.id, channel_id="C2", name="exec", kind="private",
                         members=["U_ALICE", "U_BOB"]),
            SlackChannel(source_id=slack.id, channel_id="D1", name="dm-alice-carol", kind="dm",
                         members=["U_ALICE", "U_CAROL"]),
        ])

        def msg(ch, ts, text, thread=None, user="U_ALICE", **kw):
            return SlackMessage(source_id=slack.id, channel_id=ch, ts=ts, thread_ts=thread, user_id=user,
                                user_name=user.lower(), text=text, raw_text=text, content_hash=f"h{ch}{ts}",
                                permalink=f"https://acme.slack.com/archives/{ch}/p{ts.replace('.', '')}", **kw)
        s.add_all([
            msg("C1", "1700000000.000100", "How do I rotate my VPN password?", thread="1700000000.000100"),
            msg("C1", "1700000050.000200", "Use the security portal, every 90 days.", thread="1700000000.000100",
                user="U_BOB"),
            msg("C1", "1700000100.000300", "Deploys run from the release branch after CI passes."),
            msg("C1", "1700000200.000400", "lunch anyone?", filtered="chitchat"),
            msg("C1", "1700000300.000500", "this was a mistake", deleted=True),
            msg("C2", "1700000400.000600", "The Initech acquisition closes in March. Confidential."),
            msg("D1", "1700000500.000700", "Carol, the quarterly numbers look terrible.", user="U_ALICE"),
        ])
        s.add_all([
            Document(source_id=docs.id, path="leave.md", title="Leave policy", mime="text/markdown",
                     content_hash="d1", sections=[
                         {"heading_path": ["Leave", "Annual leave"], "page": None,
                          "text": "Employees get 26 days of annual leave per year."},
                         {"heading_path": ["Leave", "Sick leave"], "page": 2,
                          "text": "Sick leave needs a doctor's note after three days."}]),
            Document(source_id=docs.id, path="salaries.pdf", title="Salary bands", mime="application/pdf",
                     content_hash="d2", visibility="group:hr",
                     sections=[{"heading_path": [], "page": 1, "text": "Salary bands for engineers in 2024."}]),
        ])


def _ids(hits):
    return [h.chunk_id for h in hits]


def test_sync_permissions_and_citations(isettings):
    from app.services.indexing import index_status, sync_index
    from app.services.search import get_searcher
    _seed(isettings.db_url)
    report = sync_index(isettings)
    assert report.full_rebuild and report.added == report.chunks == 7 and report.removed == 0
    st = index_status(isettings)
    assert st["version"] == report.version and st["chunks"] == 7 and st["kind"] == "flat" and st["status"] == "ok"

    searcher = get_searcher(isettings)
    hit = searcher.search("how to rotate the VPN password", k=1)[0]
    assert "security portal" in hit.text and "How do I rotate" in hit.text  # the thread is one unit
    m = hit.meta
    assert m["channel"] == "general" and m["source"] == "acme-slack" and m["origin_kind"] == "slack_thread"
    assert m["permalink"].startswith("https://acme.slack.com/archives/C1/") and m["author"] == "u_alice"
    assert m["title"] == "#general" and m["ts"] == pytest.approx(1700000000.0001)
    doc_hit = searcher.search("sick leave doctor's note", k=1)[0]
    assert doc_hit.meta["heading_path"] == ["Leave", "Sick leave"] and doc_hit.meta["page"] == 2
    assert doc_hit.meta["document_id"] and doc_hit.title == "Leave policy"
    assert all(h.scores.get("dense") is not None for h in searcher.search("VPN", k=5))

    everything = "Initech acquisition quarterly numbers salary bands VPN lunch mistake"
    public = {h.text for h in searcher.search(everything, k=10, access=PUBLIC)}
    assert not any("Initech" in t or "quarterly" in t or "Salary" in t or "lunch" in t or "mistake" in t
                   for t in public)
    bob = Access(slack_user_ids=frozenset({"U_BOB"}))
    bob_texts = " ".join(h.text for h in searcher.search(everything, k=10, access=bob))
    assert "Initech" in bob_texts and "quarterly" not in bob_texts and "Salary" not in bob_texts
    carol = Access(slack_user_ids=frozenset({"U_CAROL"}), groups=frozenset({"hr"}))
    carol_texts = " ".join(h.text for h in searcher.search(everything, k=10, access=carol))
    assert "quarterly" in carol_texts and "Salary" in carol_texts and "Initech" not in carol_texts
    # channel answer for Alice + Carol: the DM is visible to both, the exec channel is not
    both = Access(all_of=(Access(slack_user_ids=frozenset({"U_ALICE"})), carol))
    both_texts = " ".join(h.text for h in searcher.search(everything, k=10, access=both))
    assert "quarterly" in both_texts and "Initech" not in both_texts and "Salary" not in both_texts
    hits = searcher.search("VPN", k=5, filters={"channel": "general", "date_from": "2023-11-14"})
    assert hits and all(h.meta["channel"] == "general" for h in hits)


def test_incremental_sync_adds_updates_deletes(isettings):
    from app.services.indexing import sync_index
    from app.services.search import get_searcher
    _seed(isettings.db_url)
    first = sync_index(isettings)
    searcher = get_searcher(isettings)
    v1 = searcher.version
    again = sync_index(isettings)
    assert not again.full_rebuild and again.added == again.removed == again.embedded == 0
    assert again.unchanged == first.chunks
    with session_scope(isettings.db_url) as s:
        deploy = s.scalars(select(SlackMessage).where(SlackMessage.ts == "1700000100.000300")).one()
        deploy.text = "Deploys now run from the main branch with a manual approval step."
        exec_msg = s.scalars(select(SlackMessage).where(SlackMessage.channel_id == "C2")).one()
        exec_msg.deleted = True
        src = s.scalars(select(Source).where(Source.name == "handbook")).one()
        s.add(Document(source_id=src.id, path="travel.md", title="Travel", mime="text/markdown", content_hash="d3",
                       sections=[{"heading_path": ["Travel"], "text": "Book trains through the travel desk."}]))
    rep = sync_index(isettings)
    assert not rep.full_rebuild and rep.added == 2 and rep.removed == 2 and rep.embedded == 2
    assert rep.chunks == first.chunks
    assert searcher.version > v1  # picked up the newer published version
    admin = Access(is_admin=True)
    assert "manual approval" in searcher.search("how do deploys work", k=1, access=admin)[0].text
    assert not any("Initech" in h.text for h in searcher.search("Initech acquisition", k=10, access=admin))
    assert "travel desk" in searcher.search("book a train", k=1)[0].text
    with session_scope(isettings.db_url) as s:
        assert s.query(Chunk).count() == rep.chunks


def test_a_document_deleted_while_the_sync_reads_the_corpus_is_left_out(isettings, monkeypatch):
    """The sync reads the corpus, then writes the chunks table: a document deleted in between (a DELETE request
    does not wait for the index) would get chunks that point at nothing. The sync leaves it out and goes on."""
    from app.services import indexing
    from app.services.ingestion import delete_document
    _seed(isettings.db_url)
    with session_scope(isettings.db_url) as s:
        leave = s.scalars(select(Document.id).where(Document.path == "leave.md")).one()
    read = indexing.corpus_chunks

    def read_then_delete(*args):
        out = read(*args)
        if any(c.document_id == leave for c in out):
            delete_document(isettings, leave)
        return out
    monkeypatch.setattr(indexing, "corpus_chunks", read_then_delete)
    rep = indexing.sync_index(isettings)
    with session_scope(isettings.db_url) as s:
        chunks = s.scalars(select(Chunk)).all()
        assert chunks and all(c.document_id != leave for c in chunks)
        assert rep.chunks == len(chunks)
    from app.services.search import get_searcher
    admin = Access(is_admin=True)
    assert not any("annual leave" in h.text for h in get_searcher(isettings).search("annual leave days", k=10,
                                                                                    access=admin))


def test_model_change_rebuilds_and_corrupt_index_recovers(isettings, tmp_path, monkeypatch, caplog):
    from app.services import indexing, search
    from app.settings import load_settings
    from retrieval.embedder import resolve_model_path
    _seed(isettings.db_url)
    first = indexing.sync_index(isettings)
    # "another model": the same architecture with one weight tensor changed -> a different vector space
    other = tmp_path / "other-model"
    shutil.copytree(resolve_model_path("all-MiniLM-L6-v2"), other)
    from safetensors.torch import load_file, save_file
    w = load_file(str(other / "model.safetensors"))
    key = next(k for k in w if k.endswith("pooler.dense.bias") or k.endswith("LayerNorm.bias"))
    w[key] = w[key] + 0.01
    save_file(w, str(other / "model.safetensors"))
    monkeypatch.setenv("TEAMLORE_EMBEDDING_MODEL", str(other))
    s2 = load_settings()
    assert "stale" in indexing.index_status(s2)["status"]
    rep = indexing.sync_index(s2)
    assert rep.full_rebuild and "embedding model changed" in rep.reason and rep.embedded == first.chunks
    assert indexing.index_status(s2)["model_version"] != first.embedding_model

    # corrupt the published vectors: the searcher rebuilds from the corpus on start and says so
    current = s2.index_dir / "current"
    (current.resolve() / "vectors.faiss").write_bytes(b"\x00" * 64)
    search.reset_searchers()
    searcher = search.get_searcher(s2)
    assert "VPN" in searcher.search("VPN password", k=1)[0].text
    assert searcher.notice and "rebuilt" in searcher.notice
    # missing index entirely: same
    shutil.rmtree(s2.index_dir)
    search.reset_searchers()
    assert search.get_searcher(s2).search("annual leave days", k=1)[0].meta["heading_path"][0] == "Leave"


def test_atomic_swap_under_concurrent_reads(isettings):
    from app.services.indexing import rebuild_index, sync_index
    from app.services.search import get_searcher
    _seed(isettings.db_url)
    sync_index(isettings)
    searcher = get_searcher(isettings)
    searcher.search("warm up", k=1)
    stop = threading.Event()
    errors: list[BaseException] = []
    seen_versions: set[int] = set()

    def reader():
        while not stop.is_set():
            try:
                hits = searcher.search("rotate VPN password", k=3)
                assert hits and "VPN" in hits[0].text
                seen_versions.add(searcher.version)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
                return
    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for _ in range(2):
            rebuild_index(isettings)
            time.sleep(0.05)
        # a crash in the middle of a publish leaves the previous index serving
        from retrieval import faiss_index
        orig = faiss_index.VectorIndex.save

        def boom(self, path):
            raise OSError("disk full (simulated)")
        faiss_index.VectorIndex.save = boom
        try:
            with pytest.raises(OSError):
                rebuild_index(isettings)
        finally:
            faiss_index.VectorIndex.save = orig
        time.sleep(0.1)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors[0]
    assert len(seen_versions) >= 2
    assert searcher.search("rotate VPN password", k=1)[0].text.startswith("u_alice: How do I rotate")
