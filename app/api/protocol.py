"""Request/response models of the OpenAI-compatible endpoints (plus Teamlore's extension fields)."""
from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, Field

from model.base import AnswerMode, Citation


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = ""

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text parts
            return "".join(p.get("text", "") for p in self.content if isinstance(p, dict))
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    model: str = "teamlore"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    max_tokens: int | None = Field(default=None, ge=1, le=8192)
    max_completion_tokens: int | None = Field(default=None, ge=1, le=8192)
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, gt=0, le=1)
    stop: str | list[str] | None = None
    user: str | None = None
    conversation_id: int | None = None  # Teamlore extension: continue a stored conversation
    filters: dict[str, Any] | None = None  # Teamlore extension: retrieval filters (source, channel, since, until)


class TeamloreExtension(BaseModel):
    conversation_id: int | None
    message_id: int | None
    citations: list[Citation]
    mode: AnswerMode
    model_version: str | None
    latency: dict[str, float]
    flagged: list[dict] = []  # passages that address the reader (instructions, credential requests), and why


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def now() -> int:
    return int(time.time())
