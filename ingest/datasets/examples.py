"""Training examples from conversations.

(a) chat:    multi-turn; the asker speaks as `user`, the people who helped as `assistant`.
(b) qa:      one question (with the asker's follow-up details) and the answer that resolved it, chosen by signals.
(c) persona: one chosen person's replies as `assistant`, everyone else as `user` (a bot that talks like them).
(d) rag:     qa plus the passages a retriever finds for the question (a callable passed in) and how well the
             answer is grounded in them.
"""
from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ingest.datasets import answers
from ingest.datasets.emoji import shortcodes_to_unicode
from ingest.datasets.records import ConversationUnit, Msg
from ingest.datasets.text import content_words, is_greeting_only, is_question

CHECK_REACTIONS = frozenset({"white_check_mark", "heavy_check_mark", "ballot_box_with_check", "check",
                             "white_tick", "solved", "done"})
THUMBS_REACTIONS = frozenset({"+1", "thumbsup", "raised_hands", "pray", "tada", "100", "heart", "clap"})
ROLE_TITLE_RE = re.compile(r"support|engineer|developer|devrel|admin|lead|manager|head|hr|people|it\b|"
                           r"maintainer|founder|cto|ceo|architect|sre|ops", re.I)
MAX_PERSONA_HISTORY = 6


@dataclass
class Example:
    example_id: str
    kind: str  # chat | qa | persona | rag
    conversation_id: str
    channel_id: str
    channel_name: str
    channel_kind: str
    messages: list[dict[str, str]]  # [{"role": "system"|"user"|"assistant", "content": …}]
    source_ts: list[str]
    permalinks: list[str]
    first_ts: str
    signals: dict[str, Any] = field(default_factory=dict)
    passages: list[dict[str, Any]] = field(default_factory=list)  # rag only
    quality: float = 0.0
    reasons: list[str] = field(default_factory=list)
    language: str = "unknown"
    split: str = ""

    def text_of(self, role: str) -> str:
        return "\n\n".join(t["content"] for t in self.messages if t["role"] == role)

    @property
    def answer(self) -> str:
        return next((t["content"] for t in reversed(self.messages) if t["role"] == "assistant"), "")

    @property
    def question(self) -> str:
        return next((t["content"] for t in reversed(self.messages) if t["role"] == "user"), "")


def example_id(kind: str, conversation_id: str, ts: Sequence[str]) -> str:
    return hashlib.sha256(f"{kind}|{conversation_id}|{','.join(ts)}".encode()).hexdigest()[:16]


def _make(kind: str, conv: ConversationUnit, turns: list[dict[str, str]], used: list[Msg], **extra: Any) -> Example:
    ts = sorted({m.ts for m in used}, key=float)
    # the conversation's opening message first (for a later part of a split conversation: the whole
    # conversation's opening), so every example links back to the question it came from
    opening = conv.meta.get("opening_permalink") or (conv.messages[0].permalink if conv.messages else None)
    links = [opening] + [m.permalink for m in sorted(used, key=lambda m: m.time)]
    links = [x for x in links if x]
    return Example(example_id=example_id(kind, conv.conversation_id, ts), kind=kind,
                   conversation_id=conv.conversation_id, channel_id=conv.channel.channel_id,
                   channel_name=conv.channel.name, channel_kind=conv.channel.kind,
                   messages=[{**t, "content": shortcodes_to_unicode(t["content"])} for t in turns],
                   source_ts=ts, permalinks=list(dict.fromkeys(links)), first_ts=ts[0], **extra)


def _merge(turns: list[tuple[str, Msg]]) -> list[tuple[str, list[Msg]]]:
    """Consecutive messages of one role become one turn (people often split a thought over messages)."""
    out: list[tuple[str, list[Msg]]] = []
    for role, m in turns:
        if out and out[-1][0] == role:
            out[-1][1].append(m)
        else:
            out.append((role, [m]))
    return out


def _content(msgs: list[Msg]) -> str:
    return "\n\n".join(m.text.strip() for m in msgs if m.text.strip())


def _with_root(conv: ConversationUnit, turns: list[tuple[str, list[Msg]]]) -> list[tuple[str, list[Msg]]]:
    """A later part of a split thread starts mid-discussion: give it the thread's opening question."""
    root = conv.meta.get("root_text")
    if root:
        root_msg = Msg(conv.channel.channel_id, conv.meta["root_ts"], conv.asker, root)
        if turns and turns[0][0] == "user":
            turns[0] = ("user", [root_msg] + turns[0][1])
        else:
            turns.insert(0, ("user", [root_msg]))
    return turns


def mid_thread_piece(conv: ConversationUnit) -> bool:
    """A later part of a split Slack thread: it starts in the middle of the discussion, not with a question."""
    return conv.part > 0 and conv.method == "thread"


