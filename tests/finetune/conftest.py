"""Tiny models and datasets for the finetune tests: a byte-level BPE trained here and a 2-layer Llama."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

TOPICS = ["deploy", "database", "vpn", "oncall", "billing", "release", "backup", "laptop", "wiki", "payroll"]


def make_conversations(n: int, seed: int = 0) -> list[dict]:
    g = random.Random(seed)
    out = []
    for i in range(n):
        t = g.choice(TOPICS)
        q = f"How do I fix the {t} issue number {g.randint(1, 99)} on {g.choice(['staging', 'prod', 'dev'])}?"
        a = (f"For {t}, run the {t} runbook step {g.randint(1, 9)} and ask {g.choice(['ana', 'bo', 'cy'])} "
             f"in #{t}." + " Then check the dashboard." * g.randint(0, 3))
        msgs = [{"role": "user", "content": q}, {"role": "assistant", "content": a}]
        if g.random() < 0.4:
            msgs = [{"role": "system", "content": "You are Teamlore."}] + msgs
        if g.random() < 0.3:
            msgs += [{"role": "user", "content": "Thanks, and after that?"},
                     {"role": "assistant", "content": f"Close the {t} ticket."}]
        out.append({"messages": msgs})
    return out


def write_dataset(root: Path, n_train: int = 48, n_val: int = 12, n_test: int = 12, seed: int = 0) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for split, n, s in (("train", n_train, seed), ("validation", n_val, seed + 1), ("test", n_test, seed + 2)):
        with open(root / f"{split}.jsonl", "w") as fh:
            for c in make_conversations(n, s):
                fh.write(json.dumps(c) + "\n")
    return root


@pytest.fixture(scope="session")
def tiny_tokenizer_dir(tmp_path_factory) -> Path:
    from finetune.tokenizer import train_bpe
    texts = []
    for c in make_conversations(300, 42):
        texts += [m["content"] for m in c["messages"]]
    tok = train_bpe(texts, vocab_size=400, min_frequency=1)
    d = tmp_path_factory.mktemp("tok")
    tok.save_pretrained(d)
    return d


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory, tiny_tokenizer_dir) -> Path:
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                      tie_word_embeddings=True, pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                      bos_token_id=tok.bos_token_id)
    torch.manual_seed(0)
    model = LlamaForCausalLM(cfg)
    d = tmp_path_factory.mktemp("tiny_llama")
    model.save_pretrained(d)
    tok.save_pretrained(d)
    return d


@pytest.fixture
def dataset_dir(tmp_path) -> Path:
    return write_dataset(tmp_path / "ds")


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tiny models: one intra-op thread is faster than two, and far faster on an oversubscribed CI machine
    (OpenMP barriers stall when the cores are busy)."""
    import torch
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
