"""Admin · usage: questions per day, feedback ratio, latency percentiles."""
from __future__ import annotations

import pandas as pd
import streamlit as st

from ui.common import api_errors, client
from ui.presenters import feedback_ratio, latency_frame, questions_frame

api = client()
st.title(":material/monitoring: Usage")

with api_errors("Could not load usage figures"):
    usage = api.usage()
    questions = questions_frame(usage)
    ratio = feedback_ratio(usage)
    latency = latency_frame(usage)
    fb = usage.get("feedback") or {}

    c1, c2, c3, c4 = st.columns(4, border=True)
    c1.metric("Questions", f"{int(questions['questions'].sum()) if not questions.empty else 0:,}")
    c2.metric("Helpful answers", f"{ratio:.0%}" if ratio is not None else "—",
              help="👍 / (👍 + 👎) over all rated answers")
    c3.metric("Median latency", f"{latency.loc['p50', 'ms']:.0f} ms" if "p50" in latency.index else "—")
    c4.metric("p95 latency", f"{latency.loc['p95', 'ms']:.0f} ms" if "p95" in latency.index else "—")

    left, right = st.columns([2, 1])
    with left:
        st.subheader("Questions per day")
        if questions.empty:
            st.info("No questions asked yet.")
        else:
            st.bar_chart(questions, y="questions", height=280)
    with right:
        st.subheader("Feedback")
        votes = pd.DataFrame({"votes": [int(fb.get("up") or 0), int(fb.get("down") or 0)]},
                             index=pd.Index(["👍 helpful", "👎 not helpful"], name="rating"))
        if votes["votes"].sum() == 0:
            st.info("No feedback yet.")
        else:
            st.bar_chart(votes, y="votes", height=280, color="#4F46E5")
    st.subheader("Answer latency percentiles")
    if latency.empty:
        st.info("No answers timed yet.")
    else:
        st.bar_chart(latency, y="ms", horizontal=True, height=180)
