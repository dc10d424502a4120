"""Extractive answers: no generative model, just the few sentences of the sources that answer, with citations.

The embedded default of `make run`. Passages (retrieved chunks, raw Markdown or Slack text) are split into
evidence units: sentences (boundaries from pySBD, robust to abbreviations, decimals and links), whole list items
(with the sentence that introduces the list) and whole table rows (with their column names). Units that are not
whole sentences — the cut ends of an overlapping chunk window, questions, headings — are never quoted.

Each unit is scored against the question by
    cosine (same embedding model as retrieval, passed in as `encode`)
  + lexical overlap of the question's content words with the unit
  + a heading/title match
  + the passage's retrieval rank,
the best few are kept (those close to the best one), and they are quoted in a readable order with contiguous
citation numbers [1], [2], … over the passages actually quoted.

Abstention: when the best unit's evidence is weak (calibrated on a held-out split, see BENCHMARKS.md), the answer
is "I don't know" with the closest sources, never an unrelated quote.

Contradictions: when two quoted units are about the same thing but disagree (different numbers, or one negates the
other), both are shown and the answer says so; the document is preferred over a chat message, the newer over the
older.
"""
from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Iterator

import numpy as np

from model.base import Passage

# --- text clean-up --------------------------------------------------------------------------------------------

_LIQUID_PAGE_LINK = re.compile(r"\[([^\]]+)\]\(\s*\{%[^%]*%\}\s*\)")
_MD_LINK = re.compile(r"!?\[([^\]]*)\]\((?:[^()\s]|\([^()]*\))*(?:\s+\"[^\"]*\")?\)")
_SLACK_CHANNEL_TAG = re.compile(r"\{%\s*slack_channel\s+\"([^\"]+)\"\s*%\}")
_LIQUID = re.compile(r"\{%.*?%\}|\{\{.*?\}\}", re.S)
# HTML elements only: other angle-bracketed text is what the writer meant (`<task_id>`, `List<String>`, a template
# error's `<index .Values.x 0>`) and stays in the quote
_HTML_ELEMENTS = ("a abbr address article aside audio b bdi bdo blockquote body br button caption center cite code col "
                  "colgroup dd del details dfn div dl dt em embed figcaption figure font footer form h1 h2 h3 h4 h5 h6 "
                  "head header hr html i iframe img input ins kbd label li link main mark meta nav noscript object ol "
                  "p picture pre q s samp script section select small source span strike strong style sub summary "
                  "sup table tbody td textarea tfoot th thead time title tr tt u ul var video wbr").split()
_HTML_TAG = re.compile(rf"</?(?:{'|'.join(_HTML_ELEMENTS)})(?=[\s/>])[^>]*>", re.I)
_SLACK_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_SLACK_BARE = re.compile(r"<(https?://[^|>]+)>")
_AUTOLINK = re.compile(r"<(https?://[^>\s]+)>")
_EMPH = re.compile(r"(\*\*|__)(.+?)\1|(?<![\w*])\*(?!\s)([^*\n]+?)\*(?!\w)|(?<![\w_])_(?!\s)([^_\n]+?)_(?!\w)")
_CODE = re.compile(r"`([^`\n]+)`")
_ESCAPE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|~>&=])")
_WS = re.compile(r"[ \t\u00a0\u200b]+")


def strip_templates(text: str) -> str:
    """Jekyll/Liquid tags (`[Leave]({% page "/leave" %})` → `Leave`) and HTML tags out; Markdown kept. What no
    reader of the source ever saw as typed."""
    t = _LIQUID_PAGE_LINK.sub(r"\1", text)
    t = _SLACK_CHANNEL_TAG.sub(r"#\1", t)
    t = _LIQUID.sub("", t)
    return _HTML_TAG.sub("", t)


def clean_inline(text: str) -> str:
    """Markdown/Slack/Liquid markup to plain readable text (link texts kept, targets dropped)."""
    t = strip_templates(text)
    t = _SLACK_LINK.sub(r"\2", t)
    t = _SLACK_BARE.sub(r"\1", t)
    t = _AUTOLINK.sub(r"\1", t)
    t = _MD_LINK.sub(lambda m: m.group(1), t)
    t = _CODE.sub(r"\1", t)
    for _ in range(2):
        t = _EMPH.sub(lambda m: m.group(2) or m.group(3) or m.group(4) or "", t)
    t = _ESCAPE.sub(r"\1", t)
    t = t.replace("&nbsp;", " ").replace("&ndash;", "–").replace("&mdash;", "—").replace("&amp;", "&")
    return _WS.sub(" ", t).strip()


# --- splitting into evidence units ----------------------------------------------------------------------------

_HEADING = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_ITEM = re.compile(r"^(\s*)(?:[-*+•]|\d{1,3}[.)])\s+(.*)$")
_ROW = re.compile(r"^\s*\|.*\|\s*$")
_ROW_SEP = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_QUOTE = re.compile(r"^\s*>\s?")
_SLACK_SPEAKER = re.compile(r"^\s*([^:\n]{1,40}):\s+(?=\S)")  # "ana: text" lines of a chunked Slack thread

# Abbreviations after which a segmenter may wrongly cut: a piece ending in one is joined with the next.
_ABBREV = frozenset("""approx etc e.g i.e vs cf fig no nos dept st mr mrs ms dr prof jr sr inc ltd co corp gov est
jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun hrs hr min mins max avg ca approx.
u.s u.s.a a.m p.m""".split())

