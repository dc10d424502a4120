"""Pretrain a small Llama from scratch on the corpus: byte-level BPE tokenizer trained here, a model sized to the
data, plain-text packing, and the same loop as LoRA SFT (finetune/loop.py), training every weight.

    python -m finetune.recipes.pretrain --corpus var/datasets/<version> --out var/runs/pre --size demo --steps 200

Sizing: the compute-optimal rule of thumb is ~20 training tokens per parameter. Teams' corpora are small, so the
`auto` size picks the largest preset that the data can feed at >= 20 tokens/parameter over the run, falling back to
`demo`; the summary reports tokens/parameter and warns when it is far below 20 (the model will mostly memorise).
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from finetune import checkpoint as ckpt
from finetune.config import PretrainConfig, from_dict, parse_overrides, to_dict
from finetune.data import DatasetError, chunk_text_tokens, read_texts, total_tokens
from finetune.evaluate import heldout_loss
from finetune.loop import pick_device, setup_distributed, train
from finetune.tokenizer import train_bpe

# hidden, layers, heads, kv heads, mlp
SIZES = {"demo": (128, 4, 4, 2, 352), "tiny": (256, 6, 4, 2, 688), "small": (512, 8, 8, 4, 1376),
         "base": (768, 12, 12, 4, 2048)}
TOKENS_PER_PARAM = 20


def llama_config(size: str, vocab: int, ctx: int, tokenizer):
    from transformers import LlamaConfig
    h, n, heads, kv, mlp = SIZES[size]
    return LlamaConfig(vocab_size=vocab, hidden_size=h, num_hidden_layers=n, num_attention_heads=heads,
                       num_key_value_heads=kv, intermediate_size=mlp, max_position_embeddings=max(ctx, 256),
                       tie_word_embeddings=True, rms_norm_eps=1e-5, bos_token_id=tokenizer.bos_token_id,
                       eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)


def n_params(size: str, vocab: int) -> int:
    h, n, heads, kv, mlp = SIZES[size]
    hd = h // heads
    per_layer = h * h * 2 + 2 * h * kv * hd + 3 * h * mlp + 2 * h
    return vocab * h + n * per_layer + h


def choose_size(requested: str, train_tokens: int, epochs: float, vocab: int) -> str:
    if requested != "auto":
        if requested not in SIZES:
            raise ValueError(f"size must be auto or one of {', '.join(SIZES)}, not {requested!r}")
        return requested
    fit = [s for s in SIZES if n_params(s, vocab) * TOKENS_PER_PARAM <= train_tokens * max(epochs, 1)]
    return fit[-1] if fit else "demo"


def sizing_report(size: str, vocab: int, tokens_seen: int) -> dict:
    params = n_params(size, vocab)
    tpp = tokens_seen / params
    rep = {"size": size, "params": params, "train_tokens_seen": tokens_seen, "tokens_per_param": round(tpp, 3),
           "compute_optimal_tokens": params * TOKENS_PER_PARAM}
    if tpp < TOKENS_PER_PARAM / 4:
        rep["warning"] = (f"{tpp:.2f} tokens per parameter is far below the ~{TOKENS_PER_PARAM} rule: the model "
                          f"will mostly memorise; add text or train a smaller model")
    return rep


def run(cfg: PretrainConfig, *, on_metrics: Callable[[dict], None] | None = None,
        should_cancel: Callable[[], bool] | None = None) -> dict:
    d = setup_distributed()
    device = pick_device(d)
    docs = read_texts(cfg.corpus)
    if not docs:
        raise DatasetError(f"no text found in {cfg.corpus}")
    n_val = max(1, int(len(docs) * cfg.validation_fraction)) if len(docs) > 4 else 0
    train_docs, val_docs = docs[: len(docs) - n_val], docs[len(docs) - n_val:]
    # Vocabulary no larger than the data can support (a 4k vocab on 20 kB of text is mostly unused rows).
    chars = sum(len(t) for t in train_docs)
    vocab = max(300, min(cfg.vocab_size, chars // 40))
    tokenizer = train_bpe(train_docs, vocab_size=vocab)
    eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
    enc = lambda texts: [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]  # noqa: E731
    train_ex = chunk_text_tokens(enc(train_docs), cfg.max_seq_len, eos)
    val_ex = chunk_text_tokens(enc(val_docs), cfg.max_seq_len, eos)
    n_tok = total_tokens(train_ex)
    if len(train_ex) < cfg.min_train_examples or n_tok < cfg.min_train_tokens:
        raise DatasetError(f"corpus too small to pretrain on: {n_tok} tokens in {len(train_ex)} blocks of "
                           f"{cfg.max_seq_len}; need at least {cfg.min_train_tokens} tokens and "
                           f"{cfg.min_train_examples} blocks")
    size = choose_size(cfg.size, n_tok, cfg.epochs, len(tokenizer))
    from transformers import LlamaForCausalLM
    torch.manual_seed(cfg.seed)
    model = LlamaForCausalLM(llama_config(size, len(tokenizer), cfg.max_seq_len, tokenizer)).to(device)

    def state() -> dict:
        return {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}

    result = train(cfg, model, train_ex, pad_id=tokenizer.pad_token_id, trainable_state=state,
                   load_trainable=lambda w: model.load_state_dict(w), device=device, d=d, on_metrics=on_metrics,
                   should_cancel=should_cancel)
    out_dir = Path(cfg.output_dir)
    summary = {"status": result.status, "steps": result.steps, "tokens": result.tokens,
               "final_loss": result.final_loss, "alerts": result.alerts, "resumed_from": result.resumed_from,
               "setup": result.setup, "sizing": sizing_report(size, len(tokenizer), result.tokens),
               "vocab_size": len(tokenizer), "train_blocks": len(train_ex), "train_tokens": n_tok,
               "history": result.history, "config": to_dict(cfg)}
    fsdp = result.setup.get("parallel") == "fsdp"
    if result.status == "done":
        full = ckpt.full_trainable_state(model, frozen_too=True) if fsdp else None   # collective under FSDP
        if d.is_main:
            summary["model_dir"] = str(ckpt.save_pretrained_atomic(model, tokenizer, out_dir / "model", full))
        if val_ex and (d.is_main or fsdp):
            ev = {"split": "validation", "model": heldout_loss(model, val_ex, device, packed=result.module)}
            if d.is_main:
                summary["eval"] = ev
    if d.enabled:
        dist.barrier()
    return summary


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", nargs="+", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--size", default="auto")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON")
    a = ap.parse_args(argv)
    extra = parse_overrides(a.set)
    cfg = from_dict(PretrainConfig, {"corpus": a.corpus, "output_dir": a.out, "size": a.size, "max_steps": a.steps,
                                     "epochs": a.epochs, **extra})
    s = run(cfg, on_metrics=lambda m: print(json.dumps({k: m[k] for k in ("step", "loss", "tokens_per_s")}),
                                           flush=True))
    print(json.dumps({k: v for k, v in s.items() if k not in ("history", "config")}, default=str))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
