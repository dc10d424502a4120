"""Which message(s) of a conversation answer its opening question.

Every message written by someone other than the asker, after the question, is a candidate. Each gets a few
features (is it a request for logs/details, a promise to get back, a thanks/CC/acknowledgement line, a question
back; does it carry a fix — a command, a setting, a version, a cause; is it addressed to the asker or to someone
else; what did the asker say right after it — "that worked" or "still failing"; reactions; overlap with the
question; its place in the conversation) and a small logistic model scores it. Messages scoring above the
threshold are the answer; none above it means the conversation has no answer and gives no Q&A example.

The weights (`answer_model.json`, next to this file) are fitted by `benchmarks/answer_selection.py --fit` on the
fit half of the labelled set in tests/data/answer_selection_labels.jsonl (real conversations: every thread of the
OLake community export and question-led conversations of the Ubuntu IRC disentanglement gold, labelled by reading
them); the held-out half is what BENCHMARKS.md reports.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from ingest.datasets.records import Msg
from ingest.datasets.text import THANKS_RE, content_words, is_greeting_only, is_question

MODEL_PATH = Path(__file__).with_name("answer_model.json")

INFO_REQUEST_RE = re.compile(
    r"\b(?:(?:can|could|would) you (?:please )?(?:also )?(?:share|send|paste|post|provide|attach|upload|confirm|check|"
    r"run|tell|explain|clarify|elaborate|describe|let (?:us|me) know)|please (?:share|send|paste|post|provide|attach|"
    r"upload|confirm)|share (?:the |your |a )?(?:full |complete )?(?:logs?|screenshot|config|output|error)|"
    r"what (?:version|error|does|is the output|do you see|happens)|which (?:version|os|distro)|are you (?:using|running|"
    r"sure)|do you (?:have|use|see|know)|did you (?:try|check|restart)|have you (?:tried|checked|enabled|created)|"
    r"(?:share|send|paste|upload|attach|provide|download)\b.{0,50}\b(?:logs?|screenshots?|config\w*|output|errors?|"
    r"file|payload|details|json|version|pods?)\b|pastebin (?:the )?(?:full )?output|what (?:are|is) you|"
    r"(?:be|more) more specific|need (?:more|some) (?:details|info|information|context)|past[e]? (?:the |your )?"
    r"(?:error|output|log)|(?:include|give|show|post) (?:us |me )?(?:the |your )?(?:full |complete )?(?:output|logs?|"
    r"error|config\w*|details)|\bget us (?:a|the|an)\b|\|\s*pastebinit\b|what'?s (?:the |your )?(?:output|result)s? of\b|"
    r"what (?:does|do) (?:it|the \w+|\S+) (?:say|show|output|print|return)\b|"
    r"^\W*(?:@?[\w.\-|`^\[\]]+\s*[:,]\s*)?(?:please |pls |plz )?(?:define|describe|explain|elaborate|clarify)\b)", re.I)
DEFER_RE = re.compile(
    r"\b(?:(?:we|i)(?:'ll| will| are|'re)? (?:get back|look(?:ing)? into|check(?:ing)?|investigat\w+|update you|"
    r"notify|keep you posted|let you know|assign a reviewer)|will get back|get back to you|looking into (?:this|it)|"
    r"just checking in|any update|are you still (?:facing|seeing|having)|(?:quick )?(?:call|meet)\b.*\?|"
    r"join here|hang on|give (?:me|us) (?:a|one) (?:sec|second|minute|moment))", re.I)
NUDGE_RE = re.compile(r"\b(?:any (?:update|news|progress|luck|eta)|(?:wanted|want) to (?:check|follow up)|following up|"
                      r"gentle (?:reminder|ping|nudge)|just (?:a )?(?:bump|ping|reminder)|bump(?:ing)?\b(?: this)?)", re.I)
# "I don't know", "not sure", "wait for someone who knows": the helper says they cannot answer
UNSURE_RE = re.compile(r"\b(?:(?:a )?(?:multitude|lots?|number|host) of (?:different )?(?:answers|possibilities|reasons|causes)|"
                       r"could be (?:anything|many things|lots of things)|anything (?:can|could) cause|"
                       r"(?:might|may|could) (?:provide|give|have) (?:you )?(?:more|some) info\w*|"
                       r"(?:i )?(?:don[';]?t|do not) (?:really )?know|no idea|not sure|dunno|idk|no clue|i would guess\w*|(?:can'?t|cannot) help|"
                       r"wait for someone|someone else (?:may|might|will|can|could)|out of ideas|beats me|random theory|"
                       r"wild guess|i guess|i bet|(?:haven'?t|have not|never) (?:used|tried) (?:it|that|this)|(?:didn'?t|doesn'?t|does not|did not) make (?:any )?sense|(?:don'?t|do not) (?:understand|get) (?:the |your |what)|"
                       r"what do you mean|(?:no ?one|nobody) (?:here |currently here |in here )?(?:knows|has used|uses)|not being ignored|"
                       r"be patient|(?:i )?(?:forget|forgot|can'?t remember|don'?t remember) (?:the|its|what|which|how)|or so?m[e]?thing i forget|"
                       r"never heard of|can'?t (?:guide|tell) you|(?:the )?only thing i can think (?:of|to)|(?:i'?m|i am|im) unsure|"
                       r"ought to be possible|if you can figure out)\b|\b(?:or so|or so?m[e]?thing(?: like that)?|maybe|perhaps)\W*$", re.I)
# sending the asker elsewhere without an answer: "ask the channel your actual question", "don't ask to ask", "try #x"
REDIRECT_RE = re.compile(r"\b(?:ask (?:the channel|your (?:actual |real )?question|it (?:in|on) |in #|in the #|on #|in the forums?|"
                         r"on the forums?|the forums?|on (?:the )?mailing list)|don'?t ask to ask|just ask\b|ask away|"
                         r"try (?:asking )?(?:in |on )?##?[\w-]+|try the forums?|(?:do|doing|try) (?:a |some )?(?:quick )?(?:google |web |online )?"
                         r"search(?:es|ing)? (?:like|for|on (?:google|the web))\b|search (?:google|the web|online|the forums?)\b|g[ou]+g?l[eg]* (?:it|is your friend)|rtfm|lmgtfy|"
                         r"(?:it'?s|is) (?:definitely |all )?in (?:there|the (?:man ?page|docs|manual))\b|"
                         r"ask (?:in |on )?(?:the )?[\w.+-]+(?: [\w.+-]+)? (?:channel|forums?|list|support)\b|"
                         r"(?:do not|don'?t|please don'?t|stop) flood|use a pastebin|use (?:a |the )?paste ?bin|"
                         r"(?:best|better) (?:had|asked|discussed|taken) (?:in|on|to)\b|(?:in|to|try) #?\w*-?off-?topic\b)", re.I)
CC_RE = re.compile(r"^\s*(?:cc\s*[:.]?|fyi)\s*(?:@\S+|<@\w+>|[\w.\- ]{0,40})?\s*[.:]?\s*$|^\s*(?:@\S+\s*)+$", re.I)
ACK_RE = re.compile(r"^\s*(?:ok(?:ay)?|k|sure|np|no problem|yw|you'?re welcome|welcome|cool|nice|great|good luck|"
                    r"glad (?:it|to)|hehe|lol|ah+|oh+|hmm+|right|yes|yep|yeah|no worries|anytime|noted)\b[^?]{0,30}$", re.I)
FIX_RE = re.compile(
    r"\b(?:try|use|install|run|set|change|upgrade|update|downgrade|enable|disable|configure|add|remove|increase|"
    r"reduce|restart|reinstall|mount|edit|replace|switch|create|delete|select|open|click|go to|follow|check out|"
    r"you (?:can|could|need|should|have to|must|may)|need(?:s)? to|should|make sure|instead|workaround|fix(?:ed)?|"
    r"released|release[sd]? (?:a|the) fix|supported|not supported|requires?|because|caused|due to|the (?:issue|problem|"
    r"reason|error) (?:is|was)|it(?:'s| is) (?:a|an|the|not)|this is (?:expected|happening)|means|doesn'?t|does not|"
    r"no,|yes,)\b", re.I)
CAUSE_RE = re.compile(r"\b(?:released|fixed (?:in|it|this)|has been fixed|is fixed|because|caused by|due to|the (?:issue|problem|"
                      r"reason|error|cause) (?:is|was)|this is (?:expected|happening|because)|it(?:'s| is) (?:a|an) (?:bug|"
                      r"limitation)|not supported|is supported|doesn'?t support|does not support|requires?|won'?t work|"
                      r"will not work|means)\b", re.I)
INSTRUCTION_RE = re.compile(r"(?:^|[.:;,>]\s*|\b(?:just|please|then|and|or|first)\s+)(?:try|use|install|run|set|change|"
                            r"upgrade|update|enable|disable|configure|add|remove|increase|reduce|restart|edit|replace|"
                            r"switch|create|select|open|click|go to|follow|check out|type|make sure|look (?:at|in)|see)\b|"
                            r"\byou (?:can|could|need to|should|have to|must|may want to)\b|\binstead\b|\bworkaround\b",
                            re.I)
BOT_NAME_RE = re.compile(r"bot\b|^ubo?tt?u$", re.I)
CODE_RE = re.compile(r"`|\$\(|(?:^|\s)(?:sudo|apt|apt-get|aptitude|dpkg|kubectl|helm|docker|pip|git|grep|ls|cat|"
                     r"mount|chmod|passwd|usermod|wget|curl)\s|/[\w.-]+/|https?://|\bv?\d+\.\d+(?:\.\d+)?\b")
ASKER_GOOD_RE = re.compile(r"\b(?:thanks|thank you|thx|ty|tks|cheers|works?|worked|working|solved|fixed|got it|nice|cool|"
                           r"excellent|brilliant|good to know|ordering|ordered|booked|done|"
                           r"that did it|perfect|great|awesome|makes sense|understood|i see|ah+ ok|will (?:try|do|look))\b"
                           r"|:white_check_mark:|:\+1:|:pray:|:raised_hands:", re.I)
ASKER_BAD_RE = re.compile(r"\b(?:still|didn'?t|doesn'?t|does not|did not|not work\w*|no luck|same (?:error|issue|"
                          r"problem|thing)|tried (?:that|it|this)|already|but)\b", re.I)
# the asker says the suggestion did not help: whatever it was, it did not resolve the question
REFUTE_RE = re.compile(r"\b(?:(?:did|does|do|would)(?:n'?t| not) (?:work|help|fix|change|solve|do (?:it|anything))|not work(?:ing|s)?|"
                       r"still (?:the same|get|getting|gets|fail\w*|see|seeing|not|have|having|broken|doesn'?t|does not|"
                       r"there|happen\w*|occur\w*|present|crash\w*|no\b)|no luck|same (?:error|issue|problem|result|thing|"
                       r"message)|already (?:tried|did|done|have|checked)|tried (?:that|it|this|those)|that'?s not (?:it|the "
                       r"(?:issue|problem))|not (?:the|my) (?:issue|problem)|no output|no difference|not what i|"
                       r"(?:isn'?t|is not|wasn'?t) (?:it|the (?:issue|problem|case))|won'?t work|will not work|wouldn'?t work|"
                       r"(?:i'?ve|i have) (?:been there|seen (?:that|it|this)|read (?:that|it|this))|doesn'?t do what)\b",
                       re.I)
# the asker says it is solved (a "thanks" alone is politeness, not a confirmation)
CONFIRM_RE = re.compile(r"\b(?:(?:that|it|this|which|the fix|your (?:fix|suggestion|command)) (?:worked|works|fixed (?:it|this|that|"
                        r"the \w+)|did it|did the trick|solved (?:it|this|that)|helped)|works? now|working now|(?:is|it'?s) "
                        r"(?:fixed|solved|resolved) now|solved|resolved|fixed it|got it (?:working|to work)|that was it|"
                        r"(?:problem|issue) (?:is )?(?:gone|solved|fixed|resolved))\b|^\s*(?:perfect|brilliant|excellent)\b",
                        re.I)
WH_START_RE = re.compile(r"^\s*(?:why|what|where|who|when|which|how)\s+(?:would|do|does|did|is|are|was|were|not|don'?t|can|could|should|"
                         r"kind|version|type|error|exactly|have|has|had|you|u|many|much)\b", re.I)  # a question without its "?"
# IRC bot commands and channel pointers are not answers: "/msg ubotu rc", "!nvidia", "#kubuntu (if it exists)",
# "See #kali-linux for their channel"; nor is talking the asker out of it ("dont try it. i broke ubuntu")
BOT_COMMAND_RE = re.compile(r"^\W{0,3}(?:/(?:msg|query|join|j)\b|!\w)|\b/msg \w+|\bubot+u\b", re.I)
CHANNEL_RE = re.compile(r"(?:^|[\s(])##?[a-z][\w.+-]*", re.I)
DISCOURAGE_RE = re.compile(r"\b(?:don'?t|dont|do not) (?:try|bother|do (?:it|that))\b|\bi broke\b|\bnever heard of\b|"
                           r"\bgood luck with that\b", re.I)
# "dont use the ones from the nvidia site if you can avoid it": what not to do, and nothing to do instead
NEGATIVE_START_RE = re.compile(r"^\W*(?:don'?t|dont|do not|never|avoid)\b", re.I)
NEGATIVE_REST_RE = re.compile(r"(?<=[.;!?])\s|\s[-–]+\s|,\s*|"
                              r"(?=\b(?:but|instead|rather)\b)", re.I)


def negative_only(text: str) -> bool:
    """The reply only says what not to do: it starts with "don't"/"never"/"avoid" and nothing after that first
    clause tells what to do (an instruction, a command): "dont use the ones from the nvidia site"; not "don't start
    it with sudo - use gksudo"."""
    text = prose(text).strip()
    if not NEGATIVE_START_RE.match(text):
        return False
    rest = [x.strip() for x in NEGATIVE_REST_RE.split(text)[1:] if x.strip()]
    return not any(INSTRUCTION_RE.search(x) or CODE_RE.search(x) for x in rest)


