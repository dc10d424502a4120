"""Find and mask personal data and secrets.

Secrets come from detect-secrets' maintained detectors (Slack, AWS, GitHub, Stripe, JWT, private keys, passwords
in URLs, `password = "..."` assignments …); we only add the few token shapes it lacks. Phone numbers use
phonenumbers (libphonenumber). E-mail, IP and card numbers are small rules with validation (ipaddress, Luhn + the
card networks' prefixes) so that version numbers, dates, hashes and ISBNs are left alone.

Masking is a policy, per target: what goes into the search index can keep personal data (configurable) while
training data masks everything; secrets are masked for every target.
"""
from __future__ import annotations

import ipaddress
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from detect_secrets.plugins import (artifactory, aws, azure_storage_key, basic_auth, discord, github_token,
                                    gitlab_token, jwt, mailchimp, npm, openai, pypi_token, sendgrid, slack,
                                    square_oauth, stripe, telegram_token, twilio)
from detect_secrets.plugins.keyword import KeywordDetector

EMAIL, PHONE, CREDIT_CARD, IP, SECRET = "email", "phone", "credit_card", "ip", "secret"
PERSONAL_KINDS = frozenset({EMAIL, PHONE, CREDIT_CARD, IP})
ALL_KINDS = PERSONAL_KINDS | {SECRET}
PLACEHOLDER = {EMAIL: "[EMAIL]", PHONE: "[PHONE]", CREDIT_CARD: "[CREDIT_CARD]", IP: "[IP]", SECRET: "[SECRET]"}


@dataclass(frozen=True)
class MaskPolicy:
    kinds: frozenset[str]

    @classmethod
    def for_target(cls, target: str, *, mask_personal_data: bool = True) -> "MaskPolicy":
        """`index`: secrets always, personal data if asked; `training`: everything, always."""
        if target == "training":
            return cls(ALL_KINDS)
        if target == "index":
            return cls(ALL_KINDS if mask_personal_data else frozenset({SECRET}))
        raise ValueError(f"unknown masking target {target!r}: expected 'index' or 'training'")


@dataclass(frozen=True)
class Finding:
    kind: str
    start: int
    end: int
    value: str


# --- secrets -----------------------------------------------------------------------------------------

# detect-secrets' regex detectors; their `denylist` patterns give us exact spans to mask.
_REGEX_DETECTORS = [
    artifactory.ArtifactoryDetector, aws.AWSKeyDetector, azure_storage_key.AzureStorageKeyDetector,
    discord.DiscordBotTokenDetector, github_token.GitHubTokenDetector, gitlab_token.GitLabTokenDetector,
    jwt.JwtTokenDetector, mailchimp.MailchimpDetector, npm.NpmDetector, openai.OpenAIDetector,
    pypi_token.PypiTokenDetector, sendgrid.SendGridDetector, slack.SlackDetector, square_oauth.SquareOAuthDetector,
    stripe.StripeDetector, telegram_token.TelegramBotTokenDetector, twilio.TwilioKeyDetector,
]
# Token shapes detect-secrets 1.5 does not know (current OpenAI/Anthropic project keys, Google API keys,
# Hugging Face tokens) and PEM blocks, which it flags only by their BEGIN line.
_EXTRA_SECRET_PATTERNS = [
    re.compile(r"\bsk-(?:proj-|ant-[a-z0-9]+-)?[A-Za-z0-9_-]{32,}"),
    re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b"),
    re.compile(r"\bhf_[A-Za-z0-9]{30,}\b"),
    re.compile(r"\bnpm_[A-Za-z0-9]{36}\b"),  # npm access tokens (detect-secrets knows only .npmrc lines)
    re.compile(r"\bgithub_pat_[A-Za-z0-9_]{60,}"),  # GitHub fine-grained tokens
    re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY"
               r"(?: BLOCK)?-----|\Z)", re.S),
]
# user:password@ in any URL; detect-secrets' rule skips passwords holding reserved characters (!, #, …), which
# people paste unencoded anyway.
_URL_PASSWORD = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@[\w.-]")
# What the AWS secret access key looks like when it is named next to its value.
_AWS_SECRET = re.compile(r"(?i)aws.{0,20}?secret.{0,20}?[\s:=\"']+([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])")


