"""Admin · dataset versions: build one, read its report and plots, and review examples (accept / reject)."""
from __future__ import annotations

import streamlit as st

from ui.client import JOB_DONE_STATES
from ui.common import api_errors, client, fmt_time, rerun_with_toast, status_badge
from ui.presenters import example_preview, scalar_stats

api = client()
st.title(":material/dataset: Datasets")
st.caption("Instruct-format training sets built from Slack conversations. Review examples before training.")

with st.expander("Build a new dataset version", icon=":material/construction:"):
    include_private = st.checkbox("Include private channels and DMs", key="ds_private",
                                  help="Only for a model whose users may all see those conversations.")
    if st.button("Build dataset", type="primary", key="ds_build"):
        with api_errors("Could not start the dataset build"):
            job = api.build_dataset(include_private=include_private)
            st.session_state["ds_job"] = job["id"]
            rerun_with_toast(f"Dataset build started (job #{job['id']})", ":material/construction:")
    job_id = st.session_state.get("ds_job")
    if job_id:
        with api_errors():
            job = api.job(job_id)
            st.progress(float(job.get("progress") or 0.0), text=f"Job #{job_id}: {status_badge(job.get('status'))}")
            if job.get("error"):
                st.error(job["error"])
            if job.get("status") not in JOB_DONE_STATES and st.button("Refresh", key="ds_refresh"):
                st.rerun()

datasets = []
with api_errors("Could not list the datasets"):
    datasets = api.datasets()
if not datasets:
    st.info("No dataset versions yet — build one above once Slack data is ingested.", icon=":material/inbox:")
    st.stop()

by_version = {d["version"]: d for d in datasets}
version = st.selectbox(
    "Dataset version", list(by_version), key="ds_version",
    format_func=lambda v: f"{v} — {by_version[v].get('name')} ({fmt_time(by_version[v].get('created_at'))})")

report: dict = {}
with api_errors("Could not load the report"):
    report = api.dataset_report(version) or {}
figures = scalar_stats(report) or scalar_stats(by_version[version].get("stats") or {})
if figures:
    cols = st.columns(min(4, len(figures)), border=True)
    for i, (name, value) in enumerate(list(figures.items())[:8]):
        cols[i % len(cols)].metric(name.replace("_", " ").capitalize(),
                                   f"{value:,.3g}" if isinstance(value, float) else f"{value:,}")

plots = report.get("plots") or []
if plots:
    st.subheader("Report")
    cols = st.columns(min(3, len(plots)))
    for i, name in enumerate(plots):
        with cols[i % len(cols)], api_errors(f"Could not load plot {name}"):
            st.image(api.dataset_plot(version, name), caption=name.rsplit(".", 1)[0].replace("_", " "))
with st.expander("Full report (JSON)", icon=":material/data_object:"):
    st.json(report, expanded=1)

# --- sample browser -------------------------------------------------------------------------------
st.subheader("Examples")
PAGE = 10
splits = [s for s in (report.get("splits") or {}) if isinstance(s, str)] or ["train", "validation", "test"]
split_col, page_col = st.columns([2, 1])
split = split_col.selectbox("Split", splits, key="ds_split")
page = page_col.number_input("Page", min_value=1, value=1, step=1, key="ds_page")
examples = []
with api_errors("Could not load examples"):
    examples = api.dataset_examples(version, split=split, offset=(int(page) - 1) * PAGE, limit=PAGE)
if not examples:
    st.info("No examples on this page.")
for ex in examples:
    review = ex.get("review")
    badge = {True: "✅ accepted", False: "❌ rejected", "accepted": "✅ accepted",
             "rejected": "❌ rejected"}.get(review, "🕒 not reviewed")
    quality = ex.get("quality")
    with st.container(border=True):
        head, act = st.columns([5, 2], vertical_alignment="center")
        head.markdown(f"**{example_preview(ex)}**  \n"
                      f"quality {quality:.2f} · {badge}" if isinstance(quality, (int, float))
                      else f"**{example_preview(ex)}**  \n{badge}")
        accept_col, reject_col = act.columns(2)
        if accept_col.button("Accept", key=f"acc_{ex['id']}", icon=":material/check:"):
            with api_errors("Could not save the review"):
                api.review_example(version, ex["id"], True)
                rerun_with_toast("Example accepted")
        if reject_col.button("Reject", key=f"rej_{ex['id']}", icon=":material/close:"):
            with api_errors("Could not save the review"):
                api.review_example(version, ex["id"], False)
                rerun_with_toast("Example rejected", ":material/cancel:")
        with st.expander("Conversation"):
            for m in ex.get("messages") or []:
                st.markdown(f"**{m.get('role')}:** {m.get('content')}")
            if ex.get("reasons"):
                st.caption("Quality notes: " + ", ".join(map(str, ex["reasons"])))
