"""Blind read of two dataset builds' Q&A pairs (BENCHMARKS.md, "Resolving-answer selection", session 5 protocol).

    # 1. pool: N pairs of each build (seeded), pooled, shuffled, shown without id/channel/split/build
    .venv/bin/python benchmarks/dataset_blind.py pool --build main=/tmp/p5/main/<v> --build branch=/tmp/p5/branch/<v> \\
        --out /tmp/p5/blind          # writes blind.md (to read) and key.json (not to read before the verdicts)
    # 2. the reader writes verdicts.txt: `<item number> good|bad <why>`, one a line
    # 3. unblind: % good per build, plus the mechanical checks of each build
    .venv/bin/python benchmarks/dataset_blind.py unblind --out /tmp/p5/blind --verdicts verdicts.txt

Pairs with a question or response message inside a conversation labelled in tests/data/answer_selection_labels.jsonl
(read by an earlier session) are left out of the sample before anything is shown. A pair whose question and
response text are the same in both builds is shown once and its verdict counts for both.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.dataset_review import IRC_ROOT, qa_pairs  # noqa: E402
from ingest.datasets.formats import read_jsonl  # noqa: E402
from ingest.datasets.irc import read_log  # noqa: E402

LABELS = ROOT / "tests" / "data" / "answer_selection_labels.jsonl"


def labelled_lines() -> dict[str, set[int]]:
    """IRC log stem (`2004-11-15_03.ascii`) -> line numbers of the labelled conversations' messages."""
    out: dict[str, set[int]] = {}
    for line in LABELS.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if r.get("source") == "ubuntu-irc" and r.get("file"):
            out.setdefault(Path(r["file"]).name + ".ascii", set()).update(int(x) for x in r["messages"])
    return out


def ts_to_line(channels: set[str]) -> dict[tuple[str, str], int]:
    out = {}
    for ch in channels:
        for d in ("train", "dev", "test"):
            p = IRC_ROOT / d / f"{ch}.txt"
            if p.is_file():
                out.update({(ch, m.ts): no for no, m in read_log(p).lines.items()})
    return out


def eligible(pairs: list[dict]) -> tuple[list[dict], int]:
    seen = labelled_lines()
    lines = ts_to_line({p["meta"]["channel"] for p in pairs})
    keep = [p for p in pairs
            if not any(lines.get((p["meta"]["channel"], ts)) in seen.get(p["meta"]["channel"], ()) for ts in p["meta"]["source_ts"])]
    return keep, len(pairs) - len(keep)


def _text(p: dict, role: str) -> str:
    return "\n\n".join(t["content"] for t in p["messages"] if t["role"] == role)


def checks(folder: Path) -> dict:
    """Yield, a question repeated within one training file, test-split shares."""
    out: dict = {"qa_pairs": len(qa_pairs(folder))}
    per_file = {}
    for f in sorted(folder.glob("*.jsonl")):
        rows = [r for r in read_jsonl(f) if isinstance(r, dict) and "messages" in r]
        if not rows:
            continue
        firsts = Counter(re.sub(r"\s+", " ", next((t["content"] for t in r["messages"] if t["role"] == "user"), ""))
                         for r in rows)
        per_file[f.name] = sum(c - 1 for c in firsts.values() if c > 1)
    out["repeated_questions_per_file"] = {k: v for k, v in per_file.items() if v}
    splits = Counter()
    qa_splits = Counter()
    for f in folder.glob("*.jsonl"):
        for r in read_jsonl(f):
            if isinstance(r, dict) and "meta" in r and r["meta"].get("split") and f.name.startswith(("chat.", "qa.")):
                splits[r["meta"]["split"]] += 1
                if f.name.startswith("qa."):
                    qa_splits[r["meta"]["split"]] += 1
    out["examples_by_split"] = dict(splits)
    out["qa_by_split"] = dict(qa_splits)
    out["test_share"] = round(splits["test"] / max(1, sum(splits.values())), 3)
    return out


def pool(builds: dict[str, Path], out: Path, n: int, seed: str, shuffle_seed: str) -> None:
    items: dict[tuple[str, str], dict] = {}
    info = {}
    for name, folder in builds.items():
        keep, dropped = eligible(qa_pairs(folder))
        chosen = random.Random(seed).sample(keep, min(n, len(keep)))
        info[name] = {"folder": str(folder), "pairs": len(keep) + dropped, "in_labelled": dropped,
                      "eligible": len(keep), "sampled": len(chosen)}
        for p in chosen:
            key = (_text(p, "user"), _text(p, "assistant"))
            items.setdefault(key, {"question": key[0], "response": key[1], "from": {}})["from"][name] = p["id"]
    rows = list(items.values())
    random.Random(shuffle_seed).shuffle(rows)
    out.mkdir(parents=True, exist_ok=True)
    md = [f"# {len(rows)} Q&A pairs, blind\n"]
    for i, r in enumerate(rows, 1):
        md.append(f"## {i}\n\n**Question**\n\n" + "\n".join("> " + x for x in r["question"][:1500].splitlines())
                  + "\n\n**Response**\n\n" + "\n".join("> " + x for x in r["response"][:1500].splitlines()) + "\n")
    (out / "blind.md").write_text("\n".join(md), encoding="utf-8")
    (out / "key.json").write_text(json.dumps({"builds": info, "items": [r["from"] for r in rows]}, indent=1),
                                  encoding="utf-8")
    print(json.dumps(info, indent=1))
    print(f"{len(rows)} items -> {out / 'blind.md'}")


def unblind(out: Path, verdicts: Path) -> None:
    key = json.loads((out / "key.json").read_text(encoding="utf-8"))
    v = {}
    for line in verdicts.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            no, verdict, *why = line.split(maxsplit=2)
            v[int(no)] = (verdict == "good", why[0] if why else "")
    missing = [i for i in range(1, len(key["items"]) + 1) if i not in v]
    if missing:
        sys.exit(f"no verdict for items {missing}")
    for name, info in key["builds"].items():
        got = [(i, v[i]) for i, src in enumerate(key["items"], 1) if name in src]
        good = sum(ok for _, (ok, _) in got)
        print(f"{name}: {good}/{len(got)} good = {good / max(1, len(got)):.0%}  {json.dumps(info)}")
        print("  checks:", json.dumps(checks(Path(info["folder"]))))
        for i, (ok, why) in got:
            if not ok:
                print(f"  bad #{i}: {why}")


def main() -> None:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pool")
    p.add_argument("--build", action="append", required=True, help="name=version folder")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--n", type=int, default=40)
    p.add_argument("--seed", default="pairs5-final")
    p.add_argument("--shuffle-seed", default="pairs5-blind")
    u = sub.add_parser("unblind")
    u.add_argument("--out", type=Path, required=True)
    u.add_argument("--verdicts", type=Path, required=True)
    args = ap.parse_args()
    if args.cmd == "pool":
        pool({b.split("=", 1)[0]: Path(b.split("=", 1)[1]) for b in args.build}, args.out, args.n, args.seed,
             args.shuffle_seed)
    else:
        unblind(args.out, args.verdicts)


if __name__ == "__main__":
    main()