@lru_cache(maxsize=1)
def _keyword_detector() -> KeywordDetector:
    return KeywordDetector()


def _find_secrets(text: str) -> list[Finding]:
    found: list[Finding] = []
    for cls in _REGEX_DETECTORS:
        for rx in cls.denylist:
            for m in rx.finditer(text):
                found.append(Finding(SECRET, m.start(), m.end(), m.group()))
    # Passwords in URLs: mask the password only, so the host stays readable.
    for rx in basic_auth.BasicAuthDetector.denylist:
        for m in rx.finditer(text):
            found.append(Finding(SECRET, m.start(1), m.end(1), m.group(1)))
    for m in _URL_PASSWORD.finditer(text):
        found.append(Finding(SECRET, m.start(1), m.end(1), m.group(1)))
    for rx in _EXTRA_SECRET_PATTERNS:
        for m in rx.finditer(text):
            found.append(Finding(SECRET, m.start(), m.end(), m.group()))
    for m in _AWS_SECRET.finditer(text):
        found.append(Finding(SECRET, m.start(1), m.end(1), m.group(1)))
    # `password: value` / `api_key = "value"`: detect-secrets' keyword detector, with YAML/config rules so that
    # unquoted values count, line by line (its regexes are line-oriented).
    if _KEYWORD_HINT.search(text):
        kd = _keyword_detector()
        offset = 0
        for line in text.splitlines(keepends=True):
            if _KEYWORD_HINT.search(line):
                for value in kd.analyze_string(line, denylist_regex_to_group=_keyword_regexes()):
                    value = value.strip()
                    pos = line.find(value) if len(value) >= 4 else -1
                    if pos >= 0 and not _looks_like_prose_value(value):
                        found.append(Finding(SECRET, offset + pos, offset + pos + len(value), value))
            offset += len(line)
    return found


_KEYWORD_HINT = re.compile(r"(?i)pass(?:word|wd)?|pwd|secret|api.?key|token|credential|private.?key")


@lru_cache(maxsize=1)
def _keyword_regexes():
    from detect_secrets.plugins.keyword import REGEX_BY_FILETYPE
    from detect_secrets.util.filetype import FileType
    return REGEX_BY_FILETYPE[FileType.YAML]


def _looks_like_prose_value(value: str) -> bool:
    """`password: reset it from the portal` is advice, not a password: a value that is a plain lowercase word
    followed by more text, or a placeholder, is skipped."""
    v = value.strip("\"'`,.;")
    if not v or v.lower() in {"none", "null", "true", "false", "yes", "no", "required", "optional", "changeme",
                               "xxx", "xxxx", "****", "********", "redacted", "[secret]", "<password>"}:
        return True
    if v.startswith(("$", "{", "<", "%", "[")):  # ${ENV}, {{template}}, <placeholder>
        return True
    if re.search(r"\s", v):  # passwords in chat are single tokens; "reset it from the portal" is advice
        return True
    return bool(re.fullmatch(r"[a-z]+", v)) and len(v) < 12


# --- personal data -----------------------------------------------------------------------------------

