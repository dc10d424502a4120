"""Each page's logic under streamlit.testing.v1.AppTest, against a running test API (see conftest.py)."""
from __future__ import annotations

import httpx
import pytest
from streamlit.testing.v1 import AppTest

from tests.ui.conftest import USER_PASSWORD, new_stack
from tests.ui.harness import REPO, free_port
from ui.presenters import flatten_metrics

APP = str(REPO / "ui" / "app.py")
ADMIN_PAGES = ["views/admin_sources.py", "views/admin_datasets.py", "views/admin_training.py",
               "views/admin_models.py", "views/admin_keys.py", "views/admin_usage.py", "views/admin_feedback.py"]


def new_app() -> AppTest:
    return AppTest.from_file(APP, default_timeout=60)


def submit(at: AppTest, label: str) -> AppTest:
    button = next(b for b in at.button if b.label == label)
    button.click()
    return at.run()


def sign_in_with_key(key: str) -> AppTest:
    at = new_app().run()
    at.text_input(key="login_api_key").set_value(key)
    return submit(at, "Sign in with key")


def texts(at: AppTest, kind: str) -> list[str]:
    return [str(e.value) for e in getattr(at, kind)]


def all_markdown(at: AppTest) -> str:
    return "\n".join(texts(at, "markdown") + texts(at, "caption"))


def no_exceptions(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]


def api(stack, key: str) -> httpx.Client:
    return httpx.Client(base_url=stack.api_url, headers={"Authorization": f"Bearer {key}"}, timeout=300)


def thumbs_down(stack, question: str, source_title: str, comment: str) -> None:
    """The first user asked `question`, got an answer citing `source_title`, and rated it 👎 with `comment`."""
    from sqlalchemy import select

    from app.db import session_scope
    from app.db.models import Conversation, Feedback, Message, User
    with session_scope(stack.db_url) as s:
        user = s.scalar(select(User).order_by(User.id))
        conv = Conversation(user_id=user.id, title="q", channel="web")
        conv.messages.append(Message(role="user", content=question))
        answer = Message(role="assistant", content="It is in the cafeteria.", mode="extractive",
                         citations=[{"n": 1, "title": source_title, "url": None}])
        conv.messages.append(answer)
        s.add(conv)
        s.flush()
        s.add(Feedback(message_id=answer.id, user_id=user.id, rating=-1, comment=comment, origin="web"))


# --- sign-in and roles ---------------------------------------------------------------------------------

def test_password_sign_in_wrong_then_right(api_env):
    at = new_app().run()
    no_exceptions(at)
    at.text_input(key="login_username").set_value("alice")
    at.text_input(key="login_password").set_value("not the password")
    submit(at, "Sign in")
    assert any("wrong username or password" in e for e in texts(at, "error")), texts(at, "error")
    assert at.session_state.get("auth") is None

    at.text_input(key="login_password").set_value(USER_PASSWORD)
    submit(at, "Sign in")
    no_exceptions(at)
    assert at.session_state["auth"]["user"]["name"] == "alice"
    assert at.session_state["auth"]["api_key"].startswith("tl_")
    assert "Ask Teamlore" in texts(at, "title")[0]


