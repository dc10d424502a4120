#!/usr/bin/env python3
"""Write Teamlore's fictional sample workspace: an Acme Robotics Slack export, its handbook and evaluation questions.

    python sample/generate.py                # rewrite sample/ in place (output is committed)
    python sample/generate.py --out /tmp/x   # write somewhere else

The output is byte-for-byte deterministic: no wall-clock time, no unseeded randomness, fixed PDF/DOCX dates and
fixed timestamps inside the DOCX zip. Needs fpdf2 and python-docx (the `dev` extra); users of the committed sample
never run it.
"""
from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import html
import io
import json
import random
import re
import shutil
import sys
import tempfile
import uuid
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.dont_write_bytecode = True  # keep __pycache__ out of the committed sample folder
sys.path.insert(0, str(HERE))  # the content modules sit next to this script

import handbook_content as hb  # noqa: E402
import slack_content as sc  # noqa: E402

TEAM_ID = "T0ACME000"
WORKSPACE_URL = "https://acme-robotics.slack.com"
EXPORT_NAME = "acme-export"
FIXED_DOC_DATE = dt.datetime(2026, 1, 5, 9, 0, 0, tzinfo=dt.timezone.utc)
ZIP_DATE = (2026, 1, 5, 9, 0, 0)
# A DST switch is the only timezone rule the sample's dates cross (Berlin: UTC+1, from 29 March 2026 UTC+2).
DST_START_2026 = dt.date(2026, 3, 29)

# Messages shown as edited (text is the latest version), found by the start of their text.
EDITED_PREFIXES = {
    "€180 per night normally": 4,  # minutes after posting that the edit happened
    "Happy new year everyone!": 2,
}
# A reply that was also sent to the channel ("Also send to #hr-help").
BROADCAST_PREFIXES = {"Confirmed phishing"}


# ------------------------------------------------------------------ helpers
def _ts_seconds(day: str, hhmm: str) -> int:
    date = dt.date.fromisoformat(day)
    hour, minute = (int(x) for x in hhmm.split(":"))
    offset = 2 if date >= DST_START_2026 else 1
    local = dt.datetime(date.year, date.month, date.day, hour, minute, tzinfo=dt.timezone(dt.timedelta(hours=offset)))
    return int(local.timestamp())


class Clock:
    """Turns wall-clock minutes into unique Slack ts strings ("1767600000.000100") with seeded jitter."""

    def __init__(self, seed: str):
        self.rng = random.Random(seed)
        self.used: set[str] = set()

    def ts(self, seconds: int) -> str:
        while True:
            value = f"{seconds + self.rng.randint(0, 50)}.{self.rng.randint(100, 999_999):06d}"
            if value not in self.used:
                self.used.add(value)
                return value


def _uid(key: str) -> str:
    return sc.USERS[key][0]


def _client_msg_id(channel: str, ts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"{WORKSPACE_URL}/{channel}/{ts}"))


def _user_profile(key: str) -> dict:
    uid, handle, real, display, _ = sc.USERS[key]
    return {
        "avatar_hash": hashlib.md5(uid.encode()).hexdigest()[:12],
        "image_72": f"https://avatars.slack-edge.example/{uid}_72.png",
        "first_name": real.split()[0],
        "real_name": real,
        "display_name": display,
        "team": TEAM_ID,
        "name": handle,
        "is_restricted": False,
        "is_ultra_restricted": False,
    }


def _rich_text_blocks(text: str, seed: str) -> list[dict]:
    """Slack's rich_text block for a message: user mentions become user elements, the rest text elements."""
    elements: list[dict] = []
    pos = 0
    for m in re.finditer(r"<@(U[A-Z0-9]+)>", text):
        if m.start() > pos:
            elements.append({"type": "text", "text": html.unescape(text[pos:m.start()])})
        elements.append({"type": "user", "user_id": m.group(1)})
        pos = m.end()
    if pos < len(text):
        elements.append({"type": "text", "text": html.unescape(text[pos:])})
    block_id = hashlib.sha1(seed.encode()).hexdigest()[:5]
    return [{"type": "rich_text", "block_id": block_id,
             "elements": [{"type": "rich_text_section", "elements": elements}]}]


