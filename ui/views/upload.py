"""Upload: drag-and-drop documents and Slack export zips, per-file results, the corpus listing, index status."""
from __future__ import annotations

import time

import streamlit as st

from ui.client import JOB_DONE_STATES, ApiError, Unauthorized
from ui.common import api_errors, client, fmt_ago, fmt_time, is_admin, rerun_with_toast, signed_out, status_badge
from ui.presenters import documents_frame, upload_progress, upload_results, upload_summary

api = client()
st.title(":material/upload_file: Upload & corpus")
st.caption("Feed Teamlore documents and Slack exports; everything uploaded becomes searchable and citable.")

# --- index status --------------------------------------------------------------------------------
with api_errors("Could not read the index status"):
    status = api.index_status()
    c1, c2, c3 = st.columns(3, border=True)
    c1.metric("Index version", str(status.get("version") or "—"))
    c2.metric("Chunks", f"{status.get('chunks') or 0:,}")
    c3.metric("Last rebuild", fmt_ago(status.get("last_rebuild")), help=fmt_time(status.get("last_rebuild")))
    details = [f"Embedding model **{status.get('embedding_model') or '—'}**"]
    if status.get("kind"):
        details.append(f"index kind {status['kind']}")
    if status.get("status") and status["status"] != "ok":
        details.append(f"status {status['status']}")
    st.caption(" · ".join(details))

# --- upload ------------------------------------------------------------------------------------------
st.subheader("Add documents")
uploader_key = f"uploader_{st.session_state.get('uploader_generation', 0)}"
files = st.file_uploader(
    "Drag and drop files here",
    accept_multiple_files=True, key=uploader_key,
    help="PDF, Word (.docx), PowerPoint (.pptx), HTML, Markdown, text and CSV documents, "
         "and Slack export .zip files (detected automatically).")

visibility = None
if is_admin():
    group = st.text_input("Visible to", key="upload_group", placeholder="everyone (or a group name, e.g. finance)",
                          help="Documents limited to a group are only cited to its members and admins.")
    visibility = f"group:{group.strip()}" if group.strip() else None

if files:
    label = f"Ingest {len(files)} file{'s' if len(files) != 1 else ''}"
    if st.button(label, type="primary", icon=":material/upload:", key="ingest"):
        # One upload per file, so that one bad file (too large, a bad name) does not refuse the others. Each
        # answer is the job that ingests the file; the page follows the jobs below.
        entries = []
        for f in files:
            try:
                job = api.upload_documents([(f.name, f.getvalue(), f.type or "application/octet-stream")],
                                           visibility=visibility)
                entries.append({"filename": f.name, "job": job["id"]})
            except Unauthorized as exc:
                signed_out(exc)
            except ApiError as exc:
                entries.append({"filename": f.name, "result": {"filename": f.name, "status": "rejected",
                                                              "reason": exc.user_message}})
        st.session_state["upload_entries"] = entries
        st.session_state.pop("upload_results", None)
        # A fresh uploader key empties the drop zone so the same files are not sent twice.
        st.session_state["uploader_generation"] = st.session_state.get("uploader_generation", 0) + 1
        st.rerun()

entries = st.session_state.get("upload_entries")
if entries:  # follow the upload jobs until every one is done (they go on if the page is left)
    progress = st.progress(0.0, text="Stored; waiting to be ingested…")
    ids = [e["job"] for e in entries if "job" in e]
    jobs: dict[int, dict] = {}
    pause = 0.25
    try:
        while ids:
            jobs = {j["id"]: j for j in api.uploads(ids)}
            done = [j for j in jobs.values() if j.get("status") in JOB_DONE_STATES]
            progress.progress(upload_progress(list(jobs.values())),
                              text=f"Ingesting and indexing… {len(done)} of {len(ids)} uploads done")
            if len(done) == len(ids):
                break
            time.sleep(pause)
            pause = min(2.0, pause * 1.5)  # one request a round, further apart as a big upload goes on
    except Unauthorized as exc:
        signed_out(exc)
    except ApiError as exc:
        st.error(f"Could not follow the upload: {exc.user_message}", icon=":material/error:")
        st.stop()
    st.session_state["upload_results"] = upload_results(entries, jobs)
    st.session_state.pop("upload_entries", None)
    st.rerun()

results = st.session_state.get("upload_results")
if results:
    counts = upload_summary(results)
    st.markdown("**Last upload:** " + " · ".join(f"{status_badge(s)} {n}" for s, n in counts.items() if n))
    for r in results:
        line = f"{status_badge(r.get('status'))} — **{r.get('filename')}**"
        if r.get("reason"):
            line += f": {r['reason']}"
        (st.error if r.get("status") == "rejected" else st.success)(line)
    if st.button("Clear results", key="clear_results", type="tertiary"):
        st.session_state.pop("upload_results", None)
        st.rerun()

# --- corpus listing ----------------------------------------------------------------------------
st.subheader("Corpus")
q_col, src_col = st.columns([3, 1])
query = q_col.text_input("Search titles and paths", key="doc_query", placeholder="Search titles and paths…",
                         label_visibility="collapsed")
documents = []
source_names: list[str] = []
with api_errors("Could not list the corpus"):
    documents = api.documents(q=query.strip())
    source_names = sorted({d["source"] for d in documents if d.get("source")})
source = src_col.selectbox("Source", ["All sources", *source_names], key="doc_source",
                           label_visibility="collapsed")
if source != "All sources":
    with api_errors("Could not filter the corpus"):
        documents = api.documents(q=query.strip(), source=source)
if not documents:
    st.info("No documents match." if query or source != "All sources" else
            "The corpus is empty — upload documents above.", icon=":material/inbox:")
else:
    st.caption(f"{len(documents)} document{'s' if len(documents) != 1 else ''}")
    st.dataframe(documents_frame(documents), hide_index=True, width="stretch",
                 column_config={"Updated": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm")})
    # what the API lets this user delete: their own uploads (an admin: any document)
    by_id = {d["id"]: d for d in documents if is_admin() or d.get("mine")}
    with st.expander("Delete documents", icon=":material/delete:"):
        if not by_id:
            st.caption("You can delete only documents you uploaded; none of them is listed here.")
        chosen = st.multiselect("Documents to delete", list(by_id), key="delete_docs",
                                format_func=lambda i: by_id[i].get("title") or by_id[i].get("path") or str(i))
        confirm = st.checkbox("I understand these documents and their index entries will be removed",
                              key="delete_docs_confirm", disabled=not chosen)
        if st.button("Delete selected", type="primary", key="delete_docs_button", disabled=not (chosen and confirm)):
            with api_errors("Could not delete"):
                for doc_id in chosen:
                    api.delete_document(doc_id)
                for k in ("delete_docs", "delete_docs_confirm"):
                    st.session_state.pop(k, None)
                rerun_with_toast(f"Deleted {len(chosen)} document{'s' if len(chosen) != 1 else ''}", ":material/delete:")
