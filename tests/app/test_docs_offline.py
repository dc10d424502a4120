"""/docs and /redoc load every asset from the API itself: `make run` is offline, so no CDN."""
import re

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def sqlite_client(sqlite_settings):
    from app.api.main import create_app
    with TestClient(create_app(sqlite_settings)) as c:
        yield c


@pytest.mark.parametrize("page,assets", [("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}),
                                         ("/redoc", {"redoc.standalone.js"})])
def test_docs_pages_use_only_local_assets(sqlite_client, page, assets):
    html = sqlite_client.get(page)
    assert html.status_code == 200 and "text/html" in html.headers["content-type"]
    urls = set(re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html.text))
    assert urls, html.text
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))], urls  # nothing from another host
    for name in assets:
        url = next(u for u in urls if u.endswith(name))
        asset = sqlite_client.get(url)
        assert asset.status_code == 200 and len(asset.content) > 10_000, url
    assert sqlite_client.get("/openapi.json").json()["info"]["title"] == "Teamlore API"
