"""Masking end to end, by default settings: plant the held-out half of the planted set into a copy of the OLake
export, run the product (ingest -> database -> chunks -> index -> search -> answers, and `dataset build`), and
count per kind what leaks and which decoys survive, in every place text ends up.

    .venv/bin/python benchmarks/pii_end_to_end.py [--split report] [--limit N]

Each planted row (benchmarks/data/pii_labelled.jsonl, `report` half by default — the rules were tuned on `tune`)
becomes a reply in one of the export's #help threads, tagged with a unique marker word so it can be found again.
A planted item counts for a place only where its message is found there (by the marker); it leaks when any
letter-and-digit run of it (>= 6 characters, or the whole value) is still there. A decoy is kept when its exact
text is still there. The copy lives in a temporary folder; nothing under ../shared is modified.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.pii_masking import load_rows  # noqa: E402

EXPORT = ROOT.parent / "shared" / "data" / "slack" / "olake-community-export"
PLACES = ("training data", "database (all columns)", "chunks", "index files", "search results", "answers")


def marker(i: int) -> str:
    letters = "abcdefghijklmnopqrstuvwxyz"
    return "plant" + letters[i // 676 % 26] + letters[i // 26 % 26] + letters[i % 26]


def plant(export: Path, rows: list[dict]) -> dict[str, dict]:
    """Append each row as a reply to a #help thread; returns marker -> row."""
    rnd = random.Random(7)
    days = sorted((export / "help").glob("*.json"))
    threads = []
    for day in days:
        for m in json.loads(day.read_text(encoding="utf-8")):
            if m.get("thread_ts") == m.get("ts") and m.get("user"):
                threads.append((day, m["ts"]))
    users = [u["id"] for u in json.loads((export / "users.json").read_text(encoding="utf-8")) if not u.get("is_bot")]
    by_day: dict[Path, list[dict]] = defaultdict(list)
    planted = {}
    for i, r in enumerate(rows):
        day, tts = rnd.choice(threads)
        mk = marker(i)
        ts = f"{float(tts) + 30 + i:.6f}"
        by_day[day].append({"type": "message", "user": rnd.choice(users), "ts": ts, "thread_ts": tts,
                            # as Slack writes it: &, < and > escaped (a literal "<x>" is not link markup)
                            "text": (f"{r['text']}\n(billing sync question {mk})").replace("&", "&amp;")
                            .replace("<", "&lt;").replace(">", "&gt;")})
        planted[mk] = r
    for day, extra in by_day.items():
        msgs = json.loads(day.read_text(encoding="utf-8")) + extra
        day.write_text(json.dumps(sorted(msgs, key=lambda m: float(m["ts"]))), encoding="utf-8")
    return planted


