"""The answer engine every surface uses (web UI, Slack bot, OpenAI-compatible API).

question + history + who asks -> permission-aware retrieval -> prompt -> streamed answer -> citations
-> stored conversation with latency figures and the retrieved chunk ids.
"""
from __future__ import annotations

import re
import time
from datetime import datetime, timezone
from typing import Callable, Iterator, Protocol

from app.answering.generators import AnswerRequest, GeneratorChooser, Grounding, Usage
from app.db import session_scope
from app.db.models import Conversation, Message
from app.settings import Settings
from model.base import Answer, AnswerMode, CancelToken, Citation, GenerationParams, Passage
from model.extractive import strip_templates
from model.injection import flag_passage
from model.prompts import rewrite_followup
from retrieval.chat_terms import expand_chat
from retrieval.types import Access, SearchHit

NO_ANSWER = ("I don't know: I found nothing relevant to this in the team's documents or Slack conversations "
             "that you can access.")
_CITE = re.compile(r"\[(\d{1,2})\]")
_DONT_KNOW = re.compile(r"\s*(?:I\s+(?:don't|do not)\s+know|I\s+(?:can't|cannot)\s+find)", re.I)


class SearchBackend(Protocol):
    """What the engine searches with (app/services/search.py: `Searcher`)."""

    def search(self, query: str, k: int = 5, access: Access = ..., filters: dict | None = None) -> list[SearchHit]:
        ...


class EmptyQuestion(ValueError):
    pass


DOCUMENT_URL = "/v1/documents/{id}/original"  # the stored original, permission-checked on every request


def _day(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, timezone.utc).date().isoformat() if ts else None


def passage_for(n: int, hit: SearchHit) -> Passage:
    """What a generator reads of a hit: its text and where it comes from (document or chat, heading, date)."""
    origin = hit.origin
    return Passage(n=n, title=hit.title, text=hit.text, source="slack" if origin.is_slack else "document",
                   heading=" › ".join(origin.heading_path) or None, channel=origin.channel, date=_day(origin.ts),
                   ts=origin.ts,
                   origin=f"slack:{origin.channel}:{origin.thread_ts}" if origin.is_slack
                   else f"document:{origin.document_id}")


_TABLE_RULE = re.compile(r"^[ \t]*\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)+\|?[ \t]*$", re.M)


def citation_for(n: int, hit: SearchHit) -> Citation:
    origin = hit.origin
    # Markdown stays (clients render it safely); a table's |---|---| rule is no content, and in a one-line snippet
    # it only reads as noise between the header and the rows
    snippet = " ".join(_TABLE_RULE.sub("", strip_templates(hit.text)).split())
    url = origin.url
    if not url and not origin.is_slack and origin.document_id is not None:
        url = DOCUMENT_URL.format(id=origin.document_id)
    path = str((hit.meta or {}).get("path") or "").replace("\\", "/")
    return Citation(n=n, chunk_id=hit.chunk_id, title=hit.title,
                    snippet=snippet[:300] + ("…" if len(snippet) > 300 else ""), url=url,
                    source="slack" if origin.is_slack else "document", channel=origin.channel, page=origin.page,
                    heading=" › ".join(origin.heading_path) or None, document_id=origin.document_id,
                    score=round(float(hit.score), 4),
                    file=(path.rsplit("/", 1)[-1] or None) if not origin.is_slack else None,  # the name, not the folders
                    date=_day(origin.ts))


_DROP = {"instructs the assistant", "forges a chat turn", "asks the assistant to run a tool"}
_HOST = re.compile(r"https?://([^/\s:?#)\]>\"']+)", re.I)


def flag_hits(hits: list[SearchHit]) -> dict[int, dict]:
    """chunk id -> {chunk_id, title, reason, action, hosts} for the hits that address the reader."""
    out: dict[int, dict] = {}
    for h in hits:
        reason = flag_passage(h.text)
        if reason:
            out[h.chunk_id] = {"chunk_id": h.chunk_id, "title": h.title, "reason": reason,
                               "action": "dropped" if reason in _DROP else "cautioned",
                               "hosts": sorted({m.lower() for m in _HOST.findall(h.text)})[:5]}
    return out


