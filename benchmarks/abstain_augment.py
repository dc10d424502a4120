"""Third abstention round: choose the extractive answerer's "I don't know" policy by cross-validation on every seen
handbook question set PLUS many questions generated from them, so that the policy is fitted on far more (and more
varied) wording than the 155 hand-written questions.

    python benchmarks/abstain_augment.py --data-dir /tmp/answers/hb --docs ../shared/data/docs/18f-handbook \
        --out /tmp/answers/aug.json                   # generate, compute signals (one retrieval each), CV
    python benchmarks/abstain_augment.py --signals /tmp/answers/aug.json   # CV again on the saved signals

The data directory must already hold the handbook and its index (`teamlore eval answers ... --docs DIR` builds one).
holdout3 (benchmarks/data/handbook_questions_holdout3.jsonl) is never read here, and the generator's word lists
avoid its topics (it was written first; see BENCHMARKS.md).

Generated questions (deterministic, seed 0):
- *swap* (unanswerable look-alikes): an answerable seen question with its most specific term (highest IDF over the
  index) replaced by an HR term the handbook never mentions ("how many hrs of sabbatical leave do we accrue…");
- *template* (unanswerable, plain out-of-scope HR questions): "does gsa pay for {term}", "is {term} covered"…;
- *reworded* (answerable): a seen answerable question with chat synonyms ("vacation" for "annual leave", "boss" for
  "supervisor"), chat abbreviations and one typo;
- *heading* (answerable): a chat question made from a section heading of an HR page ("how does lunch and break
  periods work").
Every absent term is checked against the whole corpus at run time (a term found anywhere is dropped).

CV: 5 folds × `--repeats`, grouped by the seen question a generated one comes from (a question and its variants are
always in the same fold). Each candidate signal set is a logistic fit (L2, standardised, balanced) turned into the
answerer's linear score best − Σ weight·signal, with its threshold set on the training folds so that at most
`--train-false` of their answerable questions abstain. Scored separately on the held-out seen questions ("real")
and the held-out generated ones ("gen"). Grid: trained on the seen questions only or on seen + generated; threshold
on the training folds' seen answerable questions (≤ `--train-false`) or on all their answerable ones (≤ 2, 5, 8 %).
The rule, fixed before the run: among the candidates with real CV false abstention ≤ `--max-false` and generated CV
false abstention ≤ `--max-gen-false` (default: the current default policy's on the generated answerable questions),
the one with the highest mean of real and generated CV abstention.
"""
from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.abstain_tune import fit, threshold  # noqa: E402

SETS = ("handbook_questions.jsonl", "handbook_questions_fresh.jsonl", "handbook_questions_holdout2.jsonl",
        "handbook_questions_holdout3.jsonl")  # holdout3 seen since round 3's check; holdout4 is never read here

# HR things an employee might ask about that the handbook does not cover (checked absent at run time). Written to
# stay clear of holdout3's topics (eye care, adoption, child care, pets, retention pay, injury claims, shift pay,
# certifications, second jobs, college savings, mileage rates, phone allowances, volunteering, pay advances,
# language pay).
ABSENT = ["invisalign", "pet insurance", "gym stipend", "stock options", "sabbatical", "lasik", "acupuncture",
          "massage", "yoga classes", "tuition reimbursement", "signing bonus", "referral bonus", "espp", "cannabis",
          "tattoos", "notary", "hazard pay", "scooter", "wellness bonus", "hearing aids", "fertility treatment",
          "severance", "layoffs", "h-1b", "cost of living raise", "company car", "holiday party", "free lunch",
          "birthday", "wedding", "honeymoon", "nap pods", "ski trip", "profit sharing", "equity grant", "dry cleaning",
          "ping pong", "peloton", "concert tickets", "golf", "crypto", "bitcoin", "egg freezing", "surrogacy",
          "chiropractor", "dermatologist", "kombucha", "spa day", "marathon", "lottery", "jet lag day",
          "car wash", "snowboarding", "therapy sessions for couples", "funeral insurance", "identity theft protection",
          "legal insurance", "travel insurance for vacations", "timeshare", "bonus shares"]

