"""The answer engine every surface uses (web UI, Slack bot, OpenAI-compatible API).

question + history + who asks -> permission-aware retrieval -> prompt -> streamed answer -> citations
-> stored conversation with latency figures and the retrieved chunk ids.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Protocol

import numpy as np

from app.db import session_scope
from app.db.models import Conversation, Message
from app.services.generation import GeneratorProvider
from app.settings import Settings
from model.base import CancelToken, GenerationParams
from model.extractive import ExtractiveAnswerer
from model.prompts import Passage, build_messages, rewrite_followup
from retrieval.types import Access, SearchHit

NO_ANSWER = ("I don't know: I found nothing relevant to this in the team's documents or Slack conversations "
             "that you can access.")
_CITE = re.compile(r"\[(\d{1,2})\]")


class Searcher(Protocol):
    def search(self, query: str, k: int = 5, access: Access = ..., filters: dict | None = None) -> list[SearchHit]:
        ...


class EmptyQuestion(ValueError):
    pass


@dataclass
class AnswerResult:
    text: str
    mode: str  # generative | extractive | no_answer
    citations: list[dict[str, Any]]
    chunk_ids: list[int]
    model_version: str | None
    latency: dict[str, float]
    conversation_id: int | None = None
    message_id: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def citation_for(n: int, hit: SearchHit) -> dict[str, Any]:
    meta = hit.meta or {}
    is_slack = meta.get("origin_kind") == "slack_thread"
    snippet = " ".join(hit.text.split())
    return {
        "n": n, "chunk_id": hit.chunk_id, "title": hit.title,
        "snippet": snippet[:300] + ("…" if len(snippet) > 300 else ""),
        "url": meta.get("permalink") or meta.get("url"),
        "source": "slack" if is_slack else "document",
        "channel": meta.get("channel"), "page": meta.get("page"),
        "heading": " › ".join(meta.get("heading_path") or []) or None,
        "document_id": meta.get("document_id"), "score": round(float(hit.score), 4),
    }


class AnswerEngine:
    def __init__(self, settings: Settings, searcher: Callable[[], Searcher], generators: GeneratorProvider,
                 encode: Callable[[list[str]], np.ndarray]):
        self.settings = settings
        self._searcher = searcher
        self.generators = generators
        self.extractive = ExtractiveAnswerer(encode)

    # -- retrieval ------------------------------------------------------------------------------
    def retrieve(self, query: str, access: Access, filters: dict | None = None) -> list[SearchHit]:
        hits = self._searcher().search(query, k=self.settings.top_k, access=access, filters=filters)
        # keep hits that are plausibly about the question: the dense cosine is calibrated, fused ranks are not
        return [h for h in hits if h.scores.get("dense", h.score) >= self.settings.min_relevance]

    # -- answering ------------------------------------------------------------------------------
    def stream(self, question: str, *, access: Access, history: list[dict[str, str]] | None = None,
               user_id: int | None = None, conversation_id: int | None = None, model: str | None = None,
               params: GenerationParams | None = None, cancel: CancelToken | None = None,
               channel: str = "api", external_key: str | None = None,
               filters: dict | None = None, store: bool = True) -> Iterator[str | AnswerResult]:
        """Yield answer text pieces, then one AnswerResult (stored in the database unless `store` is False)."""
        question = (question or "").strip()
        if not question:
            raise EmptyQuestion("the question is empty")
        history = list(history or [])
        params = params or GenerationParams(max_new_tokens=self.settings.max_new_tokens)
        cancel = cancel or CancelToken()
        t0 = time.perf_counter()
        choice = self.generators.choose(model)  # fail before any work if the model is unknown/unavailable
        if conversation_id is not None and not history:
            history = self.history(conversation_id)
        query = rewrite_followup(question, history)  # follow-ups retrieve with what they refer to
        hits = self.retrieve(query, access, filters)
        t_retrieval = time.perf_counter()
        passages = [Passage(n=i + 1, title=h.title, text=h.text) for i, h in enumerate(hits)]

        pieces: list[str] = []
        first_token_at: float | None = None
        t_gen0 = t_gen1 = time.perf_counter()
        mode = "no_answer"
        if passages:
            if choice.generator is None:
                mode = "extractive"
                said = " ".join(m["content"] for m in history[-2:] if m.get("role") == "assistant")
                source = self.extractive.stream_answer(query, passages, said)
            else:
                mode = "generative"
                gen = choice.generator
                if choice.adapter:
                    params.adapter = choice.adapter
                messages, _ = build_messages(
                    system_prompt=self.settings.system_prompt, question=question, passages=passages,
                    history=history, count_tokens=gen.count_tokens,
                    context_window=min(self.settings.context_window, gen.context_window),
                    max_new_tokens=params.max_new_tokens)
                source = gen.stream(messages, params, cancel)
            t_gen0 = time.perf_counter()  # prompt assembly above counts as overhead, generation below does not
            for piece in source:
                if cancel.cancelled:
                    break
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                pieces.append(piece)
                yield piece
            if not pieces and mode == "extractive":
                mode = "no_answer"
            t_gen1 = time.perf_counter()
        if mode == "no_answer":
            first_token_at = time.perf_counter()
            pieces = [NO_ANSWER]
            yield NO_ANSWER
        text = "".join(pieces)
        t_end = time.perf_counter()

        cited = {int(n) for n in _CITE.findall(text)}
        used = [(p.n, h) for p, h in zip(passages, hits) if not cited or p.n in cited] if mode != "no_answer" else []
        citations = [citation_for(n, h) for n, h in used]
        latency = {"retrieval_ms": round((t_retrieval - t0) * 1000, 2),
                   "ttft_ms": round(((first_token_at or t_end) - t0) * 1000, 2),
                   "generate_ms": round((t_gen1 - t_gen0) * 1000, 2),  # the generator's share (overhead = rest)
                   "total_ms": round((t_end - t0) * 1000, 2), "pieces": len(pieces)}
        result = AnswerResult(text=text, mode=mode, citations=citations, chunk_ids=[h.chunk_id for h in hits],
                              model_version=choice.version, latency=latency)
        if store:
            self._store(result, question, user_id, conversation_id, channel, external_key)
        yield result

    def answer(self, question: str, **kwargs) -> AnswerResult:
        result = None
        for item in self.stream(question, **kwargs):
            if isinstance(item, AnswerResult):
                result = item
        assert result is not None
        return result

    # -- storage --------------------------------------------------------------------------------
    def history(self, conversation_id: int, max_turns: int = 20) -> list[dict[str, str]]:
        with session_scope(self.settings.db_url) as s:
            conv = s.get(Conversation, conversation_id)
            if conv is None:
                return []
            return [{"role": m.role, "content": m.content} for m in conv.messages[-max_turns:]]

    def _store(self, result: AnswerResult, question: str, user_id: int | None, conversation_id: int | None,
               channel: str, external_key: str | None) -> None:
        with session_scope(self.settings.db_url) as s:
            conv = s.get(Conversation, conversation_id) if conversation_id is not None else None
            if conv is None:
                conv = Conversation(user_id=user_id, title=question[:80], channel=channel, external_key=external_key)
                s.add(conv)
                s.flush()
            s.add(Message(conversation_id=conv.id, role="user", content=question))
            msg = Message(conversation_id=conv.id, role="assistant", content=result.text,
                          citations=result.citations, chunk_ids=result.chunk_ids, mode=result.mode,
                          model_version=result.model_version, latency=result.latency)
            s.add(msg)
            s.flush()
            result.conversation_id, result.message_id = conv.id, msg.id
