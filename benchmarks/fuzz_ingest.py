"""Fuzz the Slack export parser and the document loaders for minutes (hypothesis-driven; see
tests/reliability/fuzzing.py for the inputs). Pass: no exception other than IngestError, no input over 10 s.

    .venv/bin/python benchmarks/fuzz_ingest.py slack --minutes 10 --out var/fuzz_slack.json
    .venv/bin/python benchmarks/fuzz_ingest.py documents --minutes 10 --out var/fuzz_documents.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from benchmarks.report import write_json  # noqa: E402
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.reliability.fuzzing import run_documents, run_slack  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("target", choices=["slack", "documents"])
    ap.add_argument("--minutes", type=float, default=10)
    ap.add_argument("--out", type=Path, help="write the JSON report here too")
    args = ap.parse_args()
    t0 = time.time()
    stats = (run_slack if args.target == "slack" else run_documents)(args.minutes * 60)
    report = {"target": args.target, "minutes": round((time.time() - t0) / 60, 2), **stats.summary(),
              "examples_per_s": round(stats.examples / max(1e-9, time.time() - t0), 1)}
    print(json.dumps(report, indent=2))
    if args.out:
        write_json(args.out, report)
    return 1 if stats.crashes or stats.slow else 0


if __name__ == "__main__":
    sys.exit(main())
