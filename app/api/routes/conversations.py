"""Conversations and per-answer feedback (the same table the Slack bot writes)."""
from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import select

from app.api.deps import PrincipalDep, SessionDep
from app.api.errors import APIError
from app.api.protocol import ConversationDetail, ConversationSummary, FeedbackOut
from app.db.models import Conversation, Feedback, Message
from app.services.ratings import feedback_row
from model.base import Citation

router = APIRouter(prefix="/v1", tags=["conversations"])


class NewConversation(BaseModel):
    title: str = Field(default="New conversation", max_length=300)


class Rename(BaseModel):
    title: str = Field(min_length=1, max_length=300)


class FeedbackIn(BaseModel):
    rating: Literal[1, -1]
    comment: str | None = Field(default=None, max_length=4000)


def _own(session, principal, conversation_id: int) -> Conversation:
    conv = session.get(Conversation, conversation_id)
    if conv is None or conv.user_id != principal.user_id:
        raise APIError(404, f"no conversation {conversation_id}", "conversation_not_found")
    return conv


def _summary(c: Conversation) -> dict:
    return {"id": c.id, "title": c.title, "channel": c.channel, "created_at": c.created_at,
            "updated_at": c.updated_at}


@router.get("/conversations", response_model=list[ConversationSummary])
def list_conversations(principal: PrincipalDep, session: SessionDep):
    convs = session.scalars(select(Conversation).where(Conversation.user_id == principal.user_id)
                            .order_by(Conversation.updated_at.desc()).limit(200)).all()
    return [_summary(c) for c in convs]


@router.post("/conversations", status_code=201, response_model=ConversationSummary)
def create_conversation(body: NewConversation, principal: PrincipalDep, session: SessionDep):
    conv = Conversation(user_id=principal.user_id, title=body.title, channel="web")
    session.add(conv)
    session.flush()
    return _summary(conv)


@router.get("/conversations/{conversation_id}", response_model=ConversationDetail)
def get_conversation(conversation_id: int, principal: PrincipalDep, session: SessionDep):
    conv = _own(session, principal, conversation_id)
    ratings = dict(session.execute(select(Feedback.message_id, Feedback.rating)
                                   .join(Message, Message.id == Feedback.message_id)
                                   .where(Message.conversation_id == conv.id,
                                          Feedback.user_id == principal.user_id)).all())
    return {**_summary(conv), "messages": [
        {"id": m.id, "role": m.role, "content": m.content, "citations": [Citation.from_dict(c) for c in m.citations or []], "mode": m.mode,
         "model_version": m.model_version, "latency": m.latency, "created_at": m.created_at,
         "feedback": ratings.get(m.id)} for m in conv.messages]}


@router.patch("/conversations/{conversation_id}", response_model=ConversationSummary)
def rename_conversation(conversation_id: int, body: Rename, principal: PrincipalDep, session: SessionDep):
    conv = _own(session, principal, conversation_id)
    conv.title = body.title
    return _summary(conv)


@router.delete("/conversations/{conversation_id}", status_code=204)
def delete_conversation(conversation_id: int, principal: PrincipalDep, session: SessionDep):
    session.delete(_own(session, principal, conversation_id))


@router.post("/messages/{message_id}/feedback", response_model=FeedbackOut)
def give_feedback(message_id: int, body: FeedbackIn, principal: PrincipalDep, session: SessionDep):
    msg = session.get(Message, message_id)
    if msg is None or msg.role != "assistant" or msg.conversation.user_id != principal.user_id:
        raise APIError(404, f"no answer {message_id} of yours", "message_not_found")
    fb = feedback_row(session, message_id, principal.user_id, rating=body.rating, origin="web")
    fb.rating, fb.comment = body.rating, body.comment
    session.flush()
    return {"id": fb.id, "message_id": message_id, "rating": fb.rating, "comment": fb.comment}