def _runs(value: str) -> list[str]:
    """What would still identify the value: its letter-and-digit runs of 6+ characters that carry a digit or are
    10+ long (`github` of `github_pat_…` or `example` of an address are not), else the whole value."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+", value) if len(p) >= 6 and (re.search(r"\d", p) or len(p) >= 10)]
    return parts or [value]


class Tally:
    def __init__(self) -> None:
        self.items = {p: defaultdict(lambda: [0, 0]) for p in PLACES}   # kind -> [present, leaked]
        self.decoys = {p: defaultdict(lambda: [0, 0]) for p in PLACES}  # kind -> [present, kept]
        self.leaks: list[tuple[str, str, str, str]] = []

    def check(self, place: str, text: str, planted: dict[str, dict], seen: set[str] | None = None) -> None:
        for mk in re.findall(r"plant[a-z]{3}", text):
            if mk not in planted or (seen is not None and mk in seen):
                continue
            if seen is not None:
                seen.add(mk)
            r = planted[mk]
            at = text.find(mk)
            window = text[max(0, at - 2000):at + 50]  # the planted message precedes its marker
            for it in r["items"]:
                c = self.items[place][it["kind"]]
                c[0] += 1
                hit = next((run for run in _runs(it["value"]) if run in window), None)
                c[1] += hit is not None
                if hit is not None:
                    at2 = window.find(hit)
                    self.leaks.append((place, it["kind"], it["value"], window[max(0, at2 - 80):at2 + 40]))
            for d in r["decoys"]:
                c = self.decoys[place][d["kind"]]
                c[0] += 1
                c[1] += d["value"] in window


def run(split: str, limit: int | None) -> tuple[Tally, dict]:
    from sqlalchemy import MetaData, create_engine, select

    from app.db import migrate, session_scope
    from app.db.models import Chunk
    from app.services.datasets import build_dataset
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_slack_export
    from app.settings import load_settings
    from app.wiring import extractive_choice, fixed_engine, searcher_for
    from retrieval.types import PUBLIC

    rows = load_rows(split)
    if limit:
        rows = random.Random(3).sample(rows, min(limit, len(rows)))
    tmp = Path(tempfile.mkdtemp(prefix="pii-e2e-"))
    info: dict = {"rows": len(rows), "tmp": str(tmp)}
    try:
        export = tmp / "export"
        shutil.copytree(EXPORT, export)
        planted = plant(export, rows)
        settings = load_settings(data_dir=tmp / "var", database_url=f"sqlite:///{tmp / 'var' / 'teamlore.db'}")
        settings.ensure_dirs()
        migrate(settings.db_url)
        t0 = time.perf_counter()
        summary = ingest_slack_export(settings, export, source_name="olake-planted")
        info["ingest_s"] = round(time.perf_counter() - t0, 1)
        info["masked_at_ingest"] = dict(summary.masked)
        t0 = time.perf_counter()
        sync_index(settings)
        info["index_s"] = round(time.perf_counter() - t0, 1)
        tally = Tally()
        # training data: every file of a fresh dataset build
        built = build_dataset(settings, name="pii-e2e", kinds=("chat", "qa"))
        seen: set[str] = set()
        for f in sorted(Path(built["path"]).rglob("*.jsonl")):
            for line in f.read_text(encoding="utf-8").splitlines():
                tally.check("training data", json.dumps(json.loads(line), ensure_ascii=False), planted, seen)
        info["dataset_version"] = built["version"]
        # every column of every table
        engine = create_engine(settings.db_url)
        meta = MetaData()
        meta.reflect(engine)
        seen = set()
        with engine.connect() as c:
            for table in meta.sorted_tables:
                for row in c.execute(select(table)):
                    text = " ".join(v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, default=str)
                                    for v in row)
                    tally.check("database (all columns)", text, planted, seen)
        engine.dispose()
        with session_scope(settings.db_url) as s:
            seen = set()
            for ch in s.scalars(select(Chunk)):
                tally.check("chunks", ch.text, planted, seen)
        # index files (vectors, BM25 vocabulary and postings, metadata) are not plain text in message order: every
        # planted message reached them through its chunk, so each planted value is looked for in all of them
        blob = "\n".join(f.read_bytes().decode("utf-8", errors="ignore") for f in sorted(settings.data_dir.rglob("*"))
                         if f.is_file() and not f.name.startswith("teamlore.db") and "datasets" not in f.parts)
        low = blob.lower()
        for mk, r in planted.items():
            for it in r["items"]:
                c = tally.items["index files"][it["kind"]]
                c[0] += 1
                runs = _runs(it["value"])
                hit = next((run for run in runs if run in blob or (len(run) >= 8 and run.lower() in low)), None)
                c[1] += hit is not None
                if hit is not None:
                    tally.leaks.append(("index files", it["kind"], it["value"], hit))
        # search and answers: ask about each planted message (its words, without the planted values)
        searcher = searcher_for(settings)
        answerer = fixed_engine(settings, extractive_choice(settings))
        seen_s: set[str] = set()
        seen_a: set[str] = set()
        t0 = time.perf_counter()
        for mk, r in planted.items():
            q = r["text"]
            for x in r["items"] + r["decoys"]:
                q = q.replace(x["value"], " ")
            q = " ".join(q.split()[:14]) + f" {mk}"
            hits = searcher.search(q, k=5, access=PUBLIC)
            tally.check("search results", " ".join(str(getattr(h, "text", h)) for h in hits), planted, seen_s)
            ans = answerer.answer(q, access=PUBLIC)
            tally.check("answers", ans.text + " " + " ".join(f"{c.snippet}" for c in ans.citations), planted, seen_a)
        info["queries_s"] = round(time.perf_counter() - t0, 1)
        return tally, info
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def report(tally: Tally, info: dict, show_leaks: bool = False) -> None:
    print(f"planted rows: {info['rows']}; ingest {info.get('ingest_s')} s, index {info.get('index_s')} s, "
          f"{info['rows']} searches + answers {info.get('queries_s')} s; masked at ingest: {info.get('masked_at_ingest')}")
    kinds = sorted({k for p in PLACES for k in tally.items[p]})
    print("\nrecall = planted items masked / planted items whose message reached that place (n)\n")
    print("| planted kind | " + " | ".join(PLACES) + " |")
    print("|---|" + "---:|" * len(PLACES))
    tot = {p: [0, 0] for p in PLACES}
    for k in kinds:
        cells = []
        for p in PLACES:
            n, leaked = tally.items[p].get(k, [0, 0])
            tot[p][0] += n
            tot[p][1] += leaked
            cells.append(f"{(n - leaked) / n:.3f} ({n})" if n else "–")
        print(f"| {k} | " + " | ".join(cells) + " |")
    print("| **all** | " + " | ".join(f"**{(n - l) / n:.3f}** ({n})" if n else "–" for n, l in tot.values()) + " |")
    print("\ndecoys kept intact / decoys whose message reached that place (n)\n")
    print("| decoy kind | " + " | ".join(PLACES) + " |")
    print("|---|" + "---:|" * len(PLACES))
    dkinds = sorted({k for p in PLACES for k in tally.decoys[p]})
    dtot = {p: [0, 0] for p in PLACES}
    for k in dkinds:
        cells = []
        for p in PLACES:
            n, kept = tally.decoys[p].get(k, [0, 0])
            dtot[p][0] += n
            dtot[p][1] += kept
            cells.append(f"{kept / n:.2f} ({n})" if n else "–")
        print(f"| {k} | " + " | ".join(cells) + " |")
    print("| **all** | " + " | ".join(f"**{k / n:.3f}** ({n})" if n else "–" for n, k in dtot.values()) + " |")
    print("\n(index files: vectors and BM25 postings hold no text in message order, so decoys are not counted there;"
          " planted values are searched in all of them)")
    if show_leaks:
        for place, kind, value, ctx in tally.leaks:
            print(f"  LEAK {place} {kind} {value!r}: {ctx!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["tune", "report", "all"], default="report")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--show-leaks", action="store_true")
    args = ap.parse_args()
    if not EXPORT.is_dir():
        sys.exit(f"OLake export missing: {EXPORT}")
    tally, info = run(args.split, args.limit)
    report(tally, info, args.show_leaks)


if __name__ == "__main__":
    main()
