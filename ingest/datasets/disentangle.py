"""Disentangle interleaved conversations in a channel where people answer without threads.

Method (greedy online linking, in the spirit of Elsner & Charniak 2008 / Kummerfeld et al. 2019, with
hand-set weights instead of a trained classifier — no labelled data exists for a new workspace; the lexical,
turn and recency weights were picked by a small grid on the benchmark sets, see BENCHMARKS.md):

Messages are visited in time order. Each one is scored against every *open* conversation (its last message
is at most `max_gap_s` old) as a weighted sum of reply-to signals:

  mention      the message @-mentions someone who spoke in the conversation   (+ more if it is the last speaker)
  addressed    the conversation's last message @-mentioned this message's author
  quote        the message quotes ("> …") text from the conversation
  continuation same author as the conversation's last message, within `burst_s` (a message split in two)
  participant  the author already spoke in the conversation
  turn         the conversation's last message is a question from someone else (question → answer turn-taking)
  lexical      sqrt of the share of the message's idf mass (stemmed words, idf over the whole channel) found in the
               conversation, scaled down when that shared mass is small (min(1, mass / lexical_norm)): words
               everyone uses link nothing, and a long conversation does not dilute the match as cosine would
  recency      −log(1 + minutes since the conversation's last message)
  opener       a greeting/question that addresses nobody looks like a new conversation (not applied to a
               conversation the author is already in: that is a follow-up)

The message joins the best-scoring conversation when that score reaches `threshold`; otherwise it starts a
new conversation. Linear time in messages × open conversations. Quality is measured by
`benchmarks/dataset_disentangle.py` on threaded channels flattened with their thread structure hidden.
"""
from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import Stemmer

from ingest.datasets.records import Msg
from ingest.datasets.text import (GREETING_RE, content_words, is_question, mentioned_ids, mentioned_names,
                                  quoted_lines)


@dataclass(frozen=True)
class LinkWeights:
    mention: float = 3.0
    mention_last_speaker: float = 1.0
    addressed: float = 2.5
    quote: float = 4.0
    continuation: float = 2.5
    participant: float = 1.0
    turn: float = 1.0
    lexical: float = 4.0
    lexical_norm: float = 8.0  # shared idf mass that counts as full overlap (~3 rare shared words)
    recency: float = 0.3
    opener: float = 2.0
    threshold: float = 0.0
    max_gap_s: float = 3 * 86400.0  # community help channels answer a day or two later
    burst_s: float = 120.0


@dataclass
class _Open:
    idx: list[int] = field(default_factory=list)
    speakers: set[str] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    vec: Counter = field(default_factory=Counter)
    quotes_src: list[str] = field(default_factory=list)
    last_time: float = 0.0
    last_speaker: str = ""
    last_is_question: bool = False
    last_mentions: set[str] = field(default_factory=set)


def _label_names(m: Msg) -> set[str]:
    names = set()
    if m.user_name:
        names.add(m.user_name.lower())
        names.add(m.user_name.lower().split(" ")[0])
    return names


_STEMMER = Stemmer.Stemmer("english")


def _stem(words: list[str]) -> list[str]:
    return _STEMMER.stemWords(words)  # "seeded" and "seed" are the same topic


