"""Admin · data sources and Slack sync: status, last sync, run a sync now and watch it."""
from __future__ import annotations

import streamlit as st

from ui.client import JOB_DONE_STATES
from ui.common import api_errors, client, fmt_ago, fmt_time, rerun_with_toast, status_badge
from ui.presenters import job_error_text
from ui.safe_render import escape_markdown

api = client()
st.title(":material/hub: Sources & sync")
st.caption("Where Teamlore's knowledge comes from. Live Slack sources sync incrementally; a sync also "
           "refreshes the search index.")

SYNC_JOBS = "sync_jobs"  # source id -> job id started from this page
sources = []
with api_errors("Could not list the sources"):
    sources = api.sources()
if not sources:
    st.info("No sources yet. Upload documents or a Slack export zip on the Upload page, or configure the Slack "
            "bot token (TEAMLORE_SLACK_BOT_TOKEN) for a live workspace.", icon=":material/inbox:")

started = st.session_state.setdefault(SYNC_JOBS, {})
for src in sources:
    with st.container(border=True):
        name_col, sync_col, run_col, button_col = st.columns([3, 2, 3, 2], vertical_alignment="center")
        # an uploaded export's source carries the uploader's file name: shown as typed
        name_col.markdown(f"**{escape_markdown(src.get('name') or '')}**  \n`{src.get('kind')}`")
        sync_col.markdown(f"Last sync  \n{fmt_ago(src.get('last_sync_at'))}",
                          help=fmt_time(src.get("last_sync_at")))
        run = src.get("last_run") or {}
        if run:
            figures = " · ".join(f"{k} {run[k]}" for k in ("added", "updated", "skipped", "rejected", "deleted")
                                 if run.get(k))
            run_col.markdown(f"Last run: {status_badge(run.get('status'))}  \n{figures or 'no changes'}")
        else:
            run_col.markdown("Last run  \n—")
        # A live workspace syncs new messages; an export or document source can only be re-indexed.
        is_live = src.get("kind") == "slack_live"
        if button_col.button("Sync now" if is_live else "Re-index", key=f"sync_{src['id']}",
                             icon=":material/sync:" if is_live else ":material/refresh:"):
            label = escape_markdown(src.get("name") or "")
            with api_errors(f"Could not start a sync of {label}"):
                job = api.sync_source(src["id"])
                started[src["id"]] = job["id"]
                rerun_with_toast(f"Sync of {label} started (job #{job['id']})", ":material/sync:")


def _sync_progress(job_ids: dict[int, int], was_active: bool) -> None:
    names = {s["id"]: escape_markdown(s.get("name") or "") for s in sources}
    any_active = False
    for source_id, job_id in job_ids.items():
        with api_errors(f"Could not read sync job #{job_id}"):
            job = api.job(job_id)
            active = job.get("status") not in JOB_DONE_STATES
            any_active |= active
            label = f"{names.get(source_id, source_id)} · job #{job_id} · {status_badge(job.get('status'))}"
            st.progress(float(job.get("progress") or (0.0 if active else 1.0)), text=label)
            if job.get("status") == "failed" and job.get("error"):
                st.error("The sync failed: " + job_error_text(job["error"]), icon=":material/error:")
    if was_active and not any_active:
        st.rerun()  # whole page: refresh "last sync" and the run figures, stop polling


if started:
    st.subheader("Sync jobs")
    active_now = False
    with api_errors():
        active_now = any(api.job(j).get("status") not in JOB_DONE_STATES for j in started.values())
    st.fragment(run_every=2.0 if active_now else None)(_sync_progress)(dict(started), active_now)
