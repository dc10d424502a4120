"""Adapt the embedding model to SciFact using its TRAIN split only (never the test queries).

Usage: python benchmarks/retrieval_adapt_scifact.py BEIR_DIR OUT_DIR [--epochs N] [--no-hard-negatives]
Hard negatives: for each training query, BM25's best-ranked documents (ranks 3-30) that are not judged relevant.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from retrieval.adaptation import AdaptationConfig, finetune, pairs_from_beir  # noqa: E402
from retrieval.beir import load_beir  # noqa: E402
from retrieval.bm25 import BM25Index  # noqa: E402
from retrieval.embedder import resolve_model_path  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("beir_dir")
    ap.add_argument("out_dir")
    ap.add_argument("--base", default="all-MiniLM-L6-v2")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--lr", type=float, default=3e-5)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--no-hard-negatives", action="store_true")
    ap.add_argument("--device", default="cpu", help="cpu | cuda")
    a = ap.parse_args()
    train = load_beir(a.beir_dir, "train")
    test = load_beir(a.beir_dir, "test")
    overlap = set(train.queries) & set(test.queries)
    assert not overlap, f"train and test queries overlap: {sorted(overlap)[:5]}"
    negatives = None
    if not a.no_hard_negatives:
        ids = list(train.corpus)
        bm = BM25Index().build(range(len(ids)), [f"{d['title']} {d['text']}" for d in train.corpus.values()])
        negatives = {}
        for qid, q in train.queries.items():
            ranked = [ids[i] for i, _ in bm.search(q, 30)]
            negatives[qid] = [d for d in ranked[3:] if d not in train.qrels[qid]][:5]
    pairs = pairs_from_beir(train.corpus, train.queries, train.qrels, negatives)
    print(f"{len(pairs)} training pairs from {len(train.queries)} train queries", flush=True)
    t = time.perf_counter()
    cfg = AdaptationConfig(epochs=a.epochs, batch_size=a.batch_size, learning_rate=a.lr)
    out = finetune(resolve_model_path(a.base), pairs, a.out_dir, cfg,
                   progress=lambda logs: print(json.dumps(logs), flush=True), device=a.device)
    print(json.dumps({"model": str(out), "train_s": round(time.perf_counter() - t, 1), "pairs": len(pairs)}))


if __name__ == "__main__":
    main()
