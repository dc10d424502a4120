"""Answer selection: which message(s) answer a conversation's opening question — fit and held-out report.

    .venv/bin/python benchmarks/answer_selection.py --fit      # fit on the `fit` half, write ingest/datasets/answer_model.json
    .venv/bin/python benchmarks/answer_selection.py            # report on the `heldout` half (and the fit half)

Labels: tests/data/answer_selection_labels.jsonl — 210 real conversations (all 29 threads of the OLake community
export, 128 question-led conversations of the Ubuntu IRC disentanglement gold = connected components of its reply
links, and 53 gold conversations of train logs where a selector gave a pair, added in session 4), each labelled by
reading it: the ids of the messages that answer the opening question, or none, with the rule. The file stores message ids (Slack ts / IRC line numbers) only; the text is read from ../shared/data.
Reported: precision and recall of "this message is the answer" over all candidate messages, conversation-level
accuracy of answered/unanswered, and the same for two baselines the dataset builder used before: the last reply
and the longest reply (each picks exactly one message when anyone but the asker spoke).
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.cleaning import clean_text  # noqa: E402
from ingest.datasets import answers  # noqa: E402
from ingest.datasets.records import Msg  # noqa: E402
from ingest.datasets.text import content_words  # noqa: E402

LABELS = ROOT / "tests" / "data" / "answer_selection_labels.jsonl"
SHARED = ROOT.parent / "shared" / "data"
OLAKE = SHARED / "slack" / "olake-community-export"
IRC = SHARED / "disentanglement" / "ubuntu-irc"
IRC_LINE = re.compile(r"^\[[^\]]*\] <([^>]+)> ?(.*)$")


def load_labels() -> list[dict]:
    return [json.loads(line) for line in LABELS.read_text(encoding="utf-8").splitlines() if line.strip()]


def _olake_messages() -> dict[str, list[Msg]]:
    users = {u["id"]: (u.get("profile", {}).get("display_name") or u.get("real_name") or u.get("name") or u["id"])
             for u in json.loads((OLAKE / "users.json").read_text(encoding="utf-8"))}
    threads: dict[str, list[Msg]] = collections.defaultdict(list)
    for f in sorted(OLAKE.glob("*/*.json")):
        channel = f.parent.name
        for m in json.loads(f.read_text(encoding="utf-8")):
            if not m.get("thread_ts"):
                continue
            reactions = {r["name"]: list(r.get("users", [])) for r in m.get("reactions", []) or []}
            threads[f"{channel}/{m['thread_ts']}"].append(Msg(
                channel, str(m["ts"]), m.get("user"), clean_text(m.get("text") or "", users, {}),
                thread_ts=m["thread_ts"], user_name=users.get(m.get("user") or "", m.get("user")), reactions=reactions))
    return {k: sorted(v, key=lambda x: float(x.ts)) for k, v in threads.items()}


def _irc_file(name: str) -> list[str]:
    return (IRC / f"{name}.ascii.txt").read_text(encoding="utf-8", errors="replace").split("\n")


def irc_component(name: str, root: int) -> list[int]:
    """Lines of the conversation holding `root`: connected component of the gold reply links, system lines out."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for line in (IRC / f"{name}.annotation.txt").read_text(encoding="utf-8").splitlines():
        p = line.split()
        if len(p) >= 2:
            parent[find(int(p[0]))] = find(int(p[1]))
    lines = _irc_file(name)
    r = find(root)
    return sorted(x for x in parent if find(x) == r and x < len(lines) and IRC_LINE.match(lines[x]))


def conversations(labels: list[dict]) -> list[tuple[dict, list[Msg], str]]:
    """(label, messages, asker) for every labelled conversation."""
    olake = _olake_messages() if any(r["source"] == "olake" for r in labels) else {}
    files: dict[str, list[str]] = {}
    out = []
    for r in labels:
        if r["source"] == "olake":
            msgs = olake[r["conversation"]]
            assert [m.ts for m in msgs] == r["messages"], f"{r['conversation']}: export differs from the labels"
        else:
            lines = files.setdefault(r["file"], _irc_file(r["file"]))
            msgs = []
            for n in r["messages"]:
                nick, body = IRC_LINE.match(lines[n]).groups()
                msgs.append(Msg("irc", str(n), nick, body, user_name=nick))
        out.append((r, msgs, msgs[0].speaker))
    return out


