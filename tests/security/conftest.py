"""The security suite: every attack of issue #15 replayed against a real `teamlore serve` (a subprocess on a free
port with its own temporary data directory), at small sizes. One shared server, plus one per module that needs
other settings; full sizes are in benchmarks/security_limits.py."""
from __future__ import annotations

import tempfile
from pathlib import Path

import httpx
import pytest

from tests.ui.harness import Stack
from tests.upload_jobs import finished

# The exported ONNX embedder is cached across runs (keyed by the model's fingerprint): exporting is the slow part.
ONNX_CACHE = Path(tempfile.gettempdir()) / "teamlore-test-embedder-cache"

# Small limits so that each attack is cheap to replay; the full sizes run in the benchmark script.
SMALL_LIMITS = {
    "TEAMLORE_MAX_UPLOAD_MB": "8",
    "TEAMLORE_MAX_DOCUMENT_CHARS": "200000",
    "TEAMLORE_MAX_DOCUMENT_CHUNKS": "400",
    "TEAMLORE_MAX_OFFICE_XML_MB": "4",
    "TEAMLORE_MAX_OFFICE_ELEMENTS": "50000",
    "TEAMLORE_MAX_CSV_ROWS": "5000",
    "TEAMLORE_MAX_CSV_CELLS": "50000",
    # the Slack HTTP events routes are mounted (signature checks happen; nothing reaches Slack)
    "TEAMLORE_SLACK_BOT_TOKEN": "xoxb-security-suite",
    "TEAMLORE_SLACK_SIGNING_SECRET": "security-suite-signing-secret",
    "TEAMLORE_SLACK_API_URL": "http://127.0.0.1:9/api/",
}


def start_stack(root: Path, **extra_env: str) -> Stack:
    stack = Stack(root, onnx_cache=ONNX_CACHE, extra_env={**SMALL_LIMITS, **extra_env})
    stack.start_api(timeout=180)
    # warm up: the first upload loads (or exports) the embedder; timings in the tests are then the attack's own
    with stack.admin() as c:
        r = finished(c, c.post("/v1/documents", files=[("files", ("welcome.md", b"# Welcome\n\nThe office opens "
                                                                  b"at eight.", "text/markdown"))]))
        assert r.status_code == 200 and r.json()["status"] == "succeeded", r.text
    return stack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """One server shared by the modules that need no special settings (input limits, ownership)."""
    s = start_stack(tmp_path_factory.mktemp("sec"))
    try:
        yield s
    finally:
        s.stop_all()


def client(stack: Stack, key: str, timeout: float = 120) -> httpx.Client:
    return httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=timeout)


def new_user(stack: Stack, name: str, role: str = "user", slack_user_id: str | None = None,
             password: str | None = None) -> str:
    """A user (created through the admin API) and a key for them."""
    body: dict = {"name": f"{name}-key", "user": name, "role": role}
    if slack_user_id:
        body["slack_user_id"] = slack_user_id
    if password:
        body["password"] = password
    with stack.admin() as c:
        r = c.post("/v1/keys", json=body)
        assert r.status_code == 201, r.text
        return r.json()["key"]


def upload(stack: Stack, key: str, files: list[tuple[str, bytes]], **params) -> httpx.Response:
    """POST the files and follow the upload job: its outcome once done, or the POST's refusal."""
    with client(stack, key, timeout=300) as c:
        return finished(c, c.post("/v1/documents", params=params,
                                  files=[("files", (name, data, "application/octet-stream")) for name, data in files]))


def no_server_errors(stack: Stack) -> None:
    """The API log holds no traceback (an unhandled error is a 500 and a stack trace there)."""
    log = stack.log("api")
    assert "Traceback" not in log, log[-3000:]
