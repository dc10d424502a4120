"""Persist what `ingest` parses: Slack exports, live Slack syncs and documents, as versioned corpus rows.

Every call is one IngestionRun row (counts + a report of what was rejected or filtered, and why). The run row
is committed first on its own; the corpus writes of a batch happen in one transaction, so a failure leaves the
corpus exactly as it was and marks the run `failed`. Re-running is idempotent: rows carry a content hash and
unchanged items are skipped; a changed item (edited message, new version of a document) updates its row.

Input that cannot be ingested (corrupt zip, zip bomb, encrypted PDF …) does not raise: it is counted as rejected
with its reason, so callers (CLI, API upload) can show it next to what did ingest.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.db.models import (Chunk, Document, IngestionRun, SlackChannel as SlackChannelRow,
                           SlackMessage, SlackUser as SlackUserRow, Source)
from app.db.session import session_scope
from app.settings import Settings
from ingest import pii
from ingest.cleaning import clean_message
from ingest.dedupe import NearDuplicateIndex
from ingest.documents import DocumentLimits, parse_document
from ingest.slack_export import ExportLimits, read_export
from ingest.slack_live import LiveReader
from ingest.types import (IngestError, ParsedDocument, SlackChannelRecord, SlackExport,
                          SlackMessageRecord, SlackUserRecord)
from retrieval.types import acl_for_visibility

log = logging.getLogger(__name__)

# progress(description, completed, total): total None while unknown
Progress = Callable[[str, int, "int | None"], None]
MAX_REPORTED_REJECTIONS = 1000


@dataclass
class RunSummary:
    run_id: int
    source_id: int | None = None
    source_name: str = ""
    status: str = "running"  # done | failed
    added: int = 0
    updated: int = 0
    skipped: int = 0
    rejected: int = 0
    deleted: int = 0
    rejections: list[tuple[str, str]] = field(default_factory=list)  # (item, reason)
    filtered: dict[str, int] = field(default_factory=dict)  # reason -> messages kept out of the corpus
    masked: dict[str, int] = field(default_factory=dict)  # kind -> findings masked
    stats: dict[str, Any] = field(default_factory=dict)  # api calls, rate-limit waits, pages, messages …

    def reject(self, item: str, reason: str) -> None:
        self.rejected += 1
        self.rejections.append((item, reason))

    def report(self) -> dict[str, Any]:
        return {"rejections": [list(r) for r in self.rejections[:MAX_REPORTED_REJECTIONS]],
                "rejections_truncated": max(0, len(self.rejections) - MAX_REPORTED_REJECTIONS),
                "filtered": dict(self.filtered), "masked": dict(self.masked), "stats": dict(self.stats)}


def _noop(_desc: str, _done: int, _total: int | None) -> None:
    pass


# --- runs ----------------------------------------------------------------------------------------------

def _get_source(s: Session, name: str, kind: str, config: dict[str, Any] | None = None,
                owner_user_id: int | None = None) -> Source:
    src = s.scalar(select(Source).where(Source.name == name))
    if src is None:
        src = Source(name=name, kind=kind, config=config or {}, checkpoint={}, owner_user_id=owner_user_id)
        s.add(src)
        s.flush()
    elif src.kind != kind:
        raise IngestError(f"source {name!r} already exists as a {src.kind} source, not {kind}; pick another name")
    elif config and src.config != {**src.config, **config}:
        src.config = {**src.config, **config}
    return src


def _start_run(settings: Settings, source_name: str, kind: str, config: dict[str, Any] | None,
               owner_user_id: int | None = None) -> RunSummary:
    def attempt() -> RunSummary:
        with session_scope(settings.db_url) as s:
            src = _get_source(s, source_name, kind, config, owner_user_id)
            run = IngestionRun(source_id=src.id, status="running", report={})
            s.add(run)
            s.flush()
            return RunSummary(run_id=run.id, source_id=src.id, source_name=source_name)
    try:
        return attempt()
    except IntegrityError:  # a run beside this one (two uploads at once) created the source between our look-up
        return attempt()    # and our insert: this time the look-up finds it


def _finish_run(settings: Settings, summary: RunSummary, status: str, error: str | None = None) -> None:
    summary.status = status
    with session_scope(settings.db_url) as s:
        run = s.get(IngestionRun, summary.run_id)
        run.status = status
        run.added, run.updated, run.skipped = summary.added, summary.updated, summary.skipped
        run.rejected, run.deleted = summary.rejected, summary.deleted
        report = summary.report()
        if error:
            report["error"] = error
        run.report = report
        run.finished_at = datetime.now(timezone.utc)


def _run_batch(settings: Settings, summary: RunSummary, work: Callable[[Session, Source], None]) -> RunSummary:
    """Do `work` in one transaction; on failure nothing of it stays and the run is recorded as failed."""
    before = (summary.added, summary.updated, summary.skipped, summary.deleted)
    try:
        with session_scope(settings.db_url) as s:
            src = s.get(Source, summary.source_id)
            work(s, src)
            src.last_sync_at = datetime.now(timezone.utc)
    except IngestError as exc:
        summary.added, summary.updated, summary.skipped, summary.deleted = before
        summary.reject(summary.stats.get("input", summary.source_name), str(exc))
        _finish_run(settings, summary, "failed", str(exc))
        return summary
    except BaseException as exc:
        summary.added, summary.updated, summary.skipped, summary.deleted = before
        _finish_run(settings, summary, "failed", f"{type(exc).__name__}: {exc}")
        raise
    _finish_run(settings, summary, "done")
    return summary


# --- Slack ---------------------------------------------------------------------------------------------

def _policy(settings: Settings) -> pii.MaskPolicy:
    return pii.MaskPolicy.for_target("index", mask_personal_data=settings.mask_personal_data_in_index,
                                     phone_regions=settings.phone_regions)


def _raw_policy(settings: Settings) -> pii.MaskPolicy:
    """The raw Slack markup (kept for its `<@U…>` mention ids, which disentanglement reads) is masked like
    training data — no personal data, no secrets — unless an admin turns retention on
    (TEAMLORE_RETAIN_RAW_TEXT=true), which keeps personal data there so masking can be re-run later."""
    if settings.retain_raw_text:
        return pii.MaskPolicy(frozenset({pii.SECRET}), tuple(settings.phone_regions))
    return pii.MaskPolicy.for_target("training", phone_regions=settings.phone_regions)


def permalink_message_id(ts: str) -> str:
    """The message part of a Slack permalink: "p" and the ts without its dot ("1712345678.000100" ->
    "p1712345678000100")."""
    return "p" + ts.replace(".", "")


def permalink(base_url: str | None, channel_id: str, ts: str, thread_ts: str | None = None) -> str | None:
    """https://<team>.slack.com/archives/<channel>/p<ts without dot>[?thread_ts=…&cid=…] (Slack's own format)."""
    if not base_url:
        return None
    url = f"{base_url.rstrip('/')}/archives/{channel_id}/{permalink_message_id(ts)}"
    if thread_ts and thread_ts != ts:
        url += f"?thread_ts={thread_ts}&cid={channel_id}"
    return url