_TERMINAL = re.compile(r"""[.!?…:;)\]"'”’*_]\s*$""")
_STARTS_OK = re.compile(r"""^[\s"'“‘(\[*_#@$€£<]*[A-Z0-9À-Ý$€£@#]""")

_segmenter = None


def _segment(paragraph: str) -> list[str]:
    """Sentences of one paragraph of plain text (pySBD rules), with abbreviation mis-cuts rejoined."""
    global _segmenter
    if _segmenter is None:
        import pysbd
        _segmenter = pysbd.Segmenter(language="en", clean=False)
    parts = [p.strip() for p in _segmenter.segment(paragraph) if p.strip()]
    out: list[str] = []
    end = 0  # where the previous piece ended in the paragraph
    for p in parts:
        start = paragraph.find(p, end)
        glued = out and start == end  # cut inside a token ("<index .Values.x>", "v1.2"): no space, no sentence end
        end = start + len(p) if start >= 0 else end
        if glued:
            out[-1] += p
            continue
        if out:
            prev = out[-1]
            last_word = prev.rstrip(".").rsplit(None, 1)[-1].lower() if prev.rstrip(".").split() else ""
            if (prev.endswith(".") and last_word in _ABBREV) or len(prev.split()) < 2 or not _STARTS_OK.match(p):
                out[-1] = prev + " " + p
                continue
        out.append(p)
    return out


# a question with chat shorthand spelled out; names=False leaves name abbreviations ("nyc") as typed
Expand = Callable[..., str]


@dataclass
class Unit:
    text: str            # what is quoted
    passage: int         # the passage's number (Passage.n)
    index: int           # position within the passage
    kind: str            # sentence | item | row
    heading: str = ""    # nearest heading above it inside the passage
    lead: str = ""       # the sentence introducing a list, or a table's column names
    complete: bool = True

    @property
    def quote(self) -> str:
        """The unit as quoted: a list item keeps the sentence that introduces it."""
        if self.kind == "item" and self.lead:
            return f"{self.lead} {self.text}"
        return self.text


def _row_text(cells: list[str], header: list[str] | None) -> str:
    if header and len(header) == len(cells) and any(header):
        pairs = [f"{h}: {c}" if h else c for h, c in zip(header, cells) if c]
        return "; ".join(pairs)
    return " | ".join(c for c in cells if c)


def split_units(text: str, passage: int = 0, chat: bool = False) -> list[Unit]:
    """Evidence units of one passage in reading order, each marked complete or not (see `_complete`).

    `chat`: a Slack thread rendered as "name: message" lines; each message is its own paragraph.
    """
    if chat:
        text = "\n\n".join(_SLACK_SPEAKER.sub("", ln) for ln in text.splitlines())
    long_text = len(text.split()) > 60  # long enough to be one window of a longer section, cut at both ends
    units: list[Unit] = []
    heading = ""
    para: list[str] = []
    item: list[str] | None = None
    item_lead = ""
    header: list[str] | None = None
    last_sentence = ""
    in_fence = False


    def add(txt: str, kind: str, lead: str = "") -> None:
        txt = txt.strip()
        if txt:
            units.append(Unit(txt, passage, len(units), kind, heading, lead, complete=_complete(txt, kind)))

    def flush_para() -> None:
        nonlocal last_sentence
        if not para:
            return
        raw = " ".join(s.strip() for s in para)
        para.clear()
        plain = clean_inline(raw)
        sents = _segment(plain) if plain else []
        for s in sents:
            add(s, "sentence")
        if sents:
            last_sentence = sents[-1]


    def flush_item() -> None:
        nonlocal item
        if item is not None:
            txt = clean_inline(" ".join(s.strip() for s in item))
            if len(txt.split()) > 70:  # a long item is prose: quote its sentences
                for s in _segment(txt):
                    add(s, "sentence")
            else:
                add(txt, "item", item_lead)
            item = None


    lines = text.splitlines()
    for ln in lines:
        if _FENCE.match(ln):
            flush_para(), flush_item()
            in_fence = not in_fence
            continue
        if in_fence:
            continue
        ln = _QUOTE.sub("", ln)
        if not ln.strip():
            flush_para(), flush_item()
            header = None
            continue
        m = _HEADING.match(ln)
        if m:
            flush_para(), flush_item()
            heading = clean_inline(m.group(1))
            header, last_sentence = None, ""
            continue
        if _ROW.match(ln):
            flush_para(), flush_item()
            if _ROW_SEP.match(ln):
                continue
            cells = [clean_inline(c) for c in ln.strip().strip("|").split("|")]
            if header is None:
                header = cells
            else:
                add(_row_text(cells, header), "row", lead=" · ".join(h for h in header if h))

            continue
        mi = _ITEM.match(ln)
        if mi:
            flush_para(), flush_item()
            item = [mi.group(2)]
            lead_ok = last_sentence.rstrip().endswith(":") and _STARTS_OK.match(last_sentence)
            item_lead = last_sentence if lead_ok else ""  # never a cut-off lead-in
            continue
        if item is not None and (ln.startswith((" ", "\t"))):
            item.append(ln)  # a wrapped or indented continuation of the list item
            continue
        flush_item()
        para.append(ln)
    flush_para()
    flush_item()
    if units and long_text and not _TERMINAL.search(units[-1].text):
        units[-1].complete = False  # probably where the chunk window was cut
    return units


