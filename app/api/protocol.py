"""Request AND response models of every route (vLLM's entrypoints/openai/protocol.py is the model): the OpenAPI
document describes what each route takes and what it returns. The OpenAI-compatible chat models come first, then
Teamlore's own routes by router."""
from __future__ import annotations

import time
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from model.base import AnswerMode, Citation


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant", "tool", "developer"]
    content: str | list[dict[str, Any]] | None = ""

    @field_validator("content")
    @classmethod
    def _text_parts_are_text(cls, content):
        """A text part's `text` is a string (OpenAI's rule): `{"type": "text", "text": null}` was a 500."""
        for i, part in enumerate(content if isinstance(content, list) else []):
            if (part.get("type") == "text" or "text" in part) and not isinstance(part.get("text"), str):
                raise ValueError(f"content part {i}: a text part's 'text' must be a string")
        return content

    def text(self) -> str:
        if isinstance(self.content, list):  # OpenAI content parts: keep the text parts
            return "".join(p.get("text", "") for p in self.content if isinstance(p, dict))
        return self.content or ""


class ResponseFormat(BaseModel):
    type: Literal["text"]  # JSON mode / structured outputs are not offered: a 422, never prose to a JSON parser


class ChatCompletionRequest(BaseModel):
    model: str = "teamlore"
    messages: list[ChatMessage] = Field(min_length=1)
    stream: bool = False
    n: int = Field(default=1, ge=1, le=1)  # one answer per request; more is a 422, never one choice silently
    response_format: ResponseFormat | None = None
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


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop", "length"] | None = "stop"


