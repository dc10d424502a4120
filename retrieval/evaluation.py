"""Retrieval evaluation on BEIR-format data: nDCG@10, Recall@10/100, MRR@10 and single-query latency.

The corpus goes through the production path — chunking, embedding, VectorIndex, BM25Index, HybridSearcher — so
the figures measure what Teamlore serves. Chunk rankings are turned into document rankings by each document's
best chunk.
"""
from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from retrieval.beir import BeirData
from retrieval.bm25 import BM25Index
from retrieval.chunking import Chunker, ChunkingConfig, TokenCounter, embedding_text
from retrieval.faiss_index import Manifest, Snapshot, VectorIndex
from retrieval.hybrid import FusionConfig, HybridSearcher
from retrieval.types import ChunkRecord


def ndcg_at(run: Mapping[str, list[str]], qrels: Mapping[str, Mapping[str, int]], k: int = 10) -> float:
    vals = []
    for q, rel in qrels.items():
        ranked = run.get(q, [])[:k]
        dcg = sum(rel.get(d, 0) / math.log2(i + 2) for i, d in enumerate(ranked))
        ideal = sorted(rel.values(), reverse=True)[:k]
        idcg = sum(r / math.log2(i + 2) for i, r in enumerate(ideal))
        vals.append(dcg / idcg if idcg else 0.0)
    return float(np.mean(vals)) if vals else 0.0


def recall_at(run, qrels, k: int) -> float:
    vals = [len(set(run.get(q, [])[:k]) & set(rel)) / len(rel) for q, rel in qrels.items() if rel]
    return float(np.mean(vals)) if vals else 0.0


def mrr_at(run, qrels, k: int = 10) -> float:
    vals = []
    for q, rel in qrels.items():
        rr = 0.0
        for i, d in enumerate(run.get(q, [])[:k]):
            if rel.get(d, 0) > 0:
                rr = 1.0 / (i + 1)
                break
        vals.append(rr)
    return float(np.mean(vals)) if vals else 0.0


def metrics(run, qrels) -> dict[str, float]:
    return {"ndcg@10": round(ndcg_at(run, qrels, 10), 4), "recall@10": round(recall_at(run, qrels, 10), 4),
            "recall@100": round(recall_at(run, qrels, 100), 4), "mrr@10": round(mrr_at(run, qrels, 10), 4)}


