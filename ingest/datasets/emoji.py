"""Slack emoji shortcodes in training text: `:tada:` → 🎉, `:+1::skin-tone-3:` → 👍🏼; custom ones stay as text.

Why: a model trained on `:slightly_smiling_face:` learns to write the shortcode, which no chat surface but Slack
renders, and spends ~6 tokens on what is one character; a team's custom emoji (`:olake:`, `:shipit-parrot:`) have no
Unicode form, so they stay as typed (the model may as well learn the team's name for them). Emoji-only messages
are no turn at all (`text.is_greeting_only`), so reaction-like "👍" replies do not become answers.

The table is the standard emoji-name table that `rich` (already a runtime dependency, pinned in
requirements/runtime.txt) ships as `rich._emoji_codes.EMOJI` (≈3,600 names: Slack's gemoji names and CLDR names),
plus the few Slack names it lacks. A `rich` release without that module fails the import here (and the tests),
not silently converting nothing.

Not converted: anything inside code (``` blocks or `inline`), and digits between colons that are times
(`12:24:40`): a shortcode must not follow a digit or a colon, nor be followed by a letter or digit. It may follow
a word: Slack renders "Released:rotating_light:" as "Released🚨".
"""
from __future__ import annotations

import re
from functools import lru_cache

# Slack names missing from rich's table (checked against rich 15.0.0)
SLACK_EXTRA = {
    "simple_smile": "🙂", "upside_down_face": "🙃", "smiling_face_with_tear": "🥲", "large_green_circle": "🟢",
    "large_yellow_circle": "🟡", "large_orange_circle": "🟠", "large_purple_circle": "🟣", "large_brown_circle": "🟤",
    "white_check_mark": "✅", "heavy_check_mark": "✔️", "thumbsup": "👍", "thumbsdown": "👎",
}
SKIN_TONES = {"2": "\U0001F3FB", "3": "\U0001F3FC", "4": "\U0001F3FD", "5": "\U0001F3FE", "6": "\U0001F3FF"}
SHORTCODE_RE = re.compile(r"(?<![\d:]):([a-z0-9_+\-']+):(?::skin-tone-([2-6]):)?(?![\w])", re.I)
_CODE_RE = re.compile(r"```.*?```|`[^`\n]+`", re.S)


@lru_cache(maxsize=1)
def table() -> dict[str, str]:
    from rich._emoji_codes import EMOJI  # noqa: PLC0415 — see the module docstring (rich is a pinned dependency)
    out = {k.lower(): v for k, v in EMOJI.items()}
    out.update(SLACK_EXTRA)
    return out


def _replace(m: re.Match) -> str:
    name = m.group(1).lower()
    char = table().get(name)
    if char is None or (name.isdigit() and name not in ("100", "1234")):
        return m.group(0)  # a custom emoji (`:olake:`), or not an emoji at all
    return char + (SKIN_TONES.get(m.group(2) or "", ""))


def shortcodes_to_unicode(text: str) -> str:
    """Standard Slack emoji shortcodes as Unicode characters; code spans, custom emoji and times untouched."""
    if ":" not in text:
        return text
    out, last = [], 0
    for c in _CODE_RE.finditer(text):
        out.append(SHORTCODE_RE.sub(_replace, text[last:c.start()]))
        out.append(c.group())
        last = c.end()
    out.append(SHORTCODE_RE.sub(_replace, text[last:]))
    return "".join(out)
