"""Masking recall per planted kind, precision per detector kind and decoy survival on the planted set.

    .venv/bin/python benchmarks/data/build_pii_labelled.py        # (re)build the planted set
    .venv/bin/python benchmarks/pii_masking.py --split report [--baseline-rev 4028c2f] [--show-errors]

`--split tune` is what the rules were tuned on; `--split report` is the held-out half the figures are quoted from.
An item counts as masked when every letter and digit of it lies inside a masked span (a JWT whose signature
survives is a miss); the placeholder class must match too for `kind ok`. A finding is a true positive when it
overlaps a planted item, else a false positive of its class. A decoy survives when no finding touches it.
`--baseline-rev` runs the ingest/pii.py of that git revision on the same rows (side-by-side comparison).
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest import pii  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "pii_labelled.jsonl"


def load_rows(split: str | None = None) -> list[dict]:
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [r for r in rows if split in (None, "all") or r["split"] == split]


def covered(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> bool:
    return all(any(s <= i < e for s, e in spans) for i in range(start, end) if text[i].isalnum())


def evaluate(rows: list[dict], find) -> dict:
    per_kind = defaultdict(lambda: {"n": 0, "masked": 0, "kind_ok": 0})
    per_class = defaultdict(lambda: {"tp": 0, "fp": 0})
    per_decoy = defaultdict(lambda: {"n": 0, "kept": 0})
    errors = []
    t0 = time.perf_counter()
    for r in rows:
        text = r["text"]
        found = find(text)
        spans = [(s, e) for _, s, e in found]
        item_spans = []
        for it in r["items"]:
            s = text.index(it["value"])
            e = s + len(it["value"])
            item_spans.append((s, e))
            k = per_kind[it["kind"]]
            k["n"] += 1
            if covered(text, s, e, spans):
                k["masked"] += 1
                if any(kind == it["mask"] and fs < e and s < fe for kind, fs, fe in found):
                    k["kind_ok"] += 1
            else:
                errors.append(("missed", it["kind"], it["value"], text))
        for kind, fs, fe in found:
            hit = any(fs < e and s < fe for s, e in item_spans)
            per_class[kind]["tp" if hit else "fp"] += 1
            if not hit:
                errors.append(("false positive", kind, text[fs:fe], text))
        for d in r["decoys"]:
            s = text.index(d["value"])
            e = s + len(d["value"])
            dk = per_decoy[d["kind"]]
            dk["n"] += 1
            if not any(fs < e and s < fe for _, fs, fe in found):
                dk["kept"] += 1
    elapsed = time.perf_counter() - t0
    n_items = sum(k["n"] for k in per_kind.values())
    n_decoys = sum(k["n"] for k in per_decoy.values())
    tp = sum(c["tp"] for c in per_class.values())
    fp = sum(c["fp"] for c in per_class.values())
    return {"per_kind": dict(per_kind), "per_class": dict(per_class), "per_decoy": dict(per_decoy),
            "recall": sum(k["masked"] for k in per_kind.values()) / n_items if n_items else float("nan"),
            "kind_accuracy": sum(k["kind_ok"] for k in per_kind.values()) / n_items if n_items else float("nan"),
            "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "decoys_kept": sum(k["kept"] for k in per_decoy.values()) / n_decoys if n_decoys else float("nan"),
            "items": n_items, "decoys": n_decoys, "seconds": elapsed, "errors": errors}


def finder(module):
    return lambda text: [(f.kind, f.start, f.end) for f in module.find_pii(text, module.ALL_KINDS)]


def module_at(rev: str):
    src = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:ingest/pii.py"], check=True,
                         capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "pii_baseline.py"
    path.write_text(src, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("pii_baseline", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["pii_baseline"] = mod
    spec.loader.exec_module(mod)
    return mod


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=["tune", "report", "all"], default="report")
    ap.add_argument("--baseline-rev", default=None, help="git revision of ingest/pii.py to compare with")
    ap.add_argument("--show-errors", action="store_true")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    rows = load_rows(args.split)
    ours = evaluate(rows, finder(pii))
    base = evaluate(rows, finder(module_at(args.baseline_rev))) if args.baseline_rev else None
    print(f"{DATA.name}, split={args.split}: {len(rows)} rows, {ours['items']} planted items of "
          f"{len(ours['per_kind'])} kinds, {ours['decoys']} decoys of {len(ours['per_decoy'])} kinds")
    b = f" | {args.baseline_rev} recall" if base else ""
    print(f"\n| planted kind | n | recall | placeholder class right{b} |")
    print("|---|---:|---:|---:|" + ("---:|" if base else ""))
    for kind in sorted(ours["per_kind"]):
        k = ours["per_kind"][kind]
        extra = ""
        if base:
            bk = base["per_kind"][kind]
            extra = f" | {bk['masked'] / bk['n']:.3f}"
        print(f"| {kind} | {k['n']} | {k['masked'] / k['n']:.3f} | {k['kind_ok'] / k['n']:.3f}{extra} |")
    print(f"| **all** | {ours['items']} | **{ours['recall']:.3f}** | {ours['kind_accuracy']:.3f}"
          + (f" | {base['recall']:.3f}" if base else "") + " |")
    print(f"\n| detector class | true positives | false positives | precision{' | baseline precision' if base else ''} |")
    print("|---|---:|---:|---:|" + ("---:|" if base else ""))
    for cls in sorted(set(ours["per_class"]) | set(base["per_class"] if base else [])):
        c = ours["per_class"].get(cls, {"tp": 0, "fp": 0})
        p = c["tp"] / (c["tp"] + c["fp"]) if c["tp"] + c["fp"] else float("nan")
        extra = ""
        if base:
            bc = base["per_class"].get(cls, {"tp": 0, "fp": 0})
            extra = f" | {bc['tp'] / (bc['tp'] + bc['fp']):.3f}" if bc["tp"] + bc["fp"] else " | –"
        print(f"| {cls} | {c['tp']} | {c['fp']} | {p:.3f}{extra} |")
    print(f"| **all** | | | **{ours['precision']:.3f}**" + (f" | {base['precision']:.3f}" if base else "") + " |")
    print(f"\n| decoy kind | n | kept intact{' | baseline kept' if base else ''} |")
    print("|---|---:|---:|" + ("---:|" if base else ""))
    for kind in sorted(ours["per_decoy"]):
        d = ours["per_decoy"][kind]
        extra = f" | {base['per_decoy'][kind]['kept'] / base['per_decoy'][kind]['n']:.3f}" if base else ""
        print(f"| {kind} | {d['n']} | {d['kept'] / d['n']:.3f}{extra} |")
    print(f"| **all** | {ours['decoys']} | **{ours['decoys_kept']:.3f}**"
          + (f" | {base['decoys_kept']:.3f}" if base else "") + " |")
    print(f"\ntime: {len(rows) / ours['seconds']:.0f} messages/s ({ours['seconds'] * 1000:.0f} ms for {len(rows)})")
    if args.show_errors:
        for e in ours["errors"]:
            print("  ", e[0], e[1], repr(e[2]), "<-", repr(e[3][:160]))
    if args.json:
        out = {k: v for k, v in ours.items() if k != "errors"}
        args.json.write_text(json.dumps(out, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
