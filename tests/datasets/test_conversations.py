"""Conversation units: threads, disentangled un-threaded channels, split enormous threads."""
import dataclasses
from collections import Counter

from sklearn.metrics import adjusted_rand_score

from ingest.datasets.conversations import channel_conversations, split_long
from ingest.datasets.disentangle import LinkWeights, disentangle, exact_conversation_f1, time_gap_baseline
from ingest.datasets.replylink import load_model, to_records
from tests.datasets.workspace import BOTS, ENG, ENG_TRUTH, HELP, bots_channel, eng_channel, help_channel, msg


def test_threads_are_conversations_and_long_threads_are_split_at_the_silence():
    counts = Counter()
    convs = channel_conversations(HELP, help_channel(), max_messages=40, counts=counts)
    threads = [c for c in convs if c.method == "thread"]
    by_id = {c.conversation_id: c for c in convs}
    first = by_id[f"C1:{help_channel()[0].ts}"]
    assert [m.user_id for m in first.messages] == ["U1", "U2", "U1"]
    assert first.asker == "U1"
    # the 70-message thread became two parts, cut at the one-day gap, nothing lost or duplicated
    parts = [c for c in threads if c.conversation_id.endswith((":p0", ":p1"))]
    assert len(parts) == 2 and counts["threads_split"] == 1
    assert [len(p.messages) for p in parts] == [35, 35]
    # the later part is a conversation of its own: its own opener asks, nothing of part 0 is copied into it,
    # and it remembers where the whole conversation started (the opening question's permalink)
    assert parts[1].asker == parts[1].messages[0].speaker == "U1"
    assert "root_text" not in parts[1].meta and not any("Long running" in m.text for m in parts[1].messages)
    assert parts[1].meta["opening_permalink"] == parts[0].messages[0].permalink
    assert counts["messages_dropped_bot"] == 1
    # the unanswered question stays a single-message conversation
    assert any(c.method == "single" and "furniture" in c.messages[0].text for c in convs)


def test_split_long_respects_message_and_token_limits():
    msgs = [msg(HELP, i, "U1", "word " * 50) for i in range(30)]
    parts = split_long(msgs, max_messages=100, max_tokens=400)
    assert sum(len(p) for p in parts) == 30
    assert all(sum(len(m.text.split()) for m in p) <= 400 for p in parts)
    assert [m.ts for p in parts for m in p] == [m.ts for m in msgs]


def test_interleaved_conversations_are_disentangled():
    """Two help conversations interleaved a minute apart, every reply @-mentioning its addressee: on the default
    path (Slack-pace weights + the opener rule) every reply links to the message it answers and the second opener,
    asked by someone else with no mention, starts its own conversation; the IRC-busy weights agree."""
    msgs = eng_channel()
    parents = load_model().antecedents(to_records(msgs))
    assert parents == [0, 1, 0, 1, 2, 3, 4]  # each reply to the message it answers, each opener on its own
    for weights in (None, LinkWeights(pace="dense")):
        pred = disentangle(msgs, weights)
        assert adjusted_rand_score(ENG_TRUTH, pred) == 1.0
        assert exact_conversation_f1(ENG_TRUTH, pred)["f1"] == 1.0
        convs = channel_conversations(ENG, msgs, weights=weights)
        assert sorted(len(c.messages) for c in convs) == [3, 4]
        assert all(c.method == "disentangled" for c in convs)
    # the time-gap baseline cannot separate interleaved talk
    assert adjusted_rand_score(ENG_TRUTH, time_gap_baseline(msgs)) < 0.5


def test_the_builder_disentangles_with_the_shipped_model_by_default():
    """`channel_conversations` (what `teamlore dataset build` runs per channel) groups un-threaded messages
    exactly as the shipped reply-link model does, not as the time-gap rule would."""
    from tests.datasets.test_disentangle import quiet_channel_without_mentions

    msgs, _ = quiet_channel_without_mentions()
    msgs = [dataclasses.replace(m, channel_id=ENG.channel_id) for m in msgs]

    def groups(labels):
        out: dict = {}
        for m, lab in zip(msgs, labels):
            out.setdefault(lab, []).append(m.ts)
        return sorted(sorted(g) for g in out.values())
    built = sorted(sorted(m.ts for m in c.messages) for c in channel_conversations(ENG, msgs))
    assert built == groups(disentangle(msgs))
    assert built != groups(time_gap_baseline(msgs))


def test_exact_conversation_f1():
    gold = [0, 0, 1, 1, 2]
    assert exact_conversation_f1(gold, [5, 5, 6, 6, 7])["f1"] == 1.0
    r = exact_conversation_f1(gold, [0, 0, 0, 1, 2])
    assert r["exact"] == 1 and r["precision"] == 1 / 3 and r["recall"] == 1 / 3
    assert exact_conversation_f1(gold, [0, 1, 2, 3, 4], min_size=2)["f1"] == 0.0


def test_only_bot_channel_yields_nothing():
    counts = Counter()
    assert channel_conversations(BOTS, bots_channel(), counts=counts) == []
    assert counts["messages_dropped_bot"] == 5


def test_split_long_cuts_at_the_topic_boundary_not_only_at_the_longest_silence():
    t = 0.0
    msgs = []
    for i in range(30):  # topic A, with one 10-minute pause in its middle
        t += 10 if i == 15 else 2
        msgs.append(msg(HELP, t, "U1" if i % 2 else "U2", f"the kafka consumer lag grows on partition {i}, "
                                                          f"rebalance the consumer group offsets"))
    t += 3  # topic B starts after a shorter pause
    for i in range(30):
        t += 2
        msgs.append(msg(HELP, t, "U3" if i % 2 else "U4", f"the invoice pdf export renders blank pages "
                                                          f"in safari {i}, fonts missing"))
    parts = split_long(msgs, max_messages=40)
    assert [len(p) for p in parts] == [30, 30]
    assert [m.ts for p in parts for m in p] == [m.ts for m in msgs]  # nothing lost, copied or reordered


def test_a_split_conversation_gives_no_example_the_opening_of_another_part():
    from ingest.datasets.examples import chat_example, qa_example

    convs = channel_conversations(HELP, help_channel(), max_messages=40)
    parts = [c for c in convs if c.conversation_id.endswith((":p0", ":p1"))]
    opening = parts[0].messages[0]
    for part in parts:
        chat, qa = chat_example(part), qa_example(part)  # ideas without a resolution: no Q&A pair is right
        # a later piece of a split thread starts mid-discussion: no example of its own (not a question)
        assert (chat is not None) == (part is parts[0]) and (qa is None or part is parts[0])
        for ex in ((chat,) if chat else ()) + ((qa,) if qa else ()):
            assert sum(t["content"].count(opening.text) for t in ex.messages) == (part is parts[0])
            assert ex.permalinks[0] == opening.permalink  # the opening question's permalink, on every example
