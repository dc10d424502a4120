"""Live sync against the fake Slack Web API: pagination, rate limits, checkpoints, edits and deletions."""
import pytest
from slack_sdk import WebClient
from sqlalchemy import select

from app.db.models import IngestionRun, SlackChannel, SlackMessage, Source
from app.db.session import session_scope
from app.services.ingestion import sync_slack_live
from tests.fakes.fake_slack import FakeSlack


def build_workspace(fake: FakeSlack) -> dict[str, str]:
    fake.add_user("U1", "lena", display_name="Lena Park")
    fake.add_user("U2", "tom", real_name="Tom Berg")
    fake.add_user("UB", "deploybot", is_bot=True)
    fake.add_channel("C1", "general", members=["U1", "U2", "UB"])
    fake.add_channel("G1", "leadership", members=["U1"], private=True)
    fake.add_channel("D1", "", kind="dm", im_user="U2", members=["U2", fake.bot_user_id])
    fake.add_channel("M1", "mpdm-lena--tom-1", kind="mpim", members=["U1", "U2"])
    ts = {}
    fake.post("C1", "U2", "", subtype="channel_join")
    ts["q"] = fake.post("C1", "U1", "How do I book travel? cc <@U2>", reactions={"eyes": ["U2"]})
    ts["a1"] = fake.post("C1", "U2", "Use <https://tripwise.example|Tripwise>", thread_ts=ts["q"])
    ts["a2"] = fake.post("C1", "U1", "thanks :tada:", thread_ts=ts["q"])
    for i in range(8):
        ts[f"m{i}"] = fake.post("C1", "U1" if i % 2 else "U2", f"status update number {i} about the robot arm")
    fake.post("C1", None, "build 42 passed", subtype="bot_message", bot_id="B1")
    ts["secret"] = fake.post("C1", "U1", "temp token xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx")
    ts["lead"] = fake.post("G1", "U1", "merit budget is 3%")
    ts["dm"] = fake.post("D1", "U2", "can we talk?")
    ts["mp"] = fake.post("M1", "U1", "lunch?")
    return ts


def rows(settings, source="live"):
    with session_scope(settings.db_url) as s:
        src = s.scalar(select(Source).where(Source.name == source))
        msgs = {(m.channel_id, m.ts): m for m in s.scalars(select(SlackMessage).where(SlackMessage.source_id == src.id))}
        chans = {c.channel_id: c for c in s.scalars(select(SlackChannel).where(SlackChannel.source_id == src.id))}
        return src, msgs, chans


def test_incremental_sync_with_pagination_edits_and_deletions(settings):
    with FakeSlack(max_page_limit=3) as fake:  # every list comes back 3 items per page
        ts = build_workspace(fake)
        client = WebClient(token=fake.token, base_url=fake.url)

        first = sync_slack_live(settings, client, source_name="live")
        assert first.status == "done" and first.rejected == 0
        assert first.added == 17 and first.updated == first.deleted == 0
        assert first.filtered == {"system:channel_join": 1, "bot": 1}
        assert first.masked == {"secret": 1}
        history_c1 = [c for c in fake.calls_to("conversations.history") if c.params["channel"] == "C1"]
        assert len(history_c1) == 4 and all("cursor" in c.params for c in history_c1[1:])  # 11 top-level / 3
        assert fake.calls_to("conversations.list")[0].params["types"] == "public_channel,private_channel,mpim,im"

        src, msgs, chans = rows(settings)
        assert {c: (ch.kind, sorted(ch.members)) for c, ch in chans.items()} == {
            "C1": ("public", ["U1", "U2", "UB"]), "G1": ("private", ["U1"]), "D1": ("dm", ["U2"]),
            "M1": ("mpim", ["U1", "U2"])}
        q = msgs[("C1", ts["q"])]
        assert q.text == "How do I book travel? cc @Tom Berg" and q.reactions == {"eyes": ["U2"]}
        assert q.permalink == f"https://fake-team.slack.com/archives/C1/p{ts['q'].replace('.', '')}"
        a1 = msgs[("C1", ts["a1"])]
        assert a1.thread_ts == ts["q"] and a1.text == "Use Tripwise (https://tripwise.example)"
        assert a1.permalink.endswith(f"?thread_ts={ts['q']}&cid=C1")
        assert "xoxb-" not in msgs[("C1", ts["secret"])].text + msgs[("C1", ts["secret"])].raw_text
        assert src.checkpoint["C1"] == ts["secret"] and src.checkpoint["G1"] == ts["lead"]

        # Nothing changed: nothing is written twice.
        second = sync_slack_live(settings, client, source_name="live")
        assert (second.added, second.updated, second.deleted, second.skipped) == (0, 0, 0, 17)
        oldest = [c for c in fake.calls_to("conversations.history") if c.params["channel"] == "C1"][-1].params["oldest"]
        window = settings.slack_resync_window_days * 86400
        assert float(oldest) == pytest.approx(float(ts["secret"]) - window)  # resumes from the checkpoint

        # The workspace changes between syncs.
        fake.edit("C1", ts["a1"], "Use Tripwise, booking code ACME")
        fake.delete("C1", ts["a2"])  # a reply
        fake.delete("C1", ts["m3"])  # a top-level message
        new_reply = fake.post("C1", "U2", "also check the travel policy", thread_ts=ts["q"])
        new_top = fake.post("C1", "U2", "all hands at 4pm")
        third = sync_slack_live(settings, client, source_name="live")
        assert (third.added, third.updated, third.deleted) == (2, 1, 2)
        _, msgs, _ = rows(settings)
        assert msgs[("C1", ts["a1"])].text == "Use Tripwise, booking code ACME" and msgs[("C1", ts["a1"])].edited_ts
        assert msgs[("C1", ts["a2"])].deleted and msgs[("C1", ts["m3"])].deleted
        assert not msgs[("C1", new_reply)].deleted and msgs[("C1", new_top)].thread_ts is None

        # A thread parent deleted while its replies live on becomes a tombstone: deleted, replies kept.
        fake.delete("C1", ts["q"])
        fourth = sync_slack_live(settings, client, source_name="live")
        assert fourth.deleted == 1
        _, msgs, _ = rows(settings)
        assert msgs[("C1", ts["q"])].deleted and not msgs[("C1", new_reply)].deleted

    with session_scope(settings.db_url) as s:
        runs = s.scalars(select(IngestionRun).order_by(IngestionRun.id)).all()
        assert [r.status for r in runs] == ["done"] * 4 and runs[2].deleted == 2 and runs[2].report["stats"]["api_calls"]