def _message_hash(m: SlackMessageRecord, link: str | None) -> str:
    payload = [m.raw_text, m.text, m.thread_ts, m.user_id, m.user_name, m.subtype, m.edited_ts,
               sorted((k, sorted(v)) for k, v in m.reactions.items()), m.filtered, link]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=False).encode()).hexdigest()


def _upsert_people(s: Session, source_id: int, users: Sequence[SlackUserRecord],
                   channels: Sequence[SlackChannelRecord]) -> None:
    existing_users = {u.user_id: u for u in s.scalars(select(SlackUserRow).where(SlackUserRow.source_id == source_id))}
    for u in users:
        row = existing_users.get(u.user_id)
        values = dict(name=u.name[:300], display_name=(u.display_name or u.real_name or None),
                      title=u.title, is_bot=u.is_bot)
        if row is None:
            s.add(SlackUserRow(source_id=source_id, user_id=u.user_id, **values))
        else:
            for k, v in values.items():
                if getattr(row, k) != v:
                    setattr(row, k, v)
    existing_channels = {c.channel_id: c for c in
                         s.scalars(select(SlackChannelRow).where(SlackChannelRow.source_id == source_id))}
    for c in channels:
        row = existing_channels.get(c.channel_id)
        if row is None:
            s.add(SlackChannelRow(source_id=source_id, channel_id=c.channel_id, name=c.name[:300], kind=c.kind,
                                  members=list(c.members)))
        else:
            row.name, row.kind = c.name[:300], c.kind
            if c.members or not row.members:
                row.members = list(c.members)


