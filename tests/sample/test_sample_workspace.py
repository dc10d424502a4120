"""The committed sample workspace: Slack export layout, handbook formats, evaluation questions, determinism."""
from __future__ import annotations

import html
import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tests.conftest import SAMPLE

EXPORT = SAMPLE / "slack" / "acme-export"
HANDBOOK = SAMPLE / "handbook"
DAY_FILE = re.compile(r"^\d{4}-\d{2}-\d{2}\.json$")
TS = re.compile(r"^\d{10}\.\d{6}$")


def _load(name: str):
    return json.loads((EXPORT / name).read_text(encoding="utf-8"))


def _conversations() -> dict[str, dict]:
    """folder name -> metadata, for every conversation the export lists."""
    out = {c["name"]: c for c in _load("channels.json")}
    out.update({g["name"]: g for g in _load("groups.json")})
    out.update({d["id"]: d for d in _load("dms.json")})
    out.update({m["name"]: m for m in _load("mpims.json")})
    return out


def _messages(folder: str) -> list[dict]:
    msgs: list[dict] = []
    for path in sorted((EXPORT / folder).glob("*.json")):
        msgs.extend(json.loads(path.read_text(encoding="utf-8")))
    return msgs


def _threads(msgs: list[dict]) -> dict[str, list[dict]]:
    """parent ts -> replies, for threads that got at least one reply."""
    replies: dict[str, list[dict]] = {}
    for m in msgs:
        if m.get("thread_ts") and m["thread_ts"] != m["ts"]:
            replies.setdefault(m["thread_ts"], []).append(m)
    return replies


def test_export_top_level_files_and_folders():
    for name in ("channels.json", "groups.json", "dms.json", "mpims.json", "users.json"):
        assert isinstance(_load(name), list), name
    conversations = _conversations()
    assert {"general", "hr-help", "engineering", "random", "leadership"} <= set(conversations)
    folders = {p.name for p in EXPORT.iterdir() if p.is_dir()}
    assert folders == set(conversations), "every listed conversation has a folder and vice versa"
    for folder in folders:
        files = list((EXPORT / folder).iterdir())
        assert files and all(DAY_FILE.match(f.name) for f in files), folder


def test_every_day_file_is_a_list_of_messages_on_that_day():
    import datetime as dt
    for path in EXPORT.glob("*/*.json"):
        msgs = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(msgs, list) and msgs, path
        for m in msgs:
            assert m["type"] == "message" and TS.match(m["ts"]), (path, m)
            assert "text" in m
            day = dt.datetime.fromtimestamp(float(m["ts"]), tz=dt.timezone.utc).date().isoformat()
            assert path.stem == day, (path, m["ts"])
            assert 2026 == int(day[:4])
        assert [float(m["ts"]) for m in msgs] == sorted(float(m["ts"]) for m in msgs), path


def test_ts_unique_threads_reference_existing_parents():
    for folder in _conversations():
        msgs = _messages(folder)
        by_ts = {m["ts"]: m for m in msgs}
        assert len(by_ts) == len(msgs), f"duplicate ts in {folder}"
        for parent_ts, replies in _threads(msgs).items():
            parent = by_ts.get(parent_ts)
            assert parent is not None, f"{folder}: reply to missing parent {parent_ts}"
            assert parent["reply_count"] == len(replies)
            assert [r["ts"] for r in parent["replies"]] == [r["ts"] for r in replies]
            assert parent["latest_reply"] == replies[-1]["ts"]
            assert all(float(r["ts"]) > float(parent_ts) and r["parent_user_id"] == parent["user"] for r in replies)