def _user_message(channel: str, key: str, text: str, ts: str, with_blocks: bool = False) -> dict:
    uid = _uid(key)
    msg = {
        "client_msg_id": _client_msg_id(channel, ts),
        "type": "message",
        "text": text,
        "user": uid,
        "ts": ts,
        "team": TEAM_ID,
        "user_team": TEAM_ID,
        "source_team": TEAM_ID,
        "user_profile": _user_profile(key),
    }
    if with_blocks:
        msg["blocks"] = _rich_text_blocks(text, f"{channel}/{ts}")
    for prefix, minutes in EDITED_PREFIXES.items():
        if text.startswith(prefix):
            msg["edited"] = {"user": uid, "ts": f"{int(float(ts)) + minutes * 60}.000000"}
    return msg


def _reactions(spec: dict[str, list[str]] | None) -> list[dict]:
    return [{"name": name, "users": [_uid(u) for u in users], "count": len(users)}
            for name, users in (spec or {}).items()]


def _system(subtype: str, key: str, text: str, ts: str, **extra) -> dict:
    return {"type": "message", "subtype": subtype, "ts": ts, "user": _uid(key), "text": text, **extra}


def _bot(text: str, ts: str) -> dict:
    return {"type": "message", "subtype": "bot_message", "text": text, "ts": ts, "bot_id": sc.BOT_ID,
            "username": sc.BOT_USER[2], "icons": {"emoji": ":robot_face:"}}


# ------------------------------------------------------------------ conversations
def _thread_messages(channel: str, threads: list[tuple], clock: Clock) -> list[dict]:
    out: list[dict] = []
    for day, hhmm, asker, question, replies, reactions in threads:
        start = _ts_seconds(day, hhmm)
        parent = _user_message(channel, asker, question, clock.ts(start))
        if reactions:
            parent["reactions"] = _reactions(reactions)
        out.append(parent)
        if not replies:
            continue
        reply_msgs = []
        for reply in replies:
            minutes, key, text = reply[:3]
            msg = _user_message(channel, key, text, clock.ts(start + minutes * 60))
            msg["thread_ts"] = parent["ts"]
            msg["parent_user_id"] = parent["user"]
            if len(reply) > 3:
                msg["reactions"] = _reactions(reply[3])
            if any(text.startswith(p) for p in BROADCAST_PREFIXES):
                msg["subtype"] = "thread_broadcast"
                msg["root"] = {k: parent[k] for k in ("text", "user", "ts", "type")}
            reply_msgs.append(msg)
        reply_users = list(dict.fromkeys(m["user"] for m in reply_msgs))
        parent.update({
            "thread_ts": parent["ts"],
            "reply_count": len(reply_msgs),
            "reply_users_count": len(reply_users),
            "latest_reply": reply_msgs[-1]["ts"],
            "reply_users": reply_users,
            "replies": [{"user": m["user"], "ts": m["ts"]} for m in reply_msgs],
            "is_locked": False,
            "subscribed": False,
        })
        out.extend(reply_msgs)
    return out


def _single_messages(channel: str, items: list[tuple], clock: Clock, with_blocks: bool) -> list[dict]:
    out = []
    for day, hhmm, key, text, *rest in items:
        msg = _user_message(channel, key, text, clock.ts(_ts_seconds(day, hhmm)), with_blocks=with_blocks)
        if rest and rest[0]:
            msg["reactions"] = _reactions(rest[0])
        out.append(msg)
    return out


def _session_messages(channel: str, clock: Clock) -> tuple[list[dict], list[dict]]:
    """Interleaved, un-threaded exchanges plus their gold conversation labels."""
    out, gold = [], {}
    for day, lines in sc.ENG_SESSIONS:
        for hhmm, conv, key, text in lines:
            msg = _user_message(channel, key, text, clock.ts(_ts_seconds(day, hhmm)))
            out.append(msg)
            gold.setdefault(conv, {"conversation": conv, "day": day, "ts": []})["ts"].append(msg["ts"])
    return out, list(gold.values())


