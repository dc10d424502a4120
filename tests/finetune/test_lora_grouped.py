"""lora_impl="grouped" (finetune/lora_grouped.py: one A product for q/k/v and one for gate/up) computes what PEFT
computes — forward, loss and LoRA gradients in fp32, eager and compiled, on a bf16-free tiny Llama — keeps PEFT's
parameters and adapter format (the saved adapter loads with PeftModel.from_pretrained and gives the same outputs),
trains the same trajectory through the recipe, resumes from its checkpoints, works on an NF4 base, and refuses
what it cannot do."""
from __future__ import annotations

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from finetune import lora_grouped
from finetune.config import ALL_LINEAR, LoraSFTConfig
from finetune.models import ModelLoadError, apply_lora

TOL = 1e-5


def _tiny(vocab: int = 97) -> LlamaForCausalLM:
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                      num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    torch.manual_seed(0)
    return LlamaForCausalLM(cfg).float()


def _pair(base=None, targets=ALL_LINEAR, make_base=None):
    """The same base and the same LoRA weights (B non-zero, so the low-rank path counts) under both impls."""
    base = base if base is not None else _tiny()
    make_base = make_base or (lambda: copy.deepcopy(base))
    torch.manual_seed(1)
    peft = apply_lora(make_base(), r=4, alpha=8, dropout=0.0, targets=targets)
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for n, p in peft.named_parameters():
            if p.requires_grad:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    grouped = apply_lora(make_base(), r=4, alpha=8, dropout=0.0, targets=targets, impl="grouped")
    grouped.load_state_dict(peft.state_dict())   # same parameter names: a strict load
    return peft, grouped


