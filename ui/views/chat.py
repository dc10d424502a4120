"""Chat: streamed, cited answers; conversation history in the sidebar; 👍/👎 feedback on each answer."""
from __future__ import annotations

import itertools
from typing import Any

import streamlit as st

from ui.client import ApiError, Unauthorized
from ui.common import api_errors, client, rerun_with_toast, signed_out
from ui.safe_render import escape_markdown, safe_link, safe_markdown, safe_stream
from ui.presenters import (citation_place, conversation_label, feedback_widget_value, history_for_request,
                           latency_caption, mode_notice, rating_from_widget)

CONV_KEY = "conversation_id"
ASSISTANT_AVATAR = ":material/explore:"

api = client()


def _select(conversation_id: int | None) -> None:
    st.session_state[CONV_KEY] = conversation_id


# --- sidebar: history ------------------------------------------------------------------------------
conversations: list[dict[str, Any]] = []
with st.sidebar:
    st.divider()
    st.button("New chat", icon=":material/add_comment:", key="new_chat", width="stretch",
              type="primary", on_click=_select, args=(None,))
    with api_errors("Could not load your conversations"):
        conversations = api.conversations()
    current_id = st.session_state.get(CONV_KEY)
    if current_id is not None and all(c["id"] != current_id for c in conversations):
        current_id = st.session_state[CONV_KEY] = None  # deleted elsewhere
    if conversations:
        st.caption("History")
    for conv in conversations:
        is_current = conv["id"] == current_id
        st.button(conversation_label(conv.get("title")), key=f"conv_{conv['id']}", width="stretch",
                  type="secondary" if is_current else "tertiary",
                  icon=":material/chat:" if is_current else ":material/chat_bubble_outline:",
                  on_click=_select, args=(conv["id"],))

current = next((c for c in conversations if c["id"] == current_id), None)

# --- header with rename / delete ------------------------------------------------------------------
title_col, actions_col = st.columns([3, 2], vertical_alignment="bottom")
if current:
    title_col.header(conversation_label(current["title"], width=80))
else:
    title_col.title(":material/forum: Ask Teamlore")
if current:
    with actions_col:
        rename_col, delete_col = st.columns(2)
        with rename_col.popover("Rename", icon=":material/edit:", width="stretch"):
            new_title = st.text_input("New title", value=current["title"], key=f"rename_{current['id']}")
            if st.button("Save", key="rename_save", type="primary"):
                if not new_title.strip():
                    st.error("The title can't be empty.")
                else:
                    with api_errors("Could not rename"):
                        api.rename_conversation(current["id"], new_title.strip())
                        rerun_with_toast("Conversation renamed")
        with delete_col.popover("Delete", icon=":material/delete:", width="stretch"):
            st.write("Delete this conversation and its messages?")
            if st.button("Yes, delete", key="delete_confirm", type="primary"):
                with api_errors("Could not delete"):
                    api.delete_conversation(current["id"])
                    st.session_state[CONV_KEY] = None
                    rerun_with_toast("Conversation deleted", ":material/delete:")


# --- messages ----------------------------------------------------------------------------------------
def render_citations(citations: list[dict[str, Any]], key_prefix: str = "new") -> None:
    if not citations:
        return
    st.caption("Sources")
    for cit in citations:
        icon = ":material/tag:" if cit.get("source") == "slack" else ":material/description:"
        with st.expander(f"[{cit.get('n', '?')}] {escape_markdown(cit.get('title') or 'Untitled source')}", icon=icon):
            st.markdown(safe_markdown(cit.get("snippet") or ""))
            where = citation_place(cit)
            if where:
                st.caption(escape_markdown(where))
            if cit.get("source") != "slack" and cit.get("document_id") is not None:
                # the API serves the stored original to whoever may see it; fetched only when clicked
                doc_id = int(cit["document_id"])
                st.download_button("Open document", data=lambda doc_id=doc_id: api.document_original(doc_id),
                                   file_name=cit.get("file") or f"document-{doc_id}", icon=":material/open_in_new:",
                                   key=f"open_{key_prefix}_{cit.get('n')}_{doc_id}", on_click="ignore",
                                   type="tertiary")
            else:
                link = safe_link("Open in Slack" if cit.get("source") == "slack" else "Open document", cit.get("url"))
                if link:
                    st.markdown(link)


