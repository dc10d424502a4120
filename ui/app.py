"""Teamlore web UI: `streamlit run ui/app.py` (or `teamlore ui`). A thin client of the HTTP API at
TEAMLORE_API_URL (default http://127.0.0.1:8000); the signed-in role decides which pages show."""
from __future__ import annotations

import sys
from pathlib import Path

# `streamlit run ui/app.py` puts ui/ (not the repository) on sys.path; make `import ui.*` work either way.
_REPO = Path(__file__).resolve().parent.parent
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import streamlit as st  # noqa: E402

from ui.common import current_user, flush_toast, is_admin, restore_session, sign_out, sync_cookie  # noqa: E402

VIEWS = Path(__file__).resolve().parent / "views"

st.set_page_config(page_title="Teamlore", page_icon="🧭", layout="wide",
                   menu_items={"About": "Teamlore — your team's knowledge, answered with sources."})

# Every page's address; signed out, each of them shows the sign-in form, and after signing in the same address is
# the page itself (a bookmarked or reloaded admin page comes back after sign-in instead of "Page not found").
URL_PATHS = ("chat", "upload", "sources", "datasets", "training", "models", "feedback", "keys", "usage")

restore_session()  # a browser reload keeps the user signed in (from the cookie), on the page the URL names
user = current_user()
if user is None:
    page = st.navigation([st.Page(VIEWS / "signin.py", title="Sign in", icon=":material/login:", url_path="signin",
                                  default=True),
                          *(st.Page(VIEWS / "signin.py", title="Sign in", icon=":material/login:", url_path=p)
                            for p in URL_PATHS)],
                         position="hidden")
else:
    pages: dict[str, list] = {
        "Workspace": [
            st.Page(VIEWS / "chat.py", title="Chat", icon=":material/forum:", url_path="chat", default=True),
            st.Page(VIEWS / "upload.py", title="Upload & corpus", icon=":material/upload_file:", url_path="upload"),
        ],
    }
    if is_admin():
        pages["Admin"] = [
            st.Page(VIEWS / "admin_sources.py", title="Sources & sync", icon=":material/hub:", url_path="sources"),
            st.Page(VIEWS / "admin_datasets.py", title="Datasets", icon=":material/dataset:", url_path="datasets"),
            st.Page(VIEWS / "admin_training.py", title="Retrain", icon=":material/model_training:", url_path="training"),
            st.Page(VIEWS / "admin_models.py", title="Model versions", icon=":material/psychology:", url_path="models"),
            st.Page(VIEWS / "admin_feedback.py", title="Feedback", icon=":material/thumbs_up_down:",
                    url_path="feedback"),
            st.Page(VIEWS / "admin_keys.py", title="API keys", icon=":material/key:", url_path="keys"),
            st.Page(VIEWS / "admin_usage.py", title="Usage", icon=":material/monitoring:", url_path="usage"),
        ]
    page = st.navigation(pages, expanded=True)
    with st.sidebar:
        role = ":material/shield_person: admin" if is_admin() else ":material/person: user"
        st.caption(f"Signed in as **{user['name']}** · {role}")
        if st.button("Sign out", icon=":material/logout:", key="sign_out", type="tertiary"):
            sign_out("You have been signed out.")
            st.rerun()

sync_cookie()
flush_toast()
page.run()