def _lora_grads(model):
    return {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def _assert_same(peft, grouped, ids, labels):
    a = peft(input_ids=ids, labels=labels)
    b = grouped(input_ids=ids, labels=labels)
    a.loss.backward()
    b.loss.backward()
    assert (a.logits - b.logits).abs().max() < TOL
    assert abs(a.loss.item() - b.loss.item()) < TOL
    ga, gb = _lora_grads(peft), _lora_grads(grouped)
    assert ga.keys() == gb.keys() and len(ga) == 2 * 7 * 2      # A and B of 7 projections in 2 layers
    for n in ga:
        assert ga[n].abs().max() > 0, n
        assert (ga[n] - gb[n]).abs().max() < TOL, (n, (ga[n] - gb[n]).abs().max())


def _count_group_calls(monkeypatch) -> list:
    calls = []
    real = lora_grouped._Group.compute

    def counting(self, x):
        calls.append(tuple(self.names))
        return real(self, x)
    monkeypatch.setattr(lora_grouped._Group, "compute", counting)
    return calls


def test_grouped_matches_peft_forward_loss_and_gradients(monkeypatch):
    peft, grouped = _pair()
    assert grouped.lora_impl_report == {"impl": "grouped", "groups": 4, "members": 10,
                                        "ungrouped": ["down_proj", "o_proj"]}
    calls = _count_group_calls(monkeypatch)
    torch.manual_seed(3)
    ids = torch.randint(0, 97, (2, 24))
    _assert_same(peft, grouped, ids, ids)
    # every group computed once per layer (the followers were served from the slot, not recomputed)
    assert sorted(calls) == sorted([("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj")] * 2)
    assert all(not m._tl_group.slot for m in grouped.modules() if getattr(m, "_tl_group", None))


def test_compiled_layers_trace_the_grouped_path_and_match_peft():
    """torch.compile (aot_eager: dynamo + AOT autograd's joint graph, no C++ toolchain needed) traces the slot
    hand-over without graph breaks: each compiled layer has 3 fewer linear products than PEFT's, same numbers."""
    import torch._dynamo
    peft, grouped = _pair()
    linears = {}

    def backend(tag):
        def be(gm, example_inputs):
            linears.setdefault(tag, []).append(sum(1 for n in gm.graph.nodes if n.target is torch._C._nn.linear))
            from torch._dynamo.backends.common import aot_autograd
            from torch._functorch.aot_autograd import make_boxed_func
            return aot_autograd(fw_compiler=lambda g, _: make_boxed_func(g.forward))(gm, example_inputs)
        return be

    torch._dynamo.reset()
    before = sum(torch._dynamo.utils.counters["graph_break"].values())
    for tag, model in (("peft", peft), ("grouped", grouped)):
        for layer in model.base_model.model.model.layers:
            layer.compile(backend=backend(tag))
    torch.manual_seed(4)
    ids = torch.randint(0, 97, (1, 30))
    _assert_same(peft, grouped, ids, ids)
    assert sum(torch._dynamo.utils.counters["graph_break"].values()) == before
    # PEFT: 7 base + 7 A + 7 B products per layer; grouped: 7 base + 4 A (q|k|v, gate|up, o, down) + 7 B
    assert linears["peft"] and all(n == 21 for n in linears["peft"]), linears
    assert linears["grouped"] and all(n == 18 for n in linears["grouped"]), linears
    torch._dynamo.reset()


def test_members_called_with_other_inputs_fall_back_to_peft():
    peft, grouped = _pair()
    pa, ga = peft.base_model.model.model.layers[0].self_attn, grouped.base_model.model.model.layers[0].self_attn
    torch.manual_seed(5)
    x1, x2 = torch.randn(1, 6, 32), torch.randn(1, 6, 32)
    with torch.no_grad():
        assert torch.allclose(ga.q_proj(x1), pa.q_proj(x1), atol=TOL)
        assert torch.allclose(ga.k_proj(x2), pa.k_proj(x2), atol=TOL)    # not q's leftover for x1
        assert torch.allclose(ga.v_proj(x1), pa.v_proj(x1), atol=TOL)    # x2's group was computed by k
        assert torch.allclose(ga.q_proj(x1), pa.q_proj(x1), atol=TOL)
        assert torch.allclose(ga.q_proj(x1), pa.q_proj(x1), atol=TOL)    # twice in a row: recomputed


def test_disable_adapter_gives_the_base_model():
    base = _tiny()
    _, grouped = _pair(base)
    ids = torch.randint(0, 97, (1, 16))
    with torch.no_grad():
        want = base(input_ids=ids).logits
        with grouped.disable_adapter():
            got = grouped(input_ids=ids).logits
        on = grouped(input_ids=ids).logits
    assert (want - got).abs().max() < TOL
    assert (want - on).abs().max() > 1e-3      # and the adapter is back on afterwards


def test_refuses_what_it_cannot_group():
    with pytest.raises(ModelLoadError, match="lora_dropout=0"):
        apply_lora(_tiny(), r=4, alpha=8, dropout=0.1, targets=ALL_LINEAR, impl="grouped")
    with pytest.raises(ModelLoadError, match="no group"):
        apply_lora(_tiny(), r=4, alpha=8, dropout=0.0, targets=["o_proj", "down_proj"], impl="grouped")
    with pytest.raises(ModelLoadError, match="lora_impl must be one of"):
        apply_lora(_tiny(), r=4, alpha=8, dropout=0.0, targets=ALL_LINEAR, impl="fused")


def test_auto_groups_what_it_can_and_keeps_peft_otherwise():
    grouped = apply_lora(_tiny(), r=4, alpha=8, dropout=0.0, targets=ALL_LINEAR, impl="auto")
    assert grouped.lora_impl_report["impl"] == "grouped" and grouped.lora_impl_report["groups"] == 4
    plain = apply_lora(_tiny(), r=4, alpha=8, dropout=0.1, targets=ALL_LINEAR, impl="auto")
    assert plain.lora_impl_report["impl"] == "peft" and "lora_dropout=0" in plain.lora_impl_report["not_grouped"]
    assert not any(getattr(m, "_tl_group", None) for m in plain.modules())


def test_partial_targets_group_what_is_there():
    """q/k/v targeted without the MLP: attention grouped, the rest left to PEFT, still exact."""
    peft, grouped = _pair(targets=["q_proj", "k_proj", "v_proj", "up_proj"])
    assert grouped.lora_impl_report["groups"] == 2 and grouped.lora_impl_report["ungrouped"] == ["up_proj"]
    ids = torch.randint(0, 97, (1, 20))
    a, b = peft(input_ids=ids, labels=ids), grouped(input_ids=ids, labels=ids)
    a.loss.backward()
    b.loss.backward()
    assert abs(a.loss.item() - b.loss.item()) < TOL
    for n, g in _lora_grads(peft).items():
        assert (g - dict(grouped.named_parameters())[n].grad).abs().max() < TOL, n


def test_nf4_base_grouped_matches_peft():
    from finetune.qlora import nf4_available, quantize_model_nf4
    if not nf4_available():
        pytest.skip("torchao not installed")
    def nf4_base():   # NF4 tensors do not deepcopy: quantise two identical models (quantisation is deterministic)
        base = _tiny(vocab=97)
        report = quantize_model_nf4(base, torch.device("cpu"), skip=(base.get_output_embeddings(),))
        assert report["nf4_linears"] == 2 * 7
        return base
    peft, grouped = _pair(make_base=nf4_base)
    torch.manual_seed(6)
    ids = torch.randint(0, 97, (1, 20))
    _assert_same(peft, grouped, ids, ids)


def _cfg(tiny_model_dir, dataset_dir, out, impl, **kw):
    return LoraSFTConfig(**{"base_model": str(tiny_model_dir), "dataset_dir": str(dataset_dir),
                            "output_dir": str(out), "max_steps": 4, "tokens_per_step": 600, "micro_batch_tokens": 256,
                            "lr": 5e-3, "checkpoint_every": 2, "lora_dropout": 0.0, "lora_impl": impl, **kw})


def test_recipe_trains_the_same_trajectory_and_saves_a_peft_adapter(tiny_model_dir, dataset_dir, tmp_path):
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from finetune.recipes.lora_sft import finetune, load_examples, run
    ref = run(_cfg(tiny_model_dir, dataset_dir, tmp_path / "peft", "peft"))
    got = run(_cfg(tiny_model_dir, dataset_dir, tmp_path / "grouped", "grouped"))
    assert got["setup"]["lora"]["impl"] == "grouped" and got["setup"]["lora"]["groups"] == 4
    la, lb = [h["loss"] for h in ref["history"]], [h["loss"] for h in got["history"]]
    assert len(la) == len(lb) == 4
    for a, b in zip(la, lb):
        assert abs(a - b) < TOL, (la, lb)
    assert abs(ref["eval"]["adapter"]["loss"] - got["eval"]["adapter"]["loss"]) < TOL
    # the saved adapter is PEFT's format: the same files, keys and (to float precision) values
    a = load_file(tmp_path / "peft" / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "grouped" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and len(a) == 2 * 7 * 2
    for k in a:
        assert (a[k] - b[k]).abs().max() < TOL, k

    # trained in memory with the grouped path, saved, loaded by plain PEFT: identical outputs
    cfg = _cfg(tiny_model_dir, dataset_dir, tmp_path / "mem", "grouped", checkpoint_every=0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    model, _, _ = finetune(cfg, load_examples(cfg, tok)["train"], pad_id=tok.pad_token_id,
                           device=torch.device("cpu"))
    model.save_pretrained(tmp_path / "saved")
    loaded = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_model_dir), tmp_path / "saved")
    ids = torch.randint(0, len(tok), (1, 40))
    model.eval()
    with torch.no_grad():
        want, got_logits = model(input_ids=ids).logits, loaded(input_ids=ids).logits
    assert (want - got_logits).abs().max() < TOL
    with torch.no_grad(), loaded.disable_adapter():
        assert (loaded(input_ids=ids).logits - want).abs().max() > 1e-4   # the adapter matters


def test_grouped_run_resumes_from_its_checkpoint(tiny_model_dir, dataset_dir, tmp_path):
    from finetune import checkpoint as ckpt
    from finetune.recipes.lora_sft import run
    full = run(_cfg(tiny_model_dir, dataset_dir, tmp_path / "full", "grouped"))
    out = tmp_path / "stopped"
    seen = []
    cut = run(_cfg(tiny_model_dir, dataset_dir, out, "grouped"), on_metrics=seen.append,
              should_cancel=lambda: len(seen) >= 2)      # stops after step 2 and checkpoints there
    assert cut["status"] == "cancelled" and ckpt.latest(out / "checkpoints").name == "step-000002"
    again = run(_cfg(tiny_model_dir, dataset_dir, out, "grouped"))
    assert again["status"] == "done" and again["resumed_from"] == 2
    la, lb = [h["loss"] for h in full["history"]], [h["loss"] for h in again["history"]]
    assert len(la) == len(lb) == 4
    for a, b in zip(la, lb):
        assert abs(a - b) < TOL, (la, lb)


def test_counted_products_of_a_1b_layer_drop_by_the_grouping():
    """benchmarks/lora_grouped_ops.py on the meta device (1B layer shapes, no compute): grouping q/k/v and
    gate/up removes 3 A products forward and their 6 backward counterparts, and the bytes they moved."""
    from benchmarks.lora_grouped_ops import layer_products, summarise
    peft, grouped = (summarise(layer_products(impl, tokens=256, rank=16)) for impl in ("peft", "grouped"))
    assert peft["base_products"] == grouped["base_products"] == 14          # 7 forward + 7 input-gradients
    assert peft["lora_products"] == 42 and grouped["lora_products"] == 33
    assert grouped["lora_gflop"] == peft["lora_gflop"]                        # same arithmetic, fewer passes
    assert grouped["lora_gbytes"] < peft["lora_gbytes"]
    assert grouped["lora_shapes"]["256x2048 @ 2048x48"] == 1                  # x @ [A_q; A_k; A_v]^T
    assert grouped["lora_shapes"]["256x2048 @ 2048x32"] == 1                  # x @ [A_gate; A_up]^T


def test_disable_grouped_lora_restores_peft_forward(monkeypatch):
    peft, grouped = _pair()
    lora_grouped.disable_grouped_lora(grouped)
    calls = _count_group_calls(monkeypatch)
    ids = torch.randint(0, 97, (1, 12))
    with torch.no_grad():
        assert (peft(input_ids=ids).logits - grouped(input_ids=ids).logits).abs().max() < TOL
    assert calls == [] and "forward" not in vars(grouped.base_model.model.model.layers[0].self_attn.q_proj)