# "did you use the search menu, …": a question back without its "?"
ASKS_BACK_RE = re.compile(r"^\s*(?:did|do|does|have|has|are|were|is|was)\s+(?:you|u|ya|it|your|the|they|he|she)\b", re.I)
# a bare diagnostic command ("cat /proc/asound/modules", "lspci", "uname -a") asks for output; it answers nothing
DIAGNOSTIC_RE = re.compile(r"^\W*(?:sudo\s+)?(?:cat|ls|lspci|lsusb|lsmod|dmesg|uname|ifconfig|iwconfig|ip a(?:ddr)?|df|free|"
                           r"fdisk -l|lshw|lsblk|blkid|mount|ps|top|which|whereis|locate|apt-cache (?:policy|show|depends|madison)|dpkg -l)\b"
                           r"[^\n.;]{0,60}$", re.I)
# "how can I find out what module was loaded for eth0?": then a command that shows it is the answer
FIND_OUT_RE = re.compile(r"\b(?:find out|see|check|tell|know|list|show|display|determine|figure out|look up|where|which)\b",
                         re.I)
# a domain name is a link on IRC ("nl.releases.ubuntu.com")
DOMAIN_RE = re.compile(r"\b[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|de|uk|edu|gov|info|us|eu)\b", re.I)
_ADDRESS_RE = re.compile(r"^\s*@?[\w.\-|`^\[\]]+\s*[:,]\s*")
SENTENCE_RE = re.compile(r"[^.?!\n]+[.?!]*")
CHECK = frozenset({"white_check_mark", "heavy_check_mark", "ballot_box_with_check", "check", "solved", "done"})
THUMBS = frozenset({"+1", "thumbsup", "raised_hands", "pray", "tada", "100", "ok_hand"})

