"""Find and mask personal data and secrets.

Secrets come from detect-secrets' maintained detectors (Slack, AWS, GitHub, Stripe, private keys, passwords
in URLs, `password = "..."` assignments …); we add the shapes it lacks or cuts short: whole JWTs (its rule stops
before the signature), `Authorization: Bearer|Basic <token>` headers and opaque tokens after them, API-key
headers and current vendor key formats. Phone numbers use phonenumbers (libphonenumber) with region hints, so
national formats (UK `07911 123456`, DE `0171 3456789`, IN `98860 43217`) are found; IBANs and US SSNs are
validated with python-stdnum (IBAN checksum, SSN area/group/serial rules). E-mail, IP and card numbers are small
rules with validation (ipaddress, Luhn + the card networks' prefixes) so that version numbers (`1.2.3.4-rc`,
`olake-ui 2.10.0.1`), timestamps (`Logs-2026-06-08 13_34_09.txt`), hashes, `::` tokens, REPL prompts
(`racket@foo.rkt`), loopback addresses and ports are left alone.

Masking is a policy, per target. By default every target masks everything (personal data and secrets); an
admin can let the search index keep personal data (`TEAMLORE_MASK_PERSONAL_DATA_IN_INDEX=false`); secrets are
masked for every target, always. Measured in benchmarks/pii_masking.py (planted set, held-out half) and
benchmarks/pii_end_to_end.py (training data, stored messages, chunks, index and answers).
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

EMAIL, PHONE, CREDIT_CARD, IP, IBAN, SSN, SECRET = "email", "phone", "credit_card", "ip", "iban", "ssn", "secret"
PERSONAL_KINDS = frozenset({EMAIL, PHONE, CREDIT_CARD, IP, IBAN, SSN})
ALL_KINDS = PERSONAL_KINDS | {SECRET}
PLACEHOLDER = {EMAIL: "[EMAIL]", PHONE: "[PHONE]", CREDIT_CARD: "[CREDIT_CARD]", IP: "[IP]", IBAN: "[IBAN]",
               SSN: "[SSN]", SECRET: "[SECRET]"}
# Regions whose national formats (no +country code) are tried, in this order; numbers with a + are found for
# every country anyway. A workspace in another country adds its own (TEAMLORE_PHONE_REGIONS).
DEFAULT_PHONE_REGIONS = ("US", "GB", "DE", "IN", "FR", "ES", "IT", "NL", "AU", "BR")


@dataclass(frozen=True)
class MaskPolicy:
    kinds: frozenset[str]
    phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS

    @classmethod
    def for_target(cls, target: str, *, mask_personal_data: bool = True,
                   phone_regions: tuple[str, ...] | list[str] | None = None) -> "MaskPolicy":
        """`index`: secrets always, personal data unless an admin turns it off; `training`: everything, always."""
        regions = tuple(r.upper() for r in phone_regions) if phone_regions else DEFAULT_PHONE_REGIONS
        if target == "training":
            return cls(ALL_KINDS, regions)
        if target == "index":
            return cls(ALL_KINDS if mask_personal_data else frozenset({SECRET}), regions)
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
# A whole JWT: header, payload and signature (detect-secrets' rule is lazy and stops before the signature).
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{4,}={0,2}\.[A-Za-z0-9_-]{4,}={0,2}(?:\.[A-Za-z0-9_+/-]*={0,2})?")
# `Authorization: Bearer <token>`, `-H "Authorization: Basic dXNlcjpw…"`, `Authorization: token ghp_…`: the
# credential after the scheme, whatever its shape (opaque hex, base64, random).
_AUTH_SCHEME = re.compile(r"(?i)(?:\b(?:bearer|basic|digest)\s+|\bauthorization\s*[:=]\s*[\"']?(?:token\s+)?)"
                          r"([A-Za-z0-9._~+/-]{8,}={0,2})(?![A-Za-z0-9._~+/=-])")
# Header-style and assignment-style credentials detect-secrets' keyword rule misses (`X-Api-Key: …`,
# `"access_token": "…"`, `?api_key=…` in URLs, `token <value>`).
_KEYED_TOKEN = re.compile(r"(?i)(?:\bx-[\w-]*(?:key|token|secret|auth)|\b(?:access|refresh|auth|api|bot|session|"
                          r"secret|client|private)[_ -]?(?:token|key|secret)|\bapikey|\btoken|\bsecret)"
                          r"[\"']?\s*(?:[:=]|\s)\s*[\"']?([A-Za-z0-9._~+/-]{16,}={0,2})(?![A-Za-z0-9._~+/=-])")


def _opaque(value: str) -> bool:
    """A random-looking credential, not a word, path or version: long, mixing classes, few repeats."""
    v = value.strip("=")
    if len(v) < 16 or "/" in v.strip("/") and not re.search(r"[A-Z].*\d|\d.*[A-Z]", v):
        return False
    classes = sum(bool(re.search(p, v)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    if classes < 2 and not re.fullmatch(r"[0-9a-f]{32,}", v, re.I):
        return False
    return len(set(v)) >= 8


# `DB_PASSWORD=…`, `the sftp passwd is …`: the value after a password word (prose and placeholders are skipped).
_PASSWORD_KW = re.compile(r"(?i)\b[\w-]*(?:pass(?:word|wd|phrase)|pwd|pass(?=[\"']?\s*[:=]))[\"']?\s*(?:[:=]|\bis\b)\s*[\"'`]?"
                          r"([^\s\"'`,;]{6,})")


def _credential_like(value: str) -> bool:
    """After `Bearer`/`Basic`: a token (mixed letters and digits, base64, hex), not "basic docs/guides"."""
    v = value.rstrip(".,;:!?)")
    if len(v) < 8 or v != value and not v.endswith("="):
        return False
    classes = sum(bool(re.search(p, v)) for p in (r"[a-z]", r"[A-Z]", r"\d"))
    return classes >= 2 and "/" not in v.strip("/")[:-1] or bool(re.fullmatch(r"[0-9a-f]{16,}", v, re.I)) \
        or bool(re.fullmatch(r"[A-Za-z0-9+/]{12,}={1,2}", v))


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
    for m in _PASSWORD_KW.finditer(text):
        v = m.group(1).rstrip(".!?)")
        if len(v) >= 6 and not _looks_like_prose_value(v) and re.search(r"[\d\W_]", v) and v[0] not in "/(.~" \
                and sum(bool(re.search(p, v)) for p in (r"[A-Za-z]", r"\d", r"[^\w\s]")) >= 2:
            found.append(Finding(SECRET, m.start(1), m.start(1) + len(v), v))
    for m in _JWT.finditer(text):
        found.append(Finding(SECRET, m.start(), m.end(), m.group()))
    for rx in (_AUTH_SCHEME, _KEYED_TOKEN):
        for m in rx.finditer(text):
            v = m.group(1)
            if _opaque(v) if rx is _KEYED_TOKEN else _credential_like(v):
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
# `racket@foo.rkt`, `user@main.py`: a REPL prompt or a file, not an address. Endings that are no top-level
# domain, and ccTLDs that double as source-file endings when the "domain" is a single word.
_FILE_ENDINGS = frozenset("rkt js mjs ts tsx jsx rb java txt json yaml yml log cfg conf ini toml lock html htm css "
                          "cpp hpp cc hs exs ex clj cljs scm ss el lua php jl kt kts swift sql csv xml zip gz tgz "
                          "tar png jpg jpeg gif svg pdf ipynb scala erl hrl nim zig dart vue elm rkt ml mli fs fsx "
                          "go c h r sh py rs md ps pl pm lisp lsp bat ps1 env".split())
_SOURCE_CCTLDS = frozenset({"sh", "py", "rs", "md", "ps", "ml", "pl", "fs", "so", "re"})
_CARD_CANDIDATE = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w-]|\.\d)")
_CARD_PREFIX = re.compile(r"^(?:4\d{12}(?:\d{3}){0,2}|5[1-5]\d{14}|2(?:2[2-9][1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720)\d{12}"
                          r"|3[47]\d{13}|6(?:011|5\d\d)\d{12,15}|3(?:0[0-5]|[68]\d)\d{11,13}|35(?:2[89]|[3-8]\d)\d{12,15})$")
_IPV4 = re.compile(r"(?<![\w.-])(?:\d{1,3}\.){3}\d{1,3}(?![\w]|\.\d|\.[a-z]|-(?:rc|beta|alpha|snapshot|dev|pre)|-\d+[a-z]|\+)", re.I)
_IPV6 = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?:%\w+)?(?![\w:])")
# What a version number is written after: `v`, `version `, `olake-ui `, `image:`, `==`, `pkg@`.
_VERSION_BEFORE = re.compile(r"(?i)(?:\bv|\bversion\s*:?\s*|\brelease[sd]?\s*|\bbuild\s*|\btag\s*:?\s*|\bupgrade[sd]?\s+to\s+"
                             r"|\bbump(?:ed)?\s+to\s+|(?:==|~=|>=|<=|\^|~)\s*|[a-z][\w.-]*[a-z]:|[\w-]@)$")
# Weaker: a hyphenated name or name with digits before it (`olake-ui 2.10.0.1`); a private address still wins.
_NAME_BEFORE = re.compile(r"(?i)\b(?:[a-z][\w]*-[\w-]*|[a-z]+\d[\w-]*)\s+$")
_NOT_PERSONAL_IPS = frozenset({"0.0.0.0", "127.0.0.1", "255.255.255.255", "::", "::1"})
_IP_CONTEXT = re.compile(r"(?i)\b(?:ip|ips|ipv4|address|addr|host|server|ping|ssh|connect\w*|nameserver|dns|gateway|"
                         r"route|inet|src|dst|proxy|firewall|whitelist|allowlist|block\w*|vpn|nat|subnet|peer)\b|"
                         r"(?://|@)\s*$")
_IBAN = re.compile(r"(?i)\b[A-Z]{2}\d{2}(?:[ -]?[A-Z0-9]){11,30}\b")
_SSN = re.compile(r"(?<![\w-])(\d{3})([- ]?)(\d{2})\2(\d{4})(?![\w-]|\.\d)")
_SSN_CONTEXT = re.compile(r"(?i)\b(?:ssn|social\s+security|soc\.?\s*sec|taxpayer|tin|itin)\b")
_PHONE_CONTEXT = re.compile(r"(?i)\b(?:phone|tel|telephone|mobile|cell|call|ring|whats\s*app|sms|text|dial|fax|"
                            r"handy|telefon|number|no\.?|nr\.?|contact|reach)\b")
_DATE_IN = re.compile(r"\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{4}")


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


def _email_ok(value: str) -> bool:
    domain = value.rsplit("@", 1)[1]
    labels = domain.split(".")
    tld = labels[-1].lower()
    if tld in _FILE_ENDINGS and tld not in _SOURCE_CCTLDS:
        return False
    return not (tld in _SOURCE_CCTLDS and len(labels) == 2)


def _find_ibans(text: str) -> list[Finding]:
    out = []
    for m in _IBAN.finditer(text):
        raw = m.group()
        # The pattern is greedy (a following word may stick to it): the longest prefix with a valid checksum.
        for end in range(len(raw), 14, -1):
            cand = raw[:end].rstrip(" -")
            if len(cand) != end or not cand[-1].isalnum():
                continue
            compact = re.sub(r"[ -]", "", cand).upper()
            if _stdnum_iban().is_valid(compact):
                out.append(Finding(IBAN, m.start(), m.start() + end, cand))
                break
    return out


@lru_cache(maxsize=1)
def _stdnum_iban():
    from stdnum import iban
    return iban


@lru_cache(maxsize=1)
def _stdnum_ssn():
    from stdnum.us import ssn
    return ssn


def _find_ssns(text: str) -> list[Finding]:
    out = []
    for m in _SSN.finditer(text):
        sep = m.group(2)
        # 123-45-6789 is an SSN as written; 123 45 6789 and 123456789 only when the text says so.
        if not sep == "-" and not _SSN_CONTEXT.search(text[max(0, m.start() - 40):m.start()]):
            continue
        if _stdnum_ssn().is_valid(m.group(1) + m.group(3) + m.group(4)):
            out.append(Finding(SSN, m.start(), m.end(), m.group()))
    return out


def _phone_ok(text: str, start: int, end: int, raw: str, number) -> bool:
    before = text[max(0, start - 1):start]
    after = text[end:end + 2]
    if "isbn" in text[max(0, start - 8):start].lower():
        return False  # ISBN-10s parse as valid numbers in some regions
    # Part of a longer token: `Logs-2026-06-08 13_34_09.txt`, `build-20260608`, `id=4155552671x`, `:8080`.
    if before and (before.isalnum() or before in "-_./:#=$€£@") or after[:1] in ("_", ":", "/", "@") \
            or re.match(r"[.,]\d", after):
        return False
    # Dates and times are not dialled: 2026-06-08 13, 08.06.2026.
    if _DATE_IN.search(raw) or re.search(r"\d{1,2}:\d{2}", raw):
        return False
    if re.search(r"[xX]|\s-\s", raw):
        return False  # 1680x1050 is a resolution, "3000 - 4000" a range
    # Without a + (a national format), the number must be grouped the way that country writes it ("07911 123456",
    # "0171 3456789", "98860 43217"), or have a phone word nearby ("call 07911123456"); ids, counts, epoch
    # seconds, block counts and ISBNs are otherwise indistinguishable.
    international = raw.lstrip("(").startswith("+") or before == "+"
    if not international and not _PHONE_CONTEXT.search(text[max(0, start - 30):start]):
        ndigits = sum(c.isdigit() for c in raw)
        if raw.isdigit() or ndigits < 9:
            return False
        groups = [len(g) for g in re.findall(r"\d+", raw)]
        national = [len(g) for g in re.findall(r"\d+", phonenumbers.format_number(
            number, phonenumbers.PhoneNumberFormat.NATIONAL))]
        if groups != national and groups != [national[0] - 1] + national[1:] \
                and [groups[0] + 1] + groups[1:] != national:
            return False
    # "2022) 29.4 56.3" in a table of figures: unbalanced brackets or decimals are not how numbers are dialled.
    if raw.count("(") != raw.count(")") or ("." in raw and not re.search(r"\d{2,4}\.\d{3}\.\d{4}", raw)):
        return False
    return True


# Something dialable: 7+ digits in one run of digits, spaces, brackets, dots and dashes. libphonenumber is slow
# (and tried once per region), so texts without such a run skip it.
_PHONE_CANDIDATE = re.compile(r"\+?\(?\d[\d ()./-]{5,24}\d")


def _find_phones(text: str, regions: tuple[str, ...], taken: list[tuple[int, int]]) -> list[Finding]:
    spans: dict[tuple[int, int], str] = {}
    for cand in _PHONE_CANDIDATE.finditer(text):
        if sum(c.isdigit() for c in cand.group()) < 7:
            continue
        # libphonenumber looks at the candidate with a little context (it rejects numbers glued to letters);
        # a number with + is found the same way whatever the region, so one region is enough for it
        w0, w1 = max(0, cand.start() - 2), min(len(text), cand.end() + 2)
        window = text[w0:w1]
        for region in (regions[:1] if "+" in window else regions):
            for match in phonenumbers.PhoneNumberMatcher(window, region, leniency=phonenumbers.Leniency.VALID):
                start, end, raw = w0 + match.start, w0 + match.end, match.raw_string
                # "(+1-641-555-0190)" comes back as "(+1-641-555-0190": an opening bracket around the number
                if raw.startswith("(") and raw.count("(") > raw.count(")"):
                    start, raw = start + 1, raw[1:]
                if (start, end) in spans or any(s < end and start < e for s, e in taken + list(spans)):
                    continue
                if _phone_ok(text, start, end, raw, match.number):
                    spans[(start, end)] = raw
    return [Finding(PHONE, s, e, raw) for (s, e), raw in spans.items()]


def _find_ips(text: str) -> list[Finding]:
    found = []
    for m in _IPV4.finditer(text):
        value = m.group()
        try:
            addr = ipaddress.IPv4Address(value)
        except ValueError:
            continue
        if value in _NOT_PERSONAL_IPS or value.startswith("255.") or addr.is_loopback:
            continue  # loopback/unspecified/netmasks: in every config and log, nobody's address
        octets = [int(o) for o in value.split(".")]
        if octets[0] < 10 and max(octets[1:]) < 100 and not _IP_CONTEXT.search(text[max(0, m.start() - 30):m.start()]):
            continue  # 2.6.8.1, 1.5.0.3, 5.10.91.27: small numbers, no address word: a version
        # A version number (`v1.2.3.4`, `olake-ui 2.10.0.1`, `image: foo:1.2.3.4`), unless it is a private
        # address, which versions rarely look like (10.x, 192.168.x).
        before = text[max(0, m.start() - 24):m.start()]
        if _VERSION_BEFORE.search(before) or _NAME_BEFORE.search(before) and not (
                addr.is_private and value.startswith(("10.", "172.", "192.168."))):
            continue
        found.append(Finding(IP, m.start(), m.end(), value))
    for m in _IPV6.finditer(text):
        cand = m.group()
        # times (12:30:45), MAC-like strings and `Foo::bar` / `::` tokens are not IPv6 addresses
        if cand.count(":") < 2 or "::" not in cand and cand.count(":") != 7:
            continue
        if cand in _NOT_PERSONAL_IPS or len(re.findall(r"[0-9A-Fa-f]+", cand)) < 2:
            continue
        if "::" in cand and not re.search(r"\d", cand):
            continue  # `beef::cafe`, `add::face`: words joined by `::`, no address without a digit
        try:
            ipaddress.IPv6Address(cand)
        except ValueError:
            continue
        found.append(Finding(IP, m.start(), m.end(), cand))
    return found


def _find_personal(text: str, kinds: frozenset[str], regions: tuple[str, ...]) -> list[Finding]:
    found: list[Finding] = []
    if EMAIL in kinds:
        found += [Finding(EMAIL, m.start(), m.end(), m.group()) for m in _EMAIL.finditer(text)
                  if _email_ok(m.group())]
    if IBAN in kinds:
        found += _find_ibans(text)
    if SSN in kinds:
        found += _find_ssns(text)
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
        found += _find_ips(text)
    if PHONE in kinds and sum(c.isdigit() for c in text) >= 7:
        found += _find_phones(text, regions, [(f.start, f.end) for f in found])
    return found


def find_pii(text: str, kinds: frozenset[str] | set[str] = ALL_KINDS,
             phone_regions: tuple[str, ...] = DEFAULT_PHONE_REGIONS) -> list[Finding]:
    """All findings of the given kinds, overlaps resolved (secrets first, then the longer span)."""
    kinds = frozenset(kinds)
    unknown = kinds - ALL_KINDS
    if unknown:
        raise ValueError(f"unknown PII kinds: {sorted(unknown)}; known: {sorted(ALL_KINDS)}")
    if not text:
        return []
    found = _find_secrets(text) if SECRET in kinds else []
    found += _find_personal(text, kinds, tuple(phone_regions))
    # Keep non-overlapping spans: secrets win (a password in a URL beats the "e-mail" around it), then length.
    found.sort(key=lambda f: (f.kind != SECRET, -(f.end - f.start), f.start))
    kept: list[Finding] = []
    for f in found:
        if f.end > f.start and all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    return sorted(kept, key=lambda f: f.start)


def mask(text: str, policy: MaskPolicy) -> tuple[str, Counter[str]]:
    """Replace every finding of the policy's kinds with a placeholder ([EMAIL], [SECRET] …); counts per kind."""
    findings = find_pii(text, policy.kinds, policy.phone_regions)
    if not findings:
        return text, Counter()
    out, last = [], 0
    for f in findings:
        out.append(text[last:f.start])
        out.append(PLACEHOLDER[f.kind])
        last = f.end
    out.append(text[last:])
    return "".join(out), Counter(f.kind for f in findings)
