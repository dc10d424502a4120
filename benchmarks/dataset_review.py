"""Review a dataset build by reading it: N random Q&A pairs of a built version, drawn with a seed you choose.

    # sample 30 Q&A pairs of a version built by `teamlore dataset build` (markdown on stdout)
    .venv/bin/python benchmarks/dataset_review.py --dataset var/datasets/<version> --seed report-1
    # build from Ubuntu IRC logs the answer selector never saw (random train/ files of the disentanglement corpus,
    # read as un-threaded channels) and sample its Q&A pairs
    .venv/bin/python benchmarks/dataset_review.py --irc-files 6 --seed report-1 --not-from tune-1 tune-2 --out /tmp/irc
    # every dev/ and test/ log (the session-5 measure; never used for pair tuning)
    .venv/bin/python benchmarks/dataset_review.py --irc-dir dev test --irc-files 20 --seed pairs5 --out /tmp/irc-dt
    # record a reader's verdicts (lines `<example id> good|bad <why>`): prints % good and writes them as the
    # version's reviews (reviews.jsonl: accepted/rejected in the dataset report; rejected ones are left out of
    # training)
    .venv/bin/python benchmarks/dataset_review.py --dataset DIR --verdicts verdicts.txt

The seed is yours, not the version's (`review_sample.md` in the version folder is seeded by the version): draw the
sample you report with a seed you did not look at while changing the builder.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ingest.datasets.build import BuildOptions, WorkspaceSnapshot, build  # noqa: E402
from ingest.datasets.formats import read_jsonl  # noqa: E402
from ingest.datasets.irc import read_log  # noqa: E402
from ingest.datasets.records import Channel  # noqa: E402

IRC_ROOT = ROOT.parent / "shared" / "data" / "disentanglement" / "ubuntu-irc"
IRC_TRAIN = IRC_ROOT / "train"


def qa_pairs(folder: Path) -> list[dict]:
    """Every Q&A pair of a version (all splits), in file order."""
    out = []
    for p in sorted(folder.glob("qa.*.jsonl")):
        out.extend(read_jsonl(p))
    return out


def sample(folder: Path, seed: str, n: int) -> list[dict]:
    pairs = qa_pairs(folder)
    return random.Random(seed).sample(pairs, min(n, len(pairs)))


def markdown(rows: list[dict], title: str) -> str:
    out = [f"# {title}\n"]
    for i, r in enumerate(rows, 1):
        meta = r["meta"]
        link = meta["permalinks"][0] if meta["permalinks"] else "(no permalink)"
        out.append(f"## {i}. `{r['id']}` · #{meta['channel']} · {meta['split']} · {link}\n")
        for turn in r["messages"]:
            label = "Question" if turn["role"] == "user" else "Response"
            out.append(f"**{label}**\n\n" + "\n".join("> " + line for line in turn["content"][:1500].splitlines())
                       + "\n")
    return "\n".join(out)


def built_from(folder: Path) -> set[str]:
    """The IRC logs an earlier review build (a version folder, or a folder holding versions) was made from."""
    out: set[str] = set()
    for man in [folder / "manifest.json"] if (folder / "manifest.json").is_file() else folder.glob("*/manifest.json"):
        source = json.loads(man.read_text(encoding="utf-8")).get("inputs", {}).get("source") or ""
        out |= {n.strip() + ".txt" for n in source.split(": ", 1)[-1].split(",") if n.strip()}
    return out


def irc_logs(files: int, seed: str, not_from: list[str] = (), dirs: list[str] = ("train",)) -> list[Path]:
    """`files` random train logs (by seed), none of those the seeds in `not_from` chose (with as many files). An
    entry of `not_from` that is a folder (an earlier build's --out) excludes exactly the logs that build read — a
    seed alone names only the logs it draws with no exclusions of its own; an entry that is a file lists log names
    (benchmarks/irc_logs_read.txt: every log read in a review so far). `dirs`: the corpus folders to draw from
    (train/ by default; dev/ and test/ were kept for the session-5 measure)."""
    logs = sorted(p for d in dirs for p in (IRC_ROOT / d).glob("*.ascii.txt"))
    if not logs:
        sys.exit(f"missing {IRC_ROOT} / {dirs}")
    listed = [Path(o) for o in not_from if Path(o).is_file()]  # a list of log names, one a line
    used = {p for other in not_from if not Path(other).exists()
            for p in random.Random(other).sample(logs, min(files, len(logs)))}
    names = set().union(*(built_from(Path(o)) for o in not_from if Path(o).is_dir()))
    names |= {n.strip() for f in listed for n in f.read_text(encoding="utf-8").splitlines()
              if n.strip() and not n.startswith("#")}
    used |= {p for p in logs if p.name in names}
    rest = [p for p in logs if p not in used]
    return random.Random(seed).sample(rest, min(files, len(rest)))


def irc_build(files: int, seed: str, out: Path, not_from: list[str] = (), dirs: list[str] = ("train",)) -> Path:
    chosen = irc_logs(files, seed, not_from, dirs)
    channels, messages = [], []
    for p in chosen:
        cid = p.stem  # read_log names the channel so
        channels.append(Channel(cid, cid))
        messages.extend(read_log(p).messages)
    snap = WorkspaceSnapshot(channels, [], messages, source=f"Ubuntu IRC {'/'.join(dirs)} logs: {', '.join(c.name for c in channels)}")
    result = build(snap, BuildOptions(name=f"irc-review-{seed}"), out)
    print(f"built {result.path} from {len(messages)} messages in {len(channels)} logs: "
          f"{json.dumps(result.stats['examples']['by_kind_split'])}", file=sys.stderr)
    return result.path


def record_verdicts(folder: Path, path: Path) -> None:
    ids = {r["id"] for r in qa_pairs(folder)}
    good = bad = 0
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        ex_id, verdict, *_ = line.split(maxsplit=2)
        if ex_id not in ids:
            sys.exit(f"{ex_id}: not a Q&A pair of {folder}")
        ok = verdict == "good"
        good += ok
        bad += not ok
        lines.append(json.dumps({"example_id": ex_id, "accept": ok, "at": datetime.now(timezone.utc).isoformat(),
                                 "by": "benchmarks/dataset_review.py"}) + "\n")
    with open(folder / "reviews.jsonl", "a", encoding="utf-8") as f:
        f.writelines(lines)
    print(f"{good} good / {good + bad} read = {good / max(1, good + bad):.0%} good ({bad} bad)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--dataset", type=Path, help="a built version folder")
    ap.add_argument("--irc-files", type=int, help="build from this many random Ubuntu IRC train logs first")
    ap.add_argument("--out", type=Path, default=Path("/tmp/teamlore-irc-review"))
    ap.add_argument("--seed", default="review")
    ap.add_argument("--not-from", nargs="*", default=[],
                    help="seeds of earlier reviews, their --out folders or files listing log names: those IRC logs "
                    "are left out")
    ap.add_argument("--irc-dir", nargs="+", default=["train"], help="corpus folders to draw the logs from")
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--verdicts", type=Path, help="record these verdicts as the version's reviews")
    args = ap.parse_args()
    folder = args.dataset or (irc_build(args.irc_files, args.seed, args.out, args.not_from, args.irc_dir) if args.irc_files else None)
    if folder is None:
        ap.error("--dataset or --irc-files")
    if args.verdicts:
        record_verdicts(folder, args.verdicts)
        return
    rows = sample(folder, args.seed, args.n)
    print(markdown(rows, f"{len(rows)} random Q&A pairs of {folder.name} (seed {args.seed!r}, "
                         f"{len(qa_pairs(folder))} pairs in the version)"))


if __name__ == "__main__":
    main()