def build_labels() -> None:
    """Write the labels file from the reading notes in /tmp/lab (used once, kept for the record)."""
    rows = []
    olake = _olake_messages()
    for line in Path("/tmp/lab/olake.txt").read_text(encoding="utf-8").splitlines():
        conv, ans, rule = line.split("|", 2)
        msgs = olake[conv]
        assert ans == "-" or set(ans.split(",")) <= {m.ts for m in msgs}, (conv, ans)
        rows.append({"source": "olake", "conversation": conv, "messages": [m.ts for m in msgs],
                     "answers": [] if ans == "-" else ans.split(","), "rule": rule})
    for line in Path("/tmp/lab/irc1.txt").read_text(encoding="utf-8").splitlines():
        name, root, ans, rule = line.split("|", 3)
        comp = irc_component(name, int(root))
        answers_ = [] if ans == "-" else [int(a) for a in ans.split(",")]
        assert comp[0] == int(root) and set(answers_) <= set(comp), (name, root, answers_)
        rows.append({"source": "ubuntu-irc", "conversation": f"{name}:{root}", "file": name, "messages": comp,
                     "answers": answers_, "rule": rule})
    import hashlib
    for src in ("olake", "ubuntu-irc"):
        mine = sorted((r for r in rows if r["source"] == src),
                      key=lambda r: hashlib.sha256(r["conversation"].encode()).hexdigest())
        for i, r in enumerate(mine):
            r["split"] = "fit" if i % 2 == 0 else "heldout"
    for r in rows:
        r["label"] = "answer" if r["answers"] else "no_answer"
    keys = ("source", "conversation", "file", "split", "label", "answers", "messages", "rule")
    LABELS.write_text("".join(json.dumps({k: r[k] for k in keys if k in r}, ensure_ascii=False) + "\n"
                              for r in rows), encoding="utf-8")
    print(f"{LABELS}: {len(rows)} conversations")


def _truth(r: dict, msgs: list[Msg]) -> set[int]:
    ids = [str(a) for a in r["answers"]]
    return {i for i, m in enumerate(msgs) if m.ts in ids}


def evaluate(convs, pick) -> dict:
    tp = fp = fn = 0
    conv_ok = 0
    answered_ok = unanswered_ok = answered_n = unanswered_n = 0
    for r, msgs, asker in convs:
        truth = _truth(r, msgs)
        got = set(pick(msgs, asker))
        tp += len(truth & got)
        fp += len(got - truth)
        fn += len(truth - got)
        if truth:
            answered_n += 1
            answered_ok += bool(got & truth) and not (got - truth)
        else:
            unanswered_n += 1
            unanswered_ok += not got
    p = tp / (tp + fp) if tp + fp else float("nan")
    best_ok = best_n = 0
    for r, msgs, asker in convs:
        got = pick(msgs, asker)
        if got:
            best_n += 1
            best_ok += got[0] in _truth(r, msgs)  # pickers return the best-first order
    covered = sum(1 for r, msgs, asker in convs if _truth(r, msgs) and pick(msgs, asker))
    rec = tp / (tp + fn) if tp + fn else float("nan")
    return {"precision": p, "recall": rec, "f1": 2 * p * rec / (p + rec) if p + rec else 0.0,
            "f05": 1.25 * p * rec / (0.25 * p + rec) if p + rec and p == p else 0.0, "tp": tp, "fp": fp,
            "fn": fn, "best_precision": best_ok / max(1, best_n), "picked": best_n,
            "coverage": covered / max(1, sum(1 for r, m, a in convs if _truth(r, m))), "answered_exact": answered_ok / max(1, answered_n), "unanswered_abstained":
            unanswered_ok / max(1, unanswered_n), "conversations": len(convs), "answered": answered_n,
            "unanswered": unanswered_n}


