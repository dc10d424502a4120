"""End to end in a real headless Chromium: the API, the job worker and `streamlit run ui/app.py`, each a real
process on a free port. Chromium comes from the OS (`apt-get install chromium`); Playwright only drives it.

Screenshots of every step go to test-artifacts/ui/ (git-ignored); the three main pages are also copied to
docs/screenshots/ for the README when TEAMLORE_UPDATE_SCREENSHOTS=1.
"""
from __future__ import annotations

import os
import shutil
import time
import zipfile
from pathlib import Path

import httpx
import pytest

from tests.ui.browser import (PARKING_DOC, ask, assert_typed_admin_address_shows_no_admin_page, chromium, go,
                              require_chromium, settle, sign_in_with_key, sign_in_with_password)
from tests.ui.conftest import SAMPLE, new_stack
from tests.ui.harness import REPO

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = REPO / "test-artifacts" / "ui"
README_SHOTS = REPO / "docs" / "screenshots"
USER_PASSWORD = "e2e user password"


def slack_export_zip(dest: Path) -> Path:
    """The sample workspace's Slack export, zipped the way Slack delivers it."""
    export = SAMPLE / "slack" / "acme-export"
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as z:
        for p in sorted(export.rglob("*")):
            if p.is_file():
                z.write(p, p.relative_to(export))
    return dest


@pytest.fixture(scope="module")
def stack(tmp_path_factory, onnx_cache):
    require_chromium()
    s = new_stack(tmp_path_factory.mktemp("e2e"), onnx_cache)
    try:
        s.start_api()
        s.start_worker()
        s.start_ui()
        s.create_key("erin", "user", password=USER_PASSWORD)
        # The sample workspace's Slack export (what the dataset is built from, and where #hr-help answers the
        # first question); the handbook is the AppTest suite's corpus, left out here to keep the run short.
        s.upload(slack_export_zip(s.root / "acme-slack-export.zip"))
        yield s
    finally:
        s.stop_all()
        for name in ("api", "worker", "ui"):
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            (ARTIFACTS / f"{name}.log").write_text(s.log(name)[-200_000:])


@pytest.fixture(scope="module")
def browser():
    with chromium() as b:
        yield b


def shot(page, name: str, readme: str | None = None) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.wait_for_timeout(400)  # let charts and fonts settle
    if readme:  # no leftover toast from an earlier step in the README's pictures
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stToast\"]')", timeout=15_000)
    page.screenshot(path=str(path), full_page=True)
    if readme and os.environ.get("TEAMLORE_UPDATE_SCREENSHOTS") == "1":
        README_SHOTS.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, README_SHOTS / readme)
    return path


def test_browser_end_to_end(stack, browser):
    page = browser.new_page(viewport={"width": 1440, "height": 960})
    try:
        scenario(stack, page)
    except BaseException:
        shot(page, "failure")  # what the browser showed when it went wrong
        raise
    finally:
        page.close()


def scenario(stack, page) -> None:
    url = stack.ui_url
    page.goto(url)
    page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=30_000)
    shot(page, "01-sign-in")

    # --- admin signs in with a key and asks a question: a streamed, cited answer ----------------------
    sign_in_with_key(page, url, stack.admin_key)
    answer = ask(page, "How many days of annual leave do I get per year?")
    assert "25 days" in answer, answer
    last = page.get_by_test_id("stChatMessage").last
    sources = last.get_by_test_id("stExpander")
    assert sources.count() >= 1
    first_source = sources.first
    assert "[1] " in first_source.inner_text()  # (after the icon's ligature text)
    first_source.locator("summary").click()
    assert "Answered by" in last.inner_text()
    last.locator("[data-testid=stFeedbackButton][aria-label='Thumbs up']").click()  # 👍 is stored with the answer
    page.get_by_text("Thanks for the feedback").wait_for(timeout=30_000)
    settle(page)
    with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.admin_key}"}) as api:
        conv = api.get("/v1/conversations").json()[0]
        answer_row = api.get(f"/v1/conversations/{conv['id']}").json()["messages"][-1]
    assert answer_row["role"] == "assistant" and answer_row["feedback"] == 1
    shot(page, "02-chat-answer", readme="chat.png")

    # --- upload a document and get an answer from it -------------------------------------------------
    go(page, "Upload & corpus")
    doc = stack.root / "visitor-parking.md"
    doc.write_text(PARKING_DOC)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(str(doc))
    page.get_by_role("button", name="Ingest 1 file").click()
    page.get_by_text("Last upload:").wait_for(timeout=120_000)
    settle(page, 120_000)
    result = page.get_by_test_id("stAlert").filter(has_text="visitor-parking.md")
    assert "ingested" in result.inner_text(), result.inner_text()
    assert "1 document" in page.locator("body").inner_text()  # the corpus listing counts it (the grid is a canvas)
    shot(page, "03-upload", readme="upload.png")

    go(page, "Chat")
    page.get_by_role("button", name="New chat").click()
    settle(page)
    answer = ask(page, "Where do visitors to the Zeta building park?")
    assert "bay 7" in answer, answer
    assert "parking" in page.get_by_test_id("stChatMessage").last.get_by_test_id("stExpander").first.inner_text().lower()
    shot(page, "04-chat-from-upload")

    # --- admin: build a dataset, retrain on the tiny model, watch it finish -------------------------
    go(page, "Datasets")
    page.get_by_text("Build a new dataset version").click()
    page.get_by_role("button", name="Build dataset").click()
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.admin_key}"}) as api:
        while not api.get("/v1/datasets").json():
            assert time.monotonic() < deadline, "the dataset build did not finish:\n" + stack.log("worker")[-3000:]
            time.sleep(1)
    go(page, "Datasets")
    shot(page, "05-datasets")

    go(page, "Retrain")
    page.get_by_role("spinbutton", name="Steps").fill("4")  # the "demo" size is the smallest model
    page.get_by_role("button", name="Start training").click()
    page.get_by_text("Training finished").wait_for(timeout=420_000)
    settle(page)
    page.get_by_text("Go to model versions").wait_for()
    assert "succeeded" in page.locator("body").inner_text()
    assert "is ready to compare and promote" in page.locator("body").inner_text()
    page.set_viewport_size({"width": 1440, "height": 1750})  # the whole live view: progress, charts, logs
    settle(page)
    shot(page, "06-retrain-finished", readme="admin.png")
    page.set_viewport_size({"width": 1440, "height": 960})

    # --- promote the new version, with confirmation -----------------------------------------------
    go(page, "Model versions")
    page.get_by_role("button", name="Promote…").click()
    page.get_by_text("It will answer every question from now on").wait_for()
    page.get_by_role("button", name="Yes, promote").click()
    settle(page)
    with httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {stack.admin_key}"}) as api:
        live = [v for v in api.get("/v1/model-versions").json() if v["status"] == "live"]
    assert len(live) == 1
    page.get_by_text(live[0]["name"]).first.wait_for()
    shot(page, "07-models-promoted")

    # --- a non-admin signs in: no admin pages --------------------------------------------------------
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="Sign in", exact=True).wait_for(timeout=30_000)
    sign_in_with_password(page, url, "erin", USER_PASSWORD)
    nav = page.get_by_test_id("stSidebarNav").inner_text()
    assert "Chat" in nav and "Upload" in nav
    for admin_page in ("Retrain", "Model versions", "API keys", "Usage", "Datasets", "Admin"):
        assert admin_page not in nav
    shot(page, "08-user-no-admin")
    assert_typed_admin_address_shows_no_admin_page(page, url, "erin")  # a typed URL reaches no admin page either
