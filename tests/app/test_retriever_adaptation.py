"""Retriever adaptation from the team's own data, published as a new index version only when held-out retrieval
improves (the improvement itself is tested in tests/retrieval/test_adaptation.py; here: the publish mechanics,
both ways, on the sample workspace)."""
from __future__ import annotations

import json

import pytest

from app.db import migrate


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    from app.settings import load_settings
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_slack_export
    from tests.conftest import SAMPLE
    root = tmp_path_factory.mktemp("adapt")
    settings = load_settings(data_dir=root / "var", database_url=f"sqlite:///{root / 'var' / 'teamlore.db'}")
    settings = settings.model_copy(update={"embedding_backend": "torch"})
    settings.ensure_dirs()
    migrate(settings.db_url)
    # the Slack export alone: the pairs come from its threads, the distractors from its chunks
    ingest_slack_export(settings, SAMPLE / "slack" / "acme-export", source_name="sample-slack")
    sync_index(settings)
    return settings


def test_not_better_publishes_nothing_and_kept_publishes_a_new_index(ws):
    from app.services.embedding_adaptation import adapt_and_publish, team_pairs
    from app.services.embeddings import active_pointer, embedding_model_path
    from app.services.indexing import index_status
    from app.services.search import get_searcher
    from retrieval.types import PUBLIC
    pairs, counts = team_pairs(ws)
    assert counts["slack_threads"] >= 12 and counts["distractors"] > 0
    before = index_status(ws)
    # no training (0 epochs): the "adapted" model is the base, held-out MRR does not improve -> nothing changes
    same = adapt_and_publish(ws, epochs=0)
    assert same["kept"] is False and "the current model stays" in same["reason"]
    assert index_status(ws)["version"] == before["version"] and not active_pointer(ws).exists()
    assert same["base"]["queries"] == same["heldout_pairs"] >= 4
    # a bar below zero keeps it: a new index version in the new model's space, searchers follow
    searcher = get_searcher(ws)
    assert searcher.search("deploy", k=3, access=PUBLIC)
    kept = adapt_and_publish(ws, epochs=0, min_gain=-1.0)
    assert kept["kept"] is True and kept["index_version"] > before["version"]
    pointer = json.loads(active_pointer(ws).read_text())
    assert pointer["path"] == kept["model_path"] and embedding_model_path(ws) == kept["model_path"]
    status = index_status(ws)
    assert status["version"] == kept["index_version"] and status["status"] == "ok"
    hits = searcher.search("deploy", k=3, access=PUBLIC)
    assert hits and searcher.current().embedder.path == kept["model_path"]