def chat_example(conv: ConversationUnit) -> Example | None:
    """Multi-turn example, or None when nobody but the asker said anything useful (unanswered), or when the
    conversation does not open with a real, self-contained question (a later piece of a split thread, an offer to
    contribute, a review request, an announcement, pasted logs: `answers.opening_reason`)."""
    asker = conv.asker
    if mid_thread_piece(conv):
        return None
    # pleasantries and bare pings ("@Ben Kim") are no turn: the model would learn to answer with them
    kept = [m for i, m in enumerate(conv.messages)
            if i == 0 or not (is_greeting_only(m.text) or answers.mention_only(m.text))]
    if answers.opening_reason(kept, asker):
        return None
    turns = _with_root(conv, _merge([("user" if m.speaker == asker else "assistant", m) for m in kept]))
    while turns and turns[0][0] != "user":
        turns.pop(0)
    while turns and turns[-1][0] != "assistant":
        turns.pop()
    if not turns:
        return None
    # a thread where the helpers only asked for logs, promised to get back, cc'd someone or acknowledged teaches
    # nothing but stalling: no chat example either
    helper_idx = [i for i, m in enumerate(kept) if m.speaker != asker]
    q_end = answers.question_end(kept, asker)
    if helper_idx and all(answers.non_answer_reason(answers.features(kept, i, asker, q_end)) for i in helper_idx):
        return None
    used = [m for _, ms in turns for m in ms]
    return _make("chat", conv, [{"role": r, "content": _content(ms)} for r, ms in turns], used)


def qa_example(conv: ConversationUnit, answerer_weights: dict[str, float] | None = None) -> Example | None:
    """Single-turn pair: the question with the asker's details, and the message(s) that answer it.

    The answer is chosen by ingest.datasets.answers (rules that rule out thanks, CC lines, acknowledgements,
    promises to get back, requests for logs, questions back, suggestions the asker said did not work, replies to
    someone else or to a later question, then a small learned model); not the last or the longest reply. None when
    the opening is not a real question (`answers.opening_reason`), when the conversation is a later piece of a split
    thread (the builder passes the whole thread instead), or when no reply clears the pair threshold: a weak answer
    is dropped, not emitted."""
    asker = conv.asker
    if mid_thread_piece(conv):
        return None
    msgs = [m for i, m in enumerate(conv.messages) if i == 0 or not is_greeting_only(m.text)]
    root = conv.meta.get("root_text")
    first_other = next((i for i, m in enumerate(msgs) if m.speaker != asker), None)
    if first_other is None:
        return None
    scores = answers.answer_scores(msgs, asker)
    chosen = answers.resolving_answers(msgs, asker, threaded=conv.method == "thread")
    if not chosen:
        return None
    question_msgs = msgs[:first_other]
    if root:  # a later part of a split thread: the thread's opening question comes first
        question_msgs = [Msg(conv.channel.channel_id, conv.meta["root_ts"], asker, root)] + question_msgs
    run = [msgs[i] for i in chosen]
    # the asker's own details given before the answer (not their later follow-ups, which ask something else)
    asked = set(content_words(_content(question_msgs)))
    details = [m for m in msgs[first_other:chosen[0]] if m.speaker == asker and detail_of_question(m.text)
               and not set(content_words(m.text)) <= asked]  # the question asked again adds nothing
    question = _content(question_msgs)
    if details:
        question += "\n\nMore details: " + _content(details)
    sig: dict[str, Any] = {"answer_score": round(max(scores[i] for i in chosen), 3), "answer_messages": len(chosen),
                           "candidates": len(scores), "score": round(4 * max(scores[i] for i in chosen), 3)}
    feats = [answers.features(msgs, i, asker) for i in chosen]
    if any(f["check_reaction"] for f in feats):
        sig["check_reaction"] = True
        sig["check_by_asker"] = any(asker in users for m in run for n, users in (m.reactions or {}).items()
                                    if n.split("::")[0] in CHECK_REACTIONS)
    elif any(f["thumbs_reaction"] for f in feats):
        sig["thumbs_reaction"] = True
    if any(f["asker_good_after"] or f["asker_thanks_speaker"] for f in feats):
        sig["asker_thanks"] = True
    weights = answerer_weights or {}
    if weights.get(run[0].speaker):
        sig["answerer_role"] = round(weights[run[0].speaker], 2)
    if any(n.split("::")[0] in CHECK_REACTIONS for m in question_msgs for n in (m.reactions or {})):
        sig["question_marked_resolved"] = True  # many teams tick the question itself once it is solved
    if not is_question(_content(question_msgs)):
        sig["not_a_question"] = True
    turns = [{"role": "user", "content": question}, {"role": "assistant", "content": _content(run)}]
    return _make("qa", conv, turns, question_msgs + details + run, signals=sig)


def detail_of_question(text: str) -> bool:
    """An asker's message between the question and the answer that adds to the question: not a pleasantry, a nudge
    ("any update?", "we're still looking into it"), or a bare file or log paste. A short answer to the helper's
    question ("macOS Sonoma") is a detail; a filler of one word ("hmm", "Nope,", "iklaros, yes"), a notice that a
    file was sent ("sent it @Vaibhav Verma") is not."""
    if is_greeting_only(text) or answers.DEFER_RE.search(text) or answers.NUDGE_RE.search(text):
        return False
    bare = answers.prose(answers._ADDRESS_RE.sub("", answers.without_mentions(text), count=1))
    if SENT_NOTICE_RE.match(bare) and len(content_words(bare)) <= 3:
        return False
    return len(content_words(bare)) >= 2


