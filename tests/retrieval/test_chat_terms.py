"""Chat shorthand in questions, spelled the way documents spell it (retrieval/chat_terms.py)."""
from __future__ import annotations

from retrieval.chat_terms import CHAT, NAMES, expand_chat


def test_chat_shorthand_is_spelled_out_and_names_keep_their_abbreviation():
    assert expand_chat("EAP appts during work hrs tmrw w/ my mgr b4 5pm") == \
        "EAP appointments during work hours tomorrow with my manager before 5pm"
    assert expand_chat("what floor r we on in the nyc office") == "what floor are we on in the nyc new york city office"
    assert expand_chat("Is the DC office open?") == "Is the DC washington d.c. office open?"
    assert expand_chat("can i go w/o a badge in the bay area") == "can i go without a badge in the bay area san francisco"


def test_ambiguous_and_ordinary_words_are_left_alone():
    q = "hr links: how many hrs is a min shift in VA, plan b or c, 401k?"
    assert expand_chat(q) == "hr links: how many hours is a min shift in VA, plan b or c, 401k?"
    assert expand_chat("tell us about the trip") == "tell us about the trip"  # "us" the word, not the country
    assert expand_chat("US citizens only") == "US united states citizens only"
    assert expand_chat("nycx ppl2 sfo") == "nycx ppl2 sfo"  # only whole words
    assert expand_chat("lol ok") == "ok"
    # pieces of abbreviations, commands, mentions, channels and compounds are not chat words
    for text in ("Contact the U.S. embassy, e.g. by phone", "run ls -la here", "ask <@U0ACME012>", "see #nyc", "a co-op",
                 "type `r` to reload"):
        assert expand_chat(text) == text, text
    assert expand_chat("") == ""
    # nothing to expand: the text comes back untouched (spacing included)
    assert expand_chat("how  do I book\ttravel?") == "how  do I book\ttravel?"


def test_the_lists_are_lower_case_and_do_not_overlap():
    assert all(k == k.lower() for k in [*CHAT, *NAMES])
    assert not set(CHAT) & set(NAMES)
    assert "hr" not in CHAT and "min" not in CHAT and "cal" not in CHAT


def test_without_names_only_chat_shorthand_is_spelled_out():
    assert expand_chat("which floor r we on at the dc office tmrw", names=False) == \
        "which floor are we on at the dc office tomorrow"
