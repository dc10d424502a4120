"""OpenAI-compatible endpoints: POST /v1/chat/completions (streaming as SSE) and GET /v1/models."""
from __future__ import annotations

import json
from contextlib import AsyncExitStack
from typing import AsyncIterator

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select
from starlette.background import BackgroundTask
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from app.api.deps import EngineDep, PrincipalDep, SessionDep, SettingsDep, access_for
from app.api.errors import APIError
from app.api.protocol import ChatCompletionRequest, TeamloreExtension, completion_id, now
from app.db.models import Conversation, ModelVersion
from app.answering.engine import EmptyQuestion
from app.observability import TOKENS_PER_S, TTFT
from model.base import Answer, CancelToken, GenerationParams, GeneratorUnavailable

router = APIRouter(prefix="/v1", tags=["openai"])


def _extension(result: Answer) -> dict:
    return TeamloreExtension(conversation_id=result.conversation_id, message_id=result.message_id,
                             citations=result.citations, mode=result.mode, model_version=result.model_version,
                             latency=result.latency, flagged=result.extras.get("flagged", [])).model_dump()


def _observe(result: Answer) -> None:
    TTFT.observe(result.latency["ttft_ms"] / 1000)
    gen_s = max(1e-6, (result.latency["total_ms"] - result.latency["ttft_ms"]) / 1000)
    if result.latency.get("pieces", 0) > 1:
        TOKENS_PER_S.observe(result.latency["pieces"] / gen_s)


@router.post("/chat/completions")
async def chat_completions(body: ChatCompletionRequest, request: Request, principal: PrincipalDep,
                           engine: EngineDep, session: SessionDep, settings: SettingsDep):
    users = [m for m in body.messages if m.role == "user"]
    if not users:
        raise APIError(400, "messages must contain at least one user message", "no_user_message")
    question = users[-1].text()
    last_user = max(i for i, m in enumerate(body.messages) if m.role == "user")
    history = [{"role": m.role, "content": m.text()} for m in body.messages[:last_user]
               if m.role in ("user", "assistant")]
    if body.conversation_id is not None:
        conv = session.get(Conversation, body.conversation_id)
        if conv is None or (conv.user_id != principal.user_id):
            raise APIError(404, f"no conversation {body.conversation_id}", "conversation_not_found")
    session.close()  # the request's connection goes back to the pool: generation does not hold one
    stop = [body.stop] if isinstance(body.stop, str) else (body.stop or [])
    params = GenerationParams(max_new_tokens=body.max_completion_tokens or body.max_tokens or settings.max_new_tokens,
                              temperature=body.temperature or 0.0, top_p=body.top_p or 1.0, stop=stop)
    cancel = CancelToken()
    kwargs = dict(access=access_for(principal), history=history, user_id=principal.user_id,
                  conversation_id=body.conversation_id, model=body.model, params=params, cancel=cancel,
                  channel="web" if body.user == "teamlore-ui" else "api", filters=body.filters)
    # Back-pressure: a bounded number of answers are generated at once and a bounded number wait for a slot; past
    # that the client gets a 429 with Retry-After straight away (never a 500 after 30 s of waiting).
    gate = AsyncExitStack()
    await gate.enter_async_context(request.app.state.answer_gate.slot())
    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            await gate.aclose()

    try:
        try:
            stream = engine.stream(question, **kwargs)
            first = await run_in_threadpool(next, stream)  # surfaces errors before any byte is sent
        except EmptyQuestion as exc:
            raise APIError(400, str(exc), "empty_question") from exc
        except LookupError as exc:
            raise APIError(404, str(exc).strip("'\""), "model_not_found") from exc
        except GeneratorUnavailable as exc:
            raise APIError(503, f"the model is unavailable: {exc}", "generator_unavailable") from exc
        except ValueError as exc:  # bad filters and the like
            raise APIError(400, str(exc), "invalid_request") from exc
    except BaseException:
        await release()
        raise
    cid, created = completion_id(), now()
    model_name = body.model

    if not body.stream:
        def drain() -> Answer:
            item = first
            while not isinstance(item, Answer):
                item = next(stream)
            return item
        try:
            result = await run_in_threadpool(drain)
        finally:
            await release()
        _observe(result)
        # `model` names the answerer that produced this answer: the model version, or extractive
        return {"id": cid, "object": "chat.completion", "created": created,
                "model": result.model_version or ("extractive" if result.mode != "generative" else model_name),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": result.text},
                             "finish_reason": "stop"}],
                # counted with the tokenizer in use (the model's; the embedding model's for extractive answers)
                "usage": result.extras.get("usage") or {"prompt_tokens": 0, "completion_tokens": 0,
                                                         "total_tokens": 0},
                "teamlore": _extension(result)}

    def chunk(delta: dict, finish: str | None = None, extra: dict | None = None) -> str:
        payload = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model_name,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        if extra:
            payload.update(extra)
        return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def rest():
        yield first
        yield from stream

    async def events() -> AsyncIterator[str]:
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for item in iterate_in_threadpool(rest()):
                if isinstance(item, Answer):
                    _observe(item)
                    extra = {"teamlore": _extension(item)}
                    if item.extras.get("usage"):  # OpenAI sends usage on the last chunk (stream_options)
                        extra["usage"] = item.extras["usage"]
                    yield chunk({}, "stop", extra)
                else:
                    yield chunk({"content": item})
        except GeneratorUnavailable as exc:
            err = {"error": {"message": f"the model failed: {exc}", "type": "service_unavailable", "code": None}}
            yield f"data: {json.dumps(err)}\n\n"
        finally:
            cancel.cancel()  # client gone or stream done: stop generating
            await release()
        yield "data: [DONE]\n\n"

    # the slot is released when the stream ends, or (a client gone before the first byte) after the response
    return StreamingResponse(events(), media_type="text/event-stream", background=BackgroundTask(release),
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/models")
def list_models(principal: PrincipalDep, session: SessionDep, settings: SettingsDep):
    """`teamlore` is whatever answers now: the live version (`answered_by`), or extractive when none is live."""
    from app.services.registry import gate_of, live_version
    from app.wiring import serving_backend
    versions = session.scalars(select(ModelVersion).where(ModelVersion.status != "retired")
                               .order_by(ModelVersion.id)).all()
    live = live_version(session)
    backend = serving_backend(settings, live)
    answered_by = "extractive" if backend == "extractive" else (live.name if live else
                                                                (settings.model_path or settings.openai_model))
    data = [{"id": "teamlore", "object": "model", "created": 0, "owned_by": "teamlore",
             "answered_by": answered_by, "backend": backend}]
    data += [{"id": v.name, "object": "model", "created": int(v.created_at.timestamp()), "owned_by": "teamlore",
              "status": v.status, "backend": serving_backend(settings, v),
              "gate": (gate_of(v) or {}).get("passed")} for v in versions]
    return {"object": "list", "data": data}
