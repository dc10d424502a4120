"""Retriever adaptation: finetune the embedding model on in-domain (query, passage) pairs.

Contrastive training with MultipleNegativesRankingLoss (in-batch negatives, plus an optional mined hard negative
per pair) through the sentence-transformers trainer. The result is saved as a new model directory — a new
embedding-model version with its own fingerprint — that the caller evaluates and keeps only if it improves.
Pairs come from a benchmark's *training* split or from Slack question -> answer threads; never from test queries.
"""
from __future__ import annotations

import json
import logging
import math
import os
import random
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

log = logging.getLogger(__name__)


class AdaptationError(RuntimeError):
    pass


@dataclass
class TrainingPair:
    query: str
    positive: str
    negative: str | None = None


@dataclass
class AdaptationConfig:
    epochs: int = 2
    batch_size: int = 32
    learning_rate: float = 3e-5
    warmup_ratio: float = 0.1
    max_seq_length: int = 256
    seed: int = 13
    extra: dict = field(default_factory=dict)


def pairs_from_beir(corpus: dict[str, dict], queries: dict[str, str], qrels: dict[str, dict[str, int]],
                    hard_negatives: dict[str, list[str]] | None = None) -> list[TrainingPair]:
    """One pair per relevant (query, document) judgement; `hard_negatives[qid]` are candidate non-relevant ids."""
    pairs = []
    for qid, rel in sorted(qrels.items()):
        if qid not in queries:
            continue
        negs = [d for d in (hard_negatives or {}).get(qid, []) if d not in rel and d in corpus]
        for i, (doc_id, score) in enumerate(sorted(rel.items())):
            if score <= 0 or doc_id not in corpus:
                continue
            doc = corpus[doc_id]
            neg = negs[i % len(negs)] if negs else None
            pairs.append(TrainingPair(queries[qid], _doc_text(doc),
                                      _doc_text(corpus[neg]) if neg else None))
    return pairs


def _doc_text(doc: dict) -> str:
    title = (doc.get("title") or "").strip()
    return f"{title}\n{doc.get('text', '')}".strip() if title else str(doc.get("text", ""))


def pairs_from_threads(threads: Sequence[Sequence[dict]], min_answer_chars: int = 20) -> list[TrainingPair]:
    """Slack Q&A: the thread's first message (a question) -> the rest of the thread (the answer that resolved it).

    `threads`: messages in time order, each {user_id, text}. Threads with no reply from someone else, or with a
    root that is not a question, are skipped."""
    pairs = []
    for msgs in threads:
        if len(msgs) < 2:
            continue
        root = str(msgs[0].get("text") or "").strip()
        if "?" not in root:
            continue
        replies = [m for m in msgs[1:] if m.get("user_id") != msgs[0].get("user_id") and (m.get("text") or "").strip()]
        answer = "\n".join(str(m["text"]).strip() for m in replies)
        if len(answer) >= min_answer_chars:
            pairs.append(TrainingPair(root, answer))
    return pairs


def finetune(base_model_path: str, pairs: Sequence[TrainingPair], out_dir: str | Path,
             config: AdaptationConfig = AdaptationConfig(),
             progress: Callable[[dict], None] | None = None, device: str = "cpu") -> Path:
    """Train on `pairs`, save the model to `out_dir` atomically (written aside, then renamed). Returns out_dir."""
    if len(pairs) < 8:
        raise AdaptationError(f"need at least 8 training pairs, got {len(pairs)}")
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.losses import MultipleNegativesRankingLoss

    rng = random.Random(config.seed)
    torch.manual_seed(config.seed)
    model = SentenceTransformer(base_model_path, device=device, local_files_only=True)
    model.max_seq_length = config.max_seq_length
    model.train()
    with_neg = all(p.negative for p in pairs)
    loss_fn = MultipleNegativesRankingLoss(model)
    batches_per_epoch = math.ceil(len(pairs) / config.batch_size)
    total = batches_per_epoch * config.epochs
    warmup = max(1, int(total * config.warmup_ratio))
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.01)
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))

    def features(texts: list[str]) -> dict:
        encode = getattr(model, "preprocess", None) or model.tokenize
        return {k: (v.to(model.device) if hasattr(v, "to") else v) for k, v in encode(texts).items()}

    try:
        step = 0
        for epoch in range(config.epochs):
            for batch in _no_duplicate_batches(pairs, config.batch_size, rng):
                cols = [[p.query for p in batch], [p.positive for p in batch]]
                if with_neg:
                    cols.append([p.negative for p in batch])
                loss = loss_fn([features(c) for c in cols], None)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
                optimizer.step()
                schedule.step()
                optimizer.zero_grad()
                step += 1
                if progress:
                    progress({"epoch": epoch, "step": step, "max_steps": total, "loss": round(float(loss), 4),
                              "lr": schedule.get_last_lr()[0]})
        model.eval()
        final = work / "model"
        model.save(str(final))
        (final / "teamlore_adaptation.json").write_text(json.dumps(
            {"base_model": base_model_path, "pairs": len(pairs), "hard_negatives": with_neg,
             "config": asdict(config)}, indent=1))
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(final, out_dir)
        return out_dir
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _no_duplicate_batches(pairs: Sequence[TrainingPair], size: int, rng: random.Random):
    """Shuffled batches in which no query or passage repeats: with in-batch negatives a duplicate would be
    scored as a negative of itself."""
    pending = list(pairs)
    rng.shuffle(pending)
    while pending:
        batch, seen, rest = [], set(), []
        for p in pending:
            keys = {p.query, p.positive} | ({p.negative} if p.negative else set())
            if len(batch) < size and not (keys & seen):
                batch.append(p)
                seen |= keys
            else:
                rest.append(p)
        yield batch
        pending = rest


