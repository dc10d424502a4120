"""The Slack bot: slack-bolt listeners that hand questions to the answer engine and stream the answer back.

Slack plumbing only: who asks (Slack user -> Teamlore user), what they may read (DM: the user; channel: every
member), thread history, throttled streaming, Block Kit, buttons. Retrieval, prompting, generation and storage
are the engine's (app/answering/engine.py) — the same path the web UI and the API take.

Acknowledgement within Slack's 3 s: events are acked by bolt before any listener runs; commands and buttons
ack in a tiny `ack` function, and the work runs as a lazy listener in a thread pool (Socket Mode and HTTP).
"""
from __future__ import annotations

import logging
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from sqlalchemy import select

from app.answering.engine import AnswerEngine, EmptyQuestion
from app.db import session_scope
from app.db.models import Conversation
from app.ratelimit import RateLimiter
from app.settings import Settings
from app.slack import blocks as bk
from app.slack.actions import AnswerButtons, post
from app.slack.access import ChannelMembers, channel_access, teamlore_user, user_access
from app.slack.dedupe import Deduper
from app.slack.status import effective_generator, live_model_version, status_text
from app.slack.streaming import SlackStream
from model.base import Answer
from retrieval.types import Access

log = logging.getLogger("teamlore.slack")

_MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>]+)(?:\|([^>]*))?>")
_CHANNEL_REF = re.compile(r"<#[CG][A-Z0-9]+\|([^>]*)>")
HISTORY_TURNS = 20
ANSWERED_SUBTYPES = (None, "thread_broadcast", "file_share")

USAGE = ("Usage: `/teamlore ask <question>` answers privately from the team's documents and Slack; "
         "`/teamlore status` shows the system state (admins only).")


def unavailable_text(reason: str) -> str:
    return ("Sorry, I can't answer right now: the answer model or the search index is unavailable "
            f"({reason}). Please try again later, or press *Ask a human*.")


def limited_text(scope: str, retry_after: int) -> str:
    who = "You are" if scope == "user" else "This channel is"
    return f"{who} asking faster than I can answer: please try again in {retry_after} s."


