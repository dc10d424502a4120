"""A NUL character in a JSON body (valid JSON: "\\u0000") is refused before any route runs: PostgreSQL text cannot
hold it, so a streamed answer broke after its first bytes when the question was stored (SQLite stored it)."""
import pytest

from tests.app.conftest import auth


@pytest.mark.parametrize("stream", [False, True])
def test_nul_in_a_question_is_a_400_on_every_database(client, user_key, stream):
    r = client.post("/v1/chat/completions", headers=auth(user_key),
                    json={"stream": stream, "messages": [{"role": "user", "content": "what\u0000is the VPN?"}]})
    assert r.status_code == 400 and r.json()["error"]["code"] == "nul_character", r.text


def test_nul_in_a_title_is_a_400_and_plain_text_passes(client, user_key):
    r = client.post("/v1/conversations", headers=auth(user_key), json={"title": "a\u0000b"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "nul_character", r.text
    r = client.post("/v1/conversations", headers=auth(user_key), json={"title": "party \U0001F389 \\u0000 as typed"})
    assert r.status_code == 201, r.text
