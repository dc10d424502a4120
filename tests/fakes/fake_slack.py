"""A fake Slack Web API: a real HTTP server on 127.0.0.1 speaking Slack's JSON, for slack-sdk's WebClient.

    with FakeSlack() as fake:
        fake.add_user("U1", "alice"); fake.add_channel("C1", "general", members=["U1"])
        fake.post("C1", "U1", "hello")
        client = WebClient(token=fake.token, base_url=fake.url)

It paginates with `limit`/`cursor` like Slack (opaque `next_cursor`), rate-limits per method like Slack
(HTTP 429 with Retry-After once a method is called more than N times in a window), answers `ok: false` with
Slack's error codes, and records every call (`fake.calls`). State is mutable from the test (edit, delete,
react) to play a workspace that changes between syncs.
"""
from __future__ import annotations

import base64
import json
import math
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlparse


@dataclass
class Call:
    method: str
    params: dict[str, str]
    status: int
    at: float = field(default_factory=time.monotonic)


class SlackError(Exception):
    def __init__(self, error: str, **extra: Any):
        super().__init__(error)
        self.error = error
        self.extra = extra


def _encode_cursor(offset: int) -> str:
    return base64.b64encode(f"offset:{offset}".encode()).decode()


def _decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.b64decode(cursor).decode().partition(":")
        if kind != "offset":
            raise ValueError
        return int(value)
    except Exception:
        raise SlackError("invalid_cursor") from None