TEMPLATES = ["does gsa pay for {t}", "is {t} covered for employees", "do we get {t}??", "how do i sign up for {t}",
             "whats our policy on {t}", "can i expense {t}", "is there a {t} benefit for feds",
             "how much {t} do we get a year", "who do i ask about {t}", "does tts offer {t} to new hires"]

# Chat rewordings of the handbook's words (answerable questions stay answerable).
REWORD = [(r"\bannual leave\b", "vacation"), (r"\bsupervisor\b", "boss"), (r"\bmanager\b", "boss"),
          (r"\bchild\b", "kid"), (r"\bchildren\b", "kids"), (r"\blaptop\b", "computer"), (r"\bhours\b", "hrs"),
          (r"\bgovernment\b", "govt"), (r"\byears\b", "yrs"), (r"\bplease\b", "pls"), (r"\byou\b", "u"),
          (r"\bare\b", "r"), (r"\breimbursed\b", "paid back"),
          (r"\bmaximum\b", "max"), (r"\bminimum\b", "min"), (r"\bsick leave\b", "sick days"),
          (r"\bsalary\b", "pay"), (r"\bquit\b", "resign"), (r"\bfuneral\b", "memorial service"),
          (r"\brequest\b", "ask for"), (r"\bapprove\b", "ok"), (r"\bbenefits\b", "perks"),
          (r"\binsurance\b", "coverage"), (r"\bdeadline\b", "due date")]

HR_PAGES = ("pages/travel-and-leave", "pages/getting-started", "pages/general-information-and-resources",
            "pages/hiring-staying-or-changing-jobs", "pages/performance-management", "pages/training-and-development",
            "pages/tools/hrlinks", "pages/tools/tock")
HEADING_TEMPLATES = ["how does {h} work", "whats the rule for {h}", "where do i find info on {h}", "{h}??",
                     "can someone explain {h}", "question about {h}"]
_H = re.compile(r"^#{2,4}\s+(.+?)\s*#*\s*$", re.M)
_WORDS = re.compile(r"[a-z][a-z'\-]+")


def _typo(word: str, rng: random.Random) -> str:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1:] if rng.random() < 0.5 else word[:i] + word[i + 1] + word[i] + word[i + 2:]


def generate(seen: list, corpus: str, docs: Path, specific, seed: int = 0) -> list[dict]:
    """Generated questions (see the module docstring). `specific(question)` -> its most specific terms."""
    from model.extractive import STOPWORDS
    rng = random.Random(seed)
    absent = [t for t in ABSENT if t not in corpus]
    out: list[dict] = []
    answerable = [q for q in seen if q.answerable]
    for q in answerable:
        terms = [t for t in specific(q.question) if re.search(rf"\b{re.escape(t)}\b", q.question.lower())]
        if terms:
            t = rng.choice(absent)
            text = re.sub(rf"\b{re.escape(terms[0])}\b", t, q.question, count=1, flags=re.I)
            out.append({"id": f"swap-{q.id}", "group": q.id, "question": text, "answerable": False, "kind": "swap"})
        text = q.question
        for pat, rep in REWORD:
            if re.search(pat, text, re.I) and rng.random() < 0.7:
                text = re.sub(pat, rep, text, flags=re.I)
        long_words = [w for w in _WORDS.findall(text) if len(w) >= 7]
        if long_words and rng.random() < 0.5:
            w = rng.choice(long_words)
            text = re.sub(rf"\b{re.escape(w)}\b", _typo(w, rng), text, count=1)
        if text.lower() != q.question.lower():
            out.append({"id": f"rew-{q.id}", "group": q.id, "question": text.lower(), "answerable": True,
                        "kind": "reworded"})
    for i, t in enumerate(absent):
        for j, tpl in enumerate(rng.sample(TEMPLATES, 2)):
            out.append({"id": f"tpl-{i}-{j}", "group": f"tpl-{i}", "question": tpl.format(t=t), "answerable": False,
                        "kind": "template"})
    heads = []
    for path in sorted(docs.rglob("*.md")):
        rel = path.relative_to(docs).as_posix()
        if not rel.startswith(HR_PAGES):
            continue
        for h in _H.findall(path.read_text(encoding="utf-8")):
            h = re.sub(r"[^\w\s'&/-]", "", h).strip().lower()
            content = [w for w in h.split() if w not in STOPWORDS]
            if (len(content) >= 2 and len(h.split()) <= 7 and not h[0].isdigit()
                    and not re.search(r"question|overview|contact|resources|example|step|^(how|what|where|who|why|"
                                      r"about|from|when)\b", h)):
                heads.append((rel, h))
    for k, (rel, h) in enumerate(rng.sample(heads, min(90, len(heads)))):
        out.append({"id": f"head-{k}", "group": f"head-{k}", "question": rng.choice(HEADING_TEMPLATES).format(h=h),
                    "answerable": True, "kind": "heading", "page": rel})
    return out