def ranked(msgs, asker, model):
    """The selected answers, best first (for the best-pick metric)."""
    scores = answers.answer_scores(msgs, asker, model)
    return sorted(answers.select_answers(msgs, asker, model), key=lambda i: -scores[i])


def last_reply(msgs, asker):
    c = answers.candidates(msgs, asker)
    return c[-1:]


def longest_reply(msgs, asker):
    c = answers.candidates(msgs, asker)
    return [max(c, key=lambda i: len(content_words(msgs[i].text)))] if c else []


def _weights(convs) -> dict[str, float]:
    rows, ys = [], []
    for r, msgs, asker in convs:
        truth = _truth(r, msgs)
        q_end = answers.question_end(msgs, asker)
        for i in answers.candidates(msgs, asker):
            f = answers.features(msgs, i, asker, q_end)
            if answers.non_answer_reason(f) is None:  # the rules decide the others
                rows.append(f)
                ys.append(int(i in truth))
    return answers.fit_logistic(rows, ys)


def pair_precision(convs, pick) -> tuple[float, int]:
    """Share of the conversations given a Q&A pair whose every answer message is a labelled answer (and how many
    conversations give one): what a person reading the training file sees."""
    given = ok = 0
    for r, msgs, asker in convs:
        got = set(pick(msgs, asker))
        if got:
            given += 1
            ok += got <= _truth(r, msgs)
    return (ok / given if given else float("nan")), given


PAIR_PRECISION_TARGET = 0.9


