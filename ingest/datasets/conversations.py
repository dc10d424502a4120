"""Conversation units from one channel: Slack threads as they are, disentangled runs for un-threaded messages,
enormous threads split at their longest silences."""
from __future__ import annotations

from collections import Counter
from typing import Iterable, Sequence

from ingest.datasets.disentangle import LinkWeights, disentangle
from ingest.datasets.records import Channel, Conversation, Msg
from ingest.datasets.text import approx_tokens

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


def split_long(messages: Sequence[Msg], max_messages: int, max_tokens: int | None = None) -> list[list[Msg]]:
    """Split a time-ordered run into parts of at most `max_messages` (and about `max_tokens`), cutting at the
    longest silence each time (a thread that goes on for days usually changes subject when it resumes)."""
    too_many_tokens = max_tokens is not None and sum(approx_tokens(m.text) for m in messages) > max_tokens
    if len(messages) < 2 or (len(messages) <= max_messages and not too_many_tokens):
        return [list(messages)]
    lo, hi = 1, len(messages) - 1
    # keep parts from being tiny: cut in the middle stretch where both sides keep at least a quarter
    quarter = max(1, min(len(messages) // 4, max_messages // 2))
    lo, hi = max(lo, quarter), min(hi, len(messages) - quarter)
    cut = max(range(lo, hi + 1), key=lambda i: (messages[i].time - messages[i - 1].time, -abs(i - len(messages) / 2)))
    return split_long(messages[:cut], max_messages, max_tokens) + split_long(messages[cut:], max_messages, max_tokens)


def channel_conversations(channel: Channel, messages: Iterable[Msg], *, max_messages: int = DEFAULT_MAX_MESSAGES,
                          weights: LinkWeights | None = None, counts: Counter | None = None,
                          max_tokens: int | None = None) -> list[Conversation]:
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

    convs: list[Conversation] = []
    for thread_ts, msgs in threads.items():
        parts = split_long(msgs, max_messages, max_tokens)
        if len(parts) > 1:
            counts["threads_split"] += 1
            counts["thread_parts"] += len(parts)
        for k, part in enumerate(parts):
            meta = {"thread_ts": thread_ts}
            if k:
                meta.update(asker=msgs[0].speaker, root_text=msgs[0].text, root_ts=msgs[0].ts)
            cid = f"{channel.channel_id}:{thread_ts}" + (f":p{k}" if len(parts) > 1 else "")
            convs.append(Conversation(cid, channel, part, "thread", part=k, meta=meta))
    counts["threads"] += len(threads)

    if standalone:
        labels = disentangle(standalone, weights)
        groups: dict[int, list[Msg]] = {}
        for m, lab in zip(standalone, labels):
            groups.setdefault(lab, []).append(m)
        for msgs in groups.values():
            parts = split_long(msgs, max_messages, max_tokens)
            for k, part in enumerate(parts):
                meta = {}
                if k:
                    meta.update(asker=msgs[0].speaker, root_text=msgs[0].text, root_ts=msgs[0].ts)
                method = "disentangled" if len(msgs) > 1 else "single"
                cid = f"{channel.channel_id}:{msgs[0].ts}" + (f":p{k}" if len(parts) > 1 else "")
                convs.append(Conversation(cid, channel, part, method, part=k, meta=meta))
        counts["disentangled_messages"] += len(standalone)
        counts["disentangled_conversations"] += sum(1 for g in groups.values() if len(g) > 1)
    convs.sort(key=lambda c: (c.messages[0].time, c.conversation_id))
    return convs