def caution_for(flagged: dict[int, dict], passages: list[Passage], hits: list[SearchHit],
                numbers: dict[int, int] | None = None) -> str:
    """`numbers`: passage number -> the citation number the answer gave it (extractive answers renumber 1..m)."""
    notes = []
    for p, h in zip(passages, hits):
        f = flagged.get(h.chunk_id)
        if f and f["action"] == "cautioned":
            if numbers is not None and p.n not in numbers:
                continue  # not part of this answer
            where = f" (links to {', '.join(f['hosts'])})" if f["hosts"] else ""
            notes.append(f"[{numbers[p.n] if numbers is not None else p.n}] {f['reason']}{where}")
    dropped = sum(1 for f in flagged.values() if f["action"] == "dropped")
    parts = []
    if notes:
        parts.append("Caution: " + "; ".join(notes) + ". Teamlore quotes it as written: never enter a password or "
                     "credentials because a document says so; check with its author or IT first.")
    if dropped:
        parts.append(f"{dropped} matching passage{'s' if dropped > 1 else ''} left out: "
                     f"{'they address' if dropped > 1 else 'it addresses'} the assistant with instructions.")
    return ("\n\n" + " ".join(parts)) if parts else ""


class AnswerEngine:
    """Built by app/wiring.py (`build_engine`); `generators` resolves the requested model to a generator."""

    def __init__(self, settings: Settings, searcher: Callable[[], SearchBackend], generators: GeneratorChooser):
        self.settings = settings
        self._searcher = searcher
        self.generators = generators

    # -- retrieval ------------------------------------------------------------------------------
    def retrieve(self, query: str, access: Access, filters: dict | None = None) -> list[SearchHit]:
        if self.settings.query_chat_terms:  # "nyc" finds the New York City page, "appts" the appointments
            query = expand_chat(query)
        hits = self._searcher().search(query, k=self.settings.top_k, access=access, filters=filters)
        # keep hits that are plausibly about the question: the dense cosine is calibrated, fused ranks are not
        return [h for h in hits if h.scores.get("dense", h.score) >= self.settings.min_relevance]

    def evidence(self, query: str, access: Access,
                 filters: dict | None = None) -> tuple[list[SearchHit], dict[int, dict], list[Passage]]:
        """What an answer may quote: the relevant hits minus those that address the reader (instructions to the
        assistant, forged chat turns), the flags of every hit, and the kept hits as numbered passages."""
        hits = self.retrieve(query, access, filters)
        flagged = flag_hits(hits)
        hits = [h for h in hits if flagged.get(h.chunk_id, {}).get("action") != "dropped"]
        return hits, flagged, [passage_for(i + 1, h) for i, h in enumerate(hits)]

    # -- answering ------------------------------------------------------------------------------
    def stream(self, question: str, *, access: Access, history: list[dict[str, str]] | None = None,
               user_id: int | None = None, conversation_id: int | None = None, model: str | None = None,
               params: GenerationParams | None = None, cancel: CancelToken | None = None,
               channel: str = "api", external_key: str | None = None,
               filters: dict | None = None, store: bool = True) -> Iterator[str | Answer]:
        """Yield answer text pieces, then one Answer (stored in the database unless `store` is False)."""
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
        # Passages that address the reader instead of informing them: instructions to the assistant and forged chat
        # turns are left out of the answer; credential requests and "visit this link and log in" stay quotable but
        # the answer carries a caution naming them and the hosts they point to.
        hits, flagged, passages = self.evidence(query, access, filters)
        t_retrieval = time.perf_counter()
        grounding: Grounding | None = None
        usage: Usage | None = None

        pieces: list[str] = []
        first_token_at: float | None = None
        t_gen0 = t_gen1 = time.perf_counter()
        mode: AnswerMode = "no_answer"
        if passages:
            generator = choice.generator
            mode = generator.mode
            source = generator.stream(AnswerRequest(question=question, query=query, passages=passages,
                                                    history=history), params, cancel)
            t_gen0 = time.perf_counter()  # prompt assembly above counts as overhead, generation below does not
            for piece in source:
                if isinstance(piece, Grounding):
                    grounding = piece
                    continue
                if isinstance(piece, Usage):
                    usage = piece
                    continue
                if cancel.cancelled:
                    break
                if first_token_at is None:
                    first_token_at = time.perf_counter()
                pieces.append(piece)
                yield piece
            if (not pieces and mode == "extractive") or (grounding is not None and grounding.abstained):
                mode = "no_answer"  # nothing quotable, or evidence too weak: an honest "I don't know"
            t_gen1 = time.perf_counter()
        if mode == "no_answer" and not pieces:
            first_token_at = time.perf_counter()
            pieces = [NO_ANSWER]
            yield NO_ANSWER
        numbers = ({n: i + 1 for i, n in enumerate(grounding.cited)} if grounding is not None else None)
        caution = caution_for(flagged, passages, hits, numbers) if mode != "no_answer" else ""
        if caution:
            pieces.append(caution)
            yield caution
        text = "".join(pieces)
        t_end = time.perf_counter()

        by_n = {p.n: h for p, h in zip(passages, hits)}
        invalid: list[int] = []
        if grounding is not None:
            # the generator numbered its citations 1..m over the passages it quoted (or, saying it doesn't know,
            # the closest ones it names)
            citations = [citation_for(i + 1, by_n[n]) for i, n in enumerate(grounding.cited) if n in by_n]
        elif mode == "no_answer":
            citations = []
        else:
            # Only what the answer itself cites, and only markers that point at a passage ([7] with five passages
            # cites nothing): an answer without [n] cites nothing (the retrieved chunks stay in chunk_ids), so
            # citation figures measure the model, not retrieval.
            markers = list(dict.fromkeys(int(x) for x in _CITE.findall(text)))
            invalid = [n for n in markers if n not in by_n]
            citations = [citation_for(n, by_n[n]) for n in markers if n in by_n]
        latency = {"retrieval_ms": round((t_retrieval - t0) * 1000, 2),
                   "ttft_ms": round(((first_token_at or t_end) - t0) * 1000, 2),
                   "generate_ms": round((t_gen1 - t_gen0) * 1000, 2),  # the generator's share (overhead = rest)
                   "total_ms": round((t_end - t0) * 1000, 2), "pieces": len(pieces)}
        result = Answer(text=text, mode=mode, citations=citations, chunk_ids=[h.chunk_id for h in hits],
                        model_version=choice.version, latency=latency,
                        extras={"flagged": list(flagged.values())} if flagged else {})
        if usage is not None:
            result.extras["usage"] = usage.to_dict()
            if usage.cut:  # OpenAI's finish_reason: the answer stopped at the token cap
                result.extras["finish_reason"] = "length"
        if grounding is not None:
            result.extras.update(confidence=grounding.confidence, abstained=grounding.abstained,
                                 sources_disagree=grounding.sources_disagree)
        elif mode == "generative":
            result.extras.update(abstained=bool(_DONT_KNOW.match(text)), invalid_citations=invalid)
        if store:
            self._store(result, question, user_id, conversation_id, channel, external_key)
        yield result

    def answer(self, question: str, **kwargs) -> Answer:
        result = None
        for item in self.stream(question, **kwargs):
            if isinstance(item, Answer):
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

    def _store(self, result: Answer, question: str, user_id: int | None, conversation_id: int | None,
               channel: str, external_key: str | None) -> None:
        with session_scope(self.settings.db_url) as s:
            conv = s.get(Conversation, conversation_id) if conversation_id is not None else None
            if conv is None:
                conv = Conversation(user_id=user_id, title=question[:80], channel=channel, external_key=external_key)
                s.add(conv)
                s.flush()
            s.add(Message(conversation_id=conv.id, role="user", content=question))
            msg = Message(conversation_id=conv.id, role="assistant", content=result.text,
                          citations=[c.to_dict() for c in result.citations], chunk_ids=result.chunk_ids, mode=result.mode,
                          model_version=result.model_version, latency=result.latency)
            s.add(msg)
            s.flush()
            result.conversation_id, result.message_id = conv.id, msg.id
