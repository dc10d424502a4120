"""Schema and migrations on both SQLite (embedded default) and PostgreSQL (production)."""
import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from app.db import make_engine, migrate, session_scope
from app.db.models import ApiKey, Conversation, Message, User


def test_migrations_create_schema_and_are_idempotent(db_url):
    migrate(db_url)
    migrate(db_url)  # a second start is a no-op
    eng = make_engine(db_url)
    tables = set(inspect(eng).get_table_names())
    assert "correction" in {c["name"] for c in inspect(eng).get_columns("feedback")}
    for t in ["sources", "documents", "chunks", "slack_messages", "slack_channels", "dataset_versions", "jobs",
              "training_metrics", "model_versions", "conversations", "messages", "feedback", "users",
              "api_keys", "audit_events", "ingestion_runs"]:
        assert t in tables, t
    with eng.connect() as c:
        from alembic.script import ScriptDirectory
        from app.db.session import alembic_config
        head = ScriptDirectory.from_config(alembic_config(db_url)).get_current_head()
        assert c.execute(text("select version_num from alembic_version")).scalar() == head
    eng.dispose()


def test_older_schema_is_migrated_on_start(db_url):
    from alembic import command
    from app.db.session import alembic_config
    migrate(db_url)
    command.downgrade(alembic_config(db_url), "base")
    eng = make_engine(db_url)
    assert "users" not in inspect(eng).get_table_names()
    eng.dispose()
    migrate(db_url)
    eng = make_engine(db_url)
    assert "users" in inspect(eng).get_table_names()
    eng.dispose()


def test_roundtrip_and_cascade(db_url):
    migrate(db_url)
    with session_scope(db_url) as s:
        u = User(name="ana", role="admin")
        s.add(u)
        s.flush()
        s.add(ApiKey(user_id=u.id, name="k", prefix="tl_abc", key_hash="h" * 64))
        conv = Conversation(user_id=u.id, title="t")
        conv.messages.append(Message(role="user", content="hi", citations=[{"n": 1}]))
        s.add(conv)
    with session_scope(db_url) as s:
        conv = s.query(Conversation).one()
        assert conv.messages[0].citations == [{"n": 1}]
        s.delete(conv)
    with session_scope(db_url) as s:
        assert s.query(Message).count() == 0
        assert s.query(ApiKey).one().user.name == "ana"


def test_upgrading_an_existing_database_keeps_its_rows(db_url):
    """Upgrades re-create altered tables on SQLite (batch mode): with foreign keys on, dropping the old `sources`
    table cascaded into `documents` and the Slack tables and emptied them. Every row must survive an upgrade."""
    from alembic import command
    from app.db.session import alembic_config
    command.upgrade(alembic_config(db_url), "0001")
    eng = make_engine(db_url)
    now = "2026-01-01 00:00:00"
    with eng.begin() as c:
        c.execute(text("insert into sources (id, kind, name, config, checkpoint, created_at, updated_at) "
                       "values (1, 'documents', 'docs', '{}', '{}', :t, :t)"), {"t": now})
        c.execute(text("insert into documents (id, source_id, path, title, mime, content_hash, size_bytes, sections,"
                       " visibility, created_at, updated_at) values (1, 1, 'a.md', 'A', 'text/markdown', :h, 3, "
                       "'[]', 'everyone', :t, :t)"), {"t": now, "h": "0" * 64})
        c.execute(text("insert into slack_channels (id, source_id, channel_id, name, kind, members, created_at, "
                       "updated_at) values (1, 1, 'C1', 'general', 'public', '[]', :t, :t)"), {"t": now})
    eng.dispose()
    migrate(db_url)
    eng = make_engine(db_url)
    with eng.connect() as c:
        assert c.execute(text("select count(*) from documents")).scalar() == 1
        assert c.execute(text("select count(*) from slack_channels")).scalar() == 1
        assert c.execute(text("select count(*) from sources")).scalar() == 1
    eng.dispose()


def test_upgrade_removes_the_old_extractive_notice_from_stored_answers(db_url):
    """Answers stored by versions that put the extractive notice in front of the text are stored without it (the
    clients no longer strip it; which answerer answered is the message's mode)."""
    from alembic import command
    from app.db.session import alembic_config
    notice = "_Extractive answer (no generative model configured): the most relevant sentences from the sources._"
    command.upgrade(alembic_config(db_url), "0003")
    eng = make_engine(db_url)
    now = "2026-01-01 00:00:00"
    with eng.begin() as c:
        c.execute(text("insert into users (id, name, role, created_at, updated_at) values (1, 'ana', 'user', :t, :t)"), {"t": now})
        c.execute(text("insert into conversations (id, user_id, title, channel, created_at, updated_at) "
                       "values (1, 1, 't', 'web', :t, :t)"), {"t": now})
        for i, (role, content) in enumerate([("assistant", notice + "\n\n> Leave is 25 days. [1]\n\n"),
                                             ("assistant", "A generated answer [1]"),
                                             ("user", notice + " is what you wrote, quoted")], start=1):
            c.execute(text("insert into messages (id, conversation_id, role, content, citations, chunk_ids, latency,"
                           " created_at) values (:i, 1, :r, :c, '[]', '[]', '{}', :t)"),
                      {"i": i, "r": role, "c": content, "t": now})
    eng.dispose()
    migrate(db_url)
    eng = make_engine(db_url)
    with eng.connect() as c:
        got = dict(c.execute(text("select id, content from messages")).all())
    eng.dispose()
    assert got == {1: "> Leave is 25 days. [1]\n\n", 2: "A generated answer [1]",
                   3: notice + " is what you wrote, quoted"}


