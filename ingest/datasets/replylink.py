"""Reply-link features and the learned reply-link model (numpy-only inference).

Every message of an un-threaded channel either replies to one earlier message (its antecedent) or starts a new
conversation. For message i the candidates are itself (= "starts a conversation") and the `window` messages
before it; each candidate gets a feature vector, the model scores them linearly and the best one wins (a
conditional-logit ranker, the linear cousin of Kummerfeld et al. 2019's feed-forward model). The conversations
are the connected components of the chosen links. Since session 5 a candidate also carries features of its
conversation as formed so far (`conversation_features`: the links chosen for the earlier messages at inference,
the gold conversations in training).

The same features are computed for IRC logs (nicks, minute timestamps spread over the minute) and Slack channels
(user ids, `<@U…>` mentions, second timestamps): both are first normalised to a `LinkRecord` — speaker, time in
seconds, text, the speakers it mentions. The weights are fitted on the Ubuntu IRC corpus, as logged and re-timed
to Slack-like channels (`benchmarks/train_disentangle.py`), and shipped as `replylink_model.json` next to this
file: one set for IRC-busy channels, one for slower (Slack) ones (`ReplyLinkModel.weights_for`).
"""
from __future__ import annotations

import json
import math
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

import numpy as np

from ingest.datasets.records import Msg
from ingest.datasets.text import (GREETING_RE, STOPWORDS, THANKS_RE, URL_RE, content_words, is_question,
                                  mentioned_ids)

MODEL_PATH = Path(__file__).with_name("replylink_model.json")

PAIR_FEATURES = (
    "gap_log", "gap_lt1m", "gap_1_5m", "gap_5_30m", "gap_30_120m", "gap_gt2h",
    "dist_log", "prev", "dist_2_3",
    "same", "same_prev_own", "same_x_gap_log",
    "mention", "addressed", "j_mentions_i", "mention_other", "j_mention_other", "mention_x_gap_log",
    "j_latest_of_speaker", "talked_before", "i_spoke_since_j", "j_speaker_spoke_since",
    "cos", "cos_gt02", "cos_gt04", "shared_log",
    "j_question", "i_question", "question_answer", "i_thanks", "j_url",
    "rgap_gt10m", "rgap_gt1h", "j_latest_other", "prev_x_quiet", "latest_other_x_quiet", "question_after_question",
    "open_question", "open_question_x_gap_log", "same_prev", "answer_cue_open_question",
    "latest_other_x_unaddressed",
)
# conversation-level features of a candidate (session 5): they read the conversations formed so far (the links
# chosen for the earlier messages; in training the gold ones) — `conversation_features`
CONV_FEATURES = (
    "conv_speaker_in", "conv_last", "conv_gap_log", "conv_size_log", "conv_one_speaker", "conv_member_q_gap_log",
    "conv_rgap_gt30m_noev", "conv_speaker_latest", "conv_turn", "conv_two_party",
)
SELF_FEATURES = (
    "self", "self_gap_log", "self_gap_gt5m", "self_gap_gt30m", "self_gap_gt2h",
    "self_has_mention", "self_question", "self_greeting", "self_thanks", "self_speaker_new", "self_len_log",
    "self_rgap_lt2m", "self_rgap_gt10m", "self_rgap_gt1h", "self_quiet", "self_recent_log", "self_new_asker",
    "self_question_own_gap_log", "self_answer_cue", "self_mention_share",
)
MENTION_SHARE_FLOOR = 0.13
QUIET_WINDOW_S = 900.0  # "recent" for the density features: the last 15 minutes of real time
FEATURES = PAIR_FEATURES + SELF_FEATURES + CONV_FEATURES
_PI = {f: k for k, f in enumerate(FEATURES)}
NAME_NORM_RE = re.compile(r"[^a-z0-9]")
TOKEN_SPLIT_RE = re.compile(r"\s+")
# how an answer or a reaction opens (not a question): "yes …", "you can …", "try …", "use …", "it's …"
ANSWER_START_RE = re.compile(
    r"^\s*(yes|yeah|yep|yup|no|nope|nah|you|your|you'?re|you'?ll|try|use|run|install|just|it|it'?s|that|that'?s|"
    r"this|maybe|probably|perhaps|i think|i'?d|i would|i guess|sure|sorry|check|look at|see|because|since|if you|"
    r"depends|afaik|iirc)\b", re.I)


