"""`teamlore eval answers QUESTIONS.jsonl`: answer quality on a labelled question set, through the real engine.

Each line of the questions file: {"id", "question", "answerable": bool, "gold_pages": [paths relative to the
corpus root], "key_facts": [strings a correct answer contains], "split": "tune" | "report"}.

Measures, per split:
- cited@3: a gold page among the answer's first three citations (answerable questions);
- key-fact hit: the answer text holds every key fact (answerable questions);
- abstention: the engine said it doesn't know (unanswerable questions);
- false abstention: it said so on an answerable question;
- latency p50/p95 of the whole answer (retrieval + answer).
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np
from sqlalchemy import func, select

from app.db import migrate, session_scope
from app.db.models import Document
from app.settings import Settings
from retrieval.types import PUBLIC


class QuestionFileError(ValueError):
    """The questions file is unusable; the message names the line and the problem."""


@dataclass
class Question:
    id: str
    question: str
    answerable: bool
    gold_pages: list[str]
    key_facts: list[str]
    split: str


def load_questions(path: Path) -> list[Question]:
    if not path.is_file():
        raise QuestionFileError(f"{path}: no such file")
    out: list[Question] = []
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise QuestionFileError(f"{path}:{i}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not isinstance(row.get("question"), str) or not row["question"].strip():
            raise QuestionFileError(f"{path}:{i}: needs a non-empty \"question\" string")
        answerable = bool(row.get("answerable", True))
        gold = row.get("gold_pages") or []
        facts = row.get("key_facts") or []
        if not isinstance(gold, list) or not isinstance(facts, list):
            raise QuestionFileError(f"{path}:{i}: gold_pages and key_facts must be lists")
        if answerable and not gold:
            raise QuestionFileError(f"{path}:{i}: an answerable question needs gold_pages")
        out.append(Question(id=str(row.get("id") or i), question=row["question"], answerable=answerable,
                            gold_pages=[str(g).strip("/") for g in gold], key_facts=[str(f) for f in facts],
                            split=str(row.get("split") or "all")))
    if not out:
        raise QuestionFileError(f"{path}: no questions")
    return out


_MARKUP = re.compile(r"[*_`>\\]")


def normalise(text: str) -> str:
    text = text.replace("’", "'").replace("‘", "'").replace("“", '"').replace("”", '"').replace("–", "-")
    return " ".join(_MARKUP.sub("", text).lower().split())


def has_facts(answer: str, facts: Iterable[str]) -> bool:
    a = normalise(answer)
    facts = list(facts)
    return bool(facts) and all(normalise(f) in a for f in facts)


def page_matches(path: str | None, gold: str) -> bool:
    if not path:
        return False
    p = path.replace("\\", "/")
    return p == gold or p.endswith("/" + gold)


def ensure_corpus(settings: Settings, docs: Path | None, progress: Callable[[str], None] = lambda s: None) -> None:
    """Make sure the data directory holds the corpus and an up-to-date index (ingest `docs` if it is empty)."""
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_documents
    settings.ensure_dirs()
    migrate(settings.db_url)
    with session_scope(settings.db_url) as s:
        n_docs = s.scalar(select(func.count()).select_from(Document)) or 0
    if n_docs == 0:
        if docs is None:
            raise QuestionFileError(f"the data directory {settings.data_dir} has no documents: pass --docs DIR")
        progress(f"ingesting {docs}")
        ingest_documents(settings, [docs])
    progress("indexing (only what changed)")
    sync_index(settings)


def document_paths(settings: Settings) -> dict[int, str]:
    with session_scope(settings.db_url) as s:
        return {i: p for i, p in s.execute(select(Document.id, Document.path))}


def _pct(values: list[float], q: float) -> float | None:
    return round(float(np.percentile(values, q)), 1) if values else None


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    ans = [r for r in rows if r["answerable"]]
    una = [r for r in rows if not r["answerable"]]
    lat = [r["total_ms"] for r in rows]

    def rate(xs: list[dict], key: str) -> float | None:
        return round(sum(bool(r[key]) for r in xs) / len(xs), 3) if xs else None

    return {"questions": len(rows), "answerable": len(ans), "unanswerable": len(una),
            "cited_at_3": rate(ans, "cited_at_3"), "key_fact_hit": rate(ans, "key_fact_hit"),
            "abstention": rate(una, "abstained"), "false_abstention": rate(ans, "abstained"),
            "latency_ms_p50": _pct(lat, 50), "latency_ms_p95": _pct(lat, 95)}


def evaluate_questions(engine, questions: list[Question], doc_paths: dict[int, str],
                       progress: Callable[[int, int], None] = lambda i, n: None) -> dict[str, Any]:
    """Ask every question through `engine` (an AnswerEngine) and score it. Returns per-split summaries and rows."""
    rows: list[dict[str, Any]] = []
    for i, q in enumerate(questions):
        progress(i, len(questions))
        t0 = time.perf_counter()
        result = engine.answer(q.question, access=PUBLIC, store=False)
        total_ms = (time.perf_counter() - t0) * 1000
        cited = [doc_paths.get(c.document_id) for c in result.citations]
        abstained = result.mode == "no_answer" or bool(result.extras.get("abstained"))
        rows.append({
            "id": q.id, "split": q.split, "answerable": q.answerable, "question": q.question,
            "abstained": abstained,
            "cited_at_3": q.answerable and any(page_matches(p, g) for p in cited[:3] for g in q.gold_pages),
            "key_fact_hit": q.answerable and not abstained and has_facts(result.text, q.key_facts),
            "confidence": result.extras.get("confidence"), "total_ms": round(total_ms, 1),
            "answer": result.text, "cited": [p.rsplit("/", 1)[-1] if p else None for p in cited]})
    progress(len(questions), len(questions))
    splits = sorted({r["split"] for r in rows})
    return {"splits": {s: summarise([r for r in rows if r["split"] == s]) for s in splits},
            "all": summarise(rows), "rows": rows}
