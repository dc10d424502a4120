"""Answer-engine overhead at 100k chunks: everything except the generator (auth, rate limit, retrieval with
permissions, prompt assembly with the model's tokenizer, citations, storage, JSON), through the HTTP API in-process.

Per request: overhead = wall time of POST /v1/chat/completions - the generator's own time (latency.generate_ms).
Side by side in the same process: the bare hybrid search on the same index (the floor the engine adds to).

  python benchmarks/engine_overhead.py [--chunks 100000] [--requests 300]

The index: synthetic chunk texts (SciFact sentences recombined) with vectors from real MiniLM embeddings plus noise
(see retrieval_latency.py); a tiny Llama (built here) answers with max_tokens=1 so the prompt path is the real one.
"""
from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

SCIFACT = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "retrieval" / "scifact"


def pct(xs, q):
    return round(float(np.percentile(xs, q)), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--chunks", type=int, default=100_000)
    ap.add_argument("--requests", type=int, default=300)
    ap.add_argument("--cache", default="/tmp/teamlore-bench")
    a = ap.parse_args()

    from fastapi.testclient import TestClient

    from app.api.main import create_app
    from app.db import migrate, session_scope
    from app.security import create_api_key, get_or_create_user
    from app.settings import load_settings
    from benchmarks.retrieval_latency import synthetic_vectors
    from retrieval.bm25 import BM25Index
    from retrieval.embedder import Embedder
    from retrieval.faiss_index import Manifest, Snapshot, VectorIndex
    from retrieval.hybrid import FusionConfig, HybridSearcher
    from retrieval.types import Access, ChunkRecord
    from tests.model.tiny_llama import build_tiny_llama

    root = Path(tempfile.mkdtemp(prefix="teamlore-overhead-"))
    model_dir = build_tiny_llama(root / "tiny", hidden_size=64)
    settings = load_settings(data_dir=root / "var", generator="transformers", model_path=str(model_dir),
                             min_relevance=0.0, rate_limit="100000/minute", max_new_tokens=1,
                             embedding_cache_dir=Path(a.cache) / "onnx")
    settings.ensure_dirs()
    migrate(settings.db_url)
    with session_scope(settings.db_url) as s:
        _, key = create_api_key(s, get_or_create_user(s, "bench", slack_user_id="U1"), "bench")

    rng, pyrng = np.random.default_rng(0), random.Random(0)
    corpus = [json.loads(line) for line in open(SCIFACT / "corpus.jsonl")]
    queries = [json.loads(line)["text"] for line in open(SCIFACT / "queries.jsonl")][:a.requests]
    sentences = [x.strip() for d in corpus for x in d["text"].split(". ") if len(x.strip()) > 20]
    emb = Embedder("all-MiniLM-L6-v2", backend=settings.embedding_backend, cache_dir=Path(a.cache) / "onnx")
    base = emb.encode([d["title"] + " " + d["text"] for d in corpus[:2000]])
    n = a.chunks
    texts = [" ".join(pyrng.sample(sentences, 3)) for _ in range(n)]
    ids = np.arange(1, n + 1)
    vi = VectorIndex.build(ids, synthetic_vectors(base, n, rng), ivf_threshold=10 ** 9)
    bm = BM25Index().build(ids.tolist(), texts)
    acl_options = [["*"], ["*"], ["*"], ["U1", "U2"], ["group:hr"]]
    records = {int(i): {"acl": acl_options[int(i) % 5], "channel": "general", "ts": 1.7e9} for i in ids}
    snap = Snapshot(Path("."), Manifest(1, "m", emb.version, emb.dim, n, "flat"), vi, records, bm)

    def by_id(xs):
        return {i: ChunkRecord(texts[i - 1], f"chunk {i}", "document", str(i), acl=records[i]["acl"],
                               meta={"channel": "general"}) for i in xs}

    hs = HybridSearcher(snap, emb, by_id, FusionConfig())

    class Searcher:  # the engine's search seam, over the synthetic index
        def search(self, query, k=5, access=Access(), filters=None):
            return hs.search(query, k=k, access=access)

    app = create_app(settings)
    app.state.searcher = lambda: Searcher()
    from app.wiring import build_engine
    engine = build_engine(settings, app.state.generators, searcher=app.state.searcher)
    app.state.engine = lambda: engine
    user = Access(slack_user_ids=frozenset({"U1"}))

    with TestClient(app) as c:
        h = {"Authorization": f"Bearer {key}"}
        for q in queries[:10]:  # warm up: model load, first queries
            c.post("/v1/chat/completions", headers=h, json={"messages": [{"role": "user", "content": q}]})
            hs.search(q, k=5, access=user)
        over, retr, search_only, gen = [], [], [], []
        for q in queries:
            t = time.perf_counter()
            hs.search(q, k=5, access=user)
            search_only.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            r = c.post("/v1/chat/completions", headers=h, json={"messages": [{"role": "user", "content": q}]})
            wall = (time.perf_counter() - t) * 1000
            lat = r.json()["teamlore"]["latency"]
            assert r.json()["teamlore"]["mode"] == "generative", r.json()["teamlore"]
            over.append(wall - lat["generate_ms"])
            retr.append(lat["retrieval_ms"])
            gen.append(lat["generate_ms"])
    out = {"chunks": n, "requests": len(over), "cpus": os.cpu_count(),
           "overhead_ms": {"p50": pct(over, 50), "p95": pct(over, 95)},
           "of_which_retrieval_ms": {"p50": pct(retr, 50), "p95": pct(retr, 95)},
           "bare_hybrid_search_ms": {"p50": pct(search_only, 50), "p95": pct(search_only, 95)},
           "generator_ms_excluded": {"p50": pct(gen, 50)},
           "overhead_over_bare_search_p50": round(pct(over, 50) / pct(search_only, 50), 2)}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