def _prepare_messages(settings: Settings, summary: RunSummary, messages: list[SlackMessageRecord],
                      users: Sequence[SlackUserRecord], channels: Sequence[SlackChannelRecord]) -> None:
    """Clean, filter, mask and de-duplicate in place; counts go to the summary."""
    labels = {u.user_id: u.label for u in users}
    channel_names = {c.channel_id: c.name for c in channels}
    bots = {u.user_id for u in users if u.is_bot}
    policy = _policy(settings)
    raw_policy = _raw_policy(settings)
    masked: Counter[str] = Counter()
    dedupe = NearDuplicateIndex()
    for m in sorted(messages, key=lambda r: float(r.ts)):
        clean_message(m, labels, channel_names, bots)
        if m.subtype == "tombstone":
            m.filtered = "deleted"
        m.text, counts = pii.mask(m.text, policy)
        masked.update(counts)
        # Raw keeps its markup (mention ids) but, unless retention is on, no personal data and never a credential.
        m.raw_text, _ = pii.mask(m.raw_text, raw_policy)
        if m.filtered is None and dedupe.add(f"{m.channel_id}:{m.ts}", m.text) is not None:
            m.filtered = "near_duplicate"
        m.user_name = labels.get(m.user_id or "") or m.user_name
    for k, v in masked.items():
        summary.masked[k] = summary.masked.get(k, 0) + v
    for reason, n in Counter(m.filtered for m in messages if m.filtered).items():
        summary.filtered[reason] = summary.filtered.get(reason, 0) + n


def _write_messages(s: Session, src: Source, summary: RunSummary, messages: Iterable[SlackMessageRecord],
                    base_url: str | dict[str, str] | None, progress: Progress, total: int) -> None:
    """`base_url`: the workspace URL, or one per channel id (a channel missing from it gets no permalink)."""
    existing = {(r.channel_id, r.ts): r for r in s.scalars(select(SlackMessage).where(SlackMessage.source_id == src.id))}
    done = 0
    for m in messages:
        link = permalink(base_url.get(m.channel_id) if isinstance(base_url, dict) else base_url,
                         m.channel_id, m.ts, m.thread_ts)
        digest = _message_hash(m, link)
        row = existing.get((m.channel_id, m.ts))
        deleted = m.subtype == "tombstone"
        values = dict(thread_ts=m.thread_ts, user_id=m.user_id, user_name=(m.user_name or None) and m.user_name[:300],
                      text=m.text, raw_text=m.raw_text, subtype=m.subtype, filtered=m.filtered,
                      reactions=dict(m.reactions), permalink=link and link[:500], edited_ts=m.edited_ts,
                      deleted=deleted, content_hash=digest)
        if row is None:
            row = SlackMessage(source_id=src.id, run_id=summary.run_id, channel_id=m.channel_id, ts=m.ts, **values)
            s.add(row)
            existing[(m.channel_id, m.ts)] = row
            summary.added += 1
        elif row.content_hash == digest and row.deleted == deleted:
            summary.skipped += 1
        else:
            if deleted and not row.deleted:
                summary.deleted += 1
            else:
                summary.updated += 1
            for k, v in values.items():
                setattr(row, k, v)
            row.run_id = summary.run_id
        done += 1
        if done % 200 == 0:
            progress("messages", done, total)
    progress("messages", done, total)


