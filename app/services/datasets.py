"""Dataset versions: read the ingested Slack tables, build with ingest.datasets, record a DatasetVersion row.

The builder is deterministic: the same messages and options give the same version string, so a second build
returns the existing row instead of adding one. Reviews (accept/reject of single examples by an admin) are kept
in `reviews.jsonl` inside the version folder — an overlay: the version's files themselves never change.
"""
from __future__ import annotations

import json
import os
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.db import session_scope
from app.db.models import DatasetVersion, SlackChannel, SlackMessage, SlackUser, Source
from app.settings import Settings
from ingest.datasets.build import BuildOptions, DatasetBuildError, Progress, WorkspaceSnapshot, build
from ingest.datasets.examples import Retriever
from ingest.datasets.formats import SPLITS, read_jsonl
from ingest.datasets.records import Channel, Msg, Person

__all__ = ["build_dataset", "list_datasets", "get_report", "list_examples", "review_example", "rejected_examples",
           "load_snapshot", "searcher_retriever", "DatasetBuildError"]

EXAMPLE_KINDS = ("chat", "qa", "persona", "rag")


def load_snapshot(settings: Settings) -> WorkspaceSnapshot:
    """Every Slack source's channels, people and messages from the database, as builder records.

    A channel present in several sources (an export and then live sync of the same workspace) is one channel;
    a message present twice keeps the most recently updated copy.
    """
    with session_scope(settings.db_url) as s:
        sources = {src.id: src.name for src in s.scalars(select(Source)).all()}
        channels: dict[str, Channel] = {}
        for c in s.scalars(select(SlackChannel).order_by(SlackChannel.id)).all():
            channels[c.channel_id] = Channel(c.channel_id, c.name, c.kind)
        people: dict[str, Person] = {}
        for u in s.scalars(select(SlackUser).order_by(SlackUser.id)).all():
            people[u.user_id] = Person(u.user_id, u.name, u.display_name, u.title, bool(u.is_bot))
        bots = {uid for uid, p in people.items() if p.is_bot}
        latest: dict[tuple[str, str], tuple[Any, Msg]] = {}
        rows = s.execute(select(SlackMessage.channel_id, SlackMessage.ts, SlackMessage.thread_ts,
                                SlackMessage.user_id, SlackMessage.user_name, SlackMessage.text,
                                SlackMessage.raw_text, SlackMessage.subtype, SlackMessage.filtered,
                                SlackMessage.reactions, SlackMessage.permalink, SlackMessage.deleted,
                                SlackMessage.updated_at, SlackMessage.id)).all()
        for r in rows:
            label = people[r.user_id].label if r.user_id in people else r.user_name
            msg = Msg(channel_id=r.channel_id, ts=r.ts, user_id=r.user_id, text=r.text or "", thread_ts=r.thread_ts,
                      user_name=label, is_bot=(r.user_id in bots or r.filtered == "bot"), subtype=r.subtype,
                      filtered=r.filtered, deleted=bool(r.deleted), reactions=dict(r.reactions or {}),
                      permalink=r.permalink, raw_text=r.raw_text or "")
            key = (r.channel_id, r.ts)
            stamp = (r.updated_at.replace(tzinfo=None) if r.updated_at else datetime.min, r.id)
            if key not in latest or stamp > latest[key][0]:
                latest[key] = (stamp, msg)
    messages = [m for _, m in sorted(latest.values(), key=lambda x: (x[1].channel_id, float(x[1].ts)))]
    return WorkspaceSnapshot(channels=list(channels.values()), people=list(people.values()), messages=messages,
                    source=", ".join(sorted(sources.values())))


def searcher_retriever(searcher: Any, k: int = 3) -> Retriever:
    """Adapt the app's searcher to the builder's retriever callable. Training data may only see what everyone
    can see: passages are searched with public access, whatever the admin building the set could read."""
    from retrieval.types import PUBLIC

    def retrieve(question: str) -> list[dict[str, Any]]:
        hits = searcher.search(question, k=k * 3, access=PUBLIC)  # extra: the builder drops same-thread hits
        return [{"text": h.text, "title": h.title, "meta": dict(h.meta or {})} for h in hits]
    return retrieve


def _row_info(row: DatasetVersion, created: bool | None = None) -> dict[str, Any]:
    out = {"id": row.id, "name": row.name, "version": row.version, "path": row.path, "settings": row.settings,
           "stats": row.stats, "created_at": row.created_at.isoformat() if row.created_at else None}
    if created is not None:
        out["created"] = created
    return out