def test_rate_limited_sync_waits_and_completes(sqlite_settings):
    with FakeSlack(rate_limits={"conversations.history": 2, "conversations.replies": 2}, rate_window_s=1.0) as fake:
        ts = build_workspace(fake)
        client = WebClient(token=fake.token, base_url=fake.url)
        summary = sync_slack_live(sqlite_settings, client, source_name="live")
        assert summary.status == "done" and summary.added == 17
        limited = [c for c in fake.calls if c.status == 429]
        assert limited and summary.stats["rate_limited"] == len(limited) and summary.stats["rate_limit_wait_s"] >= 1
        # Every 429 was followed by a successful retry of the same request.
        assert all(any(c2.status == 200 and c2.method == c.method and c2.params == c.params and c2.at > c.at
                       for c2 in fake.calls) for c in limited)
        _, msgs, _ = rows(sqlite_settings)
        assert ("C1", ts["a2"]) in msgs


def test_api_error_is_a_failed_run_not_a_crash(sqlite_settings):
    with FakeSlack() as fake:
        build_workspace(fake)
        summary = sync_slack_live(sqlite_settings, WebClient(token="xoxb-bad", base_url=fake.url), source_name="live")
    assert summary.status == "failed" and summary.rejections[0][1] == "Slack API error: invalid_auth"


def test_tier_pacer_bursts_then_paces_to_the_tier():
    from ingest.slack_live import TierPacer
    slept = []
    pacer = TierPacer({"conversations.history": 60}, sleep=slept.append)  # 60/min: a burst of 60, then 1/s
    for _ in range(60):
        pacer.wait("conversations.history")
    assert slept == []
    pacer.wait("conversations.history")
    pacer.wait("conversations.history")
    assert len(slept) == 2 and 0.9 < slept[0] <= 1.0 and slept[1] > slept[0]  # the second waits its turn too
    pacer.wait("users.info")  # methods without a tier are not paced
    assert len(slept) == 2


def test_retry_handler_sleeps_exactly_retry_after():
    from ingest.slack_live import CountingRateLimitHandler
    slept = []
    with FakeSlack(rate_limits={"auth.test": 1}, rate_window_s=30.0, retry_after=7) as fake:
        client = WebClient(token=fake.token, base_url=fake.url)
        handler = CountingRateLimitHandler(max_retry_count=2, sleep=slept.append)
        client.retry_handlers.append(handler)
        client.auth_test()
        with pytest.raises(Exception):
            client.auth_test()  # still limited after 2 retries: the error surfaces
    assert slept == [7.0, 7.0] and handler.hits == 2 and handler.waited_s == 14.0
