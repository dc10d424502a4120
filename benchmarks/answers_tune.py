"""Choose fusion weights, retrieval depth and the extractive answerer's weights and abstention threshold on the
TUNE split of benchmarks/data/handbook_questions.jsonl (never the report split).

    TEAMLORE_DATA_DIR=/tmp/hb python benchmarks/answers_tune.py [--questions ...] [--out results.json]

The data directory must already hold the handbook and its index (`teamlore eval answers ... --docs DIR` builds
one). Retrieval is run once per fusion setting; the answerer is then replayed for every weight setting with cached
sentence embeddings, so the grid costs little more than one pass. The objective: cited@3 + key-fact hit +
abstention on unanswerable questions, with the threshold set to the highest value whose false abstention on the
answerable tune questions stays within 5 %.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.answering.engine import passage_for  # noqa: E402
from app.answering.quality import document_paths, has_facts, load_questions, page_matches  # noqa: E402
from app.services.embeddings import get_encoder  # noqa: E402
from app.services.search import get_searcher  # noqa: E402
from app.settings import get_settings  # noqa: E402
from model.extractive import ExtractiveAnswerer, Weights  # noqa: E402
from retrieval.hybrid import FusionConfig, HybridSearcher  # noqa: E402
from retrieval.types import PUBLIC  # noqa: E402

from benchmarks.report import write_json  # noqa: E402


class CachedEncoder:
    def __init__(self, encode):
        self.encode = encode
        self.cache: dict[str, np.ndarray] = {}

    def __call__(self, texts):
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for t, v in zip(missing, self.encode(missing)):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])


def threshold_for(confs_answerable: list[float], max_false: float) -> float:
    """The highest threshold that abstains on at most `max_false` of the answerable questions."""
    xs = sorted(confs_answerable)
    allowed = int(np.floor(max_false * len(xs)))
    return xs[allowed] - 1e-6 if xs else 0.0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", default=str(ROOT / "benchmarks/data/handbook_questions.jsonl"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--max-false-abstention", type=float, default=0.05)
    args = ap.parse_args()
    settings = get_settings()
    qs = [q for q in load_questions(Path(args.questions)) if q.split == "tune"]
    assert qs and all(q.split == "tune" for q in qs)
    paths = document_paths(settings)
    base = get_searcher(settings).current()
    enc = CachedEncoder(get_encoder(settings))
    fusions = [FusionConfig(rrf_k=60, dense_weight=dw) for dw in (1.0, 2.0, 3.0)]
    depths = (5, 8, 12)
    grid = [Weights(lexical=lx, heading=hd, rank=rk, margin=mg, max_units=mu)
            for lx, hd, rk, mg, mu in itertools.product((0.0, 0.15, 0.3), (0.0, 0.15, 0.3), (0.0, 0.05), (0.1, 0.15),
                                                        (3, 4))]
    results = []
    t0 = time.time()
    for fusion in fusions:
        hs = HybridSearcher(base.snapshot, base.embedder, base.hydrate, fusion)
        hits_by_q = {}
        for q in qs:
            hits = hs.search(q.question, k=max(depths), access=PUBLIC, dense_scores=True)
            hits_by_q[q.id] = [h for h in hits if h.scores.get("dense", h.score) >= settings.min_relevance]
        for depth in depths:
            for w in grid:
                ans = ExtractiveAnswerer(enc, Weights(**{**w.__dict__, "abstain_below": -1e9}))
                rows = []
                for q in qs:
                    hits = hits_by_q[q.id][:depth]
                    passages = [passage_for(i + 1, h) for i, h in enumerate(hits)]
                    ex = ans.answer(q.question, passages)
                    by_n = {i + 1: h for i, h in enumerate(hits)}
                    cited = [paths.get(by_n[n].origin.document_id) for n in ex.cited]
                    rows.append({"answerable": q.answerable, "conf": ex.confidence if passages else -1e9,
                                 "cited3": q.answerable and any(page_matches(p, g) for p in cited[:3]
                                                                for g in q.gold_pages),
                                 "fact": q.answerable and has_facts(ex.text, q.key_facts)})
                a = [r for r in rows if r["answerable"]]
                u = [r for r in rows if not r["answerable"]]
                tau = threshold_for([r["conf"] for r in a], args.max_false_abstention)
                abst = sum(r["conf"] < tau for r in u) / len(u)
                false = sum(r["conf"] < tau for r in a) / len(a)
                cited3 = sum(r["cited3"] and r["conf"] >= tau for r in a) / len(a)
                fact = sum(r["fact"] and r["conf"] >= tau for r in a) / len(a)
                results.append({"rrf_k": fusion.rrf_k, "dense_weight": fusion.dense_weight, "depth": depth,
                                **{k: v for k, v in w.__dict__.items() if k != "abstain_below"},
                                "abstain_below": round(tau, 4), "cited_at_3": round(cited3, 3),
                                "key_fact_hit": round(fact, 3), "abstention": round(abst, 3),
                                "false_abstention": round(false, 3), "objective": round(cited3 + fact + abst, 4)})
        best = max(results, key=lambda r: r["objective"])
        print(f"fusion rrf_k={fusion.rrf_k} dense={fusion.dense_weight}: best so far {best} "
              f"({time.time() - t0:.0f}s)", flush=True)
    results.sort(key=lambda r: -r["objective"])
    print(json.dumps(results[:10], indent=1))
    if args.out:
        write_json(Path(args.out), {"split": "tune", "questions": len(qs), "top": results[:20],
                                      "grid_size": len(results)})


if __name__ == "__main__":
    main()
