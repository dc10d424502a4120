"""Hostile requests to the Slack HTTP endpoints (session 5 QA): forged or malformed, they get a 4xx in the API's one
error format, never a 500 or a traceback in the log; a correctly signed request still reaches bolt."""
from __future__ import annotations

import json
import logging
import time
from urllib.parse import quote

import pytest

from tests.slack.conftest import SECRET, TOKEN, harnesses, sign

MALFORMED = [("not json", b"this is not json", "application/json"),
             ("deeply nested", b'{"a":' + b"[" * 50_000 + b"]" * 50_000 + b"}", "application/json"),
             ("a list", b"[1, 2]", "application/json"),
             ("not UTF-8", b'{"type": "\xff\xfe"}', "application/json"),
             ("form payload not json", b"payload=notjson", "application/x-www-form-urlencoded"),
             ("form payload a list", b"payload=" + quote("[1]").encode(), "application/x-www-form-urlencoded"),
             ("event not an object", b'{"type": "event_callback", "event": "x"}', "application/json")]


@pytest.fixture
def slack_http(sqlite_settings):
    configured = sqlite_settings.model_copy(update=dict(slack_bot_token=TOKEN, slack_signing_secret=SECRET))
    with harnesses(configured) as start:
        yield start()


def _errors(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


@pytest.mark.parametrize("path", ["/slack/events", "/slack/interactions", "/slack/commands"])
def test_forged_requests_with_malformed_bodies_are_401_without_a_traceback(slack_http, caplog, path):
    """bolt parsed the body before checking the signature: a forged request with a malformed body was a 500 and
    an ERROR traceback in the log, for anyone who can reach the endpoint."""
    for label, body, ctype in MALFORMED:
        r = slack_http.post_signed(path, body, ctype, secret="not-the-secret")
        assert r.status_code == 401, (label, r.status_code, r.text)
        assert r.json()["error"]["code"] == "bad_slack_request", (label, r.text)
    assert not _errors(caplog), _errors(caplog)


def test_signed_requests_with_malformed_bodies_are_400(slack_http, caplog):
    for label, body, ctype in MALFORMED:
        r = slack_http.post_signed("/slack/events", body, ctype)
        assert r.status_code == 400, (label, r.status_code, r.text)
        assert r.json()["error"]["type"] == "invalid_request_error", (label, r.text)
    assert not _errors(caplog), _errors(caplog)


def test_replays_outside_the_window_are_401_in_the_error_format_and_a_signed_request_still_works(slack_http):
    body = json.dumps({"type": "url_verification", "challenge": "c-9", "token": "x"}).encode()
    for ts in (int(time.time()) - 6 * 60, int(time.time()) + 6 * 60, 0):
        r = slack_http.post_signed("/slack/events", body, "application/json", timestamp=ts)
        assert r.status_code == 401 and "replay window" in r.json()["error"]["message"], (ts, r.text)
    r = slack_http.post_signed("/slack/events", body, "application/json",
                               headers={"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"})
    assert r.status_code == 200 and r.json()["challenge"] == "c-9"
