"""Example building (chat, Q&A with the resolving answer, persona, retrieval-aware) and the quality rules."""
from ingest.datasets.conversations import channel_conversations
from ingest.datasets.examples import chat_example, grounding, persona_examples, qa_example, rag_example
from ingest.datasets.quality import (QualityRules, apply_quality, assess, conversation_reason, detect_language,
                                     near_duplicates)
from ingest.datasets.records import ConversationUnit
from tests.datasets.workspace import HELP, NAMES, help_channel, msg


def _conv(start_minute: float) -> ConversationUnit:
    convs = channel_conversations(HELP, help_channel())
    return next(c for c in convs if c.messages[0].ts == msg(HELP, start_minute, "U1", "").ts)


def test_chat_example_roles_and_lineage():
    ex = chat_example(_conv(60))
    roles = [t["role"] for t in ex.messages]
    assert roles == ["user", "assistant", "user", "assistant"]  # the final "thank you" is trimmed
    assert ex.messages[1]["content"] == "Which OS are you on?"
    assert len(ex.source_ts) == 4 and len(ex.permalinks) == 4
    assert all(p.startswith("https://acme.slack.com/archives/C1/p") for p in ex.permalinks)


def test_qa_picks_the_resolving_answer_not_the_clarifying_question():
    ex = qa_example(_conv(60))
    assert ex.answer.startswith("Use the generic PostScript driver")
    assert "More details: macOS Sonoma" in ex.question
    assert ex.signals["thumbs_reaction"] and ex.signals["asker_thanks"] and ex.signals["candidates"] == 2
    first = qa_example(_conv(0))
    assert first.signals["check_reaction"] and first.signals["check_by_asker"]


def test_unanswered_question_gives_no_example():
    conv = next(c for c in channel_conversations(HELP, help_channel()) if "furniture" in c.messages[0].text)
    assert chat_example(conv) is None and qa_example(conv) is None


def test_quality_rules_mask_score_and_drop_with_reasons():
    convs = channel_conversations(HELP, help_channel())
    raw = [e for c in convs for e in (chat_example(c), qa_example(c)) if e]
    reasons = [conversation_reason(c) for c in convs]
    assert reasons.count("greetings_only") == 1 and reasons.count("unanswered") == 1
    kept, dropped, masked = apply_quality(raw, QualityRules())
    vpn = next(e for e in kept if e.kind == "qa" and "VPN" in e.question)
    assert "[EMAIL]" in vpn.answer and "ben.it@acme.example" not in vpn.answer  # masked for training
    assert masked["email"] >= 2  # chat and qa copies
    assert vpn.quality > 0.8 and "+check_reaction" in vpn.reasons and vpn.language == "en"
    code = next(e for e in kept if e.kind == "qa" and "docker volumes" in e.question)
    assert code.signals["code_only"] and "-code_only_answer" in code.reasons
    german = next(e for e in kept if e.kind == "qa" and "Urlaub" in e.question)
    assert german.language == "de"
    only_en, dropped_en, _ = apply_quality([e for e in raw if e.kind == "qa"], QualityRules(languages=("en",)))
    assert dropped_en["qa:language"] == 1 and all(e.language in ("en", "unknown") for e in only_en)


def test_secrets_are_masked_in_training_text():
    m = [msg(HELP, 0, "U1", "Which token do I put in the CI config for Slack notifications?", thread=0),
         msg(HELP, 2, "U2", "Use this one: xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx and keep it "
                            "in the CI secrets store, not in the repository.", thread=0,
             reactions={"white_check_mark": ["U1"]})]
    conv = channel_conversations(HELP, m)[0]
    kept, _, masked = apply_quality([qa_example(conv)], QualityRules())
    assert "xoxb-" not in kept[0].answer and "[SECRET]" in kept[0].answer and masked["secret"] == 1


def test_short_answer_and_language_detection():
    conv = channel_conversations(HELP, [msg(HELP, 0, "U1", "How do I book a meeting room for Friday?", thread=0),
                                        msg(HELP, 1, "U2", "ok", thread=0)])[0]
    assert chat_example(conv) is None and conversation_reason(conv) == "unanswered"  # "ok" answers nothing
    ex = chat_example(channel_conversations(HELP, [msg(HELP, 0, "U1", "Where is the coffee?", thread=0),
                                                   msg(HELP, 1, "U2", "kitchen.", thread=0)])[0])
    assert assess(ex, QualityRules()) == "answer_too_short"
    assert detect_language("```\nls -la\n```") == "unknown"
    assert detect_language("Das ist eine Frage über den Urlaub und die Arbeitszeit im Büro") == "de"


