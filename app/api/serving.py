"""Serving OpenAI-compatible chat completions on the answer engine (vLLM's serving_chat.py is the model): the
request's messages -> question + history, its sampling fields -> GenerationParams, the engine's errors -> API
errors, and the answer -> one JSON response or server-sent events.

The route (app/api/routes/openai.py) only checks who asks and hands over."""
from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import AsyncIterator, Iterator

from fastapi.responses import StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from app.answering.engine import AnswerEngine, EmptyQuestion
from app.answering.generators import UnknownModel
from app.api.errors import APIError
from app.api.guards import Gate
from app.api.protocol import (AssistantMessage, ChatChoice, ChatCompletionRequest, ChatCompletionResponse,
                              CompletionUsage, TeamloreExtension, completion_id, now)
from app.observability import TOKENS_PER_S, TTFT
from app.settings import Settings
from model.base import Answer, CancelToken, GenerationParams, GeneratorUnavailable
from retrieval.hybrid import QueryError
from retrieval.types import Access


def split_messages(body: ChatCompletionRequest) -> tuple[str, list[dict[str, str]]]:
    """(the last user message, the user/assistant turns before it)."""
    users = [i for i, m in enumerate(body.messages) if m.role == "user"]
    if not users:
        raise APIError(400, "messages must contain at least one user message", "no_user_message")
    last = users[-1]
    history = [{"role": m.role, "content": m.text()} for m in body.messages[:last] if m.role in ("user", "assistant")]
    return body.messages[last].text(), history


def generation_params(body: ChatCompletionRequest, settings: Settings) -> GenerationParams:
    stop = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
    cap = body.max_completion_tokens or body.max_tokens
    return GenerationParams(max_new_tokens=cap or settings.max_new_tokens, max_tokens=cap,
                            temperature=body.temperature or 0.0, top_p=body.top_p or 1.0, stop=stop)


def api_error(exc: Exception) -> APIError | None:
    """The API error for what the engine raises before answering; None: not the client's doing (a 500)."""
    if isinstance(exc, EmptyQuestion):
        return APIError(400, str(exc), "empty_question")
    if isinstance(exc, UnknownModel):
        return APIError(404, str(exc).strip("'\""), "model_not_found")
    if isinstance(exc, QueryError):  # filters the search does not understand
        return APIError(400, str(exc), "invalid_filters")
    if isinstance(exc, GeneratorUnavailable):
        return APIError(503, f"the model is unavailable: {exc}", "generator_unavailable")
    return None


def extension(result: Answer) -> TeamloreExtension:
    return TeamloreExtension(conversation_id=result.conversation_id, message_id=result.message_id,
                             citations=result.citations, mode=result.mode, model_version=result.model_version,
                             latency=result.latency, flagged=result.extras.get("flagged", []))


def finish_reason(result: Answer) -> str:
    """"length": the answer stopped at max_tokens (the model's limit, or an extractive answer cut to it)."""
    return result.extras.get("finish_reason", "stop")


def observe(result: Answer) -> None:
    TTFT.observe(result.latency["ttft_ms"] / 1000)
    gen_s = max(1e-6, (result.latency["total_ms"] - result.latency["ttft_ms"]) / 1000)
    if result.latency.get("pieces", 0) > 1:
        TOKENS_PER_S.observe(result.latency["pieces"] / gen_s)


def sse(payload: dict | str) -> str:
    return f"data: {payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)}\n\n"


async def serve_chat(body: ChatCompletionRequest, engine: AnswerEngine, settings: Settings, *, access: Access,
                     user_id: int | None, gate: Gate) -> ChatCompletionResponse | StreamingResponse:
    """`gate`: back-pressure — a bounded number of answers are generated at once and a bounded number wait for a
    slot; past that the client gets a 429 with Retry-After straight away (never a 500 after 30 s of waiting)."""
    question, history = split_messages(body)
    cancel = CancelToken()
    slot = AsyncExitStack()
    await slot.enter_async_context(gate.slot())
    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            await slot.aclose()

    stream = engine.stream(question, access=access, history=history, user_id=user_id,
                           conversation_id=body.conversation_id, model=body.model,
                           params=generation_params(body, settings), cancel=cancel,
                           channel="web" if body.user == "teamlore-ui" else "api", filters=body.filters)
    try:
        first = await run_in_threadpool(next, stream)  # surfaces errors before any byte is sent
    except BaseException as exc:
        await release()
        mapped = api_error(exc) if isinstance(exc, Exception) else None
        if mapped is None:
            raise
        raise mapped from exc
    cid, created = completion_id(), now()

    def answered_by(result: Answer) -> str:
        """`model` names the answerer that produced this answer: the model version, or extractive."""
        return result.model_version or ("extractive" if result.mode != "generative" else body.model)

    def rest() -> Iterator[str | Answer]:
        yield first
        yield from stream

    if not body.stream:
        def drain() -> Answer:
            for item in rest():
                if isinstance(item, Answer):
                    return item
            raise RuntimeError("the engine ended without an answer")
        try:
            result = await run_in_threadpool(drain)
        finally:
            await release()
        observe(result)
        return ChatCompletionResponse(
            id=cid, created=created, model=answered_by(result),
            choices=[ChatChoice(message=AssistantMessage(content=result.text), finish_reason=finish_reason(result))],
            # counted with the tokenizer in use (the model's; the embedding model's for extractive answers)
            usage=CompletionUsage(**(result.extras.get("usage") or {})), teamlore=extension(result))

    def chunk(delta: dict, finish: str | None = None, extra: dict | None = None) -> str:
        payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": body.model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return sse({**payload, **(extra or {})})

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for item in iterate_in_threadpool(rest()):
                if isinstance(item, Answer):
                    observe(item)
                    # the last chunk names the answerer (the first ones go out before it is known)
                    extra = {"model": answered_by(item), "teamlore": extension(item).model_dump(mode="json")}
                    if item.extras.get("usage"):  # OpenAI sends usage on the last chunk (stream_options)
                        extra["usage"] = item.extras["usage"]
                    yield chunk({}, finish_reason(item), extra)
                else:
                    yield chunk({"content": item})
        except GeneratorUnavailable as exc:
            yield sse({"error": {"message": f"the model failed: {exc}", "type": "service_unavailable", "code": None}})
        finally:
            cancel.cancel()  # client gone or stream done: stop generating
            await release()
        yield sse("[DONE]")

    # the slot is released when the stream ends, or (a client gone before the first byte) after the response
    return StreamingResponse(events(), media_type="text/event-stream", background=BackgroundTask(release),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