def render_feedback(message: dict[str, Any]) -> None:
    message_id = message.get("id")
    if message_id is None:
        return
    server_rating = message.get("feedback")
    value = st.feedback("thumbs", key=f"fb_{message_id}", default=feedback_widget_value(server_rating))
    rating = rating_from_widget(value)
    if rating is not None and rating != server_rating:
        with api_errors("Could not save your feedback"):
            api.feedback(message_id, rating)
            message["feedback"] = rating
            st.toast("Thanks for the feedback!", icon=":material/favorite:")
    if rating is not None:
        # an expander in the message's own width: a popover from a narrow column opened past the window's edge
        with st.expander("Add a comment", icon=":material/rate_review:"):
            with st.form(f"comment_form_{message_id}", clear_on_submit=True, border=False):
                comment = st.text_area("What was good or wrong about this answer?", key=f"comment_{message_id}")
                if st.form_submit_button("Send", type="primary"):
                    if not comment.strip():
                        st.error("Write a comment first.")
                    else:
                        with api_errors("Could not save your comment"):
                            api.feedback(message_id, rating, comment.strip())
                            st.toast("Comment saved — thank you!", icon=":material/favorite:")


def render_answer_details(message: dict[str, Any], with_feedback: bool = True) -> None:
    notice = mode_notice(message.get("mode"))
    if notice:
        kind, text = notice
        (st.warning if kind == "warning" else st.info)(text, icon=":material/search_off:" if kind == "warning" else ":material/format_quote:")
    render_citations(message.get("citations") or [], key_prefix=str(message.get("id", "new")))
    st.caption(latency_caption(message.get("model_version"), message.get("mode"), message.get("latency")))
    if with_feedback:
        render_feedback(message)


messages: list[dict[str, Any]] = []
if current:
    with api_errors("Could not load this conversation"):
        messages = api.conversation(current["id"]).get("messages", [])

if not messages:
    st.markdown("Ask a question about your team's documents and Slack. Answers cite their sources, "
                "so you can check them.")

for msg in messages:
    if msg["role"] == "user":
        with st.chat_message("user"):
            st.markdown(safe_markdown(msg["content"]))
    elif msg["role"] == "assistant":
        with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
            st.markdown(safe_markdown(msg["content"]))
            render_answer_details(msg)

question = st.chat_input("Ask Teamlore…", key="question")
if question and question.strip():
    with st.chat_message("user"):
        st.markdown(safe_markdown(question))
    stream = api.chat_stream(history_for_request(messages, question.strip()),
                             conversation_id=current["id"] if current else None)
    with st.chat_message("assistant", avatar=ASSISTANT_AVATAR):
        try:
            deltas = iter(stream)
            with st.spinner("Searching your team's knowledge…"):
                first = next(deltas, None)  # retrieval happens before the first token arrives
            if first is not None:
                st.write_stream(safe_stream(itertools.chain([first], deltas)))
        except Unauthorized as exc:
            signed_out(exc)
        except ApiError as exc:
            st.error(exc.user_message, icon=":material/error:")
        else:
            info = stream.info or {}
            if info.get("conversation_id") is not None:
                st.session_state[CONV_KEY] = info["conversation_id"]
            if not stream.text and not info:
                st.error("The API ended the answer without any content. Please try again.", icon=":material/error:")
            else:
                # Re-render from the stored conversation so the new answer gets its feedback widget and the
                # sidebar lists a new conversation.
                st.rerun()
