"""How long migration 0006 (SQLite: the id tables re-created with AUTOINCREMENT) takes on a filled database, and
that it keeps every row. Builds a database at revision 0005 in a temp folder (20,000 documents with 2 kB of
sections, 50,000 conversations, 200,000 messages), then times `app.db.migrate` and a second, no-op start.

    PYTHONPATH=$PWD nice -n 10 python -m benchmarks.migration_0006_cost
"""
from __future__ import annotations

import sqlite3
import tempfile
import time
from pathlib import Path

from alembic import command

from app.db.session import alembic_config, migrate


def main(documents: int = 20_000, conversations: int = 50_000, messages: int = 200_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "teamlore.db"
        url = f"sqlite:///{path}"
        command.upgrade(alembic_config(url), "0005")
        now = "2026-01-01 00:00:00"
        c = sqlite3.connect(path)
        c.execute("insert into users (id, name, role, created_at, updated_at) values (1, 'ana', 'user', ?, ?)",
                  (now, now))
        c.execute("insert into sources (id, kind, name, config, checkpoint, created_at, updated_at) "
                  "values (1, 'docs', 'd', '{}', '{}', ?, ?)", (now, now))
        sections = '[{"text": "' + "x" * 2000 + '"}]'
        c.executemany("insert into documents (source_id, path, title, mime, content_hash, size_bytes, sections, "
                      "visibility, created_at, updated_at) values (1, ?, ?, 'text/markdown', ?, 3, ?, 'everyone', ?, ?)",
                      [(f"{i}.md", f"T{i}", "0" * 64, sections, now, now) for i in range(documents)])
        c.executemany("insert into conversations (user_id, title, channel, created_at, updated_at) "
                      "values (1, 't', 'web', ?, ?)", [(now, now)] * conversations)
        c.executemany("insert into messages (conversation_id, role, content, citations, chunk_ids, latency, "
                      "created_at) values (?, 'assistant', ?, '[]', '[]', '{}', ?)",
                      [(i % conversations + 1, "y" * 500, now) for i in range(messages)])
        c.commit()
        c.close()
        print(f"database at 0005: {path.stat().st_size / 2**20:.0f} MB")
        t = time.perf_counter()
        migrate(url)
        print(f"upgrade 0005 -> head: {time.perf_counter() - t:.2f} s")
        t = time.perf_counter()
        migrate(url)
        print(f"start with nothing to migrate: {time.perf_counter() - t:.2f} s")
        c = sqlite3.connect(path)
        got = {t: c.execute(f"select count(*) from {t}").fetchone()[0] for t in ("documents", "conversations",
                                                                                 "messages")}
        c.close()
        assert got == {"documents": documents, "conversations": conversations, "messages": messages}, got
        print("rows kept:", got)


if __name__ == "__main__":
    main()
