"""Shared fixtures: an isolated data directory and database per test, on SQLite or PostgreSQL."""
from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# One ONNX export of the embedder for the whole run (and across runs: the cache is keyed by model fingerprint),
# instead of one per test data directory.
os.environ.setdefault("TEAMLORE_EMBEDDING_CACHE_DIR", str(Path(tempfile.gettempdir()) / "teamlore-test-embedder-cache"))

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
SAMPLE = REPO / "sample"
PG_ADMIN_URL = os.environ.get("TEAMLORE_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("TEAMLORE_TEST_REDIS", "redis://127.0.0.1:6379/15")


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data (the real data sets beside the checkout, never copied into the repo).

    The one place tests reach that folder: when the path is absent the test is skipped with a one-line reason,
    and under CI=true it fails instead, so a green CI means every data test really ran.
    """
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        reason = f"needs {path} (the ../shared data sets beside the checkout), which is absent"
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but {reason}", pytrace=False)
        pytest.skip(reason)
    return path


def _pg_available() -> bool:
    from sqlalchemy import create_engine, text
    try:
        eng = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with eng.connect() as c:
            c.execute(text("select 1"))
        eng.dispose()
        return True
    except Exception:
        return False


@pytest.fixture
def pg_url():
    """A fresh PostgreSQL database for one test, dropped afterwards. Fails (not skips) when PG is down:
    the production path must be tested."""
    from sqlalchemy import create_engine, text
    assert _pg_available(), f"PostgreSQL not reachable at {PG_ADMIN_URL}"
    name = f"teamlore_t_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))
    url = PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name
    yield url
    from app.db.session import _factory
    _factory.cache_clear()
    with admin.connect() as c:
        c.execute(text(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
        c.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request, tmp_path):
    """Run a database test on both the embedded default and the production database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'teamlore.db'}"
    else:
        yield request.getfixturevalue("pg_url")


@pytest.fixture
def settings(tmp_path, monkeypatch, db_url):
    """Settings rooted in a temp data dir with a migrated database (sqlite and postgres)."""
    from app.db import migrate
    from app.settings import get_settings, load_settings
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEAMLORE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TEAMLORE_DATABASE_URL", db_url)
    get_settings.cache_clear()
    s = load_settings()
    s.ensure_dirs()
    migrate(s.db_url)
    yield s
    get_settings.cache_clear()


@pytest.fixture
def sqlite_settings(tmp_path, monkeypatch):
    """Settings on the embedded default only (for tests that are not about the database)."""
    from app.db import migrate
    from app.settings import get_settings, load_settings
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TEAMLORE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.delenv("TEAMLORE_DATABASE_URL", raising=False)
    get_settings.cache_clear()
    s = load_settings()
    s.ensure_dirs()
    migrate(s.db_url)
    yield s
    get_settings.cache_clear()