def test_users_referenced_exist():
    users = _load("users.json")
    ids = {u["id"] for u in users}
    assert len(users) >= 12 and sum(u["is_bot"] for u in users) == 1
    for u in users:
        assert u["deleted"] is False and u["profile"]["real_name"] and "display_name" in u["profile"]
        assert u["is_bot"] or "@" in u["profile"]["email"]
    for conv in _conversations().values():
        assert set(conv["members"]) <= ids
    mention = re.compile(r"<@(U[A-Z0-9]+)>")
    for folder in _conversations():
        for m in _messages(folder):
            referenced = {m.get("user"), *mention.findall(m["text"])}
            for r in m.get("reactions", []):
                assert r["count"] == len(r["users"])
                referenced |= set(r["users"])
            referenced.discard(None)
            assert referenced <= ids, (folder, m["ts"], referenced - ids)
            assert m.get("subtype") == "bot_message" or m.get("user"), m


def test_private_channel_and_dm_have_members_and_stay_private():
    groups = _load("groups.json")
    dms = _load("dms.json")
    assert groups and all(len(g["members"]) >= 2 for g in groups)
    assert dms and all(len(d["members"]) == 2 for d in dms)
    leadership = next(g for g in groups if g["name"] == "leadership")
    general = next(c for c in _load("channels.json") if c["name"] == "general")
    assert set(leadership["members"]) < set(general["members"])
    public_text = " ".join(m["text"] for c in ("general", "hr-help", "engineering", "random") for m in _messages(c))
    for secret in ("Project Falcon", "4.5% of payroll", "Hardware under Priya", "€84,000"):
        assert secret not in public_text
    assert "Falcon" in " ".join(m["text"] for m in _messages("leadership"))


def test_slack_features_present():
    all_msgs = [m for folder in _conversations() for m in _messages(folder)]
    subtypes = Counter(m.get("subtype") for m in all_msgs)
    for subtype in ("channel_join", "channel_topic", "bot_message", "file_share", "thread_broadcast"):
        assert subtypes[subtype] >= 1, subtype
    assert any("edited" in m for m in all_msgs)
    assert any(m.get("files") and m["files"][0]["permalink"] for m in all_msgs)
    assert any(m.get("blocks") for m in all_msgs)
    text = "\n".join(m["text"] for m in all_msgs)
    for needle in ("<#C0ACMEHRH|hr-help>", "&lt;", "&amp;", "```", "<https://", "+49 170 555 0199", "@example.net"):
        assert needle in text, needle


def test_hr_help_has_many_real_threads():
    msgs = _messages("hr-help")
    threads = _threads(msgs)
    assert len(threads) >= 40
    parents = [m for m in msgs if m.get("user") and m.get("thread_ts", m["ts"]) == m["ts"]]
    unanswered = [m for m in parents if m["ts"] not in threads]
    assert len(unanswered) >= 2
    resolved = [m for m in parents if any(r["name"] in ("white_check_mark", "+1") for r in m.get("reactions", []))]
    assert len(resolved) >= 30
    # Answers are varied text, not a template.
    texts = [r["text"] for replies in threads.values() for r in replies]
    assert len(set(texts)) > 0.9 * len(texts)


def test_engineering_has_interleaved_unthreaded_exchanges():
    gold = json.loads((SAMPLE / "slack" / "engineering_conversations.json").read_text(encoding="utf-8"))
    conversations = gold["conversations"]
    assert len(conversations) >= 10
    by_ts = {m["ts"]: m for m in _messages("engineering")}
    for conv in conversations:
        assert len(conv["ts"]) >= 2
        for ts in conv["ts"]:
            assert ts in by_ts and "thread_ts" not in by_ts[ts], "gold exchanges are un-threaded"
    # Interleaved: some conversation's span overlaps another's.
    spans = sorted((float(c["ts"][0]), float(c["ts"][-1])) for c in conversations)
    assert sum(1 for a, b in zip(spans, spans[1:]) if b[0] < a[1]) >= 5


