"""Small text helpers shared by disentanglement, example building and quality rules."""
from __future__ import annotations

import re
import unicodedata

WORD_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_'.-]*[A-Za-z0-9_]|[A-Za-z0-9_]")
MENTION_ID_RE = re.compile(r"<@([UWB][A-Z0-9]+)(?:\|[^>]*)?>")
MENTION_NAME_RE = re.compile(r"(?<![\w.])@([\w.\-]+(?: [A-Z][\w\-]+)?)")
CODE_BLOCK_RE = re.compile(r"```.*?```", re.S)
INLINE_CODE_RE = re.compile(r"`[^`\n]+`")
EMOJI_RE = re.compile(r":[a-z0-9_+\-']+:")
URL_RE = re.compile(r"<?https?://\S+>?")
FILE_RE = re.compile(r"\[file: [^\]]*\]")

STOPWORDS = frozenset("""
a about above after again against all also am an and any are as at be because been before being below between both
but by can could did do does doing down during each few for from further had has have having he her here hers him
his how i if in into is it its itself just let me more most my no nor not now of off on once only or other our ours
out over own same she should so some such than that the their theirs them then there these they this those through
to too under until up very was we were what when where which while who whom why will with would you your yours
hi hello hey thanks i'm it's don't can't i've we're what's that's there's doesn't isn't didn't need want like thank please pls team guys everyone anyone ok okay yes yeah sure one get got use using know
""".split())

QUESTION_START_RE = re.compile(
    r"^(how|what|why|where|when|which|who|whom|is|are|can|could|does|do|did|should|would|will|has|have|any|anyone)\b",
    re.I)
GREETING_RE = re.compile(
    r"^\s*(hi|hello|hey|hiya|yo|good (morning|afternoon|evening)|morning|gm|thanks?( you)?( so much| a lot)?|"
    r"thx|ty|cheers|welcome|bye|cool|nice|great|awesome|ok(ay)?|np|no problem|lol|haha|\+1|same here)"
    r"[\s!.,:;)(-]*(all|everyone|team|folks|guys|there|y'all|!+)?[\s!.,]*$", re.I)
THANKS_RE = re.compile(r"\b(thanks|thank you|thx|ty|tysm|appreciate(d)?|that (worked|works|fixed|did it)|"
                       r"works now|worked|solved|resolved|fixed it|perfect|got it working|makes sense)\b", re.I)


def words(text: str) -> list[str]:
    return [w.lower() for w in WORD_RE.findall(text)]


def content_words(text: str) -> list[str]:
    """Words that carry topic: no stopwords, no emoji codes, no code blocks' punctuation."""
    text = EMOJI_RE.sub(" ", URL_RE.sub(" ", FILE_RE.sub(" ", text)))
    return [w for w in words(text) if w not in STOPWORDS and len(w) > 1 and not w.isdigit()]


def is_question(text: str) -> bool:
    stripped = CODE_BLOCK_RE.sub(" ", text).strip()
    return "?" in stripped or bool(QUESTION_START_RE.match(stripped))


def is_greeting_only(text: str) -> bool:
    """Only pleasantries, emoji (shortcodes or Unicode) or acknowledgement: nothing a model should learn to say or
    answer."""
    bare = "".join(c for c in EMOJI_RE.sub(" ", text) if not _emoji_char(c)).strip()
    return not bare or bool(GREETING_RE.match(bare))


def _emoji_char(c: str) -> bool:
    """A pictographic symbol, skin-tone modifier, variation selector or zero-width joiner."""
    return unicodedata.category(c) == "So" or c in "\u200d\ufe0f\ufe0e" or "\U0001F3FB" <= c <= "\U0001F3FF"


def code_fraction(text: str) -> float:
    """Share of characters inside code blocks or inline code."""
    if not text:
        return 0.0
    code = sum(len(m) for m in CODE_BLOCK_RE.findall(text))
    code += sum(len(m) for m in INLINE_CODE_RE.findall(CODE_BLOCK_RE.sub("", text)))
    return code / len(text)


def approx_tokens(text: str) -> int:
    """A tokenizer-free token estimate (~ words plus punctuation runs); the real count depends on the model."""
    return len(re.findall(r"\w+|[^\w\s]", text))


def mentioned_ids(raw_text: str) -> set[str]:
    return set(MENTION_ID_RE.findall(raw_text or ""))


def mentioned_names(text: str) -> set[str]:
    return {m.lower() for m in MENTION_NAME_RE.findall(text or "")}


def quoted_lines(text: str) -> list[str]:
    out = []
    for line in (text or "").splitlines():
        s = line.strip()
        if s.startswith("&gt;"):
            s = ">" + s[4:]
        if s.startswith(">"):
            q = s.lstrip(">").strip()
            if len(q) >= 8:
                out.append(q.lower())
    return out
