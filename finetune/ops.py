"""The two kernels that matter for speed: attention over packed rows, and the LM-head cross-entropy.

Attention: on CUDA we register a transformers attention function ("teamlore_varlen") that calls PyTorch's flash
varlen kernel with per-example cu_seqlens, so packed examples never attend to each other and no mask is built.
Elsewhere we use transformers' SDPA path, which detects restarting position_ids and builds a block-diagonal mask.

Cross-entropy: the logits of a 128k vocabulary are the largest tensor in training. We only compute them for rows
that have a target, and never for the whole batch at once: Liger's fused linear cross-entropy on CUDA, otherwise
chunks whose logits are recomputed in backward (activation checkpointing per chunk).
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

VARLEN = "teamlore_varlen"
_registered = False


def varlen_available() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        from torch.nn.attention.varlen import varlen_attn  # noqa: F401  (torch >= 2.10)
    except ImportError:
        return False
    return True


def _varlen_call():
    from torch.nn.attention.varlen import varlen_attn
    params = inspect.signature(varlen_attn).parameters
    causal = {"window_size": (-1, 0)} if "window_size" in params else {"is_causal": True}
    gqa = "enable_gqa" in params
    return varlen_attn, causal, gqa


def varlen_attention_forward(module, query, key, value, attention_mask=None, scaling=None, dropout=0.0,
                             cu_seq_lens_q=None, max_length_q=None, **kwargs):
    """transformers attention function: query [1, Hq, T, D], key/value [1, Hkv, T, D] -> ([1, T, Hq, D], None)."""
    if cu_seq_lens_q is None:
        raise RuntimeError("teamlore_varlen attention needs cu_seq_lens_q/max_length_q (packed batches only)")
    fn, causal, gqa = _varlen_call()
    b, hq, t, d = query.shape
    q = query.transpose(1, 2).reshape(b * t, hq, d)
    k = key.transpose(1, 2).reshape(b * t, key.shape[1], d)
    v = value.transpose(1, 2).reshape(b * t, value.shape[1], d)
    extra = {}
    if k.shape[1] != hq:
        if gqa:
            extra["enable_gqa"] = True
        else:
            rep = hq // k.shape[1]
            k, v = k.repeat_interleave(rep, dim=1), v.repeat_interleave(rep, dim=1)
    out = fn(q, k, v, cu_seq_lens_q, cu_seq_lens_q, max_length_q, max_length_q, scale=scaling, **causal, **extra)
    return out.view(b, t, hq, d), None


def register_varlen() -> None:
    global _registered
    if _registered:
        return
    from transformers import AttentionInterface
    AttentionInterface.register(VARLEN, varlen_attention_forward)
    _registered = True


def choose_attention(requested: str, device: torch.device) -> str:
    if requested == "auto":
        return "varlen" if device.type == "cuda" and varlen_available() else "sdpa"
    if requested == "varlen" and not (device.type == "cuda" and varlen_available()):
        raise RuntimeError("attention='varlen' needs a CUDA GPU and torch >= 2.10 (torch.nn.attention.varlen)")
    if requested not in {"varlen", "sdpa"}:
        raise ValueError(f"attention must be auto, varlen or sdpa, not {requested!r}")
    return requested


def set_attention(model, kind: str) -> None:
    """Point the model's config at the attention implementation; all layers share the config object."""
    name = VARLEN if kind == "varlen" else "sdpa"
    if kind == "varlen":
        register_varlen()
    cfg = model.config
    cfg._attn_implementation = name
    for sub in ("text_config",):
        if hasattr(cfg, sub):
            getattr(cfg, sub)._attn_implementation = name


# --- loss -------------------------------------------------------------------------------------------

def liger_available() -> bool:
    if not torch.cuda.is_available():
        return False
    try:
        import liger_kernel.transformers  # noqa: F401
    except Exception:
        return False
    return True