def _mark_deleted(s: Session, src: Source, summary: RunSummary, rows: Iterable[SlackMessage]) -> None:
    for row in rows:
        if not row.deleted:
            row.deleted = True
            row.run_id = summary.run_id
            summary.deleted += 1


def _dedupe_records(messages: list[SlackMessageRecord]) -> list[SlackMessageRecord]:
    """One record per (channel, ts); the later one wins (a reply read via replies over its broadcast copy)."""
    by_key: dict[tuple[str, str], SlackMessageRecord] = {}
    for m in messages:
        by_key[(m.channel_id, m.ts)] = m
    return list(by_key.values())


def ingest_slack_export(settings: Settings, path: str | Path, *, source_name: str | None = None,
                        progress: Progress | None = None, owner_user_id: int | None = None,
                        protect_foreign_channels: bool = False) -> RunSummary:
    """Ingest a Slack export (zip or folder). Messages that vanished from a re-imported export's time range
    are marked deleted. `protect_foreign_channels` (uploads by non-admins): a channel another source (an
    admin's export, the live sync) already holds is left out with a rejection, so an upload can never add to,
    re-declare the members or visibility of, or delete from a channel it does not own."""
    progress = progress or _noop
    path = Path(path)
    limits = ExportLimits(max_zip_bytes=settings.max_upload_mb << 20,
                          max_unpacked_bytes=settings.max_export_unpacked_mb << 20,
                          max_files=settings.max_export_files)
    progress("reading export", 0, None)
    export: SlackExport | None = None
    error: str | None = None
    try:
        export = read_export(path, limits)
    except IngestError as exc:
        error = str(exc)
    name = source_name or f"slack-export:{(export.team_domain if export and export.team_domain else path.stem)}"
    summary = _start_run(settings, name, "slack_export", {"file": path.name}, owner_user_id)
    summary.stats["input"] = str(path)
    if export is None:
        summary.reject(str(path), error or "unreadable export")
        _finish_run(settings, summary, "failed", error)
        return summary
    for r in export.rejected:
        summary.reject(r.path, r.reason)
    messages = export.messages
    summary.stats.update(channels=len(export.channels), users=len(export.users), messages=len(messages),
                         team_domain=export.team_domain)
    progress("reading export", 1, 1)
    progress("cleaning", 0, len(messages))
    _prepare_messages(settings, summary, messages, export.users, export.channels)
    progress("cleaning", len(messages), len(messages))
    # permalinks from the export's own metadata, per channel (a multi-workspace export has several domains)
    base_url = settings.slack_workspace_url or {cid: f"https://{d}.slack.com/" for cid, d in export.channel_domains.items()}

    def work(s: Session, src: Source) -> None:
        nonlocal messages
        channels = list(export.channels)
        if protect_foreign_channels:
            ids = {c.channel_id for c in channels} | {m.channel_id for m in messages}
            foreign = set(s.scalars(select(SlackChannelRow.channel_id).where(SlackChannelRow.source_id != src.id,
                                                                            SlackChannelRow.channel_id.in_(ids))))
            names = {c.channel_id: c.name for c in channels}
            for channel_id in sorted(foreign):
                label = f"#{names[channel_id]} ({channel_id})" if names.get(channel_id) else f"channel {channel_id}"
                summary.reject(f"channel {channel_id}", f"{label} belongs to another source; an uploaded export "
                                                        "cannot add to or change it")
            channels = [c for c in channels if c.channel_id not in foreign]
            messages = [m for m in messages if m.channel_id not in foreign]
        _upsert_people(s, src.id, export.users, channels)
        _write_messages(s, src, summary, messages, base_url, progress, len(messages))
        # A re-imported export is a snapshot: within each channel's time range, what it no longer holds is gone.
        seen: dict[str, set[str]] = {}
        for m in messages:
            seen.setdefault(m.channel_id, set()).add(m.ts)
        for channel_id, ts_set in seen.items():
            lo, hi = min(map(float, ts_set)), max(map(float, ts_set))
            stored = s.scalars(select(SlackMessage).where(SlackMessage.source_id == src.id,
                                                          SlackMessage.channel_id == channel_id,
                                                          SlackMessage.deleted.is_(False)))
            _mark_deleted(s, src, summary, (r for r in stored if r.ts not in ts_set and lo <= float(r.ts) <= hi))

    return _run_batch(settings, summary, work)


