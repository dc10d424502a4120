"""Choose the extractive answerer's coverage signal (how much a missing question term costs, and which evidence is
checked) and its abstention threshold on the TUNE split of benchmarks/data/handbook_questions.jsonl only.

    TEAMLORE_DATA_DIR=/tmp/hb python benchmarks/abstain_tune.py

Evidence score = best unit's score − missing_weight × (share of the question's IDF-weighted terms absent from the
evidence); IDF over the indexed corpus (BM25's document frequencies). For each setting: the threshold allowing one
false abstention among the answerable tune questions (≤ 5 %), the unanswerable ones caught, and the gap between the
lowest kept answerable score and the highest caught unanswerable one (the chosen threshold sits mid-gap).
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.answering.engine import passage_for  # noqa: E402
from app.answering.quality import load_questions  # noqa: E402
from app.services.embeddings import get_encoder  # noqa: E402
from app.services.search import get_searcher  # noqa: E402
from app.settings import get_settings  # noqa: E402
from model.extractive import ExtractiveAnswerer, Weights, missing_rare  # noqa: E402
from retrieval.types import PUBLIC  # noqa: E402


def main() -> None:
    settings = get_settings()
    qs = [q for q in load_questions(ROOT / "benchmarks/data/handbook_questions.jsonl") if q.split == "tune"]
    searcher = get_searcher(settings)
    idf = searcher.current().snapshot.bm25.idf
    ans = ExtractiveAnswerer(get_encoder(settings), Weights(abstain_below=-1e9))
    rows = []
    for q in qs:
        hits = [h for h in searcher.search(q.question, k=settings.top_k, access=PUBLIC)
                if h.scores.get("dense", h.score) >= settings.min_relevance]
        ps = [passage_for(i + 1, h) for i, h in enumerate(hits)]
        scored = ans.score(q.question, ps)
        picked = ans.select(q.question, ps, scored=scored)
        miss = {}
        for mode in ("picked", "passage", "all"):
            ans.weights.coverage_of = mode
            miss[mode] = missing_rare(q.question, ans.evidence_text(picked, ps), idf)[0] if scored else 1.0
        rows.append((q.answerable, scored[0].score if scored else -1.0, miss))
    a_rows = [r for r in rows if r[0]]
    u_rows = [r for r in rows if not r[0]]
    allowed = int(0.05 * len(a_rows))
    print(f"{len(a_rows)} answerable, {len(u_rows)} unanswerable (tune)")
    for mode in ("picked", "passage", "all"):
        for alpha in (0.0, 0.1, 0.2, 0.3, 0.4, 0.5):
            sa = sorted(c - alpha * m[mode] for _, c, m in a_rows)
            su = [c - alpha * m[mode] for _, c, m in u_rows]
            t = sa[allowed]
            caught = [s for s in su if s < t]
            gap = t - max(caught, default=t)
            print(f"evidence={mode:8s} missing_weight={alpha:.1f}  threshold(mid-gap)={t - gap / 2:.3f}  "
                  f"abstain={len(caught)}/{len(su)}  false={allowed}/{len(sa)}  gap={gap:.3f}")


if __name__ == "__main__":
    main()
