from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from retrieval.bm25 import BM25Index
from retrieval.faiss_index import (IndexCorrupt, IndexMismatch, IndexMissing, IndexStore, Manifest, Snapshot,
                                   VectorIndex)
from retrieval.hybrid import FusionConfig, HybridSearcher, QueryError
from retrieval.types import PUBLIC, Access, ChunkRecord


def _unit(rng, n, d=16):
    v = rng.normal(size=(n, d)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_flat_index_incremental_add_remove():
    rng = np.random.default_rng(0)
    vecs = _unit(rng, 50)
    vi = VectorIndex.build(np.arange(100, 150), vecs)
    assert vi.kind == "flat" and len(vi) == 50
    _, ids = vi.search(vecs[3:4], 1)
    assert ids[0][0] == 103
    assert vi.remove([103, 104, 999]) == 2
    _, ids = vi.search(vecs[3:4], 5)
    assert 103 not in ids[0] and len(vi) == 48
    vi.add(np.array([7]), vecs[3:4])
    _, ids = vi.search(vecs[3:4], 1)
    assert ids[0][0] == 7
    np.testing.assert_allclose(vi.vector(7), vecs[3], atol=1e-6)
    all_ids, all_vecs = vi.all_vectors()
    assert sorted(all_ids.tolist()) == sorted([i for i in range(100, 150) if i not in (103, 104)] + [7])
    with pytest.raises(IndexMismatch):
        vi.add(np.array([1]), np.ones((1, 8), np.float32))


def test_ivf_index_recall_and_removal():
    rng = np.random.default_rng(1)
    centers = _unit(rng, 40)
    vecs = centers[rng.integers(0, 40, 4000)] + 0.15 * rng.normal(size=(4000, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(4000)
    exact = VectorIndex.build(ids, vecs, kind="flat")
    ivf = VectorIndex.build(ids, vecs, ivf_threshold=1000)
    assert ivf.kind == "ivf" and ivf.params["nlist"] >= 64
    q = vecs[:50] + 0.05 * rng.normal(size=(50, 16)).astype(np.float32)
    _, e = exact.search(q, 10)
    _, a = ivf.search(q, 10)
    recall = np.mean([len(set(x) & set(y)) / 10 for x, y in zip(e, a)])
    assert recall >= 0.9
    ivf.remove([0, 1, 2])
    _, a = ivf.search(vecs[:1], 10)
    assert 0 not in a[0]
    assert ivf.vector(5) is not None


def _snapshot_files(store: IndexStore, n=5, model_version="m1-torch"):
    rng = np.random.default_rng(2)
    ids = np.arange(1, n + 1)
    vi = VectorIndex.build(ids, _unit(rng, n))
    records = {int(i): {"acl": ["*"]} for i in ids}
    m = Manifest(version=0, embedding_model="m", model_version=model_version, dim=16, count=n, kind="flat")
    return store.publish(manifest=m, vectors=vi, records=records, bm25_ids=ids.tolist(),
                         bm25_texts=[f"text number {i}" for i in ids])


def test_store_publish_load_and_atomic_pointer(tmp_path):
    store = IndexStore(tmp_path / "index", keep_versions=2)
    with pytest.raises(IndexMissing):
        store.load()
    p1 = _snapshot_files(store)
    snap = store.load("m1-torch")
    assert snap.version == 1 and len(snap.vectors) == 5 and snap.bm25.search("number", 3)
    p2 = _snapshot_files(store, n=7)
    assert store.load().version == 2 and (tmp_path / "index" / "current").is_symlink()
    _snapshot_files(store, n=3)
    assert not p1.exists() and p2.exists()  # pruned to keep_versions
    with pytest.raises(IndexMismatch):
        store.load("other-model")
    # a leftover temp folder from a crashed publish is ignored and cleaned up
    (tmp_path / "index" / "versions" / ".tmp-crashed").mkdir()
    assert store.load().version == 3
    _snapshot_files(store)
    assert not (tmp_path / "index" / "versions" / ".tmp-crashed").exists()


def test_store_detects_corruption(tmp_path):
    store = IndexStore(tmp_path / "index")
    path = _snapshot_files(store)
    (path / "vectors.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexCorrupt):
        store.load()
    path = _snapshot_files(store)
    m = json.loads((path / "manifest.json").read_text())
    m["count"] = 99
    (path / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(IndexCorrupt):
        store.load()
    (path / "manifest.json").write_text("{not json")
    with pytest.raises(IndexCorrupt):
        store.load()


CORPUS = [
    # id, text, acl, channel, ts
    (1, "The VPN password rotation happens every 90 days via the security portal.", ["*"], "general", 1.7e9),
    (2, "Secret: the acquisition of Initech closes in March, do not share.", ["U_ALICE", "U_BOB"], "exec", 1.7e9),
    (3, "Deploys to production run from the release branch after CI passes.", ["*"], "eng", 1.6e9),
    (4, "Salary bands for 2024 are in the HR folder.", ["group:hr"], None, 1.65e9),
    (5, "Alice and Carol discuss the VPN outage in a DM.", ["U_ALICE", "U_CAROL"], "dm", 1.71e9),
]


@pytest.fixture(scope="module")
def searcher(embedder):
    ids = [c[0] for c in CORPUS]
    texts = [c[1] for c in CORPUS]
    vecs = embedder.encode(texts)
    records = {c[0]: {"acl": c[2], "channel": c[3], "ts": c[4], "source": "slack" if c[3] else "docs",
                      "origin_kind": "slack_thread" if c[3] else "document"} for c in CORPUS}
    m = Manifest(version=1, embedding_model=embedder.name, model_version=embedder.version, dim=embedder.dim,
                 count=len(ids), kind="flat")
    snap = Snapshot(Path("."), m, VectorIndex.build(np.array(ids), vecs), records, BM25Index().build(ids, texts))
    recs = {c[0]: ChunkRecord(text=c[1], title=f"t{c[0]}", origin_kind=records[c[0]]["origin_kind"],
                              origin_key=str(c[0]), acl=c[2], meta={"channel": c[3]}) for c in CORPUS}
    return HybridSearcher(snap, embedder, lambda xs: {i: recs[i] for i in xs}, FusionConfig())


def test_permissions_never_leak(searcher):
    for q in ("acquisition of Initech", "VPN outage", "salary bands"):
        hits = searcher.search(q, k=5, access=PUBLIC)
        assert {h.chunk_id for h in hits} <= {1, 3}, q
    alice = Access(slack_user_ids=frozenset({"U_ALICE"}))
    assert 2 in {h.chunk_id for h in searcher.search("acquisition of Initech", k=5, access=alice)}
    assert 4 not in {h.chunk_id for h in searcher.search("salary bands", k=5, access=alice)}
    hr = Access(groups=frozenset({"hr"}))
    assert searcher.search("salary bands", k=1, access=hr)[0].chunk_id == 4
    # a channel answer: content must be visible to every member (Alice and Bob see 2, Carol does not)
    alice_bob = Access(all_of=(alice, Access(slack_user_ids=frozenset({"U_BOB"}))))
    assert 2 in {h.chunk_id for h in searcher.search("Initech", k=5, access=alice_bob)}
    alice_carol = Access(all_of=(alice, Access(slack_user_ids=frozenset({"U_CAROL"}))))
    got = {h.chunk_id for h in searcher.search("Initech acquisition VPN outage", k=5, access=alice_carol)}
    assert 2 not in got and 5 in got
    admin = Access(is_admin=True)
    assert len(searcher.search("anything at all", k=5, access=admin)) == 5


def test_filters_and_scores(searcher):
    hits = searcher.search("VPN", k=5, access=Access(is_admin=True), filters={"channel": "#general"})
    assert [h.chunk_id for h in hits] == [1]
    assert set(hits[0].scores) >= {"fused", "dense", "bm25"}
    hits = searcher.search("VPN", k=5, access=Access(is_admin=True),
                           filters={"date_from": "2023-01-01", "date_to": "2024-01-01"})
    assert {h.chunk_id for h in hits} == {1, 2}  # Nov 2023; 3 (2020), 4 (2022), 5 (2024) are outside
    hits = searcher.search("deploys", k=5, access=PUBLIC, filters={"source": ["docs"]})
    assert hits == []


def test_bad_queries(searcher):
    for bad in ("", "   \n\t", None, 42):
        with pytest.raises(QueryError):
            searcher.search(bad)
    with pytest.raises(QueryError, match="unknown filter"):
        searcher.search("vpn", filters={"colour": "red"})
    with pytest.raises(QueryError, match="not a date"):
        searcher.search("vpn", filters={"date_from": "last tuesday"})
    # a value of the wrong shape is the client's mistake, not a filter that silently matches nothing
    for bad in ({"channel": {"name": "help"}}, {"channel": ["help", {"a": 1}]}, {"document_id": [[1]]},
                {"date_from": True}, {"source": 1.5}):
        with pytest.raises(QueryError, match="filter"):
            searcher.search("vpn", filters=bad)
    with pytest.raises(QueryError):
        searcher.search("vpn", k=0)
    long_query = "VPN password rotation " * 5000
    hits = searcher.search(long_query, k=2)
    assert hits and hits[0].chunk_id == 1
    assert searcher.search("the of and", k=3)  # stopwords only: dense still answers


def test_concurrent_reads_are_consistent(searcher):
    errors = []

    def worker():
        try:
            for _ in range(10):
                assert searcher.search("VPN password", k=1)[0].chunk_id == 1
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_a_search_embeds_the_query_once_and_every_hit_gets_its_dense_score(searcher, embedder):
    """The dense cosine every hit carries (callers threshold on it) comes from the ranking's own query vector: a
    hit only BM25 found does not cost a second embedding of the query."""
    calls = []

    class Counting:
        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def encode(self, texts, *a, **kw):
            calls.append(list(texts))
            return self.inner.encode(texts, *a, **kw)

    hs = HybridSearcher(searcher.snapshot, Counting(embedder), searcher.hydrate, FusionConfig(depth=1))
    hits = hs.search("Deploys production release branch", k=3, access=Access(is_admin=True), dense_scores=True)
    assert len(calls) == 1
    assert len(hits) >= 2 and all("dense" in h.scores for h in hits)
    assert any("bm25" in h.scores and h.scores["dense"] != 0 for h in hits)
    q = embedder.encode(["Deploys production release branch"])[0]
    for h in hits:  # the filled score is the cosine against the stored vector
        assert abs(h.scores["dense"] - float(np.dot(q, hs.snapshot.vectors.vector(h.chunk_id)))) < 1e-4
    calls.clear()
    bm25_only = HybridSearcher(searcher.snapshot, Counting(embedder), searcher.hydrate, FusionConfig(method="bm25"))
    assert all("dense" in h.scores for h in bm25_only.search("VPN", k=3, access=Access(is_admin=True),
                                                             dense_scores=True))
    assert len(calls) == 1  # nothing embedded it for the ranking: embedded once, for the scores


def test_the_listing_filter_is_the_visibility_rule():
    """Document listings filter on visibilities_for(access) in SQL; it must agree with what search applies to the
    document's chunks (access.permits of the visibility's ACL) for every kind of asker."""
    from retrieval.types import acl_for_stored_visibility, visibilities_for
    askers = [PUBLIC, Access(is_admin=True), Access(groups=frozenset({"hr"})),
              Access(slack_user_ids=frozenset({"U1"}), groups=frozenset({"hr", "eng"})),
              Access(all_of=(Access(groups=frozenset({"hr", "eng"})), Access(groups=frozenset({"eng"}))))]
    for access in askers:
        seen = visibilities_for(access)
        for v in ("everyone", "group:hr", "group:eng", "group:legal", "friends-only"):  # the last: not understood
            assert (seen is None or v in seen) == access.permits(acl_for_stored_visibility(v)), (access, v)
