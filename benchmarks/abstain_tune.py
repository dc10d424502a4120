"""Choose the extractive answerer's abstention policy on the TUNE split of benchmarks/data/handbook_questions.jsonl.

    TEAMLORE_DATA_DIR=/tmp/hb python benchmarks/abstain_tune.py [--out tune_abstain.json]

The data directory must already hold the handbook and its index (`teamlore eval answers ... --docs DIR` builds one).
Only tune questions are read. For each question the engine's retrieval runs once, then the answerer's abstention
signals are computed:
- best: the best evidence unit's score (cosine + lexical + heading);
- missing: the share of the question's IDF-weighted content terms the evidence lacks — literally (up to inflection,
  one typo, chat abbreviations), and, when a synonym cosine is given, also not near any evidence word in the
  embedder's space;
- type_missing: the question asks for an amount/duration/date and the quoted units hold none.

For each signal set (synonym cosine × evidence scope × with/without the answer-type check) a logistic regression
(L2, standardised) is fitted on tune; its leave-one-out predictions on tune choose the signal set (most unanswerable caught, then AUC, then the
margin between the lowest answerable and the highest unanswerable held-out logit; never the report split). The chosen fit is turned into the answerer's linear evidence score (best − missing_weight·missing −
type_weight·type_missing) and the threshold is set on tune: midway between the lowest-scoring answerable question
kept when at most 5 % of answerable tune questions may abstain, and the highest unanswerable score below it.
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.answering.quality import load_questions  # noqa: E402
from app.services.embeddings import get_encoder  # noqa: E402
from app.services.search import get_searcher  # noqa: E402
from app.settings import get_settings  # noqa: E402
from app.wiring import extractive_choice, extractive_weights, fixed_engine  # noqa: E402
from model.extractive import ExtractiveAnswerer  # noqa: E402
from retrieval.types import PUBLIC  # noqa: E402

SYNONYM_COS = (0.0, 0.55, 0.6, 0.65, 0.7)
SCOPES = ("passage", "picked")


def signals(split: str, questions: Path) -> list[dict]:
    settings = get_settings()
    qs = [q for q in load_questions(questions) if q.split == split]
    searcher = get_searcher(settings)
    engine = fixed_engine(settings, extractive_choice(settings), searcher)
    idf = searcher.current().snapshot.bm25.idf
    ans = ExtractiveAnswerer(get_encoder(settings), extractive_weights(settings), idf=idf)
    ans.weights.abstain_below = -1e9
    ans.weights.type_weight = 1.0
    rows = []
    for q in qs:
        _, _, ps = engine.evidence(q.question, PUBLIC)  # what the answer engine would quote
        scored = ans.score(q.question, ps)
        picked = ans.select(q.question, ps, scored=scored)
        row = {"id": q.id, "answerable": q.answerable, "question": q.question}
        for cos, scope in itertools.product(SYNONYM_COS, SCOPES):
            ans.weights.synonym_cos, ans.weights.coverage_of, ans.weights.missing_weight = cos, scope, 1.0
            f = ans.features(q.question, ps, scored, picked) if scored else {"best": -1.0, "missing": 1.0,
                                                                             "type_missing": 1.0}
            row["best"], row["type_missing"] = f["best"], f["type_missing"]
            row[f"missing@{scope}@{cos}"] = f["missing"]
        rows.append(row)
    return rows


def fit(X: np.ndarray, y: np.ndarray):
    from sklearn.linear_model import LogisticRegression
    mu, sd = X.mean(0), X.std(0) + 1e-9
    m = LogisticRegression(C=1.0, class_weight="balanced").fit((X - mu) / sd, y)
    coef = m.coef_[0] / sd
    return coef, float(m.intercept_[0] - (coef * mu).sum())


def threshold(scores_answerable: list[float], scores_unanswerable: list[float], max_false: float) -> float:
    """Mid-gap: between the highest unanswerable score under the answerable score allowed to abstain (at most
    `max_false` of them) and the lowest answerable score above that unanswerable one."""
    xs = sorted(scores_answerable)
    t = xs[int(np.floor(max_false * len(xs)))]
    below = [s for s in scores_unanswerable if s < t]
    if not below:
        return t - 1e-3
    top = max(below)
    return (top + min(x for x in xs if x > top)) / 2


def rates(scores: np.ndarray, y: np.ndarray, t: float) -> dict:
    abst = scores < t
    return {"abstention": round(float(abst[y == 0].mean()), 3), "false_abstention": round(float(abst[y == 1].mean()), 3),
            "abstained": int(abst.sum()), "precision": round(float((abst & (y == 0)).sum() / max(1, abst.sum())), 3),
            "recall": round(float((abst & (y == 0)).sum() / max(1, (y == 0).sum())), 3)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--questions", default=str(ROOT / "benchmarks/data/handbook_questions.jsonl"))
    ap.add_argument("--signals", default=None, help="reuse signals computed earlier (JSON written by --out)")
    ap.add_argument("--out", default=None)
    ap.add_argument("--max-false-abstention", type=float, default=0.05)
    args = ap.parse_args()
    rows = (json.loads(Path(args.signals).read_text())["rows"] if args.signals
            else signals("tune", Path(args.questions)))
    y = np.array([1 if r["answerable"] else 0 for r in rows])
    results = []
    for cos, scope, typed in itertools.product(SYNONYM_COS, SCOPES, (False, True)):
        cols = ["best", f"missing@{scope}@{cos}"] + (["type_missing"] if typed else [])
        X = np.array([[r[c] for c in cols] for r in rows], dtype=float)
        # leave-one-out: each tune question scored by a fit on the others (chooses the signal set)
        loo = np.zeros(len(rows))
        for i in range(len(rows)):
            keep = np.arange(len(rows)) != i
            coef, b = fit(X[keep], y[keep])
            loo[i] = X[i] @ coef + b
        a, u = sorted(loo[y == 1]), loo[y == 0]
        allowed = int(np.floor(args.max_false_abstention * len(a)))
        caught = int((u < a[allowed]).sum())
        coef, b = fit(X, y)
        # as the answerer's evidence score: best − missing_weight·missing − type_weight·type_missing
        mw, tw = -coef[1] / coef[0], (-coef[2] / coef[0] if typed else 0.0)
        score = X[:, 0] - mw * X[:, 1] - (tw * X[:, 2] if typed else 0.0)
        t = threshold(list(score[y == 1]), list(score[y == 0]), args.max_false_abstention)
        results.append({"synonym_cos": cos, "coverage_of": scope, "type_check": typed,
                        "loo_caught": caught, "loo_auc": round(auc(loo, y), 3),
                        "loo_margin": round(float(min(a) - max(u)), 3),
                        "missing_weight": round(float(mw), 3), "type_weight": round(float(tw), 3),
                        "abstain_below": round(float(t), 4), "tune": rates(score, y, t)})
    results.sort(key=lambda r: (-r["loo_caught"], -r["loo_auc"], -r["loo_margin"]))
    for r in results:
        print(json.dumps(r))
    if args.out:
        Path(args.out).write_text(json.dumps({"split": "tune", "rows": rows, "results": results}, indent=1))


def auc(scores: np.ndarray, y: np.ndarray) -> float:
    pos, neg = scores[y == 1], scores[y == 0]
    return float(np.mean([(p > n) + 0.5 * (p == n) for p in pos for n in neg]))


if __name__ == "__main__":
    main()