def test_near_duplicates_keep_the_first():
    a = [msg(HELP, 0, "U1", "How do I reset my VPN password when the portal says my token expired?", thread=0),
         msg(HELP, 1, "U2", "Open the VPN reset page, sign in with single sign on and choose a new token.", thread=0)]
    b = [msg(HELP, 100, "U4", "How do I reset my VPN password when the portal says my token expired?", thread=100),
         msg(HELP, 101, "U2", "Open the VPN reset page, sign in with single sign on and choose a new token!",
             thread=100)]
    convs = channel_conversations(HELP, a + b)
    exs = [qa_example(c) for c in convs]
    assert near_duplicates(exs, 0.85) == {exs[1].example_id}


def test_persona_examples_speak_as_the_person():
    conv = _conv(60)
    exs = persona_examples(conv, "U2", NAMES)
    assert len(exs) == 2
    assert all(e.messages[-1]["role"] == "assistant" for e in exs)
    assert exs[1].answer.startswith("Use the generic PostScript driver")
    assert exs[1].messages[0]["role"] == "user"


def test_rag_examples_leave_out_the_own_thread_and_later_passages():
    qa = qa_example(_conv(60))
    own_ts = qa.source_ts[-1]
    passages = [
        {"text": "Use the generic PostScript driver floor2-ps.", "title": "own thread", "meta": {"ts": own_ts}},
        {"text": "Printers: floor2-ps needs the generic PostScript driver on macOS, added in System Settings.",
         "title": "IT handbook: printers", "meta": {"source": "handbook/printers.md"}},
        {"text": "Written after the question", "title": "later", "meta": {"ts": "9999999999.0", "channel": "C1"}},
    ]
    calls = []

    def retrieve(question):
        calls.append(question)
        return passages
    ex = rag_example(qa, retrieve, k=3)
    assert calls == [qa.question]
    assert [p["title"] for p in ex.passages] == ["IT handbook: printers"]
    assert ex.messages[0]["role"] == "system" and "[1] IT handbook: printers" in ex.messages[0]["content"]
    assert ex.signals["grounding"] == round(grounding(qa.answer, ex.passages), 3) > 0.3
    assert rag_example(qa, lambda q: passages[:1]) is None


def test_later_part_of_a_split_thread_gives_no_example_of_its_own():
    """A later piece of a split Slack thread starts mid-discussion ("shard idea number 35: …"): it is not a question,
    so it gives neither a chat nor a Q&A example; the thread's Q&A pair is chosen from the whole thread, once."""
    from ingest.datasets.build import whole_threads
    convs = channel_conversations(HELP, help_channel())
    first = next(c for c in convs if c.conversation_id.endswith(":p0"))
    later = [c for c in convs if c.conversation_id.startswith(first.conversation_id[:-3]) and c.part > 0]
    assert later
    for part in later:
        assert chat_example(part) is None and qa_example(part) is None
    whole = whole_threads(convs)[first.conversation_id]
    assert len(whole.messages) == sum(len(c.messages) for c in [first] + later)
    chat = chat_example(first)
    assert chat.permalinks[0] == first.messages[0].permalink
    assert sum(t["content"].count("Long running discussion") for t in chat.messages) == 1


def test_acknowledged_answer_beats_a_later_aside():
    m = [msg(HELP, 0, "U1", "Is there a budget for home office furniture?", thread=0),
         msg(HELP, 5, "U2", "Yes, a one-off home-office budget of 400 euros; submit the receipt in Spendly.", thread=0),
         msg(HELP, 7, "U1", "oh nice, ordering a proper chair today", thread=0),
         msg(HELP, 40, "U3", "pro tip: the old office chairs are sold off cheaply, ask reception", thread=0)]
    ex = qa_example(channel_conversations(HELP, m)[0])
    assert ex.answer == "Yes, a one-off home-office budget of 400 euros; submit the receipt in Spendly."
    assert ex.signals["asker_thanks"] and ex.signals["answer_messages"] == 1


def test_fillers_and_sent_notices_are_no_detail_of_the_question():
    from ingest.datasets.examples import detail_of_question
    for filler in ("hmm", "Nope,", "iklaros, yes", "sent it @Vaibhav Verma", "attached the logs"):
        assert not detail_of_question(filler), filler
    for detail in ("macOS Sonoma", "ac97 (sound card)", "i need to launch a java application using some parameters"):
        assert detail_of_question(detail), detail
