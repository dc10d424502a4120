"""Request text the API refuses before any work: a NUL character (PostgreSQL text cannot hold "\\u0000": a
streamed answer broke after its first bytes when the question was stored) and a blank dataset name."""
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


def test_a_dataset_build_needs_a_name(client, admin_key):
    for name in ("", "   "):
        r = client.post("/v1/datasets", headers=auth(admin_key), json={"name": name})
        assert r.status_code == 422 and r.json()["error"]["message"].startswith("name: "), r.text