def _joins_and_topic(channel: str, members: list[str], topic: str, purpose: str, clock: Clock,
                     late_joiner: str | None) -> list[dict]:
    """Channel history starts on 2 January 2026: members join, the creator sets the topic; Erik joins on his first day."""
    out = []
    base = _ts_seconds("2026-01-02", "09:00")
    creator = members[0]
    out.append(_system("channel_purpose", creator, f"<@{_uid(creator)}> set the channel purpose: {purpose}",
                       clock.ts(base), purpose=purpose))
    for i, key in enumerate(m for m in members if m != late_joiner):
        out.append(_system("channel_join", key, f"<@{_uid(key)}> has joined the channel", clock.ts(base + 60 * (i + 1))))
    out.append(_system("channel_topic", creator, f"<@{_uid(creator)}> set the channel topic: {topic}",
                       clock.ts(base + 60 * 30), topic=topic))
    if late_joiner:
        out.append(_system("channel_join", late_joiner, f"<@{_uid(late_joiner)}> has joined the channel",
                           clock.ts(_ts_seconds("2026-01-05", "08:55"))))
    return out


def _file_share(channel: str, key: str, text: str, day: str, hhmm: str, clock: Clock) -> dict:
    ts = clock.ts(_ts_seconds(day, hhmm))
    msg = _user_message(channel, key, text, ts)
    msg["subtype"] = "file_share"
    msg["upload"] = True
    msg["display_as_bot"] = False
    uid = _uid(key)
    file_id = "F0ACME001"
    name = "all-hands-2026-02.pdf"
    msg["files"] = [{
        "id": file_id, "created": int(float(ts)), "timestamp": int(float(ts)), "name": name,
        "title": "All-hands February 2026", "mimetype": "application/pdf", "filetype": "pdf", "pretty_type": "PDF",
        "user": uid, "size": 2_483_114, "mode": "hosted", "is_external": False, "is_public": True,
        "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{file_id}/{name}",
        "permalink": f"{WORKSPACE_URL}/files/{uid}/{file_id}/{name}",
    }]
    return msg


# ------------------------------------------------------------------ export
PUBLIC_CHANNELS = {
    "general": (["hannah", *[k for k in sc.USERS if k != "hannah"]],
                "Company-wide announcements. Questions → #hr-help", "This channel is for workspace-wide communication."),
    "hr-help": (["lena", *[k for k in sc.USERS if k != "lena"]],
                "Ask the People team anything · Handbook: PeopleHub → Handbook", "Questions about leave, pay, benefits, travel and equipment."),
    "engineering": (["priya", "jonas", "mei", "daniel", "erik", "marco", "ahmed"],
                    "Release 4.2 freeze: Thu 18:00 · On-call: see OpsPager", "Engineering questions, releases and incidents."),
    "random": (["jonas", "mei", "erik", "daniel", "sofia", "ahmed", "marco", "priya", "julia"],
               "Food, pets, links :cat:", "Non-work banter and water-cooler conversation."),
}


def build_channel_messages() -> tuple[dict[str, list[dict]], list[dict]]:
    msgs: dict[str, list[dict]] = {}
    gold: list[dict] = []
    for name, (members, topic, purpose) in PUBLIC_CHANNELS.items():
        clock = Clock(f"acme/{name}")
        late = "erik" if "erik" in members else None
        msgs[name] = _joins_and_topic(name, members, topic, purpose, clock, late)
        if name == "general":
            msgs[name] += _single_messages(name, sc.GENERAL_MESSAGES, clock, with_blocks=True)
            msgs[name].append(_file_share(name, "hannah", "All-hands slides, February edition :bar_chart:",
                                          "2026-02-02", "17:05", clock))
            for day in ("2026-01-30", "2026-02-27", "2026-03-31"):
                msgs[name].append(_bot("Reminder: please submit this month's receipts in Spendly — expenses older "
                                       "than 30 days need your manager's approval. :receipt:",
                                       clock.ts(_ts_seconds(day, "10:00"))))
        elif name == "hr-help":
            msgs[name] += _thread_messages(name, sc.HR_THREADS, clock)
        elif name == "engineering":
            msgs[name] += _thread_messages(name, sc.ENG_THREADS, clock)
            session_msgs, gold = _session_messages(name, clock)
            msgs[name] += session_msgs
            msgs[name].append(_bot("CI: build #4512 on `main` failed — `test_route_planner` (fleet-api). "
                                   "<https://ci.acme-robotics.example/builds/4512|View build>",
                                   clock.ts(_ts_seconds("2026-01-20", "09:58"))))
        elif name == "random":
            msgs[name] += _single_messages(name, sc.RANDOM_MESSAGES, clock, with_blocks=False)
    gid, gname = sc.PRIVATE_CHANNEL
    clock = Clock(f"acme/{gname}")
    msgs[gname] = _joins_and_topic(gname, sc.PRIVATE_MEMBERS, "Leadership team · confidential",
                                   "Private leadership discussions.", clock, None)
    msgs[gname] += _single_messages(gname, sc.LEADERSHIP_MESSAGES, clock, with_blocks=False)
    clock = Clock(f"acme/{sc.DM_ID}")
    msgs[sc.DM_ID] = _single_messages(sc.DM_ID, sc.DM_MESSAGES, clock, with_blocks=False)
    for name in msgs:
        msgs[name].sort(key=lambda m: float(m["ts"]))
    return msgs, gold


