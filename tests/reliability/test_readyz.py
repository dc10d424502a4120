"""/readyz reports each dependency: database, published index, generator (ok / failed; why, to an admin key and the
log only); /healthz stays 200 regardless."""
from __future__ import annotations

import logging
import socket

from fastapi.testclient import TestClient

from tests.app.conftest import auth, make_key


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_readyz_checks_database_index_and_generator(sqlite_settings, caplog):
    from app.api.main import create_app
    app = create_app(sqlite_settings)
    with TestClient(app) as client:
        r = client.get("/readyz")
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "index": "ok", "generator": "ok"}
        assert "nothing indexed" in r.json()["notes"]["index"]

        # a corrupt published index is not ready
        sqlite_settings.index_dir.mkdir(parents=True, exist_ok=True)
        (sqlite_settings.index_dir / "current").mkdir()
        (sqlite_settings.index_dir / "current" / "manifest.json").write_text("{not json")
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["checks"] == {"database": "ok", "index": "failed",
                                                               "generator": "ok"}, r.text

        # why is told to an admin key only (and the log): /readyz needs no key, the text names paths and hosts
        admin, user = make_key(sqlite_settings, "root", "admin"), make_key(sqlite_settings, "ana", "user")
        for headers in ({}, auth(user), auth(admin + "x"), {"Authorization": "Bearer"}):
            r = client.get("/readyz", headers=headers)
            assert r.status_code == 503 and r.json()["checks"]["index"] == "failed", (headers, r.text)
            assert str(sqlite_settings.index_dir) not in r.text and "Error" not in r.text
        with caplog.at_level(logging.WARNING, logger="teamlore.api"):
            r = client.get("/readyz", headers=auth(admin))
        assert r.status_code == 503 and r.json()["checks"]["index"].startswith("error: "), r.text
        assert "readiness check index failed" in caplog.text

        # the database unreachable, and a generator that cannot be used: both named, still JSON
        app.state.settings = sqlite_settings.model_copy(update={
            "database_url": f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/none"})
        app.state.generators = type(app.state.generators)(sqlite_settings.model_copy(update={"generator": "openai"}))
        r = client.get("/readyz")
        body = r.json()
        assert r.status_code == 503 and body["status"] == "not_ready"
        assert body["checks"] == {"database": "failed", "index": "failed", "generator": "failed"}, body
        assert "127.0.0.1" not in r.text and "OperationalError" not in r.text
        assert client.get("/healthz").status_code == 200
