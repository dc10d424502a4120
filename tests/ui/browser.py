"""What the browser tests share: Debian's Chromium driven by Playwright (never a downloaded browser), waiting for a
Streamlit script run to finish, signing in, asking a question, and the document they upload."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PARKING_DOC = ("# Visitor parking\n\nVisitors to the Zeta building park in bay 7, behind the loading dock. "
               "Ask reception for a blue visitor permit before 9:30.\n")


def require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium")


@contextmanager
def chromium():
    """A headless Chromium browser, closed afterwards."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def settle(page, timeout_ms: int = 30_000) -> None:
    """Wait until Streamlit has finished the current script run."""
    page.wait_for_timeout(300)
    page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                           timeout=timeout_ms)


def sign_in_with_key(page, url: str | None, key: str) -> None:
    """Sign in with an API key on the sign-in form at `url` (None: the form the page shows now, which keeps the
    address the visitor asked for)."""
    if url is not None:
        page.goto(url)
    page.get_by_role("tab", name="API key").click()
    page.get_by_role("textbox", name="API key").fill(key)
    page.get_by_role("button", name="Sign in with key").click()
    page.get_by_text("Signed in as").wait_for(timeout=30_000)


def sign_in_with_password(page, url: str, user: str, password: str) -> None:
    page.goto(url)
    page.get_by_role("textbox", name="Username").fill(user)
    page.get_by_role("textbox", name="Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_text("Signed in as").wait_for(timeout=30_000)


def wait_for_cookie(page) -> None:
    """The sign-in cookie is written by a script of the first signed-in page run, a moment after it renders."""
    page.wait_for_function("() => document.cookie.includes('teamlore_session=tl_')", timeout=15_000)


def assert_typed_admin_address_shows_no_admin_page(page, ui_url: str, user: str) -> None:
    """A signed-in non-admin types the API keys page's address: a new browser session, signed in again from the
    cookie as the same user, and no admin page."""
    wait_for_cookie(page)
    page.goto(ui_url + "/keys")
    page.get_by_text("Signed in as").wait_for(timeout=30_000)
    settle(page)
    assert user in page.get_by_test_id("stSidebar").inner_text()
    assert not any("API keys" in h for h in page.get_by_role("heading").all_inner_texts())
    assert "API keys" not in page.get_by_test_id("stSidebarNav").inner_text()


def go(page, link: str) -> None:
    page.get_by_role("link", name=link).first.click()
    settle(page)


def ask(page, question: str) -> str:
    """Type a question, watch the answer stream in, and return the final answer's text."""
    before = page.get_by_test_id("stChatMessage").count()
    box = page.get_by_test_id("stChatInputTextArea")
    box.fill(question)
    box.press("Enter")
    # While streaming, the answer grows in a chat message; when the stream ends the page re-renders it from the
    # stored conversation with its sources, model caption and feedback buttons.
    page.wait_for_function(
        """n => { const m = document.querySelectorAll('[data-testid="stChatMessage"]');
                 return m.length >= n + 2 && m[m.length - 1].innerText.includes('Answered by'); }""",
        arg=before, timeout=90_000)
    settle(page)
    return page.get_by_test_id("stChatMessage").last.inner_text()
