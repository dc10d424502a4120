"""SciFact (any BEIR folder) quality and latency of Teamlore's retrieval stack, each component beside the fusion.

Usage: python benchmarks/retrieval_scifact.py BEIR_DIR [--model NAME_OR_PATH] [--backend torch|onnx|onnx-int8]
                                              [--split test] [--cache DIR] [--out FILE]
Runs the production path (chunking -> embedder -> FAISS flat + bm25s -> HybridSearcher) and prints JSON:
nDCG@10, Recall@10/100, MRR@10 for bm25, dense, rrf (k=60) and weighted RRF variants; query latency p50/p95.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from retrieval.beir import load_beir  # noqa: E402
from retrieval.chunking import ChunkingConfig  # noqa: E402
from retrieval.embedder import Embedder  # noqa: E402
from retrieval.evaluation import build_beir_index, evaluate  # noqa: E402
from retrieval.hybrid import FusionConfig  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("beir_dir")
    ap.add_argument("--model", default="all-MiniLM-L6-v2")
    ap.add_argument("--backend", default="onnx-int8")
    ap.add_argument("--split", default="test")
    ap.add_argument("--chunk-tokens", type=int, default=200)
    ap.add_argument("--overlap", type=int, default=32)
    ap.add_argument("--cache", default=None, help="folder for cached embeddings and ONNX exports")
    ap.add_argument("--dense-weight", type=float, default=1.0, help="RRF weight of the dense list (bm25 = 1)")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    import torch
    torch.set_num_threads(os.cpu_count() or 2)
    data = load_beir(a.beir_dir, a.split)
    cache = Path(a.cache) if a.cache else None
    t = time.perf_counter()
    emb = Embedder(a.model, backend=a.backend, cache_dir=cache / "onnx" if cache else None)
    load_s = time.perf_counter() - t
    fusion = FusionConfig(method="rrf", rrf_k=60, dense_weight=a.dense_weight)
    idx = build_beir_index(data, emb, config=ChunkingConfig(a.chunk_tokens, a.overlap), fusion=fusion,
                           cache_dir=cache / "emb" if cache else None)
    extra = {f"rrf_dense_w{w}": FusionConfig("rrf", 60, w, 1.0) for w in (1.5, 2.0, 3.0) if w != a.dense_weight}
    res = evaluate(idx, data, fusions=extra)
    res.update({"model": a.model, "backend": a.backend, "model_version": emb.version, "split": a.split,
                "model_load_s": round(load_s, 1), "embed_s": round(idx.embed_s, 1), "embed_cached": idx.cached,
                "chunks_per_s": round(idx.n_chunks / idx.embed_s, 1) if idx.embed_s else None,
                "cpus": os.cpu_count(), **idx.timings})
    text = json.dumps(res, indent=1)
    print(text)
    if a.out:
        Path(a.out).write_text(text)


if __name__ == "__main__":
    main()