SCOPES = ("top", "picked", "passage")


def signals(data_dir: str, docs: Path) -> list[dict]:
    from app.answering.quality import load_questions
    from app.services.embeddings import get_encoder
    from app.services.search import get_searcher, reset_searchers
    from app.settings import get_settings
    from app.wiring import extractive_choice, extractive_weights, fixed_engine
    from model.extractive import ExtractiveAnswerer, _origin, answer_type_missing, normalise_question
    from retrieval.chat_terms import expand_chat
    from retrieval.types import PUBLIC
    settings = get_settings().model_copy(update={"data_dir": Path(data_dir), "database_url": None})
    reset_searchers()
    seen = [q for name in SETS for q in load_questions(ROOT / "benchmarks" / "data" / name)]
    searcher = get_searcher(settings)
    engine = fixed_engine(settings, extractive_choice(settings), searcher)
    idf = searcher.current().snapshot.bm25.idf
    encode = get_encoder(settings)
    ans = ExtractiveAnswerer(encode, extractive_weights(settings), idf=idf)
    corpus = " ".join(p.read_text(encoding="utf-8").lower() for p in docs.rglob("*.md"))
    gen = generate(seen, corpus, docs, lambda q: ans.specific_terms(q, 1))
    items = [{"id": q.id, "group": q.id, "question": q.question, "answerable": q.answerable, "kind": "seen",
              "split": q.split} for q in seen] + gen
    rows = []
    for n, it in enumerate(items):
        if n % 50 == 0:
            print(f"  {n}/{len(items)}", flush=True)
        q = it["question"]
        _, _, ps = engine.evidence(q, PUBLIC)
        row = dict(it)
        scored = ans.score(q, ps)
        if not scored:
            row.update(best=-1.0, empty=True)
            rows.append(row)
            continue
        picked = ans.select(q, ps, scored=scored)
        by_n = {p.n: p for p in ps}
        top = scored[0]
        quoted = "\n".join(s.unit.quote for s in picked)
        row["best"] = top.score
        row["cos"] = top.cosine
        row["type"] = float(answer_type_missing(q, quoted))
        o = _origin(by_n[top.unit.passage])
        other = [s.score for s in scored if _origin(by_n[s.unit.passage]) != o]
        row["gap"] = top.score - (other[0] if other else top.score - 0.3)
        tp = by_n[top.unit.passage]
        qv = encode([q])[0]
        pv = ans._embed([f"{tp.title}\n{tp.text}", f"{tp.title} — {top.unit.heading}"])
        row["pcos"], row["tcos"] = float(pv[0] @ qv), float(pv[1] @ qv)
        for scope in ("picked", "passage"):
            for cos in (0.0, 0.6):
                ans.weights.coverage_of, ans.weights.synonym_cos, ans.weights.missing_weight = scope, cos, 1.0
                row[f"missing@{scope}@{cos}"] = ans.features(q, ps, scored, picked)["missing"]
        ans.weights.synonym_cos = 0.6
        row["spec2@picked"] = ans.specific_missing(q, quoted) if picked else 1.0
        for scope in SCOPES:
            text = ans.focus_text(scored, picked, ps, scope)
            for k in (1, 2):
                row[f"focus{k}@{scope}"] = ans.focus_gap(q, text, k)
        row["focus_terms"] = ans.specific_terms(q, 2)
        ans.weights.normalise = True  # the same, with the question spelled as the sources spell it
        scored_n = ans.score(q, ps)
        picked_n = ans.select(q, ps, scored=scored_n)
        row["best_n"] = scored_n[0].score
        qn = normalise_question(q, ps, expand_chat)
        for scope in SCOPES:
            for k in (1, 2):
                row[f"focus{k}@{scope}_n"] = ans.focus_gap(qn, ans.focus_text(scored_n, picked_n, ps, scope), k)
        for cos in (0.0, 0.6):
            ans.weights.coverage_of, ans.weights.synonym_cos, ans.weights.missing_weight = "passage", cos, 1.0
            row[f"missing@passage@{cos}_n"] = ans.features(q, ps, scored_n, picked_n)["missing"]
        ans.weights.normalise = False
        rows.append(row)
    return rows


