"""The learning loop on CPU with a tiny Llama built here, on the sample workspace (what tests/app/test_learning_loop.py
checks, with the figures printed): SFT candidate -> gate against extractive; 12 answers corrected by an admin ->
feedback dataset -> DPO candidate -> held-out preference margins and the gate.

    python benchmarks/learning_loop_cpu.py --out /tmp/loop
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

QUESTIONS = ["How many days of annual leave do I get?", "How do I submit an expense report?",
             "What is the VPN setup?", "When is payday?", "How do I request a new laptop?",
             "Who approves time off?", "Where is the travel policy?", "How do I reset my password?",
             "What are the office hours?", "How do I book a meeting room?", "Can I work remotely?",
             "What is the parental leave policy?"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=tempfile.mkdtemp())
    a = ap.parse_args()
    from sqlalchemy import select

    from app.answering.engine import AnswerEngine  # noqa: F401  (import order: app first)
    from app.db import migrate, session_scope
    from app.db.models import Feedback, User
    from app.services.datasets import build_dataset
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_documents, ingest_slack_export
    from app.settings import load_settings
    from app.wiring import build_engine
    from app.workflows.training import run_training
    from retrieval.types import PUBLIC
    from tests.model.tiny_llama import build_tiny_llama
    root = Path(a.out)
    s = load_settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'teamlore.db'}")
    s = s.model_copy(update={"max_new_tokens": 16})
    s.ensure_dirs()
    migrate(s.db_url)
    ingest_slack_export(s, REPO / "sample" / "slack" / "acme-export", source_name="sample-slack")
    ingest_documents(s, [REPO / "sample" / "handbook"], source_name="sample-handbook")
    sync_index(s)
    tiny = build_tiny_llama(root / "tiny", hidden_size=64)
    version = build_dataset(s)["version"]
    cfg = {"tokens_per_step": 512, "micro_batch_tokens": 512, "min_train_examples": 2, "min_train_tokens": 64,
           "max_seq_len": 512}
    sft = run_training(s, {"dataset": version, "base": str(tiny), "steps": 20, "name": "sft-1", "config": cfg})
    report = {"sft": {"gate": sft["metrics"]["gate"], "heldout": sft["metrics"].get("heldout"),
                      "promoted": sft["promoted"]}}
    engine = build_engine(s)
    with session_scope(s.db_url) as ses:
        admin = User(name="admin", role="admin")
        ses.add(admin)
        ses.flush()
        admin_id = admin.id
    for i, q in enumerate(QUESTIONS):
        ans = engine.answer(q, access=PUBLIC, user_id=admin_id)
        with session_scope(s.db_url) as ses:
            ses.add(Feedback(message_id=ans.message_id, user_id=admin_id, rating=-1, comment="not this",
                             correction=f"Check the handbook section {i + 1}; HR confirms it within a day."))
    dpo = run_training(s, {"dataset": version, "base": str(tiny), "steps": 20, "name": "dpo-1", "recipe": "dpo",
                           "feedback_since": "all",
                           "config": {"pairs_per_step": 4, "micro_batch_tokens": 4096, "min_train_examples": 2,
                                      "lr": 1e-3, "max_seq_len": 2048}})
    report["dpo"] = {"gate": dpo["metrics"]["gate"], "preference": dpo["metrics"].get("preference"),
                     "lineage": dpo["metrics"].get("lineage"),
                     "data": dpo["metrics"]["data"], "promoted": dpo["promoted"]}
    with session_scope(s.db_url) as ses:
        report["feedback_rows"] = len(ses.scalars(select(Feedback)).all())
    print(json.dumps(report, indent=1, default=str))
    (root / "learning_loop.json").write_text(json.dumps(report, indent=1, default=str))


if __name__ == "__main__":
    main()
