"""Choose the extractive answerer's abstention policy by cross-validation on ALL the seen handbook question sets
(tune + report + fresh), and check the IDF-weighted lexical overlap for key facts.

    TEAMLORE_DATA_DIR=/tmp/hb2 python benchmarks/abstain_cv.py --out /tmp/cv.json
    TEAMLORE_DATA_DIR=/tmp/hb2 python benchmarks/abstain_cv.py --signals /tmp/cv.json   # re-fit only

The data directory must already hold the handbook and its index (`teamlore eval answers ... --docs DIR` builds one).
holdout2 (benchmarks/data/handbook_questions_holdout2.jsonl) is never read here.

Per question the engine's retrieval runs once; then, with plain and with IDF-weighted lexical overlap, the answerer
scores and picks units, and the signals are computed:
- best: the best unit's score;
- missing@{picked,passage}@cos: share of the question's IDF-weighted terms the evidence lacks (synonym cosine cos);
- spec@{picked,top}@cos: the question's most specific (highest-IDF, topical) term is absent from the quoted units /
  from the best unit alone;
- type: the question asks for an amount/duration/date and the quoted units hold none;
- kf: the quoted units hold the key facts (answerable questions).

Each candidate signal set is a logistic fit (L2, standardised, balanced) turned into the answerer's linear score
best − Σ weight·signal; its threshold is set on the training folds so that at most `--train-false` of their
answerable questions abstain (mid-gap). Repeated stratified 5-fold CV on the union gives held-out abstention and
false abstention per policy; the chosen policy is the one catching the most unanswerable questions with CV false
abstention ≤ `--max-false`, then refit on the whole union.
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

from benchmarks.abstain_tune import fit, threshold  # noqa: E402

SETS = ("handbook_questions.jsonl", "handbook_questions_fresh.jsonl")
COS = (0.0, 0.6, 0.7)


def signals() -> list[dict]:
    from app.answering.quality import has_facts, load_questions
    from app.services.embeddings import get_encoder
    from app.services.search import get_searcher
    from app.settings import get_settings
    from app.wiring import extractive_choice, extractive_weights, fixed_engine
    from model.extractive import ExtractiveAnswerer, answer_type_missing
    from retrieval.types import PUBLIC
    settings = get_settings()
    qs = [q for name in SETS for q in load_questions(ROOT / "benchmarks" / "data" / name)]
    searcher = get_searcher(settings)
    engine = fixed_engine(settings, extractive_choice(settings), searcher)
    idf = searcher.current().snapshot.bm25.idf
    ans = ExtractiveAnswerer(get_encoder(settings), extractive_weights(settings), idf=idf)
    rows = []
    for q in qs:
        _, _, ps = engine.evidence(q.question, PUBLIC)  # what the answer engine would quote
        row = {"id": q.id, "split": q.split, "answerable": q.answerable, "question": q.question}
        for lidf in (0, 1):
            ans.weights.lexical_idf = bool(lidf)
            scored = ans.score(q.question, ps)
            picked = ans.select(q.question, ps, scored=scored)
            quoted = "\n".join(s.unit.quote for s in picked)
            row[f"best{lidf}"] = scored[0].score if scored else -1.0
            row[f"kf{lidf}"] = bool(q.answerable and picked and has_facts(quoted, q.key_facts))
            row[f"type{lidf}"] = float(answer_type_missing(q.question, quoted)) if picked else 1.0
            for cos in COS:
                ans.weights.synonym_cos = cos
                for scope in ("picked", "passage"):
                    ans.weights.coverage_of, ans.weights.missing_weight = scope, 1.0
                    f = ans.features(q.question, ps, scored, picked) if scored else {"missing": 1.0}
                    row[f"missing{lidf}@{scope}@{cos}"] = f["missing"]
                row[f"spec{lidf}@picked@{cos}"] = float(ans.specific_missing(q.question, quoted)) if picked else 1.0
                row[f"spec{lidf}@top@{cos}"] = (float(ans.specific_missing(q.question, scored[0].unit.quote))
                                                if scored else 1.0)
        ans.weights.specific_terms = 2
        for lidf in (0, 1):
            ans.weights.lexical_idf = bool(lidf)
            scored = ans.score(q.question, ps)
            picked = ans.select(q.question, ps, scored=scored)
            quoted = "\n".join(s.unit.quote for s in picked)
            for cos in COS:
                ans.weights.synonym_cos = cos
                row[f"spec2{lidf}@picked@{cos}"] = ans.specific_missing(q.question, quoted) if picked else 1.0
        row["specific_terms"] = ans.specific_terms(q.question)
        ans.weights.specific_terms = 1
        rows.append(row)
    return rows


def policies():
    yield ("best only", 0, ["best0"])
    yield ("best only (idf lexical)", 1, ["best1"])
    for lidf, cos in itertools.product((0, 1), COS):
        for extra in (["missing{l}@picked@{c}"], ["missing{l}@passage@{c}"], ["spec{l}@picked@{c}"],
                      ["spec{l}@top@{c}"], ["spec2{l}@picked@{c}"], ["missing{l}@passage@{c}", "spec2{l}@picked@{c}"],
                      ["missing{l}@picked@{c}", "spec2{l}@picked@{c}"], ["missing{l}@picked@{c}", "spec{l}@picked@{c}"],
                      ["missing{l}@passage@{c}", "spec{l}@picked@{c}"], ["missing{l}@passage@{c}", "spec{l}@top@{c}"]):
            for typed in (False, True):
                cols = [f"best{lidf}"] + [e.format(l=lidf, c=cos) for e in extra] + ([f"type{lidf}"] if typed else [])
                yield (" + ".join(cols), lidf, cols)


def linear(X, y):
    coef, b = fit(X, y)
    w = -coef[1:] / coef[0]  # score = best − Σ w·signal
    return w


def score_of(X, w):
    return X[:, 0] - (X[:, 1:] @ w if len(w) else 0.0)


def cv(rows, cols, train_false, repeats, seed=0):
    from sklearn.model_selection import StratifiedKFold
    X = np.array([[r[c] for c in cols] for r in rows], dtype=float)
    y = np.array([1 if r["answerable"] else 0 for r in rows])
    fa = ab = 0
    na = nu = 0
    for rep in range(repeats):
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed + rep).split(X, y):
            w = linear(X[tr], y[tr]) if X.shape[1] > 1 else np.zeros(0)
            s_tr = score_of(X[tr], w)
            t = threshold(list(s_tr[y[tr] == 1]), list(s_tr[y[tr] == 0]), train_false)
            s_te = score_of(X[te], w)
            fa += int((s_te[y[te] == 1] < t).sum()); na += int((y[te] == 1).sum())
            ab += int((s_te[y[te] == 0] < t).sum()); nu += int((y[te] == 0).sum())
    return ab / nu, fa / na


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--signals", default=None, help="reuse signals written by --out")
    ap.add_argument("--out", default=None)
    ap.add_argument("--train-false", type=float, default=0.02)
    ap.add_argument("--max-false", type=float, default=0.03)
    ap.add_argument("--repeats", type=int, default=10)
    args = ap.parse_args()
    rows = json.loads(Path(args.signals).read_text())["rows"] if args.signals else signals()
    if args.out and not args.signals:
        Path(args.out).write_text(json.dumps({"rows": rows}, indent=1))
    ans = [r for r in rows if r["answerable"]]
    print(f"{len(rows)} questions ({len(ans)} answerable); key facts in the quoted units: "
          f"plain lexical {np.mean([r['kf0'] for r in ans]):.3f}, IDF-weighted lexical {np.mean([r['kf1'] for r in ans]):.3f}")
    for split in sorted({r["split"] for r in ans}):
        sa = [r for r in ans if r["split"] == split]
        print(f"  {split}: plain {np.mean([r['kf0'] for r in sa]):.3f}  idf {np.mean([r['kf1'] for r in sa]):.3f}")
    y = np.array([1 if r["answerable"] else 0 for r in rows])
    out = []
    for name, lidf, cols in policies():
        a, f = cv(rows, cols, args.train_false, args.repeats)
        X = np.array([[r[c] for c in cols] for r in rows], dtype=float)
        w = linear(X, y) if len(cols) > 1 else np.zeros(0)
        s = score_of(X, w)
        t = threshold(list(s[y == 1]), list(s[y == 0]), args.train_false)
        out.append({"policy": name, "cv_abstention": round(a, 3), "cv_false": round(f, 3),
                    "weights": dict(zip(cols[1:], np.round(w, 3).tolist())), "abstain_below": round(float(t), 4),
                    "fit_abstention": round(float((s[y == 0] < t).mean()), 3),
                    "fit_false": round(float((s[y == 1] < t).mean()), 3)})
    ok = sorted((r for r in out if r["cv_false"] <= args.max_false), key=lambda r: (-r["cv_abstention"], r["cv_false"]))
    rest = sorted((r for r in out if r["cv_false"] > args.max_false), key=lambda r: (-r["cv_abstention"], r["cv_false"]))
    for r in ok[:25]:
        print("OK ", json.dumps(r))
    for r in rest[:8]:
        print("FAL", json.dumps(r))
    base = np.array([r["best0"] for r in rows])
    print("fixed default 0.562 on the union:", {"abstention": round(float((base[y == 0] < 0.562).mean()), 3),
                                                "false": round(float((base[y == 1] < 0.562).mean()), 3)})
    if ok:
        print("CHOSEN", json.dumps(ok[0]))


if __name__ == "__main__":
    main()
