"""Retriever adaptation: finetune the embedding model on in-domain pairs and keep it only if it wins on held-out
pairs."""
from __future__ import annotations

import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable

import numpy as np
from sqlalchemy import select

from app.db import session_scope
from app.db.models import SlackChannel, SlackMessage
from app.services.embeddings import embedding_model_path
from app.settings import Settings
from retrieval.embedder import Embedder, get_embedder


def _pair_mrr(emb: Embedder, pairs) -> float:
    """MRR of finding each held-out question's own answer among all held-out answers."""
    q = emb.encode([p.query for p in pairs])
    a = emb.encode([p.positive for p in pairs])
    scores = q @ a.T
    ranks = (scores > scores[np.arange(len(pairs)), np.arange(len(pairs))][:, None]).sum(1) + 1
    return float(np.mean(1.0 / ranks))


def adapt_embeddings(settings: Settings, *, beir_dir: str | None = None, epochs: int = 3, device: str = "cpu",
                     holdout: float = 0.2, progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Finetune the configured embedding model on in-domain pairs — Slack question -> the replies that answered
    it, or a BEIR folder's *train* split — and keep the result only if it beats the current model on held-out
    pairs. A kept model is saved under models/embeddings/ as a new version; point TEAMLORE_EMBEDDING_MODEL at it
    and the next sync rebuilds the index in its vector space."""
    import random as _random

    from retrieval.adaptation import AdaptationConfig, finetune, pairs_from_beir, pairs_from_threads
    if beir_dir:
        from retrieval.beir import load_beir
        data = load_beir(beir_dir, "train")
        pairs = pairs_from_beir(data.corpus, data.queries, data.qrels)
        origin = f"beir:{Path(beir_dir).name}:train"
    else:
        with session_scope(settings.db_url) as s:
            rows = s.scalars(select(SlackMessage).where(SlackMessage.deleted.is_(False),
                                                        SlackMessage.filtered.is_(None))).all()
            threads: dict[tuple, list[dict]] = defaultdict(list)
            for m in sorted(rows, key=lambda m: float(m.ts)):
                threads[(m.source_id, m.channel_id, m.thread_ts or m.ts)].append({"user_id": m.user_id,
                                                                                  "text": m.text})
        pairs = pairs_from_threads(list(threads.values()))
        origin = "slack-threads"
    _random.Random(7).shuffle(pairs)
    n_eval = max(4, int(len(pairs) * holdout))
    if len(pairs) - n_eval < 8:
        raise ValueError(f"only {len(pairs)} training pairs found in {origin}; need at least {n_eval + 8}")
    eval_pairs, train_pairs = pairs[:n_eval], pairs[n_eval:]
    current = get_embedder(embedding_model_path(settings), backend="torch")
    before = _pair_mrr(current, eval_pairs)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = settings.models_dir / "embeddings" / f"adapted-{stamp}"
    finetune(current.path, train_pairs, out, AdaptationConfig(epochs=epochs), progress=progress, device=device)
    after = _pair_mrr(Embedder(str(out), backend="torch"), eval_pairs)
    kept = after > before
    if not kept:
        import shutil as _shutil
        _shutil.rmtree(out, ignore_errors=True)
    return {"origin": origin, "train_pairs": len(train_pairs), "eval_pairs": len(eval_pairs),
            "mrr_before": round(before, 4), "mrr_after": round(after, 4), "kept": kept,
            "model_path": str(out) if kept else None}


# --- the team's own pairs, gated on a held-out split, published as a new index version ---------------------------

def team_pairs(settings: Settings) -> tuple[list, dict[str, int]]:
    """(question -> the text that answered it) from the team's own use: Slack questions and the replies that
    resolved them, 👍-rated answers' cited passages, admins' corrections. Public content only (training data
    sees what everyone can see)."""
    from app.db.models import Chunk, Conversation, Feedback, Message
    from retrieval.adaptation import pairs_from_feedback, pairs_from_threads
    from retrieval.types import EVERYONE
    with session_scope(settings.db_url) as s:
        rows = s.scalars(select(SlackMessage).where(SlackMessage.deleted.is_(False),
                                                    SlackMessage.filtered.is_(None))).all()
        public = {c.channel_id for c in s.scalars(select(SlackChannel)).all() if c.kind == "public"}
        threads: dict[tuple, list[dict]] = defaultdict(list)
        for m in sorted(rows, key=lambda m: float(m.ts)):
            if m.channel_id in public:
                threads[(m.source_id, m.channel_id, m.thread_ts or m.ts)].append({"user_id": m.user_id,
                                                                                  "text": m.text})
        slack = pairs_from_threads(list(threads.values()))
        items: list[tuple[str, str]] = []
        for fb, msg in s.execute(select(Feedback, Message).join(Message, Message.id == Feedback.message_id)).all():
            conv = s.get(Conversation, msg.conversation_id)
            prior = [m for m in conv.messages if m.id < msg.id and m.role == "user"]
            if not prior:
                continue
            question = prior[-1].content
            if fb.correction:
                items.append((question, fb.correction))
            elif fb.rating > 0:
                cited = [int(c.get("chunk_id") or 0) for c in (msg.citations or [])]
                for ch in s.scalars(select(Chunk).where(Chunk.id.in_(cited))).all() if cited else []:
                    if EVERYONE in (ch.acl or []):
                        items.append((question, f"{ch.title}\n{ch.text}"))
        feedback = pairs_from_feedback(items)
        distractors = [f"{t}\n{x}" for t, x, acl in s.execute(select(Chunk.title, Chunk.text, Chunk.acl)
                                                               .order_by(Chunk.id).limit(2000)) if EVERYONE in (acl or [])]
    return slack + feedback, {"slack_threads": len(slack), "feedback": len(feedback), "distractors": len(distractors),
                              "_distractors": distractors}


def adapt_and_publish(settings: Settings, *, epochs: int = 2, device: str = "cpu", min_gain: float = 0.01,
                      progress: Callable[[dict], None] | None = None) -> dict[str, Any]:
    """Adapt the embedding model on the team's own pairs; keep it only if held-out MRR@10 improves, and then
    publish a new index version in its vector space. The switch is atomic for searchers: they keep the loaded
    index (and model) until the new snapshot is published, then load both; on failure the old model stays."""
    import json
    import os
    import shutil

    from app.services.embeddings import active_pointer, embedding_model_path
    from app.services.indexing import rebuild_index
    from retrieval.adaptation import AdaptationConfig, adapt_if_better
    pairs, counts = team_pairs(settings)
    distractors = counts.pop("_distractors")
    current = embedding_model_path(settings)
    base_path = get_embedder(current, backend="torch").path
    stamp = time.strftime("%Y%m%d-%H%M%S")
    out = settings.models_dir / "embeddings" / f"adapted-{stamp}"

    def encode_for(path: str):
        emb = Embedder(path, backend="torch")
        return lambda texts: np.asarray(emb.encode(list(texts)))

    decision = adapt_if_better(base_path, pairs, out, encode_for=encode_for, distractors=distractors,
                               config=AdaptationConfig(epochs=epochs), min_gain=min_gain, device=device,
                               progress=progress)
    decision.update(pairs=counts, previous_model=current)
    if not decision["kept"]:
        return decision
    pointer = active_pointer(settings)
    old = pointer.read_text(encoding="utf-8") if pointer.is_file() else None
    tmp = pointer.with_suffix(".tmp")
    tmp.write_text(json.dumps({"path": str(out), "adapted_from": settings.embedding_model, "previous": current,
                               "heldout": {"base": decision["base"], "adapted": decision["adapted"]}}),
                   encoding="utf-8")
    os.replace(tmp, pointer)
    try:
        report = rebuild_index(settings, reason=f"retriever adapted: {decision['reason']}")
    except BaseException:
        if old is None:
            pointer.unlink(missing_ok=True)
        else:
            pointer.write_text(old, encoding="utf-8")
        shutil.rmtree(out, ignore_errors=True)
        raise
    decision["index_version"] = report.version
    return decision
