"""Recall and precision of PII / secret detection per kind on benchmarks/data/pii_labelled.jsonl.

    .venv/bin/python benchmarks/pii_masking.py [--show-errors]

Compares `ingest.pii` (detect-secrets detectors + phonenumbers + validated rules) with a naive regex baseline of
the kind people write by hand (any e-mail-ish, any 7+ digit run as a phone, any 13-19 digit run as a card, any
dotted quad, any long random-looking token as a secret). A finding counts as a true positive when its kind
matches the row's label and it overlaps the labelled span; every other finding is a false positive of its kind.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from ingest.pii import ALL_KINDS, find_pii  # noqa: E402

DATA = Path(__file__).resolve().parent / "data" / "pii_labelled.jsonl"
KINDS = ["email", "phone", "credit_card", "ip", "secret"]

NAIVE = {
    "email": re.compile(r"\S+@\S+"),
    "phone": re.compile(r"\+?\(?\d[\d\s().-]{6,}\d"),
    "credit_card": re.compile(r"\b(?:\d[ -]?){13,19}\b"),
    "ip": re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}\b|\b[0-9a-fA-F:]*::[0-9a-fA-F:]+\b"),
    "secret": re.compile(r"\b[A-Za-z0-9_\-]{20,}\b|-----BEGIN[^-]+-----"),
}


def naive_find(text: str):
    found = []
    for kind in ["secret", "email", "credit_card", "ip", "phone"]:  # earlier kinds claim the span first
        for m in NAIVE[kind].finditer(text):
            if all(m.end() <= s or m.start() >= e for _, s, e in found):
                found.append((kind, m.start(), m.end()))
    return found


def ours_find(text: str):
    return [(f.kind, f.start, f.end) for f in find_pii(text, ALL_KINDS)]


def evaluate(rows, finder):
    tp = {k: 0 for k in KINDS}
    fp = {k: 0 for k in KINDS}
    positives = {k: 0 for k in KINDS}
    errors = []
    t0 = time.perf_counter()
    for r in rows:
        found = finder(r["text"])
        hit = False
        if r["kind"]:
            positives[r["kind"]] += 1
            s = r["text"].index(r["value"])
            e = s + len(r["value"])
        for kind, fs, fe in found:
            if r["kind"] == kind and fs < e and s < fe and not hit:
                tp[kind] += 1
                hit = True
            else:
                fp[kind] += 1
                errors.append(("FP", kind, r["note"], r["text"][fs:fe]))
        if r["kind"] and not hit:
            errors.append(("FN", r["kind"], r["note"], r["value"]))
    elapsed = time.perf_counter() - t0
    table = {}
    for k in KINDS:
        recall = tp[k] / positives[k] if positives[k] else float("nan")
        precision = tp[k] / (tp[k] + fp[k]) if tp[k] + fp[k] else float("nan")
        table[k] = dict(positives=positives[k], tp=tp[k], fp=fp[k], recall=recall, precision=precision)
    all_tp, all_fp, all_pos = sum(tp.values()), sum(fp.values()), sum(positives.values())
    table["all"] = dict(positives=all_pos, tp=all_tp, fp=all_fp, recall=all_tp / all_pos,
                        precision=all_tp / (all_tp + all_fp) if all_tp + all_fp else float("nan"))
    negatives = [r for r in rows if not r["kind"]]
    clean = sum(1 for r in negatives if not finder(r["text"]))
    return table, errors, elapsed, clean / len(negatives)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--show-errors", action="store_true")
    args = ap.parse_args()
    rows = [json.loads(line) for line in DATA.read_text(encoding="utf-8").splitlines() if line.strip()]
    n_pos = sum(1 for r in rows if r["kind"])
    print(f"{DATA.name}: {n_pos} positives, {len(rows) - n_pos} negatives")
    ours, ours_err, ours_s, ours_clean = evaluate(rows, ours_find)
    naive, naive_err, naive_s, naive_clean = evaluate(rows, naive_find)
    print("\n| kind | positives | ingest.pii recall | ingest.pii precision | naive recall | naive precision |")
    print("|---|---:|---:|---:|---:|---:|")
    for k in KINDS + ["all"]:
        o, n = ours[k], naive[k]
        print(f"| {k} | {o['positives']} | {o['recall']:.3f} | {o['precision']:.3f} | {n['recall']:.3f} | "
              f"{n['precision']:.3f} |")
    print(f"\nnegatives left untouched: ingest.pii {ours_clean:.3f}, naive {naive_clean:.3f}")
    print(f"time for {len(rows)} strings: ingest.pii {ours_s * 1000:.0f} ms ({len(rows) / ours_s:.0f} strings/s), "
          f"naive {naive_s * 1000:.1f} ms")
    print(f"precision ratio (all kinds) ingest.pii / naive: {ours['all']['precision'] / naive['all']['precision']:.2f}x; "
          f"recall ratio: {ours['all']['recall'] / naive['all']['recall']:.2f}x")
    if args.show_errors:
        print("\ningest.pii errors:")
        for e in ours_err:
            print("  ", e)


if __name__ == "__main__":
    main()