def sync_slack_live(settings: Settings, client, *, source_name: str, progress: Progress | None = None,
                    pacer=None) -> RunSummary:
    """Incremental sync through the Web API from the source's per-channel checkpoints. `pacer`: a
    `ingest.slack_live.TierPacer` (default: Slack's tier limits)."""
    progress = progress or _noop
    summary = _start_run(settings, source_name, "slack_live", {"api_url": getattr(client, "base_url", None)})
    summary.stats["input"] = f"Slack API {getattr(client, 'base_url', '')}"
    window_s = settings.slack_resync_window_days * 86400
    with session_scope(settings.db_url) as s:
        src = s.get(Source, summary.source_id)
        checkpoints = dict(src.checkpoint or {})
        recent: list[tuple[str, str]] = []
        for ch, thread_ts, ts in s.execute(select(SlackMessage.channel_id, SlackMessage.thread_ts, SlackMessage.ts)
                                           .where(SlackMessage.source_id == src.id,
                                                  SlackMessage.thread_ts.is_not(None))):
            cp = checkpoints.get(ch)
            if cp and float(ts) >= float(cp) - window_s:
                recent.append((ch, thread_ts))
    reader = LiveReader(client, pacer=pacer, resync_window_s=window_s,
                        progress=lambda what: progress(f"reading {what}", 0, None))
    try:
        result = reader.read(checkpoints, sorted(set(recent)))
    except Exception as exc:
        from slack_sdk.errors import SlackApiError
        if isinstance(exc, SlackApiError):
            error = exc.response.get("error") if exc.response is not None else str(exc)
            summary.reject(summary.stats["input"], f"Slack API error: {error}")
            _finish_run(settings, summary, "failed", f"Slack API error: {error}")
            return summary
        _finish_run(settings, summary, "failed", f"{type(exc).__name__}: {exc}")
        raise
    for r in result.rejected:
        summary.reject(r.path, r.reason)
    messages = _dedupe_records(result.messages)
    summary.stats.update(channels=len(result.channels), users=len(result.users), messages=len(messages),
                         api_calls=result.api_calls, rate_limited=result.rate_limited,
                         rate_limit_wait_s=round(result.waited_s, 2))
    progress("cleaning", 0, len(messages))
    _prepare_messages(settings, summary, messages, result.users, result.channels)
    progress("cleaning", len(messages), len(messages))
    base_url = settings.slack_workspace_url or result.team_url

    def work(s: Session, src: Source) -> None:
        _upsert_people(s, src.id, result.users, result.channels)
        _write_messages(s, src, summary, messages, base_url, progress, len(messages))
        # Deletions: whatever we stored inside a window that was re-read completely, but did not come back.
        for channel_id, (oldest, top_level) in result.history_windows.items():
            stored = s.scalars(select(SlackMessage).where(SlackMessage.source_id == src.id,
                                                          SlackMessage.channel_id == channel_id,
                                                          SlackMessage.deleted.is_(False)))
            _mark_deleted(s, src, summary, (
                r for r in stored if float(r.ts) > float(oldest) and r.ts not in top_level
                and (r.thread_ts is None or r.thread_ts == r.ts or r.subtype == "thread_broadcast")))
        for (channel_id, thread_ts), replies in result.threads_read.items():
            stored = s.scalars(select(SlackMessage).where(SlackMessage.source_id == src.id,
                                                          SlackMessage.channel_id == channel_id,
                                                          SlackMessage.thread_ts == thread_ts,
                                                          SlackMessage.ts != thread_ts,
                                                          SlackMessage.deleted.is_(False)))
            _mark_deleted(s, src, summary, (r for r in stored if r.ts not in replies
                                            and r.subtype != "thread_broadcast"))
        # The checkpoint moves only with the data, in the same transaction.
        src.checkpoint = {**(src.checkpoint or {}), **result.checkpoints}

    return _run_batch(settings, summary, work)


