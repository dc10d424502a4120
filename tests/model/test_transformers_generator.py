"""The transformers generator on a tiny Llama the test builds: streaming, isolation under concurrency,
cancellation, LoRA adapters, and clear errors."""
import threading
from pathlib import Path

import pytest

from model.base import CancelToken, GenerationParams, GeneratorUnavailable
from model.transformers_generator import TransformersGenerator
from tests.model.tiny_llama import build_tiny_llama, train_lora_with_peft


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny_llama(tmp_path_factory.mktemp("tiny"))


@pytest.fixture(scope="module")
def gen(tiny_dir):
    return TransformersGenerator(str(tiny_dir), device="cpu")


def _ask(q):
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": q}]


def test_streams_pieces_that_join_to_the_full_answer(gen):
    params = GenerationParams(max_new_tokens=12)
    pieces = list(gen.stream(_ask("what is the deploy day?"), params))
    assert len(pieces) >= 2 and "".join(pieces).strip()
    assert "".join(pieces) == "".join(gen.stream(_ask("what is the deploy day?"), params))  # greedy = stable


def test_concurrent_requests_do_not_interleave(gen):
    prompts = [f"question number {i} about the staging cluster" for i in range(4)]
    params = GenerationParams(max_new_tokens=16)
    expected = ["".join(gen.stream(_ask(p), params)) for p in prompts]
    got: dict[int, str] = {}

    def run(i):
        got[i] = "".join(gen.stream(_ask(prompts[i]), params))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert [got[i] for i in range(4)] == expected


def test_cancellation_stops_generation_early(gen):
    cancel = CancelToken()
    out = []
    for piece in gen.stream(_ask("tell me everything"), GenerationParams(max_new_tokens=200), cancel):
        out.append(piece)
        if len(out) == 3:
            cancel.cancel()
    assert 3 <= len(out) <= 4


def test_stop_strings_cut_the_answer(gen):
    params = GenerationParams(max_new_tokens=20)
    pieces = list(gen.stream(_ask("x"), params))
    full = "".join(pieces)
    stop = next(p for p in pieces[len(pieces) // 2:] + pieces if p.strip())
    cut = "".join(gen.stream(_ask("x"), GenerationParams(max_new_tokens=20, stop=[stop])))
    assert stop not in cut and full.startswith(cut) and len(cut) < len(full)


def test_lora_adapter_changes_the_answer(tiny_dir, tmp_path, gen):
    conv = [{"role": "user", "content": "what is the codeword?"},
            {"role": "assistant", "content": "pineapple pineapple"}]
    adapter = train_lora_with_peft(tiny_dir, tmp_path / "adapter", conv, steps=60)
    tuned = TransformersGenerator(str(tiny_dir), adapter_path=str(adapter), device="cpu")
    params = GenerationParams(max_new_tokens=8)
    assert "pineapple" in "".join(tuned.stream(conv[:1], params))
    assert "pineapple" not in "".join(gen.stream(conv[:1], params))


def test_bad_model_paths_fail_clearly(tmp_path):
    with pytest.raises(GeneratorUnavailable, match="cannot load model config"):
        TransformersGenerator(str(tmp_path / "nope"))
    (tmp_path / "bert").mkdir()
    (tmp_path / "bert" / "config.json").write_text('{"model_type": "bert", "architectures": ["BertModel"]}')
    with pytest.raises(GeneratorUnavailable, match="not a causal language model"):
        TransformersGenerator(str(tmp_path / "bert"))


def test_token_counting_and_window(gen):
    assert gen.count_tokens("hello world") >= 2
    assert gen.context_window == 1024
