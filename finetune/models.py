"""Loading a base causal LM with clear errors (optionally with an NF4 base for QLoRA), and applying LoRA with
validated targets."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


class ModelLoadError(ValueError):
    """The base model cannot be used; the message says why."""


def _looks_local(ref: str) -> bool:
    return ref.startswith(("/", "./", "../", "~")) or Path(ref).expanduser().exists() or ref.count("/") > 1


def check_base_model(ref: str):
    """Return the model's config, refusing missing paths and models that are not causal LMs."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if not ref:
        raise ModelLoadError("no base model given")
    if _looks_local(ref):
        p = Path(ref).expanduser()
        if not p.exists():
            raise ModelLoadError(f"base model path {ref} does not exist")
        if not (p / "config.json").is_file():
            raise ModelLoadError(f"{ref} is not a Hugging Face model directory (no config.json)")
    try:
        config = AutoConfig.from_pretrained(ref)
    except Exception as exc:
        raise ModelLoadError(f"cannot read the model config of {ref}: {exc}") from None
    archs = config.architectures or []
    # The saved architectures say what the weights are (a BERT checkpoint is a masked LM even though a causal
    # BERT class exists); without them, fall back to whether the model type has a causal-LM class at all.
    causal = any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in archs) if archs else \
        config.model_type in MODEL_FOR_CAUSAL_LM_MAPPING_NAMES
    if not causal:
        raise ModelLoadError(f"{ref} is not a causal language model (model_type={config.model_type}, "
                             f"architectures={archs}); LoRA SFT needs a *ForCausalLM model")
    return config


def load_tokenizer(ref: str):
    from transformers import AutoTokenizer
    try:
        tok = AutoTokenizer.from_pretrained(ref)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the tokenizer of {ref}: {exc}") from None
    if not getattr(tok, "is_fast", False):
        raise ModelLoadError(f"the tokenizer of {ref} is not a fast tokenizer; assistant masking needs offsets")
    return tok


def load_causal_lm(ref: str, *, dtype: torch.dtype, device: torch.device, quantize_4bit: bool = False,
                   base_fp8: bool = False):
    """The base model on `device` in `dtype`; with quantize_4bit (QLoRA) every linear layer but the LM head is
    stored as NF4 (finetune/qlora.py), quantised one layer at a time from a copy loaded in host memory; with
    base_fp8 every such layer computes in float8 (finetune/fp8.py)."""
    from transformers import AutoModelForCausalLM
    check_base_model(ref)
    if base_fp8:
        from finetune.fp8 import fp8_available
        if quantize_4bit:
            raise ModelLoadError("base_fp8 and quantize_4bit (QLoRA) exclude each other: pick one base format")
        ok, why = fp8_available(device)
        if not ok:
            raise ModelLoadError(f"base_fp8: {why}")
    kwargs = {"dtype": dtype, "attn_implementation": "sdpa"}
    if quantize_4bit:
        from finetune.qlora import nf4_available, quantize_model_nf4
        if not nf4_available():
            raise ModelLoadError("quantize_4bit (QLoRA) needs the torchao package (pip install torchao)")
        model = AutoModelForCausalLM.from_pretrained(ref, **kwargs)   # host memory
        head = model.get_output_embeddings()
        model.quantization_report = quantize_model_nf4(model, device, skip=(head,) if head is not None else ())
        model.is_nf4_quantized = True
        return model
    model = AutoModelForCausalLM.from_pretrained(ref, **kwargs)
    model.to(device)
    if base_fp8:
        from finetune.fp8 import quantize_model_fp8
        head = model.get_output_embeddings()
        model.fp8_report = quantize_model_fp8(model, skip=(head,) if head is not None else (),
                                              compute_dtype=dtype if dtype != torch.float32 else torch.bfloat16)
        model.is_fp8_base = True
    return model


def linear_module_names(model: nn.Module) -> set[str]:
    """Leaf names of the linear layers (what LoRA target_modules match), the output head excluded."""
    names = set()
    out = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    for full, mod in model.named_modules():
        if isinstance(mod, nn.Linear):
            if mod is out:
                continue
            names.add(full.rsplit(".", 1)[-1])
    return names


LORA_IMPLS = ("peft", "grouped", "auto")


