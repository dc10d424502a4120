"""SQLAlchemy 2 models. Schema changes go through Alembic (app/migrations)."""
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sqlalchemy import (JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Integer,
                        String, Text, UniqueConstraint, Index)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """A timezone-aware timestamp, read back in UTC on every database: SQLite stores no offset and returned naive
    values, which the API sent without one (clients read them as local time)."""
    impl = DateTime(timezone=True)
    cache_ok = True

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        return value.replace(tzinfo=timezone.utc) if value is not None and value.tzinfo is None else value


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON}


# SQLite: a deleted row's id is never handed out again (without AUTOINCREMENT the newest row's id went to the next
# new row, and a repeated DELETE of it hit the new one); for the tables a client acts on by id. Migration 0006.
NEVER_REUSE_IDS = {"sqlite_autoincrement": True}


class TimestampMixin:
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


# --- people and access -------------------------------------------------------------------------

class User(TimestampMixin, Base):
    __tablename__ = "users"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    email: Mapped[str | None] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16), default="user")  # user | admin
    slack_user_id: Mapped[str | None] = mapped_column(String(32), index=True)
    password_hash: Mapped[str | None] = mapped_column(String(256))
    api_keys: Mapped[list[ApiKey]] = relationship(back_populates="user")


class ApiKey(TimestampMixin, Base):
    __tablename__ = "api_keys"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    prefix: Mapped[str] = mapped_column(String(16), index=True)  # shown in listings, never the key
    key_hash: Mapped[str] = mapped_column(String(128), unique=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    kind: Mapped[str] = mapped_column(String(16), default="api", server_default="api")  # api | session
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # session keys expire
    # a sign-in key made from an API key (POST /v1/auth/session): revoking or deleting that key ends this one
    parent_key_id: Mapped[int | None] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"), index=True)
    user: Mapped[User] = relationship(back_populates="api_keys")
    parent: Mapped["ApiKey | None"] = relationship(remote_side="ApiKey.id")


class AuditEvent(Base):
    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    action: Mapped[str] = mapped_column(String(64), index=True)
    target: Mapped[str | None] = mapped_column(String(200))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


# --- sources and corpus --------------------------------------------------------------------------

class Source(TimestampMixin, Base):
    __tablename__ = "sources"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # slack_export | slack_live | docs
    name: Mapped[str] = mapped_column(String(300), unique=True)
    config: Mapped[dict[str, Any]] = mapped_column(default=dict)  # never secrets
    checkpoint: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. per-channel `oldest` for live sync
    last_sync_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # who uploaded it through the API (None: the CLI, the live sync or an operator)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


class IngestionRun(Base):
    __tablename__ = "ingestion_runs"
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    added: Mapped[int] = mapped_column(default=0)
    updated: Mapped[int] = mapped_column(default=0)
    skipped: Mapped[int] = mapped_column(default=0)
    rejected: Mapped[int] = mapped_column(default=0)
    deleted: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict[str, Any]] = mapped_column(default=dict)  # reasons, filtered counts, rejected files
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SlackChannel(TimestampMixin, Base):
    __tablename__ = "slack_channels"
    __table_args__ = (UniqueConstraint("source_id", "channel_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    channel_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(300))
    kind: Mapped[str] = mapped_column(String(16))  # public | private | dm | mpim
    members: Mapped[list[Any]] = mapped_column(default=list)


class SlackUser(TimestampMixin, Base):
    __tablename__ = "slack_users"
    __table_args__ = (UniqueConstraint("source_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    user_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(300))
    display_name: Mapped[str | None] = mapped_column(String(300))
    title: Mapped[str | None] = mapped_column(String(300))
    is_bot: Mapped[bool] = mapped_column(Boolean, default=False)


class SlackMessage(TimestampMixin, Base):
    __tablename__ = "slack_messages"
    __table_args__ = (UniqueConstraint("source_id", "channel_id", "ts"),
                      Index("ix_slack_messages_thread", "source_id", "channel_id", "thread_ts"))
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingestion_runs.id", ondelete="SET NULL"))
    channel_id: Mapped[str] = mapped_column(String(32))
    ts: Mapped[str] = mapped_column(String(32))
    thread_ts: Mapped[str | None] = mapped_column(String(32))
    user_id: Mapped[str | None] = mapped_column(String(32))
    user_name: Mapped[str | None] = mapped_column(String(300))
    text: Mapped[str] = mapped_column(Text)  # cleaned, readable
    raw_text: Mapped[str] = mapped_column(Text)
    subtype: Mapped[str | None] = mapped_column(String(64))
    filtered: Mapped[str | None] = mapped_column(String(64))  # why it is kept out of the corpus, or None
    reactions: Mapped[dict[str, Any]] = mapped_column(default=dict)  # name -> [user ids]
    permalink: Mapped[str | None] = mapped_column(String(500))
    edited_ts: Mapped[str | None] = mapped_column(String(32))
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    content_hash: Mapped[str] = mapped_column(String(64))


class Document(TimestampMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("source_id", "path"), NEVER_REUSE_IDS)
    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("ingestion_runs.id", ondelete="SET NULL"))
    path: Mapped[str] = mapped_column(String(1000))
    title: Mapped[str] = mapped_column(String(500))
    mime: Mapped[str] = mapped_column(String(100))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    pages: Mapped[int | None] = mapped_column(Integer)
    sections: Mapped[list[Any]] = mapped_column(default=list)  # [{heading_path, page, text}]
    visibility: Mapped[str] = mapped_column(String(100), default="everyone")  # everyone | group:<name>
    # the uploader (None: ingested by the CLI or an operator: only admins may replace or delete it)
    owner_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    # why indexing refused it (too many chunks, a chunker error); quarantined documents are left out of the index
    quarantine_reason: Mapped[str | None] = mapped_column(Text)


class Chunk(Base):
    """Metadata of one retrievable unit; its vector lives in the FAISS index under the same id."""
    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_origin", "origin_kind", "origin_key"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    origin_kind: Mapped[str] = mapped_column(String(16))  # document | slack_thread
    origin_key: Mapped[str] = mapped_column(String(300))  # document id, or source:channel:thread_ts
    document_id: Mapped[int | None] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(Text)
    title: Mapped[str] = mapped_column(String(500))
    meta: Mapped[dict[str, Any]] = mapped_column(default=dict)  # heading path, page, channel, permalink, author, ts
    acl: Mapped[list[Any]] = mapped_column(default=list)  # ["*"] or slack user ids / "group:x"
    content_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


# --- datasets, training, models ------------------------------------------------------------------

class DatasetVersion(Base):
    __tablename__ = "dataset_versions"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), index=True)
    version: Mapped[str] = mapped_column(String(64), unique=True)  # content hash prefix
    path: Mapped[str] = mapped_column(String(1000))
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Job(TimestampMixin, Base):
    """A durable unit of work (train, dataset build, index rebuild, sync) tracked for the UI."""
    __tablename__ = "jobs"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), index=True)
    status: Mapped[str] = mapped_column(String(16), default="queued", index=True)
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(default=0)
    worker: Mapped[str | None] = mapped_column(String(200))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class TrainingMetric(Base):
    __tablename__ = "training_metrics"
    __table_args__ = (Index("ix_training_metrics_job_step", "job_id", "step"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    step: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(default=dict)  # loss, lr, grad_norm, tokens_per_s, gpu_mem
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ModelVersion(TimestampMixin, Base):
    __tablename__ = "model_versions"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    deployment: Mapped[str] = mapped_column(String(100), default="default", index=True)
    base_model: Mapped[str] = mapped_column(String(1000))
    adapter_path: Mapped[str | None] = mapped_column(String(1000))
    adapter_hash: Mapped[str | None] = mapped_column(String(64))
    dataset_version: Mapped[str | None] = mapped_column(String(64))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"))
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="candidate")  # candidate | live | retired
    promoted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # last time it went live


# --- conversations ------------------------------------------------------------------------------

class Conversation(TimestampMixin, Base):
    __tablename__ = "conversations"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(300), default="New conversation")
    channel: Mapped[str] = mapped_column(String(32), default="web")  # web | slack | api
    external_key: Mapped[str | None] = mapped_column(String(200), index=True)  # e.g. slack channel:thread_ts
    messages: Mapped[list[Message]] = relationship(back_populates="conversation", cascade="all, delete-orphan",
                                                   order_by="Message.id")


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = NEVER_REUSE_IDS
    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))  # user | assistant
    content: Mapped[str] = mapped_column(Text)
    citations: Mapped[list[Any]] = mapped_column(default=list)
    chunk_ids: Mapped[list[Any]] = mapped_column(default=list)
    model_version: Mapped[str | None] = mapped_column(String(200))
    mode: Mapped[str | None] = mapped_column(String(16))  # generative | extractive | no_answer
    latency: Mapped[dict[str, Any]] = mapped_column(default=dict)  # retrieval_ms, ttft_ms, total_ms, tokens
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    conversation: Mapped[Conversation] = relationship(back_populates="messages")


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (UniqueConstraint("message_id", "user_id"), NEVER_REUSE_IDS)
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    rating: Mapped[int] = mapped_column(Integer)  # +1 | -1
    comment: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(Text)  # an admin's corrected answer (the chosen side of a pair)
    origin: Mapped[str] = mapped_column(String(16), default="web")  # web | slack | api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
