"""Disentanglement quality where the truth is known, beside a 10-minute time-gap rule scored the same way.

1. Ubuntu IRC test split (Kummerfeld et al. 2019, `../shared/data/disentanglement/ubuntu-irc/test`, 10 files):
   human reply links, a conversation = a connected component; scored on the annotated lines (system lines left
   out). The model was fitted on train/ and its settings chosen on dev/ (benchmarks/train_disentangle.py);
   test was not looked at for any choice.
2. Slack threads with the thread structure hidden: every threaded channel of the OLake export
   (`../shared/data/slack/olake-community-export`) and the sample workspace is flattened (`thread_ts` removed,
   every message top-level in time order; bot and system messages left out as the builder does) and
   `ingest.datasets.disentangle` must recover the threads. Gold conversation = the thread, or the message alone.
   The sample's #engineering also has hand-made gold for its un-threaded, interleaved exchanges.

Scorer (`ingest.datasets.disentangle.score_clustering`): adjusted Rand index, exact-conversation F1 (all
conversations, and those of ≥ 2 messages), one-to-one overlap. IRC figures are the mean over the 10 files.

    nice .venv/bin/python benchmarks/dataset_disentangle.py [--json out.json] [--model earlier_model.json]
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
from dataset_common import OLAKE, SAMPLE, SAMPLE_GOLD, SHARED, load_export

from ingest.datasets.conversations import usable
from ingest.datasets.disentangle import LinkWeights, disentangle, score_clustering, time_gap_baseline
from ingest.datasets.irc import read_split

IRC_TEST = SHARED / "disentanglement" / "ubuntu-irc" / "test"
METRICS = ("ari", "f1", "f1_multi", "one_to_one")
WEIGHTS = LinkWeights()  # --model: another model file (an earlier one, run beside in the same session)


def flattened(snapshot, channel_names, gold_override=None):
    """(messages without thread info, gold labels) for the named channels, one channel at a time."""
    out = []
    ids = {c.channel_id: c.name for c in snapshot.channels if c.name in channel_names}
    for cid, name in ids.items():
        msgs = sorted((m for m in snapshot.messages if m.channel_id == cid and not usable(m)), key=lambda m: m.time)
        gold = [(gold_override or {}).get(m.ts) or m.thread_ts or m.ts for m in msgs]
        flat = [type(m)(**{**m.__dict__, "thread_ts": None}) for m in msgs]
        out.append((name, flat, gold))
    return out


def methods(flat):
    t = time.perf_counter()
    ours = disentangle(flat, WEIGHTS)
    secs = time.perf_counter() - t
    return {"time_gap_10min": time_gap_baseline(flat), "teamlore": ours}, secs


def evaluate(name, flat, gold):
    preds, secs = methods(flat)
    rows = {k: {m: round(v, 3) for m, v in score_clustering(gold, p).items()} for k, p in preds.items()}
    return {"dataset": name, "messages": len(flat), "gold_conversations": len(set(gold)),
            "gold_multi_message": sum(1 for g in set(gold) if gold.count(g) > 1), "seconds": round(secs, 3),
            "methods": rows}


def irc_test():
    per_file = []
    secs = 0.0
    n = 0
    for name, log in read_split(IRC_TEST):
        lines = sorted(log.lines)
        msgs = [log.lines[ln] for ln in lines]
        preds, s = methods(msgs)
        secs += s
        gold = log.gold()
        keep = [k for k, ln in enumerate(lines) if ln in gold]
        n += len(keep)
        g = [gold[lines[k]] for k in keep]
        per_file.append({k: score_clustering(g, [p[i] for i in keep]) for k, p in preds.items()})
    rows = {k: {m: round(float(np.mean([f[k][m] for f in per_file])), 3) for m in METRICS} for k in per_file[0]}
    return {"dataset": f"ubuntu-irc test ({len(per_file)} files, mean)", "messages": n, "gold_conversations": None,
            "gold_multi_message": None, "seconds": round(secs, 3), "methods": rows}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--model", default=None, help="another model file (default: the shipped one)")
    args = ap.parse_args()
    global WEIGHTS
    WEIGHTS = LinkWeights(model_path=args.model)
    results = []
    if IRC_TEST.is_dir():
        results.append(irc_test())
    if OLAKE.is_dir():
        olake = load_export(OLAKE)
        threaded = sorted({c.name for c in olake.channels
                           if any(m.thread_ts and m.channel_id == c.channel_id for m in olake.messages)})
        for name, flat, gold in flattened(olake, threaded):
            if len(set(gold)) < len(gold):  # at least one thread
                results.append(evaluate(f"olake #{name}", flat, gold))
    sample = load_export(SAMPLE)
    for name, flat, gold in flattened(sample, {"hr-help"}):
        results.append(evaluate(f"sample #{name} (threads)", flat, gold))
    gold_eng = {ts: c["conversation"] for c in json.loads(SAMPLE_GOLD.read_text())["conversations"] for ts in c["ts"]}
    for name, flat, gold in flattened(sample, {"engineering"}, gold_eng):
        results.append(evaluate(f"sample #{name} (threads + interleaved)", flat, gold))
        keep = [i for i, m in enumerate(flat) if m.ts in gold_eng]
        results.append(evaluate(f"sample #{name} (interleaved only)", [flat[i] for i in keep],
                                [gold[i] for i in keep]))
    print(f"{'dataset':44} {'msgs':>5}  {'method':15} {'ARI':>6} {'F1':>6} {'F1≥2':>6} {'1-1':>6}")
    for r in results:
        for method, m in r["methods"].items():
            print(f"{r['dataset']:44} {r['messages']:5d}  {method:15} {m['ari']:6.3f} {m['f1']:6.3f} "
                  f"{m['f1_multi']:6.3f} {m['one_to_one']:6.3f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
