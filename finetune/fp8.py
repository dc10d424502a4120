"""FP8 base for LoRA (`base_fp8`): the frozen projections compute in float8 on GPUs that have FP8 tensor cores
(H100: twice the bf16 rate), the LoRA path stays in bf16/fp32.

Each frozen linear stores its weight once in float8 e4m3 with one scale per output row (W8, for the forward
product) and once transposed with one scale per input column (W8^T, for the input gradient) — 2 bytes per weight,
as bf16 — quantised once at load time, since the base never changes. Activations and output gradients are
quantised per row on the fly (dynamic, e4m3, power-of-two scale >= amax / 448), and both products go through `torch._scaled_mm` with
row-wise scales and a bf16 result:

    forward   y  = (x8 · s_x) @ (W8 · s_w)^T
    backward  dx = (dy8 · s_dy) @ (W8^T · s_wt)^T          (no weight gradient: the base is frozen)

Like the NF4 base of QLoRA, this changes what the base computes (e4m3 keeps 3 mantissa bits): it is an option to
measure against the bf16 loss curve, not a free speed-up. The adapter trained on it is an ordinary PEFT adapter
of the bf16 base.
"""
from __future__ import annotations

import torch
from torch import nn

from finetune.frozen_base import replace_linears

E4M3 = torch.float8_e4m3fn
E4M3_MAX = 448.0
# Hopper's fast FP8 accumulation for the forward product (torchao's default); benchmarks/lora_throughput.py turns
# it off (`fp8_fast_accum=false`) to tell its effect on the loss curve apart. CPUs ignore it.
FORWARD_FAST_ACCUM = True
_EPS = 1e-12


def fp8_available(device: torch.device) -> tuple[bool, str]:
    """(usable, why not)."""
    if not hasattr(torch, "float8_e4m3fn") or not hasattr(torch, "_scaled_mm"):
        return False, "this torch has no float8 matmul (torch._scaled_mm)"
    if device.type == "cuda":
        cap = torch.cuda.get_device_capability(device)
        if cap < (8, 9):
            return False, f"FP8 tensor cores need compute capability 8.9+ (Ada/Hopper); this GPU has {cap[0]}.{cap[1]}"
    return True, ""


def _quantize_rows(t: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """t [M, K] -> (e4m3 [M, K], fp32 scale [M, 1]) with t ≈ q * scale, one scale per row. Scales are powers of
    two (amax / 448 rounded up, as torchao's row-wise recipe): dividing by them is exact, so eager and compiled
    code quantise identically."""
    amax = t.abs().amax(dim=-1, keepdim=True).float().clamp(min=_EPS)
    scale = torch.exp2(torch.ceil(torch.log2(amax / E4M3_MAX)))
    q = (t.float() / scale).clamp(-E4M3_MAX, E4M3_MAX).to(E4M3)
    return q, scale


@torch.library.custom_op("teamlore::fp8_rowwise_mm", mutates_args=())
def _fp8_rowwise_mm(a: torch.Tensor, b8: torch.Tensor, s_b: torch.Tensor, fast_accum: bool) -> torch.Tensor:
    """a [M, K] (any float dtype), b8 [N, K] e4m3 with scales s_b [1, N] -> bf16 [M, N]: a quantised per row on
    the fly, then one `_scaled_mm`. A custom op, so torch.compile treats quantisation and product as one opaque
    call and runs them as eager code does: Inductor's own lowering of this pair on an H100 gave LoRA gradients
    ~10x too small and a loss curve off the bf16 one by 0.12 in 30 steps (eager: within 0.011; session 5)."""
    a8, s_a = _quantize_rows(a)
    return torch._scaled_mm(a8, b8.t(), scale_a=s_a, scale_b=s_b, out_dtype=torch.bfloat16,
                            use_fast_accum=fast_accum)


@_fp8_rowwise_mm.register_fake
def _(a, b8, s_b, fast_accum):
    return a.new_empty((a.shape[0], b8.shape[0]), dtype=torch.bfloat16)


class _FP8Matmul(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, w8, s_w, wt8, s_wt):
        k = x.shape[-1]
        # fast accumulation for the output product, not for the gradient (torchao's defaults)
        y = _fp8_rowwise_mm(x.reshape(-1, k), w8, s_w, FORWARD_FAST_ACCUM)
        ctx.save_for_backward(wt8, s_wt)
        ctx.x_dtype = x.dtype
        return y.view(*x.shape[:-1], w8.shape[0]).to(x.dtype)

    @staticmethod
    def backward(ctx, dy):
        wt8, s_wt = ctx.saved_tensors
        n = dy.shape[-1]
        dx = _fp8_rowwise_mm(dy.reshape(-1, n), wt8, s_wt, False)
        return dx.view(*dy.shape[:-1], wt8.shape[0]).to(ctx.x_dtype), None, None, None, None


class FP8Linear(nn.Linear):
    """A frozen nn.Linear (so PEFT wraps it like any linear) whose weight is float8 e4m3 with per-row scales,
    plus the transposed copy for the input gradient; `compute_dtype` tells PEFT the adapter's dtype (bf16)."""

    @classmethod
    def from_linear(cls, lin: nn.Linear, compute_dtype: torch.dtype = torch.bfloat16) -> "FP8Linear | None":
        w = lin.weight.detach()
        if w.dim() != 2 or w.shape[0] % 16 or w.shape[1] % 16:
            return None   # _scaled_mm needs both dimensions in multiples of 16
        wf = w.float()
        w8, s_w = _quantize_rows(wf)                    # [out, in], one scale per output row
        wt8, s_wt = _quantize_rows(wf.t().contiguous())  # [in, out], one scale per input column
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = lin.in_features, lin.out_features
        new.weight = nn.Parameter(w8, requires_grad=False)
        new.bias = None if lin.bias is None else nn.Parameter(lin.bias.detach(), requires_grad=False)
        new.compute_dtype = compute_dtype
        new.register_buffer("weight_scale", s_w.view(1, -1).contiguous(), persistent=False)       # [1, out]
        new.register_buffer("weight_t", wt8, persistent=False)                                   # [in, out]
        new.register_buffer("weight_t_scale", s_wt.view(1, -1).contiguous(), persistent=False)   # [1, in]
        return new

    def dequantized(self) -> torch.Tensor:
        return self.weight.float() * self.weight_scale.t()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = _FP8Matmul.apply(x, self.weight, self.weight_scale, self.weight_t, self.weight_t_scale)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, fp8=e4m3 row-wise"


def quantize_model_fp8(model: nn.Module, *, skip: tuple[nn.Module, ...] = (),
                       compute_dtype: torch.dtype = torch.bfloat16) -> dict:
    """Replace every nn.Linear of `model` except `skip` (the LM head) by an FP8Linear, in place, on the device the
    weights are on. Returns counts for the run's setup report."""
    replaced, kept, _ = replace_linears(model, lambda lin: FP8Linear.from_linear(lin, compute_dtype), FP8Linear,
                                        skip=skip)
    return {"fp8_linears": replaced, "dense_linears_kept": kept, "format": "e4m3, per-row scales"}
