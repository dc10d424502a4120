"""The Slack bot end to end: signed HTTP Events into the API, answers from the real engine over the indexed sample
workspace, streamed into the fake Slack Web API."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from app.db import session_scope
from app.db.models import Conversation, Feedback, Message, User
from app.slack import blocks as bk
from tests.slack.conftest import BOT, SAMPLE

HR_HELP, GENERAL, LEADERSHIP = "C0ACMEHRH", "C0ACMEGEN", "G0ACMELDR"
ERIK, HANNAH, LENA = "U0ACME012", "U0ACME009", "U0ACME001"  # Hannah and Lena are in #leadership, Erik is not
CARRY_OVER = "How many unused vacation days can I carry over into the next year?"
MERGER = "Which team is the Robotics Platform team merging into?"


def message_id(final: dict) -> int:
    actions = next(b for b in final["blocks"] if b["type"] == "actions")
    return int(actions["elements"][0]["value"])


def citation_lines(final: dict) -> list[str]:
    return [b["elements"][0]["text"] for b in final["blocks"]
            if b["type"] == "context" and b["elements"][0]["text"].startswith("*[")]


def stored(settings, mid: int) -> tuple[Message, Conversation, User | None]:
    with session_scope(settings.db_url) as s:
        msg = s.get(Message, mid)
        conv = s.get(Conversation, msg.conversation_id)
        user = s.get(User, conv.user_id) if conv.user_id else None
        s.expunge_all()
        return msg, conv, user


def test_mention_gets_a_threaded_streamed_answer_with_citations(slack):
    t0 = time.perf_counter()
    ts, resp = slack.mention(ERIK, HR_HELP, CARRY_OVER)
    assert resp.status_code == 200 and time.perf_counter() - t0 < 3.0  # acknowledged within Slack's 3 s

    final = slack.answer_to(HR_HELP, ts)
    placeholder = [c for c in slack.placeholders(HR_HELP) if c.params.get("thread_ts") == ts]
    assert len(placeholder) == 1  # posted in the thread of the mention
    updates = [c for c in slack.fake.calls_to("chat.update") if c.params["ts"] == final["ts"]]
    assert len(updates) >= 2 and updates[0].params["text"] != final["text"]  # streamed, then the final answer
    assert all(len(a.params["text"]) <= len(b.params["text"]) for a, b in zip(updates[:-2], updates[1:-1]))

    assert "5" in final["text"]
    lines = citation_lines(final)
    assert lines and any("<https://acme.slack.com/archives/" in line for line in lines)  # Slack permalinks
    assert any(b["type"] == "context" and b["elements"][0]["text"] == "*Sources*" for b in final["blocks"])
    assert slack.fake._find(HR_HELP, final["ts"])["text"] == final["text"]

    msg, conv, user = stored(slack.settings, message_id(final))
    assert msg.role == "assistant" and msg.content == final["text"] and msg.citations
    assert conv.channel == "slack" and conv.external_key == f"{HR_HELP}:{ts}"
    assert user.slack_user_id == ERIK and user.role == "user"


def test_private_channel_content_never_reaches_a_public_channel(slack):
    """Hannah can read #leadership; her question in public #hr-help must not cite it, in #leadership and in
    her DM it may (so the content is there to leak)."""
    ts, _ = slack.mention(HANNAH, HR_HELP, MERGER)
    public = slack.answer_to(HR_HELP, ts)
    ts, _ = slack.mention(HANNAH, LEADERSHIP, MERGER)
    private = slack.answer_to(LEADERSHIP, ts)
    slack.fake.add_channel("DHANNAH01", "", kind="dm", im_user=HANNAH, members=[HANNAH, BOT])
    dm_ts, _ = slack.message(HANNAH, "DHANNAH01", MERGER, channel_type="im")
    slack.wait(lambda: slack.finals() and any(f["channel"] == "DHANNAH01" for f in slack.finals()), what="DM answer")
    dm = next(f for f in slack.finals() if f["channel"] == "DHANNAH01")

    def cites_leadership(final):
        msg, _, _ = stored(slack.settings, message_id(final))
        return (any(c.get("channel") == "leadership" for c in msg.citations)
                or "Robotics Platform team into Hardware" in final["text"])

    assert cites_leadership(private) and cites_leadership(dm)
    assert not cites_leadership(public)
    assert not any("leadership" in line for line in citation_lines(public))


def test_dm_is_answered_at_top_level_with_the_users_access(slack):
    slack.fake.add_channel("DERIK0001", "", kind="dm", im_user=ERIK, members=[ERIK, BOT])
    _, resp = slack.message(ERIK, "DERIK0001", MERGER, channel_type="im")
    assert resp.status_code == 200
    final = slack.wait(lambda: [f for f in slack.finals() if f["channel"] == "DERIK0001"], what="DM answer")[0]
    placeholder = slack.placeholders("DERIK0001")
    assert len(placeholder) == 1 and not placeholder[0].params.get("thread_ts")
    msg, conv, user = stored(slack.settings, message_id(final))
    assert user.slack_user_id == ERIK
    assert not any(c.get("channel") == "leadership" for c in msg.citations)  # Erik is not in #leadership
    assert not slack.fake.calls_to("conversations.members")  # a DM needs no channel membership


def test_thread_follow_up_uses_the_thread_as_history(slack):
    root, _ = slack.mention(ERIK, HR_HELP, CARRY_OVER)
    first = slack.answer_to(HR_HELP, root)
    # an unmentioned follow-up in the bot's thread: answered with the thread as history
    follow_ts, resp = slack.message(ERIK, HR_HELP, "until when?", thread_ts=root)
    assert resp.status_code == 200
    slack.wait(lambda: len([f for f in slack.finals() if f["channel"] == HR_HELP]) >= 2, what="follow-up answer")
    second = [f for f in slack.finals() if f["channel"] == HR_HELP][-1]
    assert second["ts"] != first["ts"]
    assert any(c.params.get("ts") == root for c in slack.fake.calls_to("conversations.replies"))
    assert slack.fake._find(HR_HELP, second["ts"])["thread_ts"] == root

    m1, c1, _ = stored(slack.settings, message_id(first))
    m2, c2, _ = stored(slack.settings, message_id(second))
    assert c1.id == c2.id  # one conversation per thread
    with session_scope(slack.settings.db_url) as s:
        roles = [m.role for m in s.scalars(select(Message).where(Message.conversation_id == c1.id)
                                           .order_by(Message.id))]
    assert roles == ["user", "assistant", "user", "assistant"]
    # "until when?" alone finds nothing; with the history it finds the carry-over sources again
    assert m2.mode != "no_answer" and set(m2.chunk_ids) & set(m1.chunk_ids)

    # a thread the bot is not part of, and another bot's message: no answer
    other = slack.fake.post(HR_HELP, LENA, "Lunch at 12?")
    n = len(slack.placeholders())
    slack.message(ERIK, HR_HELP, "until when?", thread_ts=other)
    slack.event({"type": "message", "subtype": "bot_message", "bot_id": "BOTHER", "text": "deploy done",
                 "ts": slack.fake.next_ts(), "channel": HR_HELP, "thread_ts": root, "channel_type": "channel"})
    time.sleep(1.0)
    assert len(slack.placeholders()) == n


def test_bad_signature_and_stale_timestamp_are_rejected(slack):
    body = json.dumps({"type": "url_verification", "challenge": "c-123", "token": "x"}).encode()
    ok = slack.post_signed("/slack/events", body, "application/json")
    assert ok.status_code == 200 and ok.json()["challenge"] == "c-123"
    assert slack.post_signed("/slack/events", body, "application/json", secret="wrong").status_code == 401
    stale = int(time.time()) - 6 * 60  # outside the 5-minute replay window, correctly signed
    assert slack.post_signed("/slack/events", body, "application/json", timestamp=stale).status_code == 401
    assert slack.client.post("/slack/events", content=body,
                             headers={"Content-Type": "application/json"}).status_code == 401

    ts = slack.fake.post(HR_HELP, ERIK, f"<@{BOT}> {CARRY_OVER}")
    event = {"type": "app_mention", "user": ERIK, "text": f"<@{BOT}> {CARRY_OVER}", "ts": ts, "channel": HR_HELP}
    assert slack.event(event, secret="wrong").status_code == 401
    assert slack.event(event, timestamp=stale).status_code == 401
    assert slack.click(bk.FEEDBACK_UP, "1", user=ERIK, channel=HR_HELP, message_ts=ts,
                       secret="wrong").status_code == 401
    assert slack.command("ask hi", user=ERIK, channel=HR_HELP, secret="wrong").status_code == 401
    time.sleep(0.5)
    assert not slack.placeholders() and not slack.fake.responses


def test_retries_and_duplicate_events_are_answered_once(slack):
    ts, first = slack.mention(ERIK, HR_HELP, CARRY_OVER, event_id="EvRETRY0001")
    body = slack.sent[-1]
    again = slack.post_signed("/slack/events", json.dumps(body).encode(), "application/json",
                              headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert first.status_code == 200 and again.status_code == 200
    # Slack also sends `message` for the same mention (the app subscribes to message.channels)
    slack.event({"type": "message", "user": ERIK, "text": body["event"]["text"], "ts": ts, "channel": HR_HELP,
                 "channel_type": "channel"})
    slack.answer_to(HR_HELP, ts)
    time.sleep(1.0)
    assert len([c for c in slack.placeholders(HR_HELP) if c.params.get("thread_ts") == ts]) == 1
    with session_scope(slack.settings.db_url) as s:
        assert len(s.scalars(select(Conversation).where(Conversation.external_key == f"{HR_HELP}:{ts}")).all()) == 1


def test_buttons_store_feedback_show_sources_and_ask_a_human(slack):
    ts, _ = slack.mention(ERIK, HR_HELP, CARRY_OVER)
    final = slack.answer_to(HR_HELP, ts)
    mid = message_id(final)

    def feedback():
        with session_scope(slack.settings.db_url) as s:
            return sorted((f.rating, f.origin, s.get(User, f.user_id).slack_user_id)
                          for f in s.scalars(select(Feedback).where(Feedback.message_id == mid)))

    assert slack.click(bk.FEEDBACK_UP, str(mid), user=ERIK, channel=HR_HELP, message_ts=final["ts"],
                       thread_ts=ts).status_code == 200
    slack.wait(lambda: feedback() == [(1, "slack", ERIK)], what="👍 stored")
    slack.click(bk.FEEDBACK_DOWN, str(mid), user=ERIK, channel=HR_HELP, message_ts=final["ts"], thread_ts=ts)
    slack.wait(lambda: feedback() == [(-1, "slack", ERIK)], what="Erik's rating replaced by 👎")
    slack.click(bk.FEEDBACK_UP, str(mid), user=LENA, channel=HR_HELP, message_ts=final["ts"], thread_ts=ts)
    slack.wait(lambda: feedback() == [(-1, "slack", ERIK), (1, "slack", LENA)], what="Lena's 👍")
    slack.wait(lambda: len(slack.fake.ephemerals) == 3, what="confirmations")
    assert all(e["user"] in (ERIK, LENA) and "Thanks" in e["text"] for e in slack.fake.ephemerals)

    slack.click(bk.SHOW_SOURCES, str(mid), user=LENA, channel=HR_HELP, message_ts=final["ts"], thread_ts=ts)
    sources = slack.wait(lambda: [e for e in slack.fake.ephemerals if e["text"].startswith("Sources:")],
                         what="sources")[0]
    msg, _, _ = stored(slack.settings, mid)
    assert sources["user"] == LENA and sources["thread_ts"] == ts
    assert len([b for b in sources["blocks"] if b["type"] == "section"]) == len(msg.citations)

    slack.click(bk.ASK_HUMAN, str(mid), user=ERIK, channel=HR_HELP, message_ts=final["ts"], thread_ts=ts)
    ping = slack.wait(lambda: [m for m in slack.fake.messages[HR_HELP] if "<!subteam^S0SUPPORT>" in m["text"]],
                      what="support group ping")[0]
    assert ping["thread_ts"] == ts and f"<@{ERIK}>" in ping["text"] and "carry over" in ping["text"]


@pytest.mark.slow
def test_a_burst_of_50_mentions_is_answered_without_loss(slack):
    questions = [json.loads(line)["question"] for line in (SAMPLE / "questions.jsonl").read_text().splitlines()
                 if line.strip()]
    people = ["U0ACME001", "U0ACME002", "U0ACME004", "U0ACME005", "U0ACME010", ERIK]
    asked = []
    t0 = time.perf_counter()
    for i in range(50):
        channel = HR_HELP if i % 2 else GENERAL
        ts, resp = slack.mention(people[i % len(people)], channel, questions[i % len(questions)])
        assert resp.status_code == 200
        asked.append((channel, ts))
    ack_s = time.perf_counter() - t0
    assert ack_s < 50 * 0.5  # every event acknowledged right away, answers come later

    def answered():
        by_ts = {(f["channel"], f["ts"]) for f in slack.finals()}
        threads = {}
        for channel, ts in asked:
            threads[(channel, ts)] = [m["ts"] for m in slack.fake.messages[channel]
                                      if m.get("thread_ts") == ts and m.get("user") == BOT]
        return threads if all(len(v) == 1 and (c, v[0]) in by_ts for (c, _), v in threads.items()) else None

    slack.wait(answered, timeout=90, what="50 answers")
    assert len(slack.placeholders()) == 50  # one answer each, none twice


def test_rate_limits_and_an_unavailable_model_get_clear_messages(slack_factory):
    limited = slack_factory(slack_user_rate_limit="2/minute")
    for _ in range(3):
        ts, _ = limited.mention(ERIK, HR_HELP, CARRY_OVER)
    notice = limited.wait(lambda: [m for m in limited.fake.messages[HR_HELP]
                                   if m.get("thread_ts") == ts and m.get("user") == BOT], what="limit notice")[0]
    assert "asking faster than I can answer" in notice["text"] and "try again in" in notice["text"]
    assert len(limited.placeholders()) == 2

    broken = slack_factory(generator="transformers", model_path=None)  # no live model version, no model path
    ts, _ = broken.mention(ERIK, HR_HELP, CARRY_OVER)
    reply = broken.wait(lambda: [m for m in broken.fake.messages[HR_HELP] if m.get("thread_ts") == ts
                                 and m.get("user") == BOT and "unavailable" in m["text"]], what="unavailable")[0]
    assert "TEAMLORE_MODEL_PATH" in reply["text"] and reply["text"] != bk.PLACEHOLDER


def test_slash_command_status_for_admins_and_app_home(slack):
    assert slack.command(f"ask {CARRY_OVER}", user=ERIK, channel=HR_HELP, key="ask").status_code == 200
    answer = slack.wait(lambda: [r for r in slack.fake.responses if r["path"] == "/response/ask"
                                 and r.get("blocks")], what="/teamlore ask")[0]
    assert answer["response_type"] == "ephemeral" and "5" in answer["text"]

    slack.command("status", user=LENA, channel=HR_HELP, key="denied")
    denied = slack.wait(lambda: [r for r in slack.fake.responses if r["path"] == "/response/denied"], what="deny")
    assert "for Teamlore admins" in denied[0]["text"]
    with session_scope(slack.settings.db_url) as s:
        s.scalar(select(User).where(User.slack_user_id == LENA)).role = "admin"
    slack.command("status", user=LENA, channel=HR_HELP, key="status")
    status = slack.wait(lambda: [r for r in slack.fake.responses if r["path"] == "/response/status"], what="status")
    assert "Indexed chunks:" in status[0]["text"] and "Generator: extractive" in status[0]["text"]

    slack.command("", user=ERIK, channel=HR_HELP, key="usage")
    usage = slack.wait(lambda: [r for r in slack.fake.responses if r["path"] == "/response/usage"], what="usage")
    assert "/teamlore ask" in usage[0]["text"]

    slack.event({"type": "app_home_opened", "user": ERIK, "channel": "DERIK", "tab": "home",
                 "event_ts": str(time.time())})
    view = slack.wait(lambda: slack.fake.views.get(ERIK), what="App Home")
    text = json.dumps(view)
    assert "Live model" in text and "/teamlore ask" in text


def test_help_channels_get_answers_without_a_mention(slack_factory):
    bot = slack_factory(slack_help_channels=["#hr-help"])  # by name: resolved through conversations.list
    ts, _ = bot.message(ERIK, HR_HELP, CARRY_OVER)
    final = bot.answer_to(HR_HELP, ts)
    assert message_id(final)
    other, _ = bot.message(ERIK, GENERAL, CARRY_OVER)  # not a help channel: people talk among themselves
    time.sleep(1.0)
    assert not bot.placeholders(GENERAL)
