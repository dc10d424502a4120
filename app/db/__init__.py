from app.db.models import Base
from app.db.session import lock_rows, make_engine, migrate, session_factory, session_scope

__all__ = ["Base", "lock_rows", "make_engine", "migrate", "session_factory", "session_scope"]
