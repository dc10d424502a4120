"""Admin · dataset versions: build one, read its report and plots, and review examples (accept / reject)."""
from __future__ import annotations

import streamlit as st

from ui.client import JOB_DONE_STATES
from ui.common import api_errors, client, fmt_time, rerun_with_toast, status_badge
from ui.safe_render import escape_markdown, safe_markdown
from ui.presenters import (dataset_example_count, dataset_figures, example_meta, example_preview, job_error_text,
                           review_label)

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
                st.error("The build failed: " + job_error_text(job["error"]), icon=":material/error:")
            if job.get("status") not in JOB_DONE_STATES and st.button("Refresh", key="ds_refresh"):
                st.rerun()

datasets = []
with api_errors("Could not list the datasets"):
    datasets = api.datasets()
if not datasets:
    st.info("No dataset versions yet — build one above once Slack data is ingested.", icon=":material/inbox:")
    st.stop()

by_version = {d["version"]: d for d in datasets}


def _label(v: str) -> str:
    n = dataset_example_count(by_version[v].get("stats"))
    return (f"{v} — {by_version[v].get('name')}" + (f" · {n:,} examples" if n is not None else "")
            + f" · {fmt_time(by_version[v].get('created_at'))}")


version = st.selectbox("Dataset version", list(by_version), key="ds_version", format_func=_label)

report: dict = {}
with api_errors("Could not load the report"):
    report = api.dataset_report(version) or {}
figures = dataset_figures(report or {"stats": by_version[version].get("stats") or {}})
if figures:
    cols = st.columns(len(figures), border=True)
    for col, (name, value) in zip(cols, figures.items()):
        col.metric(name, value)

plots = report.get("plots") or []
if plots:
    st.subheader("Report")
    cols = st.columns(2)
    for i, name in enumerate(plots):
        with cols[i % 2], api_errors(f"Could not load plot {name}"):
            st.image(api.dataset_plot(version, name), caption=name.rsplit(".", 1)[0].replace("_", " ").capitalize())
with st.expander("Full report (JSON)", icon=":material/data_object:"):
    st.json(report, expanded=1)

# --- sample browser -------------------------------------------------------------------------------
st.subheader("Review examples")
st.caption("Rejected examples are left out of training.")
PAGE = 10
split_col, page_col = st.columns([2, 1])
split = split_col.selectbox("Split", ["train", "validation", "test"], key="ds_split")
page = page_col.number_input("Page", min_value=1, value=1, step=1, key="ds_page")
examples: list = []
with api_errors("Could not load examples"):
    result = api.dataset_examples(version, split=split, offset=(int(page) - 1) * PAGE, limit=PAGE)
    examples = result["examples"]
    if result.get("total") is not None:
        pages = max(1, -(-int(result["total"]) // PAGE))
        page_col.caption(f"{result['total']:,} examples · {pages} page{'s' if pages != 1 else ''}")
if not examples:
    st.info("No examples on this page.")
for ex in examples:
    meta = example_meta(ex)
    quality = meta.get("quality")
    details = [review_label(ex.get("review"))]
    if isinstance(quality, (int, float)):
        details.insert(0, f"quality {quality:.2f}")
    if meta.get("channel"):
        details.insert(0, f"#{meta['channel']}")
    if meta.get("kind"):
        details.insert(0, str(meta["kind"]))
    with st.container(border=True):
        head, act = st.columns([5, 2], vertical_alignment="center")
        head.markdown(f"**{example_preview(ex)}**  \n" + " · ".join(details))
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
                st.markdown(f"**{escape_markdown(str(m.get('role')))}:** {safe_markdown(str(m.get('content') or ''))}")
            if meta.get("reasons"):
                st.caption("Quality notes: " + ", ".join(map(str, meta["reasons"])))
