"""Which message(s) of a conversation answer its opening question.

Every message written by someone other than the asker, after the question, is a candidate. Each gets a few
features (is it a request for logs/details, a promise to get back, a thanks/CC/acknowledgement line, a question
back; does it carry a fix — a command, a setting, a version, a cause; is it addressed to the asker or to someone
else; what did the asker say right after it — "that worked" or "still failing"; reactions; overlap with the
question; its place in the conversation) and a small logistic model scores it. Messages scoring above the
threshold are the answer; none above it means the conversation has no answer and gives no Q&A example.

The weights (`answer_model.json`, next to this file) are fitted by `benchmarks/answer_selection.py --fit` on the
fit half of the labelled set in tests/data/answer_selection_labels.jsonl (real conversations: every thread of the
OLake community export and question-led conversations of the Ubuntu IRC disentanglement gold, labelled by reading
them); the held-out half is what BENCHMARKS.md reports.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from ingest.datasets.records import Msg
from ingest.datasets.text import THANKS_RE, content_words, is_greeting_only, is_question

MODEL_PATH = Path(__file__).with_name("answer_model.json")

INFO_REQUEST_RE = re.compile(
    r"\b(?:(?:can|could|would) you (?:please )?(?:also )?(?:share|send|paste|post|provide|attach|upload|confirm|check|"
    r"run|tell|explain|clarify|elaborate|describe|let (?:us|me) know)|please (?:share|send|paste|post|provide|attach|"
    r"upload|confirm)|share (?:the |your |a )?(?:full |complete )?(?:logs?|screenshot|config|output|error)|"
    r"what (?:version|error|does|is the output|do you see|happens)|which (?:version|os|distro)|are you (?:using|running|"
    r"sure)|do you (?:have|use|see|know)|did you (?:try|check|restart)|have you (?:tried|checked|enabled|created)|"
    r"(?:share|send|paste|upload|attach|provide|download)\b.{0,50}\b(?:logs?|screenshots?|config\w*|output|errors?|"
    r"file|payload|details|json|version|pods?)\b|pastebin (?:the )?(?:full )?output|what (?:are|is) you)", re.I)
DEFER_RE = re.compile(
    r"\b(?:(?:we|i)(?:'ll| will| are|'re)? (?:get back|look(?:ing)? into|check(?:ing)?|investigat\w+|update you|"
    r"notify|keep you posted|let you know|assign a reviewer)|will get back|get back to you|looking into (?:this|it)|"
    r"just checking in|any update|are you still (?:facing|seeing|having)|(?:quick )?(?:call|meet)\b.*\?|"
    r"join here|hang on|give (?:me|us) (?:a|one) (?:sec|second|minute|moment))", re.I)
CC_RE = re.compile(r"^\s*(?:cc\s*[:.]?|fyi)\s*(?:@\S+|<@\w+>|[\w.\- ]{0,40})?\s*[.:]?\s*$|^\s*(?:@\S+\s*)+$", re.I)
ACK_RE = re.compile(r"^\s*(?:ok(?:ay)?|k|sure|np|no problem|yw|you'?re welcome|welcome|cool|nice|great|good luck|"
                    r"glad (?:it|to)|hehe|lol|ah+|oh+|hmm+|right|yes|yep|yeah|no worries|anytime|noted)\b[^?]{0,30}$", re.I)
FIX_RE = re.compile(
    r"\b(?:try|use|install|run|set|change|upgrade|update|downgrade|enable|disable|configure|add|remove|increase|"
    r"reduce|restart|reinstall|mount|edit|replace|switch|create|delete|select|open|click|go to|follow|check out|"
    r"you (?:can|could|need|should|have to|must|may)|need(?:s)? to|should|make sure|instead|workaround|fix(?:ed)?|"
    r"released|release[sd]? (?:a|the) fix|supported|not supported|requires?|because|caused|due to|the (?:issue|problem|"
    r"reason|error) (?:is|was)|it(?:'s| is) (?:a|an|the|not)|this is (?:expected|happening)|means|doesn'?t|does not|"
    r"no,|yes,)\b", re.I)
CAUSE_RE = re.compile(r"\b(?:released|fixed (?:in|it|this)|has been fixed|is fixed|because|caused by|due to|the (?:issue|problem|"
                      r"reason|error|cause) (?:is|was)|this is (?:expected|happening|because)|it(?:'s| is) (?:a|an) (?:bug|"
                      r"limitation)|not supported|is supported|doesn'?t support|does not support|requires?|won'?t work|"
                      r"will not work|means)\b", re.I)
INSTRUCTION_RE = re.compile(r"(?:^|[.:;,>]\s*|\b(?:just|please|then|and|or|first)\s+)(?:try|use|install|run|set|change|"
                            r"upgrade|update|enable|disable|configure|add|remove|increase|reduce|restart|edit|replace|"
                            r"switch|create|select|open|click|go to|follow|check out|type|make sure|look (?:at|in)|see)\b|"
                            r"\byou (?:can|could|need to|should|have to|must|may want to)\b|\binstead\b|\bworkaround\b",
                            re.I)
BOT_NAME_RE = re.compile(r"bot\b|^ubo?tt?u$", re.I)
CODE_RE = re.compile(r"`|\$\(|(?:^|\s)(?:sudo|apt|apt-get|aptitude|dpkg|kubectl|helm|docker|pip|git|grep|ls|cat|"
                     r"mount|chmod|passwd|usermod|wget|curl)\s|/[\w.-]+/|https?://|\bv?\d+\.\d+(?:\.\d+)?\b")
ASKER_GOOD_RE = re.compile(r"\b(?:thanks|thank you|thx|ty|tks|cheers|works?|worked|working|solved|fixed|got it|nice|cool|"
                           r"excellent|brilliant|good to know|ordering|ordered|booked|done|"
                           r"that did it|perfect|great|awesome|makes sense|understood|i see|ah+ ok|will (?:try|do|look))\b"
                           r"|:white_check_mark:|:\+1:|:pray:|:raised_hands:", re.I)
ASKER_BAD_RE = re.compile(r"\b(?:still|didn'?t|doesn'?t|does not|did not|not work\w*|no luck|same (?:error|issue|"
                          r"problem|thing)|tried (?:that|it|this)|already|but)\b", re.I)
CHECK = frozenset({"white_check_mark", "heavy_check_mark", "ballot_box_with_check", "check", "solved", "done"})
THUMBS = frozenset({"+1", "thumbsup", "raised_hands", "pray", "tada", "100", "ok_hand"})

FEATURES = ("bias", "log_words", "substantive", "question_back", "info_request", "defer", "cc_or_mention_only",
            "acknowledgement", "thanks", "fix_cue", "cause_cue", "instruction", "from_bot", "code_or_link", "addressed_asker", "addressed_other",
            "first_reply", "rel_position", "overlap", "asker_good_after", "asker_bad_after", "asker_question_after",
            "check_reaction", "thumbs_reaction", "continues_run", "bot_trigger", "very_short", "last_reply",
            "speaker_share", "main_helper", "log_candidates", "asker_thanks_speaker", "next_is_same_speaker",
            "asker_questions_before", "asker_satisfied_before")


@dataclass(frozen=True)
class AnswerModel:
    weights: dict[str, float]
    threshold: float

    def score(self, feats: dict[str, float]) -> float:
        z = sum(self.weights.get(k, 0.0) * v for k, v in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@lru_cache(maxsize=1)
def default_model() -> AnswerModel:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    return AnswerModel(weights=dict(data["weights"]), threshold=float(data["threshold"]))


def _names(m: Msg) -> set[str]:
    out = set()
    for n in (m.user_name, m.user_id):
        if n:
            n = n.strip().lower()
            out |= {n, n.split(" ")[0]}
    return {n for n in out if len(n) >= 2}


def _addressee(text: str) -> str | None:
    """`nick: …` / `nick, …` (IRC) or a leading @mention (Slack, rendered): who the message speaks to."""
    m = re.match(r"^\s*@?([\w.\-|`^\[\]]{2,32})\s*[:,>]\s", text) or re.match(r"^\s*(?:hi|hey|hello)?\s*@([\w.\-]+(?: [A-Z][\w\-]+)?)",
                                                                              text, re.I)
    return m.group(1).lower() if m else None


def question_end(messages: Sequence[Msg], asker: str) -> int:
    """Index of the first message not by the asker: the question is everything before it."""
    return next((i for i, m in enumerate(messages) if m.speaker != asker), len(messages))


def features(messages: Sequence[Msg], i: int, asker: str, q_end: int | None = None) -> dict[str, float]:
    """Features of messages[i] (written by someone other than the asker) as the answer to the opening question."""
    q_end = question_end(messages, asker) if q_end is None else q_end
    m = messages[i]
    text = m.text or ""
    question = " ".join(x.text for x in messages[:q_end])
    words = content_words(text)
    helpers = [k for k in range(q_end, len(messages)) if messages[k].speaker != asker]
    asker_names = set().union(*(_names(x) for x in messages[:q_end])) if q_end else set()
    addressee = _addressee(text)
    speakers = {x.speaker for x in messages} | {n for x in messages for n in _names(x)}
    f: dict[str, float] = {k: 0.0 for k in FEATURES}
    f["bias"] = 1.0
    f["log_words"] = math.log1p(len(words))
    f["substantive"] = float(len(words) >= 8)
    f["very_short"] = float(len(words) < 3)
    f["question_back"] = float(is_question(text) and not FIX_RE.search(text))
    f["info_request"] = float(bool(INFO_REQUEST_RE.search(text)))
    f["defer"] = float(bool(DEFER_RE.search(text)))
    bare = re.sub(r"<@\w+>|@[\w.\-]+(?: [A-Z][\w\-]+)*", "", text).strip()
    # "Sure\nCC: @x": an acknowledgement plus a CC line is still no answer
    bare = re.sub(r"(?im)^\s*(?:cc|fyi)\s*:?.*$", "", bare).strip()
    f["cc_or_mention_only"] = float(bool(CC_RE.match(text)) or not bare)
    f["acknowledgement"] = float(bool(ACK_RE.match(bare)) or is_greeting_only(text))
    f["thanks"] = float(bool(THANKS_RE.search(text)) and len(words) < 10)
    f["fix_cue"] = float(bool(FIX_RE.search(text)))
    f["cause_cue"] = float(bool(CAUSE_RE.search(text)))
    f["instruction"] = float(bool(INSTRUCTION_RE.search(re.sub(r"^\s*@?[\w.\-|`^]+\s*[:,>]\s*", "", text))))
    f["from_bot"] = float(bool(BOT_NAME_RE.search(m.user_name or m.user_id or "")) or m.is_bot)
    f["code_or_link"] = float(bool(CODE_RE.search(text)))
    if addressee:
        if addressee in asker_names or any(addressee.startswith(n) for n in asker_names if len(n) >= 3):
            f["addressed_asker"] = 1.0
        elif addressee in speakers or any(addressee.startswith(str(s).lower()[:4]) for s in speakers if s):
            f["addressed_other"] = 1.0
    if any(n in text.lower() for n in asker_names if len(n) >= 3):
        f["addressed_asker"] = 1.0
    f["bot_trigger"] = float(text.lstrip().startswith("!"))
    f["first_reply"] = float(bool(helpers) and helpers[0] == i)
    f["last_reply"] = float(bool(helpers) and helpers[-1] == i)
    f["rel_position"] = (helpers.index(i) / max(1, len(helpers) - 1)) if i in helpers else 0.0
    qw, aw = set(content_words(question)), set(words)
    f["overlap"] = len(qw & aw) / len(aw) if aw else 0.0
    f["continues_run"] = float(i > 0 and messages[i - 1].speaker == m.speaker and i - 1 >= q_end)
    # what the asker says next (before this helper speaks again)
    for x in messages[i + 1:i + 6]:
        if x.speaker == asker:
            if ASKER_GOOD_RE.search(x.text) and not ASKER_BAD_RE.search(x.text):
                f["asker_good_after"] = 1.0
            elif ASKER_BAD_RE.search(x.text):
                f["asker_bad_after"] = 1.0
            if is_question(x.text):
                f["asker_question_after"] = 1.0
            break
        if x.speaker == m.speaker and x is not m:
            continue
    # the asker's new questions between the first reply and this one: it may answer one of those instead
    f["asker_questions_before"] = math.log1p(sum(1 for x in messages[q_end:i] if x.speaker == asker and
                                                 is_question(x.text)))
    # the asker already said it worked: what follows is an aside or another topic
    f["asker_satisfied_before"] = float(any(x.speaker == asker and ASKER_GOOD_RE.search(x.text) and not
                                            ASKER_BAD_RE.search(x.text) and not is_question(x.text)
                                            for x in messages[q_end:i]))
    by_speaker = [messages[k].speaker for k in helpers]
    f["speaker_share"] = by_speaker.count(m.speaker) / len(by_speaker) if by_speaker else 0.0
    # the helper who wrote most (ties: who spoke first) — deterministic, no set order involved
    f["main_helper"] = float(bool(by_speaker) and max(dict.fromkeys(by_speaker), key=by_speaker.count) == m.speaker)
    f["log_candidates"] = math.log1p(len(helpers))
    names = _names(m)
    f["asker_thanks_speaker"] = float(any(x.speaker == asker and THANKS_RE.search(x.text) and
                                          (any(n in x.text.lower() for n in names if len(n) >= 3))
                                          for x in messages[i + 1:]))
    f["next_is_same_speaker"] = float(i + 1 < len(messages) and messages[i + 1].speaker == m.speaker)
    reacted = {name.split("::")[0]: users for name, users in (m.reactions or {}).items()}
    f["check_reaction"] = float(any(n in CHECK for n in reacted))
    f["thumbs_reaction"] = float(any(n in THUMBS for n in reacted))
    return f


def non_answer_reason(f: dict[str, float]) -> str | None:
    """Rules that hold whatever the model says: these messages are never the answer."""
    if f["cc_or_mention_only"]:
        return "cc_or_mention"
    if f["bot_trigger"]:
        return "bot_trigger"
    if f["acknowledgement"] or f["thanks"]:
        return "acknowledgement"
    if f["defer"] and not f["cause_cue"]:  # "we will check … then you can start": still a promise
        return "promise_to_get_back"
    if f["info_request"] and not f["cause_cue"]:  # "share the logs: 1. open the Network tab …" asks, not answers
        return "request_for_information"
    if f["question_back"] and not (f["instruction"] or f["cause_cue"]):
        return "question_back"
    if f["addressed_other"]:
        return "reply_to_someone_else"
    if f["asker_satisfied_before"] and not f["addressed_asker"]:
        return "aside_after_resolution"
    return None


def candidates(messages: Sequence[Msg], asker: str) -> list[int]:
    q_end = question_end(messages, asker)
    return [i for i in range(q_end, len(messages)) if messages[i].speaker != asker and (messages[i].text or "").strip()]


def answer_scores(messages: Sequence[Msg], asker: str, model: AnswerModel | None = None) -> dict[int, float]:
    model = model or default_model()
    q_end = question_end(messages, asker)
    return {i: model.score(features(messages, i, asker, q_end)) for i in candidates(messages, asker)}


def select_answers(messages: Sequence[Msg], asker: str, model: AnswerModel | None = None) -> list[int]:
    """Indices of the messages that answer the opening question, in order; [] when nothing does."""
    model = model or default_model()
    q_end = question_end(messages, asker)
    out = []
    for i in candidates(messages, asker):
        f = features(messages, i, asker, q_end)
        if non_answer_reason(f) is None and model.score(f) >= model.threshold:
            out.append(i)
    return out


# --- fitting (used by benchmarks/answer_selection.py) -----------------------------------------------------------

def fit_logistic(rows: Sequence[dict[str, float]], labels: Sequence[int], *, l2: float = 0.002, epochs: int = 4000,
                 lr: float = 0.5) -> dict[str, float]:
    """Plain L2-regularised logistic regression by full-batch gradient descent (numpy), balanced classes."""
    import numpy as np
    x = np.array([[r[k] for k in FEATURES] for r in rows], dtype=float)
    y = np.array(labels, dtype=float)
    pos = max(1.0, y.sum())
    neg = max(1.0, len(y) - y.sum())
    sw = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * neg))
    w = np.zeros(x.shape[1])
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ ((p - y) * sw) / len(y) + l2 * np.r_[0.0, w[1:]]
        w -= lr * grad
    return {k: round(float(v), 4) for k, v in zip(FEATURES, w)}