# --- documents -----------------------------------------------------------------------------------------

_OS_FILES = {"thumbs.db", "desktop.ini", "__macosx"}  # what Windows and macOS leave in shared folders


def _expand(paths: Iterable[str | Path], summary: RunSummary) -> list[Path]:
    """The files named, folders walked recursively; each file once (by its resolved path, which is the document's
    key), however often it is named: `docs/ docs/a.md`, or two symlinks to one file, crashed the run with a unique
    constraint error when both were inserted."""
    files: dict[Path, Path] = {}
    for p in map(Path, paths):
        if p.is_dir():
            for f in sorted(p.rglob("*")):
                rel = f.relative_to(p)
                if any(part.startswith((".", "~$")) or part.lower() in _OS_FILES for part in rel.parts):
                    continue  # .git, .DS_Store, Office lock files (~$Report.docx), Thumbs.db: not documents
                if f.is_file():
                    files.setdefault(f.resolve(), f)
        elif p.is_file():
            files.setdefault(p.resolve(), p)
        else:
            summary.reject(str(p), "no such file or folder")
    return list(files.values())


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def document_limits(settings: Settings) -> DocumentLimits:
    return DocumentLimits(max_chars=settings.max_document_chars, max_office_xml_bytes=settings.max_office_xml_mb << 20,
                          max_office_elements=settings.max_office_elements, max_csv_rows=settings.max_csv_rows,
                          max_csv_cells=settings.max_csv_cells)


