"""Usage is counted with the tokenizer in use: the prompt as the model receives it, the completion it produced."""
from __future__ import annotations

import pytest

from app.answering.generators import AnswerRequest, ModelGenerator, Usage
from model.base import CancelToken, GenerationParams, Passage, count_prompt_tokens
from tests.model.tiny_llama import build_tiny_llama


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    from model.transformers_generator import TransformersGenerator
    return TransformersGenerator(str(build_tiny_llama(tmp_path_factory.mktemp("tiny"))), device="cpu")


def test_model_generator_reports_prompt_and_completion_tokens(tiny):
    gen = ModelGenerator(tiny, system_prompt="You are Teamlore.", context_window=512)
    req = AnswerRequest(question="How many days of leave?", query="How many days of leave?",
                        passages=[Passage(1, "Leave", "Everyone gets 25 days of annual leave.")])
    items = list(gen.stream(req, GenerationParams(max_new_tokens=12), CancelToken()))
    usage = items[-1]
    assert isinstance(usage, Usage) and all(isinstance(i, str) for i in items[:-1])
    text = "".join(items[:-1])
    assert usage.completion_tokens == tiny.count_tokens(text)
    # the rendered chat template counts: more than the bare message texts
    assert usage.prompt_tokens > sum(tiny.count_tokens(p) for p in ("You are Teamlore.", "How many days of leave?"))
    assert usage.to_dict()["total_tokens"] == usage.prompt_tokens + usage.completion_tokens


def test_prompt_count_falls_back_to_per_message_tokens():
    class Words:
        name = "words"
        context_window = 100

        def count_tokens(self, text):
            return len(text.split())

    assert count_prompt_tokens(Words(), [{"role": "user", "content": "a b c"}]) == 3 + 4 + 2
