"""Sign in with an API key, or with a username and password (the API turns those into a session key)."""
from __future__ import annotations

import streamlit as st

from ui.client import ApiError
from ui.common import NOTICE_KEY, base_client, sign_in

_, middle, _ = st.columns([1, 2, 1])
with middle:
    st.title(":material/explore: Teamlore")
    st.markdown("Your team's knowledge from Slack and documents, answered with sources.")
    try:
        base_client().healthz()
    except ApiError as exc:
        st.warning(exc.user_message, icon=":material/cloud_off:")
    notice = st.session_state.get(NOTICE_KEY)
    if notice:
        st.info(notice, icon=":material/info:")

    with_password, with_key = st.tabs(["Username & password", "API key"])
    with with_password:
        with st.form("login_form"):
            username = st.text_input("Username", key="login_username")
            password = st.text_input("Password", type="password", key="login_password")
            submitted = st.form_submit_button("Sign in", type="primary", width="stretch")
        if submitted:
            if not username.strip() or not password:
                st.error("Enter your username and password.")
            else:
                try:
                    result = base_client().login(username.strip(), password)
                except ApiError as exc:
                    st.error(exc.user_message, icon=":material/error:")
                else:
                    sign_in(result["api_key"], result["user"], result.get("expires_at"))
                    st.rerun()
    with with_key:
        with st.form("key_form"):
            api_key = st.text_input("API key", type="password", placeholder="tl_...", key="login_api_key")
            submitted_key = st.form_submit_button("Sign in with key", type="primary", width="stretch")
        if submitted_key:
            api_key = api_key.strip()
            if not api_key:
                st.error("Paste an API key (it starts with `tl_`).")
            else:
                keyed = base_client().with_key(api_key)
                try:
                    user = keyed.me()
                    sign_in(api_key, user, session_key=False)  # the UI keeps a sign-in key, not the API key
                except ApiError as exc:
                    st.error(exc.user_message, icon=":material/error:")
                else:
                    st.rerun()
                finally:
                    keyed.close()
    st.caption(f"API: {base_client().base_url}")
