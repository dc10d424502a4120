from app.db.models import Base
from app.db.session import make_engine, migrate, session_factory, session_scope

__all__ = ["Base", "make_engine", "migrate", "session_factory", "session_scope"]
