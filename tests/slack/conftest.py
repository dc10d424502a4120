"""A Slack workspace for the bot: the sample Acme export ingested and indexed with the real services, the API with
HTTP Events mounted, and the fake Slack Web API playing the same workspace. Requests are signed like Slack's."""
from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.conftest import SAMPLE
from tests.fakes.fake_slack import FakeSlack

EXPORT = SAMPLE / "slack" / "acme-export"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT = "UBOTFAKE1"
TOKEN = "xoxb-fake-token"


def sign(body: bytes, *, secret: str = SECRET, timestamp: int | None = None) -> dict[str, str]:
    """Slack's v0 request signature: HMAC-SHA256 over 'v0:<timestamp>:<body>' with the signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def load_workspace(fake: FakeSlack) -> None:
    """The sample export's people and channels, with the bot added to every channel (not to people's DMs)."""
    for u in json.loads((EXPORT / "users.json").read_text()):
        p = u.get("profile") or {}
        fake.add_user(u["id"], u["name"], display_name=p.get("display_name", ""), real_name=u.get("real_name", ""),
                      is_bot=u.get("is_bot", False), title=p.get("title", ""))
    fake.add_user(BOT, "teamlore", is_bot=True)
    for name, private in (("channels.json", False), ("groups.json", True)):
        for c in json.loads((EXPORT / name).read_text()):
            fake.add_channel(c["id"], c["name"], members=[*c["members"], BOT], private=private)


@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """Settings over a database and index holding the sample Slack export (built once per run). SQLite: the
    bot's database paths also run on PostgreSQL in test_db.py, without the cost of a second index."""
    from app.db import migrate
    from app.services.indexing import sync_index
    from app.services.ingestion import ingest_slack_export
    from app.settings import load_settings
    data_dir = tmp_path_factory.mktemp("slack-corpus")
    db_url = f"sqlite:///{data_dir / 'teamlore.db'}"
    settings = load_settings(data_dir=data_dir, database_url=db_url, slack_bot_token=TOKEN,
                             slack_signing_secret=SECRET, slack_workspace_url="https://acme.slack.com/",
                             slack_update_interval_s=0.0, slack_user_rate_limit="1000/minute",
                             slack_channel_rate_limit="1000/minute", slack_support_group="S0SUPPORT")
    settings.ensure_dirs()
    migrate(settings.db_url)
    summary = ingest_slack_export(settings, EXPORT, source_name="acme")
    assert summary.status == "done", summary
    report = sync_index(settings)
    assert report.chunks > 50, report
    return settings


_ids = itertools.count(1)


