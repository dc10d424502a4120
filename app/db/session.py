"""Engine, sessions and migrate-on-start."""
from __future__ import annotations

from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


# Connection pool per process; the API sets it from settings (db_pool_size, db_max_overflow, db_pool_timeout_s)
# before its first session. A pool timeout is answered 429 (busy, retry), never 500.
POOL = {"pool_size": 20, "max_overflow": 20, "pool_timeout": 10.0}


def configure_pool(pool_size: int, max_overflow: int, pool_timeout: float) -> None:
    """Size the pools of engines made from now on (engines already made keep theirs)."""
    POOL.update(pool_size=pool_size, max_overflow=max_overflow, pool_timeout=pool_timeout)


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        pool = {} if ":memory:" in url or url in ("sqlite://", "sqlite:///") else dict(POOL)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _):  # WAL: readers never block the single writer
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
        return engine
    # pool_pre_ping: a restarted PostgreSQL costs one failed checkout, not a restart of Teamlore
    return create_engine(url, pool_pre_ping=True, **POOL)


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def migrate(url: str) -> None:
    """Bring the database at `url` to the newest schema (a no-op when it is there already)."""
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


@lru_cache(maxsize=8)
def _factory(url: str) -> sessionmaker[Session]:
    return sessionmaker(bind=make_engine(url), expire_on_commit=False)


def session_factory(url: str) -> sessionmaker[Session]:
    return _factory(url)


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    session = _factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def lock_rows(session: Session, model, *where) -> None:
    """Serialise a read-then-write (count the admins, then demote one; find the live version, then replace it)
    against callers doing the same, so that what this session reads next includes their committed change.
    PostgreSQL: the rows of `model` matching `where`, locked in id order (two callers never deadlock); SQLite, which
    has one writer: the database's write lock, taken with an update that matches nothing."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(model).where(model.id == -1).values(id=model.id))
    else:
        session.execute(select(model.id).where(*where).order_by(model.id).with_for_update())
