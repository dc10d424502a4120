"""API keys, roles, revocation, rate limits (memory and Redis), one error format, audit."""
import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import session_scope
from app.db.models import ApiKey, AuditEvent
from tests.app.conftest import auth, make_key

ADMIN_ROUTES = [("get", "/v1/keys"), ("post", "/v1/keys"), ("delete", "/v1/keys/1"), ("get", "/v1/model-versions"),
                ("post", "/v1/model-versions/1/promote"), ("post", "/v1/model-versions/rollback"),
                ("get", "/v1/usage"), ("get", "/v1/audit"), ("get", "/v1/jobs"), ("post", "/v1/jobs/train"),
                ("get", "/v1/jobs/1"), ("post", "/v1/jobs/1/cancel"), ("get", "/v1/datasets"),
                ("post", "/v1/datasets"), ("get", "/v1/sources"), ("post", "/v1/sources/1/sync")]


def test_missing_and_bad_keys_get_401_in_openai_error_shape(client):
    r = client.get("/v1/me")
    assert r.status_code == 401
    assert r.json()["error"]["type"] == "authentication_error"
    r = client.get("/v1/me", headers=auth("tl_not-a-real-key"))
    assert r.status_code == 401 and "invalid" in r.json()["error"]["message"]


def test_every_admin_route_refuses_a_user_key(client, user_key):
    for method, path in ADMIN_ROUTES:
        r = getattr(client, method)(path, headers=auth(user_key), **({"json": {}} if method == "post" else {}))
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "admin_only"


def test_key_lifecycle_shown_once_stored_hashed_revoked_immediately(client, admin_key, settings):
    r = client.post("/v1/keys", headers=auth(admin_key), json={"name": "bot", "user": "bob", "role": "user"})
    assert r.status_code == 201, r.text
    body = r.json()
    key = body["key"]
    assert key.startswith("tl_") and body["prefix"] == key[:10]
    with session_scope(settings.db_url) as s:
        row = s.get(ApiKey, body["id"])
        assert key not in (row.key_hash, row.prefix) and len(row.key_hash) == 64
    listed = client.get("/v1/keys", headers=auth(admin_key)).json()
    assert all("key" not in k for k in listed) and any(k["id"] == body["id"] for k in listed)
    assert client.get("/v1/me", headers=auth(key)).json()["name"] == "bob"
    assert client.delete(f"/v1/keys/{body['id']}", headers=auth(admin_key)).status_code == 200
    assert client.get("/v1/me", headers=auth(key)).status_code == 401
    with session_scope(settings.db_url) as s:
        actions = [e.action for e in s.scalars(select(AuditEvent)).all()]
    assert actions.count("key.create") == 1 and actions.count("key.revoke") == 1


def test_password_login_returns_a_working_key(client, admin_key):
    client.post("/v1/keys", headers=auth(admin_key),
                json={"name": "x", "user": "carla", "role": "user", "password": "correct horse"})
    assert client.post("/v1/auth/login", json={"username": "carla", "password": "wrong pass"}).status_code == 401
    r = client.post("/v1/auth/login", json={"username": "carla", "password": "correct horse"})
    assert r.status_code == 200
    assert client.get("/v1/me", headers=auth(r.json()["api_key"])).json()["role"] == "user"


def _rate_limited_client(settings, storage: str | None):
    from app.api.main import create_app
    s = settings.model_copy(update={"rate_limit": "3/minute", "redis_url": storage})
    return TestClient(create_app(s))


@pytest.mark.parametrize("backend", ["memory", pytest.param("redis", marks=pytest.mark.redis)])
def test_rate_limit_per_key(settings, backend):
    from tests.conftest import REDIS_URL
    storage = None
    if backend == "redis":
        import redis
        redis.Redis.from_url(REDIS_URL).ping()  # fail loudly if Redis is down: production path must be tested
        storage = REDIS_URL
    k1 = make_key(settings, f"u{uuid.uuid4().hex[:6]}")
    k2 = make_key(settings, f"v{uuid.uuid4().hex[:6]}")
    with _rate_limited_client(settings, storage) as c:
        c.app.state.rate_limiter.reset()  # key ids repeat across test databases sharing one Redis
        codes = [c.get("/v1/me", headers=auth(k1)).status_code for _ in range(5)]
        assert codes == [200, 200, 200, 429, 429]
        r = c.get("/v1/me", headers=auth(k1))
        assert r.json()["error"]["type"] == "rate_limit_error" and int(r.headers["Retry-After"]) >= 1
        assert c.get("/v1/me", headers=auth(k2)).status_code == 200  # per key, not global


def test_oversized_request_refused_with_413(settings):
    from app.api.main import create_app
    s = settings.model_copy(update={"max_upload_mb": 1})
    with TestClient(create_app(s)) as c:
        r = c.post("/v1/chat/completions", content=b"x" * (3 << 20), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_health_and_metrics(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    client.get("/v1/me")
    text = client.get("/metrics").text
    assert 'teamlore_http_requests_total{method="GET",route="/v1/me",status="401"}' in text


def test_openapi_schema_lists_the_endpoints(client):
    paths = client.get("/openapi.json").json()["paths"]
    for p in ["/v1/chat/completions", "/v1/models", "/v1/conversations", "/v1/documents", "/v1/search",
              "/v1/jobs/train", "/v1/model-versions/{version_id}/promote", "/v1/keys", "/healthz", "/readyz"]:
        assert p in paths


def test_last_used_is_recorded_at_most_once_a_minute(client, settings):
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import update as sa_update
    key = make_key(settings, f"w{uuid.uuid4().hex[:6]}")

    def last_used():
        with session_scope(settings.db_url) as s:
            row = s.scalar(select(ApiKey).where(ApiKey.prefix == key[:10]))
            return row.id, row.last_used_at
    assert last_used()[1] is None
    client.get("/v1/me", headers=auth(key))
    key_id, first = last_used()
    assert first is not None
    client.get("/v1/me", headers=auth(key))
    assert last_used()[1] == first  # within the minute: no write
    old = datetime.now(timezone.utc) - timedelta(minutes=5)
    with session_scope(settings.db_url) as s:
        s.execute(sa_update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=old))
    client.get("/v1/me", headers=auth(key))
    newer = last_used()[1]
    assert (newer.replace(tzinfo=timezone.utc) if newer.tzinfo is None else newer) > old
