from __future__ import annotations

import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def embedder():
    """The real packaged all-MiniLM-L6-v2 (torch backend), loaded once per session."""
    from retrieval.embedder import get_embedder
    return get_embedder("all-MiniLM-L6-v2", backend="torch")


@pytest.fixture(scope="session")
def counter(embedder):
    from retrieval.chunking import TokenCounter
    return TokenCounter(embedder.tokenizer, embedder.max_seq_length)
