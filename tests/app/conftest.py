import pytest
from fastapi.testclient import TestClient

from app.db import session_scope
from app.security import create_api_key, get_or_create_user


def make_key(settings, user: str, role: str = "user", slack_user_id: str | None = None) -> str:
    with session_scope(settings.db_url) as s:
        u = get_or_create_user(s, user, role=role)
        if slack_user_id:
            u.slack_user_id = slack_user_id
        _, key = create_api_key(s, u, "test")
    return key


@pytest.fixture
def client(settings):
    from app.api.main import create_app
    with TestClient(create_app(settings)) as c:
        yield c


@pytest.fixture
def admin_key(settings):
    return make_key(settings, "root", "admin")


@pytest.fixture
def user_key(settings):
    return make_key(settings, "ana", "user")


def auth(key: str) -> dict:
    return {"Authorization": f"Bearer {key}"}
