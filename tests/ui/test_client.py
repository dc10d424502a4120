"""ui.client against the real API: typed errors with user-facing messages, and SSE streaming."""
from __future__ import annotations

import pytest

from tests.ui.harness import Stack, free_port
from ui.client import (ApiUnavailable, BadRequest, Forbidden, NotFound, RateLimited, TeamloreClient, Unauthorized,
                       api_url_from_env)


def test_api_url_from_env(monkeypatch):
    monkeypatch.delenv("TEAMLORE_API_URL", raising=False)
    assert api_url_from_env() == "http://127.0.0.1:8000"
    monkeypatch.setenv("TEAMLORE_API_URL", "http://api.internal:9000/")
    assert api_url_from_env() == "http://api.internal:9000"


def test_unreachable_api():
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ApiUnavailable) as err:
        TeamloreClient(url, "tl_x").me()
    assert url in err.value.user_message and "teamlore serve" in err.value.user_message
    stream = TeamloreClient(url, "tl_x").chat_stream([{"role": "user", "content": "hi"}])
    with pytest.raises(ApiUnavailable):
        list(stream)


def test_auth_errors(api_stack):
    with pytest.raises(Unauthorized) as err:
        TeamloreClient(api_stack.api_url, "tl_wrong").me()
    assert err.value.status == 401 and "revoked" in err.value.user_message
    with pytest.raises(Unauthorized):
        TeamloreClient(api_stack.api_url).login("alice", "wrong password")
    user = TeamloreClient(api_stack.api_url, api_stack.user_key)
    assert user.me()["role"] == "user"
    with pytest.raises(Forbidden) as err:
        user.keys()
    assert err.value.status == 403 and "permission" in err.value.user_message


def test_not_found_and_validation(api_stack):
    admin = TeamloreClient(api_stack.api_url, api_stack.admin_key)
    with pytest.raises(NotFound):
        admin.conversation(987654)
    with pytest.raises(NotFound, match="build one first"):
        admin.start_training("no-such-dataset")
    with pytest.raises(BadRequest) as err:
        admin.create_key("", "someone")
    assert err.value.status == 422 and "name" in err.value.user_message


def test_conversation_crud(api_stack):
    c = TeamloreClient(api_stack.api_url, api_stack.user_key)
    conv = c.create_conversation("Client test")
    assert c.rename_conversation(conv["id"], "Renamed")["title"] == "Renamed"
    assert any(x["id"] == conv["id"] and x["title"] == "Renamed" for x in c.conversations())
    c.delete_conversation(conv["id"])
    assert all(x["id"] != conv["id"] for x in c.conversations())


def test_rate_limited(tmp_path):
    stack = Stack(tmp_path, rate_limit="3/minute")
    try:
        stack.start_api()  # its readiness probe spends one request of the admin key's budget
        c = TeamloreClient(stack.api_url, stack.admin_key)
        with pytest.raises(RateLimited) as err:
            for _ in range(5):
                c.me()
        assert err.value.status == 429
        assert err.value.retry_after and err.value.retry_after > 0
        assert "Please wait about" in err.value.user_message
    finally:
        stack.stop_all()


def test_stream_matches_the_non_streamed_answer(api_stack, corpus):
    c = TeamloreClient(api_stack.api_url, api_stack.user_key)
    question = [{"role": "user", "content": "How many days of annual leave do I get per year?"}]
    whole = c.chat(question)
    stream = c.chat_stream(question)
    deltas = list(stream)
    text = whole["choices"][0]["message"]["content"]
    # the extractive answerer streams one piece per quoted paragraph, as soon as each is ready
    assert len(deltas) == len(text.split("\n\n")) and all(deltas)
    assert "".join(deltas) == stream.text == text
    info = stream.info
    assert info is not None and info["mode"] == whole["teamlore"]["mode"] == "extractive"
    assert info["citations"] and info["citations"][0]["n"] == 1
    assert info["conversation_id"] and info["message_id"]
