"""The web UI as a person uses it, in a real headless Chromium against real processes (API + `streamlit run ui/app.py`):
a reload keeps the user signed in — also after the UI process restarted — without any token in the URL, and a
signed-out visit to an admin page's address comes back to that page after sign-in; an "I don't know" answer is shown
as such, a cited document opens, and the feedback comment box opens inside the window."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.ui.conftest import new_stack
from tests.ui.browser import (PARKING_DOC, ask, assert_typed_admin_address_shows_no_admin_page, chromium,
                              require_chromium, settle, sign_in_with_key, wait_for_cookie)

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, onnx_cache):
    require_chromium()
    s = new_stack(tmp_path_factory.mktemp("session"), onnx_cache)
    try:
        s.start_api()
        s.start_ui()
        yield s
    finally:
        s.stop_all()


@pytest.fixture
def page(stack):
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        yield context.new_page()
        context.close()


def signed_in(page) -> bool:
    page.wait_for_function("() => document.body.innerText.includes('Signed in as') || "
                           "!!document.querySelector('[data-testid=\"stForm\"]')", timeout=30_000)
    settle(page)
    return "Signed in as" in page.locator("body").inner_text()


def test_reload_stays_signed_in_even_after_a_ui_restart_with_nothing_in_the_url(stack, page):
    url = stack.ui_url
    sign_in_with_key(page, url, stack.admin_key)
    wait_for_cookie(page)
    page.get_by_role("link", name="API keys").first.click()
    settle(page)
    assert page.url.rstrip("/").endswith("/keys"), page.url
    assert "?" not in page.url and stack.admin_key not in page.url
    cookie = next(c for c in page.context.cookies() if c["name"] == "teamlore_session")
    assert cookie["value"].startswith("tl_") and cookie["value"] != stack.admin_key  # a sign-in key, not the API key
    assert cookie["sameSite"] == "Strict"

    page.reload()
    assert signed_in(page)
    page.get_by_role("heading", name="API keys").first.wait_for(timeout=30_000)  # still on the admin page

    port = stack.ui_port
    stack.stop_ui()
    stack.start_ui(port=port)  # the UI process restarted: nothing of the session is left in its memory
    page.reload()
    assert signed_in(page), page.locator("body").inner_text()[:500]
    page.get_by_role("heading", name="API keys").first.wait_for(timeout=30_000)  # the page renders after the sign-in check

    # signing out ends it: the cookie goes and the sign-in key no longer works
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=30_000)
    settle(page)
    assert not any(c["name"] == "teamlore_session" and c["value"] for c in page.context.cookies())
    import httpx
    r = httpx.get(stack.api_url + "/v1/me", headers={"Authorization": f"Bearer {cookie['value']}"}, timeout=10)
    assert r.status_code == 401
    page.reload()
    assert not signed_in(page)


def test_signed_out_admin_page_address_returns_to_that_page_after_sign_in(stack, page):
    url = stack.ui_url
    page.goto(url + "/models")
    page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=30_000)
    assert "Page not found" not in page.locator("body").inner_text()
    sign_in_with_key(page, None, stack.admin_key)  # on the form shown at /models
    settle(page)
    assert page.url.rstrip("/").endswith("/models"), page.url
    assert any("Model versions" in h for h in page.get_by_role("heading").all_inner_texts()), \
        page.get_by_role("heading").all_inner_texts()


def test_a_dont_know_answer_and_a_cited_document_that_opens(stack, page):
    """The issue's "done when": the UI shows the "I don't know" answer, and a cited document opens."""
    doc = stack.root / "visitor-parking.md"
    doc.write_text(PARKING_DOC)
    stack.upload(doc)
    sign_in_with_key(page, stack.ui_url, stack.admin_key)

    answer = ask(page, "Is there a pet insurance benefit for our dogs?")
    assert "I don't know" in answer and "didn't guess" in answer, answer
    assert "bay 7" not in answer  # nothing quoted as if it answered

    answer = ask(page, "Where do visitors to the Zeta building park? (map: <http://maps.example/zeta>)")
    assert "bay 7" in answer and "[1]" in answer, answer
    # a URL in the question is shown as typed and links to itself, not to ".../zeta%5C%3E" with a "\>" on screen
    asked = page.get_by_test_id("stChatMessage").nth(-2)
    assert "<http://maps.example/zeta>)" in asked.inner_text(), asked.inner_text()
    assert [a.get_attribute("href") for a in asked.locator("a").all()] == ["http://maps.example/zeta"]
    source = page.get_by_test_id("stChatMessage").last.get_by_test_id("stExpander").first
    source.locator("summary").click()
    with page.expect_download(timeout=30_000) as download:
        source.get_by_role("button", name="Open document").click()
    assert download.value.suggested_filename == "visitor-parking.md"
    assert Path(download.value.path()).read_text() == PARKING_DOC  # the stored original, through the API

    # the feedback comment box opens inside the window (the issue: it ran off the right edge)
    last = page.get_by_test_id("stChatMessage").last
    last.locator("[data-testid=stFeedbackButton][aria-label='Thumbs down']").click()
    settle(page)
    last = page.get_by_test_id("stChatMessage").last
    last.get_by_text("Add a comment").click()
    box = last.get_by_role("textbox", name="What was good or wrong about this answer?")
    box.wait_for(timeout=15_000)
    bb = box.bounding_box()
    width = page.viewport_size["width"]
    assert bb and bb["x"] >= 0 and bb["x"] + bb["width"] <= width, (bb, width)


def test_a_user_typing_an_admin_address_stays_signed_in_and_sees_no_admin_page(stack, page):
    key = stack.create_key("vic", "user")
    sign_in_with_key(page, stack.ui_url, key)
    assert_typed_admin_address_shows_no_admin_page(page, stack.ui_url, "vic")
