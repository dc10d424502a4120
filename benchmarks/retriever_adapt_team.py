"""Retriever adaptation on the team's own data: the sample workspace's Slack questions -> the replies that resolved
them (public channels only), split by question into train / held-out (75/25, hash of the question); MiniLM
finetuned on the train side; MRR@10 and recall@1/@5 of each held-out question finding its own answer among all
held-out answers plus every public chunk of the corpus (distractors), base model vs adapted.

    python benchmarks/retriever_adapt_team.py --epochs 2 --out /tmp/adapt
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--out", default=tempfile.mkdtemp())
    a = ap.parse_args()
    import numpy as np

    from app.db import migrate
    from app.services.embedding_adaptation import team_pairs
    from app.services.embeddings import embedding_model_path
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_documents, ingest_slack_export
    from app.settings import load_settings
    from retrieval.adaptation import AdaptationConfig, adapt_if_better
    from retrieval.embedder import Embedder, get_embedder
    root = Path(a.out)
    settings = load_settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'teamlore.db'}")
    settings = settings.model_copy(update={"embedding_backend": "torch"})
    settings.ensure_dirs()
    migrate(settings.db_url)
    sample = REPO / "sample"
    ingest_slack_export(settings, sample / "slack" / "acme-export", source_name="sample-slack")
    ingest_documents(settings, [sample / "handbook"], source_name="sample-handbook")
    sync_index(settings)
    pairs, counts = team_pairs(settings)
    distractors = counts.pop("_distractors")

    def encode_for(path):
        emb = Embedder(path, backend="torch")
        return lambda texts: np.asarray(emb.encode(list(texts)))

    t = time.perf_counter()
    base = get_embedder(embedding_model_path(settings), backend="torch").path
    out = adapt_if_better(base, pairs, root / "adapted", encode_for=encode_for, distractors=distractors,
                          config=AdaptationConfig(epochs=a.epochs))
    out.update(pairs=counts, seconds=round(time.perf_counter() - t, 1), epochs=a.epochs)
    print(json.dumps(out, indent=1))
    (root / "result.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
