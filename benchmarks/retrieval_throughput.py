"""Indexing throughput: Teamlore's pipeline (chunk + embed + add) against plain SentenceTransformer.encode (fp32)
on the same chunks of a BEIR corpus.

Usage: python benchmarks/retrieval_throughput.py BEIR_DIR [--docs 400] [--rounds 2] [--backend onnx-int8]
Rounds alternate baseline and pipeline so that load from other processes hits both alike; the best round of each
is reported, with the ratio and the cosine agreement of the two sets of vectors.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval.beir import load_beir  # noqa: E402
from retrieval.bm25 import BM25Index  # noqa: E402
from retrieval.chunking import Chunker, ChunkingConfig, TokenCounter, embedding_text  # noqa: E402
from retrieval.embedder import Embedder, resolve_model_path  # noqa: E402
from retrieval.faiss_index import VectorIndex  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("beir_dir")
    ap.add_argument("--docs", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--cache", default="/tmp/teamlore-bench")
    a = ap.parse_args()
    import torch
    torch.set_num_threads(os.cpu_count() or 2)
    from sentence_transformers import SentenceTransformer
    data = load_beir(a.beir_dir, "test")
    docs = list(data.corpus.items())[:a.docs]
    plain = SentenceTransformer(resolve_model_path(a.model), device="cpu")
    emb = Embedder(a.model, backend=a.backend, cache_dir=Path(a.cache) / "onnx")
    chunker = Chunker(TokenCounter(emb.tokenizer, emb.max_seq_length), ChunkingConfig(200, 32))

    def chunk_all():
        out = []
        for doc_id, d in docs:
            out.extend(chunker.chunk_document(title=d["title"], sections=[{"text": d["text"]}], origin_key=doc_id))
        return out

    texts = [embedding_text(c) for c in chunk_all()]
    base_s, ours_s = [], []
    for _ in range(a.rounds):
        t = time.perf_counter()
        ref = plain.encode(texts, batch_size=64, normalize_embeddings=True, convert_to_numpy=True)
        base_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        chunks = chunk_all()
        vecs = emb.encode([embedding_text(c) for c in chunks])
        ids = np.arange(len(chunks))
        VectorIndex.build(ids, vecs)
        BM25Index().build(ids.tolist(), [embedding_text(c) for c in chunks])
        ours_s.append(time.perf_counter() - t)
        print(json.dumps({"baseline_s": round(base_s[-1], 2), "pipeline_s": round(ours_s[-1], 2)}), flush=True)
    cos = (ref * vecs).sum(1)
    res = {"docs": len(docs), "chunks": len(texts), "backend": a.backend, "cpus": os.cpu_count(),
           "baseline_chunks_per_s": round(len(texts) / min(base_s), 1),
           "pipeline_chunks_per_s": round(len(texts) / min(ours_s), 1),
           "speedup": round(min(base_s) / min(ours_s), 2),
           "cosine_vs_fp32": {"min": round(float(cos.min()), 4), "mean": round(float(cos.mean()), 4)}}
    print(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