def test_timestamps_read_back_in_utc_on_every_database(client, user_key):
    """SQLite drops the offset of a stored timestamp: the API then sent `2026-12-07T19:27:22` (read as local time
    by clients) for the row it had just returned as `…Z`. Read back, a timestamp is UTC on every database."""
    from datetime import datetime
    from tests.app.conftest import auth
    made = client.post("/v1/conversations", headers=auth(user_key), json={"title": "t"}).json()
    listed = next(c for c in client.get("/v1/conversations", headers=auth(user_key)).json() if c["id"] == made["id"])
    for value in (listed["created_at"], listed["updated_at"]):
        assert datetime.fromisoformat(value.replace("Z", "+00:00")).utcoffset() is not None, value
    assert datetime.fromisoformat(listed["created_at"].replace("Z", "+00:00")) == \
        datetime.fromisoformat(made["created_at"].replace("Z", "+00:00"))


def _one_document(s, path: str) -> int:
    from app.db.models import Document, Source
    src = s.query(Source).filter_by(name="docs").one_or_none()
    if src is None:
        src = Source(kind="docs", name="docs", config={}, checkpoint={})
        s.add(src)
        s.flush()
    doc = Document(source_id=src.id, path=path, title=path, mime="text/markdown", content_hash="0" * 64)
    s.add(doc)
    s.flush()
    return doc.id


def test_a_deleted_rows_id_is_never_handed_out_again(db_url):
    """SQLite without AUTOINCREMENT gave the newest row's id, once deleted, to the next new row: a repeated
    DELETE /v1/documents/42 then deleted the new document 42 (PostgreSQL sequences never go back)."""
    from app.db.models import Document
    migrate(db_url)
    with session_scope(db_url) as s:
        first = _one_document(s, "a.md")
    with session_scope(db_url) as s:
        s.delete(s.get(Document, first))
    with session_scope(db_url) as s:
        assert _one_document(s, "b.md") != first
        u = User(name="ana")
        s.add(u)
        s.flush()
        old_user = u.id
        s.delete(u)
        s.flush()
        s.add(User(name="bo"))
        s.flush()
        assert s.query(User).one().id != old_user


def test_upgrade_to_ids_never_reused_keeps_rows_and_their_ids(db_url):
    """Migration 0006 re-creates the tables on SQLite (AUTOINCREMENT): every row keeps its id, the constraints
    stay, and the next new id is above every id the table held."""
    from alembic import command
    from app.db.models import Document
    from app.db.session import alembic_config
    command.upgrade(alembic_config(db_url), "0005")
    with session_scope(db_url) as s:
        ids = [_one_document(s, f"{i}.md") for i in range(3)]
        u = User(name="ana", role="admin")
        s.add(u)
        s.flush()
        s.add(ApiKey(user_id=u.id, name="k", prefix="tl_abc", key_hash="h" * 64))
        conv = Conversation(user_id=u.id, title="t")
        conv.messages.append(Message(role="user", content="hi"))
        s.add(conv)
    with session_scope(db_url) as s:
        s.delete(s.get(Document, ids[-1]))  # deleted before the upgrade: the one id it may still hand out again
    migrate(db_url)
    with session_scope(db_url) as s:
        assert sorted(d.id for d in s.query(Document)) == ids[:2]
        assert s.query(ApiKey).one().user.name == "ana"
        assert [m.content for m in s.query(Conversation).one().messages] == ["hi"]
        s.delete(s.get(Document, ids[1]))
    with session_scope(db_url) as s:
        assert _one_document(s, "new.md") > ids[1]
    eng = make_engine(db_url)
    with eng.connect() as c, pytest.raises(IntegrityError):  # the unique constraint came through the copy
        c.execute(text("insert into api_keys (user_id, name, prefix, key_hash, kind, created_at, updated_at) "
                       "values (1, 'k2', 'p', :h, 'api', '2026-01-01', '2026-01-01')"), {"h": "h" * 64})
    eng.dispose()