_QUESTION_END = re.compile(r"\?\s*[*_)\"'”]*\s*$")


def _complete(text: str, kind: str) -> bool:
    """A unit worth quoting on its own: not a question, not a cut-off piece of a chunk window, not a lead-in."""
    words = text.split()
    if len(words) < 4 or not any(c.isalpha() for c in text) or _QUESTION_END.search(text):
        return False
    if kind in ("item", "row"):
        return True
    if text.rstrip().endswith(":"):
        return False  # introduces a list; quoted together with its items instead
    if not _STARTS_OK.match(text):
        return False  # starts mid-sentence (the cut start of an overlapping chunk window)
    if not _TERMINAL.search(text) and words[-1].lower() in _DANGLING:
        return False  # "Items above the budget are on": cut off
    return True


_DANGLING = frozenset("""a an the and or but of to in on at for with by from as is are was were be your our their its
this that than if when which who whose""".split())


# --- scoring --------------------------------------------------------------------------------------------------

_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")
STOPWORDS = frozenset("""a an the is are was were be been being am to of and or in on at for with by from as it its
this that these those there here do does did done doing can could should would will shall may might must i me my
mine we us our ours you your yours he she him her they them their what which who whom whose when where why how
if then than so not no yes any some all each every much many more most such just also too very get got gets getting
have has had having about into onto over under up down out off again once only own same other there's what's
whats im i'm ive i've dont don't does doesn't isn't aren't can't cannot let's pls please thanks hi hey hello
anyone know tell need want like one ok okay guys team someone something thing things way""".split())


def stem(word: str) -> str:
    w = word.strip("'-")
    for suf in ("'s", "ing", "ies", "ied", "es", "ed", "ly", "s"):
        if w.endswith(suf) and len(w) - len(suf) >= 3:
            w = w[: -len(suf)] + ("y" if suf in ("ies", "ied") else "")
            break
    return w


@lru_cache(maxsize=65536)
def content_words(text: str) -> frozenset[str]:
    return frozenset(stem(w) for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1)


@lru_cache(maxsize=4096)
def _units(text: str, n: int, chat: bool) -> tuple[Unit, ...]:
    """Complete units of a passage (passages repeat across questions and turns: split each once)."""
    return tuple(u for u in split_units(text, n, chat=chat)[:60] if u.complete)


@dataclass
class Weights:
    """Score = cosine + lexical·overlap + heading·heading-overlap + rank·rank-prior (tuned on the tune split)."""
    lexical: float = 0.15
    heading: float = 0.15
    rank: float = 0.0
    margin: float = 0.15        # units within this of the best one are quoted too
    max_units: int = 4
    abstain_below: float = 0.562  # evidence score under this: "I don't know" (the app's defaults, fitted on the tune
    #                               split, are in app/settings.py; see BENCHMARKS.md)
    # Coverage of the question's terms (needs `idf`): the evidence score is the best unit's score minus
    # missing_weight × the share of the question terms' IDF weight that the evidence lacks (typo-tolerant);
    # terms with IDF under `rare_idf` are ignored. 0 here; the app sets the tuned value (app/settings.py).
    missing_weight: float = 0.0
    rare_idf: float = 0.0
    coverage_of: str = "passage"  # the evidence checked: picked (the quoted units) | passage (their passages) | all
    # Synonym-aware coverage: a question term also counts as present when an evidence word is at least this close
    # to it in the embedder's space ("kids" ~ "children", "laptop" ~ "computer"); 0 turns it off.
    synonym_cos: float = 0.0
    # Answer type: the question asks for an amount, a duration or a date ("how many", "how long", "when") and no
    # quoted unit holds a number, a number word or a date: the evidence score drops by this much.
    type_weight: float = 0.0
    # Lexical overlap weighted by the question terms' IDF (needs `idf`): "maxiflex" counts for more than "schedule"
    # when choosing the sentences to quote. False: every question term counts the same.
    lexical_idf: bool = False
    # Most specific term: the question's highest-IDF topical term (not a chat word) is absent from the quoted units
    # (typo/inflection/synonym tolerant as for `missing`): the evidence score drops by this much.
    specific_weight: float = 0.0
    specific_terms: int = 1     # how many of the highest-IDF terms count as "most specific"
    # Focus closeness: for each of the question's `focus_terms` most specific terms, how close the closest word of
    # the evidence is (1: present up to inflection, typo or abbreviation; else its best cosine in the embedder's
    # space, so a synonym counts nearly as present and an unrelated word not at all); the evidence score drops by
    # focus_weight × (1 − the lowest of these). `focus_of`: top (the best unit with its heading and page title),
    # picked (the quoted units, likewise) or passage (the passages the quoted units come from).
    focus_weight: float = 0.0
    focus_terms: int = 1
    focus_of: str = "top"
    # Score the question as the sources would spell it: chat abbreviations spelled out ("hrs", "govt", "ppl") and
    # a word the retrieved passages lack replaced by their word one typo away ("vcation" -> "vacation"), so that a
    # typo does not lower the embedder's cosine (`normalise_question`).
    normalise: bool = False


@dataclass
class Scored:
    unit: Unit
    score: float
    cosine: float
    lexical: float


@dataclass
class Extract:
    """What the extractive answerer decided."""
    text: str
    cited: list[int]                      # passage numbers, in the order of their new citation numbers 1..m
    abstained: bool
    confidence: float
    picked: list[Scored] = field(default_factory=list)
    conflict: bool = False

    def renumber(self) -> dict[int, int]:
        return {p: i + 1 for i, p in enumerate(self.cited)}