@dataclass
class LinkRecord:
    speaker: str
    time: float  # seconds
    text: str
    mentions: frozenset[str]  # speakers this message names or @-mentions
    addressed: frozenset[str]  # speakers named at the very start ("nick: …", "<@U1> …")
    question: bool
    thanks: bool
    greeting: bool
    url: bool
    words: int
    answer_cue: bool = False  # opens like an answer (ANSWER_START_RE) and is not a question


def _norm(name: str) -> str:
    return NAME_NORM_RE.sub("", name.lower())


def _speaker_names(messages: Sequence[Msg]) -> dict[str, str]:
    """normalised name -> speaker, for every speaker of the channel (user id, handle, display name, first name)."""
    out: dict[str, str] = {}
    for m in messages:
        cands = {m.speaker}
        if m.user_name:
            cands |= {m.user_name, m.user_name.split(" ")[0]}
        for c in cands:
            n = _norm(c)
            if len(n) >= 3 and n not in STOPWORDS:
                out.setdefault(n, m.speaker)
    return out


def to_records(messages: Sequence[Msg]) -> list[LinkRecord]:
    """Normalise one channel's messages (in the order given) to the common record."""
    names = _speaker_names(messages)
    ids = {m.speaker for m in messages}
    out = []
    for m in messages:
        raw = m.raw_text or m.text
        ment_ids = {u for u in mentioned_ids(raw) if u in ids or u.startswith(("U", "W"))}
        tokens = [t for t in TOKEN_SPLIT_RE.split(m.text.strip()) if t]
        named = set()
        for t in tokens:
            n = _norm(t)
            if n in names:
                named.add(names[n])
        first = set()
        if tokens:
            n0 = _norm(tokens[0])
            if n0 in names and (tokens[0].endswith((":", ",")) or tokens[0].startswith("@") or len(tokens) == 1):
                first.add(names[n0])
        lead = re.match(r"\s*<@([UWB][A-Z0-9]+)", raw)
        if lead:
            first.add(lead.group(1))
        mentions = frozenset((ment_ids | named | first) - {m.speaker})
        text = m.text
        bare = text.split("\n", 1)[0].split(",", 1)[0].strip()
        out.append(LinkRecord(speaker=m.speaker, time=m.time, text=text, mentions=mentions,
                              addressed=frozenset(first - {m.speaker}), question=is_question(text),
                              thanks=bool(THANKS_RE.search(text)), greeting=bool(GREETING_RE.match(bare)),
                              url=bool(URL_RE.search(raw)), words=len(tokens),
                              answer_cue=bool(ANSWER_START_RE.match(text)) and not is_question(text)))
    return out


def _tfidf(records: Sequence[LinkRecord]) -> list[dict[str, float]]:
    docs = [Counter(w for w in content_words(r.text) if len(w) > 2) for r in records]
    df = Counter(w for d in docs for w in d)
    n = max(len(docs), 1)
    vecs = []
    for d in docs:
        v = {w: (1 + math.log(c)) * math.log((n + 1) / (df[w] + 0.5)) for w, c in d.items()}
        norm = math.sqrt(sum(x * x for x in v.values())) or 1.0
        vecs.append({w: x / norm for w, x in v.items()})
    return vecs


def _gap_bins(gap_min: float) -> tuple[float, float, float, float, float]:
    return (float(gap_min < 1), float(1 <= gap_min < 5), float(5 <= gap_min < 30), float(30 <= gap_min < 120),
            float(gap_min >= 120))


