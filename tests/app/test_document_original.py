"""A citation's "Open document" link: GET /v1/documents/{id}/original serves the stored original to whoever may
see the document, as a file that cannot run script on the API's origin."""
from __future__ import annotations

from sqlalchemy import select

from app.db import migrate, session_scope
from app.db.models import Document
from tests.app.conftest import auth


def _ingest(settings, path, visibility="everyone") -> int:
    from app.services.ingestion import ingest_documents
    migrate(settings.db_url)
    ingest_documents(settings, [path], source_name=f"docs-{visibility}", visibility=visibility)
    with session_scope(settings.db_url) as s:
        return s.scalar(select(Document.id).where(Document.path == str(path.resolve())))


def test_original_is_served_to_who_may_see_it(settings, client, user_key, admin_key, tmp_path):
    public = tmp_path / "leave policy.md"
    public.write_text("# Leave\n\nYou get 25 days of annual leave.\n", encoding="utf-8")
    secret = tmp_path / "salaries.md"
    secret.write_text("# Salaries\n\nBands for 2026.\n", encoding="utf-8")
    page = tmp_path / "page.html"
    page.write_text("<html><body><script>alert(1)</script><p>Office guide for everyone.</p></body></html>")
    pub_id, secret_id = _ingest(settings, public), _ingest(settings, secret, "group:leadership")
    html_id = _ingest(settings, page)

    r = client.get(f"/v1/documents/{pub_id}/original", headers=auth(user_key))
    assert r.status_code == 200 and "25 days of annual leave" in r.text
    assert r.headers["content-type"].startswith("text/markdown")
    assert "leave%20policy.md" in r.headers["content-disposition"] or "leave policy.md" in r.headers["content-disposition"]
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["content-security-policy"] == "sandbox"

    # a restricted document is as absent as a missing one to someone outside its group
    assert client.get(f"/v1/documents/{secret_id}/original", headers=auth(user_key)).status_code == 404
    assert client.get(f"/v1/documents/{secret_id}/original", headers=auth(admin_key)).status_code == 200
    assert client.get("/v1/documents/999999/original", headers=auth(user_key)).status_code == 404
    assert client.get(f"/v1/documents/{pub_id}/original").status_code == 401

    # stored HTML is a download, never a page rendered on the API's origin
    r = client.get(f"/v1/documents/{html_id}/original", headers=auth(user_key))
    assert r.status_code == 200 and r.headers["content-disposition"].startswith("attachment")

    # the original moved away: a clear 410, not a 500
    public.unlink()
    r = client.get(f"/v1/documents/{pub_id}/original", headers=auth(user_key))
    assert r.status_code == 410 and "no longer stored" in r.json()["error"]["message"]
