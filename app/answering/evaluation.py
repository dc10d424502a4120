"""Answer quality of a model through the real answer engine, on a dataset version's frozen held-out questions.

For each held-out Slack question: ask the engine (retrieval + the model under test), then score
- overlap: token F1 between the answer and the answer that resolved the question in Slack;
- citation hit: whether the answer cites the Slack thread the question came from.
The extractive engine (no model) is scored on the same questions as the reference point. The engines are built
by app/wiring.py; the training gate (app/workflows/training.py: `evaluate_answers`) puts them together.
"""
from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from app.answering.engine import AnswerEngine
from model.base import GenerationParams
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
    f1s, hits, modes = [], 0, Counter()
    for ex in examples:
        result = engine.answer(ex["question"], access=PUBLIC, store=False,
                               params=GenerationParams(max_new_tokens=max_new_tokens))
        f1s.append(token_f1(result.text, ex["reference"]))
        hits += any(ex["thread"] in (c.url or "") for c in result.citations)
        modes[result.mode] += 1
    n = len(examples)
    return {"questions": n, "answer_f1": round(sum(f1s) / n, 4) if n else None,
            "citation_hit_rate": round(hits / n, 4) if n else None, "modes": dict(modes)}


def compare(candidate: AnswerEngine, reference: AnswerEngine, examples: list[dict[str, Any]],
            max_new_tokens: int) -> dict[str, Any]:
    """The candidate engine beside the reference (extractive) engine on the same questions."""
    return {"candidate": score(candidate, examples, max_new_tokens),
            "extractive": score(reference, examples, max_new_tokens)}
