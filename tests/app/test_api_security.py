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


def test_sign_in_keys_are_linked_to_their_api_key_by_id_and_end_with_it(client, admin_key, settings):
    """POST /v1/auth/session: the sign-in key records its parent API key in parent_key_id (a renewal from a sign-in
    key keeps it); revoking the API key ends them, whatever the keys are named. A sign-in key whose parent was
    revoked without it (made while the revocation ran) is refused too."""
    from datetime import datetime, timezone
    body = client.post("/v1/keys", headers=auth(admin_key), json={"name": "uma's key", "user": "uma"}).json()
    api_key, api_key_id = body["key"], body["id"]
    first = client.post("/v1/auth/session", headers=auth(api_key)).json()["api_key"]
    renewed = client.post("/v1/auth/session", headers=auth(first)).json()["api_key"]
    login = make_key(settings, "uma")  # another key of the same user: its own sessions are not this one's
    other = client.post("/v1/auth/session", headers=auth(login)).json()["api_key"]
    from app.security import hash_key
    with session_scope(settings.db_url) as s:
        rows = {k: s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(k))) for k in (first, renewed, other)}
        assert rows[first].parent_key_id == rows[renewed].parent_key_id == api_key_id
        for row in rows.values():
            row.name = "renamed"  # the link is not the name
    assert client.delete(f"/v1/keys/{api_key_id}", headers=auth(admin_key)).status_code == 200
    for key in (api_key, first, renewed):
        assert client.get("/v1/me", headers=auth(key)).status_code == 401
    assert client.get("/v1/me", headers=auth(other)).status_code == 200
    with session_scope(settings.db_url) as s:
        assert all(s.get(ApiKey, rows[k].id).revoked_at is not None for k in (first, renewed))
        # the race: a sign-in key made from the API key while it was being revoked stays unrevoked itself
        parent = s.scalar(select(ApiKey).where(ApiKey.key_hash == hash_key(login)))
        parent.revoked_at = datetime.now(timezone.utc)
    assert client.get("/v1/me", headers=auth(other)).status_code == 401


def test_the_migration_links_existing_sign_in_keys_to_their_api_keys(db_url):
    """0005 adds api_keys.parent_key_id and fills it from the names older versions gave sign-in keys ("web sign-in
    via key #<id>", the same user's key only); a live sign-in key of an already revoked key is revoked."""
    from alembic import command
    from sqlalchemy import inspect, text

    from app.db import make_engine, migrate
    from app.db.session import alembic_config
    command.upgrade(alembic_config(db_url), "0004")
    eng = make_engine(db_url)
    now, gone = "2026-01-01 00:00:00", "2026-01-02 00:00:00"
    keys = [  # id, user, name, kind, revoked_at
        (1, 1, "ana's key", "api", None), (2, 1, "ana's old key", "api", gone), (3, 2, "bo's key", "api", None),
        (10, 1, "web sign-in via key #1", "session", None), (11, 1, "web sign-in via key #2", "session", None),
        (12, 1, "web sign-in via key #3", "session", None), (13, 1, "web sign-in via key #999", "session", None),
        (14, 1, "web sign-in", "session", None), (15, 1, "web sign-in via key #1", "api", None)]
    with eng.begin() as c:
        for uid, name in ((1, "ana"), (2, "bo")):
            c.execute(text("insert into users (id, name, role, created_at, updated_at) values (:i, :n, 'user', :t, :t)"),
                      {"i": uid, "n": name, "t": now})
        for kid, uid, name, kind, revoked in keys:
            c.execute(text("insert into api_keys (id, user_id, name, prefix, key_hash, kind, revoked_at, created_at, "
                           "updated_at) values (:i, :u, :n, 'tl_x', :h, :k, :r, :t, :t)"),
                      {"i": kid, "u": uid, "n": name, "h": f"{kid:064d}", "k": kind, "r": revoked, "t": now})
    eng.dispose()
    migrate(db_url)
    eng = make_engine(db_url)
    with eng.connect() as c:
        got = {i: (p, r is not None) for i, p, r in c.execute(text("select id, parent_key_id, revoked_at from api_keys"))}
    eng.dispose()
    assert got == {1: (None, False), 2: (None, True), 3: (None, False),
                   10: (1, False), 11: (2, True),  # its parent was revoked already: so is it now
                   12: (None, False), 13: (None, False),  # another user's key, a missing key: no link
                   14: (None, False), 15: (None, False)}  # not "via" a key; not a sign-in key
    command.downgrade(alembic_config(db_url), "0004")
    eng = make_engine(db_url)
    assert "parent_key_id" not in {col["name"] for col in inspect(eng).get_columns("api_keys")}
    eng.dispose()
