"""Packing correctness: packed rows give every example exactly the loss it has alone; labels cover assistant turns
only; the planner keeps data order and never overfills a row."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from transformers import AutoTokenizer, LlamaForCausalLM

from finetune.data import (IGNORE, Example, chunk_text_tokens, collate_packed, ensure_chat_template, pack_in_order,
                           plan_steps, tokenize_conversation)
from finetune.loop import PackedCausalLM, block_causal_mask
from finetune.ops import set_attention

from .conftest import make_conversations


def _examples(tok, n=10):
    ensure_chat_template(tok)
    return [tokenize_conversation(tok, c["messages"], 512) for c in make_conversations(n, 3)]


def test_packed_and_unpacked_per_example_losses_match(tiny_model_dir):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = LlamaForCausalLM.from_pretrained(tiny_model_dir, attn_implementation="sdpa").eval()
    exs = _examples(tok, 8)
    alone = []
    with torch.no_grad():
        for ex in exs:
            logits = model(input_ids=torch.tensor([ex.input_ids])).logits[0]
            alone.append(F.cross_entropy(logits, torch.tensor(ex.targets), reduction="sum", ignore_index=IGNORE))
        b = collate_packed(exs)
        set_attention(model, "sdpa")
        hidden = model.model(input_ids=b.input_ids, position_ids=b.position_ids,
                             attention_mask=block_causal_mask(b.position_ids)).last_hidden_state[0]
        per_token = F.cross_entropy(model.lm_head(hidden), b.targets[0], reduction="none", ignore_index=IGNORE)
        packed = [per_token[s:e].sum() for s, e in zip(b.cu_seqlens[:-1].tolist(), b.cu_seqlens[1:].tolist())]
        # and the loss module the recipe trains with (chunked CE, only target rows) gives the same total
        total = PackedCausalLM(model, "sdpa", "chunked", 7)(b.input_ids, b.position_ids, b.targets)
    for a, p, ex in zip(alone, packed, exs):
        assert abs(float(a) - float(p)) / ex.n_targets < 1e-4
    assert abs(float(total) - float(sum(alone))) / sum(e.n_targets for e in exs) < 1e-4
    # Without the block mask (attention across examples) the losses differ: the test can fail.
    with torch.no_grad():
        t = b.input_ids.shape[1]
        causal_only = torch.ones(t, t, dtype=torch.bool).tril()[None, None]
        hidden = model.model(input_ids=b.input_ids, position_ids=b.position_ids,
                             attention_mask=causal_only).last_hidden_state[0]
        leaky = F.cross_entropy(model.lm_head(hidden), b.targets[0], reduction="sum", ignore_index=IGNORE)
    assert abs(float(leaky) - float(sum(alone))) / sum(e.n_targets for e in exs) > 1e-3


def test_labels_cover_assistant_turns_only(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    ensure_chat_template(tok)
    msgs = [{"role": "system", "content": "You are Teamlore."},
            {"role": "user", "content": "How do I fix the vpn?"},
            {"role": "assistant", "content": "Restart the vpn client."},
            {"role": "user", "content": "And then?"},
            {"role": "assistant", "content": "Ask ana in #vpn."}]
    ex = tokenize_conversation(tok, msgs, 512)
    labelled = [t for t in ex.targets if t != IGNORE]
    text = tok.decode(labelled)
    assert text == "Restart the vpn client.<|im_end|>\nAsk ana in #vpn.<|im_end|>\n"
    # targets are shifted labels: target i is input i+1
    for i, t in enumerate(ex.targets[:-1]):
        if t != IGNORE:
            assert t == ex.input_ids[i + 1]
    assert ex.targets[-1] == IGNORE


def test_truncation_without_assistant_tokens_drops_the_example(tiny_tokenizer_dir):
    tok = AutoTokenizer.from_pretrained(tiny_tokenizer_dir)
    ensure_chat_template(tok)
    msgs = [{"role": "user", "content": "long question " * 50}, {"role": "assistant", "content": "short"}]
    assert tokenize_conversation(tok, msgs, 16) is None


def test_packing_keeps_order_and_capacity():
    lengths = [5, 9, 3, 7, 7, 1, 10, 2]
    rows = pack_in_order(lengths, 10)
    assert [i for r in rows for i in r] == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in r) <= 10 for r in rows)
    exs = [Example(list(range(n)), [1] * n) for n in lengths]
    steps = plan_steps(exs, tokens_per_step=20, micro_batch_tokens=10, world_size=2)
    assert all(len(s) % 2 == 0 for s in steps)
    flat = [i for s in steps for r in s for i in r]
    assert flat == sorted(flat) and len(set(flat)) == len(flat)
    by_count = plan_steps(exs, 0, 10, 1, examples_per_step=4)
    assert [[i for r in s for i in r] for s in by_count] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_padding_tail_is_its_own_document_with_no_targets():
    exs = [Example([5, 6, 7], [6, 7, IGNORE]), Example([8, 9], [9, IGNORE])]
    b = collate_packed(exs, pad_to=8, pad_id=0)
    assert b.input_ids.shape == (1, 8) and b.n_tokens == 5 and b.n_targets == 3
    assert b.position_ids[0].tolist() == [0, 1, 2, 0, 1, 0, 1, 2]
    assert b.cu_seqlens.tolist() == [0, 3, 5, 8]
    assert b.targets[0, 5:].tolist() == [IGNORE] * 3


def test_pretraining_blocks_are_fully_trained():
    blocks = chunk_text_tokens([[1, 2, 3], [4, 5]], block=4, eos_id=0)
    assert [b.input_ids for b in blocks] == [[1, 2, 3, 0], [4, 5, 0]]
    assert blocks[0].targets == [2, 3, 0, IGNORE]