def choose_ce(requested: str, device: torch.device) -> str:
    if requested == "auto":
        return "liger" if device.type == "cuda" and liger_available() else "chunked"
    if requested == "liger" and not (device.type == "cuda" and liger_available()):
        raise RuntimeError("fused_ce='liger' needs a CUDA GPU and the liger-kernel package (pip install liger-kernel)")
    if requested not in {"liger", "chunked"}:
        raise ValueError(f"fused_ce must be auto, liger or chunked, not {requested!r}")
    return requested


def _chunk_ce_sum(h, w, t):
    # logits in the model dtype, upcast per chunk only: never an fp32 [N, vocab] tensor for the whole batch
    return F.cross_entropy(F.linear(h, w).float(), t, reduction="sum")


_liger_loss = None


def liger_chunk_mem_supported() -> bool:
    """Whether the installed Liger takes `chunk_mem_const` (its transient-logits budget; liger-kernel >= 0.8.5)."""
    from liger_kernel.ops import LigerFusedLinearCrossEntropyFunction
    return "chunk_mem_const" in inspect.signature(LigerFusedLinearCrossEntropyFunction.forward).parameters


def check_liger_chunk_mem(value, kind: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"liger_chunk_mem must be a positive integer, not {value!r}")
    if value != 1 and kind == "liger" and not liger_chunk_mem_supported():
        raise RuntimeError("liger_chunk_mem > 1 needs liger-kernel >= 0.8.5 (chunk_mem_const); "
                           "upgrade it or leave liger_chunk_mem at 1")


def _liger_chunked(h: torch.Tensor, weight: torch.Tensor, t: torch.Tensor, chunk_mem: int) -> torch.Tensor:
    """Liger's fused linear CE (sum, ignore -100) with `chunk_mem_const`, which its module wrapper does not pass.
    The arguments are bound by name against the installed version's signature, the rest left at its defaults."""
    from liger_kernel.ops import LigerFusedLinearCrossEntropyFunction as fn
    bound = inspect.signature(fn.forward).bind(None, _input=h, weight=weight, target=t, ignore_index=-100,
                                                reduction="sum", chunk_mem_const=chunk_mem)
    bound.apply_defaults()
    out = fn.apply(*list(bound.arguments.values())[1:])
    return (out[0] if isinstance(out, tuple) else out).float()


def linear_cross_entropy_sum(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, kind: str,
                             chunk_tokens: int = 4096, index: torch.Tensor | None = None,
                             liger_chunk_mem: int = 1) -> torch.Tensor:
    """Sum of token cross-entropies of `hidden @ weight.T` against `targets` (IGNORE rows skipped).

    hidden [..., H], targets [...]. With `index` (the flat positions that have a target, computed on the host),
    `targets` holds just their targets and nothing waits for the device. Returns a 0-dim fp32 tensor (0 when
    there is no target)."""
    h = hidden.reshape(-1, hidden.shape[-1])
    if index is None:
        t = targets.reshape(-1)
        # Only rows with a target need logits: prompts and padding cost nothing in the LM head.
        index = (t != -100).nonzero(as_tuple=True)[0]
        t = t.index_select(0, index)
    else:
        t = targets.reshape(-1)
    if index.numel() == 0:
        return hidden.sum() * 0.0
    h = h.index_select(0, index)
    if kind == "liger" and liger_chunk_mem != 1:
        return _liger_chunked(h, weight, t, int(liger_chunk_mem))
    if kind == "liger":
        global _liger_loss
        if _liger_loss is None:
            from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss
            _liger_loss = LigerFusedLinearCrossEntropyLoss(reduction="sum")
        return _liger_loss(weight, h, t).float()
    total = None
    for s in range(0, h.shape[0], chunk_tokens):
        hc, tc = h[s:s + chunk_tokens], t[s:s + chunk_tokens]
        if torch.is_grad_enabled() and (hc.requires_grad or weight.requires_grad):
            part = checkpoint(_chunk_ce_sum, hc, weight, tc, use_reentrant=False)
        else:
            part = _chunk_ce_sum(hc, weight, tc)
        total = part if total is None else total + part
    return total