_NUM = re.compile(r"(?<![\w.])\$?\d+(?:[.,]\d+)*%?")
_NEG = re.compile(r"\b(?:not|no|never|none|nothing|cannot|can't|don't|doesn't|didn't|isn't|aren't|won't|wasn't|"
                  r"weren't|shouldn't|without)\b", re.I)


_DOUBT = re.compile(r"\b(?:(?:don't|do not|didn't) (?:think|believe)|not sure|i doubt|no idea)\b", re.I)


_CORRECTS = re.compile(r"\b(?:correction|correcting|actually|to clarify|i was wrong|my bad|scratch that|not quite|"
                       r"(?:that's|that is|that was) (?:wrong|incorrect|outdated|out of date))\b", re.I)


# Two pages of one handbook are about neighbouring things far more often than they contradict each other: on the
# 18F handbook, two offices' rules ("room 1217" in D.C., "Room 212" in Chicago), a rule and its worked example, or
# "is the home for mandatory trainings" beside "isn't just for mandatory trainings" were all flagged "The sources
# disagree" at cosines 0.6–0.9. Between documents, only the same statement with other figures (cosine ≥ 0.85), or the
# same statement negated (most of their content words shared), is a disagreement.
_DOCS_SAME_FIGURES = 0.85
_DOCS_SAME_WORDS = 0.6


def _documents_disagree(a: str, b: str, cos: float) -> bool:
    na, nb = set(_NUM.findall(a)), set(_NUM.findall(b))
    if na and nb:
        return cos >= _DOCS_SAME_FIGURES and not (na & nb)
    wa, wb = content_words(a), content_words(b)
    shared = len(wa & wb) / len(wa | wb) if (wa or wb) else 0.0
    return shared >= _DOCS_SAME_WORDS and bool(_NEG.search(a)) != bool(_NEG.search(b))


def _disagree(a: str, b: str) -> bool:
    na, nb = set(_NUM.findall(a)), set(_NUM.findall(b))
    if na and nb:
        # both state figures: no figure in common is a disagreement; a shared one ("€50 per day" in both) is
        # agreement, whatever else one of them negates ("breakfast included in the hotel does not count")
        return not (na & nb)
    return bool(_NEG.search(a)) != bool(_NEG.search(b))


def _edit1(a: str, b: str) -> bool:
    """a and b differ by at most one insertion, deletion, substitution or swap of neighbours."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                   and a[diff[1]] == b[diff[0]])
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1:]


def _abbreviates(short: str, word: str) -> bool:
    """Chat abbreviations: "govt" for government, "yrs" for years, "mgr" for manager."""
    if not (3 <= len(short) <= 5 and len(word) > len(short) + 1 and short[0] == word[0]):
        return False
    if len(short) == 3 and any(c in "aeiou" for c in short):
        return False  # "pet" is a word, not an abbreviation of "payment"
    it = iter(word)
    return all(c in it for c in short)


def term_present(word: str, evidence: frozenset[str]) -> bool:
    """Whether a question word occurs in the evidence's words, tolerating inflection, typos and abbreviations."""
    w = word.strip("'-")
    sw = stem(w)
    if w in evidence or sw in evidence:
        return True
    for e in evidence:
        se = stem(e)
        if se == sw or (len(sw) >= 4 and len(se) >= 4 and (se.startswith(sw) or sw.startswith(se))):
            return True
        if len(w) >= 4 and (_edit1(w, e) or _edit1(sw, se)):
            return True
        if _abbreviates(w, e):
            return True
    return False


# General-English words that chat questions use around the terms that matter ("how far ahead do I need to put in",
# "am I supposed to"): rare in a handbook, so heavy by IDF, yet no sign of what the question is about.
GENERIC = frozenset("""put puts get go going gone make made take taken give given keep let know think say said use used
using need needs want try find build start stop pick set supposed allowed able sure fine far ahead still already ever
even yet soon actually really basically usually exactly right next last first new old long often again back away
around before after early late happen happens work works working day days week weeks time times year years month
months today tonight tomorrow yesterday now""".split())


def missing_rare(question: str, evidence: str, idf: Callable[[str], float],
                 rare_idf: float = 0.0, similar: Callable[[str, frozenset[str]], bool] | None = None
                 ) -> tuple[float, list[str]]:
    """Share of the IDF weight of the question's content words (those with IDF ≥ rare_idf) that the evidence
    lacks, and the missing words. IDF comes from the indexed corpus, so generic words weigh little. `similar`
    (word, evidence words) -> bool: a term the evidence lacks literally still counts as present when it is true
    (synonyms)."""
    words = [w for w in dict.fromkeys(_WORD.findall(question.lower()))
             if w not in STOPWORDS and w not in GENERIC and len(w) > 1]
    ev = frozenset(_WORD.findall(evidence.lower()))
    total = missing = 0.0
    absent: list[str] = []
    for w in words:
        weight = idf(w)
        if weight < rare_idf:
            continue
        total += weight
        if not term_present(w, ev) and not (similar is not None and similar(w, ev)):
            missing += weight
            absent.append(w)
    return (missing / total if total else 0.0), absent