_EMAIL = re.compile(r"(?<![\w.+-])[A-Za-z0-9][A-Za-z0-9._%+-]*@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
                    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*\.[A-Za-z]{2,24}(?![\w-]|:[\w~])")  # git@host:repo is SSH
_CARD_CANDIDATE = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-]|\.\d)")
_CARD_PREFIX = re.compile(r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"
                          r"|3[47]\d{13}|6(?:011|5\d\d)\d{12,15}|3(?:0[0-5]|[68]\d)\d{11,13}|35(?:2[89]|[3-8]\d)\d{12,15})$")
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d)")
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])")
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|version\s*|release\s*|build\s*)$")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _find_personal(text: str, kinds: frozenset[str]) -> list[Finding]:
    found: list[Finding] = []
    if EMAIL in kinds:
        found += [Finding(EMAIL, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)]
    if CREDIT_CARD in kinds:
        for m in _CARD_CANDIDATE.finditer(text):
            raw = m.group()
            digits = re.sub(r"[ -]", "", raw)
            # Separators must be consistent (4-4-4-4, 4-6-5): "12 3456-78" is not a card as written.
            if len(set(re.findall(r"[ -]", raw))) > 1:
                continue
            if _CARD_PREFIX.match(digits) and luhn_ok(digits):
                found.append(Finding(CREDIT_CARD, m.start(), m.end(), raw))
    if IP in kinds:
        for m in _IPV4.finditer(text):
            if _VERSION_BEFORE.search(text[max(0, m.start() - 10):m.start()]):
                continue
            try:
                ipaddress.IPv4Address(m.group())
            except ValueError:
                continue
            found.append(Finding(IP, m.start(), m.end(), m.group()))
        for m in _IPV6.finditer(text):
            cand = m.group()
            if cand.count(":") < 2 or not re.search(r"[0-9A-Fa-f]", cand) or "::" not in cand and cand.count(":") != 7:
                continue  # times (12:30:45) and MAC-like strings are not IPv6 addresses
            try:
                ipaddress.IPv6Address(cand)
            except ValueError:
                continue
            found.append(Finding(IP, m.start(), m.end(), cand))
    if PHONE in kinds and sum(c.isdigit() for c in text) >= 7:
        taken = [(f.start, f.end) for f in found]
        for match in phonenumbers.PhoneNumberMatcher(text, "US", leniency=phonenumbers.Leniency.VALID):
            if any(s < match.end and match.start < e for s, e in taken):
                continue
            raw = match.raw_string
            if "isbn" in text[max(0, match.start - 8):match.start].lower():
                continue  # ISBN-10s parse as valid numbers in some regions
            # A bare run of digits is a phone number only when written like one (+, spaces, dashes, brackets)
            # or with a country code; ID numbers and ISBNs otherwise look the same.
            if raw.isdigit() and not text[max(0, match.start - 1):match.start] == "+":
                continue
            # "2022) 29.4 56.3" in a table of figures: unbalanced brackets or decimals are not how numbers are dialled.
            if raw.count("(") != raw.count(")") or ("." in raw and not re.search(r"\d{3}\.\d{3}\.\d{4}", raw)):
                continue
            found.append(Finding(PHONE, match.start, match.end, raw))
    return found


def find_pii(text: str, kinds: frozenset[str] | set[str] = ALL_KINDS) -> list[Finding]:
    """All findings of the given kinds, overlaps resolved (secrets first, then the longer span)."""
    kinds = frozenset(kinds)
    unknown = kinds - ALL_KINDS
    if unknown:
        raise ValueError(f"unknown PII kinds: {sorted(unknown)}; known: {sorted(ALL_KINDS)}")
    if not text:
        return []
    found = _find_secrets(text) if SECRET in kinds else []
    found += _find_personal(text, kinds)
    # Keep non-overlapping spans: secrets win (a password in a URL beats the "e-mail" around it), then length.
    found.sort(key=lambda f: (f.kind != SECRET, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for f in found:
        if f.end > f.start and all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def mask(text: str, policy: MaskPolicy) -> tuple[str, Counter[str]]:
    """Replace every finding of the policy's kinds with a placeholder ([EMAIL], [SECRET] …); counts per kind."""
    findings = find_pii(text, policy.kinds)
    if not findings:
        return text, Counter()
    out, last = [], 0
    for f in findings:
        out.append(text[last:f.start])
        out.append(PLACEHOLDER[f.kind])
        last = f.end
    out.append(text[last:])
    return "".join(out), Counter(f.kind for f in findings)
