#!/usr/bin/env python3
"""Container health probe with the standard library only (slim images carry no curl).

    healthcheck.py --api      # GET http://127.0.0.1:$TEAMLORE_PORT/healthz answers 2xx (default port 8000)
    healthcheck.py --ui       # GET http://127.0.0.1:$TEAMLORE_UI_PORT/_stcore/health (Streamlit, default 8501)
    healthcheck.py --redis    # TEAMLORE_REDIS_URL answers PING
    healthcheck.py URL        # GET URL answers 2xx

Exit status 1 on any failure, with the reason on stderr, so `docker inspect` shows why.
"""
from __future__ import annotations

import os
import socket
import sys
import urllib.error
import urllib.parse
import urllib.request

TIMEOUT_S = 4.0  # below the 5 s timeout every HEALTHCHECK and probe gives it


def check_http(url: str) -> str | None:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:  # noqa: S310 - fixed local URL
            if 200 <= resp.status < 300:
                return None
            return f"{url} answered {resp.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        return f"{url} unreachable: {exc}"


def check_redis(url: str) -> str | None:
    # A raw RESP PING keeps this probe free of the redis client (and of the app's import time).
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("redis", "rediss"):
        return f"TEAMLORE_REDIS_URL must be redis://..., got scheme {parts.scheme!r}"
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=TIMEOUT_S) as s:
            if parts.password:
                user = urllib.parse.unquote(parts.username or "default")
                pw = urllib.parse.unquote(parts.password)
                s.sendall(_resp("AUTH", user, pw))
                if not s.recv(64).startswith(b"+OK"):
                    return "redis refused AUTH"
            s.sendall(_resp("PING"))
            reply = s.recv(64)
            return None if reply.startswith(b"+PONG") else f"redis answered {reply[:32]!r}"
    except OSError as exc:
        return f"redis unreachable: {exc}"


def _resp(*args: str) -> bytes:
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: healthcheck.py --api | --ui | --redis | URL", file=sys.stderr)
        return 2
    if argv[0] == "--api":
        error = check_http(f"http://127.0.0.1:{os.environ.get('TEAMLORE_PORT', '8000')}/healthz")
    elif argv[0] == "--ui":
        error = check_http(f"http://127.0.0.1:{os.environ.get('TEAMLORE_UI_PORT', '8501')}/_stcore/health")
    elif argv[0] == "--redis":
        url = os.environ.get("TEAMLORE_REDIS_URL")
        error = check_redis(url) if url else "TEAMLORE_REDIS_URL is not set"
    else:
        error = check_http(argv[0])
    if error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
