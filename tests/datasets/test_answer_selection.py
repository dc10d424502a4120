"""Answer selection: the resolving message is the response, never a non-answer; labelled set and held-out check."""
import json
import os
from pathlib import Path

import pytest

from ingest.datasets import answers
from ingest.datasets.conversations import channel_conversations
from ingest.datasets.examples import qa_example
from tests.datasets.workspace import HELP, NAMES, msg

LABELS = Path(__file__).resolve().parents[1] / "data" / "answer_selection_labels.jsonl"


def _qa(lines):
    return qa_example(channel_conversations(HELP, [msg(HELP, t, who, text, thread=0, reactions=r)
                                                   for t, who, text, r in lines])[0])


def test_the_fix_is_the_response_not_the_log_request_thanks_or_last_reply():
    ex = _qa([(0, "U1", "Our nightly postgres sync fails with 'replication slot does not exist'. How do I fix it?", None),
              (2, "U2", "Hi @Lena, could you please share the full sync logs and your source config?", None),
              (4, "U1", "here they are", None),
              (6, "U2", "The slot was dropped when the database restarted. Recreate it with "
                        "`SELECT pg_create_logical_replication_slot('olake_slot', 'pgoutput')` and restart the job.",
               None),
              (8, "U1", "that worked, thanks a lot!", None),
              (9, "U3", "CC: @Ankit", None),
              (10, "U2", "glad it worked!", None)])
    assert ex is not None
    assert ex.answer.startswith("The slot was dropped when the database restarted.")
    assert "share the full sync logs" not in ex.answer and "CC" not in ex.answer and "glad" not in ex.answer


@pytest.mark.parametrize("reply", [
    "We're looking into this internally and will get back to you shortly.",
    "Can you share the worker logs and the kafka version?",
    "CC: @Vishal",
    "thanks!",
    "ok",
    "Hi @Daniel, just checking in, are you still facing this issue?",
])
def test_a_thread_of_non_answers_gives_no_qa_pair(reply):
    assert _qa([(0, "U1", "My kafka job runs for 4 days but writes nothing. Why?", None),
                (3, "U2", reply, None)]) is None


def test_reply_to_someone_elses_follow_up_is_not_the_answer():
    m = [msg(HELP, 0, "U1", "How do I rotate the API key of the ingestion worker?", thread=0),
         msg(HELP, 2, "U2", "Go to Settings > API keys, click Rotate and paste the new key into the worker's env.",
             thread=0),
         msg(HELP, 3, "U1", "done, works, thanks", thread=0),
         msg(HELP, 5, "U3", "does this also work for the UI tokens?", thread=0),
         msg(HELP, 7, "U2", f"{NAMES['U3'].split()[0].lower()}: no, UI tokens expire on their own after 24 hours",
             thread=0)]
    conv = channel_conversations(HELP, m)[0]
    picked = answers.select_answers(conv.messages, conv.asker)
    assert [conv.messages[i].text for i in picked] == [m[1].text]


def test_non_answer_rules_hold_whatever_the_model_says():
    always_yes = answers.AnswerModel({"bias": 100.0}, 0.5)
    m = [msg(HELP, 0, "U1", "Is there a budget for home office furniture?", thread=0),
         msg(HELP, 1, "U2", "we will check and get back to you", thread=0),
         msg(HELP, 2, "U3", "cc @Nayan", thread=0),
         msg(HELP, 3, "U2", "Yes: 400 euros once, submit the receipt in Spendly.", thread=0)]
    conv = channel_conversations(HELP, m)[0]
    assert answers.select_answers(conv.messages, conv.asker, always_yes) == [3]


def test_model_artefact_is_shipped_and_loads():
    model = answers.default_model()
    assert set(model.weights) == set(answers.FEATURES) and 0 < model.threshold < 1


def test_labelled_set_is_big_enough_split_and_has_rules():
    rows = [json.loads(line) for line in LABELS.read_text().splitlines()]
    assert len(rows) >= 150
    assert {r["split"] for r in rows} == {"fit", "heldout"}
    assert sum(r["source"] == "olake" for r in rows) == 29  # every thread of the OLake export
    for r in rows:
        assert r["rule"] and r["label"] == ("answer" if r["answers"] else "no_answer")
        assert set(map(str, r["answers"])) <= set(map(str, r["messages"]))
        assert "text" not in r  # ids only: the shared text is never copied into the repo


def test_held_out_selector_beats_the_last_and_longest_reply():
    """On the held-out half of the real labelled conversations (needs ../shared/data)."""
    from benchmarks import answer_selection as bench
    if not bench.OLAKE.is_dir() or not bench.IRC.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared data missing in CI: {bench.OLAKE}")
        pytest.skip("../shared/data (OLake export, Ubuntu IRC gold) not present")
    convs = [c for c in bench.conversations(bench.load_labels()) if c[0]["split"] == "heldout"]
    ours = bench.evaluate(convs, lambda m, a: answers.select_answers(m, a))
    for baseline in (bench.last_reply, bench.longest_reply):
        base = bench.evaluate(convs, baseline)
        assert ours["precision"] > base["precision"] and ours["recall"] > base["recall"]
    assert ours["unanswered_abstained"] > 0  # it does decline to answer some unanswered conversations


def test_held_out_qa_pairs_are_more_often_right_than_the_last_reply():
    """Pair precision (every response message is a labelled answer) on the held-out half (needs ../shared/data):
    0.800 on 15 pairs measured (BENCHMARKS.md, session 4: un-threaded pairs need the asker's acceptance; main's
    selector 0.667 on 51), the last reply 0.40; a Q&A pair is dropped rather than emitted weak."""
    from benchmarks import answer_selection as bench
    if not bench.OLAKE.is_dir() or not bench.IRC.is_dir():
        if os.environ.get("CI") == "true":
            pytest.fail(f"shared data missing in CI: {bench.OLAKE}")
        pytest.skip("../shared/data (OLake export, Ubuntu IRC gold) not present")
    convs = [c for c in bench.conversations(bench.load_labels()) if c[0]["split"] == "heldout"]
    ours, given = bench.pair_precision(convs, lambda m, a: answers.resolving_answers(
        m, a, threaded=next(r["source"] == "olake" for r, mm, _ in convs if mm is m)))
    last, _ = bench.pair_precision(convs, bench.last_reply)
    assert ours >= last + 0.35 and given >= 12
