"""Retriever adaptation: finetune the embedding model on in-domain (query, passage) pairs.

Contrastive training with MultipleNegativesRankingLoss (in-batch negatives, plus an optional mined hard negative
per pair) through the sentence-transformers trainer. The result is saved as a new model directory — a new
embedding-model version with its own fingerprint — that the caller evaluates and keeps only if it improves.
Pairs come from a benchmark's *training* split or from Slack question -> answer threads; never from test queries.
"""
from __future__ import annotations

import json
import logging
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
             progress: Callable[[dict], None] | None = None) -> Path:
    """Train on `pairs`, save the model to `out_dir` atomically (written aside, then renamed). Returns out_dir."""
    if len(pairs) < 8:
        raise AdaptationError(f"need at least 8 training pairs, got {len(pairs)}")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from datasets import Dataset
    from sentence_transformers import (SentenceTransformer, SentenceTransformerTrainer,
                                       SentenceTransformerTrainingArguments)
    from sentence_transformers.losses import MultipleNegativesRankingLoss
    from transformers import TrainerCallback

    random.seed(config.seed)
    torch.manual_seed(config.seed)
    model = SentenceTransformer(base_model_path, device="cpu")
    model.max_seq_length = config.max_seq_length
    with_neg = all(p.negative for p in pairs)
    data = {"anchor": [p.query for p in pairs], "positive": [p.positive for p in pairs]}
    if with_neg:
        data["negative"] = [p.negative for p in pairs]
    dataset = Dataset.from_dict(data).shuffle(seed=config.seed)
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}-", dir=out_dir.parent))

    class _Report(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if progress and logs:
                progress({"step": state.global_step, "max_steps": state.max_steps, **logs})

    try:
        args = SentenceTransformerTrainingArguments(
            output_dir=str(work / "trainer"), num_train_epochs=config.epochs,
            per_device_train_batch_size=config.batch_size, learning_rate=config.learning_rate,
            warmup_ratio=config.warmup_ratio, seed=config.seed, logging_steps=5, save_strategy="no",
            report_to=[], use_cpu=True, dataloader_drop_last=False,
            # in-batch negatives: a duplicate query/passage in a batch would be a false negative
            batch_sampler="no_duplicates",
        )
        trainer = SentenceTransformerTrainer(model=model, args=args, train_dataset=dataset,
                                             loss=MultipleNegativesRankingLoss(model), callbacks=[_Report()])
        trainer.train()
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
