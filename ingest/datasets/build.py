"""Deterministic dataset build: snapshot + options -> a versioned folder of train/validation/test files.

version = sha256(builder code, options, content of the included channels' messages and people)[:16]
Splits are assigned per conversation (`balanced_splits`: in hash order, sized by examples), so one
conversation never straddles two splits and test holds its fraction of the examples. The folder is written aside and moved into place with os.replace.
"""
from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import math
import os
import re
import shutil
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from ingest.datasets import formats
from ingest.datasets.conversations import DEFAULT_MAX_MESSAGES, channel_conversations, usable
from ingest.datasets.disentangle import LinkWeights
from ingest.datasets.examples import (Example, Retriever, answerer_weights, chat_example, persona_examples,
                                      qa_example, rag_example)
from ingest.datasets.quality import QualityRules, apply_quality, conversation_reason, mask
from ingest.datasets.quality import TRAINING_MASK
from ingest.datasets.records import Channel, ConversationUnit, Msg, Person
from ingest.datasets.text import approx_tokens, content_words

BUILDER_VERSION = "1"
Progress = Callable[[str, int, int], None]


class DatasetBuildError(Exception):
    """The build cannot produce a dataset; the message says why (e.g. everything was filtered, and by what)."""


@dataclass
class WorkspaceSnapshot:
    """What the builder reads: the workspace's channels, people and messages (as the database holds them)."""
    channels: list[Channel]
    people: list[Person]
    messages: list[Msg]
    source: str = ""  # human description, e.g. the source names


@dataclass(frozen=True)
class BuildOptions:
    name: str = "slack-qa"
    include_private: bool = False  # private channels, DMs and group DMs stay out unless an admin opts in
    channels: tuple[str, ...] | None = None  # names or ids; None = every allowed channel
    persona: str | None = None  # user id, handle or display name of the person to imitate
    kinds: tuple[str, ...] = ("chat", "qa")
    max_thread_messages: int = DEFAULT_MAX_MESSAGES
    split_fractions: tuple[float, float, float] = (0.8, 0.1, 0.1)
    rules: QualityRules = field(default_factory=QualityRules)
    weights: LinkWeights = field(default_factory=LinkWeights)
    rag_k: int = 3
    retriever_id: str | None = None  # identifies the retriever's index (its content changes the rag examples)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["rules"] = self.rules.to_dict()
        return json.loads(json.dumps(d, sort_keys=True, default=list))


@dataclass
class BuildResult:
    version: str
    path: Path
    stats: dict[str, Any]
    created: bool  # False when this exact version existed already


