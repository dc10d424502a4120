"""QLoRA's NF4 base (finetune/qlora.py) on CPU: the dequantisation is torchao's to the bit, the round-trip error of
4-bit NormalFloat stays in its known band, the opaque matmul's gradients are exact, a compiled layer never keeps a
dense weight, and a whole LoRA run on an NF4 base trains, saves and evaluates."""
from __future__ import annotations

import pytest
import torch
from torch import nn

pytest.importorskip("torchao", reason="QLoRA needs torchao (a main dependency)")

from finetune.qlora import NF4Linear, nf4_roundtrip_error, quantize_model_nf4  # noqa: E402


def _linear(w: torch.Tensor) -> nn.Linear:
    lin = nn.Linear(w.shape[1], w.shape[0], bias=False)
    lin.weight.data = w
    return lin


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_nf4_dequantisation_is_torchaos_and_error_is_bounded(dtype):
    from torchao.quantization import to_nf4
    g = torch.Generator().manual_seed(1)
    w = (torch.randn(384, 512, generator=g) * 0.02).to(dtype)
    q = NF4Linear.from_linear(_linear(w))
    assert torch.equal(q.dequantized(), to_nf4(w, 64, 256).get_original_weight())
    err = nf4_roundtrip_error(w)
    # 16 NormalFloat levels per 64-element absmax block: ~9% relative error on Gaussian weights. Above 0.11 the
    # codes or scales are wrong; 0 would mean nothing was quantised.
    assert 0.07 < err < 0.11, err
    # storage: 4 bits per weight + int8 block scales + fp32 factors
    stored = q._quantized_data.numel() + q._quantized_scalers.numel() + 4 * q._quantization_factor.numel()
    assert stored * 8 / w.numel() < 4.2


def test_nf4_roundtrip_error_grows_with_outliers():
    """Absmax blocks with double-quantised scales: an outlier costs precision in its own scale block (256 blocks of
    64 weights = the first 64 rows here) and nowhere else — scales are per block, not per tensor."""
    g = torch.Generator().manual_seed(2)
    w = torch.randn(256, 256, generator=g)
    base = nf4_roundtrip_error(w)
    w2 = w.clone()
    w2[0, 0] = 1000.0                      # one outlier in the first block only
    q = NF4Linear.from_linear(_linear(w2))
    d = q.dequantized()
    rest = (d[64:] - w2[64:]).norm() / w2[64:].norm()   # rows outside the outlier's scale block
    assert abs(float(rest) - base) < 0.01
    near = (d[1:64] - w2[1:64]).norm() / w2[1:64].norm()   # its own scale block pays for it
    assert float(near) > base + 0.02


def test_nf4_linear_forward_and_backward_match_the_dense_dequantised_weight():
    g = torch.Generator().manual_seed(3)
    w = torch.randn(128, 256, generator=g)
    q = NF4Linear.from_linear(_linear(w))
    dense = q.dequantized()
    x = torch.randn(2, 5, 256, generator=g, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    y, y2 = q(x), x2 @ dense.T
    torch.testing.assert_close(y, y2, rtol=1e-5, atol=1e-5)
    (y * torch.arange(128.0)).sum().backward()
    (y2 * torch.arange(128.0)).sum().backward()
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5)
    assert not q.weight.requires_grad


def test_compiled_block_saves_only_four_bit_weights():
    """Inside torch.compile the NF4 matmul is opaque: what autograd keeps for backward is the 4-bit data and the
    activations, never a dense [out, in] weight."""
    from peft import LoraConfig, get_peft_model

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.up, self.down = nn.Linear(256, 512, bias=False), nn.Linear(512, 256, bias=False)

        def forward(self, x):
            return x + self.down(torch.nn.functional.silu(self.up(x)))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = Block()

        def forward(self, x):
            return self.block(x)

    torch.manual_seed(0)
    net = Net()
    report = quantize_model_nf4(net, torch.device("cpu"))
    assert report["nf4_linears"] == 2 and report["bits_per_weight"] < 4.2
    model = get_peft_model(net, LoraConfig(r=4, target_modules=["up", "down"], lora_dropout=0.0))
    model.base_model.model.block.compile()
    shapes = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: shapes.append(tuple(t.shape)) or t, lambda t: t):
        out = model(torch.randn(16, 256, requires_grad=True))
    out.square().sum().backward()
    assert (512, 256) not in shapes and (256, 512) not in shapes, shapes
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(g is not None and torch.isfinite(g).all() for g in grads)
    assert any(g.abs().sum() > 0 for g in grads)


def test_nf4_linear_refuses_to_move_device():
    q = NF4Linear.from_linear(_linear(torch.randn(64, 64)))
    q.to(torch.float32)   # a cast is a no-op: the compute dtype follows the input
    with pytest.raises(RuntimeError, match="cannot be moved"):
        q.to("meta")


def test_qlora_lora_run_trains_on_an_nf4_base(tiny_model_dir, dataset_dir, tmp_path):
    from finetune.config import LoraSFTConfig
    from finetune.recipes.lora_sft import run
    cfg = LoraSFTConfig(base_model=str(tiny_model_dir), dataset_dir=str(dataset_dir), output_dir=str(tmp_path / "q"),
                        max_steps=6, tokens_per_step=600, micro_batch_tokens=256, lr=5e-3, checkpoint_every=0,
                        quantize_4bit=True, warmup_steps=0, schedule="constant")
    summary = run(cfg)
    assert summary["status"] == "done" and summary["steps"] == 6
    q = summary["setup"]["qlora"]
    assert q["nf4_linears"] == 2 * 7 and q["dense_linears_kept"] == 0   # every projection of both layers
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < losses[0] - 0.05, losses
    assert summary["eval"]["adapter"]["loss"] < summary["eval"]["base"]["loss"]
    assert (tmp_path / "q" / "adapter" / "adapter_model.safetensors").is_file()


def test_auto_micro_batch_caps_rows_for_large_models_only():
    from finetune.recipes.lora_sft import auto_micro_batch_tokens
    assert auto_micro_batch_tokens(1_240_000_000, False, 8192) == 8192     # 1B: the default rows
    assert auto_micro_batch_tokens(8_030_000_000, False, 8192) == 4096     # 8B bf16: under 40 GiB
    assert auto_micro_batch_tokens(8_030_000_000, True, 8192) == 2048      # 8B NF4: under 20 GiB
    assert auto_micro_batch_tokens(8_030_000_000, False, 1024) == 1024     # never raised
