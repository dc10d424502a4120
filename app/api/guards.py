"""Request guards that hold before any route runs (pure ASGI, so they also see chunked bodies).

BodyLimit  counts the bytes of the request body as they arrive, whatever the framing: a Content-Length over the
           limit is refused before reading, a chunked body (no Content-Length) is cut off at the limit with a 413
           instead of being read to the end and spooled to disk.
JSON text  a JSON body is parsed once here (bounded by the limit) and refused with a 400 when a string in it
           holds a lone UTF-16 surrogate ("\\ud800") or a NUL ("\\u0000"): valid JSON, but not text every
           tokenizer, database (PostgreSQL: no NUL) or encoder downstream accepts.
"""
from __future__ import annotations

import json
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.errors import error_body


class BodyTooLarge(HTTPException):
    """Raised from `receive` when the body passes the limit; FastAPI re-raises HTTPExceptions as they are, so
    the client gets this 413 wherever the body was being read."""

    def __init__(self, limit: int):
        super().__init__(413, f"request body over the limit of {limit >> 20} MB")


def bad_text(value: Any) -> tuple[str, str] | None:
    """(message, code) for the first string in a parsed JSON value that no database stores as text: a lone
    surrogate, or a NUL character (PostgreSQL refuses it); None when all of them are fine."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return ("the request holds text with an unpaired UTF-16 surrogate (e.g. \\ud800), which is not valid "
                    "Unicode text", "invalid_unicode")
        if "\x00" in value:
            return "the request holds text with a NUL character (\\u0000), which text cannot contain", "nul_character"
        return None
    if isinstance(value, dict):
        items = [x for kv in value.items() for x in kv]
    elif isinstance(value, list):
        items = value
    else:
        return None
    return next((bad for bad in map(bad_text, items) if bad), None)


async def _respond(send: Send, status: int, message: str, code: str, headers: list | None = None) -> None:
    body = json.dumps(error_body(status, message, code)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"), *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class RequestGuard:
    def __init__(self, app: ASGIApp, max_body: int, max_json: int = 2 << 20):
        self.app = app
        self.max_body = max_body
        self.max_json = min(max_json, max_body)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit():
                await _respond(send, 400, "malformed Content-Length header", "bad_content_length")
                return
            if int(length) > self.max_body:
                await _respond(send, 413, f"request body over the limit of {self.max_body >> 20} MB",
                               "body_too_large")
                return
        ctype = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        is_json = ctype == b"application/json" and scope.get("method") in ("POST", "PUT", "PATCH")
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        limit = self.max_json if is_json else self.max_body
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise BodyTooLarge(limit)
            return message

        app_receive: Receive = limited_receive
        if is_json:
            chunks: list[bytes] = []
            try:
                while True:
                    message = await limited_receive()
                    if message["type"] != "http.request":
                        break
                    chunks.append(message.get("body", b""))
                    if not message.get("more_body", False):
                        break
            except BodyTooLarge as exc:
                await _respond(send, 413, exc.detail, "body_too_large")
                return
            body = b"".join(chunks)
            try:
                parsed = json.loads(body) if body else None
            except (ValueError, RecursionError):
                parsed = None  # FastAPI answers malformed JSON with its own 422
            bad = bad_text(parsed)
            del parsed  # not held while the route runs (FastAPI parses the body again)
            if bad:
                await _respond(send, 400, *bad)
                return
            replayed = False

            async def replay() -> Message:
                nonlocal replayed
                if not replayed:
                    replayed = True
                    return {"type": "http.request", "body": body, "more_body": False}
                return await receive()  # after the body: wait for the disconnect, as the server would

            app_receive = replay
        try:
            await self.app(scope, app_receive, send_tracking)
        except BodyTooLarge as exc:
            if started:
                raise
            await _respond(send, 413, exc.detail, "body_too_large")


class Gate:
    """Bounded concurrency with a bounded queue: `slots` requests work at once, up to `max_waiting` wait (each at
    most `timeout_s`), and the rest get a 429 with Retry-After at once — back-pressure instead of a pile-up that
    ends in pool timeouts and 500s."""

    def __init__(self, name: str, slots: int, max_waiting: int, timeout_s: float):
        import asyncio
        self.name = name
        self.slots = slots
        self.max_waiting = max_waiting
        self.timeout_s = timeout_s
        self._sem = asyncio.Semaphore(slots)
        self.waiting = 0
        self.busy = 0

    def _busy_error(self, why: str):
        from app.api.errors import APIError
        retry = max(1, int(self.timeout_s // 4))
        return APIError(429, f"the server is busy with other {self.name} ({why}); retry in a few seconds",
                        "server_busy", headers={"Retry-After": str(retry)})

    def slot(self):
        import asyncio
        from contextlib import asynccontextmanager

        @asynccontextmanager
        async def _slot():
            if self._sem.locked() and self.waiting >= self.max_waiting:
                raise self._busy_error(f"{self.waiting} waiting")
            self.waiting += 1
            try:
                await asyncio.wait_for(self._sem.acquire(), timeout=self.timeout_s)
            except (asyncio.TimeoutError, TimeoutError):
                raise self._busy_error(f"waited {self.timeout_s:.0f} s") from None
            finally:
                self.waiting -= 1
            self.busy += 1
            try:
                yield
            finally:
                self.busy -= 1
                self._sem.release()
        return _slot()