def question_text(text: str, bot_user_id: str | None) -> str:
    """Slack markup -> the plain question (the bot's own mention removed, links and channel names readable)."""
    text = text or ""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = _LINK.sub(lambda m: m.group(2) or m.group(1), text)
    text = _CHANNEL_REF.sub(lambda m: "#" + m.group(1), text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


@dataclass(frozen=True)
class BotIdentity:
    user_id: str
    bot_id: str | None


@dataclass
class Ask:
    """One question to answer in Slack."""
    text: str
    slack_user: str
    channel: str
    channel_type: str  # im | mpim | channel | group
    ts: str  # the asking message
    reply_thread_ts: str | None  # where the answer goes (None: top level, e.g. a DM)
    history_thread_ts: str | None  # the thread whose messages are the conversation history


class SlackBot:
    def __init__(self, settings: Settings, engine_provider: Callable[[], AnswerEngine], client: WebClient, *,
                 update_interval_s: float | None = None, members_ttl_s: float = 60.0):
        self.settings = settings
        self.engine_provider = engine_provider
        self.client = client
        self.update_interval_s = settings.slack_update_interval_s if update_interval_s is None else update_interval_s
        self.user_limiter = RateLimiter(settings.slack_user_rate_limit, settings.redis_url)
        self.channel_limiter = RateLimiter(settings.slack_channel_rate_limit, settings.redis_url)
        self.deduper = Deduper(settings.redis_url)
        self.members = ChannelMembers(client, ttl_s=members_ttl_s)
        self._identity: BotIdentity | None = None
        self._lock = threading.Lock()
        self._help_channel_ids: set[str] | None = None

    # -- Slack facts --------------------------------------------------------------------------------
    def identity(self) -> BotIdentity:
        if self._identity is None:
            with self._lock:
                if self._identity is None:
                    auth = self.client.auth_test()
                    self._identity = BotIdentity(auth["user_id"], auth.get("bot_id"))
        return self._identity

    def help_channel_ids(self) -> set[str]:
        """slack_help_channels may name channels by id or by name; names are resolved once."""
        if self._help_channel_ids is None:
            wanted = [c.lstrip("#") for c in self.settings.slack_help_channels]
            ids = {c for c in wanted if re.fullmatch(r"[CG][A-Z0-9]{4,}", c)}
            names = set(wanted) - ids
            if names:
                cursor = None
                while True:
                    resp = self.client.conversations_list(types="public_channel,private_channel", limit=1000,
                                                          cursor=cursor, exclude_archived=True)
                    ids |= {c["id"] for c in resp.get("channels") or [] if c.get("name") in names}
                    cursor = (resp.get("response_metadata") or {}).get("next_cursor")
                    if not cursor:
                        break
            self._help_channel_ids = ids
        return self._help_channel_ids

    def is_from_bot(self, event: dict[str, Any]) -> bool:
        me = self.identity()
        return bool(event.get("bot_id") or event.get("subtype") == "bot_message"
                    or event.get("user") == me.user_id or event.get("bot_profile"))

    def access_for(self, ask: Ask) -> Access:
        if ask.channel_type == "im":
            return user_access(ask.slack_user)
        members = self.members.get(ask.channel) | {ask.slack_user}
        return channel_access(members, exclude={self.identity().user_id})

    def thread_messages(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        cursor = None
        while True:
            resp = self.client.conversations_replies(channel=channel, ts=thread_ts, limit=200, cursor=cursor)
            for m in resp.get("messages") or []:
                if not out or m["ts"] != out[0]["ts"]:  # Slack repeats the parent on every page
                    out.append(m)
            cursor = (resp.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return out

    def history(self, thread: list[dict[str, Any]], current_ts: str) -> list[dict[str, str]]:
        me = self.identity()
        turns: list[dict[str, str]] = []
        for m in thread:
            if m.get("ts") == current_ts or m.get("subtype") not in ANSWERED_SUBTYPES + ("bot_message",):
                continue
            mine = m.get("user") == me.user_id or (me.bot_id and m.get("bot_id") == me.bot_id)
            text = m.get("text") or ""
            if mine and (text == bk.PLACEHOLDER or not text.strip()):
                continue
            content = question_text(text, me.user_id)
            if content:
                turns.append({"role": "assistant" if mine else "user", "content": content})
        return turns[-HISTORY_TURNS:]

    def _post(self, channel: str, thread_ts: str | None, text: str) -> None:
        post(self.client, channel, thread_ts, text)

    # -- events ------------------------------------------------------------------------------------
    def on_mention(self, event: dict[str, Any]) -> None:
        if self.is_from_bot(event) or not event.get("user"):
            return
        thread_ts = event.get("thread_ts")
        self.handle(Ask(text=event.get("text") or "", slack_user=event["user"], channel=event["channel"],
                        channel_type=event.get("channel_type") or "channel", ts=event["ts"],
                        reply_thread_ts=thread_ts or event["ts"], history_thread_ts=thread_ts))

    def on_message(self, event: dict[str, Any]) -> None:
        if event.get("subtype") not in ANSWERED_SUBTYPES or self.is_from_bot(event) or not event.get("user"):
            return
        me = self.identity()
        text = event.get("text") or ""
        channel_type = event.get("channel_type") or ""
        thread_ts = event.get("thread_ts")
        in_thread = bool(thread_ts and thread_ts != event["ts"])
        mentions = set(_MENTION.findall(text))
        base = dict(text=text, slack_user=event["user"], channel=event["channel"], channel_type=channel_type,
                    ts=event["ts"])
        if channel_type == "im":
            self.handle(Ask(**base, reply_thread_ts=thread_ts if in_thread else None,
                            history_thread_ts=thread_ts if in_thread else None))
            return
        if me.user_id in mentions:
            return  # the app_mention event answers it
        if in_thread:
            if mentions:
                return  # addressed to someone else in the thread, not to the bot
            thread = self.thread_messages(event["channel"], thread_ts)
            if any(m.get("user") == me.user_id or (me.bot_id and m.get("bot_id") == me.bot_id) for m in thread):
                self.handle(Ask(**base, reply_thread_ts=thread_ts, history_thread_ts=thread_ts), thread=thread)
            return
        if event["channel"] in self.help_channel_ids():
            self.handle(Ask(**base, reply_thread_ts=event["ts"], history_thread_ts=None))

    def on_home_opened(self, event: dict[str, Any]) -> None:
        if event.get("tab", "home") != "home":
            return
        self.client.views_publish(user_id=event["user"], view=bk.home_view(
            model_version=live_model_version(self.settings), generator=effective_generator(self.settings),
            help_channels=self.settings.slack_help_channels, support_group=self.settings.slack_support_group))

    # -- answering --------------------------------------------------------------------------------
    def handle(self, ask: Ask, thread: list[dict[str, Any]] | None = None) -> None:
        """Answer once per Slack message, within the rate limits, with the asker's (or channel's) access."""
        if not self.deduper.claim(f"msg:{ask.channel}:{ask.ts}"):
            log.info("slack: %s:%s already answered (retry or duplicate event)", ask.channel, ask.ts)
            return
        for scope, limiter, key in (("user", self.user_limiter, ask.slack_user),
                                    ("channel", self.channel_limiter, ask.channel)):
            decision = limiter.hit("slack", scope, key)
            if not decision.allowed:
                self._post(ask.channel, ask.reply_thread_ts, limited_text(scope, decision.retry_after))
                return
        try:
            self.answer(ask, thread)
        except Exception:  # a failed answer must not kill the worker thread; Slack already got its ack
            log.exception("slack: answering %s:%s failed", ask.channel, ask.ts)

    def _conversation_id(self, user_id: int, external_key: str) -> int | None:
        with session_scope(self.settings.db_url) as s:
            return s.scalar(select(Conversation.id).where(
                Conversation.channel == "slack", Conversation.external_key == external_key,
                Conversation.user_id == user_id).order_by(Conversation.id.desc()).limit(1))

    def answer(self, ask: Ask, thread: list[dict[str, Any]] | None = None) -> Answer | None:
        me = self.identity()
        question = question_text(ask.text, me.user_id)
        person = teamlore_user(self.settings.db_url, ask.slack_user)
        if not question:
            self._post(ask.channel, ask.reply_thread_ts,
                       "Ask me a question after the mention, e.g. `@Teamlore how do I book a meeting room?`")
            return None
        try:
            access = self.access_for(ask)
            history: list[dict[str, str]] = []
            if ask.history_thread_ts:
                thread = thread if thread is not None else self.thread_messages(ask.channel, ask.history_thread_ts)
                history = self.history(thread, ask.ts)
        except SlackApiError as exc:  # without the members list the bot cannot know what is safe to cite
            error = exc.response.get("error")
            log.warning("slack: cannot read %s members/thread: %s", ask.channel, error)
            self._post(ask.channel, ask.reply_thread_ts,
                       f"I can't read this conversation's members or thread ({error}), so I can't tell what is "
                       "safe to cite here. An admin may need to reinstall the app with the scopes in "
                       "docker/slack-app-manifest.yaml.")
            return None
        root = ask.history_thread_ts or ask.reply_thread_ts or ask.ts
        external_key = f"{ask.channel}:{root}"
        stream = SlackStream(self.client, ask.channel, ask.reply_thread_ts, interval_s=self.update_interval_s)
        stream.start()
        result: Answer | None = None
        text = ""
        try:
            engine = self.engine_provider()
            for item in engine.stream(question, access=access, history=history, user_id=person.user_id,
                                      conversation_id=self._conversation_id(person.user_id, external_key),
                                      channel="slack", external_key=external_key):
                if isinstance(item, Answer):
                    result = item
                else:
                    text += item
                    stream.push(text)
        except EmptyQuestion:
            stream.finish("Ask me a question, e.g. `@Teamlore how do I book a meeting room?`")
            return None
        except Exception as exc:  # model or index down: say so in Slack instead of leaving "Thinking…"
            log.exception("slack: answer engine failed for %s:%s", ask.channel, ask.ts)
            reason = f"{type(exc).__name__}: {str(exc)[:200]}" if str(exc) else type(exc).__name__
            stream.finish(unavailable_text(reason))
            return None
        assert result is not None
        stream.finish(result.text, bk.answer_blocks(result.text, result.citations, result.message_id,
                                                    footer=footer(result)))
        return result

    # -- slash command -----------------------------------------------------------------------------
    def on_command(self, command: dict[str, Any], respond: Callable[..., Any]) -> None:
        text = (command.get("text") or "").strip()
        sub, _, rest = text.partition(" ")
        sub = sub.lower()
        slack_user = command["user_id"]
        if sub == "status":
            person = teamlore_user(self.settings.db_url, slack_user)
            if not person.is_admin:
                respond(response_type="ephemeral",
                        text="`/teamlore status` is for Teamlore admins: ask an admin to map your Slack user "
                             "to an admin account.")
                return
            status = status_text(self.settings, self.engine_provider)
            respond(response_type="ephemeral", text=status, blocks=bk.sections(status))
            return
        if sub != "ask" or not rest.strip():
            respond(response_type="ephemeral", text=USAGE)
            return
        decision = self.user_limiter.hit("slack", "user", slack_user)
        if not decision.allowed:
            respond(response_type="ephemeral", text=limited_text("user", decision.retry_after))
            return
        person = teamlore_user(self.settings.db_url, slack_user)
        try:
            # the reply is ephemeral (only the asker sees it), so the asker's own access applies
            result = self.engine_provider().answer(
                rest.strip(), access=user_access(slack_user), user_id=person.user_id,
                channel="slack", external_key=f"command:{command.get('channel_id')}:{slack_user}")
        except Exception as exc:
            log.exception("slack: /teamlore ask failed")
            respond(response_type="ephemeral", text=unavailable_text(type(exc).__name__))
            return
        respond(response_type="ephemeral", text=result.text,
                blocks=bk.answer_blocks(result.text, result.citations, result.message_id, footer=footer(result)))

def footer(result: Answer) -> str:
    parts = [{"generative": "Generated answer", "extractive": "Quoted from sources",
              "no_answer": "No answer found"}.get(result.mode, result.mode)]
    if result.model_version:
        parts.append(f"model {result.model_version}")
    parts.append(f"{result.latency.get('total_ms', 0) / 1000:.1f} s")
    return " · ".join(parts)


def make_client(settings: Settings) -> WebClient:
    client = WebClient(token=settings.slack_bot_token, base_url=settings.slack_api_url)
    client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))  # honours Retry-After
    return client


def default_engine_provider(settings: Settings) -> Callable[[], AnswerEngine]:
    """The engine for a bot running outside the API process (Socket Mode), built on first use."""
    from app.wiring import build_engine, lazy
    return lazy(lambda: build_engine(settings))


def build_bolt_app(settings: Settings, engine_provider: Callable[[], AnswerEngine], *,
                   client: WebClient | None = None, listener_executor: ThreadPoolExecutor | None = None,
                   update_interval_s: float | None = None, process_before_response: bool = False,
                   verify_token: bool = True) -> App:
    """The bolt App with every listener registered. `app.teamlore_bot` is the SlackBot behind it.

    verify_token: call auth.test now (a bad token fails at start); False defers it to the first request that
    passed signature verification (HTTP mode: unsigned requests are refused without any call to Slack)."""
    if not settings.slack_bot_token:
        raise ValueError("TEAMLORE_SLACK_BOT_TOKEN is not set: create the Slack app from "
                         "docker/slack-app-manifest.yaml and install it to get a bot token (xoxb-…)")
    client = client or make_client(settings)
    bot = SlackBot(settings, engine_provider, client, update_interval_s=update_interval_s)
    buttons = AnswerButtons(settings, client)
    executor = listener_executor or ThreadPoolExecutor(max_workers=settings.slack_workers,
                                                       thread_name_prefix="teamlore-slack")
    app = App(token=settings.slack_bot_token, signing_secret=settings.slack_signing_secret or "", client=client,
              process_before_response=process_before_response, listener_executor=executor,
              token_verification_enabled=verify_token, name="teamlore")

    def ack_now(ack):
        ack()

    def answer_mention(event):
        bot.on_mention(event)

    def answer_message(event):
        bot.on_message(event)

    def publish_home(event):
        bot.on_home_opened(event)

    app.event("app_mention")(ack=ack_now, lazy=[answer_mention])
    app.event("message")(ack=ack_now, lazy=[answer_message])
    app.event("app_home_opened")(ack=ack_now, lazy=[publish_home])

    def ack_command(ack, command):
        if (command.get("text") or "").strip().lower().startswith("ask "):
            ack(response_type="ephemeral", text="Looking that up…")
        else:
            ack()

    def run_command(command, respond):
        bot.on_command(command, respond)

    app.command("/teamlore")(ack=ack_command, lazy=[run_command])

    def store_feedback(body, action):
        buttons.on_feedback(body, action)

    def show_sources(body, action):
        buttons.on_show_sources(body, action)

    def ask_human(body, action):
        buttons.on_ask_human(body, action)

    app.action(bk.FEEDBACK_UP)(ack=ack_now, lazy=[store_feedback])
    app.action(bk.FEEDBACK_DOWN)(ack=ack_now, lazy=[store_feedback])
    app.action(bk.SHOW_SOURCES)(ack=ack_now, lazy=[show_sources])
    app.action(bk.ASK_HUMAN)(ack=ack_now, lazy=[ask_human])

    app.teamlore_bot = bot  # type: ignore[attr-defined]
    app.teamlore_executor = executor  # type: ignore[attr-defined]  # shut down to drain answers in flight
    return app
