"""Dataset build throughput on the sample workspace and the olake community export.

The exports are parsed and cleaned by the real ingestion code (not timed), then `ingest.datasets.build.build`
runs end to end: conversations + disentanglement, examples, masking, quality, near-duplicates, files, report
plots. "cold" is the first build in the process (langdetect profiles and matplotlib load); "warm" repeats it
under another dataset name (a new version, so nothing is reused). Median of `--repeat` warm runs.

    .venv/bin/python benchmarks/dataset_build.py [--repeat 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from dataset_common import OLAKE, SAMPLE, load_export

from ingest.datasets.build import BuildOptions, build


def run(name: str, snapshot, repeat: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        first = build(snapshot, BuildOptions(name=f"{name}-cold"), Path(tmp))
        cold = time.perf_counter() - t
        warm = []
        for i in range(repeat):
            t = time.perf_counter()
            build(snapshot, BuildOptions(name=f"{name}-warm{i}"), Path(tmp))
            warm.append(time.perf_counter() - t)
    st = first.stats
    msgs, exs = st["inputs"]["messages"], st["examples"]["total"]
    w = statistics.median(warm)
    return {"dataset": name, "messages": msgs, "conversations": st["conversations"]["total"], "examples": exs,
            "cold_s": round(cold, 2), "warm_s": round(w, 2),
            "cold_messages_per_s": round(msgs / cold, 1), "warm_messages_per_s": round(msgs / w, 1),
            "cold_examples_per_s": round(exs / cold, 1), "warm_examples_per_s": round(exs / w, 1)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rows = [run("sample acme-export", load_export(SAMPLE), args.repeat),
            run("olake community export", load_export(OLAKE), args.repeat)]
    for r in rows:
        print(f"{r['dataset']:24} {r['messages']:5d} msgs {r['examples']:4d} examples | cold {r['cold_s']:5.2f} s "
              f"({r['cold_messages_per_s']} msg/s, {r['cold_examples_per_s']} ex/s) | warm {r['warm_s']:5.2f} s "
              f"({r['warm_messages_per_s']} msg/s, {r['warm_examples_per_s']} ex/s)")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