def _handbook_texts() -> dict[str, str]:
    """handbook/<file> -> extracted text, one entry per format the way an ingester reads it."""
    import docx
    from bs4 import BeautifulSoup
    from pypdf import PdfReader

    out: dict[str, str] = {}
    for path in sorted(HANDBOOK.iterdir()):
        key = f"handbook/{path.name}"
        if path.suffix == ".md":
            out[key] = path.read_text(encoding="utf-8").replace("**", "")
        elif path.suffix == ".pdf":
            out[key] = "\n".join(p.extract_text() for p in PdfReader(path).pages)
        elif path.suffix == ".docx":
            d = docx.Document(str(path))
            cells = [c.text for t in d.tables for row in t.rows for c in row.cells]
            out[key] = "\n".join([p.text for p in d.paragraphs] + cells)
        elif path.suffix == ".html":
            out[key] = BeautifulSoup(path.read_text(encoding="utf-8"), "html.parser").get_text(" ")
    return out


def test_handbook_formats_pages_and_text_layer():
    from pypdf import PdfReader
    import docx

    suffixes = Counter(p.suffix for p in HANDBOOK.iterdir())
    assert suffixes[".md"] >= 5 and suffixes[".pdf"] >= 1 and suffixes[".docx"] >= 1 and suffixes[".html"] >= 1
    pdf = PdfReader(HANDBOOK / "benefits-and-family-leave.pdf")
    assert len(pdf.pages) >= 3
    assert all(len(p.extract_text()) > 300 for p in pdf.pages), "every PDF page has a real text layer"
    assert pdf.metadata["/CreationDate"] == "D:20260105090000Z"
    d = docx.Document(str(HANDBOOK / "travel-policy.docx"))
    assert any(p.style.name.startswith("Heading") for p in d.paragraphs) and len(d.tables) == 1
    pages = suffixes[".md"] + len(pdf.pages) + suffixes[".docx"] + suffixes[".html"]
    assert pages >= 15
    for key, text in _handbook_texts().items():
        assert len(text) > 400, key


def test_questions_answers_are_quoted_from_their_sources():
    questions = [json.loads(line) for line in (SAMPLE / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(questions) >= 30
    assert {"question", "answer", "source", "visibility"} == set().union(*questions)
    texts = {k: " ".join(v.split()).lower() for k, v in _handbook_texts().items()}
    channel_ids = {d["id"] for d in _load("dms.json")}
    for q in questions:
        assert q["visibility"] in ("public", "private")
        if q["answer"] is None:
            continue
        source = q["source"]
        if source.startswith("slack/"):
            folder = source.removeprefix("slack/")
            text = " ".join(html.unescape(m["text"]) for m in _messages(folder))
            private = folder in channel_ids or folder in {g["name"] for g in _load("groups.json")}
            assert (q["visibility"] == "private") == private, q
        else:
            text = texts[source]
            assert q["visibility"] == "public"
        assert " ".join(q["answer"].split()).lower() in " ".join(text.split()).lower(), q
    assert sum(q["visibility"] == "private" for q in questions) >= 3
    assert sum(q["answer"] is None for q in questions) >= 3


def test_sample_is_small():
    total = sum(p.stat().st_size for p in SAMPLE.rglob("*") if p.is_file())
    assert total < 2_000_000


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> tuple[Path, Path]:
    pytest.importorskip("fpdf", reason="fpdf2 (dev extra) regenerates the sample PDF")
    dirs = []
    for name in ("a", "b"):
        out = tmp_path_factory.mktemp(name)
        subprocess.run([sys.executable, str(SAMPLE / "generate.py"), "--out", str(out)], check=True,
                       capture_output=True, timeout=60)
        dirs.append(out)
    return dirs[0], dirs[1]


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_generate_is_deterministic_and_matches_committed_sample(regenerated):
    a, b = regenerated
    tree_a, tree_b = _tree(a), _tree(b)
    assert tree_a and tree_a == tree_b
    committed = {k: v for k, v in _tree(SAMPLE).items() if k in tree_a}
    stale = sorted(k for k in tree_a if committed.get(k) != tree_a[k])
    assert not stale, f"committed sample differs from generate.py output, rerun it: {stale[:5]}"
    generated_roots = ("slack/", "handbook/", "questions.jsonl")
    extra = sorted(k for k in _tree(SAMPLE) if k.startswith(generated_roots) and k not in tree_a)
    assert not extra, f"stale files in sample/: {extra[:5]}"
