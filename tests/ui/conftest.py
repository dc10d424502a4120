"""Fixtures for the UI tests: one real API process (`teamlore serve`, extractive generator, temp data dir) shared
by the AppTest tests, with an admin, a user and a password user."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.harness import REPO, Stack

SAMPLE = REPO / "sample"
USER_PASSWORD = "correct horse battery"


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
def api_stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("ui_api"))
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