class CompletionUsage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletionResponse(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: CompletionUsage
    teamlore: TeamloreExtension


class DeltaMessage(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: DeltaMessage
    finish_reason: Literal["stop", "length"] | None = None


class ChatCompletionChunk(BaseModel):
    """One server-sent event of a streamed answer (`data: {...}`); the last carries `teamlore`, then
    `data: [DONE]`."""
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    teamlore: TeamloreExtension | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "teamlore"
    status: str | None = None  # a model version's registry status (candidate, live, …)
    backend: str | None = None  # what serves it: extractive, transformers, openai
    answered_by: str | None = None  # "teamlore" only: the version (or extractive) that answers now
    gate: bool | None = None  # a version's evaluation gate: passed or not (None: not evaluated)
    note: str | None = None  # "teamlore" only: why the live version does not answer (its files are gone, …)


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class ErrorDetail(BaseModel):
    message: str
    type: str
    code: str | None = None


class ErrorResponse(BaseModel):
    """Every error, from every route: OpenAI's format."""
    error: ErrorDetail


def completion_id() -> str:
    return "chatcmpl-" + uuid.uuid4().hex[:24]


def now() -> int:
    return int(time.time())


# --- Teamlore's routes ------------------------------------------------------------------------------------------
# Response models allow extra fields: a route may return more than is declared here (it is never dropped), but
# everything declared is there with the declared type.

class Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# health
class Health(Out):
    status: Literal["ok"] = "ok"


class Readiness(Out):
    status: Literal["ready", "not_ready"]
    checks: dict[str, str]
    notes: dict[str, str] | None = None


# auth
class UserOut(Out):
    id: int | None
    name: str
    role: Literal["user", "admin"]


class LoginResponse(Out):
    api_key: str
    expires_at: datetime | None = None
    user: UserOut


# conversations and feedback
class ConversationSummary(Out):
    id: int
    title: str
    channel: str | None
    created_at: datetime
    updated_at: datetime


class StoredMessage(Out):
    id: int
    role: str
    content: str
    citations: list[Citation] = Field(default_factory=list)
    mode: AnswerMode | None = None
    model_version: str | None = None
    latency: dict[str, float] | None = None
    created_at: datetime
    feedback: int | None = None  # the asking user's rating (+1 / -1)


class ConversationDetail(ConversationSummary):
    messages: list[StoredMessage]


class FeedbackOut(Out):
    id: int
    message_id: int
    rating: int
    comment: str | None = None


# corpus
class SearchResult(Out):
    chunk_id: int
    score: float
    scores: dict[str, float]
    title: str
    text: str
    meta: dict[str, Any]


class FileResult(Out):
    filename: str | None
    status: Literal["rejected", "ingested", "updated", "unchanged", "quarantined"]
    reason: str | None = None
    run_id: int | None = None
    added: int | None = None
    updated: int | None = None
    skipped: int | None = None
    deleted: int | None = None


class DocumentOut(Out):
    id: int
    title: str
    path: str
    mime: str
    pages: int | None
    source: str
    visibility: str
    size_bytes: int
    updated_at: datetime
    mine: bool | None = None  # uploaded by the asker
    quarantined: str | None = None  # why indexing refused it, if it did


class IndexStatus(Out):
    version: int | None
    chunks: int
    embedding_model: str
    status: str  # ok | missing | corrupt | stale: …
    kind: str | None = None
    model_version: str | None = None
    params: dict[str, Any] | None = None
    last_rebuild: str | None = None
    published_at: str | None = None
    stats: dict[str, Any] | None = None
    detail: str | None = None


class IngestionRunOut(Out):
    id: int
    status: str
    added: int
    updated: int
    skipped: int
    rejected: int
    deleted: int
    started_at: datetime
    finished_at: datetime | None


class SourceOut(Out):
    id: int
    kind: str
    name: str
    last_sync_at: datetime | None
    last_run: IngestionRunOut | None


# jobs and datasets
class JobOut(Out):
    id: int
    kind: str
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float
    params: dict[str, Any] | None
    result: dict[str, Any] | None
    error: str | None
    attempts: int
    worker: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


def job_out(j) -> JobOut:
    """A jobs table row as the API shows it."""
    return JobOut(id=j.id, kind=j.kind, status=j.status, progress=j.progress, params=j.params, result=j.result,
                  error=j.error, attempts=j.attempts, worker=j.worker, created_at=j.created_at,
                  started_at=j.started_at, finished_at=j.finished_at, updated_at=j.updated_at)


class UploadOut(Out):
    """An upload: the job that ingests its files and syncs the index (POST /v1/documents answers 202 with it; GET
    /v1/uploads/{id} follows it). `results` (one per file, in upload order) and `index` are filled once it is done."""
    id: int  # the job's id
    status: Literal["queued", "running", "succeeded", "failed", "cancelled"]
    progress: float  # 0..1: files ingested, then the index sync
    error: str | None
    files: list[str | None]  # the file names as sent
    results: list[FileResult]
    index: dict[str, Any]  # the index sync's report ({} when nothing changed, or not yet)
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


def upload_out(j) -> UploadOut:
    """An `upload` job row as its uploader sees it (no server paths)."""
    result = j.result or {}
    return UploadOut(id=j.id, status=j.status, progress=j.progress, error=j.error,
                     files=[f.get("filename") for f in (j.params or {}).get("files", [])],
                     results=result.get("results", []), index=result.get("index", {}), created_at=j.created_at,
                     started_at=j.started_at, finished_at=j.finished_at)


class WorkerStatus(Out):
    alive: bool  # a worker beat within the last few seconds
    worker: str | None
    last_seen_s: float | None
    how_to_start: str


class MetricPoint(Out):
    step: int  # plus the step's figures: loss, lr, grad_norm, tokens_per_s, …


class JobLogs(Out):
    lines: list[str]


class DatasetOut(Out):
    version: str
    name: str
    created_at: datetime
    stats: dict[str, Any] | None
    settings: dict[str, Any] | None


class DatasetReport(Out):
    name: str
    version: str
    path: str
    settings: dict[str, Any] | None = None


class ExamplePage(Out):
    version: str
    split: str
    total: int
    offset: int
    examples: list[dict[str, Any]]


class ReviewOut(Out):
    example_id: str
    accept: bool


# admin
class KeyOut(Out):
    id: int
    name: str
    prefix: str
    user: str
    role: Literal["user", "admin"]
    kind: str | None = None  # api | session
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None
    last_used_at: datetime | None


class UserAdminOut(Out):
    id: int
    name: str
    role: Literal["user", "admin"]
    slack_user_id: str | None
    has_password: bool
    created_at: datetime


class NewKeyOut(KeyOut):
    key: str  # shown once


class ModelVersionOut(Out):
    id: int
    name: str
    base_model: str
    adapter_path: str | None
    adapter_hash: str | None
    dataset_version: str | None
    job_id: int | None
    metrics: dict[str, Any] | None
    status: str
    created_at: datetime
    promoted_at: datetime | None
    gate: dict[str, Any] | None = None  # the evaluation gate: passed, reasons, the figures compared
    recipe: str | None = None
    data: dict[str, Any] | None = None
    parent: str | None = None  # the version this one continued from (its adapter, or its model)
    lineage: dict[str, Any] | None = None  # parent, what training started from, the DPO reference


class ExtractiveServing(Out):
    """After a rollback with no earlier version: nothing is live, answers are extractive."""
    name: None = None
    status: Literal["extractive"] = "extractive"
    answerer: Literal["extractive"] = "extractive"
    detail: str


class CorrectionOut(Out):
    id: int
    message_id: int
    rating: int
    correction: str
    comment: str | None = None


class FeedbackDay(Out):
    day: str
    up: int
    down: int


class FeedbackChannel(Out):
    channel: str | None
    up: int
    down: int


class FeedbackOverview(Out):
    days: int
    per_day: list[FeedbackDay]
    per_channel: list[FeedbackChannel]
    worst: list[dict[str, Any]]
    retrains: list[dict[str, Any]]


class DayCount(Out):
    day: str
    count: int


class FeedbackCounts(Out):
    up: int
    down: int


class LatencyPercentiles(Out):
    p50: float | None
    p95: float | None
    p99: float | None


class UsageReport(Out):
    questions_per_day: list[DayCount]
    feedback: FeedbackCounts
    latency_ms: LatencyPercentiles
    users: int


class AuditEventOut(Out):
    id: int
    action: str
    target: str | None
    details: dict[str, Any] | None
    actor_user_id: int | None
    created_at: datetime
