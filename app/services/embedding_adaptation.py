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
from app.db.models import SlackMessage
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
