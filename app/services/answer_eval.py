"""Answer quality of a model through the real answer engine, on a dataset version's frozen held-out questions.

For each held-out Slack question: ask the engine (retrieval + the model under test), then score
- overlap: token F1 between the answer and the answer that resolved the question in Slack;
- citation hit: whether the answer cites the Slack thread the question came from.
The extractive engine (no model) is scored on the same questions as the reference point.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from app.engine import AnswerEngine
from app.services.generation import Choice
from app.settings import Settings
from model.extractive import NOTICE
from retrieval.types import PUBLIC

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the is are was were be to of and or in on at for with you your i we our it this that do "
                  "does can my me".split())


def tokens(text: str) -> list[str]:
    text = text.replace(NOTICE, "")
    text = re.sub(r"\[\d+\]", " ", text)
    return [w for w in _WORD.findall(text.lower()) if w not in _STOP]


def token_f1(answer: str, reference: str) -> float:
    a, r = tokens(answer), tokens(reference)
    common = sum((Counter(a) & Counter(r)).values())
    if not a or not r or not common:
        return 0.0
    precision, recall = common / len(a), common / len(r)
    return 2 * precision * recall / (precision + recall)


class _Fixed:
    """A generator provider that always answers with one model (or extractively when generator is None)."""

    def __init__(self, choice: Choice):
        self.choice = choice

    def choose(self, requested: str | None = None) -> Choice:
        return self.choice

    def forget(self) -> None:
        pass


def load_heldout(dataset_dir: Path, limit: int) -> list[dict[str, Any]]:
    path = dataset_dir / "eval" / "heldout.jsonl"
    if not path.is_file():
        return []
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        ex = json.loads(line)
        msgs = ex.get("messages") or []
        users = [m["content"] for m in msgs if m.get("role") == "user"]
        answers = [m["content"] for m in msgs if m.get("role") == "assistant"]
        if users and answers:
            conv = (ex.get("meta") or {}).get("conversation_id", "")
            thread_ts = conv.split(":", 1)[-1] if conv else ""
            out.append({"question": users[0], "reference": answers[-1], "thread": "p" + thread_ts.replace(".", "")})
        if len(out) >= limit:
            break
    return out


def score(engine: AnswerEngine, examples: list[dict[str, Any]], max_new_tokens: int) -> dict[str, Any]:
    from model.base import GenerationParams
    f1s, hits, modes = [], 0, Counter()
    for ex in examples:
        result = engine.answer(ex["question"], access=PUBLIC, store=False,
                               params=GenerationParams(max_new_tokens=max_new_tokens))
        f1s.append(token_f1(result.text, ex["reference"]))
        hits += any(ex["thread"] in (c.get("url") or "") for c in result.citations)
        modes[result.mode] += 1
    n = len(examples)
    return {"questions": n, "answer_f1": round(sum(f1s) / n, 4) if n else None,
            "citation_hit_rate": round(hits / n, 4) if n else None, "modes": dict(modes)}


def evaluate_answers(settings: Settings, dataset_dir: Path, generator, name: str, limit: int = 20,
                     max_new_tokens: int = 64) -> dict[str, Any]:
    """Score `generator` (a model.base.Generator) and the extractive engine on the held-out questions."""
    from app.services.indexing import get_encoder, get_searcher
    examples = load_heldout(dataset_dir, limit)
    if not examples:
        return {"skipped": "the dataset version has no held-out questions"}
    try:
        encode = get_encoder(settings)
        searcher = get_searcher(settings)
    except Exception as exc:  # no index yet: the loss gate still stands
        return {"skipped": f"no index to answer from ({type(exc).__name__}: {exc})"}
    make = lambda choice: AnswerEngine(settings, lambda: searcher, _Fixed(choice), encode)  # noqa: E731
    return {"candidate": score(make(Choice(generator, name)), examples, max_new_tokens),
            "extractive": score(make(Choice(None, None)), examples, max_new_tokens)}
