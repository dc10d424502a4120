"""Slack plumbing that needs no workspace: question cleanup, history, access, throttled streaming, blocks."""
from __future__ import annotations

import json

from slack_sdk import WebClient

from app.slack import blocks as bk
from app.slack.access import channel_access, user_access
from app.slack.bot import question_text
from app.slack.dedupe import Deduper
from app.slack.streaming import SlackStream
from tests.fakes.fake_slack import FakeSlack


def test_question_text_strips_the_bot_mention_and_slack_markup():
    text = "<@UBOT1> how do I expense <https://x.example/a|this form> in <#C123|hr-help> &amp; fast? <@U9>"
    assert question_text(text, "UBOT1") == "how do I expense this form in #hr-help & fast? <@U9>"
    assert question_text("<@UBOT1|teamlore>   ", "UBOT1") == ""


def test_channel_access_is_the_intersection_of_members_without_the_bot():
    acc = channel_access(frozenset({"U1", "U2", "UBOT"}), exclude={"UBOT"})
    assert acc.can_see(["*"])
    assert acc.can_see(["U1", "U2", "U3"])  # a private channel both members are in
    assert not acc.can_see(["U1", "U3"])  # U2 could not read it
    assert not acc.can_see(["UBOT", "U1"])
    # only the bot in the channel: public content only, never "nobody to check so everything"
    assert channel_access(frozenset({"UBOT"}), exclude={"UBOT"}).can_see(["U1"]) is False
    assert user_access("U1").can_see(["U1", "U3"]) and not user_access("U2").can_see(["U1", "U3"])


def test_deduper_claims_each_key_once():
    d = Deduper()
    assert d.claim("msg:C1:1.0") and not d.claim("msg:C1:1.0") and d.claim("msg:C1:2.0")


def test_deduper_on_redis_is_shared_between_processes():
    import redis
    from tests.conftest import REDIS_URL
    prefix = f"teamlore:test:{id(object())}:"
    a, b = Deduper(REDIS_URL, ttl_s=30, prefix=prefix), Deduper(REDIS_URL, ttl_s=30, prefix=prefix)
    try:
        assert a.claim("E1") and not b.claim("E1")
    finally:
        redis.Redis.from_url(REDIS_URL).delete(prefix + "E1")


class _Clock:
    def __init__(self):
        self.t = 100.0

    def __call__(self):
        return self.t


def test_stream_posts_a_placeholder_then_throttles_updates():
    with FakeSlack() as fake:
        fake.add_user("U1", "ann")
        fake.add_channel("C1", "general", members=["U1"])
        root = fake.post("C1", "U1", "question")
        clock = _Clock()
        stream = SlackStream(WebClient(token=fake.token, base_url=fake.url), "C1", root, interval_s=1.0, clock=clock)
        stream.start()
        assert fake.calls_to("chat.postMessage")[0].params["thread_ts"] == root
        assert not stream.push("a")  # within the first second: no update
        clock.t += 0.5
        assert not stream.push("a b")
        clock.t += 0.6
        assert stream.push("a b c")  # 1.1 s after the placeholder
        assert not stream.push("a b c d")
        clock.t += 1.0
        assert stream.push("a b c d e")
        stream.finish("final", bk.answer_blocks("final", [], 7))
        updates = fake.calls_to("chat.update")
        assert [u.params["text"] for u in updates] == ["a b c", "a b c d e", "final"]
        assert fake._find("C1", stream.ts)["text"] == "final"
        assert json.loads(updates[-1].params["blocks"])[-1]["type"] == "actions"


def test_answer_blocks_link_citations_and_carry_the_message_id():
    cites = [{"n": 1, "title": "Annual leave | policy", "url": "https://acme.slack.com/archives/C1/p1",
              "source": "slack", "channel": "hr-help"},
             {"n": 2, "title": "Handbook <2026>", "url": None, "source": "document", "heading": "Leave",
              "page": 3}]
    blocks = bk.answer_blocks("25 days [1]" + "x" * 4000, cites, 42, footer="Quoted from sources · 0.1 s")
    sections = [b for b in blocks if b["type"] == "section"]
    assert len(sections) == 2 and all(len(s["text"]["text"]) <= bk.SECTION_LIMIT for s in sections)
    lines = [b["elements"][0]["text"] for b in blocks if b["type"] == "context"]
    assert "*[1]* <https://acme.slack.com/archives/C1/p1|Annual leave ¦ policy> · #hr-help" in lines
    assert "*[2]* *Handbook &lt;2026&gt;* · Leave · p. 3" in lines
    actions = blocks[-1]
    assert [e["action_id"] for e in actions["elements"]] == [bk.FEEDBACK_UP, bk.FEEDBACK_DOWN, bk.SHOW_SOURCES,
                                                             bk.ASK_HUMAN]
    assert {e["value"] for e in actions["elements"]} == {"42"}
    assert len(bk.sources_blocks([dict(cites[0], snippet="s" * 5000)] * 30)) <= 50


def test_unreadable_channel_members_stop_the_answer_with_a_reason(sqlite_settings):
    """Without the member list the bot cannot know what is safe to cite: it says so and never searches."""
    import pytest
    from app.slack.bot import Ask, SlackBot, make_client
    from tests.fakes.fake_slack import SlackError

    class NoMembersScope(FakeSlack):  # an app installed without channels:read
        def api_conversations_members(self, params):
            raise SlackError("missing_scope", needed="channels:read")

    with NoMembersScope() as fake:
        fake.add_user("U1", "ann")
        fake.add_channel("C1", "general", members=["U1"])
        root = fake.post("C1", "U1", "<@UBOTFAKE1> where is the handbook?")
        settings = sqlite_settings.model_copy(update={"slack_bot_token": fake.token, "slack_api_url": fake.url})
        bot = SlackBot(settings, lambda: pytest.fail("the engine must not be asked"), make_client(settings))
        bot.handle(Ask(text="<@UBOTFAKE1> where is the handbook?", slack_user="U1", channel="C1",
                       channel_type="channel", ts=root, reply_thread_ts=root, history_thread_ts=None))
        reply = [m for m in fake.messages["C1"] if m.get("thread_ts") == root and m.get("user") == fake.bot_user_id]
        assert len(reply) == 1 and "(missing_scope)" in reply[0]["text"]