# --- is the opening a real, self-contained question? ---------------------------------------------------------------

# offers to contribute, PR review requests, release notes and file-upload notices open a thread without asking
OFFER_RE = re.compile(
    r"\b(?:i(?:'ve| have)? (?:just )?(?:raised|opened|created|submitted|made|sent|pushed) (?:a |an |the |my )?(?:new )?"
    r"(?:pr|pull request|merge request|mr|patch|fix)\b|(?:pr|pull request|mr)(?: link)?\s*\W{0,3}\s*:|"
    r"(?:review|look at|take a look at|have a look at|check) (?:it|my|the|this|these)\b[^.?!\n]{0,30}\b(?:pr|pull request|patch|"
    r"changes?|mr)\b|(?:pr|pull request|patch|mr)\b[^.?!\n]{0,40}\breview|\breview (?:it|my pr|this pr|the pr)\b|"
    r"i (?:can|could|would like to|'d like to|want to|wanna|will|'ll|am happy to|'m happy to) (?:try to |also )?(?:tackle|"
    r"work on|contribute|pick up|take (?:it|this|that) (?:up|on))|is it (?:ok|okay|fine|alright)(?: for you)? if i\b|"
    r"can i (?:work on|pick up|take up|be assigned|get assigned)|assign (?:it|this|the issue) to me)", re.I)
ANNOUNCE_RE = re.compile(
    r"^\W*(?::[\w+-]+:\s*)*(?:\[?announcement|new release|release notes?|introducing|heads up|psa\b|reminder|"
    r"we(?:'re| are| have)? (?:happy|excited|pleased|proud|thrilled) to|we(?:'ve| have) (?:just )?(?:released|launched|"
    r"shipped|published))|\bv?\d+(?:\.\d+)+\b[^\n]{0,20}\breleased\b|what'?s new\b|"
    r"^\W*@?[\w.\- ]{1,40} (?:uploaded|shared|commented on|pinned|has joined|has left|set the channel)", re.I)
# an opener that continues something said before it: a later piece of a conversation, not its start
FRAGMENT_RE = re.compile(
    r"^\s*(?:also|and|but|or|plus|so then|btw|anyway|then|too|as well|o+h+|a+h+|he+h|hehe|haha|lol|oops|whoops|"
    r"(?:it|they|those|he|she)\b(?!'s| is| are)|why would (?:it|that|they)|"
    r"regarding (?:the |this |that |my |your )?(?:issue|question|problem|error|thing|point|message|above|previous|last)|"
    r"(?:as for|about|re:?) (?:the |that |this )?(?:above|previous|last|earlier)|same (?:here|issue|problem|error|thing|for me)|"
    r"(?:\d{1,2}|[a-h])[.)]\s|(?:yes|no|yeah|yep|yup|nope|ok|okay|sure|right|exactly|correct|true|indeed|agreed|"
    r"thanks|thank you|ty|thx)\b[,.!:\s-])", re.I)
REFERS_BACK_RE = re.compile(r"\b(?:(?:the |my |this |that )?(?:issue|error|problem|question|message|thing)s? (?:above|"
                            r"mentioned (?:above|earlier|before))|(?:mentioned|said|described|posted) (?:above|earlier)|"
                            r"as (?:i|we) said)\b", re.I)
# a problem report or a request for help counts as a question without a question mark
HELP_RE = re.compile(
    r"\b(?:help|how (?:do|can|to|should|would)|is there (?:a|any) way|any (?:idea|ideas|clue|suggestions?|pointers?|"
    r"advice|workaround)|wondering|i (?:want|need|would like|'d like) to|trying to|(?:not|n't) (?:work|working|able|"
    r"sure|start|load|found|find|run|running|connect|show)|unable to|can'?t|cannot|fail(?:s|ed|ing|ure)?|error|"
    r"exception|crash\w*|broken|stuck|issue|problem|wrong|missing|doesn'?t|does not|won'?t|nothing happens|"
    r"recommend\w*|suggest\w*|best (?:way|practice)|difference between|explain|confus\w+|clarif\w+|supported?)\b",
    re.I)
# "anyone using wubi?", "can I ask a question?": asking whether to ask, not the question itself
ASK_TO_ASK_RE = re.compile(r"^\W*(?:(?:hi|hey|hello|yo)\b\W*(?:all|guys|folks|everyone|there)?\W*)?(?:(?:is |are )?(?:any|some)"
                           r"(?:one|body) (?:here |around |in here )?(?:using|use|uses|running|familiar with|good with|"
                           r"experienced (?:with|in)|tried|awake|alive|around|here|home|there)\b[^?.!\n]{0,40}|"
                           r"(?:has|have|did) (?:any|some)(?:one|body)(?: here)? (?:\w+ed|used|tried|got|had|seen|run|"
                           r"done)\b[^?.!\n]{0,40}|"
                           r"(?:can|may|could) i ask (?:a |you a |something|some)[^?.!\n]{0,20}|(?:are there )?any [\w-]+(?: [\w-]+)? (?:users?|operators?|people|experts?|gurus?|admins?)? ?(?:here|around|in here|online|tonight)\b[^?.!\n]{0,20}|"
                           r"who (?:here )?(?:runs|uses|has|knows)\b[^?.!\n]{0,30}|"
                           r"(?:does |do )?(?:any|some)(?:one|body)(?: here)? know (?:anything|something|much|a lot) "
                           r"(?:about|of|on)\b[^?.!\n]{0,40}|(?:does|do) (?:any|some)(?:one|body)(?: here)? have (?:any )?experience (?:with|in)\b[^?.!\n]{0,30}|"
                           r"(?:any|some)(?:one|body) "
                           r"(?:(?:can|could|to) )?help(?: me)?(?: please| pls)?)\W*$", re.I)
# an IRC-style "nick: …" opener speaks to one person: a reply within some other conversation
NICK_ADDRESS_RE = re.compile(r"^\s*([A-Za-z_\[\]\\^{}|`][\w\-\[\]\\^{}|`]{1,30})\s*[:,]\s+\S")
NOT_A_NICK = frozenset("""hi hello hey yo question q error issue problem update edit note context setup background help
fyi ps summary env environment version versions steps goal ask request bug feature warning info todo re also ok okay so
well yes no thanks thank update eta result results output logs log example e.g i.e btw guys all team folks everyone
sorry hmm morning evening afternoon""".split())
_PROSE_STRIP_RE = re.compile(r"```.*?```|`[^`\n]*`|\[file: [^\]]*\]|<?https?://\S+>?|<@\w+>|:[a-z0-9_+\-']+:", re.S)


