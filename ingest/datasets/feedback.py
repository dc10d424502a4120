"""The team's feedback as training data: SFT additions and preference pairs, versioned like every dataset.

Inputs (plain records; the app reads them from its tables and decides who may see what):
- RatedAnswer: an answer Teamlore gave, the prompt it answered from, every 👍/👎 with its comment and rater, and an
  admin's corrected answer when there is one;
- ResolvedThread: a Slack thread that people resolved, with the bot's answer in it when the bot had answered;
- ReviewedExample: a dataset example an admin accepted in the review.

Outputs, under out_root/<version>/:
- train/validation/test.jsonl — the base dataset version's examples plus the SFT additions (chat format);
- preference.{split}.jsonl — pairs in TRL's conversational preference format ({"prompt", "chosen", "rejected"});
- negatives.jsonl — 👎 answers with a comment and nothing to pair them with (kept for review; not trained on);
- eval/heldout.jsonl — the base version's frozen held-out questions, unchanged, so candidates stay comparable;
- manifest.json — version, options, counts, and the base version. Every line's `meta.lineage` names where it came
  from (message id, raters, corrector, thread permalinks, reviewed example id).

Rules: a 👎 counts only with a comment or a correction (a bare 👎 may be a misclick); several raters are summed
and a tie is dropped as conflicting; private content (a private channel, a DM, a passage not everyone can read)
stays out unless include_private; text is PII-masked as every training set is. Splits are assigned by the
normalised question, so one question never sits in two splits.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import uuid
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Sequence

from ingest.datasets import formats
from ingest.datasets.build import assign_split, builder_digest
from ingest.datasets.quality import TRAINING_MASK, mask

FEEDBACK_BUILDER_VERSION = "1"


class FeedbackBuildError(ValueError):
    """Nothing usable; the message says what was dropped and why."""


@dataclass(frozen=True)
class Rating:
    rating: int                 # +1 | -1
    user: str                   # who rated (a Teamlore user id or a Slack user id)
    comment: str | None = None
    origin: str = "web"         # web | slack | api
    at: str = ""                # ISO time


@dataclass
class RatedAnswer:
    message_id: int
    question: str
    answer: str
    ratings: list[Rating]
    prompt: list[dict[str, str]] | None = None  # what the model saw; default: the question alone
    correction: str | None = None               # an admin's corrected answer
    corrected_by: str | None = None
    model_version: str | None = None
    mode: str | None = None                     # generative | extractive | no_answer
    sources: list[dict[str, Any]] = field(default_factory=list)  # citations: title, url
    private: bool = False
    channel: str = "web"
    at: str = ""


@dataclass
class ResolvedThread:
    conversation_id: str
    question: str
    answer: str                                 # the answer that resolved the thread
    permalinks: list[str] = field(default_factory=list)
    bot_answer: str | None = None               # Teamlore's earlier answer in the same thread
    bot_message_id: int | None = None
    bot_rating: int = 0                         # net 👍/👎 of the bot's answer
    private: bool = False


@dataclass
class ReviewedExample:
    dataset_version: str
    example_id: str
    messages: list[dict[str, str]]
    private: bool = False


@dataclass(frozen=True)
class FeedbackOptions:
    name: str = "feedback"
    include_private: bool = False
    since: str | None = None                    # only feedback after this time (ISO), e.g. since a model version
    since_version: str | None = None            # the model version that `since` came from, for the record
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)

    def to_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(asdict(self), sort_keys=True, default=list))


@dataclass
class FeedbackBuildResult:
    version: str
    path: Path
    stats: dict[str, Any]
    created: bool


_WS = re.compile(r"\s+")
_NORM = re.compile(r"[^a-z0-9 ]+")


def question_key(question: str) -> str:
    """Same question, however spaced or punctuated."""
    return _WS.sub(" ", _NORM.sub(" ", question.lower())).strip()


def _masked(text: str, counts: Counter) -> str:
    out, c = mask(text, TRAINING_MASK)
    counts.update(c)
    return out


def _prompt_of(a: RatedAnswer) -> list[dict[str, str]]:
    return [dict(m) for m in a.prompt] if a.prompt else [{"role": "user", "content": a.question}]


def _id(*parts: Any) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()[:16]


def collect(answers: Sequence[RatedAnswer], threads: Sequence[ResolvedThread] = (),
            reviewed: Sequence[ReviewedExample] = (), options: FeedbackOptions = FeedbackOptions()
            ) -> tuple[list[dict], list[dict], list[dict], Counter]:
    """-> (sft additions, preference pairs, unpaired negatives, counts). Pure: no files, no clock."""
    counts: Counter = Counter()
    masked: Counter = Counter()
    sft: list[dict] = []
    pairs: list[dict] = []
    negatives: list[dict] = []
    good_by_q: dict[str, list[tuple[RatedAnswer, list[Rating]]]] = defaultdict(list)
    bad: list[tuple[RatedAnswer, list[Rating]]] = []

    def visible(private: bool, what: str) -> bool:
        if private and not options.include_private:
            counts[f"{what}_private_left_out"] += 1
            return False
        return True

    for a in answers:
        ratings = [r for r in a.ratings if not options.since or (r.at and r.at > options.since)]
        if not ratings and not (a.correction and (not options.since or a.at > options.since)):
            counts["answers_before_since"] += 1
            continue
        if not visible(a.private, "answers"):
            continue
        net = sum(1 if r.rating > 0 else -1 for r in ratings)
        commented = [r for r in ratings if r.rating < 0 and (r.comment or "").strip()]
        if a.correction:
            bad.append((a, ratings))
        elif net > 0:
            good_by_q[question_key(a.question)].append((a, ratings))
        elif net < 0 and commented:
            bad.append((a, ratings))
        elif net < 0:
            counts["thumbs_down_without_comment"] += 1
        else:
            counts["conflicting_ratings" if ratings else "unrated"] += 1

    def lineage_of(a: RatedAnswer, ratings: list[Rating]) -> dict[str, Any]:
        return {"source": "feedback", "message_id": a.message_id, "model_version": a.model_version,
                "mode": a.mode, "channel": a.channel,
                "ratings": [{"user": r.user, "rating": r.rating, "origin": r.origin, "at": r.at,
                             "comment": _masked(r.comment, masked) if r.comment else None} for r in ratings],
                "corrected_by": a.corrected_by,
                "sources": [{"title": s.get("title"), "url": s.get("url")} for s in a.sources]}

    def sft_record(kind: str, key: str, messages: list[dict[str, str]], lineage: dict) -> dict:
        msgs = [{"role": m["role"], "content": _masked(m["content"], masked)} for m in messages]
        return {"id": _id(kind, *[m["content"] for m in messages]), "messages": msgs,
                "meta": {"kind": kind, "key": key, "lineage": lineage}}

    def pair(key: str, prompt: list[dict[str, str]], chosen: str, rejected: str, lineage: dict) -> dict:
        p = [{"role": m["role"], "content": _masked(m["content"], masked)} for m in prompt]
        c, r = _masked(chosen, masked), _masked(rejected, masked)
        return {"id": _id("pair", json.dumps(p), c, r), "prompt": p, "chosen": [{"role": "assistant", "content": c}],
                "rejected": [{"role": "assistant", "content": r}], "meta": {"key": key, "lineage": lineage}}

    for key, group in good_by_q.items():
        for a, ratings in group:
            sft.append(sft_record("feedback_thumbs_up", key, _prompt_of(a) + [{"role": "assistant", "content": a.answer}],
                                  lineage_of(a, ratings)))
    for a, ratings in bad:
        key = question_key(a.question)
        lin = lineage_of(a, ratings)
        if a.correction:
            chosen, how = a.correction, "correction"
            sft.append(sft_record("feedback_correction", key,
                                  _prompt_of(a) + [{"role": "assistant", "content": a.correction}], lin))
        elif good_by_q.get(key):
            chosen, how = good_by_q[key][0][0].answer, "thumbs_up_same_question"
            lin = lin | {"chosen_message_id": good_by_q[key][0][0].message_id}
        else:
            negatives.append({"id": _id("neg", a.message_id), "prompt": _prompt_of(a), "answer": a.answer,
                              "meta": {"key": key, "lineage": lin}})
            counts["thumbs_down_unpaired"] += 1
            continue
        if chosen.strip() == a.answer.strip():
            counts["correction_same_as_answer"] += 1
            continue
        pairs.append(pair(key, _prompt_of(a), chosen, a.answer, lin | {"chosen_from": how}))

    for t in threads:
        if not visible(t.private, "threads"):
            continue
        key = question_key(t.question)
        lin = {"source": "slack_thread", "conversation_id": t.conversation_id, "permalinks": list(t.permalinks),
               "bot_message_id": t.bot_message_id}
        sft.append(sft_record("resolved_thread", key, [{"role": "user", "content": t.question},
                                                        {"role": "assistant", "content": t.answer}], lin))
        if t.bot_answer and t.bot_rating <= 0 and t.bot_answer.strip() != t.answer.strip():
            pairs.append(pair(key, [{"role": "user", "content": t.question}], t.answer, t.bot_answer,
                              lin | {"chosen_from": "resolving_answer"}))
    for r in reviewed:
        if not visible(r.private, "reviewed"):
            continue
        q = next((m["content"] for m in r.messages if m["role"] == "user"), "")
        sft.append(sft_record("reviewed_example", question_key(q), r.messages,
                              {"source": "review", "dataset_version": r.dataset_version, "example_id": r.example_id}))

    # one copy of each record (the same 👍 answer may arrive from two paths)
    sft = list({s["id"]: s for s in sft}.values())
    pairs = list({p["id"]: p for p in pairs}.values())
    counts.update({"sft_additions": len(sft), "preference_pairs": len(pairs), "negatives": len(negatives)})
    counts.update({f"masked_{k}": v for k, v in masked.items()})
    return sft, pairs, negatives, counts


def build_feedback_dataset(answers: Sequence[RatedAnswer], out_root: Path, *, threads: Sequence[ResolvedThread] = (),
                           reviewed: Sequence[ReviewedExample] = (), options: FeedbackOptions = FeedbackOptions(),
                           base_dir: Path | None = None) -> FeedbackBuildResult:
    """Write (or find) the version folder. With base_dir (a dataset version folder), its splits and held-out set
    are carried over and the additions appended, so the result trains on its own."""
    sft, pairs, negatives, counts = collect(answers, threads, reviewed, options)
    if not sft and not pairs:
        why = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if v) or "no feedback"
        raise FeedbackBuildError(f"no usable feedback to train on ({why})")
    base_manifest = None
    if base_dir is not None:
        mf = Path(base_dir) / "manifest.json"
        base_manifest = json.loads(mf.read_text(encoding="utf-8")) if mf.is_file() else {"version": Path(base_dir).name}
    version = hashlib.sha256(json.dumps({
        "builder": builder_digest(), "feedback_builder": FEEDBACK_BUILDER_VERSION, "options": options.to_dict(),
        "sft": sorted(s["id"] for s in sft), "pairs": sorted(p["id"] for p in pairs),
        "negatives": sorted(n["id"] for n in negatives),
        "base": (base_manifest or {}).get("version")}, sort_keys=True).encode()).hexdigest()[:16]
    out_root = Path(out_root)
    final = out_root / version
    if (final / "manifest.json").is_file():
        m = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
        return FeedbackBuildResult(version, final, m["stats"], created=False)

    for rec in sft:
        rec["meta"]["split"] = assign_split(rec["meta"]["key"], options.split_fractions)
    for rec in pairs:
        rec["meta"]["split"] = assign_split(rec["meta"]["key"], options.split_fractions)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".{version}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        per_split: dict[str, dict[str, int]] = {}
        for split in formats.SPLITS:
            base_rows = []
            if base_dir is not None and (Path(base_dir) / f"{split}.jsonl").is_file():
                base_rows = formats.read_jsonl(Path(base_dir) / f"{split}.jsonl")
            add = [s for s in sft if s["meta"]["split"] == split]
            n = formats.write_jsonl(tmp / f"{split}.jsonl", base_rows + add) if base_rows or add else 0
            np_ = formats.write_jsonl(tmp / f"preference.{split}.jsonl",
                                      [p for p in pairs if p["meta"]["split"] == split])
            per_split[split] = {"base_examples": len(base_rows), "sft_additions": len(add), "examples": n,
                                "preference_pairs": np_}
        formats.write_jsonl(tmp / "negatives.jsonl", negatives)
        (tmp / "eval").mkdir()
        base_held = Path(base_dir) / "eval" / "heldout.jsonl" if base_dir is not None else None
        if base_held is not None and base_held.is_file():
            shutil.copyfile(base_held, tmp / "eval" / "heldout.jsonl")
        else:
            formats.write_jsonl(tmp / "eval" / "heldout.jsonl", [])
        stats = {"name": options.name, "version": version, "counts": dict(sorted(counts.items())),
                 "splits": per_split, "base_version": (base_manifest or {}).get("version"),
                 "since": options.since, "since_version": options.since_version,
                 "raters": len({r["user"] for s in sft + pairs for r in s["meta"]["lineage"].get("ratings", [])}),
                 "by_source": dict(Counter(s["meta"]["lineage"]["source"] for s in sft)),
                 "pairs_by_origin": dict(Counter(p["meta"]["lineage"].get("chosen_from") for p in pairs))}
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True), encoding="utf-8")
        manifest = {"name": options.name, "version": version, "kind": "feedback", "settings": options.to_dict(),
                    "base": base_manifest and {"version": base_manifest.get("version"), "name": base_manifest.get("name")},
                    "stats": stats,
                    "files": {p.relative_to(tmp).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                              for p in sorted(tmp.rglob("*.jsonl"))}}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        try:
            os.replace(tmp, final)
        except OSError:
            if (final / "manifest.json").is_file():  # a concurrent build of the same version won
                shutil.rmtree(tmp, ignore_errors=True)
                return FeedbackBuildResult(version, final, stats, created=False)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return FeedbackBuildResult(version, final, stats, created=True)


def ratings_of(rows: Iterable[dict[str, Any]]) -> list[Rating]:
    """Convenience: feedback rows (rating, user, comment, origin, at) as Rating records."""
    return [Rating(int(r["rating"]), str(r.get("user") or ""), r.get("comment"), r.get("origin", "web"),
                   str(r.get("at") or "")) for r in rows]