def apply_lora(model: nn.Module, *, r: int, alpha: int, dropout: float, targets: list[str] | str,
               impl: str = "peft"):
    """PEFT LoRA on `targets`. impl="grouped" keeps PEFT's modules and parameters (same state dict, same saved
    adapter) but computes one A product per group of projections sharing an input (finetune/lora_grouped.py);
    impl="auto" groups when the adapter allows it (no dropout, plain LoRA) and keeps PEFT's forward otherwise.
    The report of what was grouped is left on the model as `lora_impl_report`."""
    from peft import LoraConfig, get_peft_model
    if impl not in LORA_IMPLS:
        raise ModelLoadError(f"lora_impl must be one of {', '.join(LORA_IMPLS)}, not {impl!r}")
    available = linear_module_names(model)
    if targets == "all-linear" or targets == ["all-linear"]:
        targets = sorted(available)
    missing = [t for t in targets if t not in available]
    if not targets or missing:
        raise ModelLoadError(f"LoRA target module(s) {missing or targets} are not linear layers of this model; "
                             f"its linear layers are: {', '.join(sorted(available))}")
    if r < 1:
        raise ModelLoadError(f"lora_r must be >= 1, got {r}")
    cfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=list(targets),
                     task_type="CAUSAL_LM")
    return _trainable_adapter(get_peft_model(model, cfg), impl)


def continue_lora(model: nn.Module, adapter_dir: str | Path, impl: str = "peft"):
    """The LoRA adapter saved in `adapter_dir` (a parent model version's) on `model`, trainable: training continues
    from its weights (rank, alpha and target modules are the adapter's own)."""
    from peft import PeftConfig, PeftModel
    if impl not in LORA_IMPLS:
        raise ModelLoadError(f"lora_impl must be one of {', '.join(LORA_IMPLS)}, not {impl!r}")
    path = Path(adapter_dir)
    if not (path / "adapter_config.json").is_file():
        raise ModelLoadError(f"{path} is not a LoRA adapter folder (no adapter_config.json)")
    saved = PeftConfig.from_pretrained(str(path))
    available = linear_module_names(model)
    missing = sorted(set(saved.target_modules or []) - available)
    if missing:
        raise ModelLoadError(f"the adapter in {path} targets {missing}, which this base model does not have: it was "
                             "trained on another base model")
    try:
        peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=True)
    except (RuntimeError, ValueError) as exc:  # shape mismatches: another base model
        raise ModelLoadError(f"the adapter in {path} does not fit this base model: {exc}") from None
    return _trainable_adapter(peft_model, impl)


def lora_for(model: nn.Module, cfg):
    """A new LoRA (cfg.lora_*) or, when cfg.init_adapter is set, the parent's adapter to continue training."""
    impl = getattr(cfg, "lora_impl", "peft")
    if getattr(cfg, "init_adapter", None):
        return continue_lora(model, cfg.init_adapter, impl)
    return apply_lora(model, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout, targets=cfg.lora_targets,
                      impl=impl)


def _trainable_adapter(peft_model, impl: str):
    # Adapters train in fp32 (optimizer states and updates stay exact); the frozen base keeps its dtype.
    for p in peft_model.parameters():
        if p.requires_grad and p.dtype != torch.float32:
            p.data = p.data.float()
    # PEFT casts each layer's input to the adapter's dtype (bf16 activations -> an fp32 copy) before lora_A, and
    # autocast casts it straight back to bf16 for the matmul: the same values, two extra passes over every
    # activation and an extra saved copy. Training always runs under autocast (or in fp32), so skip the cast.
    for m in peft_model.modules():
        if hasattr(m, "cast_input_dtype_enabled"):
            m.cast_input_dtype_enabled = False
    report = {"impl": impl}
    if impl in ("grouped", "auto"):
        from finetune.lora_grouped import GroupedLoraError, enable_grouped_lora
        try:
            report.update(enable_grouped_lora(peft_model))
            report["impl"] = "grouped"
        except GroupedLoraError as exc:
            if impl == "grouped":
                raise ModelLoadError(str(exc)) from None
            report = {"impl": "peft", "not_grouped": str(exc)}
    peft_model.lora_impl_report = report
    return peft_model


def count_params(model: nn.Module) -> tuple[int, int]:
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return total, trainable
