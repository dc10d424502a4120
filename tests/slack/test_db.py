"""The bot's database paths on SQLite and PostgreSQL: Slack user -> Teamlore user, feedback buttons on a stored
answer (the same Feedback table the UI writes), show sources, ask a human. No index needed."""
from __future__ import annotations

import threading

from sqlalchemy import func, select

from app.db import session_scope
from app.db.models import Conversation, Feedback, Message, User
from app.slack import blocks as bk
from app.slack.access import teamlore_user

HR_HELP, ERIK, LENA = "C0ACMEHRH", "U0ACME012", "U0ACME001"
CITATIONS = [{"n": 1, "title": "Annual leave", "url": "https://acme.slack.com/archives/C0ACMEHRH/p1", "source": "slack",
              "channel": "hr-help", "snippet": "up to 5 unused days, taken by 31 March"},
             {"n": 2, "title": "Handbook: Annual leave", "url": None, "source": "document", "page": 2,
              "snippet": "Carry-over is limited to five days."}]


def stored_answer(db_url: str) -> int:
    with session_scope(db_url) as s:
        conv = Conversation(title="carry over", channel="slack", external_key=f"{HR_HELP}:1.0")
        s.add(conv)
        s.flush()
        s.add(Message(conversation_id=conv.id, role="user", content="How many vacation days can I carry over?"))
        msg = Message(conversation_id=conv.id, role="assistant", content="Up to 5 [1][2]", citations=CITATIONS,
                      chunk_ids=[1, 2], mode="extractive")
        s.add(msg)
        s.flush()
        return msg.id


def test_first_sight_creates_one_user_even_when_racing(settings):
    results = []
    threads = [threading.Thread(target=lambda: results.append(teamlore_user(settings.db_url, "U0NEW0001")))
               for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({r.user_id for r in results}) == 1 and not results[0].is_admin
    with session_scope(settings.db_url) as s:
        users = s.scalars(select(User).where(User.slack_user_id == "U0NEW0001")).all()
        assert [(u.name, u.role) for u in users] == [("slack:U0NEW0001", "user")]


def test_feedback_buttons_store_rows_on_the_answer(bot_db):
    mid = stored_answer(bot_db.settings.db_url)

    def feedback():
        with session_scope(bot_db.settings.db_url) as s:
            return sorted((f.rating, f.origin, s.get(User, f.user_id).slack_user_id)
                          for f in s.scalars(select(Feedback).where(Feedback.message_id == mid)))

    click = dict(channel=HR_HELP, message_ts="1700000001.000001", thread_ts="1700000000.000001")
    assert bot_db.click(bk.FEEDBACK_UP, str(mid), user=ERIK, **click).status_code == 200
    bot_db.wait(lambda: feedback() == [(1, "slack", ERIK)], what="👍")
    bot_db.click(bk.FEEDBACK_DOWN, str(mid), user=ERIK, **click)
    bot_db.wait(lambda: feedback() == [(-1, "slack", ERIK)], what="👎 replaces 👍")
    bot_db.click(bk.FEEDBACK_UP, str(mid), user=LENA, **click)
    bot_db.wait(lambda: feedback() == [(-1, "slack", ERIK), (1, "slack", LENA)], what="second user")

    bot_db.click(bk.FEEDBACK_UP, "999999", user=LENA, **click)  # an answer that is gone: nothing stored
    bot_db.wait(lambda: any("no longer exists" in e["text"] for e in bot_db.fake.ephemerals), what="refusal")
    with session_scope(bot_db.settings.db_url) as s:
        assert s.scalar(select(func.count()).select_from(Feedback)) == 2


def test_show_sources_and_ask_a_human(bot_db):
    mid = stored_answer(bot_db.settings.db_url)
    root = bot_db.fake.post(HR_HELP, ERIK, "question")
    click = dict(channel=HR_HELP, message_ts=root, thread_ts=root)
    bot_db.click(bk.SHOW_SOURCES, str(mid), user=LENA, **click)
    shown = bot_db.wait(lambda: bot_db.fake.ephemerals, what="sources")[0]
    assert shown["user"] == LENA and shown["thread_ts"] == root
    text = " ".join(b["text"]["text"] for b in shown["blocks"] if b["type"] == "section")
    assert "<https://acme.slack.com/archives/C0ACMEHRH/p1|Annual leave>" in text and "Handbook: Annual leave" in text

    bot_db.click(bk.ASK_HUMAN, str(mid), user=ERIK, **click)
    ping = bot_db.wait(lambda: [m for m in bot_db.fake.messages[HR_HELP] if "subteam" in m["text"]], what="ping")[0]
    assert ping["text"].startswith("<!subteam^S0SUPPORT> <@U0ACME012>") and ping["thread_ts"] == root
    assert "How many vacation days can I carry over?" in ping["text"]
