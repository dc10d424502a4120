"""Chat spellings of a question, spelled the way documents spell them: "appt tmrw at the nyc office" ->
"appointment tomorrow at the nyc new york city office".

Two general lists, written from common English chat/SMS abbreviations and common US place and organisation
abbreviations — not from any evaluation set's questions (BENCHMARKS.md, fifth round):
- CHAT: shorthand replaced by its spelling ("tmrw" -> "tomorrow"); only unambiguous ones ("hr" may be an hour or
  human resources, "min" minutes or minimum, "cal" a calendar or California, "va" Virginia or Veterans Affairs,
  "sec" a second or security, one-letter "b"/"c"/"k"/"n" plan letters or units: left alone);
- NAMES: abbreviations of names, kept and followed by the name ("nyc" -> "nyc new york city"), since documents use
  both ("#nyc", "New York City").
Used on the search query (BM25 and the embedder see the spelled-out words: "nyc" finds the New York City page)
and, with the same setting, on the question the extractive answerer scores sentences against — there the names
count only against page titles and headings (`names=False` for the sentences): the name tells which page answers,
but inside it, it drew the score to sentences that mention the place ("TTS' Washington office is located two blocks
from…") instead of the one that answers ("6th floor"; seen sets, BENCHMARKS.md fifth round)
(`TEAMLORE_QUERY_CHAT_TERMS`, on by default since it passed holdout5's rule).
"""
from __future__ import annotations

import re

CHAT: dict[str, str] = {
    # time
    "tmrw": "tomorrow", "tmr": "tomorrow", "tmrrw": "tomorrow", "tomoro": "tomorrow", "tomorow": "tomorrow",
    "2moro": "tomorrow", "2morrow": "tomorrow", "2day": "today", "2nite": "tonight", "tonite": "tonight",
    "yday": "yesterday", "hrs": "hours", "yr": "year", "yrs": "years", "wk": "week", "wks": "weeks",
    "mos": "months", "mth": "month", "mths": "months", "secs": "seconds",
    "mins": "minutes", "wknd": "weekend", "eod": "end of day", "eow": "end of week", "asap": "as soon as possible",
    "b4": "before", "l8r": "later", "bday": "birthday",
    # people, places, things
    "ppl": "people", "mgr": "manager", "mgrs": "managers", "mgmt": "management", "govt": "government",
    "gov't": "government", "fed": "federal", "feds": "federal employees", "dept": "department",
    "depts": "departments", "bldg": "building", "bldgs": "buildings", "hq": "headquarters", "mtg": "meeting",
    "mtgs": "meetings", "appt": "appointment", "appts": "appointments", "acct": "account", "accts": "accounts",
    "msg": "message", "msgs": "messages", "pic": "picture", "pics": "pictures", "pw": "password",
    "pwd": "password", "info": "information", "req": "request", "reqs": "requests", "reimb": "reimbursement",
    "approx": "approximately", "pto": "paid time off leave", "ooo": "out of office", "wfh": "work from home",
    "dm": "direct message", "dms": "direct messages", "bf": "boyfriend", "gf": "girlfriend",
    "fy": "fiscal year", "w2": "w-2", "w4": "w-4", "addr": "address", "doc": "document",
    "docs": "documents", "cert": "certificate", "certs": "certificates",
    # function words
    "u": "you", "ur": "your", "r": "are", "pls": "please",
    "plz": "please", "thx": "thanks", "ty": "thank you", "bc": "because", "b/c": "because", "cuz": "because",
    "coz": "because", "abt": "about", "thru": "through", "w/": "with", "w/o": "without", "wo/": "without",
    "btw": "by the way", "fyi": "for your information", "idk": "i don't know", "imo": "in my opinion",
    "lmk": "let me know", "nvm": "never mind", "rn": "right now", "tbh": "to be honest", "afaik": "as far as i know",
    "smth": "something", "sth": "something", "sb": "somebody", "ppl's": "people's", "lol": "",
}

NAMES: dict[str, str] = {
    # US cities and places
    "nyc": "new york city", "ny": "new york", "dc": "washington d.c.", "sf": "san francisco",
    "la": "los angeles", "chi": "chicago", "philly": "philadelphia", "atl": "atlanta", "nola": "new orleans",
    "vegas": "las vegas", "bay area": "san francisco", "us": "united states", "usa": "united states",
    # US federal organisations
    "irs": "internal revenue service", "opm": "office of personnel management",
    "dod": "department of defense", "dhs": "department of homeland security", "usps": "postal service",
    "ssa": "social security administration", "hhs": "health and human services", "omb": "office of management and budget",
    "gao": "government accountability office", "nasa": "space administration", "fema": "emergency management agency",
}

_SHORTHAND = {**CHAT, **NAMES}
# a token: letters/digits with an inner ', or the slash forms ("w/", "w/o", "b/c"); case-insensitive. Not a piece of
# something else: "U.S.", "e.g." (a dot and a letter around it), "ls -la", "co-op", "@U123", "#nyc", `code`
_TOKEN = re.compile(r"(?<![\w/\-@#`])(?<!\w\.)(?:w/o|wo/|b/c|w/|bay area|[a-z0-9]+(?:'[a-z]+)?)(?![\w/\-`])(?!\.\w)",
                    re.I)


def expand_chat(text: str, names: bool = True) -> str:
    """`text` with chat shorthand spelled out and (with `names`) name abbreviations followed by the name. Case of
    other words, punctuation and spacing are kept; an empty replacement ("lol") drops the word."""
    def sub(m: re.Match) -> str:
        w = m.group(0)
        lw = w.lower()
        if lw in CHAT:
            return CHAT[lw]
        if names and lw in NAMES:
            if lw == "us" and w != "US":  # "tell us" is not the United States
                return w
            return f"{w} {NAMES[lw]}"
        return w

    out = _TOKEN.sub(sub, text)
    return " ".join(out.split()) if out != text else text
