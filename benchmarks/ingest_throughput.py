"""Ingestion throughput on the shared data: messages/s (both Slack archives) and pages/s (18F handbook + format
samples), through the real service into a fresh SQLite database.

    .venv/bin/python benchmarks/ingest_throughput.py [--repeats 3]

Side by side: parse only (ingest.*, no cleaning/masking/database; documents also in CPU seconds, steadier than wall
time on a shared box), the full first run, and the idempotent re-run (every item unchanged, so only hashing and
comparing). A "page" is a PDF/PPTX/DOCX page, or one text document
(Markdown, HTML, text, CSV) — the unit a citation points at.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
SHARED = REPO.parent / "shared" / "data"
ARCHIVES = [SHARED / "slack" / "olake-community-export", SHARED / "slack" / "slack-export-viewer-testarchive.zip"]
DOC_ROOTS = [SHARED / "docs" / "18f-handbook", SHARED / "docs" / "format-samples"]


def fresh_settings(tmp: Path):
    from app.db import migrate
    from app.settings import load_settings
    s = load_settings(data_dir=tmp / "var", database_url=f"sqlite:///{tmp / 'bench.db'}")
    s.ensure_dirs()
    migrate(s.db_url)
    return s


def parse_only() -> tuple[int, int, float, float, float]:
    from ingest.documents import parse_document
    from ingest.slack_export import read_export
    from ingest.types import IngestError
    t0 = time.perf_counter()
    messages = sum(len(read_export(a).messages) for a in ARCHIVES)
    t_msgs = time.perf_counter() - t0
    t0, c0 = time.perf_counter(), time.process_time()
    pages = 0
    for root in DOC_ROOTS:
        for f in sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith(".")):
            try:
                pages += parse_document(f).pages or 1
            except IngestError:
                pass
    return messages, pages, t_msgs, time.perf_counter() - t0, time.process_time() - c0


def full_runs(tmp: Path) -> dict[str, float | int]:
    from app.services.ingestion import ingest_documents, ingest_slack_export
    settings = fresh_settings(tmp)
    out: dict[str, float | int] = {}
    for label in ("first", "rerun"):
        t0 = time.perf_counter()
        msgs = [ingest_slack_export(settings, a) for a in ARCHIVES]
        out[f"{label}_msg_s"] = time.perf_counter() - t0
        out["messages"] = sum(m.stats["messages"] for m in msgs)
        t0 = time.perf_counter()
        docs = ingest_documents(settings, DOC_ROOTS)
        out[f"{label}_doc_s"] = time.perf_counter() - t0
        if label == "first":
            out["pages"] = docs.stats["pages"]
            out["documents"] = docs.added
            out["rejected"] = docs.rejected
        else:
            assert docs.added == docs.updated == 0 and all(m.added == 0 for m in msgs), "re-run ingested again"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    parse_stats, runs = [], []
    for _ in range(args.repeats):
        parse_stats.append(parse_only())
        with tempfile.TemporaryDirectory() as tmp:
            runs.append(full_runs(Path(tmp)))
    messages, pages = parse_stats[0][0], parse_stats[0][1]
    med = lambda xs: statistics.median(xs)  # noqa: E731
    p_msg, p_doc = med([p[2] for p in parse_stats]), med([p[3] for p in parse_stats])
    f_msg, f_doc = med([r["first_msg_s"] for r in runs]), med([r["first_doc_s"] for r in runs])
    r_msg, r_doc = med([r["rerun_msg_s"] for r in runs]), med([r["rerun_doc_s"] for r in runs])
    print(f"{os.cpu_count()} CPUs, median of {args.repeats} runs, fresh SQLite database each run")
    print(f"Slack: {messages} messages from {len(ARCHIVES)} archives; documents: {runs[0]['documents']} ingested "
          f"({runs[0]['pages']} pages), {runs[0]['rejected']} rejected with reasons\n")
    print("| stage | messages/s | pages/s |")
    print("|---|---:|---:|")
    print(f"| parse only (ingest.*) | {messages / p_msg:,.0f} | {pages / p_doc:,.0f} |")
    print(f"| full first run (parse, clean, mask, dedupe, SQLite) | {messages / f_msg:,.0f} | "
          f"{runs[0]['pages'] / f_doc:,.0f} |")
    print(f"| idempotent re-run (all unchanged) | {messages / r_msg:,.0f} | {runs[0]['pages'] / r_doc:,.0f} |")
    cpu = med([p[4] for p in parse_stats])
    print(f"\ndocuments, parse only: {cpu:.2f} s of CPU ({pages / cpu:,.0f} pages per CPU-second; the wall-clock "
          f"figures above also count waiting for a core on a shared machine)")
    print(f"full run / parse only: messages {p_msg / f_msg:.2f}x, pages {p_doc / f_doc:.2f}x; "
          f"re-run / first run: messages {f_msg / r_msg:.1f}x faster, pages {f_doc / r_doc:.1f}x faster")


if __name__ == "__main__":
    main()
