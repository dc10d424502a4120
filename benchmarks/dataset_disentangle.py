"""Disentanglement quality where the truth is known.

Threaded channels are flattened (thread structure hidden: every message becomes a top-level message in time
order) and `ingest.datasets.disentangle` must recover the threads. Gold conversation of a message = its thread
(thread_ts), or itself when it is not in a thread. In the sample workspace's #engineering the un-threaded,
interleaved exchanges have hand-made gold labels (sample/slack/engineering_conversations.json).

Metrics: adjusted Rand index (sklearn) over message labels; exact-conversation F1 (a predicted conversation
counts when its message set equals a gold one), over all conversations and over those with ≥ 2 messages.
Baselines: every message alone; a new conversation after 10 minutes of silence.

    .venv/bin/python benchmarks/dataset_disentangle.py
"""
from __future__ import annotations

import json
import time

from dataset_common import OLAKE, SAMPLE, SAMPLE_GOLD, load_export
from sklearn.metrics import adjusted_rand_score

from ingest.datasets.conversations import usable
from ingest.datasets.disentangle import disentangle, exact_conversation_f1, time_gap_baseline


def flattened(snapshot, channel_names, gold_override=None):
    """(messages without thread info, gold labels) for the named channels, one channel at a time."""
    out = []
    ids = {c.channel_id: c.name for c in snapshot.channels if c.name in channel_names}
    for cid, name in ids.items():
        msgs = sorted((m for m in snapshot.messages if m.channel_id == cid and not usable(m)), key=lambda m: m.time)
        gold = []
        for m in msgs:
            g = (gold_override or {}).get(m.ts) or m.thread_ts or m.ts
            gold.append(g)
        flat = [type(m)(**{**m.__dict__, "thread_ts": None}) for m in msgs]
        out.append((name, flat, gold))
    return out


def evaluate(name, flat, gold):
    rows = {}
    t = time.perf_counter()
    ours = disentangle(flat)
    secs = time.perf_counter() - t
    for method, pred in [("singletons", list(range(len(flat)))), ("time_gap_10min", time_gap_baseline(flat)),
                         ("teamlore", ours)]:
        rows[method] = {"ari": round(adjusted_rand_score(gold, pred), 3),
                        "f1": round(exact_conversation_f1(gold, pred)["f1"], 3),
                        "f1_multi": round(exact_conversation_f1(gold, pred, min_size=2)["f1"], 3)}
    multi = exact_conversation_f1(gold, gold, min_size=2)["gold"]
    return {"dataset": name, "messages": len(flat), "gold_conversations": len(set(gold)),
            "gold_multi_message": multi, "seconds": round(secs, 4), "methods": rows}


def main():
    results = []
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
    # pooled over all sets: per-message weighted ARI, conversation-pooled F1 figures are per set above
    print(f"{'dataset':44} {'msgs':>5} {'conv':>5} {'multi':>5}  {'method':15} {'ARI':>6} {'F1':>6} {'F1≥2':>6}")
    for r in results:
        for method, m in r["methods"].items():
            print(f"{r['dataset']:44} {r['messages']:5d} {r['gold_conversations']:5d} {r['gold_multi_message']:5d}  "
                  f"{method:15} {m['ari']:6.3f} {m['f1']:6.3f} {m['f1_multi']:6.3f}")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
