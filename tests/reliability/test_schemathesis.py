"""Hostile requests generated from the live OpenAPI schema (schemathesis) with an admin key: no 5xx.

A bounded run (a few examples per operation, in-process ASGI) as a test; benchmarks/reliability_schemathesis.py
runs the long one against a real server."""
from __future__ import annotations

import pytest
import schemathesis

from app.db import session_scope
from app.security import create_api_key, get_or_create_user
from tests.reliability.schemathesis_run import run_schema


@pytest.mark.slow
def test_no_server_errors_from_schema_generated_requests(sqlite_settings):
    from fastapi.testclient import TestClient
    from app.api.main import create_app
    settings = sqlite_settings.model_copy(update={"rate_limit": "1000000/minute", "embedding_backend": "torch"})
    with session_scope(settings.db_url) as s:
        _, key = create_api_key(s, get_or_create_user(s, "fuzz-admin", role="admin"), "schemathesis")
    app = create_app(settings)
    with TestClient(app):  # runs the lifespan (migrations, bootstrap) once
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        report = run_schema(schema, key, max_examples=2)
    assert report["operations"] >= 30, report
    assert report["server_errors"] == 0, report["findings"][:5]