class Candidates:
    """Feature matrices of every message's candidates (itself + up to `window` earlier messages)."""

    def __init__(self, records: Sequence[LinkRecord], window: int = 50, max_gap_s: float = 3 * 86400.0,
                 time_scale: float = 1.0):
        self.records = records
        self.window = window
        self.time_scale = time_scale  # time gaps are divided by it (a slower channel's minutes count less)
        self.max_gap_s = max_gap_s
        self.vecs = _tfidf(records)

    def for_message(self, i: int) -> tuple[np.ndarray, list[int], np.ndarray]:
        """(features [n_cand × d], candidate indices (i first = itself), evidence flag per candidate)."""
        recs, vecs = self.records, self.vecs
        r = recs[i]
        lo = max(0, i - self.window)
        cands = [i] + [j for j in range(i - 1, lo - 1, -1) if r.time - recs[j].time <= self.max_gap_s]
        X = np.zeros((len(cands), len(FEATURES)), dtype=np.float32)
        evidence = np.zeros(len(cands), dtype=bool)
        # self row
        prev_gap = (r.time - recs[i - 1].time) / 60.0 / self.time_scale if i > 0 else 1e4
        prev_gap = max(prev_gap, 0.0)
        seen_speakers = {recs[k].speaker for k in range(lo, i)}
        row = X[0]
        row[_PI["self"]] = 1
        row[_PI["self_gap_log"]] = math.log1p(prev_gap)
        row[_PI["self_gap_gt5m"]] = prev_gap >= 5
        row[_PI["self_gap_gt30m"]] = prev_gap >= 30
        row[_PI["self_gap_gt2h"]] = prev_gap >= 120
        row[_PI["self_has_mention"]] = bool(r.mentions)
        row[_PI["self_question"]] = r.question
        row[_PI["self_greeting"]] = r.greeting
        row[_PI["self_thanks"]] = r.thanks
        row[_PI["self_speaker_new"]] = r.speaker not in seen_speakers
        row[_PI["self_len_log"]] = math.log1p(r.words)
        # real (unscaled) time and how busy the channel is: in a quiet channel the last message is the antecedent
        real_prev = max(r.time - recs[i - 1].time, 0.0) if i > 0 else 1e9
        row[_PI["self_rgap_lt2m"]] = real_prev < 120
        row[_PI["self_rgap_gt10m"]] = real_prev >= 600
        row[_PI["self_rgap_gt1h"]] = real_prev >= 3600
        recent = set()
        for k in range(i - 1, lo - 1, -1):
            if r.time - recs[k].time > QUIET_WINDOW_S:
                break
            if recs[k].speaker != r.speaker:
                recent.add(recs[k].speaker)
        quiet = len(recent) <= 1
        row[_PI["self_quiet"]] = quiet
        row[_PI["self_recent_log"]] = math.log1p(len(recent))
        row[_PI["self_new_asker"]] = r.question and r.speaker not in seen_speakers
        row[_PI["self_answer_cue"]] = r.answer_cue
        # how much this channel names its addressees (share of the window's messages with a mention): where nobody
        # does, a reply's only cue is proximity, so starting a conversation should take more. Floored at the share
        # of the training channels with addresses stripped (IRC keeps other nick mentions: 0.133 on the dev
        # proxies): a channel where nobody mentions anyone lies outside what the weights were fitted on
        mention_share = sum(1 for k in range(lo, i) if recs[k].mentions) / (i - lo) if i > lo else 0.0
        mention_share = max(mention_share, MENTION_SHARE_FLOOR)
        row[_PI["self_mention_share"]] = mention_share
        # a question from someone back after a pause (a new question, not a follow-up): how long since they spoke
        if r.question:
            own = next((k for k in range(i - 1, lo - 1, -1) if recs[k].speaker == r.speaker), None)
            own_gap = (r.time - recs[own].time) / 60.0 / self.time_scale if own is not None else 1e4
            row[_PI["self_question_own_gap_log"]] = math.log1p(max(own_gap, 0.0))
        evidence[0] = True
        # who mentioned whom before i (within the window): people who have talked to each other
        talked: set[tuple[str, str]] = set()
        for k in range(lo, i):
            for who in recs[k].mentions:
                talked.add((recs[k].speaker, who))
        latest_of: dict[str, int] = {}
        vi = vecs[i]
        i_spoke_after = False  # did i's speaker speak after candidate j (scanning backwards)
        speakers_after: set[str] = set()
        other_seen = False  # a message of another speaker between candidate j and i
        for row_k, j in enumerate(cands[1:], start=1):
            q = recs[j]
            row = X[row_k]
            gap = max(r.time - q.time, 0.0) / 60.0 / self.time_scale
            dist = i - j
            same = q.speaker == r.speaker
            g = math.log1p(gap)
            row[_PI["gap_log"]] = g
            (row[_PI["gap_lt1m"]], row[_PI["gap_1_5m"]], row[_PI["gap_5_30m"]], row[_PI["gap_30_120m"]],
             row[_PI["gap_gt2h"]]) = _gap_bins(gap)
            row[_PI["dist_log"]] = math.log1p(dist - 1)
            row[_PI["prev"]] = dist == 1
            row[_PI["dist_2_3"]] = 2 <= dist <= 3
            row[_PI["same"]] = same
            is_latest = q.speaker not in latest_of
            if is_latest:
                latest_of[q.speaker] = j
            row[_PI["same_prev_own"]] = same and is_latest
            row[_PI["same_x_gap_log"]] = g if same else 0.0
            mention = (not same) and q.speaker in r.mentions
            row[_PI["mention"]] = mention
            row[_PI["addressed"]] = (not same) and q.speaker in r.addressed
            jm = (not same) and r.speaker in q.mentions
            row[_PI["j_mentions_i"]] = jm
            row[_PI["mention_other"]] = bool(r.mentions) and not mention
            row[_PI["j_mention_other"]] = bool(q.mentions) and r.speaker not in q.mentions
            row[_PI["mention_x_gap_log"]] = g if mention else 0.0
            row[_PI["j_latest_of_speaker"]] = is_latest
            row[_PI["talked_before"]] = (not same) and ((r.speaker, q.speaker) in talked
                                                         or (q.speaker, r.speaker) in talked)
            row[_PI["i_spoke_since_j"]] = i_spoke_after
            row[_PI["j_speaker_spoke_since"]] = q.speaker in speakers_after
            vj = vecs[j]
            small, big = (vi, vj) if len(vi) <= len(vj) else (vj, vi)
            cos = sum(x * big[w] for w, x in small.items() if w in big)
            shared = sum(1 for w in small if w in big)
            row[_PI["cos"]] = cos
            row[_PI["cos_gt02"]] = cos >= 0.2
            row[_PI["cos_gt04"]] = cos >= 0.4
            row[_PI["shared_log"]] = math.log1p(shared)
            row[_PI["j_question"]] = q.question
            row[_PI["i_question"]] = r.question
            row[_PI["question_answer"]] = q.question and not r.question and not same
            row[_PI["i_thanks"]] = r.thanks and not same
            row[_PI["j_url"]] = q.url
            real = max(r.time - q.time, 0.0)
            row[_PI["rgap_gt10m"]] = real >= 600
            row[_PI["rgap_gt1h"]] = real >= 3600
            latest_other = (not same) and not other_seen
            row[_PI["j_latest_other"]] = latest_other
            row[_PI["prev_x_quiet"]] = dist == 1 and quiet
            row[_PI["latest_other_x_quiet"]] = latest_other and quiet
            row[_PI["latest_other_x_unaddressed"]] = (1.0 - mention_share) if latest_other else 0.0
            row[_PI["question_after_question"]] = q.question and r.question and not same
            # a question still waiting for its answer (its asker has not spoken since) and a non-question from
            # someone else: a help channel's first answer, often many minutes later and naming nobody
            open_q = q.question and is_latest and not same and not r.question
            row[_PI["open_question"]] = open_q
            row[_PI["open_question_x_gap_log"]] = g if open_q else 0.0
            row[_PI["same_prev"]] = same and dist == 1
            row[_PI["answer_cue_open_question"]] = open_q and r.answer_cue
            evidence[row_k] = mention or jm or (cos >= 0.35 and not same)  # a reply, not the asker repeating
            if q.speaker == r.speaker:
                i_spoke_after = True
            speakers_after.add(q.speaker)
            if not same:
                other_seen = True
        return X, cands, evidence