def prose(text: str) -> str:
    """The words someone wrote themselves: no code blocks, pasted logs, file markers, links or emoji."""
    return _PROSE_STRIP_RE.sub(" ", text or "").strip()


def opening_reason(messages: Sequence[Msg], asker: str, q_end: int | None = None) -> str | None:
    """Why the opening of a conversation is not a real, self-contained question (None when it is one).

    The opening is the asker's messages before anyone else speaks. Not a question: an offer to contribute or a
    PR review request, an announcement or file-upload notice, a piece that continues something said before
    ("also …", "2. …", "regarding the issue above"), pasted logs or a file with no words of the asker's own,
    and prose with no question and no problem or request in it."""
    q_end = question_end(messages, asker) if q_end is None else q_end
    if not q_end:
        return "no_question"
    first = prose(messages[0].text)
    body = "\n".join(prose(m.text) for m in messages[:q_end])
    if OFFER_RE.search(body):
        return "offer_or_review_request"
    if ANNOUNCE_RE.search(first) or ANNOUNCE_RE.search(messages[0].text or ""):
        return "announcement"
    if FRAGMENT_RE.match(first) or REFERS_BACK_RE.search(first):
        return "continues_earlier_message"
    nick = NICK_ADDRESS_RE.match(first)
    if nick and nick.group(1).lower() not in NOT_A_NICK:
        return "continues_earlier_message"  # "Judicata: what chat program are u using?"
    if all(ASK_TO_ASK_RE.match(prose(m.text)) or not content_words(prose(m.text)) for m in messages[:q_end]):
        return "ask_to_ask"
    n_words = len(content_words(body))
    if not n_words or (n_words < 4 and not is_question(body)):
        return "no_words_of_its_own"  # logs, a file, "any update?"
    if not (is_question(body) or HELP_RE.search(body)):
        return "not_a_question"
    return None


def without_mentions(text: str) -> str:
    """The text less its @mentions and CC/FYI lines ("Sure\nCC: @x": an acknowledgement plus a CC line)."""
    bare = re.sub(r"<@\w+>|@[\w.\-]+(?: [A-Z][\w\-]+)*", "", text).strip()
    return re.sub(r"(?im)^\s*(?:cc|fyi)\s*:?.*$", "", bare).strip()


def mention_only(text: str) -> bool:
    """Only a ping or a CC ("@Ben Kim", "cc: @ops"): addressed to someone, it says nothing."""
    return bool(CC_RE.match(text)) or not without_mentions(text)


FEATURES = ("bias", "log_words", "substantive", "question_back", "info_request", "defer", "cc_or_mention_only",
            "acknowledgement", "thanks", "fix_cue", "cause_cue", "instruction", "from_bot", "code_or_link", "addressed_asker", "addressed_other",
            "first_reply", "rel_position", "overlap", "asker_good_after", "asker_bad_after", "asker_question_after",
            "check_reaction", "thumbs_reaction", "continues_run", "bot_trigger", "very_short", "last_reply",
            "speaker_share", "main_helper", "log_candidates", "asker_thanks_speaker", "next_is_same_speaker",
            "asker_questions_before", "asker_satisfied_before", "refuted", "mostly_questions",
            "after_new_question", "asker_confirms_after", "unsure", "redirect")
# flags only the non-answer rules read (not model inputs): IRC bot commands, channel pointers, talking the asker out
# of it, a reply that only asks back
RULE_FLAGS = ("bot_command", "channel_redirect", "discourage", "only_questions", "diagnostic_only", "negative_only")


@dataclass(frozen=True)
class AnswerModel:
    weights: dict[str, float]
    threshold: float  # a message scoring at least this is an answer
    pair_threshold: float | None = None  # a Q&A pair is emitted from messages scoring at least this (None: threshold)

    def score(self, feats: dict[str, float]) -> float:
        z = sum(self.weights.get(k, 0.0) * v for k, v in feats.items())
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


@lru_cache(maxsize=1)
def default_model() -> AnswerModel:
    data = json.loads(MODEL_PATH.read_text(encoding="utf-8"))
    return AnswerModel(weights=dict(data["weights"]), threshold=float(data["threshold"]),
                       pair_threshold=float(data.get("pair_threshold") or data["threshold"]))


def _names(m: Msg) -> set[str]:
    out = set()
    for n in (m.user_name, m.user_id):
        if n:
            n = n.strip().lower()
            out |= {n, n.split(" ")[0]}
    return {n for n in out if len(n) >= 2}


def _addressee(text: str) -> str | None:
    """`nick: …` / `nick, …` (IRC) or a leading @mention (Slack, rendered): who the message speaks to."""
    m = re.match(r"^\s*@?([\w.\-|`^\[\]]{2,32})\s*[:,>]\s", text) or re.match(r"^\s*(?:hi|hey|hello)?\s*@([\w.\-]+(?: [A-Z][\w\-]+)?)",
                                                                              text, re.I)
    return m.group(1).lower() if m else None


def question_end(messages: Sequence[Msg], asker: str) -> int:
    """Index of the first message not by the asker: the question is everything before it."""
    return next((i for i, m in enumerate(messages) if m.speaker != asker), len(messages))