# "sent it", "attached the logs", "here you go", "dm'd you": the asker hands something over, the question gains nothing
SENT_NOTICE_RE = re.compile(r"^\W*(?:(?:i )?(?:have |just )?(?:sent|attached|shared|uploaded|dm'?d|pinged|emailed)|here (?:it is|you go)|"
                            r"done)\b", re.I)


def persona_examples(conv: ConversationUnit, person: str, names: dict[str, str] | None = None) -> list[Example]:
    """One example per reply `person` (a user id) wrote, with up to MAX_PERSONA_HISTORY earlier turns."""
    names = names or {}
    turns = _merge([("assistant" if m.speaker == person else "user", m) for m in conv.messages
                    if not is_greeting_only(m.text) or m.speaker == person])
    others = {m.speaker for m in conv.messages if m.speaker != person}
    out = []
    for k, (role, ms) in enumerate(turns):
        if role != "assistant" or k == 0:
            continue
        history = turns[max(0, k - MAX_PERSONA_HISTORY):k]
        while history and history[0][0] != "user":
            history.pop(0)
        if not history:
            continue
        rendered = []
        for r, hm in history + [(role, ms)]:
            if r == "user" and len(others) > 1:  # several people: say who is speaking
                content = "\n\n".join(f"{names.get(m.speaker, m.user_name or m.speaker)}: {m.text.strip()}"
                                      for m in hm)
            else:
                content = _content(hm)
            rendered.append({"role": r, "content": content})
        used = [m for _, hm in history for m in hm] + ms
        out.append(_make("persona", conv, rendered, used, signals={"person": person}))
    return out


Retriever = Callable[[str], Sequence[dict[str, Any]]]


def grounding(answer: str, passages: Sequence[dict[str, Any]]) -> float:
    """Share of the answer's content words found in the best single passage (0..1)."""
    words = set(content_words(answer))
    if not words or not passages:
        return 0.0
    return max(len(words & set(content_words(p.get("text", "")))) / len(words) for p in passages)


def rag_example(qa: Example, retrieve: Retriever, *, k: int = 3, system_prompt: str | None = None) -> Example | None:
    """qa + retrieved passages. Passages from the same conversation or written after the question are left out:
    the model must learn to answer from what existed when the question was asked, not copy the answer."""
    question_ts = float(qa.first_ts)
    own = set(qa.source_ts)
    passages = []
    for p in retrieve(qa.question):
        meta = p.get("meta") or {}
        ts = meta.get("ts") or meta.get("thread_ts")
        if meta.get("conversation_id") == qa.conversation_id or (ts and str(ts) in own):
            continue
        if ts and float(ts) >= question_ts and meta.get("channel") == qa.channel_id:
            continue
        passages.append({"text": str(p.get("text", "")), "title": str(p.get("title", "")),
                         "source": str(meta.get("permalink") or meta.get("source") or "")})
        if len(passages) >= k:
            break
    if not passages:
        return None
    prompt = system_prompt or ("Answer the question from the passages below and cite them as [1], [2]. "
                               "Say you do not know when they do not contain the answer.")
    context = "\n\n".join(f"[{i}] {p['title']}\n{p['text']}" for i, p in enumerate(passages, 1))
    g = grounding(qa.answer, passages)
    turns = [{"role": "system", "content": f"{prompt}\n\n{context}"},
             {"role": "user", "content": qa.question}, {"role": "assistant", "content": qa.answer}]
    return Example(example_id=example_id("rag", qa.conversation_id, qa.source_ts), kind="rag",
                   conversation_id=qa.conversation_id, channel_id=qa.channel_id, channel_name=qa.channel_name,
                   channel_kind=qa.channel_kind, messages=turns, source_ts=qa.source_ts,
                   permalinks=qa.permalinks, first_ts=qa.first_ts,
                   signals={**qa.signals, "grounding": round(g, 3)}, passages=passages)


def answerer_weights(conversations: Sequence[ConversationUnit], titles: dict[str, str | None]) -> dict[str, float]:
    """Role signal per person: a title that suggests they support others, or being a regular answerer
    (replied to ≥ 3 other people's conversations)."""
    answered: dict[str, int] = {}
    for conv in conversations:
        for sp in set(conv.speakers) - {conv.asker}:
            answered[sp] = answered.get(sp, 0) + 1
    out = {}
    for person in set(answered) | {u for u, t in titles.items() if t}:
        w = 0.0
        if titles.get(person) and ROLE_TITLE_RE.search(titles[person] or ""):
            w += 0.5
        if answered.get(person, 0) >= 3:
            w += 0.5
        if w:
            out[person] = w
    return out
