"""Admin · API keys: create (the key is shown once), list, revoke."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.common import api_errors, client, fmt_time, rerun_with_toast

api = client()
st.title(":material/key: API keys")
st.caption("Keys authenticate the web UI, the OpenAI-compatible API and scripts. Teamlore stores only a hash.")

new_key = st.session_state.get("new_api_key")
if new_key:
    with st.container(border=True):
        st.success(f"Key **{new_key.get('name')}** created for **{new_key.get('user')}** "
                   f"({new_key.get('role')}). Copy it now — it will not be shown again.", icon=":material/key:")
        st.code(new_key["key"], language=None)
        if st.button("I have copied it", key="dismiss_key"):
            del st.session_state["new_api_key"]
            st.rerun()

with st.expander("Create a key", icon=":material/key:", expanded=not new_key):
    with st.form("create_key", clear_on_submit=True):
        name_col, user_col, role_col = st.columns([2, 2, 1])
        name = name_col.text_input("Key name", placeholder="e.g. laptop, ci-bot", key="key_name")
        user = user_col.text_input("User", placeholder="user name (created if new)", key="key_user")
        role = role_col.selectbox("Role", ["user", "admin"], key="key_role")
        password = st.text_input("Sign-in password (optional)", type="password", key="key_password",
                                 help="Sets the user's password so they can also sign in with username and "
                                      "password (8 characters or more).")
        if st.form_submit_button("Create key", type="primary"):
            if not name.strip() or not user.strip():
                st.error("Give the key a name and the user it belongs to.")
            elif password and len(password) < 8:
                st.error("The password needs at least 8 characters.")
            else:
                with api_errors("Could not create the key"):
                    created = api.create_key(name.strip(), user.strip(), role, password or None)
                    st.session_state["new_api_key"] = {**created, "name": created.get("name", name.strip()),
                                                       "user": user.strip(), "role": created.get("role", role)}
                    st.rerun()

keys = []
with api_errors("Could not list the keys"):
    keys = api.keys()
if keys:
    frame = pd.DataFrame([{
        "Name": k.get("name"), "Prefix": f"{k.get('prefix')}…", "User": k.get("user"), "Role": k.get("role"),
        "Created": fmt_time(k.get("created_at")), "Last used": fmt_time(k.get("last_used_at")),
        "Status": "revoked " + fmt_time(k.get("revoked_at")) if k.get("revoked_at") else "active",
    } for k in keys])
    st.dataframe(frame, hide_index=True, width="stretch")
    active = {k["id"]: k for k in keys if not k.get("revoked_at")}
    if active:
        pick_col, confirm_col, button_col = st.columns([3, 3, 1], vertical_alignment="bottom")
        key_id = pick_col.selectbox("Revoke a key", list(active), key="revoke_pick",
                                    format_func=lambda i: f"{active[i].get('name')} ({active[i].get('prefix')}…, "
                                                          f"{active[i].get('user')})")
        confirm = confirm_col.checkbox("Yes, revoke it now", key="revoke_confirm")
        if button_col.button("Revoke", type="primary", key="revoke_button", disabled=not confirm):
            with api_errors("Could not revoke the key"):
                api.revoke_key(key_id)
                st.session_state.pop("revoke_confirm", None)
                rerun_with_toast(f"Key {active[key_id].get('name')} revoked", ":material/block:")
else:
    st.info("No keys yet.")
