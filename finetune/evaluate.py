"""Held-out loss and perplexity of a model, with or without a LoRA adapter, on a dataset split."""
from __future__ import annotations

import math
from pathlib import Path

import torch

from finetune.data import (Example, collate_packed, ensure_chat_template, pack_in_order, read_chat_jsonl,
                           split_files, tokenize_conversations)
from finetune.loop import PackedCausalLM, autocast_dtype, causal_lm_of, resolve_precision
from finetune.ops import choose_attention, choose_ce, set_attention


@torch.no_grad()
def heldout_loss(model, examples: list[Example], device: torch.device, *, micro_batch_tokens: int = 8192,
                 attention: str = "auto", precision: str = "auto", packed=None) -> dict:
    """Token-weighted mean loss over the examples' target tokens, and its perplexity. `packed`: the module the
    training loop ran (under FSDP the sharded root, which every rank must call with the same rows)."""
    if not examples:
        return {"loss": None, "perplexity": None, "tokens": 0, "examples": 0}
    kind = choose_attention(attention, device)
    set_attention(causal_lm_of(model), kind)
    if packed is None or getattr(packed, "attention", kind) != kind:
        packed = PackedCausalLM(model, kind, choose_ce("auto", device), 4096)
    amp = autocast_dtype(resolve_precision(precision, device))
    was_training = model.training
    model.eval()
    cap = max(micro_batch_tokens, max(len(e) for e in examples))
    total, n = 0.0, 0
    for row in pack_in_order([len(e) for e in examples], cap):
        b = collate_packed([examples[i] for i in row]).to(device)
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            total += float(packed(b.input_ids, b.position_ids, b.targets, b.cu_seqlens, b.max_seqlen))
        n += b.n_targets
    if was_training:
        model.train()
    loss = total / max(n, 1)
    return {"loss": round(loss, 6), "perplexity": round(math.exp(min(loss, 50.0)), 4), "tokens": n,
            "examples": len(examples)}


def load_split_examples(tokenizer, dataset_dir: str | Path, split: str, max_seq_len: int) -> list[Example]:
    files = split_files(dataset_dir)
    if split not in files:
        return []
    ensure_chat_template(tokenizer)
    return tokenize_conversations(tokenizer, read_chat_jsonl(files[split]), max_seq_len)


def compare(base_model: str, dataset_dir: str | Path, adapters: dict[str, str | Path], *, split: str = "test",
            max_seq_len: int = 2048, device: torch.device | None = None) -> dict:
    """Loss/perplexity of the bare base model and of each named adapter on one split (falls back to
    `validation` when the split is absent). Returns {"split", "base": {...}, "<name>": {...}}."""
    from peft import PeftModel

    from finetune.models import load_causal_lm, load_tokenizer
    device = device or (torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
    tok = load_tokenizer(base_model)
    files = split_files(dataset_dir)
    if split not in files:
        split = "validation" if "validation" in files else "train"
    examples = load_split_examples(tok, dataset_dir, split, max_seq_len)
    precision = resolve_precision("auto", device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    base = load_causal_lm(base_model, dtype=dtype, device=device)
    out: dict = {"split": split, "base": heldout_loss(base, examples, device)}
    for name, path in adapters.items():
        with_adapter = PeftModel.from_pretrained(base, str(path))
        out[name] = heldout_loss(with_adapter, examples, device)
        base = with_adapter.unload()
    return out