def features(messages: Sequence[Msg], i: int, asker: str, q_end: int | None = None) -> dict[str, float]:
    """Features of messages[i] (written by someone other than the asker) as the answer to the opening question."""
    q_end = question_end(messages, asker) if q_end is None else q_end
    m = messages[i]
    text = m.text or ""
    question = " ".join(x.text for x in messages[:q_end])
    words = content_words(text)
    helpers = [k for k in range(q_end, len(messages)) if messages[k].speaker != asker]
    asker_names = set().union(*(_names(x) for x in messages[:q_end])) if q_end else set()
    addressee = _addressee(text)
    speakers = {x.speaker for x in messages} | {n for x in messages for n in _names(x)}
    f: dict[str, float] = {k: 0.0 for k in FEATURES + RULE_FLAGS}
    f["bias"] = 1.0
    f["log_words"] = math.log1p(len(words))
    f["substantive"] = float(len(words) >= 8)
    f["very_short"] = float(len(words) < 3)
    f["question_back"] = float(is_question(text) and not FIX_RE.search(text))
    sentences = [x for x in SENTENCE_RE.findall(_ADDRESS_RE.sub("", prose(text), count=1)) if len(x.split()) >= 2]
    f["mostly_questions"] = float(bool(sentences) and sum(x.rstrip().endswith("?") or bool(WH_START_RE.match(x))
                                                          for x in sentences) >= max(1.0, len(sentences) / 2))
    f["info_request"] = float(bool(INFO_REQUEST_RE.search(text)))
    f["defer"] = float(bool(DEFER_RE.search(text)))
    f["unsure"] = float(bool(UNSURE_RE.search(prose(text))))
    f["redirect"] = float(bool(REDIRECT_RE.search(text)))
    spoken = _ADDRESS_RE.sub("", text, count=1)
    f["bot_command"] = float(bool(BOT_COMMAND_RE.search(spoken)))
    # a pointer with little else ("#postfix", "See #kali-linux for their channel"); "Forward it to security@… and
    # post in #security — we have to hear about it within 1 hour" answers
    f["channel_redirect"] = float(bool(CHANNEL_RE.search(spoken)) and len(content_words(CHANNEL_RE.sub(" ", prose(spoken)))) < 8)
    f["discourage"] = float(bool(DISCOURAGE_RE.search(prose(spoken))))
    f["negative_only"] = float(negative_only(spoken))
    f["only_questions"] = float(bool(sentences) and all(x.rstrip().endswith("?") or bool(WH_START_RE.match(x)) or
                                                        bool(ASKS_BACK_RE.match(x)) for x in sentences))
    f["diagnostic_only"] = float(bool(DIAGNOSTIC_RE.match(spoken)) and not FIND_OUT_RE.search(question))
    bare = without_mentions(text)
    f["cc_or_mention_only"] = float(mention_only(text))
    f["acknowledgement"] = float(bool(ACK_RE.match(bare)) or is_greeting_only(text))
    f["thanks"] = float(bool(THANKS_RE.search(text)) and len(words) < 10)
    f["fix_cue"] = float(bool(FIX_RE.search(text)))
    f["cause_cue"] = float(bool(CAUSE_RE.search(text)))
    f["instruction"] = float(bool(INSTRUCTION_RE.search(re.sub(r"^\s*@?[\w.\-|`^]+\s*[:,>]\s*", "", text))))
    f["from_bot"] = float(bool(BOT_NAME_RE.search(m.user_name or m.user_id or "")) or m.is_bot)
    f["code_or_link"] = float(bool(CODE_RE.search(text)))
    if addressee:
        if addressee in asker_names or any(addressee.startswith(n) for n in asker_names if len(n) >= 3):
            f["addressed_asker"] = 1.0
        elif addressee in speakers or any(addressee.startswith(str(s).lower()[:4]) for s in speakers if s):
            f["addressed_other"] = 1.0
    if any(n in text.lower() for n in asker_names if len(n) >= 3):
        f["addressed_asker"] = 1.0
    f["bot_trigger"] = float(text.lstrip().startswith("!"))
    f["first_reply"] = float(bool(helpers) and helpers[0] == i)
    f["last_reply"] = float(bool(helpers) and helpers[-1] == i)
    f["rel_position"] = (helpers.index(i) / max(1, len(helpers) - 1)) if i in helpers else 0.0
    qw, aw = set(content_words(question)), set(words)
    f["overlap"] = len(qw & aw) / len(aw) if aw else 0.0
    f["continues_run"] = float(i > 0 and messages[i - 1].speaker == m.speaker and i - 1 >= q_end)
    # what the asker says next (before this helper speaks again)
    for x in messages[i + 1:i + 6]:
        if x.speaker == asker:
            if REFUTE_RE.search(prose(x.text)):
                f["refuted"] = 1.0
            elif ASKER_GOOD_RE.search(x.text) and not ASKER_BAD_RE.search(x.text):
                f["asker_good_after"] = 1.0
                f["asker_confirms_after"] = float(bool(CONFIRM_RE.search(prose(x.text))))
            elif ASKER_BAD_RE.search(x.text):
                f["asker_bad_after"] = 1.0
            if is_question(x.text):
                f["asker_question_after"] = 1.0
            break
        if x.speaker == m.speaker and x is not m:
            continue
    # the asker's new questions between the first reply and this one: it may answer one of those instead
    f["asker_questions_before"] = math.log1p(sum(1 for x in messages[q_end:i] if x.speaker == asker and
                                                 is_question(x.text)))
    # the asker already said it worked: what follows is an aside or another topic
    f["asker_satisfied_before"] = float(any(x.speaker == asker and ASKER_GOOD_RE.search(x.text) and not
                                            ASKER_BAD_RE.search(x.text) and not is_question(x.text)
                                            for x in messages[q_end:i]))
    f["after_new_question"] = float(scope_end(messages, asker, q_end) <= i)
    by_speaker = [messages[k].speaker for k in helpers]
    f["speaker_share"] = by_speaker.count(m.speaker) / len(by_speaker) if by_speaker else 0.0
    # the helper who wrote most (ties: who spoke first) — deterministic, no set order involved
    f["main_helper"] = float(bool(by_speaker) and max(dict.fromkeys(by_speaker), key=by_speaker.count) == m.speaker)
    f["log_candidates"] = math.log1p(len(helpers))
    names = _names(m)
    f["asker_thanks_speaker"] = float(any(x.speaker == asker and THANKS_RE.search(x.text) and
                                          (any(n in x.text.lower() for n in names if len(n) >= 3))
                                          for x in messages[i + 1:]))
    f["next_is_same_speaker"] = float(i + 1 < len(messages) and messages[i + 1].speaker == m.speaker)
    reacted = {name.split("::")[0]: users for name, users in (m.reactions or {}).items()}
    f["check_reaction"] = float(any(n in CHECK for n in reacted))
    f["thumbs_reaction"] = float(any(n in THUMBS for n in reacted))
    return f


def non_answer_reason(f: dict[str, float]) -> str | None:
    """Rules that hold whatever the model says: these messages are never the answer."""
    if f["cc_or_mention_only"]:
        return "cc_or_mention"
    if f["bot_trigger"]:
        return "bot_trigger"
    if f["acknowledgement"] or f["thanks"]:
        return "acknowledgement"
    if f["defer"] and not f["cause_cue"]:  # "we will check … then you can start": still a promise
        return "promise_to_get_back"
    if f["info_request"] and not f["cause_cue"]:  # "share the logs: 1. open the Network tab …" asks, not answers
        return "request_for_information"
    if f["question_back"] and not (f["instruction"] or f["cause_cue"]):
        return "question_back"
    if f["mostly_questions"] and not f["cause_cue"]:  # "What is max_threads? You can see it in Edit Source."
        return "question_back"
    if f["only_questions"]:  # "how many apps do you have that require 3 gigs of ram?": a question back, cue or not
        return "question_back"
    if f["bot_command"]:
        return "bot_command"
    if f["diagnostic_only"]:
        return "request_for_information"
    if f["channel_redirect"]:
        return "redirect_to_channel"
    if f["discourage"] and not (f["instruction"] or f["code_or_link"]):
        return "discourages_without_answer"
    if f["negative_only"]:
        return "says_only_what_not_to_do"
    if f["refuted"]:
        return "refuted_by_asker"
    if f["unsure"]:
        return "helper_unsure"
    if f["redirect"]:
        return "redirect_without_answer"
    if f["after_new_question"]:
        return "answers_a_later_question"
    if f["addressed_other"]:
        return "reply_to_someone_else"
    if f["asker_satisfied_before"] and not f["addressed_asker"]:
        return "aside_after_resolution"
    return None


def _overlap_with(words: Sequence[str], reference: set[str]) -> float:
    ws = set(words)
    return len(ws & reference) / len(ws) if ws else 0.0


def scope_end(messages: Sequence[Msg], asker: str, q_end: int | None = None) -> int:
    """Index of the asker's first *new* question — a question of its own (six content words or more) asked after
    someone replied with substance, sharing few words with the opening question and not answering a question put to
    the asker. Replies after it answer that follow-up, not the opening question; len(messages) when the asker never
    moves on. Short follow-ups ("which one is easier?", "any other apps?") stay within the opening question."""
    q_end = question_end(messages, asker) if q_end is None else q_end
    opening = set(content_words(" ".join(prose(m.text) for m in messages[:q_end])))
    last_helper = None
    for j in range(q_end, len(messages)):
        m = messages[j]
        if m.speaker != asker:
            if len(content_words(prose(re.sub(r"@[\w.\-]+(?: [A-Z][\w\-]+)*", " ", m.text)))) >= 3:
                last_helper = m  # a reply with substance, not a bare CC
            continue
        if last_helper is None:
            continue
        text = prose(m.text)
        words = content_words(text)
        if not (is_question(text) and len(set(words)) >= 6):
            continue
        helper_asked = is_question(prose(last_helper.text))
        if not helper_asked and _overlap_with(words, opening) < 0.2:
            return j
    return len(messages)


