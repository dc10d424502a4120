import json
import zipfile
from collections import Counter

import pytest

from ingest.slack_export import ExportLimits, read_export
from ingest.types import IngestError
from tests.conftest import SAMPLE, shared_data

ACME = SAMPLE / "slack" / "acme-export"


def write_export(root, *, channels=None, day=None):
    root.mkdir(parents=True, exist_ok=True)
    (root / "users.json").write_text(json.dumps([{"id": "U1", "name": "lena", "profile": {"display_name": "Lena"}}]))
    (root / "channels.json").write_text(json.dumps(channels or [{"id": "C1", "name": "general", "members": ["U1"]}]))
    (root / "general").mkdir(exist_ok=True)
    (root / "general" / "2024-01-01.json").write_text(json.dumps(day or [
        {"type": "message", "user": "U1", "text": "hello <@U1>", "ts": "1704100000.000100"}]))
    return root


def zip_dir(src, dest, prefix=""):
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(src.rglob("*")):
            if p.is_file():
                zf.write(p, prefix + p.relative_to(src).as_posix())
    return dest


def test_slackdump_export_reads_completely():
    e = read_export(shared_data("slack", "olake-community-export"))
    assert len(e.channels) == 5 and len(e.users) == 682 and not e.rejected
    assert len(e.messages) == 304
    assert e.team_domain == "getolake"  # from file permalinks in the archive
    threads = Counter(m.thread_ts for m in e.messages if m.thread_ts)
    assert len([t for t, n in threads.items() if n > 1]) >= 25  # parents and replies both present
    assert any(m.reactions for m in e.messages) and any(m.edited_ts for m in e.messages)


def test_official_zip_reads_completely():
    e = read_export(shared_data("slack", "slack-export-viewer-testarchive.zip"))
    assert {c.name for c in e.channels} == {"enrique", "traveling-sailor"}
    assert len(e.messages) == 158 and not e.rejected
    assert Counter(m.subtype for m in e.messages)["bot_message"] == 94


def test_sample_workspace_kinds_and_members():
    e = read_export(ACME)
    kinds = {c.name: c.kind for c in e.channels}
    assert kinds["leadership"] == "private" and kinds["general"] == "public"
    dm = next(c for c in e.channels if c.kind == "dm")
    assert len(dm.members) == 2 and any(m.channel_id == dm.channel_id for m in e.messages)
    assert not e.rejected


def test_zip_and_folder_and_wrapped_zip_agree(tmp_path):
    root = write_export(tmp_path / "exp")
    a = read_export(root)
    b = read_export(zip_dir(root, tmp_path / "exp.zip"))
    c = read_export(zip_dir(root, tmp_path / "wrapped.zip", prefix="Acme Slack export/"))
    assert [m.raw_text for m in a.messages] == [m.raw_text for m in b.messages] == [m.raw_text for m in c.messages]


def test_corrupt_zip(tmp_path):
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"PK\x03\x04" + b"\x00garbage" * 50)
    with pytest.raises(IngestError, match="not a valid zip archive"):
        read_export(bad)


def test_not_a_zip(tmp_path):
    f = tmp_path / "export.zip"
    f.write_bytes(b"%PDF-1.4 not a zip")
    with pytest.raises(IngestError, match="not a zip archive or export folder"):
        read_export(f)


@pytest.mark.parametrize("name,msg", [("../evil.json", "escaping the archive"), ("/etc/passwd", "absolute path"),
                                       ("a/../../x.json", "escaping the archive"), ("C:/win.json", "absolute path")])
def test_zip_traversal_and_absolute_paths(tmp_path, name, msg):
    z = tmp_path / "t.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("channels.json", "[]")
        zf.writestr(name, "[]")
    with pytest.raises(IngestError, match=msg):
        read_export(z)