# --- the team's own pairs, a held-out split, and the gate -----------------------------------------------------

def pairs_from_feedback(items: Sequence[tuple[str, str]], min_chars: int = 20) -> list[TrainingPair]:
    """(question, text that answered it) from the team's use of Teamlore: a 👍-rated answer's cited passage, an
    admin's correction, the answer that resolved a Slack thread. Duplicates are kept once."""
    seen, out = set(), []
    for q, text in items:
        q, text = (q or "").strip(), (text or "").strip()
        if not q or len(text) < min_chars or (q, text) in seen:
            continue
        seen.add((q, text))
        out.append(TrainingPair(q, text))
    return out


def split_heldout(pairs: Sequence[TrainingPair], fraction: float = 0.25, salt: str = "teamlore-adapt"
                  ) -> tuple[list[TrainingPair], list[TrainingPair]]:
    """Deterministic split by question (hash), so a question never sits on both sides. -> (train, heldout)"""
    import hashlib
    train, held = [], []
    for p in pairs:
        key = " ".join(p.query.lower().split())
        bucket = int(hashlib.sha256(f"{salt}|{key}".encode()).hexdigest()[:8], 16) / 16 ** 8
        (held if bucket < fraction else train).append(p)
    return train, held


def retrieval_quality(encode: Callable[[list[str]], "np.ndarray"], heldout: Sequence[TrainingPair],
                      distractors: Sequence[str] = (), k: int = 10) -> dict:
    """Each held-out question searches a pool of every held-out answer plus `distractors` (e.g. the corpus):
    MRR@k, recall@1 and recall@5 of finding its own answer. `encode` returns normalised vectors."""
    import numpy as np

    def norm(t: str) -> str:
        return " ".join(t.lower().split())
    # a distractor that holds a held-out answer (e.g. the Slack thread it came from) would be a second right
    # answer scored as wrong: leave those out
    heads = [norm(p.positive)[:80] for p in heldout]
    distractors = [d for d in distractors if d and not any(h in norm(d) for h in heads)]
    pool = list(dict.fromkeys([p.positive for p in heldout] + list(distractors)))
    where = {t: i for i, t in enumerate(pool)}
    q = np.asarray(encode([p.query for p in heldout]))
    d = np.asarray(encode(pool))
    scores = q @ d.T
    gold = np.asarray([where[p.positive] for p in heldout])
    ranks = (scores > scores[np.arange(len(heldout)), gold][:, None]).sum(1) + 1
    return {"queries": len(heldout), "pool": len(pool),
            f"mrr@{k}": round(float(np.mean(np.where(ranks <= k, 1.0 / ranks, 0.0))), 4),
            "recall@1": round(float(np.mean(ranks <= 1)), 4), "recall@5": round(float(np.mean(ranks <= 5)), 4)}


def adapt_if_better(base_model_path: str, pairs: Sequence[TrainingPair], out_dir: str | Path, *,
                    encode_for: Callable[[str], Callable[[list[str]], "np.ndarray"]],
                    distractors: Sequence[str] = (), config: AdaptationConfig = AdaptationConfig(),
                    heldout_fraction: float = 0.25, min_gain: float = 0.0, device: str = "cpu",
                    progress: Callable[[dict], None] | None = None) -> dict:
    """Train on the training side of `pairs`, score base and adapted model on the held-out side (MRR@10), and keep
    `out_dir` only when the adapted model beats the base by more than `min_gain`; otherwise it is removed.
    `encode_for(path)` gives a model's encoder. Returns the decision with both figure sets."""
    train, held = split_heldout(pairs, heldout_fraction)
    if len(held) < 4 or len(train) < 8:
        raise AdaptationError(f"{len(pairs)} pairs give {len(train)} to train on and {len(held)} held out; "
                              "need at least 8 and 4 — the team has not asked and answered enough yet")
    before = retrieval_quality(encode_for(base_model_path), held, distractors)
    finetune(base_model_path, train, out_dir, config, progress=progress, device=device)
    after = retrieval_quality(encode_for(str(out_dir)), held, distractors)
    gain = after["mrr@10"] - before["mrr@10"]
    kept = gain > min_gain
    if not kept:
        shutil.rmtree(out_dir, ignore_errors=True)
    return {"kept": kept, "train_pairs": len(train), "heldout_pairs": len(held), "base": before, "adapted": after,
            "gain_mrr@10": round(gain, 4), "model_path": str(out_dir) if kept else None,
            "reason": (f"held-out MRR@10 {before['mrr@10']} -> {after['mrr@10']}"
                       + ("" if kept else f": not better by more than {min_gain}; the current model stays"))}
