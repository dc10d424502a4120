"""Disentanglement on channels shaped like real un-threaded Slack help channels, beside the time-gap rule.

The hidden gold set of issue #20 (five un-threaded Slack channels of open-source communities, 2017-2019) is far
sparser than the Ubuntu IRC corpus: there a plain 10-minute time-gap rule already scores ARI 0.770 (exact F1
0.249), on IRC 0.074. Nobody on the team has that data, so these proxies stand in for it:

1. **Re-timed IRC channels.** The human-annotated conversations of one IRC split (a conversation = a connected
   component of the gold reply links) are laid out again on a slower clock: each conversation starts after an
   exponential pause (mean `arrival`), and the gaps inside it are stretched by `stretch` (Slack helpers answer in
   minutes, not IRC's seconds). Conversations still overlap when they run long; speakers, text and the order inside
   a conversation are real. Five channel shapes (`CHANNELS`) span the density of the hidden set: the 10-minute
   rule scores ARI ≈ 0.5-0.85 on them. A second variant, **"no addressing"**, strips the leading `nick:` address
   from every IRC line (Slack users @-mention far less than IRC users address by nick), so the model must do
   without its strongest cue. `dev/` builds the tune channels, `test/` the report channels (disjoint
   conversations, disjoint days).
   **Calibrated help channels** (`HELP_CHANNELS`, session 4): on the shapes above the 10-minute rule's ARI and F1
   move together (ARI 0.77 comes with F1 ≈ 0.45), while on the hidden set it gets ARI 0.770 with F1 only 0.249:
   big conversations kept whole, many small ones cut. A wait before each conversation's first answer (a question
   sits until a helper turns up) and a per-conversation pace reproduce that; the three shapes are chosen on dev/
   so that the 10-minute rule lands near 0.77 / 0.25 there (`--set help`).
2. **Slack threads hidden** (OLake community export, sample workspace): every threaded channel flattened in time
   order, gold = the thread (or the message alone). Each channel is cut in two halves by time: the first half
   tunes the time-gap baseline's gap, the second half is reported.
3. **Unlabelled un-threaded Slack** (`slack-export-viewer-testarchive.zip`, two channels, no threads, so no gold):
   only the shape of the output — conversations, the largest, and links across more than an hour of silence
   without reply evidence (must be 0).

Baselines scored by the same scorer: the 10-minute time-gap rule, and the time-gap rule with the gap that scores
best (ARI + exact F1) on the tune data (IRC dev channels; the first half of each Slack channel).

    nice .venv/bin/python benchmarks/disentangle_proxies.py [--split dev|test|both] [--set classic|help|all]
        [--gaps 5,15,30] [--no-slack] [--json out.json]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import time
import zipfile
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np
from dataset_common import OLAKE, SAMPLE, SAMPLE_GOLD, SHARED, load_export

from ingest.datasets.conversations import usable
from ingest.datasets.disentangle import LinkWeights, disentangle, score_clustering, time_gap_baseline
from ingest.datasets.irc import irc_conversations, retimed_channel, strip_address
from ingest.datasets.records import Msg
from ingest.datasets.replylink import load_model, to_records

IRC = SHARED / "disentanglement" / "ubuntu-irc"
TESTARCHIVE = SHARED / "slack" / "slack-export-viewer-testarchive.zip"
# (name, stretch of the gaps inside a conversation, mean pause between conversation starts in seconds)
CHANNELS = (("busy", 3.0, 1800.0), ("steady", 5.0, 7200.0), ("quiet", 5.0, 21600.0),
            ("slow-replies", 10.0, 14400.0), ("very-slow", 20.0, 43200.0))
# Calibrated help-channel shapes (2026-12-07, session 4): (name, stretch range, mean pause between conversation
# starts in s, mean wait for the first answer in s). Chosen on IRC dev/ conversations only so that the 10-minute
# rule lands where it does on the hidden set (ARI 0.770 / exact F1 0.249). Grid on dev (3 layouts each): pause
# 30 min-4 h × stretch 1-3 … 1-30 × answer wait 10-45 min; without the answer wait no shape gets F1 under 0.4 at
# ARI 0.77 (there ARI and F1 of the rule move together). The three kept, 10-min rule on dev (6 other layouts
# each, mean ± sd): ARI / F1 0.774 ± 0.029 / 0.289, 0.739 ± 0.026 / 0.274, 0.782 ± 0.016 / 0.310. BENCHMARKS.md.
HELP_CHANNELS = (("help-fast", (1.0, 3.0), 3600.0, 1800.0), ("help-mixed", (1.0, 10.0), 7200.0, 2700.0),
                 ("help-slow", (1.0, 10.0), 14400.0, 2700.0))
HELP_SEEDS = 2  # channels per shape and variant (a dev channel holds only 2,321 messages)
GAPS_MIN = (2, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180)
METRICS = ("ari", "f1", "f1_multi", "one_to_one")


def irc_proxies(split: str) -> list[tuple[str, list[Msg], list[int]]]:
    convs = irc_conversations(IRC / split)
    out = []
    for variant, cs in (("", convs), (" no-addressing", strip_address(convs))):
        for k, (name, stretch, arrival) in enumerate(CHANNELS):
            msgs, gold = retimed_channel(cs, stretch, arrival, seed=1000 * k + (split == "test"))
            out.append((f"irc-{split} {name}{variant}", msgs, gold))
    return out


def help_proxies(split: str) -> list[tuple[str, list[Msg], list[int]]]:
    """The calibrated help-channel proxies of one IRC split: each shape of HELP_CHANNELS, with and without the
    leading `nick:` address, HELP_SEEDS layouts each."""
    convs = irc_conversations(IRC / split)
    out = []
    for variant, cs in (("", convs), (" no-addressing", strip_address(convs))):
        for k, (name, (lo, hi), arrival, wait) in enumerate(HELP_CHANNELS):
            for seed in range(HELP_SEEDS):
                msgs, gold = retimed_channel(cs, lo, arrival, seed=50_000 + 100 * k + 10 * seed + (split == "test"),
                                             stretch_max=hi, answer_wait_s=wait)
                out.append((f"irc-{split} {name}#{seed}{variant}", msgs, gold))
    return out


def flattened_halves(snapshot, label: str, gold_override: dict | None = None
                     ) -> list[tuple[str, list[Msg], list[str], list[Msg], list[str]]]:
    """(channel, tune-half messages, gold, report-half messages, gold) for each threaded channel, thread info
    removed; bots and system messages left out as the builder does. Halves split at the median time.
    `gold_override` (ts -> conversation) is hand-made gold for un-threaded exchanges (sample #engineering)."""
    out = []
    for c in snapshot.channels:
        msgs = sorted((m for m in snapshot.messages if m.channel_id == c.channel_id and not usable(m)),
                      key=lambda m: m.time)
        gold = [(gold_override or {}).get(m.ts) or m.thread_ts or m.ts for m in msgs]
        if len(set(gold)) == len(gold) or len(msgs) < 20:
            continue
        flat = [dataclasses.replace(m, thread_ts=None) for m in msgs]
        h = len(flat) // 2
        out.append((f"{label} #{c.name}", flat[:h], gold[:h], flat[h:], gold[h:]))
    return out


def long_unsupported_links(msgs: list[Msg], labels: list[int], hours: float = 1.0) -> tuple[int, float]:
    """(messages that continue their conversation after more than `hours` of silence in it with no mention either
    way — the message naming someone who spoke in the conversation, or the conversation naming its speaker —,
    longest such silence in hours). A check on unlabelled channels: with the model's evidence rule only a strong
    lexical link (tf-idf cosine ≥ 0.35) can leave this above 0."""
    recs = to_records(msgs)
    order = sorted(range(len(msgs)), key=lambda i: msgs[i].time)
    last: dict[int, int] = {}
    seen_speakers: dict[int, set[str]] = {}
    named: dict[int, set[str]] = {}
    bad, longest = 0, 0.0
    for i in order:
        lab = labels[i]
        if lab in last:
            gap_h = (msgs[i].time - msgs[last[lab]].time) / 3600
            if gap_h > hours and not (recs[i].mentions & seen_speakers[lab]) and recs[i].speaker not in named[lab]:
                bad += 1
                longest = max(longest, gap_h)
        last[lab] = i
        seen_speakers.setdefault(lab, set()).add(recs[i].speaker)
        named.setdefault(lab, set()).update(recs[i].mentions)
    return bad, round(longest, 1)


def score(gold, msgs, weights: LinkWeights | None, gap_s: float, extra_gaps_min=()) -> dict[str, dict[str, float]]:
    t = time.perf_counter()
    ours = disentangle(msgs, weights)
    secs = time.perf_counter() - t
    rows = {"time_gap_10min": score_clustering(gold, time_gap_baseline(msgs, 600.0)),
            f"time_gap_best({gap_s / 60:.0f}min)": score_clustering(gold, time_gap_baseline(msgs, gap_s))}
    rows |= {f"time_gap_{g:g}min": score_clustering(gold, time_gap_baseline(msgs, 60.0 * g))
             for g in extra_gaps_min if g != 10}
    rows["teamlore"] = score_clustering(gold, ours)
    out = {k: {m: round(float(v[m]), 3) for m in METRICS} for k, v in rows.items()}
    out["teamlore"]["seconds"] = round(secs, 2)
    out["teamlore"]["conversations"] = len(set(ours))
    out["teamlore"]["largest"] = int(max(np.bincount(ours))) if ours else 0
    return out


def best_gap(sets: list[tuple[list[Msg], list]]) -> float:
    """The time-gap rule's gap (seconds) with the best mean ARI + exact F1 over the tune sets."""
    def key(g):
        return np.mean([sum(score_clustering(gold, time_gap_baseline(m, g * 60.0))[k] for k in ("ari", "f1"))
                        for m, gold in sets])
    return 60.0 * max(GAPS_MIN, key=key)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--split", choices=("dev", "test", "both"), default="both",
                    help="dev = the tune channels only (use while choosing settings); test = report")
    ap.add_argument("--self-bias", type=float, default=None)
    ap.add_argument("--model", default=None, help="another model file (default: the shipped one)")
    ap.add_argument("--pace", choices=("dense", "slack"), default=None,
                    help="force one weight set (default: chosen by each channel's pace)")
    ap.add_argument("--decode", choices=("link", "conversation"), default=None,
                    help="force the decoding (default: the model's)")
    ap.add_argument("--evidence-gap", type=float, default=None, help="seconds (default: LinkWeights')")
    ap.add_argument("--set", choices=("classic", "help", "all"), default="all",
                    help="classic = the five shapes of session 3 (CHANNELS); help = the shapes calibrated so that "
                         "the 10-minute rule scores there as on the hidden set (HELP_CHANNELS)")
    ap.add_argument("--gaps", default="", help="more time-gap rules to score, minutes, comma-separated")
    ap.add_argument("--no-slack", action="store_true", help="IRC proxies only (skip the Slack exports)")
    ap.add_argument("--json")
    args = ap.parse_args()
    extra = tuple(float(g) for g in args.gaps.split(",") if g)

    def proxies(split):
        return (irc_proxies(split) if args.set in ("classic", "all") else []) + \
            (help_proxies(split) if args.set in ("help", "all") else [])
    weights = LinkWeights(self_bias=args.self_bias, model_path=args.model, pace=args.pace, decode=args.decode)
    if args.evidence_gap is not None:
        weights = dataclasses.replace(weights, evidence_gap_s=args.evidence_gap)
    load_model(args.model)
    results = []
    dev = proxies("dev")
    gap_irc = best_gap([(m, g) for _, m, g in dev])
    print(f"time-gap rule: best gap on the IRC dev channels {gap_irc / 60:.0f} min", flush=True)
    splits = ("dev", "test") if args.split == "both" else (args.split,)
    for split in splits:
        for name, msgs, gold in (dev if split == "dev" else proxies("test")):
            results.append({"set": name, "role": "tune" if split == "dev" else "report", "messages": len(msgs),
                            "gold_conversations": len(set(gold)),
                            "methods": score(gold, msgs, weights, gap_irc, extra)})
            print(json.dumps(results[-1]), flush=True)
    if "test" in splits and not args.no_slack:
        slack = []
        if OLAKE.is_dir():
            slack += flattened_halves(load_export(OLAKE), "olake")
        gold_eng = {ts: c["conversation"] for c in json.loads(SAMPLE_GOLD.read_text())["conversations"]
                    for ts in c["ts"]}
        slack += flattened_halves(load_export(SAMPLE), "sample", gold_eng)
        for name, tm, tg, rm, rg in slack:
            g = best_gap([(tm, tg)])
            results.append({"set": f"{name} (2nd half)", "role": "report", "messages": len(rm),
                            "gold_conversations": len(set(rg)), "methods": score(rg, rm, weights, g)})
            bad, longest = long_unsupported_links(rm, disentangle(rm, weights))
            results[-1]["methods"]["teamlore"] |= {"links_over_1h_without_mention": bad, "longest_such_h": longest}
            print(json.dumps(results[-1]), flush=True)
        if TESTARCHIVE.is_file():
            with TemporaryDirectory() as tmp:
                zipfile.ZipFile(TESTARCHIVE).extractall(tmp)
                snap = load_export(Path(tmp))
            for c in snap.channels:
                msgs = sorted((m for m in snap.messages if m.channel_id == c.channel_id and not usable(m)),
                              key=lambda m: m.time)
                if len(msgs) < 20:
                    continue
                labels = disentangle(msgs, weights)
                bad, longest = long_unsupported_links(msgs, labels)
                results.append({"set": f"testarchive #{c.name} (no gold)", "role": "shape", "messages": len(msgs),
                                "conversations": len(set(labels)), "largest": int(max(np.bincount(labels))),
                                "time_gap_10min_conversations": len(set(time_gap_baseline(msgs))),
                                "links_over_1h_without_mention": bad, "longest_such_h": longest})
                print(json.dumps(results[-1]), flush=True)
    print(f"\n{'set':42} {'role':6} {'msgs':>5}  {'method':22} {'ARI':>6} {'F1':>6} {'F1≥2':>6} {'1-1':>6}")
    for r in results:
        for method, m in r.get("methods", {}).items():
            print(f"{r['set']:42} {r['role']:6} {r['messages']:5d}  {method:22} {m['ari']:6.3f} {m['f1']:6.3f} "
                  f"{m['f1_multi']:6.3f} {m['one_to_one']:6.3f}")
    for role in ("tune", "report"):
        for kind, test in (("classic", lambda n: " help-" not in n), ("help", lambda n: " help-" in n)):
            rows = [r for r in results if r["role"] == role and r["set"].startswith("irc") and test(r["set"])]
            if rows:
                for method in rows[0]["methods"]:
                    print(f"IRC {kind} proxies {role} mean {method:22} " + " ".join(
                        f"{k}={np.mean([r['methods'][method][k] for r in rows]):.3f}" for k in METRICS))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
