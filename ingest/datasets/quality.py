"""Quality rules for training examples: hard filters (with the reason an example was dropped), a 0..1 quality
score with its reasons, near-duplicate removal, and masking of personal data and secrets in what is trained on.
"""
from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from dataclasses import dataclass
from typing import Iterable, Sequence

from ingest.datasets.examples import Example
from ingest.datasets.records import ConversationUnit
from ingest.datasets.text import approx_tokens, code_fraction, content_words, is_greeting_only, is_question
from ingest.dedupe import NearDuplicateIndex, bands_for
from ingest.pii import MaskPolicy, mask

TRAINING_MASK = MaskPolicy.for_target("training")


@dataclass(frozen=True)
class QualityRules:
    min_answer_chars: int = 12
    min_question_chars: int = 8
    max_tokens: int = 3072  # approximate tokens for the whole example; longer ones are dropped, not truncated
    languages: tuple[str, ...] | None = None  # e.g. ("en",); None keeps every language (counted in the report)
    min_quality: float = 0.35
    near_duplicate_threshold: float = 0.85  # estimated Jaccard of word 3-shingles
    min_grounding: float = 0.0  # rag examples below this are dropped

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in self.__dict__.items()}


def conversation_reason(conv: ConversationUnit) -> str | None:
    """Why a whole conversation can give no example: only pleasantries, or nobody but the asker said
    anything of substance (unanswered). None when it can."""
    if all(is_greeting_only(m.text) for m in conv.messages):
        return "greetings_only"
    if not any(m.speaker != conv.asker and not is_greeting_only(m.text) for m in conv.messages):
        return "unanswered"
    return None


@lru_cache(maxsize=65536)
def detect_language(text: str) -> str:
    """ISO code by langdetect (seeded so builds are deterministic); "unknown" for text too short or code-only."""
    from langdetect import DetectorFactory, LangDetectException, detect
    DetectorFactory.seed = 0
    prose = re.sub(r"```.*?```|`[^`]*`|https?://\S+|:[a-z0-9_+-]+:|@\S+", " ", text, flags=re.S)
    if len(re.findall(r"[^\W\d_]", prose)) < 12:
        return "unknown"
    try:
        return detect(prose)
    except LangDetectException:
        return "unknown"


def mask_example(ex: Example) -> Counter:
    """Mask personal data and secrets in every turn (and passages) in place; counts of what was masked."""
    counts: Counter = Counter()
    for turn in ex.messages:
        turn["content"], c = mask(turn["content"], TRAINING_MASK)
        counts.update(c)
    for p in ex.passages:
        p["text"], c = mask(p["text"], TRAINING_MASK)
        counts.update(c)
    return counts


# what masking leaves ("[IP]", "[EMAIL]") and an IRC-style address in front ("Kibbles-> ", "ana: ")
MASKED_RE = re.compile(r"\[[A-Z][A-Z_]*\]")
LEAD_ADDRESS_RE = re.compile(r"^\s*@?[\w.\-|`^\[\]{}\\]+\s*(?:[:,>]|->)\s*")