class ConversationState:
    """The conversations formed so far, message by message in time order: each message's conversation (its
    first message), and per conversation its latest message, speakers and size."""

    def __init__(self):
        self.root: list[int] = []
        self.last: dict[int, int] = {}
        self.speakers: dict[int, set[str]] = {}
        self.size: dict[int, int] = {}
        self.speaker_conv: dict[str, int] = {}  # speaker -> the conversation they spoke in last

    def add(self, i: int, parent: int, speaker: str) -> None:
        c = i if parent == i else self.root[parent]
        self.root.append(c)
        self.speaker_conv[speaker] = c
        self.last[c] = i
        self.speakers.setdefault(c, set()).add(speaker)
        self.size[c] = self.size.get(c, 0) + 1


_CI = [_PI[f] for f in CONV_FEATURES]


def conversation_features(X: np.ndarray, idx: Sequence[int], evidence: np.ndarray, records: Sequence[LinkRecord],
                          state: ConversationState, time_scale: float) -> np.ndarray:
    """Fill the CONV_FEATURES columns of message i's candidate rows (i = idx[0]) in place from the conversations
    formed before it: i's speaker already took part in candidate j's conversation (j by someone else), j is that
    conversation's latest message, the time since its latest message (scaled as the pair gaps, and over 30 real
    minutes with no reply evidence), its size, whether only its opener has spoken (a question waiting for an
    answer), for a question from one of its members how long that conversation has been silent (a member asking
    something new after a while starts a new conversation more often than not), whether it is the conversation
    i's speaker spoke in last, whether its latest message is by someone else than i's member speaker (their
    turn), and whether it is a two-person talk between i's speaker and j's."""
    r = records[idx[0]]
    for row_k in range(1, len(idx)):
        j = idx[row_k]
        c = state.root[j]
        last = state.last[c]
        speakers = state.speakers[c]
        member = r.speaker in speakers
        real = max(r.time - records[last].time, 0.0)
        g = math.log1p(real / 60.0 / time_scale)
        row = X[row_k]
        row[_CI[0]] = member and records[j].speaker != r.speaker
        row[_CI[1]] = j == last
        row[_CI[2]] = g
        row[_CI[3]] = math.log1p(state.size[c])
        row[_CI[4]] = len(speakers) == 1 and not member
        row[_CI[5]] = g if (member and r.question) else 0.0
        row[_CI[6]] = real >= 1800 and not evidence[row_k]
        row[_CI[7]] = state.speaker_conv.get(r.speaker) == c
        row[_CI[8]] = member and records[last].speaker != r.speaker
        row[_CI[9]] = member and len(speakers) == 2 and records[j].speaker != r.speaker
    return X


