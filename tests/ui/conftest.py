"""Fixtures for the UI tests: one real API process (`teamlore serve`, extractive generator, temp data dir) shared
by the AppTest tests, with an admin, a user and a password user."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.ui.harness import REPO, Stack

SAMPLE = REPO / "sample"
USER_PASSWORD = "correct horse battery"
PG_ADMIN_URL = os.environ.get("TEAMLORE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def new_stack(root: Path, onnx_cache: Path, **kw) -> Stack:
    """A stack on SQLite (what `make run` uses), or on PostgreSQL with TEAMLORE_UI_TEST_DB=postgres."""
    stack = Stack(root, onnx_cache=onnx_cache, **kw)
    if os.environ.get("TEAMLORE_UI_TEST_DB", "sqlite") == "postgres":
        stack.use_fresh_postgres(PG_ADMIN_URL)
    return stack


def sample_documents() -> list[Path]:
    """The sample workspace's documents (written by sample/generate.py), or the repo docs as a fallback
    while the sample is not generated."""
    for folder in (SAMPLE / "handbook",):
        if folder.is_dir():
            files = sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in
                           {".md", ".pdf", ".docx", ".pptx", ".html", ".txt", ".csv"})
            if files:
                return files
    return [REPO / "ARCHITECTURE.md"]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("onnx_cache")


@pytest.fixture(scope="session")
def api_stack(tmp_path_factory, onnx_cache):
    stack = new_stack(tmp_path_factory.mktemp("ui_api"), onnx_cache)
    try:
        stack.start_api()
        stack.user_key = stack.create_key("alice", "user", password=USER_PASSWORD)
        yield stack
    finally:
        stack.stop_all()


@pytest.fixture
def api_env(api_stack, monkeypatch):
    """Point the UI (running in this process under AppTest) at the test API."""
    monkeypatch.setenv("TEAMLORE_API_URL", api_stack.api_url)
    return api_stack


@pytest.fixture(scope="session")
def corpus(api_stack):
    """The sample workspace's handbook, uploaded through the API once (ingested and indexed)."""
    result = api_stack.upload(*sample_documents())
    assert all(r["status"] != "rejected" for r in result["results"]), result
    return result