def percentiles(ms: Sequence[float]) -> dict[str, float]:
    if not ms:
        return {}
    a = np.asarray(ms)
    return {"p50_ms": round(float(np.percentile(a, 50)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "mean_ms": round(float(a.mean()), 2)}


def chunk_beir_corpus(data: BeirData, chunker: Chunker) -> list[ChunkRecord]:
    chunks: list[ChunkRecord] = []
    for doc_id, doc in data.corpus.items():
        chunks.extend(chunker.chunk_document(title=doc["title"], sections=[{"text": doc["text"]}],
                                             origin_key=doc_id, meta={"source": "beir"}))
    return chunks


def embed_cached(embedder, texts: Sequence[str], cache_dir: Path | None,
                 progress: Callable[[int, int], None] | None = None) -> tuple[np.ndarray, float, bool]:
    """Embed, reusing a cached matrix for the same (model version, texts). Returns (vectors, seconds, cached)."""
    key = hashlib.sha256(("\x00".join(texts) + embedder.version).encode()).hexdigest()[:20]
    path = cache_dir / f"emb-{key}.npy" if cache_dir else None
    if path and path.is_file():
        return np.load(path), 0.0, True
    t = time.perf_counter()
    vecs = embedder.encode(texts, progress=progress)
    dt = time.perf_counter() - t
    if path:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, vecs)
        tmp.replace(path)
    return vecs, dt, False


@dataclass
class BeirIndex:
    """An in-memory snapshot of a BEIR corpus plus what maps chunks back to documents."""
    searcher: HybridSearcher
    chunk_doc: dict[int, str]
    n_chunks: int
    embed_s: float
    chunk_s: float
    cached: bool
    timings: dict = field(default_factory=dict)


def build_beir_index(data: BeirData, embedder, *, config: ChunkingConfig = ChunkingConfig(),
                     fusion: FusionConfig = FusionConfig(), cache_dir: Path | None = None,
                     progress: Callable[[int, int], None] | None = None, reranker=None) -> BeirIndex:
    t = time.perf_counter()
    chunker = Chunker(TokenCounter(embedder.tokenizer, embedder.max_seq_length), config)
    chunks = chunk_beir_corpus(data, chunker)
    texts = [embedding_text(c) for c in chunks]
    chunk_s = time.perf_counter() - t
    vecs, embed_s, cached = embed_cached(embedder, texts, cache_dir, progress)
    ids = np.arange(len(chunks), dtype=np.int64)
    t = time.perf_counter()
    vectors = VectorIndex.build(ids, vecs, kind="flat")
    bm25 = BM25Index().build(ids, texts)
    index_s = time.perf_counter() - t
    records = {int(i): {"acl": ["*"], "origin_kind": "document", "source": "beir"} for i in ids}
    manifest = Manifest(version=0, embedding_model=embedder.name, model_version=embedder.version,
                        dim=embedder.dim, count=len(chunks), kind="flat")
    snap = Snapshot(Path("."), manifest, vectors, records, bm25)
    by_id = dict(zip(ids.tolist(), chunks))
    searcher = HybridSearcher(snap, embedder, lambda xs: {i: by_id[i] for i in xs if i in by_id}, fusion,
                              reranker=reranker)
    return BeirIndex(searcher, {int(i): c.origin_key for i, c in zip(ids, chunks)}, len(chunks), embed_s, chunk_s,
                     cached, {"index_s": round(index_s, 2), "chunk_s": round(chunk_s, 2)})


def doc_ranking(chunk_ranking: Sequence[tuple[int, float]], chunk_doc: Mapping[int, str], k: int = 100) -> list[str]:
    seen: list[str] = []
    got = set()
    for cid, _ in chunk_ranking:
        d = chunk_doc[cid]
        if d not in got:
            got.add(d)
            seen.append(d)
            if len(seen) >= k:
                break
    return seen


def evaluate(index: BeirIndex, data: BeirData, methods: Sequence[str] = ("bm25", "dense", "rrf"),
             fusions: Mapping[str, FusionConfig] | None = None, depth: int = 300) -> dict:
    """Score each method; the `rrf` latency is the end-to-end single-query latency (embed + search + fuse).
    `fusions`: extra named fusion configs (e.g. a weighted RRF) scored from the same candidate lists."""
    s = index.searcher
    results: dict = {}
    runs: dict[str, dict[str, list[str]]] = {m: {} for m in methods}
    extra = dict(fusions or {})
    for name in extra:
        runs[name] = {}
    latencies: dict[str, list[float]] = {m: [] for m in methods}
    for qid, q in data.queries.items():
        for m in methods:
            t = time.perf_counter()
            ranking = s.rank(q, depth=depth, method=m)
            latencies[m].append((time.perf_counter() - t) * 1000)
            runs[m][qid] = doc_ranking(ranking.fused, index.chunk_doc)
            if m == "rrf" and extra:
                dl = sorted(ranking.dense.items(), key=lambda x: -x[1])
                bl = sorted(ranking.bm25.items(), key=lambda x: -x[1])
                base = s.fusion
                for name, cfg in extra.items():
                    s.fusion = cfg
                    runs[name][qid] = doc_ranking(s.fuse(dl, bl), index.chunk_doc)
                s.fusion = base
    for m, run in runs.items():
        results[m] = metrics(run, data.qrels)
        if m in latencies:
            results[m]["latency"] = percentiles(latencies[m])
    results["queries"] = len(data.queries)
    results["chunks"] = index.n_chunks
    return results


def write_result(results_dir: Path, name: str, payload: dict) -> Path:
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    tmp.replace(path)
    return path