def candidates(messages: Sequence[Msg], asker: str) -> list[int]:
    q_end = question_end(messages, asker)
    return [i for i in range(q_end, len(messages)) if messages[i].speaker != asker and (messages[i].text or "").strip()]


def answer_scores(messages: Sequence[Msg], asker: str, model: AnswerModel | None = None) -> dict[int, float]:
    model = model or default_model()
    q_end = question_end(messages, asker)
    return {i: model.score(features(messages, i, asker, q_end)) for i in candidates(messages, asker)}


def select_answers(messages: Sequence[Msg], asker: str, model: AnswerModel | None = None) -> list[int]:
    """Indices of the messages that answer the opening question, in order; [] when nothing does."""
    model = model or default_model()
    q_end = question_end(messages, asker)
    if opening_reason(messages, asker, q_end):
        return []
    out = []
    for i in candidates(messages, asker):
        f = features(messages, i, asker, q_end)
        if non_answer_reason(f) is None and model.score(f) >= model.threshold:
            out.append(i)
    return out


def resolving_answers(messages: Sequence[Msg], asker: str, model: AnswerModel | None = None, *,
                      threaded: bool = True) -> list[int]:
    """The messages a Q&A pair is built from: the selected answers that clear the model's pair threshold (a higher
    bar than "is an answer", chosen for pair precision), or that the asker confirmed (a "that worked"/thanks to
    its author right after it, a tick on it), written by the helper who wrote the best of them. In an un-threaded
    conversation (`threaded=False`: disentangled from a channel's flat stream) a message must also speak to the
    asker (an @-mention, their name, `nick:`), be on topic and be taken well by the asker (`flat_pair_reason`): an
    unaddressed message there is as likely part of another conversation, and an addressed one as likely a hedge or
    a partial hint. An "also, …" add-on does not lead a pair. [] — no Q&A pair — when none qualifies: a weak
    answer is dropped, not emitted."""
    model = model or default_model()
    bar = model.pair_threshold if model.pair_threshold is not None else model.threshold
    q_end = question_end(messages, asker)
    if not threaded and flat_opening_reason(messages, asker, q_end):
        return []
    scored = {}
    for i in select_answers(messages, asker, model):
        f = features(messages, i, asker, q_end)
        score = model.score(f)
        if threaded and (score >= bar or confirmed(f)):
            scored[i] = score
        elif not threaded and score >= bar and flat_pair_reason(messages, i, asker, q_end, f) is None:
            scored[i] = score
    if not scored:
        return []
    # several messages are merged only when the helper who wrote the best one wrote them: other people's messages
    # beside it are more often a different suggestion, a side remark or another conversation than part of the answer
    best = max(scored, key=lambda i: (scored[i], -i))
    chosen = [i for i in sorted(scored) if messages[i].speaker == messages[best].speaker]
    # "also, if you're going to use the variable in a path, put it in brackets": an add-on to an answer given before,
    # not an answer on its own — it leads a pair only after that earlier answer
    while chosen and CONTINUES_ANSWER_RE.match(_ADDRESS_RE.sub("", prose(messages[chosen[0]].text), count=1)):
        chosen.pop(0)
    return chosen


# a reply that adds to the helper's earlier message: "also, …", "and …", "btw …", "oh and …", "plus …"
CONTINUES_ANSWER_RE = re.compile(r"^\W*(?:also|and|plus|btw|oh,? and|additionally|but also|why i ask)\b",
                                 re.I)


def asker_accepts(messages: Sequence[Msg], i: int, asker: str, f: dict[str, float]) -> bool:
    """The asker takes messages[i] well: their first message after it that says how it went (before its author or
    anyone else replies to the asker again; a status line like "pruned, building again" says nothing yet) is
    "thanks", "that worked", "cool, i'll try it" — not "thanks, but …", "still the same", "did't work", nor a new
    question without thanks ("and how do I see it per folder?" is no "I see"; "thanks! and per folder?" counts) —
    or the asker ticked it."""
    if f["check_reaction"]:
        return True
    if f["refuted"]:
        return False
    q_end = question_end(messages, asker)
    for j in range(i + 1, min(len(messages), i + 8)):
        x = messages[j]
        if x.speaker != asker:
            if x.speaker == messages[i].speaker or speaks_to_asker(messages, j, asker, q_end):
                return False  # a new reply to the asker comes first: a "thanks" after it may be for that one
            continue  # side talk
        reply = x.text or ""
        if NOT_WORKING_RE.search(reply) or REFUTE_RE.search(prose(reply)) or ASKER_BAD_RE.search(reply):
            return False  # "i'm working on a remixed cd" is no "working"; "try'd it on 1000 to did't work also"
        if ACCEPT_RE.search(reply):
            return not is_question(prose(reply)) or bool(THANKS_RE.search(reply))
        if is_question(prose(reply)):
            return False  # a follow-up question first: the reply did not settle it
    return False


# the asker takes a reply well (stricter than the model's ASKER_GOOD_RE: a bare "working"/"work" or "done" is not it)
ACCEPT_RE = re.compile(r"\b(?:thanks|thank you|thanx|thx|thnx|ty|tyvm|tks|cheers|(?:that|it|this) (?:worked|works|did it|did the "
                       r"trick|helped|fixed it)|works(?: now)?|worked|working now|solved|fixed|got it|perfect|great|awesome|"
                       r"excellent|brilliant|nice|cool|neat|good to know|makes sense|i see|ah+,? ok|oh,? ok|understood|"
                       r"will (?:try|do|look|check)|i'?ll (?:try|check|look|give it a (?:try|shot)))\b|:white_check_mark:|"
                       r":\+1:", re.I)
NOT_WORKING_RE = re.compile(r"\b(?:did'?n?'?t|does'?n?'?t|dont|doesnt|didnt|not|never|won'?t) (?:work|help|fix)", re.I)


def follow_up_before(messages: Sequence[Msg], i: int, asker: str, q_end: int) -> bool:
    """Between the first reply and messages[i] the asker asked something new ("what should I be looking for?",
    "what is the best way to install kde?", "this works for unstable as well?"): in an un-threaded channel the reply
    then answers that more often than the opening question. The opening asked again ("Soorry... how can I run a .sh
    script ?!!") is no new question: half its topic words or more are the opening's; nor is a clarification of one
    topic word or none ("how do I check that?", "Do you have one?" in reply to the helper's question)."""
    opening = set().union(*(_stems(prose(m.text)) for m in messages[:q_end]))
    for x in messages[q_end:i]:
        text = prose(_ADDRESS_RE.sub("", x.text or "", count=1))
        if x.speaker != asker or not is_question(text):
            continue
        own = _stems(text)
        if len(own) >= 2 and len(own & opening) < 0.5 * len(own):
            return True
    return False


