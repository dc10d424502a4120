"""Matrix products of one Llama-3.2-1B decoder layer (LoRA r=16 on all 7 projections), forward + backward over one
8192-token packed row, for PEFT's per-projection LoRA and for lora_impl="grouped" — counted, not timed: the layer
runs on the meta device (shapes only, no memory, no compute), so this runs anywhere in seconds.

For each product: FLOPs and the bytes it must move at least (operands read once, result written once, bf16), and
a roofline time max(FLOPs / 700 TFLOP/s, bytes / 3.0 TB/s) — H100-like rates, an estimate, not a measurement; the
real GPU figures come from `benchmarks/lora_throughput.py --variants teamlore,teamlore+lora_impl=grouped`.

    python benchmarks/lora_grouped_ops.py [--tokens 8192] [--rank 16] [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MM = {torch.ops.aten.mm.default, torch.ops.aten.addmm.default, torch.ops.aten.bmm.default}
FLOPS_RATE, BYTES_RATE = 700e12, 3.0e12


class CountMatmuls(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.ops = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if func in MM:
            a, b = (args[1], args[2]) if func is torch.ops.aten.addmm.default else (args[0], args[1])
            m, k = a.shape[-2], a.shape[-1]
            n = b.shape[-1]
            batch = a.shape[0] if a.dim() == 3 else 1
            flops = 2 * batch * m * n * k
            nbytes = sum(t.numel() * t.element_size() for t in (a, b, out))
            if func is torch.ops.aten.addmm.default:
                nbytes += args[0].numel() * args[0].element_size()
            self.ops.append({"shape": f"{m}x{k} @ {k}x{n}", "flops": flops, "bytes": nbytes, "batched": a.dim() == 3,
                             "est_us": 1e6 * max(flops / FLOPS_RATE, nbytes / BYTES_RATE),
                             "lora": min(m, n, k) <= 64})
        return out


def layer_products(impl: str, tokens: int, rank: int) -> list[dict]:
    from transformers import LlamaConfig
    from transformers.models.llama.modeling_llama import LlamaDecoderLayer, LlamaRotaryEmbedding

    from finetune.config import ALL_LINEAR
    from finetune.models import apply_lora
    cfg = LlamaConfig(hidden_size=2048, intermediate_size=8192, num_hidden_layers=1, num_attention_heads=32,
                      num_key_value_heads=8, vocab_size=128256)
    cfg._attn_implementation = "sdpa"

    class One(torch.nn.Module):   # PEFT needs a parent module to find targets in
        def __init__(self):
            super().__init__()
            self.layer = LlamaDecoderLayer(cfg, 0)
            self.config = cfg

        def prepare_inputs_for_generation(self, *a, **k):   # PEFT's causal-LM wrapper looks for it
            raise NotImplementedError

        def forward(self, x, pe):
            out = self.layer(x, position_embeddings=pe)
            return out[0] if isinstance(out, tuple) else out

    with torch.device("meta"):
        net = One().to(torch.bfloat16)
        rope = LlamaRotaryEmbedding(cfg)
    model = apply_lora(net, r=rank, alpha=2 * rank, dropout=0.0, targets=ALL_LINEAR, impl=impl)
    for p in model.parameters():   # bf16 LoRA weights: what autocast computes with on the GPU
        p.data = p.data.to(torch.bfloat16)
    x = torch.empty(1, tokens, 2048, device="meta", dtype=torch.bfloat16, requires_grad=True)
    pos = torch.arange(tokens, device="meta")[None]
    pe = rope(x, pos)
    counter = CountMatmuls()
    with counter:
        y = model.get_base_model()(x, pe)
        y.backward(torch.empty_like(y))
    # attention itself (SDPA's batched products) is the same for both; keep the projections' products only
    return [o for o in counter.ops if not o["batched"]]


def summarise(ops: list[dict]) -> dict:
    lora = [o for o in ops if o["lora"]]
    base = [o for o in ops if not o["lora"]]
    return {"products": len(ops), "lora_products": len(lora), "base_products": len(base),
            "lora_gbytes": round(sum(o["bytes"] for o in lora) / 1e9, 3),
            "lora_gflop": round(sum(o["flops"] for o in lora) / 1e9, 1),
            "lora_est_us": round(sum(o["est_us"] for o in lora), 1),
            "base_est_us": round(sum(o["est_us"] for o in base), 1),
            "lora_shapes": dict(Counter(o["shape"] for o in lora))}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--rank", type=int, default=16)
    ap.add_argument("--layers", type=int, default=16, help="decoder layers of the model (1B: 16)")
    ap.add_argument("--rows-per-step", type=int, default=2, help="packed rows per optimizer step (16k tokens: 2)")
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    res = {}
    for impl in ("peft", "grouped"):
        s = summarise(layer_products(impl, a.tokens, a.rank))
        s["lora_est_ms_per_step"] = round(s["lora_est_us"] * a.layers * a.rows_per_step / 1e3, 1)
        res[impl] = s
    print(f"one decoder layer, {a.tokens}-token row, r={a.rank}, forward + backward (meta device: counted):")
    print(f"{'impl':8} {'products':>8} {'LoRA':>5} {'LoRA GB':>8} {'LoRA est':>9} {'per step':>9} {'base est':>9}")
    for impl, s in res.items():
        print(f"{impl:8} {s['products']:8} {s['lora_products']:5} {s['lora_gbytes']:8} {s['lora_est_us']:8.0f}us "
              f"{s['lora_est_ms_per_step']:7.1f}ms {s['base_est_us']:8.0f}us")
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))
    return res


if __name__ == "__main__":
    main()
