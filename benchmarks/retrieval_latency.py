"""Query latency at scale and approximate-index recall, on synthetic chunks.

Usage: python benchmarks/retrieval_latency.py [--chunks 100000] [--ann 1000000] [--queries 200] [--out FILE]

Part 1 (end to end, 100k chunks): synthetic chunk texts (sentences of SciFact abstracts recombined) give BM25 a
realistic vocabulary; their vectors are real MiniLM embeddings of SciFact passages plus noise (so the index has the
cluster structure of real embeddings). A query = int8 ONNX query embedding + FAISS flat search + BM25 + RRF fusion
+ permission filtering, measured one query at a time. Part 2 (ANN, 1M vectors): IVF (parameters from
retrieval.faiss_index.ivf_params) against exact search: recall@10 relative to exact, and p50/p95 per query.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval.bm25 import BM25Index  # noqa: E402
from retrieval.evaluation import percentiles  # noqa: E402
from retrieval.faiss_index import Manifest, Snapshot, VectorIndex, ivf_params  # noqa: E402
from retrieval.hybrid import FusionConfig, HybridSearcher  # noqa: E402
from retrieval.types import Access, ChunkRecord  # noqa: E402

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "retrieval" / "scifact"


def synthetic_vectors(base: np.ndarray, n: int, rng: np.random.Generator, noise: float = 0.6) -> np.ndarray:
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    step = 100_000
    for i in range(0, n, step):
        m = min(step, n - i)
        v = base[rng.integers(0, len(base), m)] + noise * rng.normal(size=(m, base.shape[1])).astype(np.float32) \
            / np.sqrt(base.shape[1])
        out[i:i + m] = v / np.linalg.norm(v, axis=1, keepdims=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--ann", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--cache", default="/tmp/teamlore-bench")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(os.cpu_count() or 2)
    from retrieval.embedder import Embedder
    rng = np.random.default_rng(0)
    pyrng = random.Random(0)
    corpus = [json.loads(line) for line in open(SCIFACT / "corpus.jsonl")]
    queries = [json.loads(line)["text"] for line in open(SCIFACT / "queries.jsonl")][:a.queries]
    sentences = [s.strip() for d in corpus for s in d["text"].split(". ") if len(s.strip()) > 20]
    emb = Embedder("all-MiniLM-L6-v2", backend=a.backend, cache_dir=Path(a.cache) / "onnx")
    base_path = Path(a.cache) / "base_vectors.npy"
    if base_path.is_file():
        base = np.load(base_path)
    else:  # real passage embeddings give the synthetic vectors their shape (2,000 passages)
        base = emb.encode([d["title"] + " " + d["text"] for d in corpus[:2000]])
        base_path.parent.mkdir(parents=True, exist_ok=True)
        np.save(base_path, base)
    res: dict = {"cpus": os.cpu_count(), "backend": a.backend}

    # --- part 1: end to end at N chunks ---
    n = a.chunks
    t = time.perf_counter()
    texts = [" ".join(pyrng.sample(sentences, 3)) for _ in range(n)]
    vecs = synthetic_vectors(base, n, rng)
    ids = np.arange(1, n + 1)
    vi = VectorIndex.build(ids, vecs, ivf_threshold=10 ** 9)
    bm = BM25Index().build(ids.tolist(), texts)
    acl_options = [["*"], ["*"], ["*"], ["U1", "U2"], ["group:hr"]]
    records = {int(i): {"acl": acl_options[int(i) % 5], "channel": "general", "ts": 1.7e9} for i in ids}
    res["build_100k_s"] = round(time.perf_counter() - t, 1)
    snap = Snapshot(Path("."), Manifest(1, "m", emb.version, emb.dim, n, "flat"), vi, records, bm)
    by_id = lambda xs: {i: ChunkRecord(texts[i - 1], "t", "document", str(i), acl=records[i]["acl"])  # noqa: E731
                        for i in xs}
    hs = HybridSearcher(snap, emb, by_id, FusionConfig())
    user = Access(slack_user_ids=frozenset({"U1"}))
    for q in queries[:10]:  # warm up
        hs.search(q, k=5, access=user)
    lat, parts = [], {"embed_ms": [], "bm25_ms": []}
    for q in queries:
        t = time.perf_counter()
        hits = hs.search(q, k=5, access=user)
        lat.append((time.perf_counter() - t) * 1000)
        assert hits
        for k in parts:
            parts[k].append(hs.last_timings.get(k, 0.0))
    res[f"e2e_{n}"] = {**percentiles(lat), **{k: percentiles(v)["p50_ms"] for k, v in parts.items()}}
    print(json.dumps(res), flush=True)
    del texts, bm, snap, hs, vi

    # --- part 2: ANN at M vectors ---
    if a.ann:
        m = a.ann
        big = synthetic_vectors(base, m, rng)
        qv = emb.encode(queries)
        t = time.perf_counter()
        exact = VectorIndex.build(np.arange(m), big, kind="flat")
        res["exact_build_s"] = round(time.perf_counter() - t, 1)
        t = time.perf_counter()
        params = ivf_params(m)
        ivf = VectorIndex.build(np.arange(m), big, kind="ivf", params=dict(params))
        res["ivf_build_s"] = round(time.perf_counter() - t, 1)
        ex_lat, ex_ids = [], []
        for q in qv:
            t = time.perf_counter()
            _, I = exact.search(q[None], 10)
            ex_lat.append((time.perf_counter() - t) * 1000)
            ex_ids.append(I[0])
        res[f"exact_{m}"] = percentiles(ex_lat)
        for nprobe in sorted({params["nprobe"], 32, 64, 128}):
            ivf.index.nprobe = nprobe
            lat, rec = [], []
            for q, truth in zip(qv, ex_ids):
                t = time.perf_counter()
                _, I = ivf.search(q[None], 10)
                lat.append((time.perf_counter() - t) * 1000)
                rec.append(len(set(I[0]) & set(truth)) / 10)
            res[f"ivf_{m}_nlist{params['nlist']}_nprobe{nprobe}"] = {"recall@10_vs_exact": round(float(np.mean(rec)), 4),
                                                                      **percentiles(lat)}
            print(json.dumps(res), flush=True)
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
