"""Extractive answers: no generative model, just the passages' best sentences, quoted with citations.

The embedded default of `make run`. Sentences are ranked by cosine similarity to the question with the same
embedding model retrieval uses (passed in as `encode`), so this stays model-agnostic.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np

from model.prompts import Passage

_SENT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(*@#])|\n{1,}")
NOTICE = "_Extractive answer (no generative model configured): the most relevant sentences from the sources._"


@dataclass
class Sentence:
    text: str
    passage: int  # citation number


def split_sentences(text: str) -> list[str]:
    parts = [s.strip(" \t-*#>") for s in _SENT.split(text)]
    # fragments like "After that they expire." quote badly out of context: keep sentences of 5+ words
    # Questions are not answers (Slack threads start with one).
    return [p for p in parts if len(p) >= 20 and len(p.split()) >= 5 and any(c.isalpha() for c in p)
            and not p.rstrip("*_ )").endswith("?")]


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, encode: Callable[[list[str]], np.ndarray], max_sentences: int = 3, min_score: float = 0.3):
        self.encode = encode
        self.max_sentences = max_sentences
        self.min_score = min_score

    def select(self, question: str, passages: list[Passage], said: str = "") -> list[tuple[Sentence, float]]:
        """`said`: what the conversation already answered; a follow-up wants something new."""
        sentences = [Sentence(s, p.n) for p in passages for s in split_sentences(p.text)[:40] if s not in said]
        if not sentences:
            return []
        vecs = self.encode([question] + [s.text for s in sentences])
        q, m = vecs[0], vecs[1:]
        scores = m @ q
        # favour earlier (higher-ranked) passages slightly: retrieval already judged them
        rank_bonus = np.array([0.02 * (len(passages) - s.passage) / max(1, len(passages)) for s in sentences])
        order = np.argsort(-(scores + rank_bonus))
        picked: list[tuple[Sentence, float]] = []
        seen: set[str] = set()
        for i in order:
            s = sentences[int(i)]
            key = s.text.lower()
            if key in seen or float(scores[i]) < self.min_score:
                continue
            seen.add(key)
            picked.append((s, float(scores[i])))
            if len(picked) >= self.max_sentences:
                break
        return picked

    def stream_answer(self, question: str, passages: list[Passage], said: str = "") -> Iterator[str]:
        picked = self.select(question, passages, said)
        if not picked:
            return
        yield NOTICE + "\n\n"
        for s, _ in picked:
            yield f"> {s.text} [{s.passage}]\n\n"
