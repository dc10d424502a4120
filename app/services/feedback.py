"""The team's feedback, read from the database for training and for the admin page.

- `feedback_records`: rated answers (👍/👎, comments, an admin's correction) with the prompt the model saw, Slack
  threads that people resolved after Teamlore answered in them, and examples an admin accepted in a review — as
  the plain records `ingest.datasets.feedback` turns into SFT additions and preference pairs.
- `build_feedback_dataset`: those records over a base dataset version -> a new, versioned dataset folder.
- `overview`: counts per day and per channel, the worst-rated answers with their sources, what each retrain used.

Permissions are retrieval's: an answer built from a passage not everyone may read (a private channel, a DM, a
group-only document), or given in a private Slack conversation, is private. Private feedback stays out of training
data unless an admin includes it explicitly, and the admin page shows its text only to someone who can read every
passage it used.
"""
from __future__ import annotations

from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import select

from app.db import session_scope
from app.db.models import (Chunk, Conversation, DatasetVersion, Feedback, Job, Message, ModelVersion,
                           SlackChannel, SlackMessage, User)
from app.settings import Settings
from ingest.datasets.feedback import (FeedbackBuildError, FeedbackOptions, RatedAnswer, Rating, ResolvedThread,
                                      ReviewedExample)
from ingest.datasets.feedback import build_feedback_dataset as _build
from retrieval.types import EVERYONE, Access

__all__ = ["feedback_records", "build_feedback_dataset", "overview", "since_of", "FeedbackBuildError"]


def _iso(dt: datetime | None) -> str:
    if dt is None:
        return ""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc).isoformat()


def since_of(settings: Settings, version: str | None) -> datetime | None:
    """"Feedback since version X": the time version X was registered (None: all feedback)."""
    if not version:
        return None
    with session_scope(settings.db_url) as s:
        mv = s.scalar(select(ModelVersion).where(ModelVersion.name == version))
        if mv is None:
            raise LookupError(f"no model version {version!r} to take feedback since")
        return mv.created_at


def _private_channels(s) -> set[str]:
    return {c.channel_id for c in s.scalars(select(SlackChannel)).all() if c.kind != "public"}


def _acls(s, ids: list[int]) -> dict[int, list]:
    if not ids:
        return {}
    return {cid: list(acl or []) for cid, acl in s.execute(select(Chunk.id, Chunk.acl).where(Chunk.id.in_(ids)))}


def _is_private(conv: Conversation, chunk_ids: list[int], acls: dict[int, list], private_channels: set[str]) -> bool:
    if conv.channel == "slack" and (conv.external_key or "").split(":", 1)[0] in private_channels:
        return True
    # a chunk that is gone cannot be checked: treat it as private
    return any(EVERYONE not in acls.get(int(c), []) for c in chunk_ids)


def _question_before(conv: Conversation, msg: Message) -> str:
    prior = [m for m in conv.messages if m.id < msg.id and m.role == "user"]
    return prior[-1].content if prior else ""


def _prompt(settings: Settings, question: str, chunk_texts: list[tuple[str, str]]) -> list[dict[str, str]]:
    """The messages a model sees for this question and these passages (model/prompts.py, as served)."""
    from model.base import Passage
    from model.prompts import build_messages
    passages = [Passage(n=i + 1, title=t, text=x) for i, (t, x) in enumerate(chunk_texts)]
    messages, _ = build_messages(system_prompt=settings.system_prompt, question=question, passages=passages,
                                 history=[], count_tokens=lambda t: len(t) // 4 + 1,
                                 context_window=settings.context_window, max_new_tokens=settings.max_new_tokens)
    return messages


def _rated_answers(settings: Settings, s, since: datetime | None) -> list[RatedAnswer]:
    q = select(Feedback).order_by(Feedback.id)
    rows = s.scalars(q).all()
    by_msg: dict[int, list[Feedback]] = defaultdict(list)
    for fb in rows:
        by_msg[fb.message_id].append(fb)
    private_channels = _private_channels(s)
    users = {u.id: u for u in s.scalars(select(User)).all()}
    out = []
    for mid, fbs in by_msg.items():
        msg = s.get(Message, mid)
        if msg is None or msg.role != "assistant":
            continue
        conv = msg.conversation
        chunk_ids = [int(c) for c in (msg.chunk_ids or [])]
        acls = _acls(s, chunk_ids)
        chunks = {c.id: c for c in s.scalars(select(Chunk).where(Chunk.id.in_(chunk_ids))).all()} if chunk_ids else {}
        question = _question_before(conv, msg)
        if not question:
            continue
        ratings = [Rating(fb.rating, (users[fb.user_id].name if fb.user_id in users else "deleted-user"),
                          fb.comment, fb.origin, _iso(fb.created_at)) for fb in fbs]
        correction = next((fb for fb in reversed(fbs) if fb.correction), None)
        out.append(RatedAnswer(
            message_id=msg.id, question=question, answer=msg.content, ratings=ratings,
            prompt=_prompt(settings, question, [(chunks[c].title, chunks[c].text) for c in chunk_ids if c in chunks]),
            correction=correction.correction if correction else None,
            corrected_by=(users[correction.user_id].name if correction and correction.user_id in users else None),
            model_version=msg.model_version, mode=msg.mode,
            sources=[{"title": c.get("title"), "url": c.get("url")} for c in (msg.citations or [])],
            private=_is_private(conv, chunk_ids, acls, private_channels), channel=conv.channel,
            at=_iso(correction.created_at if correction else fbs[-1].created_at)))
    return out