def disentangle(messages: Sequence[Msg], weights: LinkWeights | None = None) -> list[int]:
    """Return a conversation label per message (labels are 0..k-1 in order of first appearance).

    `messages` must be one channel's top-level messages; they are processed in timestamp order.
    """
    w = weights or LinkWeights()
    order = sorted(range(len(messages)), key=lambda i: (messages[i].time, messages[i].ts))
    # idf over the channel: common words ("sync", "error" in a help channel) link less than rare ones
    docs = [set(_stem(content_words(m.text))) for m in messages]
    df = Counter(t for d in docs for t in d)
    n = max(len(messages), 1)
    idf = {t: math.log((n + 1) / (c + 0.5)) for t, c in df.items()}

    labels = [-1] * len(messages)
    convs: list[_Open] = []
    for i in order:
        m = messages[i]
        vec = Counter({t: idf[t] for t in docs[i]})
        mass = sum(vec.values()) or 1.0
        ment_ids = mentioned_ids(m.raw_text)
        ment_names = mentioned_names(m.text)
        quotes = quoted_lines(m.text)
        opener = (bool(GREETING_RE.match(m.text.split("\n", 1)[0].split(",", 1)[0].strip()))
                  or is_question(m.text)) and not ment_ids and not ment_names and not quotes
        best, best_score = -1, -math.inf
        for ci, c in enumerate(convs):
            gap = m.time - c.last_time
            if gap > w.max_gap_s:
                continue
            s = 0.0
            if (ment_ids & c.speakers) or (ment_names & c.names):
                s += w.mention
                if c.last_speaker in ment_ids or (ment_names & c.names and c.last_speaker == m.speaker):
                    s += w.mention_last_speaker
            if m.speaker in c.last_mentions or (_label_names(m) & c.last_mentions):
                s += w.addressed
            if quotes and any(q in src for q in quotes for src in c.quotes_src):
                s += w.quote
            if m.speaker == c.last_speaker and gap <= w.burst_s:
                s += w.continuation
            elif m.speaker in c.speakers:
                s += w.participant
            if c.last_is_question and m.speaker != c.last_speaker:
                s += w.turn
            shared = sum(vec[t] for t in vec if t in c.vec)
            if shared:
                s += w.lexical * math.sqrt(shared / mass) * min(1.0, shared / w.lexical_norm)
            s -= w.recency * math.log1p(max(gap, 0.0) / 60.0)
            if opener and m.speaker not in c.speakers:
                s -= w.opener
            if s > best_score:
                best, best_score = ci, s
        if best >= 0 and best_score >= w.threshold:
            c = convs[best]
        else:
            c = _Open()
            convs.append(c)
            best = len(convs) - 1
        labels[i] = best
        c.idx.append(i)
        c.speakers.add(m.speaker)
        c.names |= _label_names(m)
        c.vec.update(vec)
        c.quotes_src.append(m.text.lower())
        c.last_time = m.time
        c.last_speaker = m.speaker
        c.last_is_question = is_question(m.text)
        c.last_mentions = ment_ids | ment_names
    # relabel in order of first appearance so labels are deterministic and readable
    remap: dict[int, int] = {}
    for i in order:
        remap.setdefault(labels[i], len(remap))
    return [remap[lab] for lab in labels]


def time_gap_baseline(messages: Sequence[Msg], gap_s: float = 600.0) -> list[int]:
    """Baseline: a new conversation whenever the channel was silent for `gap_s` (no interleaving possible)."""
    order = sorted(range(len(messages)), key=lambda i: messages[i].time)
    labels = [0] * len(messages)
    cur, last = -1, None
    for i in order:
        if last is None or messages[i].time - last > gap_s:
            cur += 1
        labels[i] = cur
        last = messages[i].time
    return labels


def exact_conversation_f1(gold: Sequence, pred: Sequence, *, min_size: int = 1) -> dict[str, float]:
    """Precision/recall/F1 of conversations recovered exactly (same message set). `min_size` ignores smaller
    conversations on both sides (min_size=2 leaves out the trivially recovered single messages)."""
    def clusters(labels: Sequence) -> set[frozenset[int]]:
        groups: dict = {}
        for i, lab in enumerate(labels):
            groups.setdefault(lab, set()).add(i)
        return {frozenset(g) for g in groups.values() if len(g) >= min_size}
    g, p = clusters(gold), clusters(pred)
    hit = len(g & p)
    precision = hit / len(p) if p else 0.0
    recall = hit / len(g) if g else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "gold": len(g), "pred": len(p), "exact": hit}
