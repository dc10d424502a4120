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
from app.services.ingestion import permalink_message_id
from model.base import GenerationParams
from retrieval.types import PUBLIC

_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("a an the is are was were be to of and or in on at for with you your i we our it this that do "
                  "does can my me".split())


def tokens(text: str) -> list[str]:
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
            out.append({"question": users[0], "reference": answers[-1], "thread": permalink_message_id(thread_ts)})
        if len(out) >= limit:
            break
    return out


def keywords(text: str) -> set[str]:
    """The reference's content words (3+ characters): what an answer should mention."""
    return {w for w in tokens(text) if len(w) >= 3}


def keyword_hits(answer: str, reference: str) -> float:
    ref = keywords(reference)
    if not ref:
        return 0.0
    return len(ref & set(tokens(answer))) / len(ref)


# Questions a team's sources do not answer (used when the dataset version has no eval/unanswerable.jsonl):
# a good answerer says it does not know.
DEFAULT_UNANSWERABLE = [
    "What was the exchange rate of the Mongolian tugrik on 3 March 1987?",
    "Who won the 1954 world chess boxing championship?",
    "What is the melting point of the alloy used in the Mars rover wheels?",
    "How many feathers does an adult emperor penguin have?",
    "What did the Roman emperor Hadrian eat for breakfast?",
    "Which opera premiered in Lisbon in the autumn of 1793?",
]
_ABSTAIN = re.compile(r"\b(i (do not|don't|dont) know|not (in|covered by|mentioned in) the (sources|passages|documents)|"
                      r"(can ?not|can't|could not|couldn't) find|no (relevant )?information|not sure)\b", re.I)


def abstained(result) -> bool:
    return result.mode == "no_answer" or bool(_ABSTAIN.search(result.text or ""))


def load_unanswerable(dataset_dir: Path, limit: int) -> list[str]:
    path = dataset_dir / "eval" / "unanswerable.jsonl"
    if path.is_file():
        qs = [json.loads(line).get("question", "") for line in path.read_text(encoding="utf-8").splitlines()
              if line.strip()]
        return [q for q in qs if q][:limit]
    return DEFAULT_UNANSWERABLE[:limit]


def _chunk_texts(engine: AnswerEngine, ids: list[int]) -> dict[int, str]:
    from sqlalchemy import select

    from app.db import session_scope
    from app.db.models import Chunk
    if not ids:
        return {}
    with session_scope(engine.settings.db_url) as s:
        return {i: f"{t}\n{x}" for i, t, x in s.execute(select(Chunk.id, Chunk.title, Chunk.text)
                                                         .where(Chunk.id.in_(ids)))}


def cited_correctly(citation, thread: str, reference: str, texts: dict[int, str]) -> bool:
    """A citation the answer wrote ([n]) points at the thread the question came from, or at a passage holding
    at least half of the resolving answer's content words."""
    if thread and thread in (citation.url or ""):
        return True
    ref = keywords(reference)
    text = set(tokens(texts.get(citation.chunk_id, citation.snippet or "")))
    return bool(ref) and len(ref & text) / len(ref) >= 0.5


COPY_NGRAM = 8  # words: a run this long found verbatim in the prompt is copied, not written
COPY_SHARE = 0.8  # an answer with this share of its words inside such runs is a copy of its prompt


def copied_share(answer: str, sources: list[str], n: int = COPY_NGRAM) -> float:
    """Share of the answer's words that lie inside an n-word run found verbatim in `sources` (the prompt: the
    question, the passages, the instructions). 0 for answers shorter than n words."""
    words = _WORD.findall(re.sub(r"\[\d+\]", " ", answer.lower()))
    if len(words) < n:
        return 0.0
    grams: set[tuple[str, ...]] = set()
    for src in sources:
        w = _WORD.findall(src.lower())
        grams.update(tuple(w[i:i + n]) for i in range(len(w) - n + 1))
    covered = [False] * len(words)
    for i in range(len(words) - n + 1):
        if tuple(words[i:i + n]) in grams:
            covered[i:i + n] = [True] * n
    return sum(covered) / len(words)


def _prompt_texts(engine: AnswerEngine, question: str, result) -> list[str]:
    from model.prompts import DATA_NOT_INSTRUCTIONS
    return [question, engine.settings.system_prompt, DATA_NOT_INSTRUCTIONS,
            *_chunk_texts(engine, list(result.chunk_ids or [])).values()]


