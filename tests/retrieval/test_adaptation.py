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


def _jargon_pairs():
    """The team's own words: code names the base model cannot know, asked in several phrasings."""
    systems = {"blorp": "the nightly payroll export to the bank", "zintra": "the VPN certificate renewal",
               "quokka": "the staging database snapshot restore", "marlow": "the on-call pager rotation schedule",
               "tessel": "the laptop disk encryption check", "vantor": "the customer invoice PDF generator",
               "pibble": "the office badge access list sync", "crestle": "the marketing newsletter send queue"}
    asks = ["How do I restart {c}?", "{c} is broken again, what now?", "Who owns {c}?", "Where are the logs of {c}?",
            "Can someone explain what {c} does?", "Is {c} down today?"]
    items = []
    for code, what in systems.items():
        for i, a in enumerate(asks):
            items.append((a.format(c=code), f"{code.capitalize()} is {what}; runbook step {i + 1} covers it."))
    return items


def test_adaptation_is_kept_only_when_heldout_retrieval_improves(tmp_path):
    import numpy as np

    from retrieval.adaptation import AdaptationConfig, adapt_if_better, pairs_from_feedback, split_heldout
    from retrieval.embedder import Embedder, resolve_model_path
    pairs = pairs_from_feedback(_jargon_pairs() + [("q?", "too short")])
    assert len(pairs) == 48
    train, held = split_heldout(pairs)
    assert not {p.query for p in train} & {p.query for p in held} and len(held) >= 4

    def encode_for(path):
        emb = Embedder(path, backend="torch")
        return lambda texts: np.asarray(emb.encode(list(texts)))

    base = resolve_model_path("all-MiniLM-L6-v2")
    distractors = ["The cafeteria menu changes on Mondays.", "Expense reports are due on the 5th.",
                   "The wiki lives at wiki.internal.", "Holidays are listed in the HR calendar."]
    cfg = AdaptationConfig(epochs=1, batch_size=12, learning_rate=1e-4)
    out = adapt_if_better(base, pairs, tmp_path / "adapted", encode_for=encode_for, distractors=distractors,
                          config=cfg)
    assert out["kept"], out
    assert out["adapted"]["mrr@10"] > out["base"]["mrr@10"] and (tmp_path / "adapted" / "config.json").is_file()
    # no training at all (0 epochs): the "adapted" model equals the base, so it is not kept and its folder is gone
    refused = adapt_if_better(base, pairs, tmp_path / "adapted2", encode_for=encode_for, distractors=distractors,
                              config=AdaptationConfig(epochs=0))
    assert refused["adapted"]["mrr@10"] == refused["base"]["mrr@10"]
    assert not refused["kept"] and not (tmp_path / "adapted2").exists()
    assert "the current model stays" in refused["reason"]
