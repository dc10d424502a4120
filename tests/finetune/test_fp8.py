"""base_fp8 (finetune/fp8.py): the frozen projections compute in float8 e4m3 with row-wise scales through
torch._scaled_mm (which PyTorch also runs on CPU, so the arithmetic is checked here; the speed only on an FP8 GPU).
Checked: the products equal their definition (dequantised operands, fp32 product, bf16 rounding), stay within
e4m3's error of the dense layer, autograd keeps no activation for the frozen base and computes no weight gradient,
PEFT's LoRA trains on top (eager and compiled), and the recipe learns and saves an ordinary adapter."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from finetune.fp8 import E4M3, FP8Linear, _quantize_rows, quantize_model_fp8

pytestmark = pytest.mark.skipif(not hasattr(torch, "float8_e4m3fn"), reason="torch without float8")


def _lin(out_f=48, in_f=64, bias=False, seed=0):
    torch.manual_seed(seed)
    lin = nn.Linear(in_f, out_f, bias=bias)
    with torch.no_grad():
        lin.weight.mul_(torch.linspace(0.2, 3.0, out_f)[:, None])   # rows of different ranges: per-row scales matter
    return lin


def test_quantize_rows_round_trip_is_within_e4m3_precision():
    t = torch.randn(32, 64) * torch.logspace(-3, 2, 32)[:, None]
    q, s = _quantize_rows(t)
    assert q.dtype == E4M3 and s.shape == (32, 1)
    back = q.float() * s
    rel = ((back - t).abs() / t.abs().amax(dim=1, keepdim=True)).max()
    assert rel <= 2 ** -4 + 1e-6          # 3 mantissa bits: half a step of 1/8 relative to the row's max, at most
    top = q.float().abs().amax(dim=1)
    assert ((top >= 224) & (top <= 448)).all()                     # power-of-two scales: at least half the range
    assert (torch.log2(s) == torch.round(torch.log2(s))).all()


def test_forward_and_input_gradient_are_the_scaled_products():
    lin = _lin(bias=True)
    f8 = FP8Linear.from_linear(lin)
    x = torch.randn(2, 10, 64, requires_grad=True)
    y = f8(x)
    # the definition: dequantised row-wise operands, exact product, bf16 result
    xq, sx = _quantize_rows(x.detach().reshape(-1, 64))
    want = ((xq.float() * sx) @ f8.dequantized().t()).to(torch.bfloat16).float().view(2, 10, 48) + lin.bias
    assert (y - want).abs().max() < 1e-5
    dy = torch.randn(2, 10, 48)
    (dx,) = torch.autograd.grad(y, x, dy)
    dq, sdy = _quantize_rows(dy.reshape(-1, 48))
    wt = f8.weight_t.float() * f8.weight_t_scale.t()      # [in, out] dequantised, one scale per input column
    want_dx = ((dq.float() * sdy) @ wt.t()).to(torch.bfloat16).float().view(2, 10, 64)
    assert (dx - want_dx).abs().max() < 1e-5
    # and within e4m3's error of the dense layer (a few % of the output's scale)
    dense = lin(x.detach())
    assert (y - dense).abs().max() / dense.abs().max() < 0.06
    (dx_dense,) = torch.autograd.grad(lin(x), x, dy)
    assert (dx - dx_dense).abs().max() / dx_dense.abs().max() < 0.06


def test_frozen_base_saves_no_activation_and_has_no_weight_gradient():
    f8 = FP8Linear.from_linear(_lin())
    x = torch.randn(128, 64, requires_grad=True)
    saved = []
    with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(tuple(t.shape)) or t, lambda t: t):
        y = f8(x)
    y.sum().backward()
    assert (128, 64) not in saved and saved, saved     # only the fp8 weight (transposed) and its scales
    assert not f8.weight.requires_grad and f8.weight.grad is None and x.grad is not None
    assert f8.weight.dtype == E4M3 and f8.weight_t.dtype == E4M3   # 2 bytes a weight, as bf16


def test_shapes_fp8_cannot_take_are_kept_dense():
    model = nn.Sequential(nn.Linear(64, 48), nn.Linear(48, 20), nn.Linear(20, 16))
    report = quantize_model_fp8(model)
    assert report["fp8_linears"] == 1 and report["dense_linears_kept"] == 2
    assert isinstance(model[0], FP8Linear) and type(model[1]) is nn.Linear


def _tiny_fp8_lora(impl="peft"):
    from transformers import LlamaConfig, LlamaForCausalLM

    from finetune.config import ALL_LINEAR
    from finetune.models import apply_lora
    cfg = LlamaConfig(vocab_size=96, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128)
    torch.manual_seed(0)
    base = LlamaForCausalLM(cfg)
    rep = quantize_model_fp8(base, skip=(base.get_output_embeddings(),))
    assert rep["fp8_linears"] == 14
    return apply_lora(base, r=4, alpha=8, dropout=0.0, targets=ALL_LINEAR, impl=impl)


@pytest.mark.parametrize("impl", ["peft", "grouped"])
def test_lora_on_an_fp8_base_trains_eager_and_compiled(impl):
    import torch._dynamo
    model = _tiny_fp8_lora(impl)
    lora = [p for p in model.parameters() if p.requires_grad]
    assert lora and all(p.dtype == torch.float32 for p in lora)      # PEFT took bf16 from compute_dtype; we train fp32
    ids = torch.randint(0, 96, (1, 24))
    eager = model(input_ids=ids, labels=ids)
    eager.loss.backward()
    g_eager = [p.grad.clone() for p in lora]
    assert all(torch.isfinite(g).all() for g in g_eager) and any(g.abs().sum() > 0 for g in g_eager)
    model.zero_grad()
    torch._dynamo.reset()
    before = sum(torch._dynamo.utils.counters["graph_break"].values())
    for layer in model.base_model.model.model.layers:
        layer.compile(backend="aot_eager")
    compiled = model(input_ids=ids, labels=ids)
    compiled.loss.backward()
    assert sum(torch._dynamo.utils.counters["graph_break"].values()) == before
    assert abs(compiled.loss.item() - eager.loss.item()) < 1e-5
    for a, b in zip(g_eager, (p.grad for p in lora)):
        assert (a - b).abs().max() < 1e-5
    torch._dynamo.reset()


def test_lora_gradients_on_an_fp8_base_match_the_dense_base():
    """One step's LoRA gradients through a whole model (PEFT on top, autocast bf16): the same parameters train, in
    fp32, and every adapter tensor's gradient points where the dense base's does, at the same size (a wrong scale,
    transposition or extra factor in the input-gradient path, or a frozen weight turned trainable, shows here)."""
    import copy

    from transformers import LlamaConfig, LlamaForCausalLM

    from finetune.config import ALL_LINEAR
    from finetune.models import apply_lora
    cfg = LlamaConfig(vocab_size=96, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    torch.manual_seed(0)
    dense = LlamaForCausalLM(cfg)
    fp8 = copy.deepcopy(dense)
    quantize_model_fp8(fp8, skip=(fp8.get_output_embeddings(),))
    assert type(fp8.lm_head) is nn.Linear and fp8.lm_head.weight.dtype == torch.float32
    ids = torch.randint(0, 96, (2, 64), generator=torch.Generator().manual_seed(2))
    grads = []
    for base in (dense, fp8):
        torch.manual_seed(0)
        model = apply_lora(base, r=4, alpha=8, dropout=0.0, targets=ALL_LINEAR)
        g = torch.Generator().manual_seed(1)
        for n, p in model.named_parameters():
            if "lora_B" in n:     # nonzero B: lora_A gets a gradient too, and the adapters change the forward
                p.data = torch.randn(p.shape, generator=g) * 0.05
        with torch.autocast("cpu", dtype=torch.bfloat16):
            model(input_ids=ids, labels=ids).loss.backward()
        grads.append({n: p.grad for n, p in model.named_parameters() if p.requires_grad})
    assert grads[0].keys() == grads[1].keys() and len(grads[1]) == 2 * 7 * 2
    assert all(g.dtype == torch.float32 for g in grads[1].values())
    for n, want in grads[0].items():
        got = grads[1][n]
        assert torch.nn.functional.cosine_similarity(got.flatten(), want.flatten(), dim=0) > 0.98, n
        assert 0.95 < got.norm() / want.norm() < 1.05, n


def test_recipe_on_an_fp8_base_learns_and_saves_a_peft_adapter(tiny_model_dir, dataset_dir, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.config import LoraSFTConfig
    from finetune.recipes.lora_sft import run
    cfg = LoraSFTConfig(base_model=str(tiny_model_dir), dataset_dir=str(dataset_dir), output_dir=str(tmp_path / "f"),
                        max_steps=6, tokens_per_step=600, micro_batch_tokens=256, lr=5e-3, checkpoint_every=0,
                        base_fp8=True, warmup_steps=0, schedule="constant")
    summary = run(cfg)
    assert summary["status"] == "done"
    assert summary["setup"]["fp8_base"]["fp8_linears"] == 2 * 7
    losses = [h["loss"] for h in summary["history"]]
    assert losses[-1] < losses[0] - 0.05, losses
    assert summary["eval"]["adapter"]["loss"] < summary["eval"]["base"]["loss"]
    # an ordinary adapter of the full-precision base
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "f" / "adapter")
    ids = torch.randint(0, 300, (1, 20))
    with torch.no_grad():
        on = loaded(input_ids=ids).logits
        with loaded.disable_adapter():
            off = loaded(input_ids=ids).logits
    assert (on - off).abs().max() > 1e-4


def test_fp8_and_nf4_bases_exclude_each_other(tiny_model_dir):
    from finetune.models import ModelLoadError, load_causal_lm
    with pytest.raises(ModelLoadError, match="exclude each other"):
        load_causal_lm(str(tiny_model_dir), dtype=torch.float32, device=torch.device("cpu"), quantize_4bit=True,
                       base_fp8=True)


def test_compiled_graphs_call_the_fp8_product_as_one_opaque_op():
    """Inductor must not lower quantisation + `_scaled_mm` itself (on an H100 its lowering gave LoRA gradients
    ~10x too small): forward and backward graphs hold the custom op and no bare `_scaled_mm` / float8 cast."""
    import torch._dynamo
    from functorch.compile import make_boxed_func
    from torch._dynamo.backends.common import aot_autograd
    graphs = []

    def keep(gm, _inputs):
        graphs.append(str(gm.graph))
        return make_boxed_func(gm.forward)

    f8 = FP8Linear.from_linear(_lin())
    x = torch.randn(4, 64, requires_grad=True)
    torch._dynamo.reset()
    fn = torch.compile(lambda t: f8(t), backend=aot_autograd(fw_compiler=keep, bw_compiler=keep))
    y = fn(x)
    y.sum().backward()
    torch._dynamo.reset()
    assert len(graphs) == 2, graphs
    for g in graphs:
        assert "teamlore.fp8_rowwise_mm" in g and "_scaled_mm" not in g and "float8" not in g, g
    (dx,) = torch.autograd.grad(f8(x).sum(), x)
    assert (x.grad - dx).abs().max() < 1e-6