# What a question asks for, and what evidence of that kind looks like.
_ASKS_AMOUNT = re.compile(r"\b(?:how (?:much|many|long|far|often|soon|quickly|early|late|old)|what(?:'s| is)? (?:the )?"
                          r"(?:amount|number|percent(?:age)?|rate|limit|cap|max(?:imum)?|min(?:imum)?|deadline)|"
                          r"how (?:much|many) (?:\w+ )?(?:do|does|can|will)|max(?:imum)? (?:number|amount|hours|days))\b|%",
                          re.I)
_ASKS_WHEN = re.compile(r"^\W*when\b|\bwhat (?:day|date|time|month|year)\b|\bby when\b", re.I)
_NUMBER_WORDS = ("one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
                 "twenty|thirty|forty|fifty|sixty|ninety|hundred|thousand|half|once|twice|single|double|dozen|"
                 "daily|weekly|biweekly|monthly|quarterly|annually|yearly|no (?:maximum|limit|cap)|unlimited")
_HAS_AMOUNT = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.I)
_HAS_WHEN = re.compile(rf"\d|\b(?:{_NUMBER_WORDS}|monday|tuesday|wednesday|thursday|friday|saturday|sunday|"
                       r"january|february|march|april|may|june|july|august|september|october|november|december|"
                       r"before|after|within|until|by the end|each (?:week|month|year)|every)\b", re.I)


def answer_type_missing(question: str, evidence: str) -> bool:
    """The question asks for an amount/duration or a date and the evidence holds nothing of that kind."""
    if _ASKS_WHEN.search(question):
        return not _HAS_WHEN.search(evidence)
    if _ASKS_AMOUNT.search(question):
        return not _HAS_AMOUNT.search(evidence)
    return False


_QWORD = re.compile(r"[A-Za-z][A-Za-z0-9']*")


def normalise_question(question: str, passages: list[Passage], expand: Expand | None = None) -> str:
    """The question with chat abbreviations spelled out (by `expand`, when given) and each word of 4+ letters that
    the passages lack replaced by the passages' most frequent word one typo away from it (same first letter), if there is one."""
    counts: dict[str, int] = {}
    for p in passages:
        for w in _WORD.findall(f"{p.title}\n{p.text}".lower()):
            counts[w] = counts.get(w, 0) + 1
    stems = {stem(w) for w in counts}

    def fix(m: re.Match) -> str:
        w = m.group(0)
        lw = w.lower()
        if len(lw) < 4 or lw in STOPWORDS or lw in counts or stem(lw) in stems:
            return w
        near = [v for v in counts if v[0] == lw[0] and abs(len(v) - len(lw)) <= 1 and len(v) >= 4 and _edit1(lw, v)]
        return max(near, key=lambda v: (counts[v], v)) if near else w

    return _QWORD.sub(fix, expand(question) if expand else question)