@dataclass
class SlackHarness:
    """The API app (TestClient) wired to a fake Slack; helpers send what Slack would send, correctly signed."""
    client: Any
    fake: FakeSlack
    settings: Any
    sent: list[dict[str, Any]] = field(default_factory=list)

    def post_signed(self, path: str, body: bytes, content_type: str, *, headers: dict[str, str] | None = None,
                    timestamp: int | None = None, secret: str = SECRET):
        h = {"Content-Type": content_type, **sign(body, secret=secret, timestamp=timestamp), **(headers or {})}
        return self.client.post(path, content=body, headers=h)

    def event(self, event: dict[str, Any], *, event_id: str | None = None, headers: dict[str, str] | None = None,
              **kw):
        body = {"token": "verification-token-unused", "team_id": "TFAKE", "api_app_id": "AFAKE",
                "type": "event_callback", "event_id": event_id or f"Ev{next(_ids):08d}",
                "event_time": int(time.time()), "event": event,
                "authorizations": [{"team_id": "TFAKE", "user_id": BOT, "is_bot": True}]}
        self.sent.append(body)
        return self.post_signed("/slack/events", json.dumps(body).encode(), "application/json", headers=headers, **kw)

    def mention(self, user: str, channel: str, question: str, *, thread_ts: str | None = None,
                **kw) -> tuple[str, Any]:
        """The user posts '@Teamlore question' (in the fake workspace) and Slack sends app_mention."""
        text = f"<@{BOT}> {question}"
        ts = self.fake.post(channel, user, text, thread_ts=thread_ts)
        ev = {"type": "app_mention", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts}
        if thread_ts:
            ev["thread_ts"] = thread_ts
        return ts, self.event(ev, **kw)

    def message(self, user: str, channel: str, text: str, *, channel_type: str = "channel",
                thread_ts: str | None = None, **kw) -> tuple[str, Any]:
        ts = self.fake.post(channel, user, text, thread_ts=thread_ts)
        ev = {"type": "message", "user": user, "text": text, "ts": ts, "channel": channel, "event_ts": ts,
              "channel_type": channel_type}
        if thread_ts:
            ev["thread_ts"] = thread_ts
        return ts, self.event(ev, **kw)

    def click(self, action_id: str, value: str, *, user: str, channel: str, message_ts: str,
              thread_ts: str | None = None, **kw):
        payload = {"type": "block_actions", "token": "unused", "api_app_id": "AFAKE", "trigger_id": "1.2.3",
                   "user": {"id": user, "team_id": "TFAKE"}, "team": {"id": "TFAKE", "domain": "fake-team"},
                   "channel": {"id": channel}, "response_url": self.fake.response_url("action"),
                   "container": {"type": "message", "message_ts": message_ts, "channel_id": channel,
                                 "is_ephemeral": False, **({"thread_ts": thread_ts} if thread_ts else {})},
                   "message": {"type": "message", "ts": message_ts, "user": BOT,
                               **({"thread_ts": thread_ts} if thread_ts else {})},
                   "actions": [{"type": "button", "action_id": action_id, "block_id": f"teamlore_answer_{value}",
                                "value": value, "action_ts": str(time.time())}]}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        return self.post_signed("/slack/interactions", body, "application/x-www-form-urlencoded", **kw)

    def command(self, text: str, *, user: str, channel: str, key: str = "cmd", **kw):
        form = {"token": "unused", "team_id": "TFAKE", "team_domain": "fake-team", "channel_id": channel,
                "channel_name": "x", "user_id": user, "user_name": user, "command": "/teamlore", "text": text,
                "api_app_id": "AFAKE", "response_url": self.fake.response_url(key), "trigger_id": "1.2.3"}
        return self.post_signed("/slack/commands", urlencode(form).encode(), "application/x-www-form-urlencoded",
                                **kw)

    # -- what the bot did ---------------------------------------------------------------------------
    def placeholders(self, channel: str | None = None) -> list[Any]:
        from app.slack.blocks import PLACEHOLDER
        return [c for c in self.fake.calls_to("chat.postMessage")
                if c.params.get("text") == PLACEHOLDER and (channel is None or c.params.get("channel") == channel)]

    def finals(self) -> list[dict[str, Any]]:
        """Final answer updates: (channel, ts, text, blocks) of chat.update calls carrying the answer buttons."""
        out = []
        for c in self.fake.calls_to("chat.update"):
            blocks = json.loads(c.params.get("blocks") or "[]")
            if c.status == 200 and any(b.get("type") == "actions" for b in blocks):
                out.append({"channel": c.params["channel"], "ts": c.params["ts"], "text": c.params.get("text"),
                            "blocks": blocks})
        return out

    def answer_to(self, channel: str, thread_ts: str, timeout: float = 30.0) -> dict[str, Any]:
        """Wait for the final answer posted in this thread and return it (with the placeholder's ts)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ph = [c for c in self.placeholders(channel) if c.params.get("thread_ts") == thread_ts]
            if ph:
                ts = next((m["ts"] for m in self.fake.messages[channel]
                           if m.get("thread_ts") == thread_ts and m.get("user") == BOT), None)
                done = [f for f in self.finals() if f["channel"] == channel and f["ts"] == ts]
                if done:
                    return done[-1]
            time.sleep(0.05)
        raise AssertionError(f"no answer in {channel} thread {thread_ts} within {timeout} s; "
                             f"calls: {[c.method for c in self.fake.calls][-20:]}")

    def wait(self, predicate, timeout: float = 30.0, what: str = "condition"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


@contextmanager
def harnesses(base_settings):
    """Start API apps wired to fresh fake Slacks; `start(**overrides)` changes settings per app."""
    from fastapi.testclient import TestClient
    from app.api.main import create_app
    stack = ExitStack()
    apps = []

    def start(**overrides) -> SlackHarness:
        # Slack's limits, scaled to a 1 s window so the burst test meets them (and must retry)
        fake = stack.enter_context(FakeSlack(rate_limits={"chat.update": 40, "chat.postMessage": 40},
                                             rate_window_s=1.0, retry_after=1,
                                             start_ts=1_700_000_000.0 + next(_ids) * 100_000))  # ts unique per test
        load_workspace(fake)
        settings = base_settings.model_copy(update={"slack_api_url": fake.url, **overrides})
        app = create_app(settings)
        apps.append(app)
        client = stack.enter_context(TestClient(app))
        return SlackHarness(client, fake, settings)

    try:
        yield start
    finally:
        for app in apps:  # let answers in flight finish before their fake goes away
            handler = getattr(app.state, "slack_handler", None)
            if handler is not None:
                handler.app.teamlore_executor.shutdown(wait=True)
        stack.close()


@pytest.fixture
def slack_factory(corpus):
    with harnesses(corpus) as start:
        yield start


@pytest.fixture
def slack(slack_factory) -> SlackHarness:
    return slack_factory()


@pytest.fixture
def bot_db(settings) -> SlackHarness:
    """The bot over an empty corpus on SQLite and PostgreSQL (database paths that need no index)."""
    configured = settings.model_copy(update=dict(slack_bot_token=TOKEN, slack_signing_secret=SECRET,
                                                 slack_support_group="S0SUPPORT"))
    with harnesses(configured) as start:
        yield start()