def _sha(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


@functools.lru_cache(maxsize=1)
def builder_digest() -> str:
    """Hash of the code that decides a dataset's content (this package, its reply-link model and the PII masking
    it applies): a changed builder gives a new version instead of silently reusing files built by the old one."""
    here = Path(__file__).resolve().parent
    files = sorted(here.glob("*.py")) + sorted(here.glob("*.json")) + [here.parent / "pii.py"]  # json: the model
    h = hashlib.sha256(BUILDER_VERSION.encode())
    for f in files:
        if f.is_file():
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()[:16]


def split_key(conv_id: str) -> str:
    """Parts of a split thread share a key: they must land in the same split."""
    return re.sub(r":p\d+$", "", conv_id)


def assign_split(key: str, fractions: tuple[float, float, float]) -> str:
    bucket = int(hashlib.sha256(f"teamlore-split|{key}".encode()).hexdigest()[:12], 16) / 16 ** 12
    if bucket < fractions[0]:
        return "train"
    if bucket < fractions[0] + fractions[1]:
        return "validation"
    return "test"


def balanced_splits(examples_per_key: Counter, fractions: tuple[float, float, float]) -> dict[str, str]:
    """Split of every conversation key, by conversation, sized by examples: keys are taken in the order of their
    hash bucket (`assign_split`'s, so the assignment is deterministic and mostly stable as a workspace grows) and
    filled into test, then validation, until each holds its fraction of the *examples*; the rest is train. A
    hash alone sizes splits by conversations, so a few big conversations could leave test nearly empty."""
    def bucket(key: str) -> float:
        return int(hashlib.sha256(f"teamlore-split|{key}".encode()).hexdigest()[:12], 16) / 16 ** 12

    total = sum(examples_per_key.values())
    out: dict[str, str] = {}
    want = {"test": fractions[2] * total, "validation": fractions[1] * total}
    have = {"test": 0, "validation": 0}
    # keys in bucket order from the top (where assign_split puts test), then validation, then train; a key that
    # would overfill a split by half again is passed over, so one big conversation does not eat the train set
    order = sorted(examples_per_key, key=lambda k: (-bucket(k), k))
    for key in order:
        n = examples_per_key[key]
        split = next((s for s in ("test", "validation") if have[s] < want[s] and have[s] + n <= 1.5 * want[s]),
                     "train")
        out[key] = split
        if split != "train":
            have[split] += n
    for s in ("test", "validation"):  # only big conversations were left: take the smallest ones
        for key in sorted((k for k in order if out[k] == "train"), key=lambda k: (examples_per_key[k], -bucket(k))):
            if have[s] >= want[s]:
                break
            out[key] = s
            have[s] += examples_per_key[key]
    return out


def stratified_splits(examples_per_key: Counter, with_qa: set[str], fractions: tuple[float, float, float]
                      ) -> dict[str, str]:
    """`balanced_splits` done apart for the conversations that give a Q&A pair and for the others, so each split
    (test too) holds its share of the Q&A pairs, not only of all conversations: a few dozen Q&A pairs among a
    thousand chat examples otherwise left qa.test.jsonl with 1 of 25 (session 4) or 2 of 70 (session 5)."""
    qa = Counter({k: n for k, n in examples_per_key.items() if k in with_qa})
    rest = Counter({k: n for k, n in examples_per_key.items() if k not in with_qa})
    return {**balanced_splits(qa, fractions), **balanced_splits(rest, fractions)}


def select_channels(snapshot: WorkspaceSnapshot, options: BuildOptions, counts: Counter) -> list[Channel]:
    def key(name: str) -> str:  # "#Help" as Slack shows it selects #help
        return name.strip().lstrip("#").lower()

    wanted = {key(c): c for c in options.channels or ()}
    known = {key(c.channel_id) for c in snapshot.channels} | {key(c.name) for c in snapshot.channels}
    missing = sorted(typed for k, typed in wanted.items() if k not in known)
    if missing:
        raise DatasetBuildError(f"unknown channel(s): {', '.join(missing)}")
    out = []
    for ch in snapshot.channels:
        if wanted and key(ch.channel_id) not in wanted and key(ch.name) not in wanted:
            continue
        if ch.is_private and not options.include_private:
            counts[f"channels_excluded_{ch.kind}"] += 1
            continue
        out.append(ch)
    return sorted(out, key=lambda c: c.channel_id)


def resolve_person(people: Sequence[Person], who: str) -> Person:
    w = who.lstrip("@").lower()
    for p in people:
        if w in {p.user_id.lower(), (p.name or "").lower(), (p.display_name or "").lower()}:
            return p
    raise DatasetBuildError(f"persona {who!r} is not a person of this workspace")


def snapshot_digest(channels: Sequence[Channel], messages: Sequence[Msg], people: Sequence[Person]) -> str:
    ids = {c.channel_id for c in channels}
    rows = sorted((m.channel_id, m.ts, m.thread_ts, m.user_id, m.user_name, m.is_bot, m.subtype, m.filtered,
                   m.deleted, m.text, m.raw_text, sorted((k, sorted(v)) for k, v in (m.reactions or {}).items()),
                   m.permalink) for m in messages if m.channel_id in ids)
    return _sha({"channels": sorted((c.channel_id, c.name, c.kind) for c in channels),
                 "people": sorted((p.user_id, p.name, p.display_name, p.title, p.is_bot) for p in people),
                 "messages": rows})


def _token_stats(values: list[int]) -> dict[str, float]:
    if not values:
        return {"count": 0, "total": 0, "mean": 0, "p50": 0, "p95": 0, "max": 0}
    s = sorted(values)
    return {"count": len(s), "total": sum(s), "mean": round(sum(s) / len(s), 1), "p50": s[len(s) // 2],
            "p95": s[min(len(s) - 1, math.ceil(0.95 * len(s)) - 1)], "max": s[-1]}


def top_topics(texts: Sequence[str], k: int = 15) -> list[tuple[str, float]]:
    """Terms that characterise the questions: document frequency × idf-like rarity, ignoring words in
    more than half of them (they describe the whole channel, not a topic)."""
    docs = [set(content_words(t)) for t in texts]
    n = len(docs)
    if not n:
        return []
    df = Counter(w for d in docs for w in d if len(w) > 2)
    scored = [(w, round(c * math.log(1 + n / c), 3)) for w, c in df.items() if c >= 2 and c <= max(2, n / 2)]
    return sorted(scored, key=lambda x: (-x[1], x[0]))[:k]


def whole_threads(convs: Sequence[ConversationUnit]) -> dict[str, ConversationUnit]:
    """First part id of every split Slack thread -> the whole thread as one conversation (its parts' messages in
    order, the first part's id and metadata)."""
    parts: dict[str, list[ConversationUnit]] = {}
    for c in convs:
        if c.method == "thread" and split_key(c.conversation_id) != c.conversation_id:
            parts.setdefault(split_key(c.conversation_id), []).append(c)
    out = {}
    for ps in parts.values():
        ps = sorted(ps, key=lambda c: c.part)
        first = ps[0]
        msgs = sorted((m for c in ps for m in c.messages), key=lambda m: (m.time, m.ts))
        out[first.conversation_id] = ConversationUnit(first.conversation_id, first.channel, msgs, first.method,
                                                      part=0, meta=dict(first.meta))
    return out


def _question_key(ex: Example) -> str:
    first_user = next((t["content"] for t in ex.messages if t["role"] == "user"), "")
    return " ".join(first_user.partition("\n\nMore details: ")[0].lower().split())


def once_per_question(examples: list[Example], dropped: Counter) -> list[Example]:
    """A question opens at most one example of a kind (one file): later chat/Q&A examples that open with the
    same question (a re-asked question, pieces of one long thread) are dropped and counted. The mixed file takes
    one example per conversation on top of this. Persona examples quote one person's replies and keep theirs."""
    seen: set[tuple[str, str]] = set()
    out = []
    for ex in examples:
        if ex.kind in ("chat", "qa", "rag"):
            key = (ex.kind, _question_key(ex))
            if key[1] and key in seen:
                dropped[f"{ex.kind}:repeated_question"] += 1
                continue
            seen.add(key)
        out.append(ex)
    return out


def review_sample(examples: Sequence[Example], version: str, n: int = 30) -> list[dict[str, Any]]:
    """`n` examples drawn at random (seeded by the version, so a rebuild shows the same ones) for a person to read
    in the dataset report: kind, question, answer, permalink, quality and its reasons."""
    import random
    pool = [e for e in examples if e.kind in ("qa", "chat", "rag")]
    picked = random.Random(version).sample(pool, min(n, len(pool)))
    return [{"id": e.example_id, "kind": e.kind, "split": e.split, "channel": e.channel_name,
             "question": e.messages[0]["content"] if e.kind == "chat" else e.question,
             "answer": e.answer if e.kind != "chat" else "\n---\n".join(
                 t["content"] for t in e.messages[1:] if t["role"] in ("user", "assistant")),
             "turns": len(e.messages), "permalink": e.permalinks[0] if e.permalinks else None,
             "quality": e.quality, "reasons": list(e.reasons)} for e in picked]


def build(snapshot: WorkspaceSnapshot, options: BuildOptions, out_root: Path, *, retriever: Retriever | None = None,
          progress: Progress | None = None) -> BuildResult:
    """Build (or find) the dataset version for this snapshot and these options under out_root/<version>/."""
    started = time.perf_counter()
    note = progress or (lambda stage, done, total: None)
    if retriever is not None and not options.retriever_id:
        raise DatasetBuildError("a retriever needs options.retriever_id (its index version) for reproducible builds")
    if not options.name.strip():
        raise DatasetBuildError("a dataset needs a name (--name)")
    if not snapshot.messages:
        raise DatasetBuildError("the workspace has no messages: ingest a Slack export or sync Slack first")
    counts: Counter = Counter()
    channels = select_channels(snapshot, options, counts)
    if not channels:
        raise DatasetBuildError("no channel left to build from: "
                                + (", ".join(f"{v} {k.removeprefix('channels_excluded_')}" for k, v in counts.items())
                                   + " excluded by the privacy default (include them explicitly)" if counts
                                   else "no channel matches the selection"))
    persona = resolve_person(snapshot.people, options.persona) if options.persona else None
    kinds = tuple(options.kinds) + (("persona",) if persona else ()) + (("rag",) if retriever else ())
    digest = snapshot_digest(channels, snapshot.messages, snapshot.people)
    settings_dict = options.to_dict()
    version = _sha({"builder": builder_digest(), "options": settings_dict, "inputs": digest})[:16]
    final = Path(out_root) / version
    if (final / "manifest.json").is_file():
        manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
        return BuildResult(version, final, manifest["stats"], created=False)

    people = {p.user_id: p for p in snapshot.people}
    names = {uid: p.label for uid, p in people.items()}
    by_channel: dict[str, list[Msg]] = {}
    ids = {c.channel_id for c in channels}
    for m in snapshot.messages:
        if m.channel_id in ids:
            person = people.get(m.user_id or "")
            if person and person.is_bot and not m.is_bot:
                m = dataclasses.replace(m, is_bot=True)
            by_channel.setdefault(m.channel_id, []).append(m)

    # 1. conversations
    convs: list[ConversationUnit] = []
    channel_report: dict[str, dict[str, Any]] = {}
    for i, ch in enumerate(channels):
        msgs = by_channel.get(ch.channel_id, [])
        c_counts: Counter = Counter()
        cc = channel_conversations(ch, msgs, max_messages=options.max_thread_messages, weights=options.weights,
                                   counts=c_counts, max_tokens=options.rules.max_tokens * 3 // 4)
        counts.update(c_counts)
        usable_n = sum(1 for m in msgs if not usable(m))
        flags = []
        if not msgs:
            flags.append("empty")
        elif usable_n == 0 and c_counts.get("messages_dropped_bot"):
            flags.append("only_bots")
        channel_report[ch.name] = {"channel_id": ch.channel_id, "kind": ch.kind, "messages": len(msgs),
                                   "usable_messages": usable_n, "conversations": len(cc), "flags": flags}
        for f in flags:
            counts[f"channels_{f}"] += 1
        convs.extend(cc)
        note("conversations", i + 1, len(channels))
    messages_in = sum(len(by_channel.get(c.channel_id, [])) for c in channels)

    # 2. examples
    weights = answerer_weights(convs, {uid: p.title for uid, p in people.items()})
    raw: list[Example] = []
    unanswered = 0
    threads = whole_threads(convs)
    for i, conv in enumerate(convs):
        why = conversation_reason(conv)
        if why:
            counts[f"conversations_{why}"] += 1
            continue
        if "chat" in kinds:
            ex = chat_example(conv)
            if ex:
                raw.append(ex)
        if "qa" in kinds or "rag" in kinds:
            # a split thread's question is answered anywhere in it: its Q&A pair is chosen from the whole thread
            # (once, at its first part); later parts start mid-discussion and give none
            qa = qa_example(threads.get(conv.conversation_id, conv), weights)
            if qa is None:
                unanswered += 1
            else:
                if "qa" in kinds:
                    raw.append(qa)
                if retriever is not None:
                    rag = rag_example(qa, retriever, k=options.rag_k)
                    if rag:
                        raw.append(rag)
                    else:
                        counts["rag_no_passages"] += 1
        if persona:
            raw.extend(persona_examples(conv, persona.user_id, names))
        if i % 50 == 0 or i == len(convs) - 1:
            note("examples", i + 1, len(convs))
    counts["conversations_unanswered"] += unanswered

    # 3. quality, masking, near-duplicates (in conversation order so the earliest copy is the one kept)
    raw.sort(key=lambda e: (float(e.first_ts), e.conversation_id, e.kind, e.example_id))
    kept, dropped, masked = apply_quality(raw, options.rules)
    kept = once_per_question(kept, dropped)
    note("quality", 1, 1)
    # sized by conversations that give examples: the default training mix holds one example per conversation
    conv_split = stratified_splits(Counter(split_key(cid) for cid in {ex.conversation_id for ex in kept}),
                                   {split_key(ex.conversation_id) for ex in kept if ex.kind == "qa"},
                                   options.split_fractions)
    for ex in kept:
        ex.split = conv_split[split_key(ex.conversation_id)]

    if not kept:
        why = ", ".join(f"{k}: {v}" for k, v in sorted((dropped + Counter(
            {"conversations unanswered": counts["conversations_unanswered"],
             "conversations greetings-only": counts["conversations_greetings_only"]})).items()) if v) or "no conversations"
        raise DatasetBuildError(
            f"the build produced no examples from {len(channels)} channel(s), {messages_in} message(s) and "
            f"{len(convs)} conversation(s) — {why}"
            + (f"; {counts['channels_only_bots']} channel(s) hold only bot messages" if counts["channels_only_bots"]
               else ""))

    # 4. write aside, then move into place
    out_root = Path(out_root)
    out_root.mkdir(parents=True, exist_ok=True)
    tmp = out_root / f".{version}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        built = BuiltExamples(kept=kept, conversations=convs, names=names, dropped=dropped, masked=masked,
                              counts=counts, channel_report=channel_report, messages_in=messages_in, digest=digest,
                              persona=persona)
        stats = _write_version(tmp, final, version, options, built)
        stats["build_seconds"] = round(time.perf_counter() - started, 3)
        stats["throughput"] = {"messages_per_s": round(messages_in / stats["build_seconds"], 1),
                               "examples_per_s": round(len(kept) / stats["build_seconds"], 1)}
        _plots(tmp, stats)
        (tmp / "review_sample.md").write_text(_review_markdown(stats["review_sample"]), encoding="utf-8")
        (tmp / "stats.json").write_text(json.dumps(stats, indent=2, sort_keys=True), encoding="utf-8")
        manifest = {"name": options.name, "version": version, "builder": builder_digest(), "settings": settings_dict,
                    "inputs": {"digest": digest, "source": snapshot.source,
                               "channels": [c.name for c in channels],
                               "latest_message_ts": stats["inputs"]["latest_message_ts"]},
                    "stats": stats, "files": _file_hashes(tmp)}
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        note("write", 1, 1)
        try:
            os.replace(tmp, final)
        except OSError:
            if (final / "manifest.json").is_file():  # a concurrent build of the same version won
                shutil.rmtree(tmp, ignore_errors=True)
                manifest = json.loads((final / "manifest.json").read_text(encoding="utf-8"))
                return BuildResult(version, final, manifest["stats"], created=False)
            raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return BuildResult(version, final, stats, created=True)


def _file_hashes(root: Path) -> dict[str, str]:
    out = {}
    for p in sorted(root.rglob("*.jsonl")):
        out[p.relative_to(root).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


@dataclass
class BuiltExamples:
    """What a build made, before it is written: the examples kept, the conversations they came from, and the
    figures of how they were made (for the report)."""
    kept: list[Example]
    conversations: list[ConversationUnit]
    names: dict[str, str]  # user id -> display name, for transcripts
    dropped: Counter  # examples dropped, by reason
    masked: Counter  # personal data masked, by kind
    counts: Counter  # channels, threads, messages dropped, … by name
    channel_report: dict
    messages_in: int
    digest: str  # of the snapshot the build read
    persona: Person | None


def _write_version(tmp: Path, final: Path, version: str, options: BuildOptions, built: BuiltExamples
                   ) -> dict[str, Any]:
    kept, convs, names, counts, persona = built.kept, built.conversations, built.names, built.counts, built.persona
    dropped, masked, channel_report = built.dropped, built.masked, built.channel_report
    messages_in, digest = built.messages_in, built.digest
    conv_split = {split_key(e.conversation_id): e.split for e in kept}
    files: dict[str, dict[str, str]] = {}
    by_kind_split: dict[tuple[str, str], list[Example]] = {}
    for ex in kept:
        by_kind_split.setdefault((ex.kind, ex.split), []).append(ex)
    for (kind, split), exs in sorted(by_kind_split.items()):
        name = f"{kind}.{split}.jsonl"
        formats.write_jsonl(tmp / name, (formats.chat_record(e) for e in exs))
        files.setdefault(kind, {})[split] = name
        if kind in ("qa", "rag"):
            aname = f"{kind}_alpaca.{split}.jsonl"
            formats.write_jsonl(tmp / aname, (formats.alpaca_record(e) for e in exs))
            files.setdefault(f"{kind}_alpaca", {})[split] = aname

    # the default training mix, at the folder's top level where trainers look first: ONE example per
    # conversation (rag, else qa, else chat: the same question never twice in a file, so nothing is trained
    # twice); the persona set is trained on purpose, from its own files
    rank = {"rag": 0, "qa": 1, "chat": 2}
    chosen: dict[str, Example] = {}
    for e in kept:
        if e.kind in rank and (e.conversation_id not in chosen
                               or rank[e.kind] < rank[chosen[e.conversation_id].kind]):
            chosen[e.conversation_id] = e
    mixed_ids = {e.example_id for e in chosen.values()}
    for split in formats.SPLITS:
        mix = [e for e in kept if e.split == split and e.example_id in mixed_ids]
        if mix:
            formats.write_jsonl(tmp / f"{split}.jsonl", (formats.chat_record(e) for e in mix))
            files.setdefault("mixed", {})[split] = f"{split}.jsonl"

    # plain text for continued pretraining: every conversation of the included channels, masked, split the same way
    text_by_split: dict[str, list[dict]] = {}
    for conv in convs:
        body, _ = mask(formats.transcript(conv.messages, names), TRAINING_MASK)
        if len(body) < 40:
            continue
        split = conv_split.get(split_key(conv.conversation_id)) or assign_split(split_key(conv.conversation_id),
                                                                               options.split_fractions)
        meta = {"conversation_id": conv.conversation_id, "channel_id": conv.channel.channel_id,
                "channel": conv.channel.name, "source_ts": [m.ts for m in conv.messages],
                # the opening question's permalink first, also for a later part of a split conversation
                "permalinks": list(dict.fromkeys(x for x in [conv.meta.get("opening_permalink")] +
                                                 [m.permalink for m in conv.messages] if x)), "method": conv.method}
        text_by_split.setdefault(split, []).append(formats.text_record(conv.conversation_id, body, meta))
    for split, recs in sorted(text_by_split.items()):
        name = f"text.{split}.jsonl"
        formats.write_jsonl(tmp / name, recs)
        files.setdefault("text", {})[split] = name

    # frozen held-out evaluation set: the test split's Q&A pairs, with the reference answer and its checksum
    heldout = [formats.chat_record(e) for e in kept if e.split == "test" and e.kind == "qa"]
    (tmp / "eval").mkdir()
    formats.write_jsonl(tmp / "eval" / "heldout.jsonl", heldout)

    (tmp / "dataset_info.json").write_text(json.dumps(formats.llamafactory_info(files, "teamlore"), indent=2,
                                                      sort_keys=True), encoding="utf-8")
    (tmp / "axolotl.yaml").write_text(formats.axolotl_yaml(files, final), encoding="utf-8")
    (tmp / "torchtune.yaml").write_text(formats.torchtune_yaml(files, final), encoding="utf-8")
    (tmp / "llamafactory.yaml").write_text(formats.llamafactory_yaml(files, final, "teamlore"), encoding="utf-8")

    per_channel: Counter = Counter(ex.channel_name for ex in kept)
    per_kind_split = {k: dict(Counter(e.split for e in kept if e.kind == k)) for k in sorted({e.kind for e in kept})}
    tokens = {k: _token_stats([sum(approx_tokens(t["content"]) for t in e.messages) for e in kept if e.kind == k])
              for k in sorted({e.kind for e in kept})}
    lengths = {k: [sum(approx_tokens(t["content"]) for t in e.messages) for e in kept if e.kind == k]
               for k in sorted({e.kind for e in kept})}
    conv_ids = {s: sorted({split_key(e.conversation_id) for e in kept if e.split == s}) for s in formats.SPLITS}
    return {
        "name": options.name, "version": version,
        "inputs": {"channels": len(channel_report), "messages": messages_in, "digest": digest,
                   # the snapshot reaches up to this message: what a later build adds comes after it
                   "latest_message_ts": max((m.ts for c in convs for m in c.messages), key=float, default=None),
                   "channels_excluded_private": {k.removeprefix("channels_excluded_"): v for k, v in counts.items()
                                                 if k.startswith("channels_excluded_")}},
        "channels": channel_report,
        "messages_dropped": {k.removeprefix("messages_dropped_"): v for k, v in sorted(counts.items())
                             if k.startswith("messages_dropped_")},
        "conversations": {"total": len(convs), "by_method": dict(Counter(c.method for c in convs)),
                          "threads": counts["threads"], "threads_split": counts["threads_split"],
                          "thread_parts": counts["thread_parts"], "unanswered": counts["conversations_unanswered"],
                          "greetings_only": counts["conversations_greetings_only"],
                          "disentangled_messages": counts["disentangled_messages"]},
        "examples": {"total": len(kept), "by_kind_split": per_kind_split, "per_channel": dict(per_channel),
                     "dropped": dict(sorted(dropped.items())), "rag_no_passages": counts["rag_no_passages"]},
        "split_conversations": {s: len(v) for s, v in conv_ids.items()},
        "languages": dict(Counter(e.language for e in kept).most_common()),
        "code_only_answers": sum(1 for e in kept if e.signals.get("code_only")),
        "masked": dict(masked),
        "tokens": tokens, "token_note": "approximate tokens (words and punctuation); the trainer's tokenizer decides",
        "length_values": lengths,
        "quality": {"mean": round(sum(e.quality for e in kept) / len(kept), 3),
                    "histogram": _histogram([e.quality for e in kept])},
        # topics of what people ask: the opening question, without the asker's later details
        "top_topics": top_topics([e.question.partition("\n\nMore details: ")[0] for e in kept if e.kind == "qa"]
                                 or [e.question for e in kept]),
        "persona": persona.label if persona else None,
        "files": files, "heldout": {"file": "eval/heldout.jsonl", "examples": len(heldout)},
        # for a person to read before training: 30 random examples (also in review_sample.md)
        "review_sample": review_sample(kept, version),
    }


def _review_markdown(sample: list[dict[str, Any]]) -> str:
    out = [f"# {len(sample)} random examples for review\n",
           "Drawn at random (seeded by the dataset version). Check each: is the question real and self-contained, "
           "and does the response answer it?\n"]
    for i, r in enumerate(sample, 1):
        link = f" — [permalink]({r['permalink']})" if r["permalink"] else ""
        out.append(f"## {i}. {r['kind']} · #{r['channel']} · {r['split']} · quality {r['quality']}{link}\n")
        out.append("**Question**\n\n" + _quoted(r["question"], 1200))
        out.append("**Response**\n\n" + _quoted(r["answer"], 1500))
    return "\n".join(out)


def _quoted(text: str, limit: int) -> str:
    """`text` as a Markdown quote, cut at `limit` characters: the cut says so, and closes a code block it left open
    (which would otherwise swallow what follows)."""
    shown = text[:limit]
    if len(text) > limit:
        shown += ("```" if shown.count("```") % 2 else "") + f"\n… (cut: {len(text):,} characters in all)"
    return "\n".join("> " + line for line in shown.splitlines()) + "\n"


def _histogram(values: list[float], bins: int = 10) -> list[int]:
    out = [0] * bins
    for v in values:
        out[min(bins - 1, int(v * bins))] += 1
    return out


def _length_bins(values: list[int]) -> dict[str, int]:
    edges = [0, 32, 64, 128, 256, 512, 1024, 2048]
    out = {}
    for lo, hi in zip(edges, edges[1:] + [None]):
        out[f"{lo}-{hi - 1}" if hi else f"{lo}+"] = sum(1 for v in values if v >= lo and (hi is None or v < hi))
    return out


def _plots(folder: Path, stats: dict[str, Any]) -> None:
    """PNG plots for the admin page; skipped (and said so) when matplotlib is missing."""
    rep = folder / "plots"
    rep.mkdir(exist_ok=True)
    lengths = stats.pop("length_values")
    stats["length_histogram"] = {k: _length_bins(v) for k, v in lengths.items()}
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        stats["plots"] = "matplotlib not installed"
        return

    def save(fig, name, left=0.12):
        fig.subplots_adjust(left=left, bottom=0.18, right=0.97, top=0.9)  # tight_layout costs more than a plot
        fig.savefig(rep / name, dpi=80, metadata={"Software": None})  # no timestamps: stable files
        plt.close(fig)

    per = stats["examples"]["per_channel"]
    fig, ax = plt.subplots(figsize=(6, 3))
    ax.barh(list(per), list(per.values()))
    ax.set_xlabel("examples")
    ax.set_title("examples per channel")
    save(fig, "examples_per_channel.png", left=0.3)

    fig, ax = plt.subplots(figsize=(6, 3))
    for kind, vals in lengths.items():
        ax.hist(vals, bins=20, alpha=0.6, label=kind)
    ax.set_xlabel("approximate tokens per example")
    ax.legend()
    ax.set_title("example length")
    save(fig, "length_histogram.png")

    fig, ax = plt.subplots(figsize=(6, 3))
    hist = stats["quality"]["histogram"]
    ax.bar([i / 10 + 0.05 for i in range(10)], hist, width=0.09)
    ax.set_xlabel("quality score")
    ax.set_title("quality score distribution")
    save(fig, "quality_distribution.png")

    topics = stats["top_topics"][::-1]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.barh([t for t, _ in topics], [s for _, s in topics])
    ax.set_title("top topics (question terms)")
    save(fig, "top_topics.png", left=0.3)
    stats["plots"] = sorted(p.name for p in rep.glob("*.png"))
