"""Oversized and malicious uploads through POST /v1/documents: zip bombs (as a Slack export and as a plain zip),
path traversal inside a zip and in the filename, polyglot files, an over-limit body. Each is refused with a
per-file reason or a 413, nothing is written outside the data directory, and the server stays healthy."""
from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.reliability.conftest import auth, make_key
from tests.upload_jobs import finished


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


CHANNELS = json.dumps([{"id": "C1", "name": "general", "members": []}]).encode()
DAY = json.dumps([{"type": "message", "user": "U1", "text": "hello", "ts": "1704100000.000100"}]).encode()


@pytest.fixture
def api(sqlite_settings):
    from app.api.main import create_app
    settings = sqlite_settings.model_copy(update={"max_upload_mb": 4, "embedding_backend": "torch",
                                                  "max_export_unpacked_mb": 64})
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, settings, make_key(settings, "root", "admin")


def _upload(client, key, name: str, data: bytes):
    r = client.post("/v1/documents", headers=auth(key), files={"files": (name, data, "application/octet-stream")})
    assert r.status_code == 202, r.text
    r = finished(client, r, headers=auth(key))
    assert r.status_code == 200, r.text
    return r.json()["results"][0]


@pytest.mark.slow
def test_hostile_uploads_are_refused_cleanly(api, tmp_path):
    client, settings, key = api
    bomb_member = b"\0" * (200 << 20)  # 200 MB of zeros deflate to ~200 KB
    cases = {
        "slack-bomb.zip": _zip({"channels.json": CHANNELS, "general/2024-01-01.json": bomb_member}),
        "plain-bomb.zip": _zip({"data.bin": bomb_member}),
        "traversal-export.zip": _zip({"channels.json": CHANNELS, "general/2024-01-01.json": DAY,
                                      "../../../../tmp/teamlore-escaped.json": b"{}"}),
        "absolute-export.zip": _zip({"channels.json": CHANNELS, "/etc/cron.d/teamlore": b"* * * * * root id"}),
        # polyglots: a PDF header with a zip appended, a PNG that carries HTML, a DOCX-named zip of scripts
        "polyglot.pdf": b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + _zip({"evil.html": b"<script>alert(1)</script>"}),
        "image.html": b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + b"<html><script>alert(1)</script></html>",
        "macro.docx": _zip({"word/vbaProject.bin": b"\xd0\xcf\x11\xe0" + b"\0" * 64, "run.sh": b"rm -rf /"}),
        "nul.md": b"# Title\n\0\0\0binary",
    }
    for name, data in cases.items():
        res = _upload(client, key, name, data)
        assert res["status"] == "rejected", (name, res)
        assert res["reason"], name
    assert not Path("/tmp/teamlore-escaped.json").exists()
    assert not list(settings.data_dir.parent.rglob("teamlore-escaped.json"))
    # the path in a filename is dropped: the file lands inside the data dir under its base name
    res = _upload(client, key, "../../../../etc/passwd.md", b"# Passwords policy\n\nRotate them every 90 days.\n")
    assert res["status"] in ("ingested", "updated", "unchanged"), res
    # kept in the uploader's own folder (uploads/documents/<user id>/), never outside it
    found = list((settings.uploads_dir / "documents").rglob("passwd.md"))
    assert len(found) == 1 and found[0].parent.parent == settings.uploads_dir / "documents", found
    # over the per-file limit: refused with a reason; far over: 413 before the body is read
    big = b"# Big\n\n" + b"word " * ((9 << 19) // 5)  # 4.5 MB: over the 4 MB file limit, under the 413 guard
    res = _upload(client, key, "big.md", big)
    assert res["status"] == "rejected" and "limit" in res["reason"], res
    r = client.post("/v1/documents", headers={**auth(key), "content-length": str(50 << 20)}, content=b"x")
    assert r.status_code == 413 and r.json()["error"]["type"] == "request_too_large"
    # nothing above broke the server
    assert client.get("/healthz").status_code == 200
    assert client.get("/v1/documents", headers=auth(key)).status_code == 200
