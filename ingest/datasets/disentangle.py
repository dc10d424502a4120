"""Disentangle interleaved conversations in a channel where people answer without threads.

Method: a learned reply-link model (`ingest/datasets/replylink.py`, weights in `replylink_model.json`), in the
manner of Kummerfeld et al. 2019. Each message, in time order, picks its antecedent among itself ("starts a new
conversation") and the 50 messages before it, by a linear score over pairwise features: time gap, messages in
between, the previous message, same speaker / the speaker's own last message, @-mentions and names either way,
addressed at the start, people who talked before, turn-taking, question → answer, a question still waiting for
its answer and a reply that opens like an answer, thanks, tf-idf similarity — and, since session 5, features of
the candidate's conversation as formed so far (the speaker already takes part in it or spoke there last, its
latest message, how long it has been silent, its size, a two-person talk, a question waiting for its first
answer; in training read from the gold conversations).
Two weight sets are shipped: one fitted on the IRC logs as logged, used for channels as busy as IRC (median gap
between consecutive messages under 3 × IRC's 8.3 s), and one fitted on those logs plus the same annotated
conversations re-timed to Slack-like channels (conversations minutes to a day apart, replies 2-25 × slower than on
IRC, half without `nick:` addresses, some with a wait of up to an hour before the first answer), used for
everything slower. Time gaps are read at the channel's pace:
divided by how much slower its talk is than the IRC training channel's (median gap between consecutive messages
under an hour, capped at 30 ×); real-time gap and channel-density features (who else talked in the last 15
minutes) let the Slack weights link a reply that names nobody in a quiet channel, where IRC-only weights split it
off. An antecedent more than
`evidence_gap_s` (1 hour, real time) back is only allowed with reply evidence (a mention either way or a strong
lexical link), so no conversation spans hours of silence on proximity alone. The conversations are the
connected components of the chosen links.

The weights are fitted on the Ubuntu IRC corpus (`benchmarks/train_disentangle.py`: train/ fits, dev/ chooses,
test/ reports) — data from other people, never from the workspace being built; quality on IRC test and on Slack
threads with the thread structure hidden is in BENCHMARKS.md (`benchmarks/dataset_disentangle.py`).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Hashable, Sequence

import numpy as np

from ingest.datasets.records import Msg
from ingest.datasets.replylink import components, load_model, to_records


@dataclass(frozen=True)
class LinkWeights:
    """Inference settings on top of the shipped model (part of a dataset build's options, hence its version)."""
    self_bias: float | None = None  # None = the bias chosen on the IRC dev split; higher = more, smaller conversations
    evidence_gap_s: float = 3600.0  # an antecedent further back than this needs a mention or a strong lexical link
    time_scale: float | None = None  # None = the channel's pace relative to the IRC training channel's
    model_path: str | None = None  # None = the model shipped with the package
    pace: str | None = None  # None = dense (IRC-busy) or Slack-pace weights by the channel's median gap; or forced
    opener: bool | None = None  # the model's opener rule: None = with the Slack-pace weights only; or forced on/off
    decode: str | None = None  # None = the model's ("link" / "conversation", ReplyLinkModel.antecedents)


def disentangle(messages: Sequence[Msg], weights: LinkWeights | None = None) -> list[int]:
    """Return a conversation label per message (labels are 0..k-1 in order of first appearance).

    `messages` must be one channel's top-level messages; they are processed in timestamp order.
    """
    if not messages:
        return []
    w = weights or LinkWeights()
    model = load_model(w.model_path)
    order = sorted(range(len(messages)), key=lambda i: (messages[i].time, messages[i].ts))
    recs = to_records([messages[i] for i in order])
    parents = model.antecedents(recs, self_bias=w.self_bias, evidence_gap_s=w.evidence_gap_s,
                                time_scale=w.time_scale, pace=w.pace, opener=w.opener, decode=w.decode)
    labels_sorted = components(parents)
    labels = [0] * len(messages)
    for k, i in enumerate(order):
        labels[i] = labels_sorted[k]
    return labels


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


def _contingency(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> np.ndarray:
    _, gi = np.unique(np.asarray([str(x) for x in gold]), return_inverse=True)
    _, pi = np.unique(np.asarray([str(x) for x in pred]), return_inverse=True)
    table = np.zeros((gi.max() + 1, pi.max() + 1), dtype=np.int64)
    np.add.at(table, (gi, pi), 1)
    return table


def adjusted_rand(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """Adjusted Rand index (Hubert & Arabie), as sklearn.metrics.adjusted_rand_score."""
    n = len(gold)
    if n < 2:
        return 1.0
    t = _contingency(gold, pred)
    comb = lambda x: x * (x - 1) / 2.0  # noqa: E731
    sum_ij = comb(t).sum()
    a, b = comb(t.sum(1)).sum(), comb(t.sum(0)).sum()
    expected = a * b / comb(n)
    top = (a + b) / 2.0
    if top == expected:  # both clusterings trivial (all singletons or one cluster)
        return 1.0
    return float((sum_ij - expected) / (top - expected))


def one_to_one(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> float:
    """Elsner & Charniak's one-to-one overlap: share of messages on a best one-to-one matching of conversations."""
    from scipy.optimize import linear_sum_assignment  # scorer only; inference does not need scipy

    if not gold:
        return 1.0
    t = _contingency(gold, pred)
    rows, cols = linear_sum_assignment(-t)
    return float(t[rows, cols].sum() / len(gold))


def score_clustering(gold: Sequence[Hashable], pred: Sequence[Hashable]) -> dict[str, float]:
    """The scorer used for every figure: ARI, exact-conversation F1 (all sizes), F1 over ≥ 2-message
    conversations, one-to-one overlap."""
    return {"ari": adjusted_rand(gold, pred), "f1": exact_conversation_f1(gold, pred)["f1"],
            "f1_multi": exact_conversation_f1(gold, pred, min_size=2)["f1"], "one_to_one": one_to_one(gold, pred)}