def _resolved_threads(s, since: datetime | None) -> list[ResolvedThread]:
    """Slack threads where Teamlore answered and a person then resolved the question (a ✅/👍 on their reply, or
    the asker thanking them): the resolving reply is the better answer."""
    from ingest.datasets.examples import CHECK_REACTIONS, THUMBS_REACTIONS
    from ingest.datasets.text import THANKS_RE
    private_channels = _private_channels(s)
    out = []
    convs = s.scalars(select(Conversation).where(Conversation.channel == "slack")).all()
    for conv in convs:
        channel, _, root = (conv.external_key or "").partition(":")
        if not root:
            continue
        bot = [m for m in conv.messages if m.role == "assistant"]
        users = [m for m in conv.messages if m.role == "user"]
        if not bot or not users:
            continue
        first_answer = bot[0]
        if since is not None and _iso(first_answer.created_at) <= _iso(since):
            continue
        thread = s.scalars(select(SlackMessage).where(SlackMessage.channel_id == channel,
                                                      SlackMessage.thread_ts == root,
                                                      SlackMessage.deleted.is_(False))).all()
        thread = sorted(thread, key=lambda m: float(m.ts))
        if not thread:
            continue
        asker = next((m.user_id for m in thread if m.ts == root), thread[0].user_id)
        resolving = None
        for i, m in enumerate(thread):
            if m.ts == root or m.user_id == asker or m.filtered == "bot" or not (m.text or "").strip():
                continue
            reacted = set((m.reactions or {}).keys()) & (CHECK_REACTIONS | THUMBS_REACTIONS)
            thanked = any(n.user_id == asker and THANKS_RE.search(n.text or "") for n in thread[i + 1:])
            if reacted or thanked:
                resolving = m
        if resolving is None:
            continue
        ratings = s.scalars(select(Feedback.rating).where(Feedback.message_id == first_answer.id)).all()
        out.append(ResolvedThread(conversation_id=f"{channel}:{root}", question=users[0].content,
                                  answer=resolving.text, permalinks=[resolving.permalink] if resolving.permalink else [],
                                  bot_answer=first_answer.content, bot_message_id=first_answer.id,
                                  bot_rating=sum(ratings), private=channel in private_channels))
    return out


def _reviewed(settings: Settings, dataset_version: str | None) -> list[ReviewedExample]:
    """Examples an admin accepted in the review of `dataset_version`."""
    if not dataset_version:
        return []
    from app.services.datasets import dataset_folder, example_files, reviews_of
    from ingest.datasets.formats import read_jsonl
    try:
        folder = dataset_folder(settings, dataset_version)
    except LookupError:
        return []
    accepted = {k for k, v in reviews_of(folder).items() if v}
    out = []
    for path in example_files(folder):
        for r in read_jsonl(path):
            if r["id"] in accepted:
                out.append(ReviewedExample(dataset_version, r["id"], r["messages"]))
                accepted.discard(r["id"])
    return out


def feedback_records(settings: Settings, *, since: datetime | None = None, dataset_version: str | None = None
                     ) -> tuple[list[RatedAnswer], list[ResolvedThread], list[ReviewedExample]]:
    with session_scope(settings.db_url) as s:
        answers = _rated_answers(settings, s, since)
        threads = _resolved_threads(s, since)
    return answers, threads, _reviewed(settings, dataset_version)


