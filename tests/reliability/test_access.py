"""Access control found from the app itself (so a route added later is covered without editing a list):
every admin route refuses a user key, every /v1 route but sign-in refuses a missing key, revocation is
immediate, also for a key revoked from another process (the CLI)."""
from __future__ import annotations

import os
import re
import subprocess
import sys

from fastapi.routing import APIRoute

from app.api.deps import require_admin
from tests.conftest import REPO
from tests.reliability.conftest import auth, make_key

PUBLIC = {"/v1/auth/login"}


def _needs(dependant, fn) -> bool:
    return any(d.call is fn or _needs(d, fn) for d in dependant.dependencies)


def _flatten(routes):
    for route in routes:
        inner = getattr(route, "original_router", None)  # FastAPI >= 0.16x keeps included routers nested
        if inner is not None:
            yield from _flatten(inner.routes)
        else:
            yield route


def _routes(app):
    for route in _flatten(app.routes):
        if isinstance(route, APIRoute) and route.path.startswith("/v1"):
            # Any value works for path parameters: access is decided before the handler looks anything up.
            path = re.sub(r"\{[^}]*_id\}", "1", route.path)
            path = re.sub(r"\{[^}]*\}", "x", path)
            for method in route.methods - {"HEAD", "OPTIONS"}:
                yield method, path, route


def test_every_admin_route_refuses_users_and_anonymous(client, sqlite_settings):
    user = make_key(sqlite_settings, "ana")
    admin_routes = [(m, p) for m, p, r in _routes(client.app) if _needs(r.dependant, require_admin)]
    assert len(admin_routes) >= 20, admin_routes  # the discovery itself works
    for method, path in admin_routes:
        r = client.request(method, path, headers=auth(user), json={})
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json()["error"]["code"] == "admin_only"
        assert client.request(method, path, json={}).status_code == 401, (method, path)


def test_every_v1_route_needs_a_key(client):
    checked = 0
    for method, path, _ in _routes(client.app):
        if path in PUBLIC:
            continue
        for headers in ({}, auth("tl_" + "x" * 43), {"Authorization": "Basic YWRtaW46YWRtaW4="}):
            r = client.request(method, path, headers=headers, json={})
            assert r.status_code == 401, (method, path, headers, r.status_code, r.text)
            assert r.json()["error"]["type"] == "authentication_error"
        checked += 1
    assert checked >= 30


def test_key_revoked_from_the_cli_is_refused_on_the_next_request(client, sqlite_settings):
    from sqlalchemy import select
    from app.db import session_scope
    from app.db.models import ApiKey
    from app.security import hash_key
    key = make_key(sqlite_settings, "bob")
    assert client.get("/v1/me", headers=auth(key)).status_code == 200
    with session_scope(sqlite_settings.db_url) as s:
        key_id = s.scalar(select(ApiKey.id).where(ApiKey.key_hash == hash_key(key)))
    env = {**os.environ, "TEAMLORE_DATA_DIR": str(sqlite_settings.data_dir),
           "TEAMLORE_DATABASE_URL": sqlite_settings.db_url}
    done = subprocess.run([sys.executable, "-m", "app.cli", "keys", "revoke", str(key_id)], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    r = client.get("/v1/me", headers=auth(key))  # same server process, no cache to expire
    assert r.status_code == 401 and "revoked" in r.json()["error"]["message"]
    # a signed-in session key of a user is refused the same way once revoked through the API
    admin = make_key(sqlite_settings, "root", "admin")
    client.post("/v1/keys", headers=auth(admin), json={"name": "x", "user": "carla", "password": "correct horse"})
    session_key = client.post("/v1/auth/login", json={"username": "carla", "password": "correct horse"}).json()["api_key"]
    keys = client.get("/v1/keys", headers=auth(admin)).json()
    sid = next(k["id"] for k in keys if k["prefix"] == session_key[:10])
    assert client.delete(f"/v1/keys/{sid}", headers=auth(admin)).status_code == 200
    assert client.get("/v1/me", headers=auth(session_key)).status_code == 401


def test_a_user_cannot_read_or_change_another_users_conversation(client, sqlite_settings):
    ana, bob = make_key(sqlite_settings, "ana"), make_key(sqlite_settings, "bob")
    conv = client.post("/v1/conversations", headers=auth(ana), json={"title": "private"}).json()
    for method, path, body in (("GET", f"/v1/conversations/{conv['id']}", None),
                               ("PATCH", f"/v1/conversations/{conv['id']}", {"title": "mine"}),
                               ("DELETE", f"/v1/conversations/{conv['id']}", None)):
        assert client.request(method, path, headers=auth(bob), json=body).status_code == 404
    assert client.get(f"/v1/conversations/{conv['id']}", headers=auth(ana)).json()["title"] == "private"
