"""Passages that talk to the reader instead of informing them: instructions to the assistant, forged chat turns,
and requests for credentials. The answer engine keeps such passages out of answers and says so.

A document or Slack message is data. When a passage instead addresses whoever reads it — "ignore previous
instructions", "<|system|>", "visit http://… and enter your company credentials", "reply with your password" — quoting
it as an answer hands the attacker the user's attention (and, for a model, the prompt). `flag_passage` names the
reason or returns None. Text is normalised first (NFKC folds full-width letters, zero-width characters are
dropped) so trivial obfuscation does not slip through.
"""
from __future__ import annotations

import re
import unicodedata

_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"), None)

_SECRET = (r"(?:passwords?|passcodes?|pass\s*phrases?|credentials?|log-?ins?|sign-?in details|api[\s_-]?keys?|"
           r"(?:access|auth|slack|session|bearer)[\s_-]?tokens?|tokens?\s+xox\w*|xox[abp]\w*|2fa codes?|"
           r"one[\s-]time (?:code|password)s?|otp|mfa codes?|pins?\b|security codes?|social security numbers?|ssn|"
           r"card numbers?|bank details|secret keys?|private keys?|seed phrases?)")
_ASK = r"(?:enter|paste|type|send|submit|provide|share|reply(?: to [^.\n]{0,40})? with|confirm|verify|give|post|dm|email)"

_RULES: list[tuple[str, re.Pattern[str]]] = [
    ("asks for credentials", re.compile(_ASK + r"\b[^.\n]{0,60}?\b(?:your|the|company|work|corporate)\b[^.\n]{0,30}?"
                                        + _SECRET, re.I)),
    ("asks for credentials", re.compile(r"to (?:verify|confirm|validate) your (?:identity|account)", re.I)),
    ("sends the reader to a link to act", re.compile(
        r"\b(?:visit|go to|open|click|log ?in (?:at|to)|sign ?in (?:at|to))\b[^\n]{0,20}?(?:https?://|www\.)\S+"
        r"[^.\n]{0,40}?\b(?:and|then|to)\b[^.\n]{0,20}?\b(?:enter|paste|type|log ?in|sign ?in|provide|submit|"
        r"confirm|verify|upload)\b", re.I)),
    ("instructs the assistant", re.compile(
        r"\b(?:ignore|disregard|forget|override)\b[^.\n]{0,30}?\b(?:previous|prior|above|earlier|all|your|the)\b"
        r"[^.\n]{0,20}?\b(?:instructions?|rules|context|prompts?|messages?|guidelines)", re.I)),
    ("instructs the assistant", re.compile(
        r"\b(?:you are now (?:an? |dan\b|in \w+ mode|unrestricted|free)|new (?:policy|instructions?|rules?)\s*[:,\n]|you are an? unrestricted|note to the (?:ai|assistant|bot|model)|"
        r"if you are an? (?:ai|assistant|language model|llm|bot)|"
        r"(?:reveal|print|repeat|show|output|translate)\b[^.\n]{0,30}\b(?:system prompt|your (?:previous )?"
        r"instructions|\w*(?:admin|api)[\s_]?key|database url)|"
        r"(?:ai|assistant|bot|teamlore)\s*[:,]\s*(?:also\s+)?(?:respond|reply|answer|say|post|include|always))", re.I)),
    ("instructs the assistant", re.compile(
        r"\b(?:always |only )?(?:respond|reply|answer)\b[^.\n]{0,15}?\b(?:only )?with\b[^.\n]{0,40}?(?:and nothing else|"
        r"to every(?:thing| question)|only\b)|\bsay\b[^.\n]{0,20}\bto every(?:thing| question)", re.I)),
    ("forges a chat turn", re.compile(
        r"<\|(?:system|user|assistant|im_start|im_end|endoftext|eot_id|start_header_id)\|>|\[/?INST\]|<</?SYS>>|"
        r"</?\s*passages?\b|^\s*(?:system|assistant)\s*:|\"role\"\s*:\s*\"(?:system|assistant)\"|</s>\s*<s>",
        re.I | re.M)),
    ("asks the assistant to run a tool", re.compile(
        r"\b(?:call|run|invoke|use) the (?:tool|function)\b|\bsend_email\s*\(", re.I)),
]


def normalise(text: str) -> str:
    return unicodedata.normalize("NFKC", text or "").translate(_ZERO_WIDTH)


def flag_passage(text: str) -> str | None:
    """Why this passage addresses the reader with instructions or a credential request, or None."""
    t = normalise(text)
    for reason, pattern in _RULES:
        if pattern.search(t):
            return reason
    return None
