"""OpenAI-compatible endpoints: POST /v1/chat/completions (streaming as SSE) and GET /v1/models.

Thin: who asks and may they continue this conversation; the serving itself is app/api/serving.py."""
from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from app.api.deps import EngineDep, PrincipalDep, SessionDep, SettingsDep, access_for
from app.api.errors import APIError
from app.api.protocol import ChatCompletionRequest, ChatCompletionResponse, ModelList
from app.api.serving import serve_chat
from app.db.models import Conversation, ModelVersion

router = APIRouter(prefix="/v1", tags=["openai"])

_STREAM_DOC = {200: {"description": "The answer: JSON, or with `stream: true` server-sent events, each `data:` a "
                                    "ChatCompletionChunk, then `data: [DONE]`.",
                     "content": {"text/event-stream": {"schema": {
                         "$ref": "#/components/schemas/ChatCompletionChunk"}}}}}  # added by app/api/main.py


@router.post("/chat/completions", response_model=ChatCompletionResponse, responses=_STREAM_DOC)
async def chat_completions(body: ChatCompletionRequest, request: Request, principal: PrincipalDep,
                           engine: EngineDep, session: SessionDep, settings: SettingsDep):
    if body.conversation_id is not None:
        conv = session.get(Conversation, body.conversation_id)
        if conv is None or (conv.user_id != principal.user_id):
            raise APIError(404, f"no conversation {body.conversation_id}", "conversation_not_found")
    session.close()  # the request's connection goes back to the pool: generation does not hold one
    return await serve_chat(body, engine, settings, access=access_for(principal), user_id=principal.user_id,
                            gate=request.app.state.answer_gate)


@router.get("/models", response_model=ModelList, response_model_exclude_unset=True)
def list_models(request: Request, principal: PrincipalDep, session: SessionDep, settings: SettingsDep):
    """`teamlore` is whatever answers now: the live version (`answered_by`), or extractive when none is live —
    or, when the live version's files are gone, the last good version that answers instead (`note` says why)."""
    from pathlib import Path

    from app.services.registry import gate_of, live_version
    from app.wiring import serving_backend
    versions = session.scalars(select(ModelVersion).where(ModelVersion.status != "retired")
                               .order_by(ModelVersion.id)).all()
    live = live_version(session)
    backend = serving_backend(settings, live)
    answered_by = "extractive" if backend == "extractive" else (live.name if live else
                                                                (settings.model_path or settings.openai_model))
    card = {"id": "teamlore", "object": "model", "created": 0, "owned_by": "teamlore", "answered_by": answered_by,
            "backend": backend}
    generators = getattr(request.app.state, "generators", None)
    if live is not None and backend == "transformers" and generators is not None:
        if live.adapter_path and not Path(live.adapter_path).is_dir():
            generators.choose()  # finds it broken and settles who answers instead (what the next answer gets)
        note = generators.degraded(live.name)
        if note:
            card["note"] = note
            card["answered_by"] = generators.choose().version or "extractive"
    data = [card]
    data += [{"id": v.name, "object": "model", "created": int(v.created_at.timestamp()), "owned_by": "teamlore",
              "status": v.status, "backend": serving_backend(settings, v),
              "gate": (gate_of(v) or {}).get("passed")} for v in versions]
    return {"object": "list", "data": data}