def fit(convs, folds: int = 4) -> answers.AnswerModel:
    """Weights on the whole fit half; both thresholds chosen on out-of-fold scores (each conversation scored by
    weights fitted without it), so they are not flattered by scoring the examples the weights were fitted on.
    threshold: the message threshold that maximises F1 of "this message is the answer" (what a message is).
    pair_threshold: the lowest bar at which the Q&A pairs (messages scoring above it, or confirmed by the asker)
    reach PAIR_PRECISION_TARGET pair precision; the builder emits only those (precision over recall: a wrong answer
    in the training data does harm, a conversation left out only costs one example)."""
    fold_of = {r["conversation"]: k % folds for k, (r, _, _) in enumerate(convs)}
    fold_w = {k: _weights([c for c in convs if fold_of[c[0]["conversation"]] != k]) for k in range(folds)}

    def oof(t: float):
        def pick(msgs, asker, _cache={}):
            r = next(c[0] for c in convs if c[1] is msgs)
            model = answers.AnswerModel(fold_w[fold_of[r["conversation"]]], t)
            return answers.select_answers(msgs, asker, model)
        return pick

    grid = [x / 100 for x in range(20, 96)]
    best = max(grid, key=lambda t: (round(evaluate(convs, oof(t))["f1"], 4), -abs(t - 0.5)))
    def oof_pairs(t: float):
        def pick(msgs, asker):
            r = next(c[0] for c in convs if c[1] is msgs)
            model = answers.AnswerModel(fold_w[fold_of[r["conversation"]]], best, t)
            return answers.resolving_answers(msgs, asker, model, threaded=r["source"] == "olake")
        return pick

    pair = next((t for t in grid if t >= best and pair_precision(convs, oof_pairs(t))[0] >= PAIR_PRECISION_TARGET),
                None)
    if pair is None:  # never reached: the bar with the best pair precision
        pair = max((t for t in grid if t >= best), key=lambda t: (round(pair_precision(convs, oof_pairs(t))[0], 4), -t))
    return answers.AnswerModel(_weights(convs), best, pair)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--fit", action="store_true", help="fit on the fit half and write the model artefact")
    ap.add_argument("--build-labels", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--show", action="store_true", help="print the mistakes (of the halves reported)")
    ap.add_argument("--only", choices=("fit", "heldout"), help="report one half only (tune with --only fit: the "
                    "held-out half is read once, at the end)")
    args = ap.parse_args()
    if args.build_labels:
        build_labels()
        return
    if not OLAKE.is_dir() or not IRC.is_dir():
        sys.exit(f"shared data missing: {OLAKE} / {IRC}")
    labels = load_labels()
    convs = conversations(labels)
    fit_half = [c for c in convs if c[0]["split"] == "fit"]
    held = [c for c in convs if c[0]["split"] == "heldout"]
    if args.fit:
        model = fit(fit_half)
        answers.MODEL_PATH.write_text(json.dumps({
            "weights": model.weights, "threshold": model.threshold, "pair_threshold": model.pair_threshold,
            "fitted_on": f"{LABELS.relative_to(ROOT)} split=fit ({len(fit_half)} conversations)",
            "command": "benchmarks/answer_selection.py --fit"}, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        answers.default_model.cache_clear()
        print(f"wrote {answers.MODEL_PATH} (threshold {model.threshold}, pair threshold {model.pair_threshold})")
    model = answers.default_model()
    print(f"{LABELS.name}: {len(convs)} conversations ({sum(r['source'] == 'olake' for r, _, _ in convs)} OLake threads, "
          f"{sum(r['source'] != 'olake' for r, _, _ in convs)} Ubuntu IRC); fit {len(fit_half)}, held-out {len(held)}")
    print("\n| split | selector | message precision | message recall | F1 | best pick is an answer | answered convs with a pick | unanswered convs abstained |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    halves = [(n, p) for n, p, key in (("held-out", held, "heldout"), ("fit", fit_half, "fit"))
              if args.only in (None, key)]
    for name, part in halves:
        for sel_name, pick in (("ingest.datasets.answers (learned)", lambda m, a: ranked(m, a, model)),
                               ("last reply (baseline)", last_reply), ("longest reply (baseline)", longest_reply)):
            r = evaluate(part, pick)
            print(f"| {name} | {sel_name} | {r['precision']:.3f} | {r['recall']:.3f} | {r['f1']:.3f} | "
                  f"{r['best_precision']:.3f} ({r['picked']}) | {r['coverage']:.3f} ({r['answered']}) | "
                  f"{r['unanswered_abstained']:.3f} ({r['unanswered']}) |")
    print("\n| split | Q&A pairs from | pair precision (every answer message is a labelled answer) | pairs given | answered convs |")
    print("|---|---|---:|---:|---:|")
    for name, part in halves:
        threaded = {id(m): r["source"] == "olake" for r, m, a in part}  # OLake: threads; IRC: a flat channel
        for sel_name, pick in (("resolving_answers (pair threshold)",
                                lambda m, a: answers.resolving_answers(m, a, model, threaded=threaded[id(m)])),
                               ("select_answers (message threshold)", lambda m, a: answers.select_answers(m, a, model)),
                               ("last reply (baseline)", last_reply), ("longest reply (baseline)", longest_reply)):
            pp, given = pair_precision(part, pick)
            print(f"| {name} | {sel_name} | {pp:.3f} | {given} | {sum(1 for r, m, a in part if _truth(r, m))} |")
    for (name, half), src in ((h, s) for h in halves for s in ("olake", "ubuntu-irc")):
        part = [c for c in half if c[0]["source"] == src]
        r = evaluate(part, lambda m, a: answers.select_answers(m, a, model))
        print(f"\n{name} {src}: precision {r['precision']:.3f} recall {r['recall']:.3f} "
              f"({r['tp']} tp, {r['fp']} fp, {r['fn']} fn over {len(part)} conversations)")
    if args.show:
        for r, msgs, asker in [c for _, h in halves for c in h]:
            truth = _truth(r, msgs)
            got = set(answers.select_answers(msgs, asker, model))
            if truth != got:
                print(f"\n{r['conversation']}: truth {sorted(msgs[i].ts for i in truth)} got {sorted(msgs[i].ts for i in got)}")


if __name__ == "__main__":
    main()
