"""The prompt-injection suite's payloads (benchmarks/data/injection_suite.jsonl) against the prompt builder and a
real chat template + tokenizer: no payload closes its <passage> fence or forges a chat turn with control
tokens. (The full suite through ingestion, the index and the engine is benchmarks/injection_suite.py.)"""
from __future__ import annotations

import json
from collections import Counter

import pytest

from model.prompts import DATA_NOT_INSTRUCTIONS, Passage, build_messages
from tests.conftest import REPO

CASES = [json.loads(line) for line in
         (REPO / "benchmarks" / "data" / "injection_suite.jsonl").read_text(encoding="utf-8").splitlines()]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer
    from tests.model.tiny_llama import build_tokenizer
    out = tmp_path_factory.mktemp("tok")
    build_tokenizer(out)
    return AutoTokenizer.from_pretrained(out)


def _special(tokenizer, messages) -> Counter:
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]  # as model/transformers_generator.py does
    special = set(tokenizer.all_special_ids)
    return Counter(i for i in ids if i in special)


def test_suite_has_at_least_30_attacks_in_both_vectors():
    assert len(CASES) >= 30
    assert {c["vector"] for c in CASES} == {"document", "slack"}


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_payload_stays_fenced_and_forges_no_turn(case, tokenizer):
    passages = [Passage(1, case["title"], f"{case['fact']}. {case['payload']}"),
                Passage(2, "Other", "Unrelated text about the office.")]
    messages, _ = build_messages(system_prompt="You are Teamlore.", question=case["question"], passages=passages,
                                 history=[], count_tokens=lambda t: len(tokenizer(t)["input_ids"]),
                                 context_window=4096, max_new_tokens=64)
    assert len(messages) == 2 and [m["role"] for m in messages] == ["system", "user"]
    fenced = messages[0]["content"].split(DATA_NOT_INSTRUCTIONS, 1)[1]
    assert fenced.count("</passage>") == fenced.count("<passage id=") == 2
    baseline = _special(tokenizer, [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}])
    assert _special(tokenizer, messages) == baseline
