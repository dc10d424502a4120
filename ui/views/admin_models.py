"""Admin · model versions: evaluation figures side by side; promote or roll back, with confirmation."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.common import api_errors, client, fmt_time, rerun_with_toast, status_badge
from ui.presenters import gate_figures_frame, live_version_warning, models_comparison_frame

api = client()
st.title(":material/psychology: Model versions")
st.caption("Each retrain produces a candidate. Compare its evaluation with the live version, then promote it. "
           "Rolling back restores the previously live version.")

versions = []
with api_errors("Could not list model versions"):
    versions = api.model_versions()
if not versions:
    st.info("No model versions yet. Start a retrain on the Retrain page; until a version is promoted, answers "
            "are extractive (quoted passages).", icon=":material/inbox:")
    st.stop()

live = next((v for v in versions if v.get("status") == "live"), None)
c1, c2, c3 = st.columns(3, border=True)
# a short value: a metric tile cuts a long one ("none (extrac…") at a third of the page
c1.metric("Live version", live["name"] if live else "Extractive",
          help=None if live else "No model version is live: answers quote the most relevant passages.")
c2.metric("Candidates", sum(1 for v in versions if v.get("status") == "candidate"))
c3.metric("Versions", len(versions))
if live:
    with api_errors("Could not ask who answers now"):
        warning = live_version_warning(api.models(), live["name"])
        if warning:
            st.error(warning, icon=":material/report:")

st.dataframe(pd.DataFrame([{
    "Name": v.get("name"), "Status": status_badge(v.get("status")), "Base model": v.get("base_model"),
    "Dataset": v.get("dataset_version"), "Recipe": v.get("recipe") or "—",
    "Continued from": v.get("parent") or "—", "Created": fmt_time(v.get("created_at")),
} for v in versions]), hide_index=True, width="stretch")

st.subheader("Evaluation side by side")
comparison = models_comparison_frame(versions)
if comparison.empty:
    st.info("No evaluation figures recorded yet.")
else:
    st.dataframe(comparison, width="stretch")

st.subheader("Evaluation gate")
st.caption("Each candidate is compared with the live answerer (the live version, or extractive answers) on the "
           "same held-out questions. A candidate that is worse is registered but not promoted.")
gated = [v for v in versions if v.get("gate")]
if not gated:
    st.info("No version has been through the gate yet.")
for v in gated[:5]:
    gate = v["gate"]
    verdict = "passed" if gate.get("passed") else "did not pass"
    with st.container(border=True):
        st.markdown(f"**{v['name']}** ({v.get('recipe') or 'sft'}) {verdict} the gate against "
                    f"**{gate.get('compared_with') or '—'}**")
        for reason in gate.get("reasons") or []:
            st.markdown(f"- {reason}")
        rows = gate_figures_frame(gate)
        if not rows.empty:
            st.dataframe(rows, width="stretch")

st.subheader("Deploy")
CONFIRM = "confirm_model_action"
DONE = "model_action_done"
by_id = {v["id"]: v for v in versions}
promotable = [v["id"] for v in versions if v.get("status") != "live"]
pick_col, promote_col, rollback_col = st.columns([3, 1, 1], vertical_alignment="bottom")
chosen = pick_col.selectbox("Version to promote", promotable, key="promote_pick",
                            format_func=lambda i: f"{by_id[i]['name']} ({by_id[i].get('status')})",
                            disabled=not promotable)
if promote_col.button("Promote…", type="primary", key="promote", disabled=chosen is None):
    st.session_state[CONFIRM] = ("promote", chosen)
if rollback_col.button("Roll back…", key="rollback", disabled=live is None):
    st.session_state[CONFIRM] = ("rollback", None)

done = st.session_state.pop(DONE, None)
if done:  # stays on the page (a toast alone is easy to miss)
    st.success(done, icon=":material/check_circle:")

pending = st.session_state.get(CONFIRM)
if pending:
    action, version_id = pending
    with st.container(border=True):
        failed_gate = action == "promote" and (by_id[version_id].get("gate") or {}).get("passed") is False
        if action == "promote":
            st.warning(f"Promote **{by_id[version_id]['name']}**? It will answer every question from now on"
                       + (f", replacing **{live['name']}**." if live else "."), icon=":material/error:")
            if failed_gate:
                st.error("It did not pass the evaluation gate: "
                         + "; ".join(by_id[version_id]["gate"].get("reasons") or []) +
                         ". Promoting it anyway is a forced promotion, recorded in the audit log.")
                st.text_input("Why promote it anyway?", key="force_reason")
        else:
            st.warning(f"Roll back from **{live['name'] if live else '—'}** to the previously live version "
                       "(or to extractive answers when there was none)?", icon=":material/error:")
        yes, no, _ = st.columns([1, 1, 4])
        if yes.button("Yes, " + action, type="primary", key="confirm_yes"):
            del st.session_state[CONFIRM]
            with api_errors(f"Could not {action}"):
                if action == "promote":
                    api.promote(version_id, force=failed_gate, reason=st.session_state.get("force_reason"))
                    st.session_state[DONE] = f"Promoted: **{by_id[version_id]['name']}** is now live."
                    rerun_with_toast(f"{by_id[version_id]['name']} is now live", ":material/rocket_launch:")
                else:
                    api.rollback()
                    st.session_state[DONE] = "Rolled back: the previously live version answers again."
                    rerun_with_toast("Rolled back", ":material/undo:")
        if no.button("Cancel", key="confirm_no"):
            del st.session_state[CONFIRM]
            st.rerun()
