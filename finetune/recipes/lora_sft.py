"""LoRA supervised finetuning of a Hugging Face causal LM on a Teamlore chat dataset.

    python -m finetune.recipes.lora_sft --base PATH_OR_HUB_ID --dataset var/datasets/<version> --out var/runs/x
    torchrun --nproc-per-node 8 -m finetune.recipes.lora_sft ...        # DDP (add --fsdp for big models)

Steps: tokenizer + chat template -> assistant-only labels -> padding-free packing -> base model (bf16 on GPUs that
have it, fp16 + loss scaling otherwise, fp32 on CPU; 4-bit NF4 with --qlora) -> LoRA -> the shared loop
(finetune/loop.py) -> adapter + held-out loss of base and adapter.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist

from finetune import checkpoint as ckpt
from finetune.config import LoraSFTConfig, from_dict, parse_overrides, to_dict
from finetune.data import (DatasetError, ensure_chat_template, read_chat_jsonl, split_files,
                           tokenize_conversations, total_tokens)
from finetune.evaluate import heldout_loss
from finetune.loop import pick_device, resolve_precision, setup_distributed, train
from finetune.models import check_base_model, lora_for, count_params, load_causal_lm, load_tokenizer


class DatasetTooSmall(DatasetError):
    pass


def load_examples(cfg: LoraSFTConfig, tokenizer) -> dict[str, list]:
    files = split_files(cfg.dataset_dir)
    ensure_chat_template(tokenizer, cfg.chat_template)
    out = {}
    for split, path in files.items():
        out[split] = tokenize_conversations(tokenizer, read_chat_jsonl(path), cfg.max_seq_len)
    train_ex = out["train"]
    n_tok = total_tokens(train_ex)
    if len(train_ex) < cfg.min_train_examples or n_tok < cfg.min_train_tokens:
        raise DatasetTooSmall(
            f"dataset {cfg.dataset_dir} is too small to train on: {len(train_ex)} usable training examples "
            f"({n_tok} tokens) — need at least {cfg.min_train_examples} examples and {cfg.min_train_tokens} tokens")
    return out


def auto_micro_batch_tokens(n_params: int, quantized: bool, requested: int) -> int:
    """Packed-row size for a model of n_params on one GPU: activations grow with the model's width and depth, so
    beyond 5B parameters the rows are capped (8B measured: 4096-token rows 35.8 GiB, 2048 with an NF4 base
    16.1 GiB; tokens per step are kept by accumulation)."""
    if n_params <= 5e9:
        return requested
    return min(requested, 2048 if quantized else 4096)


def finetune(cfg: LoraSFTConfig, train_examples: list, *, pad_id: int, device: torch.device, d=None,
             on_metrics=None, should_cancel=None):
    """Load the base model, add LoRA, run the shared loop on already tokenised examples.
    `run` calls this after tokenising the dataset; benchmarks call it with synthetic token rows."""
    precision = resolve_precision(cfg.precision, device)
    # bf16 weights for the frozen base on GPUs (LoRA weights are fp32); fp16 base for fp16 + loss scaling.
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    base = load_causal_lm(cfg.base_model, dtype=dtype, device=device, quantize_4bit=cfg.quantize_4bit,
                          base_fp8=cfg.base_fp8)
    torch.manual_seed(cfg.seed)  # LoRA init depends only on the seed
    model = lora_for(base, cfg)  # a new adapter, or the parent version's (cfg.init_adapter) to continue from
    total, trainable = count_params(model)
    if cfg.micro_batch_auto and device.type == "cuda":
        cfg.micro_batch_tokens = auto_micro_batch_tokens(total, cfg.quantize_4bit, cfg.micro_batch_tokens)

    from peft import get_peft_model_state_dict, set_peft_model_state_dict

    def state() -> dict:
        return {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(model).items()}

    def load(weights: dict) -> None:
        set_peft_model_state_dict(model, weights)

    result = train(cfg, model, train_examples, pad_id=pad_id, trainable_state=state, load_trainable=load,
                   device=device, d=d, on_metrics=on_metrics, should_cancel=should_cancel)
    quant = getattr(base, "quantization_report", None)
    if quant:
        result.setup["qlora"] = quant
    result.setup["lora"] = getattr(model, "lora_impl_report", {"impl": cfg.lora_impl})
    fp8 = getattr(base, "fp8_report", None)
    if fp8:
        result.setup["fp8_base"] = fp8
    return model, result, {"precision": precision, "params": total, "trainable_params": trainable}


def run(cfg: LoraSFTConfig, *, on_metrics: Callable[[dict], None] | None = None,
        should_cancel: Callable[[], bool] | None = None) -> dict:
    d = setup_distributed()
    device = pick_device(d)
    check_base_model(cfg.base_model)
    tokenizer = load_tokenizer(cfg.base_model)
    data = load_examples(cfg, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    model, result, info = finetune(cfg, data["train"], pad_id=pad_id, device=device, d=d, on_metrics=on_metrics,
                                   should_cancel=should_cancel)
    precision, total, trainable = info["precision"], info["params"], info["trainable_params"]
    out_dir = Path(cfg.output_dir)
    summary = {"status": result.status, "steps": result.steps, "tokens": result.tokens,
               "final_loss": result.final_loss, "alerts": result.alerts, "resumed_from": result.resumed_from,
               "setup": result.setup, "params": total, "trainable_params": trainable, "precision": precision,
               "train_examples": len(data["train"]), "train_tokens": total_tokens(data["train"]),
               "history": result.history, "config": to_dict(cfg)}
    fsdp = result.setup.get("parallel") == "fsdp"
    if result.status == "done":
        # under FSDP the adapter's shards are gathered (a collective), then rank 0 writes it
        full = ckpt.full_trainable_state(model) if fsdp else None
        if d.is_main:
            summary["adapter_dir"] = str(ckpt.save_pretrained_atomic(model, tokenizer, out_dir / "adapter", full))
        held = "validation" if data.get("validation") else None
        if held and (d.is_main or fsdp):   # FSDP: every rank runs the same forwards (all-gathers)
            # Same weights, adapter switched off: the bare base model on the same held-out tokens.
            ev = {"split": held, "adapter": heldout_loss(model, data[held], device, packed=result.module,
                                                         micro_batch_tokens=cfg.micro_batch_tokens)}
            with model.disable_adapter():
                ev["base"] = heldout_loss(model, data[held], device, packed=result.module,
                                          micro_batch_tokens=cfg.micro_batch_tokens)
            if d.is_main:
                summary["eval"] = ev
    if d.enabled:
        dist.barrier()
    return summary


def parse_args(argv=None) -> LoraSFTConfig:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="HF model directory or hub id")
    ap.add_argument("--dataset", required=True, help="dataset version directory (train/validation/test.jsonl)")
    ap.add_argument("--out", required=True, help="run directory (checkpoints, adapter)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--fsdp", action="store_true")
    ap.add_argument("--qlora", "--quantize-4bit", dest="quantize_4bit", action="store_true",
                    help="QLoRA: the frozen base in 4-bit NF4 (torchao), LoRA in full precision")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="any LoraSFTConfig field, e.g. --set lr=1e-4 --set lora_r=32")
    a = ap.parse_args(argv)
    extra = parse_overrides(a.set)
    return from_dict(LoraSFTConfig, {"base_model": a.base, "dataset_dir": a.dataset, "output_dir": a.out,
                                     "max_steps": a.steps, "epochs": a.epochs, "fsdp": a.fsdp,
                                     "quantize_4bit": a.quantize_4bit, **extra})


def main(argv=None) -> None:
    cfg = parse_args(argv)
    summary = run(cfg, on_metrics=lambda m: print(json.dumps({k: m[k] for k in ("step", "loss", "lr", "tokens_per_s")}),
                                                  flush=True))
    if setup_distributed().is_main:  # the process group run() joined
        print(json.dumps({k: v for k, v in summary.items() if k not in ("history", "config")}, default=str))
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