def _channel_meta(cid: str, name: str, members: list[str], topic: str, purpose: str, general: bool) -> dict:
    created = _ts_seconds("2026-01-02", "09:00")
    return {
        "id": cid, "name": name, "created": created, "creator": _uid(members[0]), "is_archived": False,
        "is_general": general, "members": [_uid(m) for m in members],
        "topic": {"value": topic, "creator": _uid(members[0]), "last_set": created + 1800},
        "purpose": {"value": purpose, "creator": _uid(members[0]), "last_set": created},
    }


def _users_json() -> list[dict]:
    out = []
    for i, (key, (uid, handle, real, display, title)) in enumerate(sc.USERS.items()):
        lisbon = key == "sofia"
        out.append({
            "id": uid, "team_id": TEAM_ID, "name": handle, "deleted": False,
            "color": f"{(i * 2654435761) % 0xFFFFFF:06x}", "real_name": real,
            "tz": "Europe/Lisbon" if lisbon else "Europe/Berlin",
            "tz_label": "Western European Time" if lisbon else "Central European Time",
            "tz_offset": 0 if lisbon else 3600,
            "profile": {
                "title": title, "phone": "", "skype": "", "real_name": real, "real_name_normalized": real,
                "display_name": display, "display_name_normalized": display,
                "first_name": real.split()[0], "last_name": real.split()[-1],
                "email": f"{handle}@acme-robotics.example", "image_72": f"https://avatars.slack-edge.example/{uid}_72.png",
                "status_text": "", "status_emoji": "", "team": TEAM_ID,
            },
            "is_admin": key in ("hannah", "marco"), "is_owner": key == "hannah", "is_primary_owner": key == "hannah",
            "is_restricted": False, "is_ultra_restricted": False, "is_bot": False, "is_app_user": False,
            "updated": _ts_seconds("2026-01-02", "08:00"),
        })
    uid, handle, real, display, title = sc.BOT_USER
    out.append({
        "id": uid, "team_id": TEAM_ID, "name": handle, "deleted": False, "color": "3c989f", "real_name": real,
        "tz": "America/Los_Angeles", "tz_label": "Pacific Standard Time", "tz_offset": -28800,
        "profile": {"title": title, "real_name": real, "real_name_normalized": real, "display_name": display,
                    "display_name_normalized": display, "bot_id": sc.BOT_ID, "api_app_id": "A0ACMEBOT",
                    "always_active": True, "team": TEAM_ID},
        "is_admin": False, "is_owner": False, "is_primary_owner": False, "is_restricted": False,
        "is_ultra_restricted": False, "is_bot": True, "is_app_user": False,
        "updated": _ts_seconds("2026-01-02", "08:00"),
    })
    return out


def _dump_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=4, ensure_ascii=False) + "\n", encoding="utf-8")


def write_slack_export(root: Path) -> list[dict]:
    msgs, gold = build_channel_messages()
    channels = [_channel_meta(sc.CHANNEL_IDS[name], name, members, topic, purpose, name == "general")
                for name, (members, topic, purpose) in PUBLIC_CHANNELS.items()]
    gid, gname = sc.PRIVATE_CHANNEL
    group = _channel_meta(gid, gname, sc.PRIVATE_MEMBERS, "Leadership team · confidential",
                          "Private leadership discussions.", False)
    group["is_private"] = True
    _dump_json(root / "channels.json", channels)
    _dump_json(root / "groups.json", [group])
    _dump_json(root / "dms.json", [{"id": sc.DM_ID, "created": _ts_seconds("2026-01-02", "09:00"),
                                    "members": [_uid(m) for m in sc.DM_MEMBERS]}])
    _dump_json(root / "mpims.json", [])
    _dump_json(root / "users.json", _users_json())
    _dump_json(root / "integration_logs.json", {"logs": [{
        "service_id": "A0ACMEBOT", "service_type": "Acme Helper", "user_id": _uid("marco"), "user_name": "marco.rossi",
        "date": str(_ts_seconds("2026-01-02", "08:30")), "change_type": "added", "scope": "chat:write"}]})
    for folder, messages in msgs.items():
        by_day: dict[str, list[dict]] = {}
        for m in messages:
            day = dt.datetime.fromtimestamp(float(m["ts"]), tz=dt.timezone.utc).date().isoformat()
            by_day.setdefault(day, []).append(m)
        for day, day_msgs in by_day.items():
            _dump_json(root / folder / f"{day}.json", day_msgs)
    return gold