def policies():
    for cols in _policies():
        yield cols
        n = ["best_n"] + [c + "_n" if c.startswith(("focus", "missing@passage")) else c for c in cols[1:]]
        yield n


def _policies():
    yield ["best"]
    extras = [["focus1@top"], ["focus2@top"], ["focus1@picked"], ["focus2@picked"], ["focus1@passage"],
              ["focus2@passage"], ["missing@picked@0.6"], ["missing@passage@0.6"], ["missing@passage@0.0"],
              ["spec2@picked"], ["pcos"], ["tcos"], ["gap"], ["cos"]]
    for e in extras:
        yield ["best"] + e
    focus = ["focus1@top", "focus2@top", "focus1@picked", "focus2@picked", "focus1@passage", "focus2@passage"]
    for f, other in itertools.product(focus, ["pcos", "tcos", "gap", "missing@passage@0.6", "type", "cos"]):
        yield ["best", f, other]
    for f in focus:
        yield ["best", f, "pcos", "tcos"]
        yield ["best", f, "pcos", "gap"]
        yield ["best", f, "missing@passage@0.6", "pcos"]


def linear(X, y):
    coef, _ = fit(X, y)
    return -coef[1:] / coef[0]  # score = best − Σ w·signal


def score_of(X, w):
    return X[:, 0] - (X[:, 1:] @ w if len(w) else 0.0)


def matrix(rows, cols):
    return np.array([[r.get(c, -1.0 if c.startswith("best") else 1.0) for c in cols] for r in rows], dtype=float)


def folds(rows, k, seed):
    groups = sorted({r["group"] for r in rows})
    rng = random.Random(seed)
    rng.shuffle(groups)
    fold_of = {g: i % k for i, g in enumerate(groups)}
    return np.array([fold_of[r["group"]] for r in rows])


def fold_threshold(X, y, w, m, train_false):
    s = score_of(X[m], w)
    return threshold(list(s[y[m] == 1]), list(s[y[m] == 0]), train_false)


