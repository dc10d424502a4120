"""Plain dataclass configs for the recipes. Every field has a default that works on a CPU with a tiny model;
the GPU-relevant ones ("auto") resolve from the hardware at run time."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

# Default LoRA targets: every linear projection of a Llama/Mistral/Qwen-style block.
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


@dataclass
class TrainConfig:
    """Loop settings shared by LoRA SFT and pretraining."""
    output_dir: str = "var/runs/run"
    max_steps: int | None = None          # None: derive from `epochs`
    epochs: float = 1.0
    tokens_per_step: int = 16384          # target real (non-padding) tokens per optimizer step, all ranks together
    micro_batch_tokens: int = 8192        # tokens in one packed forward/backward row
    examples_per_step: int | None = None  # instead of tokens_per_step: a fixed number of examples per step
    max_seq_len: int = 2048               # longer examples are truncated
    lr: float = 2e-4
    min_lr_ratio: float = 0.1             # cosine decays to lr * min_lr_ratio
    warmup_steps: int | None = None       # None: 5% of max_steps
    schedule: str = "cosine"              # cosine | linear | constant
    weight_decay: float = 0.0
    betas: tuple[float, float] = (0.9, 0.999)
    grad_clip: float = 1.0
    precision: str = "auto"               # auto | bf16 | fp16 | fp32
    gradient_checkpointing: bool = False
    compile: str = "auto"                 # auto (CUDA only) | on | off
    attention: str = "auto"               # auto | varlen (CUDA flash varlen) | sdpa (block-diagonal mask)
    fused_ce: str = "auto"                # auto (Liger on CUDA when installed) | liger | chunked
    loss_chunk_tokens: int = 4096
    liger_chunk_mem: int = 1              # Liger's transient-logits budget in units of (target rows x hidden):
                                          # chunks of ~rows/ceil(vocab/(k*hidden)) rows; k>1 = fewer, larger LM-head
                                          # products for k times the (small) logits buffer (1B: 1 -> 128 rows, 8 -> 1024)
    pad_to_multiple: str = "auto"         # auto: pad packed rows to micro_batch_tokens when compiling (static shapes)
    seqlen_buckets: bool = True           # flash varlen bound = longest example rounded up to a power of two
    checkpoint_every: int = 50
    seed: int = 0
    shuffle: bool = True
    log_every: int = 1
    num_workers: int = 0                  # tokenisation happens up front; batches are cheap to build
    spike_factor: float = 3.0             # loss > factor * running mean -> alert
    stall_steps: int = 50                 # no improvement of the best loss for this many steps -> alert
    fsdp: bool = False                    # under torchrun: FSDP instead of DDP (models that do not fit one GPU)
    min_train_examples: int = 8
    min_train_tokens: int = 2048


@dataclass
class LoraSFTConfig(TrainConfig):
    base_model: str = ""
    dataset_dir: str = ""
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.0
    lora_targets: list[str] = field(default_factory=lambda: list(ALL_LINEAR))
    lora_impl: str = "peft"               # peft | grouped: one A product for projections sharing an input (q/k/v,
                                          # gate/up; finetune/lora_grouped.py) — same parameters and saved adapter |
                                          # auto: grouped where the adapter allows it (no dropout), else peft
    quantize_4bit: bool = False           # QLoRA: frozen base linears in NF4 (torchao), CPU or GPU
    base_fp8: bool = False                # frozen base linears compute in float8 e4m3, row-wise scales (FP8 GPUs;
                                          # finetune/fp8.py); one process only
    micro_batch_auto: bool = True         # models > 5B parameters: rows capped at 4096 tokens (2048 with 4-bit), the
                                          # sizes measured to keep an 8B under 40 GiB (20 GiB QLoRA) on one GPU
    chat_template: str | None = None      # override the tokenizer's template (Jinja); ChatML when it has none
    init_adapter: str | None = None       # continue from this LoRA adapter (a parent version's) instead of a new one:
                                          # its rank/targets are kept (lora_r/alpha/targets are then unused)


@dataclass
class PretrainConfig(TrainConfig):
    corpus: list[str] = field(default_factory=list)  # text files or dirs (.txt/.md/.jsonl with "text"/"messages")
    size: str = "auto"                    # auto | demo | tiny | small | base
    vocab_size: int = 4096
    lr: float = 3e-3
    warmup_steps: int | None = None
    weight_decay: float = 0.1
    tokens_per_step: int = 8192
    micro_batch_tokens: int = 4096
    max_seq_len: int = 256
    validation_fraction: float = 0.05


def to_dict(cfg: Any) -> dict[str, Any]:
    return asdict(cfg)


def parse_overrides(items: list[str]) -> dict[str, Any]:
    """`--set KEY=VALUE` options as a dict: VALUE is read as JSON (numbers, booleans, lists) and kept as the plain
    string when it is not JSON. An item without `=` is refused."""
    out: dict[str, Any] = {}
    for kv in items:
        key, sep, value = kv.partition("=")
        if not sep:
            raise ValueError(f"--set expects KEY=VALUE, got {kv!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def from_dict(cls: type, data: dict[str, Any]):
    """Build a config from a dict, refusing unknown keys with their names (typos must not pass silently)."""
    names = {f.name for f in fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ValueError(f"unknown {cls.__name__} option(s): {', '.join(unknown)}; known: {', '.join(sorted(names))}")
    data = dict(data)
    if "betas" in data and isinstance(data["betas"], list):
        data["betas"] = tuple(data["betas"])
    return cls(**data)
