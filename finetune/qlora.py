"""QLoRA: the frozen base's linear layers stored as 4-bit NormalFloat (NF4, with double-quantised block scales),
quantised by torchao's `to_nf4` exactly as torchtune's QLoRA does; LoRA adapters train in full precision on top.

Why our own small linear instead of torchao's `linear_nf4`: that one dequantises through ~10 separate torch ops
(each a pass over the weight) and, inside a `torch.compile`d decoder layer, AOTAutograd may keep the dequantised
bf16 weight alive for the backward (the whole point of 4-bit is lost). Here the matmul is a custom operator that
`torch.compile` treats as opaque: it dequantises into a temporary (one fused kernel on CUDA, compiled once per
weight shape), multiplies, and frees it; the backward does the same with the transposed product. Nothing but the
4-bit data is ever kept, and no library source is patched.

Storage per weight of n elements: n/2 bytes of codes + n/64 int8 block scales + n/16384 fp32 factors
(~4.13 bits/weight). Embeddings, norms and the LM head stay in the compute dtype (as in torchtune).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from finetune.frozen_base import replace_linears

BLOCK = 64                # elements per NF4 block (one scale each)
SCALER_BLOCK = 256        # scales per double-quantisation block (one fp32 factor each)

_dequant_compiled = None


def nf4_available() -> bool:
    try:
        from torchao.quantization import to_nf4  # noqa: F401
    except Exception:
        return False
    return True


def _scaler_block(n_blocks: int) -> int | None:
    """torchao's default 256 scales per factor, or the largest power of two that divides the block count (small
    layers of test models); None when even that is impossible."""
    s = SCALER_BLOCK
    while s >= 1:
        if n_blocks % s == 0:
            return s
        s //= 2
    return None


def dequantize(data: torch.Tensor, scalers: torch.Tensor, factor: torch.Tensor, mean: torch.Tensor,
               lut: torch.Tensor, out_features: int, in_features: int, scaler_block: int) -> torch.Tensor:
    """The dense weight [out, in] from NF4 storage, in lut's dtype. The same arithmetic as torchao's
    NF4Tensor.get_original_weight (tested for equality), written over the plain inner tensors so one compiled
    kernel can do it."""
    n_scaler_blocks = scalers.numel() // scaler_block
    scale = (scalers.view(n_scaler_blocks, scaler_block) / factor.unsqueeze(-1)).flatten().to(lut.dtype) + mean
    hi = lut[(data >> 4).to(torch.long)]
    lo = lut[(data & 0b1111).to(torch.long)]
    rep = scale.unsqueeze(-1).expand(scale.size(0), BLOCK // 2).flatten()
    return torch.stack([hi * rep, lo * rep], dim=-1).reshape(out_features, in_features)


def _dequant(*args) -> torch.Tensor:
    global _dequant_compiled
    if not args[0].is_cuda or _dequant_compiled is False:
        return dequantize(*args)
    # one global state for every call (forward, backward, evaluation), so the compiled kernel is specialised only
    # on the weight shape: 4 compilations for a Llama block
    with torch.no_grad(), torch.autocast("cuda", enabled=False):
        if _dequant_compiled is None:
            _dequant_compiled = torch.compile(dequantize, dynamic=False, fullgraph=True)
        try:
            return _dequant_compiled(*args)
        except torch.OutOfMemoryError:
            raise
        except Exception as exc:  # a compiler problem must not stop training: same arithmetic, unfused
            import warnings
            warnings.warn(f"NF4 dequantisation kernel could not be compiled ({exc!r:.200}); using eager torch ops")
            _dequant_compiled = False
            return dequantize(*args)


@torch.library.custom_op("teamlore::nf4_linear", mutates_args=())
def nf4_linear(x: torch.Tensor, data: torch.Tensor, scalers: torch.Tensor, factor: torch.Tensor,
               mean: torch.Tensor, lut: torch.Tensor, out_features: int, in_features: int,
               scaler_block: int) -> torch.Tensor:
    w = _dequant(data, scalers, factor, mean, lut, out_features, in_features, scaler_block)
    with torch.autocast(x.device.type, enabled=False):
        return F.linear(x, w.to(x.dtype))


@nf4_linear.register_fake
def _(x, data, scalers, factor, mean, lut, out_features, in_features, scaler_block):
    return x.new_empty(*x.shape[:-1], out_features)


@torch.library.custom_op("teamlore::nf4_linear_grad_input", mutates_args=())
def nf4_linear_grad_input(grad: torch.Tensor, data: torch.Tensor, scalers: torch.Tensor, factor: torch.Tensor,
                          mean: torch.Tensor, lut: torch.Tensor, out_features: int, in_features: int,
                          scaler_block: int) -> torch.Tensor:
    w = _dequant(data, scalers, factor, mean, lut, out_features, in_features, scaler_block)
    with torch.autocast(grad.device.type, enabled=False):
        return grad @ w.to(grad.dtype)


@nf4_linear_grad_input.register_fake
def _(grad, data, scalers, factor, mean, lut, out_features, in_features, scaler_block):
    return grad.new_empty(*grad.shape[:-1], in_features)


def _setup_context(ctx, inputs, output):
    x, data, scalers, factor, mean, lut, out_f, in_f, sb = inputs
    ctx.save_for_backward(data, scalers, factor, mean, lut)   # the 4-bit weight only: never x, never a dense W
    ctx.meta = (out_f, in_f, sb)


def _backward(ctx, grad):
    data, scalers, factor, mean, lut = ctx.saved_tensors
    gx = nf4_linear_grad_input(grad, data, scalers, factor, mean, lut, *ctx.meta) if ctx.needs_input_grad[0] \
        else None
    return gx, None, None, None, None, None, None, None, None


nf4_linear.register_autograd(_backward, setup_context=_setup_context)


class NF4Linear(nn.Linear):
    """A frozen nn.Linear whose weight is torchao's NF4Tensor (so PEFT, state dicts and `weight.dtype/shape` see an
    ordinary linear), computed through the opaque `teamlore::nf4_linear` operator on the NF4 inner tensors."""

    @classmethod
    def from_linear(cls, lin: nn.Linear, device: torch.device | None = None) -> "NF4Linear | None":
        from torchao.quantization import to_nf4
        w = lin.weight.detach()
        if device is not None:
            w = w.to(device)
        if w.numel() % BLOCK or w.dim() != 2:
            return None
        sb = _scaler_block(w.numel() // BLOCK)
        if sb is None:
            return None
        q = to_nf4(w.contiguous(), BLOCK, sb)
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = lin.in_features, lin.out_features
        new.weight = nn.Parameter(q, requires_grad=False)
        new.bias = None if lin.bias is None else nn.Parameter(lin.bias.detach().to(w.device), requires_grad=False)
        new.scaler_block = sb
        # the inner tensors as non-persistent buffers: what forward reads (plain tensors for torch.compile)
        for name, t in (("quantized_data", q.quantized_data), ("quantized_scalers", q.quantized_scalers),
                        ("quantization_factor", q.quantization_factor), ("scaler_mean", q.scaler_mean),
                        ("nf4", q.nf4)):
            new.register_buffer(f"_{name}", t, persistent=False)
        return new

    def dequantized(self) -> torch.Tensor:
        return dequantize(self._quantized_data, self._quantized_scalers, self._quantization_factor,
                          self._scaler_mean, self._nf4, self.out_features, self.in_features, self.scaler_block)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = nf4_linear(x, self._quantized_data, self._quantized_scalers, self._quantization_factor,
                         self._scaler_mean, self._nf4, self.out_features, self.in_features, self.scaler_block)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def _apply(self, fn, recurse=True):
        # Casts are ignored (the compute dtype follows the input); moving to another device is refused: quantise
        # the model where it will train.
        if fn(self._nf4).device != self._nf4.device:
            raise RuntimeError("an NF4Linear cannot be moved to another device; quantise the model where it trains")
        return self

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, nf4, scaler_block={self.scaler_block}"


def quantize_model_nf4(model: nn.Module, device: torch.device, *, skip: tuple[nn.Module, ...] = ()) -> dict:
    """Replace every nn.Linear of `model` except `skip` (the LM head) by an NF4Linear on `device`, one at a time
    (the dense weight of one layer is the only extra memory on the device). Other parameters move to `device`.
    Returns counts for the run's setup report."""
    replaced, kept, dense_numel = replace_linears(model, lambda lin: NF4Linear.from_linear(lin, device), NF4Linear,
                                                  skip=skip)
    # everything still dense (embeddings, norms, LM head, linears that could not be blocked) goes to the device
    for mod in model.modules():
        if isinstance(mod, NF4Linear):
            continue
        for pname, p in list(mod.named_parameters(recurse=False)):
            if p.device != device:
                mod._parameters[pname] = nn.Parameter(p.detach().to(device), requires_grad=p.requires_grad)
        for bname, b in list(mod.named_buffers(recurse=False)):
            if b is not None and b.device != device:
                mod._buffers[bname] = b.to(device)
    if device.type == "cuda":
        # compile the dequantisation kernel once per weight shape here, on the main thread, rather than inside
        # the first backward (which autograd runs on its own thread)
        seen = set()
        for m in model.modules():
            if isinstance(m, NF4Linear) and (m.out_features, m.in_features, m.scaler_block) not in seen:
                seen.add((m.out_features, m.in_features, m.scaler_block))
                _dequant(m._quantized_data, m._quantized_scalers, m._quantization_factor, m._scaler_mean, m._nf4,
                         m.out_features, m.in_features, m.scaler_block)
    nf4_bytes = sum(m._quantized_data.numel() + m._quantized_scalers.numel() + 4 * m._quantization_factor.numel()
                    for m in model.modules() if isinstance(m, NF4Linear))
    return {"nf4_linears": replaced, "dense_linears_kept": kept,
            "nf4_gib": round(nf4_bytes / 2**30, 3), "bf16_equivalent_gib": round(2 * dense_numel / 2**30, 3),
            "bits_per_weight": round(8 * nf4_bytes / dense_numel, 3) if dense_numel else None}


def nf4_roundtrip_error(w: torch.Tensor) -> float:
    """Relative Frobenius error of quantising w to NF4 and back (~0.09 for Gaussian weights)."""
    lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
    lin.weight.data = w
    q = NF4Linear.from_linear(lin)
    if q is None:
        return math.nan
    d = q.dequantized().float()
    return float((d - w.float()).norm() / w.float().norm())