def cv(rows, cols, train_false, repeats, use_gen, thr_on="real", k=5):
    X = matrix(rows, cols)
    y = np.array([1 if r["answerable"] else 0 for r in rows])
    real = np.array([r["kind"] == "seen" for r in rows])
    tot = {"real": [0, 0, 0, 0], "gen": [0, 0, 0, 0]}  # abstained-unans, unans, abstained-ans, ans
    for rep in range(repeats):
        f = folds(rows, k, rep)
        for i in range(k):
            tr = (f != i) & (real | use_gen)
            te = f == i
            w = linear(X[tr], y[tr]) if X.shape[1] > 1 else np.zeros(0)
            t = fold_threshold(X, y, w, (f != i) & (real | (thr_on == "all")), train_false)
            s = score_of(X, w)
            for name, m in (("real", te & real), ("gen", te & ~real)):
                c = tot[name]
                c[0] += int(((s < t) & m & (y == 0)).sum()); c[1] += int((m & (y == 0)).sum())
                c[2] += int(((s < t) & m & (y == 1)).sum()); c[3] += int((m & (y == 1)).sum())
    return {n: (c[0] / max(1, c[1]), c[2] / max(1, c[3])) for n, c in tot.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="/tmp/answers/hb")
    ap.add_argument("--docs", default=str(ROOT.parent / "shared" / "data" / "docs" / "18f-handbook"))
    ap.add_argument("--signals", default=None, help="reuse signals written by --out")
    ap.add_argument("--out", default=None)
    ap.add_argument("--train-false", type=float, default=0.02)
    ap.add_argument("--max-false", type=float, default=0.03)
    ap.add_argument("--max-gen-false", type=float, default=-1.0,
                    help="bound on generated CV false abstention; default (-1): the current default policy's "
                         "(best sentence 0.562) false abstention on the generated answerable questions")
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    if args.signals:
        rows = json.loads(Path(args.signals).read_text())["rows"]
    else:
        rows = signals(args.data_dir, Path(args.docs))
        if args.out:
            Path(args.out).write_text(json.dumps({"rows": rows}, indent=1))
    from collections import Counter
    print("questions:", dict(Counter((r["kind"], r["answerable"]) for r in rows)))
    y = np.array([1 if r["answerable"] else 0 for r in rows])
    real = np.array([r["kind"] == "seen" for r in rows])
    out = []
    grid = [("real", args.train_false), ("all", args.train_false), ("all", 0.05), ("all", 0.08)]
    for cols, use_gen, (thr_on, train_false) in itertools.product(policies(), (False, True), grid):
        if thr_on == "all" and not use_gen:
            continue
        if True:
            res = cv(rows, cols, train_false, args.repeats, use_gen, thr_on)
            tr = real | use_gen
            X = matrix(rows, cols)
            w = linear(X[tr], y[tr]) if len(cols) > 1 else np.zeros(0)
            t = fold_threshold(X, y, w, real | (thr_on == "all"), train_false)
            out.append({"policy": " + ".join(cols), "train_on_generated": use_gen, "threshold_on": thr_on,
                        "train_false": train_false,
                        "real_cv_abstention": round(res["real"][0], 3), "real_cv_false": round(res["real"][1], 3),
                        "gen_cv_abstention": round(res["gen"][0], 3), "gen_cv_false": round(res["gen"][1], 3),
                        "weights": dict(zip(cols[1:], np.round(w, 3).tolist())), "abstain_below": round(float(t), 4)})
    base = np.array([r["best"] for r in rows])
    base_gen_false = float((base[~real & (y == 1)] < 0.562).mean())
    max_gen_false = base_gen_false if args.max_gen_false < 0 else args.max_gen_false
    print(f"rule: real CV false <= {args.max_false}, generated CV false <= {max_gen_false:.3f}")
    ok = [r for r in out if r["real_cv_false"] <= args.max_false and r["gen_cv_false"] <= max_gen_false]
    key = lambda r: (-(r["real_cv_abstention"] + r["gen_cv_abstention"]) / 2, r["real_cv_false"])  # noqa: E731
    for r in sorted(ok, key=key)[:25]:
        print("OK ", json.dumps(r))
    for r in sorted((r for r in out if r not in ok), key=key)[:10]:
        print("FAL", json.dumps(r))
    for r in out:
        if r["policy"] in ("best", "best_n"):
            print("BASE", json.dumps(r))
    for name, m in (("real", real), ("gen", ~real)):
        print(f"fixed default 0.562 on {name}: abstention {float((base[m & (y == 0)] < 0.562).mean()):.3f} "
              f"false {float((base[m & (y == 1)] < 0.562).mean()):.3f}")
    if ok:
        print("CHOSEN", json.dumps(sorted(ok, key=key)[0]))
    if args.out and not args.signals:
        Path(args.out).write_text(json.dumps({"rows": rows, "results": out}, indent=1))


if __name__ == "__main__":
    main()