def test_reload_keeps_the_user_signed_in_from_a_cookie_never_the_url(api_env, monkeypatch):
    at = sign_in_with_key(api_env.admin_key)
    no_exceptions(at)
    # the UI keeps a short-lived sign-in key, not the API key it was signed in with, and the URL carries nothing
    key = at.session_state["auth"]["api_key"]
    assert key.startswith("tl_") and key != api_env.admin_key
    assert not dict(at.query_params), dict(at.query_params)
    with httpx.Client(base_url=api_env.api_url, headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.get("/v1/me").json()["role"] == "admin"
    # the browser is told to keep it in a cookie (the element runs `document.cookie = …`)
    cookie_js = [str(e.proto) for e in at.sidebar.get("html")]
    assert any("teamlore_session=" + key in js and "SameSite=Strict" in js for js in cookie_js), cookie_js
    # a browser reload is a new session that sends the cookie: still signed in, and the admin page is there
    import ui.common
    monkeypatch.setattr(ui.common, "_browser_cookie", lambda: key)
    again = new_app().run()
    no_exceptions(again)
    assert again.session_state["auth"]["user"]["role"] == "admin"
    again.switch_page("views/admin_keys.py").run()
    no_exceptions(again)
    assert any("API keys" in t for t in texts(again, "title")), texts(again, "title")
    # signing out revokes the sign-in key and deletes the cookie: the same cookie now asks to sign in
    next(b for b in again.sidebar.button if b.key == "sign_out").click().run()
    assert any("Max-Age=0" in str(e.proto) for e in again.sidebar.get("html"))
    with httpx.Client(base_url=api_env.api_url, headers={"Authorization": f"Bearer {key}"}) as c:
        assert c.get("/v1/me").status_code == 401
    after = new_app().run()
    assert after.session_state.get("auth") is None
    assert any(b.label == "Sign in with key" for b in after.button)


def test_user_role_sees_no_admin_pages(api_env):
    at = sign_in_with_key(api_env.user_key)
    no_exceptions(at)
    assert at.session_state["auth"]["user"]["role"] == "user"
    at.switch_page("views/upload.py").run()  # workspace pages are there
    assert "Upload & corpus" in texts(at, "title")[0]
    for page in ADMIN_PAGES:
        with pytest.raises(ValueError, match="Could not find a navigation page"):
            at.switch_page(page)


def test_admin_role_sees_admin_pages(api_env):
    at = sign_in_with_key(api_env.admin_key)
    assert at.session_state["auth"]["user"]["role"] == "admin"
    for page, title in zip(ADMIN_PAGES, ["Sources", "Datasets", "Retrain", "Model versions", "API keys", "Usage",
                                          "Feedback"]):
        at.switch_page(page).run()
        no_exceptions(at)
        assert title in texts(at, "title")[0]


def test_bad_key_is_refused_with_a_message(api_env):
    at = sign_in_with_key("tl_this_key_does_not_exist")
    assert at.session_state.get("auth") is None
    assert any("invalid or revoked" in e.lower() for e in texts(at, "error")), texts(at, "error")


def test_api_down_shows_a_message_not_a_traceback(api_env, monkeypatch):
    at = sign_in_with_key(api_env.user_key)
    monkeypatch.setenv("TEAMLORE_API_URL", f"http://127.0.0.1:{free_port()}")
    at.run()
    no_exceptions(at)
    assert any("Can't reach the Teamlore API" in e for e in texts(at, "error")), texts(at, "error")


def test_revoked_key_returns_to_sign_in(api_env):
    key = api_env.create_key("bob", "user")
    at = sign_in_with_key(key)
    assert at.session_state["auth"]["user"]["name"] == "bob"
    with api_env.admin() as c:
        # the API key bob signed in with (the UI holds a sign-in key exchanged for it: revoking the key ends both)
        key_id = next(k["id"] for k in c.get("/v1/keys").json() if k["user"] == "bob" and k["kind"] == "api"
                      and not k["revoked_at"])
        c.delete(f"/v1/keys/{key_id}").raise_for_status()
    at.run()
    no_exceptions(at)
    assert at.session_state.get("auth") is None
    assert any("sign in again" in i.lower() for i in texts(at, "info")), texts(at, "info")


# --- chat ----------------------------------------------------------------------------------------------

def test_chat_streams_a_cited_answer_with_feedback_rename_delete(api_env, corpus):
    at = sign_in_with_key(api_env.user_key)
    at.chat_input(key="question").set_value("How many days of annual leave do I get per year?").run()
    no_exceptions(at)
    assert not texts(at, "error"), texts(at, "error")
    conv_id = at.session_state["conversation_id"]
    assert conv_id is not None
    # After the stream the page re-renders from the stored conversation: question, answer, sources.
    roles = [m.name for m in at.chat_message]
    assert roles[-2:] == ["user", "assistant"]
    answer = at.chat_message[-1]
    assert "25" in "\n".join(str(m.value) for m in answer.markdown)
    labels = [e.label for e in answer.expander]
    assert labels and labels[0].startswith("[1] "), labels
    assert any("annual" in label.lower() or "leave" in label.lower() for label in labels), labels
    assert any("Answered by" in c.value for c in answer.caption)
    assert any("Extractive answer" in i.value for i in answer.info)  # the test API runs the extractive answerer
    # each cited document opens: the button fetches the stored original through the API (permission-checked)
    opens = [el for el in answer.get("download_button") if "Open document" in str(el.proto.label)]
    assert opens, "no Open document button"
    with api(api_env, api_env.user_key) as c:
        doc_id = c.get(f"/v1/conversations/{conv_id}").json()["messages"][-1]["citations"][0]["document_id"]
        original = c.get(f"/v1/documents/{doc_id}/original")
    assert original.status_code == 200 and original.content
    # The conversation is listed in the sidebar.
    assert any(b.key == f"conv_{conv_id}" for b in at.sidebar.button)

    # 👍 is stored on the answer.
    at.feedback[-1].set_value(1).run()
    no_exceptions(at)
    with api(api_env, api_env.user_key) as c:
        messages = c.get(f"/v1/conversations/{conv_id}").json()["messages"]
    assert messages[-1]["role"] == "assistant" and messages[-1]["feedback"] == 1

    # Rename, then delete.
    at.text_input(key=f"rename_{conv_id}").set_value("Leave questions")
    at.button(key="rename_save").click().run()
    assert at.header[0].value == "Leave questions"
    at.button(key="delete_confirm").click().run()
    no_exceptions(at)
    assert at.session_state["conversation_id"] is None
    with api(api_env, api_env.user_key) as c:
        assert all(cv["id"] != conv_id for cv in c.get("/v1/conversations").json())


def test_chat_nothing_relevant_notice(api_env, corpus):
    at = sign_in_with_key(api_env.user_key)
    at.chat_input(key="question").set_value("What is the airspeed velocity of an unladen swallow?").run()
    no_exceptions(at)
    answer = at.chat_message[-1]
    assert any("sources don't answer this" in w.value for w in answer.warning), [w.value for w in answer.warning]
    # the answer itself says so, naming the closest sources instead of quoting something unrelated
    shown = "\n".join(str(m.value) for m in answer.markdown)
    assert "I don't know" in shown and "> " not in shown, shown


# --- upload ------------------------------------------------------------------------------------------------

def test_upload_lists_and_deletes_a_document(api_env, corpus, tmp_path):
    at = sign_in_with_key(api_env.user_key)
    at.switch_page("views/upload.py").run()
    no_exceptions(at)
    assert any(m.label == "Chunks" for m in at.metric)
    doc = b"# Parking policy\n\nVisitors park in bay 7 behind the Zeta building. Staff need a red permit.\n"
    at.file_uploader[0].set_value([("parking-policy.md", doc, "text/markdown"),
                                   ("empty.txt", b"", "text/plain")]).run()
    submit(at, "Ingest 2 files")
    no_exceptions(at)
    results = at.session_state["upload_results"]
    by_name = {r["filename"]: r for r in results}
    assert by_name["parking-policy.md"]["status"] == "ingested", results
    assert by_name["empty.txt"]["status"] == "rejected" and by_name["empty.txt"].get("reason"), results
    assert any("parking-policy.md" in s for s in texts(at, "success"))
    assert any("empty.txt" in e for e in texts(at, "error"))

    # the corpus lists every document the user may read, but only their own upload is offered for deletion
    assert len(at.dataframe[0].value["Title"].tolist()) > 1
    offered = at.multiselect(key="delete_docs").options
    assert len(offered) == 1 and "parking" in offered[0].lower(), offered
    at.text_input(key="doc_query").set_value("parking").run()
    titles = at.dataframe[0].value["Title"].tolist()
    assert len(titles) == 1 and "parking" in titles[0].lower(), titles
    # pick the only listed document, confirm, delete
    ms = at.multiselect(key="delete_docs")
    ms.select(ms.options[0]).run()
    at.checkbox(key="delete_docs_confirm").check().run()
    at.button(key="delete_docs_button").click().run()
    no_exceptions(at)
    with api(api_env, api_env.user_key) as c:
        assert c.get("/v1/documents", params={"q": "parking"}).json() == []


# --- admin -------------------------------------------------------------------------------------------------

def test_admin_keys_create_shown_once_and_revoke(api_env):
    at = sign_in_with_key(api_env.admin_key)
    at.switch_page("views/admin_keys.py").run()
    at.text_input(key="key_name").set_value("ci-bot")
    at.text_input(key="key_user").set_value("ci")
    submit(at, "Create key")
    no_exceptions(at)
    shown = [c.value for c in at.code]
    assert len(shown) == 1 and shown[0].startswith("tl_")
    new_key = shown[0]
    with api(api_env, new_key) as c:
        assert c.get("/v1/me").json()["name"] == "ci"
    at.button(key="dismiss_key").click().run()
    assert not [c.value for c in at.code]  # shown once
    listing = at.dataframe[0].value
    assert "ci-bot" in listing["Name"].tolist()
    assert new_key not in listing.to_string()  # only the prefix is listed

    key_id = next(k["id"] for k in api_env.admin().get("/v1/keys").json() if k["name"] == "ci-bot")
    at.selectbox(key="revoke_pick").set_value(key_id)
    at.checkbox(key="revoke_confirm").check().run()
    at.button(key="revoke_button").click().run()
    no_exceptions(at)
    with api(api_env, new_key) as c:
        assert c.get("/v1/me").status_code == 401


def test_admin_usage_charts(api_env, corpus):
    with api(api_env, api_env.user_key) as c:
        c.post("/v1/chat/completions", json={"messages": [{"role": "user", "content": "Where do I request time off?"}]}
               ).raise_for_status()
    at = sign_in_with_key(api_env.admin_key)
    at.switch_page("views/admin_usage.py").run()
    no_exceptions(at)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Questions"].replace(",", "")) >= 1
    assert metrics["Median latency"].endswith("ms")


@pytest.fixture(scope="module")
def admin_stack(tmp_path_factory, onnx_cache):
    """An API of its own for the admin pages that change global state (live model, datasets, jobs), with the
    sample Slack export ingested and a dataset version built, as `teamlore ingest` + `teamlore dataset` do."""
    from app.services.datasets import build_dataset
    from app.services.ingestion import ingest_slack_export
    from app.settings import load_settings
    from tests.ui.conftest import SAMPLE
    stack = new_stack(tmp_path_factory.mktemp("admin_api"), onnx_cache)
    try:
        stack.start_api()
        settings = load_settings(data_dir=stack.data_dir, database_url=stack.db_url)
        ingest_slack_export(settings, SAMPLE / "slack" / "acme-export", source_name="sample-slack")
        stack.dataset_version = build_dataset(settings)["version"]
        yield stack
    finally:
        stack.stop_all()


def test_admin_datasets_report_plots_and_review(admin_stack, monkeypatch):
    monkeypatch.setenv("TEAMLORE_API_URL", admin_stack.api_url)
    at = sign_in_with_key(admin_stack.admin_key)
    at.switch_page("views/admin_datasets.py").run()
    no_exceptions(at)
    assert at.selectbox(key="ds_version").value == admin_stack.dataset_version
    tiles = {m.label: m.value for m in at.metric}
    assert int(tiles["Examples"].replace(",", "")) > 10 and int(tiles["Channels"]) >= 3
    assert not texts(at, "error"), texts(at, "error")
    assert len(at.image) >= 3  # examples per channel, length histogram, quality ...
    reject = next(b for b in at.button if (b.key or "").startswith("rej_"))
    example_id = reject.key.removeprefix("rej_")
    reject.click().run()
    no_exceptions(at)
    with admin_stack.admin() as c:
        page = c.get(f"/v1/datasets/{admin_stack.dataset_version}/examples", params={"limit": 10}).json()
    rows = page["examples"] if isinstance(page, dict) else page
    assert next(r for r in rows if r["id"] == example_id)["review"] in ("rejected", False)
    assert {m.label: m.value for m in at.metric}["Rejected"] == "1"


def test_admin_training_submit_watch_cancel(admin_stack, monkeypatch):
    """No worker runs here: the job stays queued, which the live view shows, until it is cancelled."""
    monkeypatch.setenv("TEAMLORE_API_URL", admin_stack.api_url)
    at = sign_in_with_key(admin_stack.admin_key)
    at.switch_page("views/admin_training.py").run()
    no_exceptions(at)
    assert at.selectbox(key="train_dataset").value == admin_stack.dataset_version
    assert at.segmented_control(key="train_method").value == "Pretrain a small model"
    at.selectbox(key="train_size").set_value("tiny")
    at.number_input(key="train_steps").set_value(7)
    submit(at, "Start training")
    no_exceptions(at)
    job_id = at.session_state["watch_job"]
    with admin_stack.admin() as c:
        job = c.get(f"/v1/jobs/{job_id}").json()
    assert job["kind"] == "train" and job["status"] == "queued"
    sent = flatten_metrics(job["params"])  # the API's own parameter layout; the form's values must be in it
    assert sent["steps"] == 7 and sent["size"] == "tiny"
    assert admin_stack.dataset_version in sent.values()
    assert at.progress[0].value == 0 and "queued" in at.progress[0].text
    warning = " ".join(w.value for w in at.warning)
    assert "No job worker is running" in warning and "teamlore worker" in warning, warning
    at.button(key=f"cancel_{job_id}").click().run()
    at.run()
    no_exceptions(at)
    with admin_stack.admin() as c:
        assert c.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert any("cancelled" in w for w in texts(at, "warning"))


def test_admin_models_compare_promote_rollback(admin_stack, monkeypatch):
    """Promoting changes which model answers, so this runs on its own API, not the shared one."""
    from app.db import session_scope
    from app.services.registry import register_version
    stack = admin_stack
    with session_scope(stack.db_url) as s:
        # What a finished training job registers (the adapters are not loaded by this page).
        for name, loss, f1 in (("tiny-v1", 2.31, 0.42), ("tiny-v2", 1.87, 0.55)):
            register_version(s, name=name, base_model="tiny-llama", adapter_path=f"models/{name}",
                             dataset_version="ds1", metrics={"eval": {"loss": loss}, "answer_f1": f1})
    monkeypatch.setenv("TEAMLORE_API_URL", stack.api_url)
    at = sign_in_with_key(stack.admin_key)
    at.switch_page("views/admin_models.py").run()
    no_exceptions(at)
    comparison = at.dataframe[1].value
    assert {"tiny-v1", "tiny-v2"} <= set(comparison.columns)
    assert comparison.loc["eval.loss", "tiny-v2"] == pytest.approx(1.87)
    assert comparison.loc["answer_f1", "tiny-v1"] == pytest.approx(0.42)

    def live() -> str | None:
        with stack.admin() as c:
            return next((v["name"] for v in c.get("/v1/model-versions").json() if v["status"] == "live"), None)

    ids = {v["name"]: v["id"] for v in stack.admin().get("/v1/model-versions").json()}
    for name in ("tiny-v1", "tiny-v2"):
        at.selectbox(key="promote_pick").set_value(ids[name])
        at.button(key="promote").click().run()
        assert any("every question from now on" in w for w in texts(at, "warning"))
        assert live() != name  # nothing changes before the confirmation
        at.button(key="confirm_yes").click().run()
        no_exceptions(at)
        assert live() == name
        assert any(f"{name}** is now live" in m or f"{name} is now live" in m for m in texts(at, "success")), \
            texts(at, "success")
    assert at.metric[0].value == "tiny-v2"

    at.button(key="rollback").click().run()
    at.button(key="confirm_no").click().run()
    assert live() == "tiny-v2"  # cancelled
    at.button(key="rollback").click().run()
    at.button(key="confirm_yes").click().run()
    no_exceptions(at)
    assert live() == "tiny-v1"
    assert any("Rolled back" in m for m in texts(at, "success")), texts(at, "success")
    assert at.metric[0].value == "tiny-v1"


def test_admin_models_show_the_gate_and_force_promotion_is_audited(admin_stack, monkeypatch):
    """A candidate worse than the live answerer: the page says why, with both figure sets; promoting it needs the
    forced path, which the audit log records; the feedback page lists the worst-rated answer."""
    from sqlalchemy import select

    from app.db import session_scope
    from app.db.models import AuditEvent
    from app.services.registry import register_version
    gate = {"passed": False, "compared_with": "extractive",
            "reasons": ["answer F1 0.00 is below the live answerer's (extractive) 0.51"],
            "candidate": {"answer_f1": 0.0, "keyword_hits": 0.02, "citation_hit_rate": 0.0, "abstention_rate": 0.0,
                          "questions": 12},
            "live": {"answer_f1": 0.51, "keyword_hits": 0.6, "citation_hit_rate": 0.75, "abstention_rate": 1.0,
                     "questions": 12}}
    with session_scope(admin_stack.db_url) as s:
        register_version(s, name="gated-v", base_model="tiny-llama", adapter_path="models/gated-v",
                         dataset_version="ds1", metrics={"gate": gate})
    thumbs_down(admin_stack, "Where is the VPN guide?", "Cafeteria menu", "wrong place")
    monkeypatch.setenv("TEAMLORE_API_URL", admin_stack.api_url)
    at = sign_in_with_key(admin_stack.admin_key)
    at.switch_page("views/admin_models.py").run()
    no_exceptions(at)
    md = all_markdown(at)
    assert "**gated-v** (sft) did not pass the gate against **extractive**" in md
    assert "answer F1 0.00 is below the live answerer's (extractive) 0.51" in md
    figures = next(d.value for d in at.dataframe if "candidate" in list(d.value.columns))
    assert figures.loc["answer F1", "candidate"] == 0.0 and figures.loc["answer F1", "live (extractive)"] == 0.51

    with session_scope(admin_stack.db_url) as s:
        from app.db.models import ModelVersion
        vid = s.scalar(select(ModelVersion.id).where(ModelVersion.name == "gated-v"))
    at.selectbox(key="promote_pick").set_value(vid)
    at.button(key="promote").click().run()
    assert any("did not pass the evaluation gate" in e for e in texts(at, "error"))
    at.text_input(key="force_reason").set_value("the team wants to try it")
    at.button(key="confirm_yes").click().run()
    no_exceptions(at)
    with admin_stack.admin() as c:
        assert next(v for v in c.get("/v1/model-versions").json() if v["name"] == "gated-v")["status"] == "live"
        assert c.post("/v1/model-versions/rollback").status_code == 200
    with session_scope(admin_stack.db_url) as s:
        ev = s.scalar(select(AuditEvent).where(AuditEvent.action == "model.force_promote"))
        assert ev.target == "gated-v" and ev.details["reason"] == "the team wants to try it"

    at.switch_page("views/admin_feedback.py").run()
    no_exceptions(at)
    md = all_markdown(at)
    assert "Where is the VPN guide?" in md and "wrong place" in md and "Cafeteria menu" in md


def test_admin_training_qlora_checkbox_reaches_the_job(admin_stack, monkeypatch):
    """LoRA with the QLoRA box ticked: the queued job's recipe options ask for the 4-bit base."""
    monkeypatch.setenv("TEAMLORE_API_URL", admin_stack.api_url)
    at = sign_in_with_key(admin_stack.admin_key)
    at.switch_page("views/admin_training.py").run()
    at.segmented_control(key="train_method").set_value("Adapt a base model (LoRA)").run()
    no_exceptions(at)
    at.text_input(key="train_base_model").set_value("/models/some-8b")
    at.checkbox(key="train_qlora").check()
    submit(at, "Start training")
    no_exceptions(at)
    job_id = at.session_state["watch_job"]
    with admin_stack.admin() as c:
        job = c.get(f"/v1/jobs/{job_id}").json()
        assert job["params"]["config"]["quantize_4bit"] is True and job["params"]["base"] == "/models/some-8b"
        c.post(f"/v1/jobs/{job_id}/cancel")


def test_admin_feedback_shows_untrusted_text_without_rendering_it(admin_stack, monkeypatch):
    """Questions, comments and source titles on the Feedback page are written by any user: a markdown image in
    them must not make the admin's browser fetch it, and a link must show where it goes."""
    thumbs_down(admin_stack, "Why? ![px](http://evil.example/q.png?who=admin)", "![t](http://evil.example/t.png) Menu",
                "[sign in again](http://evil.example/login) ![c](http://evil.example/c.png)")
    monkeypatch.setenv("TEAMLORE_API_URL", admin_stack.api_url)
    at = sign_in_with_key(admin_stack.admin_key)
    at.switch_page("views/admin_feedback.py").run()
    no_exceptions(at)
    md = all_markdown(at)
    assert "Why?" in md and "sign in again" in md and "Menu" in md  # the rows are on the page ...
    assert "](http://evil.example" not in md, md  # ... and no image or link markup is left to render
    assert "image: px — evil.example" in md and "image: t — evil.example" in md
    assert "sign in again \\(<http://evil.example/login>\\)" in md  # the link's real address, shown as its text


def test_admin_sources_show_an_uploaded_exports_name_as_typed(admin_stack, monkeypatch):
    """An uploaded export's source is named after the uploader's file name: Markdown in it must not render (an
    image would load in the admin's browser)."""
    from app.db import session_scope
    from app.db.models import Source
    name = "upload:2:job-9:![px](https:evil.example/p.png).zip"
    with session_scope(admin_stack.db_url) as s:
        s.add(Source(name=name, kind="slack_export", config={}, checkpoint={}))
    monkeypatch.setenv("TEAMLORE_API_URL", admin_stack.api_url)
    at = sign_in_with_key(admin_stack.admin_key)
    at.switch_page("views/admin_sources.py").run()
    no_exceptions(at)
    md = all_markdown(at)
    assert "job-9" in md and "](https:evil.example" not in md, md