def score(engine: AnswerEngine, examples: list[dict[str, Any]], max_new_tokens: int,
          unanswerable: list[str] | None = None) -> dict[str, Any]:
    """Answer F1 and keyword hits against the resolving answers; citations the answer itself wrote ([n]) that point
    at a passage with the answer; abstention on questions the sources do not answer."""
    f1s, kws, hits, cited, right, modes, copies = [], [], 0, 0, 0, Counter(), 0
    for ex in examples:
        result = engine.answer(ex["question"], access=PUBLIC, store=False,
                               params=GenerationParams(max_new_tokens=max_new_tokens))
        if result.mode == "generative" and \
                copied_share(result.text, _prompt_texts(engine, ex["question"], result)) >= COPY_SHARE:
            copies += 1
        f1s.append(token_f1(result.text, ex["reference"]))
        kws.append(keyword_hits(result.text, ex["reference"]))
        texts = _chunk_texts(engine, [c.chunk_id for c in result.citations])
        ok = [cited_correctly(c, ex["thread"], ex["reference"], texts) for c in result.citations]
        cited += len(ok)
        right += sum(ok)
        hits += any(ok)
        modes[result.mode] += 1
    abstain = None
    if unanswerable:
        abstain = sum(abstained(engine.answer(q, access=PUBLIC, store=False,
                                              params=GenerationParams(max_new_tokens=max_new_tokens)))
                      for q in unanswerable) / len(unanswerable)
    n = len(examples)
    return {"questions": n, "answer_f1": round(sum(f1s) / n, 4) if n else None,
            "keyword_hits": round(sum(kws) / n, 4) if n else None,
            "citation_hit_rate": round(hits / n, 4) if n else None,
            "citation_precision": round(right / cited, 4) if cited else None, "citations_written": cited,
            "unanswerable": len(unanswerable or []),
            "abstention_rate": round(abstain, 4) if abstain is not None else None, "modes": dict(modes),
            "prompt_copies": copies}


def compare(candidate: AnswerEngine, reference: AnswerEngine, examples: list[dict[str, Any]],
            max_new_tokens: int, unanswerable: list[str] | None = None,
            live: AnswerEngine | None = None) -> dict[str, Any]:
    """The candidate engine beside the extractive engine (and the live version's, when one is live) on the same
    questions."""
    out = {"candidate": score(candidate, examples, max_new_tokens, unanswerable),
           "extractive": score(reference, examples, max_new_tokens, unanswerable)}
    if live is not None:
        out["live"] = score(live, examples, max_new_tokens, unanswerable)
    return out


GATE_METRICS = (("answer_f1", "answer F1"), ("keyword_hits", "keyword hits"),
                ("citation_hit_rate", "citations that point at the answer"),
                ("abstention_rate", "abstention on unanswerable questions"))


def gate_decision(answers: dict[str, Any], heldout: dict[str, Any] | None, *, live_name: str | None,
                  tolerance: float = 0.02) -> dict[str, Any]:
    """Pass only if the candidate is no worse (within `tolerance`) than the live answerer — the live version, or
    extractive when none is live — on every answer figure, and never worse than extractive either (a floor: a
    version forced live past the gate does not lower the bar for the next one), and its held-out loss beats the
    base model's (and the live adapter's, when comparable). The reasons name each figure that failed, with both
    values."""
    reasons: list[str] = []
    ref_key = "live" if "live" in answers else "extractive"
    ref_name = live_name if ref_key == "live" else "extractive"
    cand, ref = answers.get("candidate"), answers.get(ref_key)
    if not cand or not ref:
        reasons.append(f"answer quality could not be measured ({answers.get('skipped', 'no figures')})")
    else:
        refs = [(ref, f"the live answerer's ({ref_name})")]
        if ref_key == "live" and answers.get("extractive"):
            refs.append((answers["extractive"], "the extractive answerer's"))
        for key, label in GATE_METRICS:
            for other, whose in refs:
                c, r = cand.get(key), other.get(key)
                if c is None or r is None:
                    continue
                if c < r - tolerance:
                    reasons.append(f"{label} {c:.2f} is below {whose} {r:.2f}")
        copies, n = cand.get("prompt_copies") or 0, cand.get("questions") or 0
        if n and copies * 2 > n:  # quoting its prompt scores like extractive quotes, but is not an answer
            reasons.append(f"{copies} of {n} answers are verbatim copies of the prompt (passages, question or "
                           f"instructions, {int(COPY_SHARE * 100)}%+ of their words in {COPY_NGRAM}-word runs of it): "
                           "the model quotes instead of answering")
    if heldout:
        c, b = (heldout.get("candidate") or {}).get("loss"), (heldout.get("base") or {}).get("loss")
        if c is not None and b is not None and not c < b:
            reasons.append(f"held-out loss {c:.3f} does not improve on the base model's {b:.3f}")
        lv = (heldout.get("live") or {}).get("loss")
        if c is not None and lv is not None and c > lv + 1e-3:
            reasons.append(f"held-out loss {c:.3f} is worse than the live adapter's {lv:.3f}")
    return {"passed": not reasons, "reasons": reasons, "compared_with": ref_name,
            "candidate": cand, "live": ref, "extractive": answers.get("extractive"), "tolerance": tolerance}