# ------------------------------------------------------------------ handbook
def write_markdown(root: Path) -> None:
    for name, text in hb.MARKDOWN_PAGES.items():
        (root / name).write_text(text, encoding="utf-8")


def write_pdf(path: Path) -> None:
    from fpdf import FPDF

    class HandbookPDF(FPDF):
        def header(self) -> None:
            self.set_font("helvetica", "B", 9)
            self.cell(0, 6, hb.PDF_TITLE, new_x="LMARGIN", new_y="NEXT")
            self.ln(4)

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("helvetica", "I", 8)
            self.cell(0, 10, f"Page {self.page_no()} of {len(hb.PDF_PAGES)}", align="C")

    pdf = HandbookPDF(format="A4")
    pdf.core_fonts_encoding = "cp1252"  # the core Helvetica font then covers €, – and typographic quotes
    pdf.set_creation_date(FIXED_DOC_DATE)
    pdf.set_title(hb.PDF_TITLE)
    pdf.set_author("Acme Robotics People Team")
    pdf.set_producer("Teamlore sample generator")
    pdf.set_margins(20, 20, 20)
    for heading, body in hb.PDF_PAGES:
        pdf.add_page()
        pdf.set_font("helvetica", "B", 16)
        pdf.cell(0, 10, heading, new_x="LMARGIN", new_y="NEXT")
        pdf.ln(2)
        pdf.set_font("helvetica", "", 11)
        # Paragraphs are separated by blank lines; single newlines inside a paragraph are just wrapping.
        for paragraph in body.split("\n\n"):
            lines = paragraph.split("\n")
            if len(lines) > 1 and all(line.startswith("- ") for line in lines[1:]):
                pdf.multi_cell(0, 6, lines[0], new_x="LMARGIN", new_y="NEXT")
                for line in lines[1:]:
                    pdf.multi_cell(0, 6, "  \u2022 " + line[2:], new_x="LMARGIN", new_y="NEXT")
            else:
                pdf.multi_cell(0, 6, " ".join(lines), new_x="LMARGIN", new_y="NEXT")
            pdf.ln(3)
    path.write_bytes(bytes(pdf.output()))


def _normalize_zip(data: bytes) -> bytes:
    """Rewrite a zip with fixed entry dates: python-docx stamps every entry with the current time."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=ZIP_DATE)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()


def write_docx(path: Path) -> None:
    import docx

    document = docx.Document()
    props = document.core_properties
    props.title = hb.DOCX_TITLE
    props.author = "Acme Robotics People Team"
    props.last_modified_by = "Acme Robotics People Team"
    props.created = FIXED_DOC_DATE.replace(tzinfo=None)
    props.modified = FIXED_DOC_DATE.replace(tzinfo=None)
    props.revision = 1
    document.add_heading(hb.DOCX_TITLE, level=0)
    document.add_paragraph("Applies to all employees of Acme Robotics GmbH and Acme Robotics Lda. from 1 January 2026.")
    for heading, paragraphs in hb.DOCX_SECTIONS:
        document.add_heading(heading, level=1)
        for text in paragraphs:
            document.add_paragraph(text)
    document.add_heading("Limits at a glance", level=1)
    table = document.add_table(rows=1, cols=len(hb.DOCX_TABLE_HEADER))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, hb.DOCX_TABLE_HEADER):
        cell.text = text
    for row in hb.DOCX_TABLE_ROWS:
        for cell, text in zip(table.add_row().cells, row):
            cell.text = text
    buffer = io.BytesIO()
    document.save(buffer)
    path.write_bytes(_normalize_zip(buffer.getvalue()))


def write_html(path: Path) -> None:
    esc = html.escape
    rows = "\n".join(f"      <tr><td>{esc(d)}</td><td>{esc(n)}</td><td>{esc(o)}</td></tr>"
                     for d, n, o in hb.HOLIDAYS_2026)
    sections = "\n".join(f"    <h2>{esc(h)}</h2>\n    <p>{esc(p)}</p>" for h, p in hb.HTML_OFFICE_PARAGRAPHS)
    page = f"""<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{esc(hb.HTML_TITLE)} – Acme Robotics</title>
  <style>body {{ font-family: sans-serif; max-width: 50rem; margin: auto; }} td, th {{ padding: .2rem .6rem; }}</style>