class ExtractiveAnswerer:
    name = "extractive"

    def __init__(self, encode: Callable[[list[str]], np.ndarray], weights: Weights | None = None,
                 max_sentences: int | None = None, min_score: float | None = None,
                 idf: Callable[[str], float] | None = None, expand: Expand | None = None):
        self.encode = encode
        self.weights = weights or Weights()
        self.idf = idf  # term -> inverse document frequency over the indexed corpus (None: no coverage signal)
        # chat shorthand spelled out (app/wiring.py passes retrieval's expand_chat when TEAMLORE_QUERY_CHAT_TERMS
        # is on): questions are scored with "tmrw"/"appts" as the pages spell them, and name abbreviations ("nyc")
        # with their names against titles and headings only (retrieval adds the names to the query)
        self.expand = expand
        self._cache: dict[str, np.ndarray] = {}
        self._lock = threading.Lock()
        self.cache_size = 20000
        if max_sentences is not None:
            self.weights.max_units = max_sentences
        if min_score is not None:
            self.weights.abstain_below = min_score

    def _as_sources_spell(self, question: str, passages: list[Passage]) -> str:
        """The question as scored: typos mended against the passages (Weights.normalise) and chat shorthand spelled
        out (`expand`), name abbreviations left as typed."""
        if self.weights.normalise:
            return normalise_question(question, passages, self.expand)
        return self.expand(question, names=False) if self.expand else question

    def _embed(self, texts: list[str]) -> np.ndarray:
        """Unit embeddings, cached: the same passages come back question after question."""
        with self._lock:
            missing = [t for t in dict.fromkeys(texts) if t not in self._cache]
            if missing:
                for t, v in zip(missing, self.encode(missing)):
                    self._cache[t] = v
                while len(self._cache) > self.cache_size:
                    self._cache.pop(next(iter(self._cache)))
            return np.stack([self._cache[t] for t in texts])

    # -- scoring --------------------------------------------------------------------------------------------
    def score(self, question: str, passages: list[Passage], said: str = "") -> list[Scored]:
        """Every complete unit of the passages, scored against the question, best first."""
        units: list[Unit] = []
        for p in passages:
            units.extend(u for u in _units(p.text, p.n, p.source == "slack") if u.text not in said)
        if not units:
            return []
        # with `expand`, a name abbreviation ("nyc") counts against page titles and headings ("New York City"):
        # it tells which page answers, not which of its sentences (there it drew the score to sentences that name
        # the place)
        hwords = content_words(self.expand(question)) if self.expand else None
        question = self._as_sources_spell(question, passages)
        hwords = hwords or content_words(question)
        by_n = {p.n: p for p in passages}
        rank_of = {p.n: i for i, p in enumerate(passages)}
        q = self.encode([question])[0]
        m = self._embed([u.quote for u in units])
        cos = m @ q
        qwords = content_words(question)
        w = self.weights
        qw = self._term_weights(question) if (w.lexical_idf and self.idf is not None) else None
        out: list[Scored] = []
        for u, c in zip(units, cos):
            uw = content_words(u.quote)
            if qw:
                lex = sum(v for t, v in qw.items() if t in uw) / sum(qw.values())
            else:
                lex = len(qwords & uw) / len(qwords) if qwords else 0.0
            p = by_n[u.passage]
            hw = content_words(" ".join(filter(None, [p.title, getattr(p, "heading", None) or "", u.heading])))
            head = len(hwords & hw) / len(hwords) if hwords else 0.0
            prior = 1.0 - rank_of[u.passage] / max(1, len(passages))
            s = float(c) + w.lexical * lex + w.heading * head + w.rank * prior
            out.append(Scored(u, s, float(c), lex))
        out.sort(key=lambda s: -s.score)
        return out

    def _term_weights(self, question: str) -> dict[str, float]:
        """Stemmed content words of the question -> their IDF over the indexed corpus (at least a small floor, so
        a word unknown to the corpus still counts)."""
        out: dict[str, float] = {}
        for word in _WORD.findall(question.lower()):
            if word in STOPWORDS or len(word) < 2:
                continue
            t = stem(word)
            out[t] = max(out.get(t, 0.0), max(0.1, float(self.idf(word))))
        return out

    def select(self, question: str, passages: list[Passage], said: str = "",
               scored: list[Scored] | None = None) -> list[Scored]:
        """The units to quote (before ordering): the best, and those close to it, without near-duplicates."""
        scored = self.score(question, passages, said) if scored is None else scored
        if not scored:
            return []
        w = self.weights
        best = scored[0].score
        picked: list[Scored] = []
        seen: set[str] = set()
        for s in scored:
            if s.score < best - w.margin or len(picked) >= w.max_units:
                break
            # (a negated statement is no duplicate of the statement: "not" is a stopword, the key keeps it)
            key = " ".join(sorted(content_words(s.unit.quote))) + (" ¬" if _NEG.search(s.unit.quote) else "")
            if key in seen or any(s.unit.quote in p.unit.quote or p.unit.quote in s.unit.quote for p in picked):
                continue
            seen.add(key)
            picked.append(s)
        return picked

    # -- answering ------------------------------------------------------------------------------------------
    def answer(self, question: str, passages: list[Passage], said: str = "") -> Extract:
        scored_all = self.score(question, passages, said)
        if not scored_all:
            return self._dont_know(passages, 0.0)
        picked = self.select(question, passages, said, scored_all)
        by_n = {p.n: p for p in passages}
        confidence = self.evidence_score(question, passages, scored_all, picked, said)
        if confidence < self.weights.abstain_below:
            return self._dont_know(passages, confidence)
        picked = self._with_corrections(picked, scored_all, by_n)
        picked, conflict = self._resolve(picked, by_n)
        # Readable order: the best unit's passage first; within a passage, document order; passages by best unit.
        # One citation per source: chunks of the same document (or thread) share the first one's number.
        first_of: dict[str, int] = {}
        order: list[int] = []
        for s in picked:
            o = _origin(by_n[s.unit.passage])
            if o not in first_of:
                first_of[o] = s.unit.passage
                order.append(s.unit.passage)
        new = {n: order.index(first_of[_origin(p)]) + 1 for n, p in by_n.items() if _origin(p) in first_of}

        def quote(u: Unit) -> str:
            return f"> {u.quote} [{new[u.passage]}]"

        if conflict:
            first, second = picked[0], picked[1]
            p1, p2 = by_n[first.unit.passage], by_n[second.unit.passage]
            lines = [quote(first.unit),
                     f"**The sources disagree:** {_source_label(p2, long=True)} says “{second.unit.quote}” "
                     f"[{new[second.unit.passage]}]. "
                     + ("The later message in the same conversation is preferred." if _origin(p1) == _origin(p2)
                        else _why_preferred(p1, p2))]
            lines += [quote(s.unit) for s in picked[2:]]
        else:
            lines = [quote(s.unit) for n in order
                     for s in sorted((s for s in picked if new[s.unit.passage] == new[n]),
                                     key=lambda s: (s.unit.passage, s.unit.index))]
        text = "\n\n".join(lines)
        return Extract(text=text, cited=order, abstained=False, confidence=confidence, picked=picked,
                       conflict=conflict)

    def evidence_score(self, question: str, passages: list[Passage], scored: list[Scored],
                       picked: list[Scored], said: str = "") -> float:
        """The best unit's score, less the share of the question's (IDF-weighted) terms the evidence lacks (a
        close-sounding page about something else — the TSP page for "agency match" — scores like an answer by
        meaning but lacks the terms that matter), less a penalty when the question asks for an amount or a date and
        the quoted units hold none. The weights are a logistic fit on the tune split (benchmarks/abstain_tune.py)."""
        f = self.features(question, passages, scored, picked, said)
        w = self.weights
        return (f["best"] - w.missing_weight * f["missing"] - w.type_weight * f["type_missing"]
                - w.specific_weight * f["specific_missing"] - w.focus_weight * f["focus_gap"])

    def features(self, question: str, passages: list[Passage], scored: list[Scored],
                 picked: list[Scored], said: str = "") -> dict[str, float]:
        """The abstention signals: best unit score, share of the question's terms missing from the evidence
        (synonym-aware when Weights.synonym_cos > 0; 0 without an IDF), answer-type mismatch (0/1). `said`: what
        the conversation's last answer already quoted (a follow-up's question carries the earlier question's terms,
        which that answer covered)."""
        w = self.weights
        out = {"best": scored[0].score if scored else 0.0, "missing": 0.0, "type_missing": 0.0,
               "specific_missing": 0.0, "focus_gap": 0.0}
        if not scored:
            return out
        question = self._as_sources_spell(question, passages)  # the terms looked for: "appts" -> "appointments"
        if self.idf is not None and w.focus_weight:
            out["focus_gap"] = self.focus_gap(question, self.focus_text(scored, picked, passages, w.focus_of)
                                              + ("\n" + said if said else ""), w.focus_terms)
        if self.idf is not None and w.specific_weight:
            quoted = "\n".join(s.unit.quote for s in picked) + ("\n" + said if said else "")
            out["specific_missing"] = float(self.specific_missing(question, quoted))
        if self.idf is not None and (w.missing_weight or w.synonym_cos):
            similar = self._similar if w.synonym_cos > 0 else None
            evidence = self.evidence_text(picked, passages) + ("\n" + said if said else "")
            out["missing"] = missing_rare(question, evidence, self.idf, w.rare_idf, similar)[0]
        if w.type_weight:
            out["type_missing"] = float(answer_type_missing(question, " ".join(s.unit.quote for s in picked)))
        return out

    def specific_terms(self, question: str, k: int | None = None) -> list[str]:
        """The question's most specific terms: its k (default Weights.specific_terms) highest-IDF content words that
        are not general chat words."""
        words = [x for x in dict.fromkeys(_WORD.findall(question.lower()))
                 if x not in STOPWORDS and x not in GENERIC and len(x) > 2 and not x[0].isdigit()]
        if not words or self.idf is None:
            return []
        k = self.weights.specific_terms if k is None else k
        return sorted(words, key=lambda x: -float(self.idf(x)))[:max(1, k)]

    def closeness(self, term: str, evidence: frozenset[str]) -> float:
        """How close the evidence comes to holding `term`: 1 when it does (up to inflection, typo, abbreviation),
        else the best cosine between the term and an evidence word in the embedder's space (0 with no words)."""
        if term_present(term, evidence):
            return 1.0
        cos = self._best_cos(term, evidence)
        return 0.0 if cos is None else max(0.0, min(1.0, cos))

    def focus_gap(self, question: str, evidence: str, k: int = 1) -> float:
        """1 − the closeness of the evidence to the least-covered of the question's k most specific terms."""
        terms = self.specific_terms(question, k)
        if not terms:
            return 0.0
        ev = frozenset(_WORD.findall(evidence.lower()))
        return 1.0 - min(self.closeness(t, ev) for t in terms)

    @staticmethod
    def focus_text(scored: list[Scored], picked: list[Scored], passages: list[Passage], scope: str) -> str:
        """The evidence the focus terms are looked for in (Weights.focus_of)."""
        units = scored[:1] if scope == "top" else (picked or scored[:1])
        return _evidence_of(units, passages, "passage" if scope == "passage" else "units")

    def specific_missing(self, question: str, evidence: str) -> float:
        """Share of the question's most specific terms absent from `evidence` (typo/inflection tolerant, and
        synonym tolerant when Weights.synonym_cos > 0)."""
        terms = self.specific_terms(question)
        if not terms:
            return 0.0
        ev = frozenset(_WORD.findall(evidence.lower()))
        gone = [t for t in terms if not term_present(t, ev)
                and not (self.weights.synonym_cos > 0 and self._similar(t, ev))]
        return len(gone) / len(terms)

    def _similar(self, word: str, evidence: frozenset[str]) -> bool:
        """Whether an evidence word is a near-synonym of `word` in the embedder's space (cosine ≥ synonym_cos)."""
        cos = self._best_cos(word, evidence)
        return cos is not None and cos >= self.weights.synonym_cos

    def _best_cos(self, word: str, evidence: frozenset[str]) -> float | None:
        """The best cosine between `word` and a content word of the evidence in the embedder's space (None: none)."""
        cands = [e for e in evidence if len(e) > 2 and e not in STOPWORDS and not e[0].isdigit()]
        if not cands:
            return None
        vecs = self._embed([word, *cands])
        return float((vecs[1:] @ vecs[0]).max())

    def evidence_text(self, picked: list[Scored], passages: list[Passage]) -> str:
        """The text whose words the coverage signal checks (Weights.coverage_of)."""
        mode = self.weights.coverage_of
        return _evidence_of(picked, passages, mode if mode in ("all", "passage") else "units")

    def _dont_know(self, passages: list[Passage], confidence: float) -> Extract:
        closest = passages[:3]
        if closest:
            names = "; ".join(f"{_source_label(p)} [{i + 1}]" for i, p in enumerate(closest))
            text = ("I don't know — the sources I can search don't answer this. The closest sources are: "
                    f"{names}.")
        else:
            text = "I don't know — I found nothing about this in the sources you can access."
        return Extract(text=text, cited=[p.n for p in closest], abstained=True, confidence=confidence)

    def _with_corrections(self, picked: list[Scored], scored: list[Scored], by_n: dict[int, Passage]
                          ) -> list[Scored]:
        """A quoted Slack reply that a later message of the same thread corrects ("Small correction: it's up to 5
        days") brings the correction along, however it scored: quoting the wrong reply alone would pass it off as
        the answer. `_resolve` then puts the correction first and notes the disagreement."""
        def later(c: Scored, s: Scored) -> bool:
            pc, ps = by_n[c.unit.passage], by_n[s.unit.passage]
            if pc.n == ps.n:
                return c.unit.index > s.unit.index
            return (pc.ts or 0.0) > (ps.ts or 0.0)

        out = list(picked)
        for s in picked:
            p = by_n[s.unit.passage]
            if p.source != "slack":
                continue
            for c in scored:
                if (c in out or _origin(by_n[c.unit.passage]) != _origin(p) or not later(c, s)
                        or not _CORRECTS.search(c.unit.quote) or not _disagree(s.unit.quote, c.unit.quote)):
                    continue
                if float(self._embed([s.unit.quote, c.unit.quote]).prod(axis=0).sum()) >= 0.35:
                    out.append(c)
                    break
        return out

    def _resolve(self, picked: list[Scored], by_n: dict[int, Passage]) -> tuple[list[Scored], bool]:
        """Find two quoted units from different sources that are about the same thing and disagree; put the
        preferred one (document over chat, newer over older) first. Returns (units, whether they disagree)."""
        if len(picked) < 2:
            return picked, False
        vecs = self._embed([s.unit.quote for s in picked])
        sim = vecs @ vecs.T
        for i in range(len(picked)):
            for j in range(i + 1, len(picked)):
                a, b = picked[i], picked[j]
                pa, pb = by_n[a.unit.passage], by_n[b.unit.passage]
                # a chat reply doubting what another source states ("I don't think we have any ...") is a
                # disagreement even in loose wording; otherwise two statements must be about the same thing
                doubt = any(by_n[x.unit.passage].source == "slack" and _DOUBT.search(x.unit.quote) for x in (a, b))
                # a document does not contradict itself, but a Slack thread does: a later reply corrects an earlier
                # one ("Small correction: it's up to 5 days"), often in other words than the message it corrects
                same = _origin(pa) == _origin(pb)
                thread = same and pa.source == "slack"
                loose = doubt or (thread and any(_CORRECTS.search(x.unit.quote) for x in (a, b)))
                if same and not thread and not doubt:
                    continue
                if sim[i, j] < (0.35 if loose else 0.6):
                    continue  # unrelated statements don't contradict each other
                if pa.source != "slack" and pb.source != "slack" and not _documents_disagree(
                        a.unit.quote, b.unit.quote, float(sim[i, j])):
                    continue
                if _disagree(a.unit.quote, b.unit.quote):
                    first, second = sorted((a, b), key=lambda s: (*_preference(by_n[s.unit.passage]), s.unit.index),
                                           reverse=True)  # document > chat, newer > older, later reply > earlier
                    rest = [s for s in picked if s is not a and s is not b]
                    return [first, second] + rest, True
        return picked, False

    def stream_answer(self, question: str, passages: list[Passage], said: str = "") -> Iterator[str]:
        """Text pieces of the answer (compatibility with the streaming engine); see `answer` for citations."""
        ex = self.answer(question, passages, said)
        if ex.abstained:
            return
        for part in ex.text.split("\n\n"):
            yield part + "\n\n"



