"""No secret (Slack token and signing secret, database password, API keys, the OpenAI-compatible key) appears
in logs, /metrics, error messages, answers or the prompt built for the generator — with all of them configured
and planted in an uploaded document, on PostgreSQL with a password in its URL."""
from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient

from tests.reliability.conftest import auth, make_key
from tests.upload_jobs import wait_for

SLACK_TOKEN = "xoxb-1111111111-2222222222-SeCrEtSlAcKtOkEn1234"
SIGNING_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
DB_PASSWORD = "Db-Pa55word-Never-Logged"
ADMIN_KEY = "tl_AdminBootstrapKey_" + "Q" * 24
OPENAI_KEY = "sk-OpenAiCompatKey" + "z" * 30
PLANTED = ("Deploy notes. The staging database is postgresql://deploy:Hunter2-Planted@db.internal:5432/app "
           "and the CI bot token is xoxb-9999999999-8888888888-PlantedSlackToken42. The vacation policy is 25 days "
           "of annual leave per year. api_key: Planted-Api-Key-77f3c2a9b8")
PLANTED_SECRETS = ["Hunter2-Planted", "xoxb-9999999999-8888888888-PlantedSlackToken42", "Planted-Api-Key-77f3c2a9b8"]


@pytest.mark.postgres
@pytest.mark.slow
def test_no_secret_in_logs_metrics_errors_answers_or_prompts(pg_url, tmp_path, monkeypatch, capfd):
    from app.api.main import create_app
    from app.db import migrate
    from app.settings import get_settings, load_settings
    url = pg_url.replace("postgres@", f"postgres:{DB_PASSWORD}@")  # trust auth ignores it; logs must too
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    settings = load_settings(data_dir=tmp_path / "var", database_url=url, slack_bot_token=SLACK_TOKEN,
                             slack_signing_secret=SIGNING_SECRET, admin_api_key=ADMIN_KEY,
                             openai_api_key=OPENAI_KEY, min_relevance=0.0,
                             embedding_backend="torch")  # no per-data-dir ONNX export in a test
    settings.ensure_dirs()
    migrate(settings.db_url)
    seen: list[str] = []
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        user = make_key(settings, "ana")

        def call(method, path, **kw):
            r = client.request(method, path, **kw)
            seen.append(f"{method} {path} -> {r.status_code} {dict(r.headers)} {r.text}")
            return r

        r = call("POST", "/v1/documents", headers=auth(ADMIN_KEY),
                 files={"files": ("deploy-notes.md", PLANTED.encode(), "text/markdown")})
        assert r.status_code == 202, r.text
        wait_for(client, r.json()["id"], auth(ADMIN_KEY))
        r = call("GET", f"/v1/uploads/{r.json()['id']}", headers=auth(ADMIN_KEY))  # its outcome, among the responses
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "ingested", r.text
        chat = call("POST", "/v1/chat/completions", headers=auth(user),
                    json={"messages": [{"role": "user", "content": "What is the staging database and CI token?"}]})
        assert chat.status_code == 200 and chat.json()["teamlore"]["citations"], chat.text
        call("POST", "/v1/chat/completions", headers=auth(user), json={"stream": True, "messages": [
            {"role": "user", "content": "What is the api_key in the deploy notes?"}]})
        call("GET", "/v1/search", headers=auth(user), params={"q": "staging database token"})
        for method, path, kw in [("GET", "/v1/me", {"headers": auth(SLACK_TOKEN)}),
                                 ("GET", "/v1/me", {"headers": auth(ADMIN_KEY + "x")}),
                                 ("GET", "/v1/keys", {"headers": auth(user)}),
                                 ("POST", "/v1/chat/completions", {"headers": auth(user), "json": {"messages": 5}}),
                                 ("POST", "/v1/chat/completions", {"headers": auth(user), "json": {
                                     "model": "no-such-model", "messages": [{"role": "user", "content": "hi"}]}}),
                                 ("POST", "/slack/events", {"content": b'{"type":"url_verification"}'}),
                                 ("POST", "/v1/auth/login", {"json": {"username": "admin", "password": DB_PASSWORD}}),
                                 ("GET", "/readyz", {}), ("GET", "/v1/keys", {"headers": auth(ADMIN_KEY)}),
                                 ("GET", "/v1/audit", {"headers": auth(ADMIN_KEY)}),
                                 ("GET", "/v1/index/status", {"headers": auth(user)})]:
            call(method, path, **kw)
        # careless logging in any module still goes through the redacting formatter
        log = logging.getLogger("teamlore.test")
        log.warning("connecting to %s with %s", settings.db_url, settings.slack_bot_token)
        try:
            raise ConnectionError(f"cannot reach {settings.db_url} (token {SLACK_TOKEN}, key {OPENAI_KEY})")
        except ConnectionError:
            log.exception("startup failed")
        metrics = call("GET", "/metrics").text

        # the prompt a generator would get for the same question: retrieval + fencing, as the engine builds it
        from model.prompts import Passage, build_messages
        engine = client.app.state.engine()
        from app.api.deps import access_for
        from app.security import Principal
        hits = engine.retrieve("staging database CI bot token api_key", access_for(
            Principal(user_id=1, name="ana", role="user", key_id=None)), [])
        assert hits, "the planted document must be retrieved for the prompt check to mean anything"
        messages, _ = build_messages(system_prompt=settings.system_prompt, question="What is the CI token?",
                                     passages=[Passage(i + 1, h.title, h.text) for i, h in enumerate(hits)],
                                     history=[], count_tokens=lambda t: len(t.split()), context_window=4096,
                                     max_new_tokens=256)
    out, err = capfd.readouterr()
    assert '"levelname"' in err  # the JSON log really was captured
    haystacks = {"logs": out + err, "metrics": metrics, "responses": "\n".join(seen),
                 "prompt": "\n".join(m["content"] for m in messages)}
    secrets = [SLACK_TOKEN, SIGNING_SECRET, DB_PASSWORD, ADMIN_KEY, OPENAI_KEY, *PLANTED_SECRETS]
    leaks = [(where, s) for where, text in haystacks.items() for s in secrets if s in text]
    assert not leaks, leaks
    assert "25 days" in haystacks["prompt"]  # masking kept the rest of the passage