def flat_pair_reason(messages: Sequence[Msg], i: int, asker: str, q_end: int,
                     f: dict[str, float] | None = None) -> str | None:
    """Why messages[i], which clears the pair bar, still makes no Q&A pair in an un-threaded conversation (None:
    it makes one). It must speak to the asker and be on topic (an asker's "indeed" may answer a neighbouring
    conversation's message), and the asker must take it well — "thanks", "works", a tick (`asker_accepts`).

    Why the asker's word is required there: in fresh Ubuntu IRC samples read by hand (BENCHMARKS.md, session 4),
    the replies that are on topic and addressed but do not answer — a hedge, a partial hint, a diagnostic, a reply
    to a follow-up — carry no cue in their own text that separates them from answers; the asker's reaction does:
    they ask again, object, or move on. A reply the asker meets with a new question, an objection or silence is
    left to the chat example. (Replies the asker never answered were 60 % good in the first tuning sample even when
    they held a command line: too few to keep.)"""
    f = f if f is not None else features(messages, i, asker, q_end)
    if not speaks_to_asker(messages, i, asker, q_end):
        return "not_addressed_to_asker"
    if follow_up_before(messages, i, asker, q_end):
        return "answers_a_follow_up"
    if not on_topic(messages, i, q_end):
        return "off_topic"
    if asker_accepts(messages, i, asker, f):
        return None
    return "asker_did_not_accept"




# an un-threaded opener that continues talk the conversation does not hold: "well, we are getting towards …",
# "basically an efi boot manager… but apparently windows has one?", "So kernel already has firewall included, right?"
FLAT_FRAGMENT_RE = re.compile(r"^\W*(?:so|well|basically|actually|because|since|probably|maybe|hmm+|hm+|man|dude|yeah|"
                              r"(?:better|worse|faster|slower|easier|nicer) than|(?:what|how) about|and|but|also|same|"
                              r"true|exactly|indeed|meh|wow|ok(?:ay)?|still|now|or|nah|ugh|damn|sigh|heh)\b", re.I)
# "kingspawn? the file like .bat …": a nick and a question mark, then the question, speaks to someone mid-talk
# "this is the OS I want drivers from, where are they stored?": "this" points at a message outside the opening
DEMONSTRATIVE_START_RE = re.compile(r"^\W*(?:this|that|these|those)(?: one| thing| stuff)?\s+(?:is|are|was|were|does|did|do|"
                                    r"doesn'?t|didn'?t|isn'?t|won'?t|will|would|should|can|could|has|have|means?|works?|"
                                    r"worked|seems?|sounds?|looks?|gives?|says?)\b", re.I)
NICK_QUESTION_RE = re.compile(r"^\s*[A-Za-z_\[\]\\^{}|`][\w\-\[\]\\^{}|`]{1,30}\?\s+\S")
# "that error", "this problem": the question points at something said outside it
POINTS_BACK_RE = re.compile(r"\b(?:that|this|the same|these|those|said) (?:error|problem|issue|message|bug|warning|"
                            r"output|thing|command|one)s?\b", re.I)
STEM = 5
LINK_RE = re.compile(r"<?https?://[^\s>]+>?|\b(?:www\.)?[\w-]+(?:\.[\w-]+)*\.(?:com|org|net|io|de|uk|edu|gov|info|us|eu)"
                     r"(?:/[^\s]*)?", re.I)
GENERIC_LINK_WORDS = frozenset({"http", "https", "www", "com", "org", "net", "html", "help", "ubuntu", "linux", "wiki",
                                "community", "forum", "forums", "install", "question", "questions", "guide"})


def _named_in_link(question: str, text: str) -> bool:
    """A topic word of the question (three letters or more, not "ubuntu", "help" …) appears in a link of `text`:
    "torproject.org" for "how do I get tor?", "chat.freenode.net" for a question about irc.freenode.net."""
    link = " ".join(LINK_RE.findall(text)).lower()
    words = {x for w in content_words(question) for x in re.split(r"[\W_]+", w)}
    return any(w in link for w in words if len(w) >= 3 and w not in GENERIC_LINK_WORDS)
PACKAGE_RE = re.compile(r"\b(?:lib[a-z0-9+]+-[a-z0-9+.-]+|[a-z][a-z0-9+]*-(?:[a-z0-9+]+-)*(?:dev|desktop|extras|utils|tools|"
                        r"common|core|base|server|client|plugins?|glx|dri|ose|headers|generic))\b")
# the question asks for a name (a package, a program, a command): a one-word reply can be the whole answer
ASKS_FOR_NAME_RE = re.compile(r"\b(?:what(?:'?s| is| are)? (?:the |a |an )?(?:name of (?:the )?)?(?:package|program|app|application|"
                              r"command|tool|utility|software|editor|player|client|file)s?\b|which (?:package|program|app|"
                              r"application|command|tool|utility|software|editor|player|client|file|one)s?\b|is there (?:a|an|"
                              r"any) (?:\w+ )?(?:package|program|app|application|command|tool|utility|software|editor|player|"
                              r"client)\b|(?:program|app|package|tool|software) (?:for|to|that)\b)", re.I)
HEDGE_ANY_RE = re.compile(r"\b(?:may|might|could) (?:be|have)\b|\b(?:maybe|perhaps|probably|possibly|iirc|afaik|afaict|"
                          r"i (?:think|guess|believe|suppose|reckon)|not sure)\b", re.I)
JOKE_RE = re.compile(r"(?:^|\s)(?::-?[Pp]|;-?[Pp]|[xX]D)(?:\s|$)|\bj/?k\b")
HEDGE_START_RE = re.compile(r"^\W*(?:maybe|perhaps|probably|possibly|(?:it |that )?depends\b|i (?:think|guess|suppose|believe|reckon)|could be|might be|"
                            r"not sure)\b", re.I)
HELP_ONLY_RE = re.compile(r"^\W*(?:(?:hi|hey|hello|so|pls|please)\W+)*(?:(?:can|could|would|will) )?(?:any|some)(?:one|body)"
                          r"(?: here| there| out there)?(?: please| pls)? (?:(?:can|could|to|will|would) )?(?:please )?help\b"
                          r"[^?]{0,40}\?*\s*$|^\W*(?:can|could|would) (?:you|u) (?:please )?help(?: me)?\W*$", re.I)
QUOTED_COMMAND_RE = re.compile(r"[\"'][\w./-]+ (?:-{1,2}[\w=-]+|[\w./=-]+)[^\"'\n]{0,60}[\"']|(?:^|\s)-{1,2}[a-z][\w-]*\b")


def _stems(text: str) -> set[str]:
    return {w[:STEM] for w in content_words(text)}


def flat_opening_reason(messages: Sequence[Msg], asker: str, q_end: int | None = None) -> str | None:
    """Stricter than `opening_reason`, for conversations disentangled from an un-threaded channel (where the opener
    may be a line of some other conversation): the asker's first message with words of its own must itself ask or
    report a problem and hold three topic words or more, must not start like a continuation ("so", "well",
    "basically" …) or speak to someone ("nick? …"), and the opening as a whole must be a question."""
    q_end = question_end(messages, asker) if q_end is None else q_end
    why = opening_reason(messages, asker, q_end)
    if why:
        return why
    opening = [prose(m.text) for m in messages[:q_end]]
    first = next((t for t in opening if content_words(t) and not is_greeting_only(t)), "")
    if FLAT_FRAGMENT_RE.match(first) or NICK_QUESTION_RE.match(first) or DEMONSTRATIVE_START_RE.match(first):
        return "continues_earlier_message"
    if not (_asks(first) or HELP_RE.search(first)) or len(content_words(first)) < 2:
        return "first_line_not_a_question"
    body = "\n".join(opening)
    if any(THANKS_RE.search(t) for t in opening[1:]):
        return "continues_earlier_message"  # "… which is the latest release? | oh, thanks! :)": answered elsewhere
    if POINTS_BACK_RE.search(body) and len(content_words(body)) < 8 and not CODE_RE.search(body):
        return "continues_earlier_message"  # "Any idea how to solve that error?": the error is in another message
    asking = [t for t in opening if "?" in t and content_words(t)]
    if any(not (_stems(t) & _stems(asking[0])) for t in asking[1:]):
        return "two_questions"  # "Hidden folders start with a dot, right? … | which distro is for women?"
    asks = [x for t in opening for x in SENTENCE_RE.findall(t) if x.rstrip().endswith("?") or WH_START_RE.match(x)]
    if asks and all(HELP_ONLY_RE.match(x) for x in asks):
        return "help_request_without_question"  # "I have BIG problem with ubuntu and AD. Can anyone help me?"
    if not (_asks(body) or (HELP_RE.search(body) and len(content_words(body)) >= 8)):
        return "not_a_question"  # a long problem report counts without its "?"
    return None


