"""Admin · feedback: 👍/👎 per day and per channel, the worst-rated answers with their sources, corrections, and
what each retrain used."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.common import api_errors, client, rerun_with_toast
from ui.presenters import shorten, worst_answer_heading
from ui.safe_render import safe_markdown

api = client()
st.title(":material/thumbs_up_down: Feedback")
st.caption("What the team thinks of the answers. A retrain with \"include feedback since version …\" turns 👍 answers, "
           "👎 answers with a comment or a correction, accepted review examples and resolved Slack threads into "
           "training data (SFT examples and preference pairs for DPO).")

days = st.segmented_control("Period", [7, 30, 90], default=30, key="feedback_days",
                            format_func=lambda d: f"{d} days") or 30
data: dict = {}
with api_errors("Could not load the feedback"):
    data = api.feedback_overview(days=int(days))
if not data:
    st.stop()

per_day = pd.DataFrame(data.get("per_day") or [], columns=["day", "up", "down"])
per_channel = pd.DataFrame(data.get("per_channel") or [], columns=["channel", "up", "down"])
c1, c2 = st.columns(2, border=True)
with c1:
    st.markdown("**Per day**")
    if per_day.empty:
        st.info("No feedback in this period.")
    else:
        st.bar_chart(per_day.set_index("day")[["up", "down"]], color=["#2e7d32", "#c62828"])
with c2:
    st.markdown("**Per channel**")
    if per_channel.empty:
        st.info("No feedback in this period.")
    else:
        st.dataframe(per_channel, hide_index=True, width="stretch")

st.subheader("Worst-rated answers")
worst = data.get("worst") or []
if not worst:
    st.info("No answer has a negative score in this period.")
for item in worst:
    with st.container(border=True):
        st.markdown(worst_answer_heading(item))
        if item.get("private"):
            st.caption(item.get("note") or "private")
            continue
        st.markdown("**Question:** " + safe_markdown(shorten(item.get("question"))))  # written by any user
        # untrusted text (quoted passages): allow-listed Markdown, as in the chat — the extractive answer's block
        # quotes and bold notes read as such, not as "> " and "**"; no HTML, no remote image, every link's host shown
        st.markdown(safe_markdown(item.get("answer") or ""))
        for comment in item.get("comments") or []:
            st.caption(f"💬 {safe_markdown(comment)}")
        sources = item.get("sources") or []
        if sources:
            st.caption("Sources: " + " · ".join(f"[{s.get('n')}] {safe_markdown(s.get('title'))}"
                                                 for s in sources))
        key = f"correct_{item['message_id']}"
        with st.expander("Correct this answer"):
            fixed = st.text_area("Corrected answer", key=key + "_text")
            if st.button("Save correction", key=key):
                if not fixed.strip():
                    st.error("Write the corrected answer first.")
                else:
                    with api_errors("Could not save the correction"):
                        api.correct_answer(item["message_id"], fixed.strip())
                        rerun_with_toast("Correction saved: the next retrain with feedback uses it",
                                         ":material/edit:")

st.subheader("What each retrain used")
retrains = data.get("retrains") or []
if not retrains:
    st.info("No retrain yet.")
else:
    st.dataframe(pd.DataFrame([{
        "Job": r["job_id"], "Status": r["status"], "Recipe": r.get("recipe"), "Dataset": r.get("dataset"),
        "Feedback since": r.get("feedback_since") or "—",
        "Continued from": (r.get("used") or {}).get("parent") or "—",
        "Feedback dataset": (r.get("used") or {}).get("feedback_version") or "—",
        "Pairs": ((r.get("used") or {}).get("feedback") or {}).get("preference_pairs"),
        "SFT additions": ((r.get("used") or {}).get("feedback") or {}).get("sft_additions"),
        "Model version": r.get("model_version"),
        "Gate": {True: "passed", False: "did not pass", None: "—"}[r.get("gate")],
    } for r in retrains]), hide_index=True, width="stretch")