def ingest_documents(settings: Settings, paths: Sequence[str | Path], *, source_name: str = "documents",
                     visibility: str | None = "everyone", progress: Progress | None = None,
                     owner_user_id: int | None = None, may_widen: bool = True) -> RunSummary:
    """Ingest files and folders (recursively). A file whose path is known with a new content hash replaces the
    old version (same row, new sections); identical content is skipped.

    Documents belong to `owner_user_id` (None: the CLI/operator): a path is matched, and identical content
    recognised, only among that owner's documents, so an upload never touches — or reveals — anyone else's.
    `visibility` None keeps an existing document's visibility (new ones: everyone); without `may_widen` (a
    non-admin) an update never widens a restricted document's visibility."""
    if visibility is not None:
        acl_for_visibility(visibility)  # raises VisibilityError (a ValueError) before anything is written
    progress = progress or _noop
    summary = _start_run(settings, source_name, "docs", None)
    summary.stats["input"] = ", ".join(map(str, paths))[:500]
    files = _expand(paths, summary)
    def mine(stmt):
        return stmt.where(Document.owner_user_id.is_(None) if owner_user_id is None
                          else Document.owner_user_id == owner_user_id)

    with session_scope(settings.db_url) as s:
        known = {d.path: (d.id, d.content_hash)
                 for d in s.scalars(mine(select(Document).where(Document.source_id == summary.source_id)))}
    known_hashes = {h: p for p, (_, h) in known.items()}
    max_bytes = settings.max_upload_mb << 20
    parsed: list[ParsedDocument] = []
    pages = 0
    for i, f in enumerate(files):
        key = str(f.resolve())
        progress("parsing", i, len(files))
        try:
            size = f.stat().st_size
            if size > max_bytes:
                raise IngestError(f"file is {size:,} bytes, over the limit of {max_bytes:,} bytes")
            digest = _sha256_file(f)
            if key in known and known[key][1] == digest:
                summary.skipped += 1
                continue
            if digest in known_hashes and known_hashes[digest] != key:
                summary.skipped += 1
                summary.filtered["duplicate_content"] = summary.filtered.get("duplicate_content", 0) + 1
                continue
            doc = parse_document(f, display_path=key, max_bytes=max_bytes, limits=document_limits(settings))
        except IngestError as exc:
            summary.reject(str(f), str(exc))
            continue
        except OSError as exc:
            summary.reject(str(f), f"cannot read file: {exc.strerror or exc}")
            continue
        except Exception as exc:  # a parser library choking on hostile input must not sink the whole batch
            log.warning("parser failed on %s", f, exc_info=True)
            summary.reject(str(f), f"could not be parsed ({type(exc).__name__}: {str(exc)[:200]})")
            continue
        known_hashes[doc.content_hash] = key
        parsed.append(doc)
        pages += doc.pages or 1
    progress("parsing", len(files), len(files))
    summary.stats.update(files=len(files), pages=pages)
    policy = _policy(settings)
    for doc in parsed:
        for sec in doc.sections:
            sec.text, counts = pii.mask(sec.text, policy)
            for k, v in counts.items():
                summary.masked[k] = summary.masked.get(k, 0) + v

    def work(s: Session, src: Source) -> None:
        rows = {d.path: d for d in s.scalars(mine(select(Document).where(Document.source_id == src.id)))}
        taken = set(s.scalars(select(Document.path).where(Document.source_id == src.id)))
        for i, doc in enumerate(parsed):
            values = dict(title=doc.title, mime=doc.mime, content_hash=doc.content_hash, size_bytes=doc.size_bytes,
                          pages=doc.pages, sections=[sec.to_dict() for sec in doc.sections],
                          run_id=summary.run_id, quarantine_reason=None)
            row = rows.get(doc.path)
            if row is None:
                if doc.path[:1000] in taken:  # another owner's document at this path: never replaced
                    summary.reject(doc.path, "a document by another owner has this path")
                    continue
                s.add(Document(source_id=src.id, path=doc.path[:1000], owner_user_id=owner_user_id,
                               visibility=visibility or "everyone", **values))
                summary.added += 1
            else:
                wanted = visibility or row.visibility
                if wanted != row.visibility and row.visibility != "everyone" and not may_widen:
                    wanted = row.visibility  # only an admin widens (or moves) a restricted document
                values["visibility"] = wanted
                # A new version updates the row in place; the next index sync diffs its chunks by content hash
                # (re-embedding only what changed, dropping the rest).
                for k, v in values.items():
                    setattr(row, k, v)
                summary.updated += 1
            progress("saving", i + 1, len(parsed))

    return _run_batch(settings, summary, work)


def remove_document(session: Session, document_id: int) -> dict[str, Any] | None:
    """Delete a document and everything built on it (its chunks) in the caller's transaction, recorded as a run;
    {id, path, title} of what went, or None when there is no such document — also when a concurrent delete removed
    it first: the DELETE's row count decides, not the earlier read."""
    doc = session.get(Document, document_id)
    if doc is None:
        return None
    gone = {"id": document_id, "path": doc.path, "title": doc.title}
    source_id = doc.source_id
    session.execute(delete(Chunk).where(Chunk.document_id == document_id))  # explicit: not every DB enforces FKs
    if not session.execute(delete(Document).where(Document.id == document_id)).rowcount:
        return None
    session.add(IngestionRun(source_id=source_id, status="done", deleted=1, report={"deleted_documents": [gone]},
                             finished_at=datetime.now(timezone.utc)))
    return gone


def delete_document(settings: Settings, document_id: int) -> None:
    """remove_document in a transaction of its own; LookupError when there is no such document."""
    with session_scope(settings.db_url) as s:
        if remove_document(s, document_id) is None:
            raise LookupError(f"no document with id {document_id}")