class FakeSlack:
    def __init__(self, *, token: str = "xoxb-fake-token", team_domain: str = "fake-team",
                 rate_limits: dict[str, int] | None = None, rate_window_s: float = 60.0,
                 retry_after: int | None = None,
                 max_page_limit: int = 1000, start_ts: float = 1_700_000_000.0):
        self.token = token
        self.team_domain = team_domain
        self.rate_limits = dict(rate_limits or {})  # method -> calls allowed per window
        self.rate_window_s = rate_window_s
        self.retry_after = retry_after  # None: seconds until the window frees a slot, rounded up, like Slack
        self.max_page_limit = max_page_limit
        self.bot_user_id = "UBOTFAKE1"
        self.users: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, list[dict[str, Any]]] = {}  # channel -> messages (all, incl. replies), by ts
        self.calls: list[Call] = []
        self.ephemerals: list[dict[str, Any]] = []  # chat.postEphemeral: seen by one user, not in history
        self.views: dict[str, dict[str, Any]] = {}  # views.publish: user -> App Home view
        self.responses: list[dict[str, Any]] = []  # bodies POSTed to response_url()s
        self._window: dict[str, list[float]] = {}
        self._clock = start_ts
        self.lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> "FakeSlack":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _handle(self):
                parsed = urlparse(self.path)
                if parsed.path.startswith("/response/"):  # a slash command's response_url (no token)
                    length = int(self.headers.get("Content-Length") or 0)
                    payload = json.loads(self.rfile.read(length).decode() or "{}") if length else {}
                    with fake.lock:
                        fake.responses.append({"path": parsed.path, **payload})
                    data = b"ok"
                    self.send_response(200)
                    self.send_header("Content-Type", "text/plain")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                    return
                method = parsed.path.rstrip("/").rsplit("/", 1)[-1]
                params = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    body = self.rfile.read(length).decode()
                    ctype = self.headers.get("Content-Type", "")
                    if "json" in ctype:
                        params.update({k: v if isinstance(v, str) else json.dumps(v) if isinstance(v, (list, dict))
                                       else str(v) for k, v in json.loads(body or "{}").items()})
                    else:
                        params.update({k: v[-1] for k, v in parse_qs(body).items()})
                auth = self.headers.get("Authorization", "")
                if auth.startswith("Bearer "):
                    params.setdefault("token", auth[len("Bearer "):])
                status, headers, payload = fake.dispatch(method, params)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                for k, v in headers.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            do_GET = _handle
            do_POST = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "FakeSlack":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/api/"

    def response_url(self, key: str = "cmd") -> str:
        """A slash command's response_url on this server; what is POSTed there lands in `responses`."""
        assert self._server, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}/response/{key}"

    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method]

    # --- workspace state (used by tests) --------------------------------------------------------------

    def add_user(self, user_id: str, name: str, *, display_name: str = "", real_name: str = "",
                 is_bot: bool = False, title: str = "", email: str | None = None) -> dict[str, Any]:
        user = {"id": user_id, "team_id": "TFAKE", "name": name, "deleted": False, "real_name": real_name or name,
                "is_bot": is_bot, "is_app_user": False,
                "profile": {"display_name": display_name, "real_name": real_name or name, "title": title,
                            **({"email": email} if email else {})}}
        with self.lock:
            self.users[user_id] = user
        return user

    def add_channel(self, channel_id: str, name: str, *, members: list[str] | None = None, private: bool = False,
                    kind: str | None = None, im_user: str | None = None, topic: str = "") -> dict[str, Any]:
        kind = kind or ("private" if private else "public")
        ch = {"id": channel_id, "name": name if kind != "dm" else None, "is_channel": kind == "public",
              "is_group": kind == "private", "is_im": kind == "dm", "is_mpim": kind == "mpim",
              "is_private": kind in ("private", "mpim", "dm"), "is_archived": False, "created": int(self._clock),
              "topic": {"value": topic}, "purpose": {"value": ""}, "members": list(members or []),
              "is_member": True}
        if kind == "dm":
            ch["user"] = im_user
        with self.lock:
            self.channels[channel_id] = ch
            self.messages.setdefault(channel_id, [])
        return ch

    def next_ts(self) -> str:
        with self.lock:
            self._clock += 1.0
            return f"{self._clock:.6f}"

    def post(self, channel: str, user: str | None, text: str, *, thread_ts: str | None = None,
             subtype: str | None = None, bot_id: str | None = None, ts: str | None = None,
             reactions: dict[str, list[str]] | None = None) -> str:
        with self.lock:
            if channel not in self.channels:
                raise SlackError("channel_not_found")
            ts = ts or self.next_ts()
            msg: dict[str, Any] = {"type": "message", "ts": ts, "text": text}
            if user:
                msg["user"] = user
            if subtype:
                msg["subtype"] = subtype
            if bot_id:
                msg["bot_id"] = bot_id
            if thread_ts:
                parent = self._find(channel, thread_ts)
                if parent is None:
                    raise SlackError("thread_not_found")
                msg["thread_ts"] = thread_ts
                msg["parent_user_id"] = parent.get("user")
            if reactions:
                msg["reactions"] = [{"name": k, "users": list(v), "count": len(v)} for k, v in reactions.items()]
            self.messages[channel].append(msg)
            self.messages[channel].sort(key=lambda m: float(m["ts"]))
            return ts

    def edit(self, channel: str, ts: str, text: str) -> None:
        with self.lock:
            msg = self._find(channel, ts)
            if msg is None:
                raise SlackError("message_not_found")
            msg["text"] = text
            msg["edited"] = {"user": msg.get("user"), "ts": self.next_ts()}

    def delete(self, channel: str, ts: str) -> None:
        """Like Slack: a thread parent with live replies becomes a tombstone; anything else disappears."""
        with self.lock:
            msg = self._find(channel, ts)
            if msg is None:
                raise SlackError("message_not_found")
            if self._replies(channel, ts):
                msg.clear()
                msg.update({"type": "message", "subtype": "tombstone", "ts": ts, "thread_ts": ts,
                            "text": "This message was deleted.", "user": "USLACKBOT", "hidden": True})
            else:
                self.messages[channel].remove(msg)

    def react(self, channel: str, ts: str, name: str, user: str) -> None:
        with self.lock:
            msg = self._find(channel, ts)
            if msg is None:
                raise SlackError("message_not_found")
            reactions = msg.setdefault("reactions", [])
            for r in reactions:
                if r["name"] == name:
                    if user in r["users"]:
                        raise SlackError("already_reacted")
                    r["users"].append(user)
                    r["count"] += 1
                    return
            reactions.append({"name": name, "users": [user], "count": 1})

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        return next((m for m in self.messages.get(channel, []) if m["ts"] == ts), None)

    def _replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        return [m for m in self.messages.get(channel, []) if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts]

    def _with_thread_fields(self, channel: str, msg: dict[str, Any]) -> dict[str, Any]:
        out = dict(msg)
        replies = self._replies(channel, msg["ts"])
        if replies:
            out["thread_ts"] = msg["ts"]
            out["reply_count"] = len(replies)
            out["reply_users"] = sorted({r.get("user") for r in replies if r.get("user")})
            out["reply_users_count"] = len(out["reply_users"])
            out["latest_reply"] = replies[-1]["ts"]
        return out

    # --- HTTP dispatch --------------------------------------------------------------------------------

    def dispatch(self, method: str, params: dict[str, str]) -> tuple[int, dict[str, str], dict[str, Any]]:
        with self.lock:
            limit = self.rate_limits.get(method)
            if limit is not None:
                now = time.monotonic()
                window = [t for t in self._window.get(method, []) if now - t < self.rate_window_s]
                if len(window) >= limit:
                    self._window[method] = window
                    self.calls.append(Call(method, dict(params), 429))
                    wait = self.retry_after
                    if wait is None:
                        wait = max(1, math.ceil(self.rate_window_s - (now - window[0])))
                    return 429, {"Retry-After": str(wait)}, {"ok": False, "error": "ratelimited"}
                window.append(now)
                self._window[method] = window
            try:
                handler = getattr(self, "api_" + method.replace(".", "_"), None)
                if handler is None:
                    raise SlackError("unknown_method")
                if params.get("token") != self.token:
                    raise SlackError("invalid_auth" if params.get("token") else "not_authed")
                payload = {"ok": True, **handler(params)}
            except SlackError as exc:
                payload = {"ok": False, "error": exc.error, **exc.extra}
            self.calls.append(Call(method, dict(params), 200))
            return 200, {}, payload

    def _page(self, items: list[Any], params: dict[str, str], default_limit: int = 100) -> tuple[list[Any], dict]:
        try:
            limit = int(params.get("limit") or default_limit)
        except ValueError:
            raise SlackError("invalid_arguments") from None
        limit = max(1, min(limit, self.max_page_limit))
        start = _decode_cursor(params.get("cursor"))
        page = items[start:start + limit]
        nxt = _encode_cursor(start + limit) if start + limit < len(items) else ""
        return page, {"response_metadata": {"next_cursor": nxt}}

    def _channel(self, params: dict[str, str]) -> str:
        ch = params.get("channel")
        if not ch or ch not in self.channels:
            raise SlackError("channel_not_found")
        return ch

    def api_auth_test(self, params):
        return {"url": f"https://{self.team_domain}.slack.com/", "team": self.team_domain, "team_id": "TFAKE",
                "user": "teamlore", "user_id": self.bot_user_id, "bot_id": "BFAKE"}

    def api_users_list(self, params):
        page, meta = self._page(list(self.users.values()), params)
        return {"members": page, **meta}

    def api_users_info(self, params):
        user = self.users.get(params.get("user", ""))
        if user is None:
            raise SlackError("user_not_found")
        return {"user": user}

    def api_conversations_list(self, params):
        wanted = set((params.get("types") or "public_channel").split(","))
        kinds = {"public_channel": "is_channel", "private_channel": "is_group", "im": "is_im", "mpim": "is_mpim"}
        items = [{k: v for k, v in c.items() if k != "members"} for c in self.channels.values()
                 if any(c.get(kinds[t]) for t in wanted if t in kinds)]
        page, meta = self._page(items, params)
        return {"channels": page, **meta}

    def api_conversations_members(self, params):
        ch = self._channel(params)
        page, meta = self._page(self.channels[ch]["members"], params)
        return {"members": page, **meta}

    def api_conversations_info(self, params):
        return {"channel": self.channels[self._channel(params)]}

    def api_conversations_history(self, params):
        ch = self._channel(params)
        inclusive = params.get("inclusive") in ("1", "true")
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or 1e12)

        def inside(ts: float) -> bool:
            return (oldest <= ts <= latest) if inclusive else (oldest < ts < latest)

        top = [self._with_thread_fields(ch, m) for m in self.messages[ch]
               if (not m.get("thread_ts") or m["thread_ts"] == m["ts"] or m.get("subtype") == "thread_broadcast")
               and inside(float(m["ts"]))]
        top.reverse()  # newest first, like Slack
        page, meta = self._page(top, params)
        return {"messages": page, "has_more": bool(meta["response_metadata"]["next_cursor"]), **meta}

    def api_conversations_replies(self, params):
        ch = self._channel(params)
        parent = self._find(ch, params.get("ts", ""))
        if parent is None:
            raise SlackError("thread_not_found")
        items = [self._with_thread_fields(ch, parent)] + [dict(m) for m in self._replies(ch, parent["ts"])]
        page, meta = self._page(items, params)
        if page and page[0]["ts"] != parent["ts"]:
            page = [items[0]] + page  # Slack repeats the parent at the top of every page
        return {"messages": page, "has_more": bool(meta["response_metadata"]["next_cursor"]), **meta}

    def api_chat_postMessage(self, params):
        ch = self._channel(params)
        text = params.get("text") or ""
        if not text and not params.get("blocks"):
            raise SlackError("no_text")
        ts = self.post(ch, self.bot_user_id, text, thread_ts=params.get("thread_ts") or None, bot_id="BFAKE")
        return {"channel": ch, "ts": ts, "message": dict(self._find(ch, ts))}

    def api_chat_update(self, params):
        ch = self._channel(params)
        self.edit(ch, params.get("ts", ""), params.get("text") or "")
        return {"channel": ch, "ts": params["ts"], "text": params.get("text") or ""}

    def api_chat_delete(self, params):
        ch = self._channel(params)
        self.delete(ch, params.get("ts", ""))
        return {"channel": ch, "ts": params["ts"]}

    def api_reactions_add(self, params):
        ch = self._channel(params)
        self.react(ch, params.get("timestamp", ""), params.get("name", ""), self.bot_user_id)
        return {}

    def api_chat_postEphemeral(self, params):
        ch = self._channel(params)
        user = params.get("user") or ""
        if user not in self.users:
            raise SlackError("user_not_in_channel")
        if not (params.get("text") or params.get("blocks")):
            raise SlackError("no_text")
        entry = {"channel": ch, "user": user, "text": params.get("text") or "",
                 "blocks": json.loads(params["blocks"]) if params.get("blocks") else [],
                 "thread_ts": params.get("thread_ts") or None, "message_ts": self.next_ts()}
        self.ephemerals.append(entry)
        return {"message_ts": entry["message_ts"]}

    def api_chat_getPermalink(self, params):
        ch = self._channel(params)
        ts = params.get("message_ts", "")
        if self._find(ch, ts) is None:
            raise SlackError("message_not_found")
        return {"channel": ch, "permalink": f"https://{self.team_domain}.slack.com/archives/{ch}/p{ts.replace('.', '')}"}

    def api_views_publish(self, params):
        user = params.get("user_id", "")
        if user not in self.users:
            raise SlackError("user_not_found")
        try:
            view = json.loads(params.get("view") or "")
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if view.get("type") != "home":
            raise SlackError("invalid_arguments")
        self.views[user] = view
        return {"view": {"id": f"V{len(self.views):08d}", **view}}
