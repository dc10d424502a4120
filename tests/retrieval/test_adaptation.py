from __future__ import annotations

import random

from retrieval.adaptation import TrainingPair, _no_duplicate_batches, pairs_from_beir, pairs_from_threads


def test_pairs_from_threads_takes_answered_questions_only():
    threads = [
        [{"user_id": "U1", "text": "How do I reset the VPN token?"},
         {"user_id": "U2", "text": "Open the security portal and click reset token."}],
        [{"user_id": "U1", "text": "Deploy finished."}, {"user_id": "U2", "text": "great, thanks for the deploy"}],
        [{"user_id": "U1", "text": "Anyone know the wifi password?"},
         {"user_id": "U1", "text": "never mind, found it on the wiki page"}],  # self-answer: no pair
        [{"user_id": "U3", "text": "Where is the holiday calendar?"}],
    ]
    pairs = pairs_from_threads(threads)
    assert [p.query for p in pairs] == ["How do I reset the VPN token?"]
    assert "security portal" in pairs[0].positive


def test_pairs_from_beir_uses_only_given_qrels():
    corpus = {"d1": {"title": "T1", "text": "a"}, "d2": {"title": "", "text": "b"}, "d3": {"title": "", "text": "c"}}
    pairs = pairs_from_beir(corpus, {"q1": "question one", "q2": "question two"}, {"q1": {"d1": 1, "d2": 1}},
                            hard_negatives={"q1": ["d1", "d3"]})
    assert len(pairs) == 2 and all(p.query == "question one" for p in pairs)
    assert {p.positive for p in pairs} == {"T1\na", "b"} and all(p.negative == "c" for p in pairs)


def test_batches_never_repeat_a_text():
    pairs = [TrainingPair(f"q{i % 7}", f"p{i % 5}") for i in range(40)]
    seen = 0
    for batch in _no_duplicate_batches(pairs, 8, random.Random(0)):
        texts = [p.query for p in batch] + [p.positive for p in batch]
        assert len(texts) == len(set(texts))
        seen += len(batch)
    assert seen == len(pairs)
