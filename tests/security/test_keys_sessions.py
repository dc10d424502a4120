"""Attacks 10 and 11 of issue #15 and the key-creation bug: keys never rewrite users, sign-in keys expire and are
capped, re-signing-in does not reset a user's rate limit, sign-in guessing is slowed without locking anyone out,
and what a request writes is committed before its response."""
from __future__ import annotations

import time

import httpx
import pytest

from tests.security.conftest import client, no_server_errors, start_stack

ENV = {"TEAMLORE_RATE_LIMIT": "100000/minute", "TEAMLORE_USER_RATE_LIMIT": "60/minute",
       "TEAMLORE_LOGIN_RATE_LIMIT": "6/10 seconds", "TEAMLORE_LOGIN_CLIENT_RATE_LIMIT": "200/minute",
       "TEAMLORE_SESSION_KEY_TTL_HOURS": "0.004", "TEAMLORE_MAX_SESSION_KEYS": "3"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    s = start_stack(tmp_path_factory.mktemp("sec_keys"), **ENV)
    try:
        yield s
    finally:
        s.stop_all()


def make_user(stack, name: str, password: str, role: str = "user") -> dict:
    with stack.admin() as c:
        r = c.post("/v1/users", json={"name": name, "password": password, "role": role})
        assert r.status_code == 201, r.text
        return r.json()


def login(stack, name: str, password: str) -> httpx.Response:
    return httpx.post(stack.api_url + "/v1/auth/login", json={"username": name, "password": password}, timeout=60)


# --- the key-creation bug -------------------------------------------------------------------------------------

def test_creating_a_key_never_changes_the_user(stack):
    with stack.admin() as c:
        r = c.post("/v1/keys", json={"name": "second admin key", "user": "admin"})  # no role: stays admin
        assert r.status_code == 201, r.text
        assert r.json()["role"] == "admin"
        second = r.json()["key"]
        r = c.post("/v1/keys", json={"name": "demote?", "user": "admin", "role": "user"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "user_exists", r.text
    with client(stack, second) as c:
        assert c.get("/v1/keys").status_code == 200  # still an admin, not locked out
    dora = make_user(stack, "dora", "dora's long password")
    with stack.admin() as c:
        r = c.post("/v1/keys", json={"name": "k", "user": "dora", "password": "an attacker's password",
                                     "slack_user_id": "U_EVIL"})
        assert r.status_code == 409, r.text
        assert c.post("/v1/keys", json={"name": "k", "user": "dora"}).status_code == 201
        users = {u["name"]: u for u in c.get("/v1/users").json()}
    assert users["dora"]["slack_user_id"] is None and users["dora"]["role"] == "user"
    assert login(stack, "dora", "dora's long password").status_code == 200
    assert login(stack, "dora", "an attacker's password").status_code == 401
    # roles change only through the user routes, and the last admin cannot be demoted
    with stack.admin() as c:
        assert c.patch(f"/v1/users/{dora['id']}", json={"role": "admin"}).json()["role"] == "admin"
        assert c.patch(f"/v1/users/{dora['id']}", json={"role": "user"}).json()["role"] == "user"
        admin_id = users["admin"]["id"]
        r = c.patch(f"/v1/users/{admin_id}", json={"role": "user"})
        assert r.status_code == 409 and r.json()["error"]["code"] == "last_admin", r.text
    with client(stack, next(iter([second]))) as c:
        assert c.get("/v1/users").status_code == 200


def test_user_management_routes_are_admin_only(stack):
    make_user(stack, "ed", "ed's long password")
    key = login(stack, "ed", "ed's long password").json()["api_key"]
    with client(stack, key) as c:
        assert c.get("/v1/users").status_code == 403
        assert c.post("/v1/users", json={"name": "x", "role": "admin"}).status_code == 403
        assert c.patch("/v1/users/1", json={"role": "user"}).status_code == 403


# --- attack 10: writes committed before the response -----------------------------------------------------------

def test_attack10_what_a_request_wrote_is_readable_at_once(stack):
    make_user(stack, "flo", "flo's long password")
    for _ in range(5):
        key = login(stack, "flo", "flo's long password").json()["api_key"]
        with client(stack, key) as c:
            assert c.get("/v1/me").status_code == 200
    with client(stack, key) as c:
        for i in range(25):
            r = c.post("/v1/conversations", json={"title": f"t{i}"})
            assert r.status_code == 201, r.text
            assert c.get(f"/v1/conversations/{r.json()['id']}").status_code == 200


# --- attack 11: fresh keys do not reset the rate limit; session keys expire and are capped ---------------------

def test_attack11_signing_in_again_does_not_reset_the_users_rate_limit(stack):
    make_user(stack, "gil", "gil's long password")
    key = login(stack, "gil", "gil's long password").json()["api_key"]
    ok = limited = 0
    for i in range(150):
        if i and i % 20 == 0:  # the attacker signs in again for a fresh key every 20 requests
            r = login(stack, "gil", "gil's long password")
            if r.status_code == 200:
                key = r.json()["api_key"]
        r = httpx.get(stack.api_url + "/v1/me", headers={"Authorization": f"Bearer {key}"}, timeout=30)
        ok += r.status_code == 200
        limited += r.status_code == 429
    assert ok <= 60, ok  # TEAMLORE_USER_RATE_LIMIT=60/minute, whatever the number of keys
    assert ok + limited == 150


def test_session_keys_are_capped_per_user_and_expire(stack):
    make_user(stack, "hal", "hal's long password")
    keys = []
    for _ in range(5):
        keys.append(login(stack, "hal", "hal's long password").json()["api_key"])  # 5 sign-ins: under 6 per 10 s
    status = [httpx.get(stack.api_url + "/v1/me", headers={"Authorization": f"Bearer {k}"}, timeout=30).status_code
              for k in keys]
    assert status == [401, 401, 200, 200, 200], status  # at most 3 live sign-in keys
    with stack.admin() as c:
        live = [k for k in c.get("/v1/keys").json() if k["user"] == "hal" and not k["revoked_at"]]
    assert len(live) == 3 and all(k["kind"] == "session" and k["expires_at"] for k in live)
    time.sleep(15.0)  # TEAMLORE_SESSION_KEY_TTL_HOURS=0.004 (14.4 s)
    r = httpx.get(stack.api_url + "/v1/me", headers={"Authorization": f"Bearer {keys[-1]}"}, timeout=30)
    assert r.status_code == 401, r.text


def test_sign_in_guessing_is_slowed_per_account_without_locking_the_user_out(stack):
    make_user(stack, "ida", "ida's long password")
    codes = [login(stack, "ida", f"guess {i}").status_code for i in range(8)]
    assert codes[:6] == [401] * 6 and codes[6:] == [429, 429], codes
    assert login(stack, "ida", "ida's long password").status_code == 429  # even the right password waits …
    time.sleep(10.5)
    assert login(stack, "ida", "ida's long password").status_code == 200  # … but only for the window
    no_server_errors(stack)


# --- web UI sessions (issue #19): a sign-in key in exchange for an API key ----------------------------------

def test_a_web_session_key_ends_at_sign_out_and_with_the_api_key_it_came_from(stack):
    with stack.admin() as c:
        r = c.post("/v1/keys", json={"name": "uma's key", "user": "uma"})
        assert r.status_code == 201, r.text
        api_key, api_key_id = r.json()["key"], r.json()["id"]
    with client(stack, api_key) as c:
        first = c.post("/v1/auth/session").json()
        second = c.post("/v1/auth/session").json()
        assert c.post("/v1/auth/logout").json() == {"revoked": False}  # an API key is not ended by a sign-out
        assert c.get("/v1/me").status_code == 200
    assert first["api_key"] != api_key and first["user"]["name"] == "uma" and first["expires_at"]
    with client(stack, first["api_key"]) as c:
        assert c.get("/v1/me").json()["name"] == "uma"
        assert c.post("/v1/auth/logout").json() == {"revoked": True}
        assert c.get("/v1/me").status_code == 401
    with client(stack, second["api_key"]) as c:
        assert c.get("/v1/me").status_code == 200  # another browser's session is untouched
    with stack.admin() as c:
        assert c.delete(f"/v1/keys/{api_key_id}").status_code in (200, 204)
    with client(stack, second["api_key"]) as c:
        assert c.get("/v1/me").status_code == 401  # revoking the API key ends the sessions it opened
    assert httpx.post(stack.api_url + "/v1/auth/session", timeout=30).status_code == 401