def test_zip_bomb_unpacked_size(tmp_path):
    z = tmp_path / "bomb.zip"
    with zipfile.ZipFile(z, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("channels.json", json.dumps([{"id": "C1", "name": "general"}]))
        zf.writestr("general/2024-01-01.json", "[" + " " * 3_000_000 + "]")  # compresses ~1000x
    with pytest.raises(IngestError, match="zip bomb"):
        read_export(z, ExportLimits(max_unpacked_bytes=1_000_000))
    with pytest.raises(IngestError, match="expands"):  # the ratio guard, whatever the total limit
        read_export(z)


def test_zip_bomb_file_count(tmp_path):
    z = tmp_path / "many.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("channels.json", "[]")
        for i in range(30):
            zf.writestr(f"general/2024-01-{i:02d}.json", "[]")
    with pytest.raises(IngestError, match="more than the limit of 10"):
        read_export(z, ExportLimits(max_files=10))


def test_lying_declared_size_is_caught_while_reading(tmp_path):
    root = write_export(tmp_path / "exp")
    z = zip_dir(root, tmp_path / "exp.zip")
    # Shrink the total budget below the real content: the streaming reader must stop, not trust the headers.
    with pytest.raises(IngestError, match="zip bomb|unpacks to"):
        read_export(z, ExportLimits(max_unpacked_bytes=100))


def test_oversized_upload(tmp_path):
    z = zip_dir(write_export(tmp_path / "exp"), tmp_path / "exp.zip")
    with pytest.raises(IngestError, match="over the upload limit"):
        read_export(z, ExportLimits(max_zip_bytes=50))


def test_json_that_is_not_slack(tmp_path):
    d = tmp_path / "notslack"
    d.mkdir()
    (d / "data.json").write_text(json.dumps({"rows": [1, 2, 3]}))
    with pytest.raises(IngestError, match="not a Slack export"):
        read_export(d)
    (d / "channels.json").write_text(json.dumps({"channels": "nope"}))
    with pytest.raises(IngestError, match="channels.json is not Slack's format"):
        read_export(d)
    (d / "channels.json").write_text("{broken")
    with pytest.raises(IngestError, match="invalid JSON"):
        read_export(d)


def test_broken_day_file_is_rejected_and_the_rest_reads(tmp_path):
    root = write_export(tmp_path / "exp")
    (root / "general" / "2024-01-02.json").write_text("{not json")
    (root / "general" / "2024-01-03.json").write_text(json.dumps({"not": "a list"}))
    (root / "general" / "2024-01-04.json").write_text(json.dumps([{"no": "ts"}, {"type": "message", "ts": "2.0",
                                                                                 "text": "ok"}]))
    e = read_export(root)
    assert sorted(m.ts for m in e.messages) == ["1704100000.000100", "2.0"]
    reasons = {r.path.rsplit("/", 1)[-1]: r.reason for r in e.rejected}
    assert "invalid JSON" in reasons["2024-01-02.json"]
    assert "must be a list" in reasons["2024-01-03.json"]
    assert "without a message 'ts'" in reasons["2024-01-04.json"]


@pytest.mark.parametrize("files", [{"permalink": "https://acme.slack.com/files/U1/F1/x.png"}, "x", 3, None, []])
def test_a_files_field_of_any_json_type_is_read_or_skipped_not_a_crash(tmp_path, files):
    """Found by the parser fuzzing (`files` was a dict: dict + list raised TypeError in the permalink-domain read)."""
    day = [{"type": "message", "user": "U1", "text": "see file", "ts": "1704100000.000100", "files": files}]
    export = read_export(write_export(tmp_path / "exp", day=day), ExportLimits())
    assert [m.raw_text for m in export.messages] == ["see file"]


def test_attached_files_are_listed_by_name_not_as_their_metadata(tmp_path):
    """A regression of the fix above: the file dicts themselves were kept beside their names, so a question with a
    screenshot reached the dataset as `[file: {'id': 'F0…', 'created': …}]`."""
    f = {"id": "F1", "name": "image.png", "title": "screenshot of the error", "mimetype": "image/png",
         "permalink": "https://acme.slack.com/files/U1/F1/image.png"}
    gone = {"id": "F2", "mode": "tombstone", "name": "deleted.png"}
    day = [{"type": "message", "user": "U1", "text": "did anyone have this problem?", "ts": "1704100000.000100",
            "files": [f, gone]}]
    (msg,) = read_export(write_export(tmp_path / "exp", day=day), ExportLimits()).messages
    assert msg.files == ["screenshot of the error"]
    assert day[0]["files"] == [f, gone]  # the parsed export is not changed in place


def test_a_zip_of_an_unsupported_version_is_an_ingest_error_not_a_crash(tmp_path):
    """Found by the parser fuzzing: zipfile raises NotImplementedError for a central directory naming zip 10.9."""
    import struct
    src = zip_dir(write_export(tmp_path / "exp"), tmp_path / "ok.zip")
    b = bytearray(src.read_bytes())
    i = b.rfind(b"PK\x01\x02")  # the last central-directory entry: "version needed to extract" at +6
    b[i + 6:i + 8] = struct.pack("<H", 109)
    bad = tmp_path / "v109.zip"
    bad.write_bytes(bytes(b))
    with pytest.raises(IngestError, match="not a readable zip archive"):
        read_export(bad, ExportLimits())
