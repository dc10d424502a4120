"""Block Kit payloads: the answer with citations and buttons, the full source list, the App Home view."""
from __future__ import annotations

from typing import Any, Mapping, Sequence, Union

from model.base import Citation

# action ids the bot listens for (app/slack/bot.py)
FEEDBACK_UP = "teamlore_feedback_up"
FEEDBACK_DOWN = "teamlore_feedback_down"
SHOW_SOURCES = "teamlore_show_sources"
ASK_HUMAN = "teamlore_ask_human"

SECTION_LIMIT = 3000  # Slack rejects section text over 3000 characters
MAX_CITATION_BLOCKS = 5
PLACEHOLDER = "_Thinking…_"


def escape(text: str) -> str:
    """Slack mrkdwn control characters; everything else is shown as written."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _link(url: str | None, label: str) -> str:
    label = escape(label).replace("|", "¦")  # a pipe would end the link label early
    if url and url.startswith(("http://", "https://")):
        return f"<{url}|{label}>"
    return f"*{label}*"


def sections(text: str) -> list[dict[str, Any]]:
    text = escape(text) or " "
    parts = [text[i:i + SECTION_LIMIT] for i in range(0, len(text), SECTION_LIMIT)][:20]
    return [{"type": "section", "text": {"type": "mrkdwn", "text": p}} for p in parts]


CitationLike = Union[Citation, Mapping[str, Any]]  # a Citation, or one as stored in messages.citations


def _citation(c: CitationLike) -> Citation:
    return c if isinstance(c, Citation) else Citation.from_dict(c)


def citation_line(c: CitationLike) -> str:
    c = _citation(c)
    title = c.title or ("Slack thread" if c.source == "slack" else "Document")
    where = []
    if c.channel:
        where.append(f"#{escape(str(c.channel))}")
    if c.heading:
        where.append(escape(str(c.heading)))
    if c.page:
        where.append(f"p. {c.page}")
    tail = f" · {' · '.join(where)}" if where else ""
    return f"*[{c.n or '?'}]* {_link(c.url, str(title))}{tail}"


def streaming_blocks(text: str) -> list[dict[str, Any]]:
    return sections(text + " ▍")


def answer_blocks(text: str, citations: Sequence[CitationLike], message_id: int | None, *,
                  footer: str | None = None) -> list[dict[str, Any]]:
    blocks = sections(text)
    if citations:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "*Sources*"}]})
        for c in citations[:MAX_CITATION_BLOCKS]:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": citation_line(c)}]})
        if len(citations) > MAX_CITATION_BLOCKS:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": f"…and {len(citations) - MAX_CITATION_BLOCKS} more: *Show sources*"}]})
    if footer:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(footer)}]})
    if message_id is not None:
        value = str(message_id)
        blocks.append({"type": "actions", "block_id": f"teamlore_answer_{value}", "elements": [
            {"type": "button", "action_id": FEEDBACK_UP, "value": value,
             "text": {"type": "plain_text", "text": "👍", "emoji": True}},
            {"type": "button", "action_id": FEEDBACK_DOWN, "value": value,
             "text": {"type": "plain_text", "text": "👎", "emoji": True}},
            {"type": "button", "action_id": SHOW_SOURCES, "value": value,
             "text": {"type": "plain_text", "text": "Show sources"}},
            {"type": "button", "action_id": ASK_HUMAN, "value": value,
             "text": {"type": "plain_text", "text": "Ask a human"}},
        ]})
    return blocks


def sources_blocks(citations: Sequence[CitationLike]) -> list[dict[str, Any]]:
    if not citations:
        return sections("This answer cites no sources.")
    blocks: list[dict[str, Any]] = []
    for c in citations[:24]:  # two blocks each, under Slack's 50-block limit
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": citation_line(c)}})
        snippet = escape(_citation(c).snippet or "")[:SECTION_LIMIT - 10]
        if snippet:
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": f"> {snippet}"}]})
    return blocks


def sources_text(citations: Sequence[CitationLike]) -> str:
    lines = [f"[{c.n}] {c.title}" + (f" {c.url}" if c.url else "") for c in map(_citation, citations)]
    return "Sources:\n" + "\n".join(lines) if lines else "This answer cites no sources."


def home_view(*, model_version: str | None, generator: str, help_channels: list[str],
              support_group: str | None) -> dict[str, Any]:
    model = model_version or ("extractive answers (no generative model)" if generator == "extractive"
                              else f"{generator} backend, no live version registered")
    lines = [
        "*Ask me in a DM*, or mention me in a channel: `@Teamlore how do I request parental leave?`",
        "I answer from the team's documents and Slack conversations, with links to the sources.",
        "Reply in my thread to ask a follow-up: I read the thread as context.",
        "`/teamlore ask <question>` answers privately; `/teamlore status` shows the system state (admins).",
        "Rate answers with 👍 / 👎: the feedback trains the next model version.",
        "In a channel I only use content *every member* of that channel can read in Slack; in a DM, what *you* "
        "can read.",
    ]
    if help_channels:
        lines.append("I also answer unmentioned questions in: " + ", ".join(escape(c) for c in help_channels))
    if support_group:
        lines.append(f"*Ask a human* pings {escape(support_group)}.")
    return {"type": "home", "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": "Teamlore"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(f"• {line}" for line in lines)}},
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": f"*Live model:* {escape(model)}"}]},
    ]}
