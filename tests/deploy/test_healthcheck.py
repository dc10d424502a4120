"""docker/healthcheck.py, the images' probe, against a real local HTTP server and the real Redis."""
from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import socket
import socketserver
import subprocess
import sys
import threading
from unittest import mock
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.conftest import REDIS_URL

from ._util import DOCKER, clean_env

PROBE = DOCKER / "healthcheck.py"


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        status = {"/healthz": 200, "/_stcore/health": 200, "/readyz": 503}.get(self.path, 404)
        self.send_response(status)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv.server_address[1]
    srv.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_spec = importlib.util.spec_from_file_location("teamlore_healthcheck", PROBE)
healthcheck = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(healthcheck)


def probe(*args: str, **env: str) -> subprocess.CompletedProcess:
    """Run the probe's main() in-process (a subprocess per case costs ~0.2 s); same argv and environment."""
    err = io.StringIO()
    with mock.patch.dict(os.environ, clean_env(**env), clear=True), contextlib.redirect_stderr(err):
        code = healthcheck.main(list(args))
    return subprocess.CompletedProcess(args, code, "", err.getvalue())


def test_runs_as_a_script(server):
    """As the images run it: `python teamlore-healthcheck URL`, the exit status is the verdict."""
    ok = subprocess.run([sys.executable, str(PROBE), f"http://127.0.0.1:{server}/healthz"], timeout=30)
    bad = subprocess.run([sys.executable, str(PROBE), f"http://127.0.0.1:{server}/readyz"], timeout=30,
                         capture_output=True, text=True)
    assert ok.returncode == 0 and bad.returncode == 1 and "unhealthy" in bad.stderr


def test_http_modes(server):
    assert probe(f"http://127.0.0.1:{server}/healthz").returncode == 0
    down = probe(f"http://127.0.0.1:{server}/readyz")
    assert down.returncode == 1 and "503" in down.stderr
    closed = probe(f"http://127.0.0.1:{_free_port()}/healthz")
    assert closed.returncode == 1 and "unreachable" in closed.stderr
    assert probe("--api", TEAMLORE_PORT=str(server)).returncode == 0
    assert probe("--ui", TEAMLORE_UI_PORT=str(server)).returncode == 0
    assert probe("--api", TEAMLORE_PORT=str(_free_port())).returncode == 1
    assert probe().returncode == 2


@pytest.mark.redis
def test_redis_mode():
    assert probe("--redis", TEAMLORE_REDIS_URL=REDIS_URL).returncode == 0, "Redis at 127.0.0.1:6379 must answer"
    closed = probe("--redis", TEAMLORE_REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0")
    assert closed.returncode == 1 and "unreachable" in closed.stderr
    wrong = probe("--redis", TEAMLORE_REDIS_URL="http://127.0.0.1:6379")
    assert wrong.returncode == 1 and "scheme" in wrong.stderr
    unset = probe("--redis")
    assert unset.returncode == 1 and "TEAMLORE_REDIS_URL is not set" in unset.stderr


class _PasswordRedis(socketserver.StreamRequestHandler):
    """Speaks enough RESP to check the probe's AUTH: it answers PING only after AUTH default s3cret."""

    def _command(self) -> list[bytes]:
        header = self.rfile.readline()
        assert header.startswith(b"*"), header
        parts = []
        for _ in range(int(header[1:])):
            size = int(self.rfile.readline()[1:])
            parts.append(self.rfile.read(size + 2)[:-2])
        return parts

    def handle(self):
        authed = False
        while True:
            try:
                cmd = self._command()
            except (ValueError, AssertionError, IndexError):
                return
            if cmd[0] == b"AUTH":
                authed = cmd[1:] == [b"default", b"s3cret"]
                self.wfile.write(b"+OK\r\n" if authed else b"-WRONGPASS invalid username-password pair\r\n")
            elif cmd[0] == b"PING":
                self.wfile.write(b"+PONG\r\n" if authed else b"-NOAUTH Authentication required.\r\n")


def test_redis_auth():
    srv = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _PasswordRedis)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    try:
        assert probe("--redis", TEAMLORE_REDIS_URL=f"redis://:s3cret@127.0.0.1:{port}/0").returncode == 0
        wrong = probe("--redis", TEAMLORE_REDIS_URL=f"redis://:nope@127.0.0.1:{port}/0")
        assert wrong.returncode == 1 and "AUTH" in wrong.stderr and "nope" not in wrong.stderr
        none = probe("--redis", TEAMLORE_REDIS_URL=f"redis://127.0.0.1:{port}/0")
        assert none.returncode == 1 and "NOAUTH" in none.stderr
    finally:
        srv.shutdown()
        srv.server_close()