def assess(ex: Example, rules: QualityRules) -> str | None:
    """Set ex.quality, ex.reasons and ex.language; return why the example must be dropped, or None."""
    question, answer = ex.question, ex.answer
    user_text, assistant_text = ex.text_of("user"), ex.text_of("assistant")
    if not answer.strip():
        return "unanswered"
    turns = [t["content"] for t in ex.messages if t["role"] != "system"]
    if all(is_greeting_only(t) for t in turns):
        return "greetings_only"
    if is_greeting_only(answer) or len(answer.strip()) < rules.min_answer_chars:
        return "answer_too_short"
    if ex.kind in ("qa", "rag") and not content_words(MASKED_RE.sub(" ", LEAD_ADDRESS_RE.sub("", answer, count=1))):
        return "answer_masked_away"  # "Kibbles-> [IP]": the answer was the personal data itself
    if len(question.strip()) < rules.min_question_chars:
        return "question_too_short"
    tokens = sum(approx_tokens(t["content"]) for t in ex.messages)
    if tokens > rules.max_tokens:
        return "too_long"
    # the opening of both sides decides; chat and qa examples of a conversation mostly share it (cached)
    ex.language = detect_language(user_text[:400] + "\n" + assistant_text[:400])
    if rules.languages and ex.language not in rules.languages and ex.language != "unknown":
        return "language"
    if ex.kind == "rag" and ex.signals.get("grounding", 0.0) < rules.min_grounding:
        return "ungrounded"

    score, reasons = 0.5, []

    def add(delta: float, why: str) -> None:
        nonlocal score
        score += delta
        reasons.append(f"{'+' if delta >= 0 else '-'}{why}")

    sig = ex.signals
    if ex.kind in ("qa", "rag"):
        if sig.get("check_reaction"):
            add(0.25, "check_reaction")
        elif sig.get("thumbs_reaction"):
            add(0.12, "thumbs_reaction")
        if sig.get("asker_thanks"):
            add(0.15, "asker_thanked")
        if sig.get("asker_acknowledged"):
            add(0.08, "asker_acknowledged")
        if sig.get("asker_quiet"):
            add(0.05, "asker_went_quiet")
        if sig.get("answerer_role"):
            add(0.05, "answerer_role")
        if sig.get("question_marked_resolved"):
            add(0.1, "question_marked_resolved")
        if sig.get("acknowledgement"):
            add(-0.2, "answer_is_an_acknowledgement")
        if sig.get("not_a_question"):
            add(-0.15, "not_a_question")
        if sig.get("asks_back"):
            add(-0.2, "answer_is_a_question")
        if sig.get("score", 0) < 1.0 and not sig.get("question_marked_resolved"):
            add(-0.15, "no_resolution_signal")
        if ex.kind == "rag":
            g = sig.get("grounding", 0.0)
            add(0.1 if g >= 0.5 else -0.1, "grounded" if g >= 0.5 else "weakly_grounded")
    elif ex.kind == "chat":
        n_turns = sum(1 for t in ex.messages if t["role"] == "assistant")
        if n_turns >= 2:
            add(0.05, "multi_turn")
    if is_question(question):
        add(0.05, "clear_question")
    words = len(content_words(answer))
    if words >= 8:
        add(0.1, "substantive_answer")
    elif words < 4:
        add(-0.15, "thin_answer")
    if code_fraction(answer) > 0.85:
        add(-0.05, "code_only_answer")
        ex.signals["code_only"] = True
    if ex.language == "unknown":
        add(-0.05, "language_unknown")
    ex.quality = round(min(1.0, max(0.0, score)), 3)
    ex.reasons = reasons
    if ex.quality < rules.min_quality:
        return "low_quality"
    return None


def near_duplicates(examples: Sequence[Example], threshold: float, num_perm: int = 64) -> set[str]:
    """Ids of examples that nearly repeat an earlier one of the same kind (the first, in the given order,
    is kept): the near-duplicate index of ingest/dedupe.py over the content words of the question and answer."""
    dropped: set[str] = set()
    by_kind: dict[str, NearDuplicateIndex] = {}
    for ex in examples:
        if ex.kind not in by_kind:
            by_kind[ex.kind] = NearDuplicateIndex(threshold, num_perm=num_perm, min_words=1, words=content_words,
                                                  bands=bands_for(threshold, num_perm))
        if by_kind[ex.kind].add(ex.example_id, ex.text_of("user") + "\n" + ex.answer) is not None:
            dropped.add(ex.example_id)
    return dropped


def apply_quality(examples: Iterable[Example], rules: QualityRules) -> tuple[list[Example], Counter, Counter]:
    """Mask, assess and de-duplicate. Returns (kept, dropped reasons, masked counts)."""
    kept, dropped, masked = [], Counter(), Counter()
    for ex in examples:
        masked.update(mask_example(ex))  # first: quality and duplicates are judged on what will be trained on
        why = assess(ex, rules)
        if why:
            dropped[f"{ex.kind}:{why}"] += 1
        else:
            kept.append(ex)
    dups = near_duplicates(kept, rules.near_duplicate_threshold)
    for ex in kept:
        if ex.example_id in dups:
            dropped[f"{ex.kind}:near_duplicate"] += 1
    return [ex for ex in kept if ex.example_id not in dups], dropped, masked
