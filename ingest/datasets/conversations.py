"""Conversation units from one channel: Slack threads as they are, disentangled runs for un-threaded messages,
enormous threads split at their longest silences."""
from __future__ import annotations

import math
from collections import Counter
from typing import Iterable, Sequence

from ingest.datasets.disentangle import LinkWeights, disentangle
from ingest.datasets.records import Channel, ConversationUnit, Msg
from ingest.datasets.text import approx_tokens, content_words, mentioned_ids, mentioned_names

DEFAULT_MAX_MESSAGES = 40


def usable(m: Msg) -> str | None:
    """Why a message cannot be part of a training conversation, or None when it can."""
    if m.deleted:
        return "deleted"
    if m.is_bot or m.filtered == "bot":
        return "bot"
    if m.filtered:
        return m.filtered  # join/leave/topic and other system messages
    if not m.text.strip():
        return "empty"
    return None


def _window_vec(msgs: Sequence[Msg]) -> Counter:
    return Counter(w for m in msgs for w in content_words(m.text) if len(w) > 2)


def _cosine(a: Counter, b: Counter) -> float:
    if not a or not b:
        return 0.0
    dot = sum(v * b[w] for w, v in a.items() if w in b)
    return dot / math.sqrt(sum(v * v for v in a.values()) * sum(v * v for v in b.values()))


def boundary_scores(messages: Sequence[Msg], window: int = 5) -> list[float]:
    """How much the talk changes before message k (k = 1..n-1; index 0 is unused): the silence before it
    (log minutes) plus how different the words of the `window` messages before and after are (1 - cosine),
    minus a reply link across the cut (the message @-mentions or names someone who just spoke)."""
    out = [-math.inf]
    for k in range(1, len(messages)):
        gap_min = max(messages[k].time - messages[k - 1].time, 0.0) / 60.0
        left, right = messages[max(0, k - window):k], messages[k:k + window]
        dissim = 1.0 - _cosine(_window_vec(left), _window_vec(right))
        recent = {m.speaker for m in left} - {messages[k].speaker}
        replies_across = bool(mentioned_ids(messages[k].raw_text) & recent) or bool(
            mentioned_names(messages[k].text) & {(m.user_name or "").lower() for m in left if m.user_name})
        out.append(math.log1p(gap_min) + 2.0 * dissim - 2.0 * replies_across)
    return out


def split_long(messages: Sequence[Msg], max_messages: int, max_tokens: int | None = None) -> list[list[Msg]]:
    """Split a time-ordered conversation that is too long (more than `max_messages`, or about `max_tokens`) at
    its topic boundaries: each cut goes where the silence is longest and the words change most
    (`boundary_scores`), recursively, keeping every part at least a quarter of the span it is cut from. Every
    message lands in exactly one part; no part is given another part's messages (a later part is a
    conversation of its own, not the opening question plus a continuation)."""
    too_many_tokens = max_tokens is not None and sum(approx_tokens(m.text) for m in messages) > max_tokens
    if len(messages) < 2 or (len(messages) <= max_messages and not too_many_tokens):
        return [list(messages)]
    scores = boundary_scores(messages)
    lo, hi = 1, len(messages) - 1
    quarter = max(1, min(len(messages) // 4, max_messages // 2))
    lo, hi = max(lo, quarter), min(hi, len(messages) - quarter)
    cut = max(range(lo, hi + 1), key=lambda i: (scores[i], -abs(i - len(messages) / 2)))
    return split_long(messages[:cut], max_messages, max_tokens) + split_long(messages[cut:], max_messages, max_tokens)


def _opening(msgs: Sequence[Msg], part: int) -> dict:
    """Where a part of a split conversation came from: the whole conversation's opening message (its permalink
    is kept on every example built from any part); the part's own text is not changed."""
    if not part:
        return {}
    return {"opening_ts": msgs[0].ts, "opening_permalink": msgs[0].permalink}


def channel_conversations(channel: Channel, messages: Iterable[Msg], *, max_messages: int = DEFAULT_MAX_MESSAGES,
                          weights: LinkWeights | None = None, counts: Counter | None = None,
                          max_tokens: int | None = None) -> list[ConversationUnit]:
    """All conversations of one channel, in time order of their first message.

    Messages in a thread (thread_ts set and a reply exists, or it is a reply) stay together; every other
    top-level message is disentangled with its neighbours. `counts` receives what was dropped and why.
    """
    counts = counts if counts is not None else Counter()
    kept: list[Msg] = []
    for m in messages:
        why = usable(m)
        if why:
            counts[f"messages_dropped_{why}"] += 1
        else:
            kept.append(m)
    kept.sort(key=lambda m: (m.time, m.ts))
    threads: dict[str, list[Msg]] = {}
    for m in kept:
        if m.thread_ts:
            threads.setdefault(m.thread_ts, []).append(m)
    standalone = [m for m in kept if not m.thread_ts or len(threads.get(m.thread_ts, ())) < 2]
    threads = {k: v for k, v in threads.items() if len(v) >= 2}

    convs: list[ConversationUnit] = []
    for thread_ts, msgs in threads.items():
        parts = split_long(msgs, max_messages, max_tokens)
        if len(parts) > 1:
            counts["threads_split"] += 1
            counts["thread_parts"] += len(parts)
        for k, part in enumerate(parts):
            meta = {"thread_ts": thread_ts, **_opening(msgs, k)}
            cid = f"{channel.channel_id}:{thread_ts}" + (f":p{k}" if len(parts) > 1 else "")
            convs.append(ConversationUnit(cid, channel, part, "thread", part=k, meta=meta))
    counts["threads"] += len(threads)

    if standalone:
        labels = disentangle(standalone, weights)
        groups: dict[int, list[Msg]] = {}
        for m, lab in zip(standalone, labels):
            groups.setdefault(lab, []).append(m)
        for msgs in groups.values():
            parts = split_long(msgs, max_messages, max_tokens)
            for k, part in enumerate(parts):
                meta = _opening(msgs, k)
                method = "disentangled" if len(msgs) > 1 else "single"
                cid = f"{channel.channel_id}:{msgs[0].ts}" + (f":p{k}" if len(parts) > 1 else "")
                convs.append(ConversationUnit(cid, channel, part, method, part=k, meta=meta))
        counts["disentangled_messages"] += len(standalone)
        counts["disentangled_conversations"] += sum(1 for g in groups.values() if len(g) > 1)
    convs.sort(key=lambda c: (c.messages[0].time, c.conversation_id))
    return convs
