"""The fake Slack Web API behaves like Slack where our code depends on it."""
import time

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from tests.fakes.fake_slack import FakeSlack


@pytest.fixture
def fake():
    with FakeSlack(max_page_limit=3) as f:
        f.add_user("U1", "lena", display_name="Lena")
        f.add_channel("C1", "general", members=["U1"])
        yield f


def test_auth_and_unknown_token(fake):
    assert WebClient(token=fake.token, base_url=fake.url).auth_test()["url"] == "https://fake-team.slack.com/"
    with pytest.raises(SlackApiError) as exc:
        WebClient(token="xoxb-wrong", base_url=fake.url).auth_test()
    assert exc.value.response["error"] == "invalid_auth"


def test_history_paginates_newest_first_with_cursor(fake):
    ts = [fake.post("C1", "U1", f"m{i}") for i in range(7)]
    client = WebClient(token=fake.token, base_url=fake.url)
    seen, cursor, pages = [], None, 0
    while True:
        resp = client.conversations_history(channel="C1", limit=100, cursor=cursor)  # capped to 3 by the fake
        pages += 1
        seen += [m["ts"] for m in resp["messages"]]
        cursor = resp["response_metadata"]["next_cursor"]
        assert resp["has_more"] == bool(cursor)
        if not cursor:
            break
    assert pages == 3 and seen == list(reversed(ts))
    assert [m["ts"] for m in client.conversations_history(channel="C1", oldest=ts[4])["messages"]] == [ts[6], ts[5]]


def test_replies_thread_fields_and_post_update_react(fake):
    client = WebClient(token=fake.token, base_url=fake.url)
    parent = fake.post("C1", "U1", "question?")
    reply = client.chat_postMessage(channel="C1", text="answer", thread_ts=parent)["ts"]
    client.chat_update(channel="C1", ts=reply, text="better answer")
    client.reactions_add(channel="C1", timestamp=parent, name="white_check_mark")
    msgs = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert msgs[0]["reply_count"] == 1 and msgs[0]["reactions"][0]["name"] == "white_check_mark"
    assert msgs[1]["text"] == "better answer" and "edited" in msgs[1]
    assert client.users_info(user="U1")["user"]["profile"]["display_name"] == "Lena"
    assert client.conversations_members(channel="C1")["members"] == ["U1"]
    assert [c.method for c in fake.calls][-3:] == ["conversations.replies", "users.info", "conversations.members"]


def test_rate_limit_answers_429_with_retry_after(fake):
    fake.rate_limits["users.list"] = 2
    fake.rate_window_s = 1.0
    client = WebClient(token=fake.token, base_url=fake.url)  # no retry handler: the 429 surfaces
    client.users_list()
    client.users_list()
    with pytest.raises(SlackApiError) as exc:
        client.users_list()
    assert exc.value.response.status_code == 429 and exc.value.response.headers["Retry-After"] == "1"
    time.sleep(1.05)
    assert client.users_list()["ok"]


def test_deleting_a_parent_with_replies_leaves_a_tombstone(fake):
    parent = fake.post("C1", "U1", "q")
    fake.post("C1", "U1", "a", thread_ts=parent)
    fake.delete("C1", parent)
    client = WebClient(token=fake.token, base_url=fake.url)
    top = client.conversations_history(channel="C1")["messages"]
    assert top[0]["subtype"] == "tombstone" and top[0]["reply_count"] == 1
