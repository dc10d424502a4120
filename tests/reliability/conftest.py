import pytest
from fastapi.testclient import TestClient

from app.db import session_scope
from app.security import create_api_key, get_or_create_user


def make_key(settings, user: str, role: str = "user") -> str:
    with session_scope(settings.db_url) as s:
        u = get_or_create_user(s, user, role=role)
        _, key = create_api_key(s, u, "test")
    return key


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def client(sqlite_settings):
    from app.api.main import create_app
    with TestClient(create_app(sqlite_settings), raise_server_exceptions=False) as c:
        yield c