def _asks(text: str) -> bool:
    """A question mark, or a question without it that starts like one ("how do i …", "what is …"); a bare "when" or
    "where" opening a statement ("When i get adsl2+ I can install them all") is no question."""
    return "?" in text or any(WH_START_RE.match(x) or AUX_START_RE.match(x) for x in SENTENCE_RE.findall(text))


# "how to hack …", "can the regular cd installation be installed for dual boot …": a question without its "?"
AUX_START_RE = re.compile(r"^\W*(?:how to|(?:how )?(?:can|could|is|are|does|do|did|should|will|would|has|have)\s+(?:i|you|u|"
                          r"we|it|there|the|a|an|my|this|that|these|those|one|any(?:one|body)|some(?:one|body)))\b", re.I)


def on_topic(messages: Sequence[Msg], i: int, q_end: int) -> bool:
    """For un-threaded conversations: messages[i] is about the opening question — it shares a topic word (same
    first five letters) with it, or carries a command, code, a path, a version or a link — and says something
    (three topic words or more, or such a command); an instruction of four topic words or more counts too. A bare "or so", "it isnt", a joke or a line from a neighbouring
    conversation addressed to the asker is no answer to train on."""
    text = _ADDRESS_RE.sub("", messages[i].text or "", count=1)
    own = content_words(prose(text))
    concrete = bool(CODE_RE.search(text) or DOMAIN_RE.search(text) or QUOTED_COMMAND_RE.search(text)
                    or PACKAGE_RE.search(text))
    question = " ".join(prose(m.text) for m in messages[:q_end])
    if ASKS_FOR_NAME_RE.search(question) and own and not JOKE_RE.search(text) and not HEDGE_START_RE.match(prose(text)):
        return True  # "whats the package that include all the compile tools?" — "build-essential" is the answer
    shared = _stems(question) & {w[:STEM] for w in own}
    instructs = bool(INSTRUCTION_RE.search(text)) and len(own) >= 4
    if JOKE_RE.search(text):
        return False  # "Burn a copy of each version and see which one works better. :P"
    if (LINK_RE.search(text) and len(content_words(prose(LINK_RE.sub(" ", text)))) < 3
            and not _named_in_link(question, text)):
        return False  # "www.ubuntuguide.org", "check out https://help.ubuntu.com/community/VirtualBox" (to an Oracle
        # question): a bare link whose address shares no topic word with the question is a pointer, not an answer
    if re.fullmatch(r"[\d.,:%\s-]*", prose(text)):
        return False  # "0.06" to "what's the difference between 10.04 and 10.10": a number alone is a joke or a guess
    if HEDGE_START_RE.match(prose(text)) and not concrete:
        return False  # "maybe compare the env …", "i think ya need … or somehting": a guess, not an answer
    if HEDGE_ANY_RE.search(prose(text)) and not (concrete or instructs):
        return False  # "if anything graphic is using CPU, your graphic acceleration may be not working": a guess
    return (bool(shared) or concrete or instructs) and (len(own) >= 3 or concrete)


def speaks_to_asker(messages: Sequence[Msg], i: int, asker: str, q_end: int) -> bool:
    """messages[i] is addressed to the asker: a Slack mention of them (`<@U…>` in the markup, `@Name` in the text)
    or an IRC-style `name:`/`name,` at its start. (A name merely appearing in the text is not enough: "grub" is
    also a word.)"""
    m = messages[i]
    asker_ids = {x.user_id for x in messages[:q_end] if x.user_id}
    if any(f"<@{uid}" in (m.raw_text or "") for uid in asker_ids):
        return True
    names = {n for x in messages[:q_end] for n in _names(x)}
    text = (m.text or "").lower()
    if any(f"@{n}" in text for n in names if len(n) >= 2):
        return True
    addressee = _addressee(m.text or "")
    return bool(addressee) and (addressee in names or any(addressee.startswith(n) for n in names if len(n) >= 3))


def confirmed(f: dict[str, float]) -> bool:
    """The asker said this message resolved it: "that worked"/"solved" as their next message after it (not "thanks,
    but …"; a bare "thanks" is politeness), or a tick reaction on it."""
    return bool((f["asker_confirms_after"] and not f["refuted"]) or f["check_reaction"])


# --- fitting (used by benchmarks/answer_selection.py) -----------------------------------------------------------

# The direction each cue can push, whatever a small labelled set says: the asker's confirmation, a tick, an
# instruction, code or a link, a stated cause can only count for a message; a question back, a refutation, a bot,
# an aside after the asker was satisfied only against it. Fitting keeps the weights on their side of zero
# (projected gradient descent), so a few odd conversations cannot teach that a tick means "not the answer".
SIGNS: dict[str, int] = {
    "substantive": 1, "fix_cue": 1, "cause_cue": 1, "instruction": 1, "code_or_link": 1, "addressed_asker": 1,
    "asker_good_after": 1, "asker_thanks_speaker": 1, "asker_confirms_after": 1, "check_reaction": 1, "thumbs_reaction": 1,
    "question_back": -1, "mostly_questions": -1, "info_request": -1, "defer": -1, "refuted": -1, "asker_bad_after": -1,
    "from_bot": -1, "asker_satisfied_before": -1, "after_new_question": -1, "addressed_other": -1,
    "cc_or_mention_only": -1, "acknowledgement": -1, "thanks": -1, "bot_trigger": -1, "unsure": -1, "redirect": -1,
}


def fit_logistic(rows: Sequence[dict[str, float]], labels: Sequence[int], *, l2: float = 0.01, epochs: int = 4000,
                 lr: float = 0.5) -> dict[str, float]:
    """L2-regularised logistic regression by full-batch projected gradient descent (numpy), balanced classes,
    each weight kept on the side of zero `SIGNS` allows."""
    import numpy as np
    x = np.array([[r[k] for k in FEATURES] for r in rows], dtype=float)
    y = np.array(labels, dtype=float)
    pos = max(1.0, y.sum())
    neg = max(1.0, len(y) - y.sum())
    sw = np.where(y == 1, len(y) / (2 * pos), len(y) / (2 * neg))
    w = np.zeros(x.shape[1])
    lo = np.array([0.0 if SIGNS.get(k, 0) > 0 else -np.inf for k in FEATURES])
    hi = np.array([0.0 if SIGNS.get(k, 0) < 0 else np.inf for k in FEATURES])
    for _ in range(epochs):
        p = 1 / (1 + np.exp(-np.clip(x @ w, -30, 30)))
        grad = x.T @ ((p - y) * sw) / len(y) + l2 * np.r_[0.0, w[1:]]
        w -= lr * grad
        w = np.where(lo > w, lo, np.where(w > hi, hi, w))
    return {k: round(float(v), 4) for k, v in zip(FEATURES, w)}