def pick(scores: np.ndarray, idx: Sequence[int], root: Sequence[int], decode: str = "link") -> int:
    """The chosen row of a message's candidate scores (row 0 = itself = a new conversation). "link": the best
    row. "conversation": softmax probabilities summed per conversation (`root` of each earlier message); the most
    likely conversation wins if it is more likely than a new one, linked to its best-scoring message."""
    k = int(np.argmax(scores))
    if decode != "conversation" or len(idx) < 2:
        return k
    p = np.exp(scores - scores[k])
    mass: dict[int, float] = {}
    for row_k in range(1, len(idx)):
        if p[row_k] > 0:
            c = root[idx[row_k]]
            mass[c] = mass.get(c, 0.0) + float(p[row_k])
    if not mass:
        return 0
    best = max(mass, key=mass.get)
    if mass[best] <= p[0]:
        return 0
    return max((row_k for row_k in range(1, len(idx)) if root[idx[row_k]] == best), key=lambda row_k: scores[row_k])


@dataclass(frozen=True)
class ReplyLinkModel:
    """Two weight vectors over the same features: `weights` for channels at Slack pace (fitted on the IRC logs
    and on the same conversations re-timed to slow, sparse channels) and `dense_weights` for channels as busy as
    IRC (fitted on the logs as logged); a channel whose median gap between consecutive messages is under
    `dense_below_pace_s` uses the dense ones."""
    weights: np.ndarray
    window: int = 50
    self_bias: float = 0.0  # added to the "starts a conversation" score (chosen on the dev split)
    evidence_gap_s: float = 3600.0  # an antecedent further back than this needs reply evidence
    max_gap_s: float = 3 * 86400.0
    reference_pace_s: float = 0.0  # median gap between consecutive messages of the training channel (0 = no scaling)
    max_time_scale: float = 30.0
    dense_weights: np.ndarray | None = None
    dense_self_bias: float = 0.0
    dense_below_pace_s: float = 0.0
    # the opener rule (Slack-pace weights only; chosen on the dev proxy channels, benchmarks/disentangle_proxies.py):
    # a question of at least `opener_min_words` words that names nobody, has no reply evidence to its best
    # antecedent (no mention either way, tf-idf cosine < 0.35) and comes from a newcomer starts a conversation of
    # its own — newcomer: has not spoken among the candidates of the last `opener_window_s` seconds (0: has not
    # spoken in the antecedent's conversation). So does such a question from anyone after `opener_gap_s` of
    # silence (0 = off; off in the shipped model: it lowered the dev proxies). Fixes the over-merge of a new
    # question asked a minute after someone else's.
    opener_new_speaker: bool = False
    opener_gap_s: float = 0.0
    opener_min_words: int = 0  # the opener rule needs a question of at least this many words
    opener_window_s: float = 0.0  # > 0: "new speaker" = has not spoken in the channel for this long (not only C)
    decode: str = "link"  # with the Slack-pace weights: "link" (best candidate) or "conversation" (`antecedents`)
    meta: tuple = ()

    @staticmethod
    def median_gap(records: Sequence[LinkRecord]) -> float:
        """Median gap between consecutive messages, gaps under an hour only (talk, not silence); 0 if none."""
        gaps = [b.time - a.time for a, b in zip(records, records[1:]) if 0 <= b.time - a.time < 3600]
        return float(np.median(gaps)) if gaps else 0.0

    def pace_scale(self, records: Sequence[LinkRecord]) -> float:
        """How much slower this channel talks than the training channel: the ratio of the median gap between
        consecutive messages (gaps under an hour: talk, not silence), at least 1. A Slack channel where replies
        come minutes apart then reads like the IRC channel where they come seconds apart."""
        if not self.reference_pace_s or len(records) < 3:
            return 1.0
        gap = self.median_gap(records)
        if not gap:
            return 1.0
        return float(min(self.max_time_scale, max(1.0, gap / self.reference_pace_s)))

    def weights_for(self, records: Sequence[LinkRecord], pace: str | None = None) -> tuple[np.ndarray, float]:
        """(weights, self bias) for this channel: the dense ones for an IRC-busy channel, else the Slack ones.
        `pace` "dense" / "slack" forces one set (None = by the channel's median gap)."""
        if pace not in (None, "dense", "slack"):
            raise ValueError(f"pace must be None, 'dense' or 'slack', not {pace!r}")
        if pace == "dense" and self.dense_weights is not None:
            return self.dense_weights, self.dense_self_bias
        if pace is None and self.dense_weights is not None and len(records) >= 3 and \
                0 < self.median_gap(records) < self.dense_below_pace_s:
            return self.dense_weights, self.dense_self_bias
        return self.weights, self.self_bias

    @classmethod
    def from_dict(cls, d: dict) -> "ReplyLinkModel":
        names = d["features"]
        pad = 0
        if len(names) >= len(PAIR_FEATURES + SELF_FEATURES) and tuple(names) == FEATURES[:len(names)]:
            pad = len(FEATURES) - len(names)  # an earlier model, without the later conversation features: weight 0
        else:
            raise ValueError(f"model features {names} do not match this code's {FEATURES}")

        def vec(x):
            return np.concatenate([np.asarray(x, dtype=np.float32), np.zeros(pad, dtype=np.float32)])
        dense = d.get("dense_weights")
        return cls(vec(d["weights"]), window=int(d["window"]),
                   self_bias=float(d.get("self_bias", 0.0)), evidence_gap_s=float(d["evidence_gap_s"]),
                   max_gap_s=float(d["max_gap_s"]), reference_pace_s=float(d.get("reference_pace_s", 0.0)),
                   max_time_scale=float(d.get("max_time_scale", 30.0)),
                   dense_weights=None if dense is None else vec(dense),
                   dense_self_bias=float(d.get("dense_self_bias", 0.0)),
                   dense_below_pace_s=float(d.get("dense_below_pace_s", 0.0)),
                   opener_new_speaker=bool(d.get("opener_new_speaker", False)),
                   opener_gap_s=float(d.get("opener_gap_s", 0.0)),
                   opener_min_words=int(d.get("opener_min_words", 0)),
                   opener_window_s=float(d.get("opener_window_s", 0.0)),
                   decode=str(d.get("decode", "link")),
                   meta=tuple(sorted((d.get("meta") or {}).items())))

    def to_dict(self) -> dict:
        out = {"features": list(FEATURES), "weights": [round(float(x), 6) for x in self.weights],
               "window": self.window, "self_bias": self.self_bias, "evidence_gap_s": self.evidence_gap_s,
               "max_gap_s": self.max_gap_s, "reference_pace_s": self.reference_pace_s,
               "max_time_scale": self.max_time_scale, "opener_new_speaker": self.opener_new_speaker,
               "opener_gap_s": self.opener_gap_s, "opener_min_words": self.opener_min_words,
               "opener_window_s": self.opener_window_s, "decode": self.decode}
        if self.dense_weights is not None:
            out |= {"dense_weights": [round(float(x), 6) for x in self.dense_weights],
                    "dense_self_bias": self.dense_self_bias, "dense_below_pace_s": self.dense_below_pace_s}
        return out | {"meta": dict(self.meta)}

    def antecedents(self, records: Sequence[LinkRecord], *, self_bias: float | None = None,
                    evidence_gap_s: float | None = None, time_scale: float | None = None,
                    pace: str | None = None, opener: bool | None = None, decode: str | None = None,
                    rows: Sequence | None = None) -> list[int]:
        """For each record (time-ordered), the index of the message it replies to (itself = new conversation).
        `time_scale` None = the channel's pace relative to the training channel's (`pace_scale`); `self_bias`
        None = the bias chosen with the weights the channel's pace selects (`weights_for`); `opener` None = the
        opener rule with the Slack-pace weights only (True / False: force it on / off). `decode` None = the
        model's: "link" = the best-scoring candidate wins; "conversation" = the candidates' probabilities (softmax
        of the scores) are summed per conversation and the most likely conversation (or a new one) wins, linked
        to its best-scoring message — in a channel where replies name nobody the evidence for a conversation is
        spread over several of its messages. `rows`: the candidate rows of `Candidates.for_message` for every
        record, computed before (a benchmark trying many settings); their conversation columns are overwritten."""
        weights, chosen_bias = self.weights_for(records, pace)
        if opener is None:
            opener = weights is self.weights
        new_speaker = opener and self.opener_new_speaker
        opener_gap = self.opener_gap_s if opener else 0.0
        bias = chosen_bias if self_bias is None else self_bias
        egap = self.evidence_gap_s if evidence_gap_s is None else evidence_gap_s
        scale = self.pace_scale(records) if time_scale is None else time_scale
        decode = decode or (self.decode if weights is self.weights else "link")
        if decode not in ("link", "conversation"):
            raise ValueError(f"decode must be 'link' or 'conversation', not {decode!r}")
        cand = Candidates(records, self.window, self.max_gap_s, scale)
        out: list[int] = []
        state = ConversationState()
        root, speakers = state.root, state.speakers  # conversation (first message) of each message; its speakers
        for i in range(len(records)):
            X, idx, evidence = rows[i] if rows is not None else cand.for_message(i)
            conversation_features(X, idx, evidence, records, state, scale)
            s = X @ weights
            s[0] += bias
            if egap is not None and len(idx) > 1:
                far = np.array([records[i].time - records[j].time > egap for j in idx])
                s[far & ~evidence] = -np.inf
            k = pick(s, idx, root, decode)
            r = records[i]
            if k and (new_speaker or opener_gap) and r.question and not r.mentions and not evidence[k] and \
                    r.words >= self.opener_min_words:
                j = idx[k]
                if self.opener_window_s:
                    newcomer = not any(records[x].speaker == r.speaker for x in idx[1:]
                                       if r.time - records[x].time <= self.opener_window_s)
                else:
                    newcomer = r.speaker not in speakers[root[j]]
                if (new_speaker and newcomer) or \
                        (opener_gap and r.time - records[j].time >= opener_gap):
                    k = 0
            p = idx[k]
            state.add(i, p, r.speaker)
            out.append(p)
        return out


def components(parents: Sequence[int]) -> list[int]:
    """Conversation label per message from reply links (labels 0..k-1 in order of first message)."""
    root = list(range(len(parents)))

    def find(x: int) -> int:
        while root[x] != x:
            root[x] = root[root[x]]
            x = root[x]
        return x

    for i, p in enumerate(parents):
        a, b = find(i), find(p)
        if a != b:
            root[max(a, b)] = min(a, b)
    remap: dict[int, int] = {}
    return [remap.setdefault(find(i), len(remap)) for i in range(len(parents))]


@lru_cache(maxsize=4)
def load_model(path: str | None = None) -> ReplyLinkModel:
    p = Path(path) if path else MODEL_PATH
    return ReplyLinkModel.from_dict(json.loads(p.read_text(encoding="utf-8")))