def build_dataset(settings: Settings, *, name: str = "slack-qa", include_private: bool = False,
                  channels: Sequence[str] | None = None, persona: str | None = None,
                  progress: Progress | None = None, retriever: Retriever | None = None,
                  retriever_id: str | None = None, kinds: Sequence[str] = ("chat", "qa")) -> dict[str, Any]:
    """Build (or find) the dataset version of the current Slack data; returns the DatasetVersion row as a dict
    (`version`, `path`, `stats`, and `created`: False when this version existed already).

    Raises DatasetBuildError (with the reason) when nothing can be built — never records an empty dataset.
    """
    settings.ensure_dirs()
    snapshot = load_snapshot(settings)
    options = BuildOptions(name=name, include_private=include_private,
                           channels=tuple(sorted(channels)) if channels else None, persona=persona,
                           kinds=tuple(kinds), retriever_id=retriever_id)
    result = build(snapshot, options, settings.datasets_dir, retriever=retriever, progress=progress)
    try:
        with session_scope(settings.db_url) as s:
            row = s.scalar(select(DatasetVersion).where(DatasetVersion.version == result.version))
            if row is not None:
                return _row_info(row, created=False)
            row = DatasetVersion(name=name, version=result.version, path=str(result.path),
                                 settings=options.to_dict(), stats=result.stats)
            s.add(row)
            s.flush()
            return _row_info(row, created=result.created)
    except IntegrityError:  # a concurrent build of the same version recorded it first
        with session_scope(settings.db_url) as s:
            row = s.scalar(select(DatasetVersion).where(DatasetVersion.version == result.version))
            return _row_info(row, created=False)


def list_datasets(settings: Settings) -> list[dict[str, Any]]:
    with session_scope(settings.db_url) as s:
        rows = s.scalars(select(DatasetVersion).order_by(DatasetVersion.id.desc())).all()
        return [_row_info(r) for r in rows]


def dataset_folder(settings: Settings, version: str) -> Path:
    with session_scope(settings.db_url) as s:
        row = s.scalar(select(DatasetVersion).where(DatasetVersion.version == version))
        if row is None:
            raise LookupError(f"no dataset version {version!r}")
        path = Path(row.path)
    if not (path / "manifest.json").is_file():
        raise LookupError(f"dataset version {version} is recorded but its folder {path} is missing")
    return path


def reviews_of(folder: Path) -> dict[str, bool]:
    """Latest decision per example id."""
    path = folder / "reviews.jsonl"
    out: dict[str, bool] = {}
    if path.is_file():
        for r in read_jsonl(path):
            out[r["example_id"]] = bool(r["accept"])
    return out


def get_report(settings: Settings, version: str) -> dict[str, Any]:
    """Statistics, plot names (served from <version>/plots/), the manifest's settings and review counts."""
    folder = dataset_folder(settings, version)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    stats = json.loads((folder / "stats.json").read_text(encoding="utf-8"))
    reviews = reviews_of(folder)
    return {"name": manifest["name"], "version": version, "path": str(folder), "settings": manifest["settings"],
            "inputs": manifest["inputs"], "stats": stats,
            "plots": sorted(p.name for p in (folder / "plots").glob("*.png")),
            "reviews": {"accepted": sum(reviews.values()), "rejected": sum(not v for v in reviews.values())}}


def example_files(folder: Path, split: str | None = None) -> list[Path]:
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
    out = []
    for kind in EXAMPLE_KINDS:
        for sp in ([split] if split else SPLITS):
            p = folder / f"{kind}.{sp}.jsonl"
            if p.is_file():
                out.append(p)
    return out


def list_examples(settings: Settings, version: str, *, split: str = "train", offset: int = 0, limit: int = 20,
                  kind: str | None = None) -> dict[str, Any]:
    """A page of one split's examples (every kind, or one) with their review decision."""
    folder = dataset_folder(settings, version)
    reviews = reviews_of(folder)
    rows = []
    for path in example_files(folder, split):
        if kind and not path.name.startswith(f"{kind}."):
            continue
        rows.extend(read_jsonl(path))
    page = rows[offset:offset + limit]
    for r in page:
        r["review"] = {True: "accepted", False: "rejected"}.get(reviews.get(r["id"]))  # type: ignore[arg-type]
    return {"version": version, "split": split, "total": len(rows), "offset": offset, "examples": page}


def review_example(settings: Settings, version: str, example_id: str, accept: bool) -> dict[str, Any]:
    """Record an admin's accept/reject of one example (the latest decision wins). KeyError for an unknown id."""
    folder = dataset_folder(settings, version)
    if not any(r["id"] == example_id for p in example_files(folder) for r in read_jsonl(p)):
        raise KeyError(f"no example {example_id} in dataset version {version}")
    line = json.dumps({"example_id": example_id, "accept": bool(accept),
                       "at": datetime.now(timezone.utc).isoformat()}) + "\n"
    # one short append per decision: a line is written whole or not at all for writes this small
    with open(folder / "reviews.jsonl", "a", encoding="utf-8") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())
    reviews = reviews_of(folder)
    return {"example_id": example_id, "accept": bool(accept),
            "reviews": dict(Counter("accepted" if v else "rejected" for v in reviews.values()))}


def rejected_examples(settings: Settings, version: str) -> set[str]:
    """Ids an admin rejected; training leaves them out."""
    return {k for k, v in reviews_of(dataset_folder(settings, version)).items() if not v}
