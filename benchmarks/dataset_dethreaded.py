"""End to end on an un-threaded channel whose truth is known: the OLake export with every `thread_ts` removed
(as if nobody had used threads), built into a dataset by `ingest.datasets.build.build`, once with the reply-link
disentangler and once with the 10-minute time-gap rule in its place, and the examples checked against the
hidden threads:

- conversations: how many, the largest, the longest span of silence inside one (hours);
- Q&A pairs whose question and answer come from the same (hidden) thread;
- examples whose opening user turn repeats another example's in the same training file (`train.jsonl`);
- share of examples in the test split; example count.

    nice .venv/bin/python benchmarks/dataset_dethreaded.py
"""
from __future__ import annotations

import dataclasses
import json
import tempfile
from collections import Counter
from pathlib import Path

from dataset_common import OLAKE, load_export

import ingest.datasets.conversations as conv_mod
from ingest.datasets.build import BuildOptions, build
from ingest.datasets.disentangle import disentangle, time_gap_baseline
from ingest.datasets.formats import read_jsonl


def run(snapshot, gold_thread, method):
    conv_mod.disentangle = (lambda msgs, w=None: time_gap_baseline(msgs)) if method == "time_gap_10min" \
        else disentangle
    try:
        with tempfile.TemporaryDirectory() as tmp:
            res = build(snapshot, BuildOptions(name=f"dethreaded-{method}"), Path(tmp))
            rows = {f.name: read_jsonl(f) for f in res.path.glob("*.jsonl")}
            text = [r for n, rs in rows.items() if n.startswith("text.") for r in rs]
    finally:
        conv_mod.disentangle = disentangle
    qa = [r for n, rs in rows.items() if n.startswith("qa.") for r in rs]
    same = 0
    for r in qa:
        ts = r["meta"]["source_ts"]
        question, answer = ts[0], ts[-1]
        same += gold_thread[(r["meta"]["channel_id"], question)] == gold_thread[(r["meta"]["channel_id"], answer)]
    train = rows.get("train.jsonl", [])
    openers = Counter(next(t["content"] for t in r["messages"] if t["role"] == "user") for r in train)
    repeated = sum(n for n in openers.values() if n > 1)
    by_split = Counter(r["meta"]["split"] for n, rs in rows.items() if n in ("train.jsonl", "validation.jsonl",
                                                                            "test.jsonl") for r in rs)
    sizes = [len(r["meta"]["source_ts"]) for r in text]
    silences = [max((float(b) - float(a) for a, b in zip(r["meta"]["source_ts"], r["meta"]["source_ts"][1:])),
                    default=0.0) / 3600 for r in text]
    total = sum(by_split.values())
    return {"method": method, "conversations": res.stats["conversations"]["total"],
            "largest_conversation": max(sizes, default=0), "longest_silence_h": round(max(silences, default=0), 1),
            "qa_pairs": len(qa), "qa_same_thread": round(same / len(qa), 3) if qa else None,
            "train_examples": len(train), "train_repeated_openers": repeated,
            "examples_mix": total, "test_share": round(by_split["test"] / total, 3) if total else None}


def main():
    snap = load_export(OLAKE)
    gold = {(m.channel_id, m.ts): m.thread_ts or m.ts for m in snap.messages}
    flat = dataclasses.replace(snap, messages=[dataclasses.replace(m, thread_ts=None) for m in snap.messages])
    rows = [run(flat, gold, "time_gap_10min"), run(flat, gold, "teamlore")]
    keys = list(rows[0])
    print(" | ".join(keys))
    for r in rows:
        print(" | ".join(str(r[k]) for k in keys))
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