</head>
<body>
  <nav><a href="01-welcome.md">Handbook home</a> · <a href="#holidays">Public holidays</a></nav>
  <main>
    <h1>{esc(hb.HTML_TITLE)}</h1>
{sections}
    <h2 id="holidays">Public holidays 2026</h2>
    <p>On these days the listed offices are closed. Colleagues in Lisbon follow the Lisbon holidays, colleagues in
    Germany the Berlin holidays, wherever they work that day. 24 and 31 December are company days off for everyone
    and do not count against annual leave.</p>
    <table>
      <thead><tr><th>Date</th><th>Holiday</th><th>Office closed</th></tr></thead>
      <tbody>
{rows}
      </tbody>
    </table>
  </main>
  <footer>Maintained by Sofia Martins and the People team. Last reviewed January 2026.</footer>
</body>
</html>
"""
    path.write_text(page, encoding="utf-8")


def write_handbook(root: Path) -> None:
    root.mkdir(parents=True, exist_ok=True)
    write_markdown(root)
    write_pdf(root / "benefits-and-family-leave.pdf")
    write_docx(root / "travel-policy.docx")
    write_html(root / "office-guide.html")


# ------------------------------------------------------------------ questions
# (question, answer or None, source, visibility). Each answer is quoted verbatim from its source; the sample's
# tests check that, so retrieval evaluations can rely on it.
QUESTIONS: list[tuple[str, str | None, str, str]] = [
    ("How many days of annual leave do I get per year?", "25 days", "handbook/02-annual-leave.md", "public"),
    ("How many unused vacation days can I carry over into the next year?", "up to 5 unused days", "handbook/02-annual-leave.md", "public"),
    ("Until when do I have to use carried-over vacation days?", "31 March", "handbook/02-annual-leave.md", "public"),
    ("Where do I request time off?", "PeopleHub", "handbook/02-annual-leave.md", "public"),
    ("From which day of illness do I need a doctor's certificate?", "4th calendar day", "handbook/03-sick-leave.md", "public"),
    ("By what time must I tell my manager that I'm sick?", "before 10:00", "handbook/03-sick-leave.md", "public"),
    ("What is the daily meal allowance on business trips?", "€50 per day", "handbook/04-expenses.md", "public"),
    ("Within how many days must I submit expense receipts?", "within 30 days", "handbook/04-expenses.md", "public"),
    ("Above which amount do expenses need approval in advance?", "€500", "handbook/04-expenses.md", "public"),
    ("Which tool do we use for expenses?", "Spendly", "handbook/04-expenses.md", "public"),
    ("How often are laptops replaced?", "every 3 years", "handbook/05-equipment.md", "public"),
    ("Which laptops can I choose from?", "MacBook Pro 14\" or Lenovo ThinkPad X1 Carbon", "slack/hr-help", "public"),
    ("How much is the home office equipment budget?", "€400", "handbook/05-equipment.md", "public"),
    ("How soon must I report a lost laptop or phone?", "within 24 hours", "handbook/05-equipment.md", "public"),
    ("How many days per week can I work from home?", "up to 3 days per week", "handbook/06-remote-work.md", "public"),
    ("What are the core working hours?", "10:00–15:00 CET", "handbook/06-remote-work.md", "public"),
    ("Is there a remote-work or internet stipend and how much is it?", "€30 per month", "handbook/06-remote-work.md", "public"),
    ("For how long can I work from another country?", "up to 20 working days per year", "handbook/06-remote-work.md", "public"),
    ("When is salary paid?", "last working day of each month", "handbook/07-payroll.md", "public"),
    ("When are payslips available?", "on the 25th", "slack/hr-help", "public"),
    ("By when must I change my bank details to apply the same month?", "by the 15th", "handbook/07-payroll.md", "public"),
    ("How much is the on-call stipend?", "€300 stipend per on-call week", "handbook/08-on-call.md", "public"),
    ("How quickly must a SEV1 page be acknowledged?", "within 15 minutes", "handbook/08-on-call.md", "public"),
    ("Which password manager do we use?", "VaultKey", "handbook/09-security.md", "public"),
    ("Where do I report a phishing e-mail?", "security@acme-robotics.example", "handbook/09-security.md", "public"),
    ("How long is the probation period?", "6 months", "handbook/10-onboarding.md", "public"),
    ("How long is parental leave for the primary caregiver?", "16 weeks of parental leave at full pay", "handbook/benefits-and-family-leave.pdf", "public"),
    ("How much parental leave do secondary caregivers get?", "4 weeks at full pay", "handbook/benefits-and-family-leave.pdf", "public"),
    ("How much does Acme contribute to the company pension?", "up to 4% of your gross salary", "handbook/benefits-and-family-leave.pdf", "public"),
    ("How big is the employee referral bonus?", "EUR 2,000", "handbook/benefits-and-family-leave.pdf", "public"),
    ("Does the health insurance cover dental care?", "dental care and glasses up to €300 every two years", "slack/hr-help", "public"),
    ("What is the yearly learning budget?", "€1,000 per year", "handbook/12-learning.md", "public"),
    ("How do I book business travel?", "Tripwise", "handbook/travel-policy.docx", "public"),
    ("What is the hotel limit per night in London?", "€220 per night in London, Paris, Zurich and New York", "handbook/travel-policy.docx", "public"),
    ("When can I book first class train tickets?", "longer than 3 hours", "handbook/travel-policy.docx", "public"),
    ("Is the Berlin office open on Easter Monday?", "Berlin is closed on Easter Monday (6 April)", "slack/hr-help", "public"),
    ("Which holidays close the Lisbon office in June?", "St Anthony's Day", "handbook/office-guide.html", "public"),
    ("Why does my docker build fail with no space left on device although df shows free space?", "docker builder prune -af", "slack/engineering", "public"),
    ("How do I reach the staging robots?", "WireGuard VPN", "slack/engineering", "public"),
    ("What gRPC deadline do we use for telemetry calls?", "5s for telemetry", "slack/engineering", "public"),
    ("Is there a planned reorganisation of the Robotics Platform team?", "merging the Robotics Platform team into Hardware under Priya, effective 1 June", "slack/leadership", "private"),
    ("What is the 2026 merit increase budget?", "4.5% of payroll", "slack/leadership", "private"),
    ("What is Project Falcon?", "acquisition of their AGV software unit", "slack/leadership", "private"),
    ("What is Daniel's new salary?", "€84,000", f"slack/{sc.DM_ID}", "private"),
    ("Do we get our birthday off?", None, "slack/hr-help", "public"),
    ("What is the company's policy on bringing dogs to the office?", None, "", "public"),
    ("Where can I find the Acme logo in vector format?", None, "slack/hr-help", "public"),
    ("What is the stock option vesting schedule?", None, "", "public"),
]


def write_questions(path: Path) -> None:
    lines = [json.dumps({"question": q, "answer": a, "source": s, "visibility": v}, ensure_ascii=False)
             for q, a, s, v in QUESTIONS]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


# ------------------------------------------------------------------ main
def generate(out: Path) -> None:
    """Write everything under `out`, replacing earlier generated output but leaving other files alone."""
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".generate-") as tmp:
        staging = Path(tmp)
        gold = write_slack_export(staging / "slack" / EXPORT_NAME)
        _dump_json(staging / "slack" / "engineering_conversations.json",
                   {"channel": "engineering", "note": "Gold labels for the un-threaded, interleaved exchanges: "
                    "each conversation lists the ts of its messages.", "conversations": gold})
        write_handbook(staging / "handbook")
        write_questions(staging / "questions.jsonl")
        # Swap each finished piece into place so an interrupted run never leaves half a sample behind.
        (out / "slack").mkdir(exist_ok=True)
        for rel in (f"slack/{EXPORT_NAME}", "slack/engineering_conversations.json", "handbook", "questions.jsonl"):
            target = out / rel
            if target.is_dir():
                shutil.rmtree(target)
            (staging / rel).replace(target)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="output directory (default: the sample/ folder)")
    args = parser.parse_args(argv)
    generate(args.out.resolve())
    print(f"wrote sample workspace to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