def build_feedback_dataset(settings: Settings, *, base_version: str, base_dir: Path, since_version: str | None = None,
                           include_private: bool = False) -> dict[str, Any]:
    """Feedback (since `since_version` was registered, or all) over the base dataset version (in `base_dir`) -> a
    new dataset version folder, recorded like every dataset version. FeedbackBuildError when nothing is usable."""
    since = since_of(settings, since_version)
    answers, threads, reviewed = feedback_records(settings, since=since, dataset_version=base_version)
    options = FeedbackOptions(name=f"feedback+{base_version}", include_private=include_private,
                              since=_iso(since) or None, since_version=since_version)
    res = _build(answers, settings.datasets_dir, threads=threads, reviewed=reviewed, options=options,
                 base_dir=base_dir)
    with session_scope(settings.db_url) as s:
        row = s.scalar(select(DatasetVersion).where(DatasetVersion.version == res.version))
        if row is None:
            row = DatasetVersion(name=options.name, version=res.version, path=str(res.path),
                                 settings={**options.to_dict(), "base_version": base_version, "kind": "feedback"},
                                 stats=res.stats)
            s.add(row)
    return {"version": res.version, "path": str(res.path), "created": res.created, "stats": res.stats}


def overview(settings: Settings, access: Access, *, days: int = 30, worst: int = 10) -> dict[str, Any]:
    """The admin page's feedback view. Text of an answer built from passages `access` cannot read is withheld."""
    days = max(1, min(days, 365))  # the window used is the window reported (-5 was echoed as -5)
    since = datetime.now(timezone.utc) - timedelta(days=days)
    with session_scope(settings.db_url) as s:
        rows = s.execute(select(Feedback, Message, Conversation)
                         .join(Message, Message.id == Feedback.message_id)
                         .join(Conversation, Conversation.id == Message.conversation_id)).all()
        per_day: dict[str, Counter] = defaultdict(Counter)
        per_channel: dict[str, Counter] = defaultdict(Counter)
        per_msg: dict[int, dict[str, Any]] = {}
        for fb, msg, conv in rows:
            created = fb.created_at if fb.created_at.tzinfo else fb.created_at.replace(tzinfo=timezone.utc)
            if created < since:
                continue
            key = "up" if fb.rating > 0 else "down"
            per_day[created.date().isoformat()][key] += 1
            per_channel[fb.origin or conv.channel][key] += 1
            d = per_msg.setdefault(msg.id, {"msg": msg, "conv": conv, "score": 0, "comments": [], "corrected": False,
                                            "ratings": 0})
            d["score"] += 1 if fb.rating > 0 else -1
            d["ratings"] += 1
            if fb.comment:
                d["comments"].append(fb.comment)
            d["corrected"] = d["corrected"] or bool(fb.correction)
        private_channels = _private_channels(s)
        worst_rows = []
        for d in sorted(per_msg.values(), key=lambda d: (d["score"], -d["msg"].id))[:worst]:
            if d["score"] >= 0:
                break
            msg, conv = d["msg"], d["conv"]
            ids = [int(c) for c in (msg.chunk_ids or [])]
            acls = _acls(s, ids)
            readable = all(access.can_see(acls.get(c, [])) for c in ids) and not (
                conv.channel == "slack" and (conv.external_key or "").split(":", 1)[0] in private_channels
                and not access.is_admin)
            item = {"message_id": msg.id, "score": d["score"], "ratings": d["ratings"], "mode": msg.mode,
                    "model_version": msg.model_version, "channel": conv.channel, "corrected": d["corrected"],
                    "created_at": _iso(msg.created_at)}
            if readable:
                item.update(question=_question_before(conv, msg), answer=msg.content, comments=d["comments"],
                            sources=[{"n": c.get("n"), "title": c.get("title"), "url": c.get("url")}
                                     for c in (msg.citations or [])])
            else:
                item.update(private=True, note="built from passages you cannot read; text withheld")
            worst_rows.append(item)
        retrains = []
        for job in s.scalars(select(Job).where(Job.kind == "train").order_by(Job.id.desc()).limit(20)).all():
            used = (job.result or {}).get("data") or {}
            retrains.append({"job_id": job.id, "status": job.status, "created_at": _iso(job.created_at),
                             "recipe": (job.params or {}).get("recipe", "sft"),
                             "dataset": (job.params or {}).get("dataset"),
                             "feedback_since": (job.params or {}).get("feedback_since"),
                             "used": used, "model_version": ((job.result or {}).get("model_version") or {}).get("name"),
                             "gate": ((job.result or {}).get("metrics") or {}).get("gate", {}).get("passed")})
    return {"days": days,
            "per_day": [{"day": k, **{"up": v["up"], "down": v["down"]}} for k, v in sorted(per_day.items())],
            "per_channel": [{"channel": k, "up": v["up"], "down": v["down"]} for k, v in sorted(per_channel.items())],
            "worst": worst_rows, "retrains": retrains}
