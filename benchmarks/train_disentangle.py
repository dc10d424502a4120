"""Fit the reply-link model on the Ubuntu IRC disentanglement corpus (Kummerfeld et al. 2019).

train/ fits the weights (conditional logit over each message's candidates: itself + the 50 messages before it,
L-BFGS, L2), dev/ chooses the L2 strength and the bias of "starts a new conversation", test/ is only reported
(by benchmarks/dataset_disentangle.py). Writes ingest/datasets/replylink_model.json.

    nice .venv/bin/python benchmarks/train_disentangle.py            # ~2-4 min on 2 cores
Needs scikit-learn/scipy (the dev extra); inference in the package is numpy only.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from scipy.optimize import minimize

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
IRC = REPO.parent / "shared" / "data" / "disentanglement" / "ubuntu-irc"

from ingest.datasets.disentangle import score_clustering  # noqa: E402
from ingest.datasets.irc import read_split  # noqa: E402
from ingest.datasets.replylink import (FEATURES, MODEL_PATH, Candidates, ReplyLinkModel, components,  # noqa: E402
                                       to_records)

WINDOW = 50


def consecutive_gaps(logs):
    out = []
    for _, log in logs:
        ms = log.messages
        out += [b.time - a.time for a, b in zip(ms, ms[1:]) if 0 <= b.time - a.time < 3600]
    return out


def file_examples(log, pacer, window=WINDOW):
    """(list of (X, gold mask)) for every annotated message whose gold antecedent is a candidate."""
    lines = sorted(log.lines)
    pos = {ln: k for k, ln in enumerate(lines)}
    recs = to_records([log.lines[ln] for ln in lines])
    cand = Candidates(recs, window, time_scale=pacer.pace_scale(recs))
    parents: dict[int, set[int]] = {}
    for c, p in log.links:
        if c in pos and p in pos:
            parents.setdefault(pos[c], set()).add(pos[p])
    out = []
    for i, gold in parents.items():
        X, idx, _ = cand.for_message(i)
        mask = np.array([j in gold for j in idx])
        if mask.any():
            out.append((X, mask))
    return out


def stack(examples):
    X = np.concatenate([x for x, _ in examples]).astype(np.float64)
    gold = np.concatenate([m for _, m in examples])
    starts = np.cumsum([0] + [len(m) for _, m in examples[:-1]])
    return X, gold, starts


def fit(X, gold, starts, l2):
    sizes = np.diff(np.append(starts, len(X)))
    group = np.repeat(np.arange(len(starts)), sizes)

    def f(w):
        s = X @ w
        m = np.maximum.reduceat(s, starts)
        e = np.exp(s - m[group])
        z = np.add.reduceat(e, starts)
        eg = np.where(gold, e, 0.0)
        zg = np.add.reduceat(eg, starts)
        loss = np.sum(np.log(z) - np.log(zg)) + 0.5 * l2 * w @ w
        p = e / z[group]
        q = eg / zg[group]
        grad = X.T @ (p - q) + l2 * w
        return loss, grad

    res = minimize(f, np.zeros(X.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 200})
    return res.x


def prepare(logs, pacer, window=WINDOW):
    """Candidate features of every message of held-out logs, computed once for all settings tried."""
    out = []
    for name, log in logs:
        lines = sorted(log.lines)
        recs = to_records([log.lines[ln] for ln in lines])
        cand = Candidates(recs, window, time_scale=pacer.pace_scale(recs))
        rows = [cand.for_message(i) for i in range(len(recs))]
        far = [np.array([recs[i].time - recs[j].time > 3600.0 for j in idx]) for i, (_, idx, _) in enumerate(rows)]
        gold = log.gold()
        keep = [k for k, ln in enumerate(lines) if ln in gold]
        out.append((name, rows, far, [f"{name}:{gold[lines[k]]}" for k in keep], keep))
    return out


def evaluate(w, prepared, self_bias=0.0):
    per_file = []
    for name, rows, far, gold, keep in prepared:
        parents = []
        for (X, idx, evidence), f in zip(rows, far):
            s = X @ w
            s[0] += self_bias
            s[f & ~evidence] = -np.inf
            parents.append(idx[int(np.argmax(s))])
        labels = components(parents)
        per_file.append(score_clustering(gold, [labels[k] for k in keep]))
    return {k: round(float(np.mean([s[k] for s in per_file])), 4) for k in per_file[0]}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stride", type=int, default=3, help="use every N-th train file (a 42-weight linear model "
                    "needs far less than the 153 files; 3 keeps the 2-core machine usable)")
    ap.add_argument("--out", default=str(MODEL_PATH))
    args = ap.parse_args()
    t0 = time.perf_counter()
    train = read_split(IRC / "train")
    train = train[::args.stride]
    # the pace of the training channel: time gaps of a slower channel are scaled to it (ReplyLinkModel.pace_scale)
    pace = float(np.median(consecutive_gaps(train)))
    pacer = ReplyLinkModel(np.zeros(len(FEATURES), dtype=np.float32), reference_pace_s=pace)
    dev = prepare(read_split(IRC / "dev"), pacer)
    exs = [e for _, log in train for e in file_examples(log, pacer)]
    X, gold, starts = stack(exs)
    print(f"train: {len(train)} files, {len(exs)} messages, {len(X)} candidate pairs, "
          f"{time.perf_counter() - t0:.0f}s features", flush=True)
    best = None
    for l2 in (3.0, 30.0):
        w = fit(X, gold, starts, l2)
        for bias in (-1.0, -0.5, -0.25, 0.0, 0.25, 0.5, 1.0):
            r = evaluate(w, dev, bias)
            key = r["ari"] + r["f1"]
            print(f"l2={l2:6.1f} self_bias={bias:+.1f} dev {r}", flush=True)
            if best is None or key > best[0]:
                best = (key, l2, bias, w, r)
    _, l2, bias, w, r = best
    model = ReplyLinkModel(w.astype(np.float32), window=WINDOW, self_bias=bias, reference_pace_s=round(pace, 3),
                           meta=(("trained_on", f"ubuntu-irc train ({len(train)} files, {len(exs)} messages)"),
                                 ("l2", l2), ("chosen_on", "ubuntu-irc dev: max ARI + exact F1"),
                                 ("dev", json.dumps(r))))
    Path(args.out).write_text(json.dumps(model.to_dict(), indent=1) + "\n", encoding="utf-8")
    print(f"chosen l2={l2} self_bias={bias} dev={r}; wrote {args.out} in {time.perf_counter() - t0:.0f}s")
    for name, x in sorted(zip(FEATURES, w), key=lambda t: -abs(t[1])):
        print(f"  {name:22} {x:+.3f}")


if __name__ == "__main__":
    main()