def _evidence_of(units: list[Scored], passages: list[Passage], mode: str) -> str:
    """Text whose words a coverage signal checks: every passage ("all"), the passages `units` come from
    ("passage"), or the units themselves with their headings and page titles ("units")."""
    if mode == "all":
        return "\n".join(f"{p.title}\n{p.text}" for p in passages)
    if mode == "passage":
        ns = {s.unit.passage for s in units}
        return "\n".join(f"{p.title}\n{p.text}" for p in passages if p.n in ns)
    by_n = {p.n: p for p in passages}
    return "\n".join(f"{s.unit.heading}\n{by_n[s.unit.passage].title}\n{s.unit.quote}" for s in units)

def _origin(p: Passage) -> str:
    return getattr(p, "origin", None) or f"{getattr(p, 'source', 'document')}:{p.title}"


def _preference(p: Passage) -> tuple[int, float]:
    kind = getattr(p, "source", None) or "document"
    ts = getattr(p, "ts", None) or 0.0
    return (1 if kind != "slack" else 0, float(ts))


def _source_label(p: Passage, long: bool = False) -> str:
    kind = getattr(p, "source", None) or "document"
    date = getattr(p, "date", None)
    if kind == "slack":
        where = getattr(p, "channel", None)
        label = f"a Slack message in #{where.lstrip('#')}" if (long and where) else (f"#{where.lstrip('#')}" if where else p.title)
    else:
        label = f"the document “{p.title}”" if long else f"“{p.title}”"
    return f"{label} ({date})" if date and long else label


def _why_preferred(p1: Passage, p2: Passage) -> str:
    k1, k2 = getattr(p1, "source", None) or "document", getattr(p2, "source", None) or "document"
    if k1 != "slack" and k2 == "slack":
        return "The first is from a document and the other from a chat message; the document is preferred."
    d1, d2 = getattr(p1, "date", None), getattr(p2, "date", None)
    if (getattr(p1, "ts", None) or 0) > (getattr(p2, "ts", None) or 0) and not (d1 and d1 == d2):
        # (two pages ingested seconds apart on one day are not "newer" and "older" to a reader)
        return "The first is newer; the newer source is preferred."
    return "Check the sources to see which applies."
