"""liger_chunk_mem reaches Liger's fused linear CE as `chunk_mem_const`, with the loss arguments bound by name.
Liger needs CUDA, so a stand-in with liger-kernel 0.8.5's forward signature checks the wiring: what arrives under
which name, and that the sum it returns is what the recipe uses (the same as the chunked CPU loss)."""
from __future__ import annotations

import sys
import types

import pytest
import torch
import torch.nn.functional as F

from finetune import ops


class _FakeLigerFLCE(torch.autograd.Function):
    seen: dict = {}

    @staticmethod
    def forward(ctx, _input, weight, target, bias=None, ce_weight=None, ignore_index=-100, lse_square_scale=0.0,
                label_smoothing=0.0, reduction="mean", softcap=None, return_z_loss=False, accum_dtype=None,
                use_token_scaling=False, return_token_accuracy=False, return_predicted_tokens=False, ce_impl=None,
                ce_mode=None, chunk_mem_const=1):
        _FakeLigerFLCE.seen = {"reduction": reduction, "ignore_index": ignore_index, "chunk_mem_const": chunk_mem_const,
                               "bias": bias, "label_smoothing": label_smoothing, "softcap": softcap}
        with torch.enable_grad():
            x = _input.detach().requires_grad_()
            loss = F.cross_entropy(F.linear(x, weight).float(), target, ignore_index=ignore_index, reduction=reduction)
            (g,) = torch.autograd.grad(loss, x)
        ctx.save_for_backward(g)
        return loss.detach(), None, None, None

    @staticmethod
    def backward(ctx, grad_output, *_):
        (g,) = ctx.saved_tensors
        return (g * grad_output,) + (None,) * 17


@pytest.fixture
def fake_liger(monkeypatch):
    pkg, mod = types.ModuleType("liger_kernel"), types.ModuleType("liger_kernel.ops")
    mod.LigerFusedLinearCrossEntropyFunction = _FakeLigerFLCE
    pkg.ops = mod
    monkeypatch.setitem(sys.modules, "liger_kernel", pkg)
    monkeypatch.setitem(sys.modules, "liger_kernel.ops", mod)
    return _FakeLigerFLCE


def test_chunk_mem_reaches_liger_by_name_and_the_sum_is_the_loss(fake_liger):
    assert ops.liger_chunk_mem_supported()
    torch.manual_seed(0)
    hidden = torch.randn(1, 12, 16, requires_grad=True)
    weight = torch.randn(40, 16)
    targets = torch.randint(0, 40, (1, 12))
    targets[0, :3] = -100
    got = ops.linear_cross_entropy_sum(hidden, weight, targets, "liger", liger_chunk_mem=8)
    assert fake_liger.seen == {"reduction": "sum", "ignore_index": -100, "chunk_mem_const": 8, "bias": None,
                               "label_smoothing": 0.0, "softcap": None}
    (g_got,) = torch.autograd.grad(got * 0.5, hidden)
    want = ops.linear_cross_entropy_sum(hidden, weight, targets, "chunked", chunk_tokens=5)
    (g_want,) = torch.autograd.grad(want * 0.5, hidden)
    assert got.dtype == torch.float32 and abs(got.item() - want.item()) < 1e-4
    assert (g_got - g_want).abs().max() < 1e-5


def test_an_old_liger_without_chunk_mem_is_refused(monkeypatch):
    class Old(torch.autograd.Function):
        @staticmethod
        def forward(ctx, _input, weight, target, bias=None):
            return _input

    pkg, mod = types.ModuleType("liger_kernel"), types.ModuleType("liger_kernel.ops")
    mod.LigerFusedLinearCrossEntropyFunction = Old
    pkg.ops = mod
    monkeypatch.setitem(sys.modules, "liger_kernel", pkg)
    monkeypatch.setitem(sys.modules, "liger_kernel.ops", mod)
    with pytest.raises(RuntimeError, match="liger-kernel >= 0.8.5"):
        ops.check_liger_chunk_mem(8, "liger")
    ops.check_liger_chunk_mem(1, "liger")          # the default needs nothing
    ops.check_liger_chunk_mem(8, "chunked")        # and the CPU loss ignores it
