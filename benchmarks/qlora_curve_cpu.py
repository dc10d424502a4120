"""QLoRA against bf16/fp32-base LoRA on the same rows, on a CPU (when no GPU is at hand).

A random-weight Llama of a small shape, saved as an HF folder; learnable rows (tokens drawn from a 256-token subset
of the vocabulary, lognormal lengths as in lora_throughput.py) in a fixed order, 8 rows per step, linear schedule.
Three runs of `finetune.recipes.lora_sft.finetune`: full-precision base with LoRA init seed 0 and seed 1 (their
gap is the noise band) and the NF4 base (QLoRA) with seed 0. Prints the per-step gaps.

    python benchmarks/qlora_curve_cpu.py --steps 30
"""
from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def lengths(n, mean=120, cap=384, seed=3):
    g = random.Random(seed)
    sigma = 0.8
    mu = math.log(mean) - sigma * sigma / 2
    return [max(16, min(cap, int(g.lognormvariate(mu, sigma)))) for _ in range(n)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--vocab", type=int, default=4096)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from transformers import LlamaConfig, LlamaForCausalLM

    from finetune.config import LoraSFTConfig
    from finetune.data import Example, shift
    from finetune.recipes.lora_sft import finetune
    torch.set_num_threads(max(1, torch.get_num_threads()))
    root = Path(tempfile.mkdtemp(prefix="qlora_cpu_"))
    cfg = LlamaConfig(vocab_size=a.vocab, hidden_size=a.hidden, intermediate_size=a.hidden * 11 // 4 // 64 * 64,
                      num_hidden_layers=a.layers, num_attention_heads=a.hidden // 64, num_key_value_heads=a.hidden // 128,
                      max_position_embeddings=1024, tie_word_embeddings=False)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(root / "base")
    g = random.Random(7)
    subset = g.sample(range(3, a.vocab), 256)
    rows = [[g.choice(subset) for _ in range(n)] for n in lengths(a.steps * 8)]
    examples = [Example(r, shift(r)) for r in rows]
    runs = {}
    for name, over in (("full_seed0", {"seed": 0}), ("full_seed1", {"seed": 1}),
                       ("qlora_seed0", {"seed": 0, "quantize_4bit": True})):
        c = LoraSFTConfig(base_model=str(root / "base"), dataset_dir="", output_dir=str(root / name),
                          max_steps=a.steps, examples_per_step=8, micro_batch_tokens=4096, shuffle=False, lr=2e-4,
                          schedule="linear", warmup_steps=0, checkpoint_every=0, **over)
        _, result, _ = finetune(c, examples, pad_id=0, device=torch.device("cpu"))
        runs[name] = [h["loss"] for h in result.history]
        if name == "qlora_seed0":
            runs["qlora_report"] = result.setup.get("qlora")
    f0, f1, q = runs["full_seed0"], runs["full_seed1"], runs["qlora_seed0"]
    gap = lambda x, y: [abs(u - v) for u, v in zip(x, y)]  # noqa: E731
    # the NF4 base is a slightly different function: compare what LoRA learned (loss minus the run's first loss)
    dq = [v - q[0] for v in q]
    df = [v - f0[0] for v in f0]
    d1 = [v - f1[0] for v in f1]
    res = {"shape": {"hidden": a.hidden, "layers": a.layers, "vocab": a.vocab}, "steps": a.steps,
           "nf4": runs["qlora_report"],
           "first_last": {"full_seed0": [f0[0], f0[-1]], "full_seed1": [f1[0], f1[-1]], "qlora": [q[0], q[-1]]},
           "abs_gap_qlora_vs_full": {"max": max(gap(q, f0)), "mean": sum(gap(q, f0)) / a.steps},
           "abs_gap_seed_noise": {"max": max(gap(f1, f0)), "mean": sum(gap(f1, f0)) / a.steps},
           "drop_gap_qlora_vs_full": {"max": max(gap(dq, df)), "mean": sum(gap(dq, df)) / a.steps},
           "drop_gap_seed_noise": {"max": max(gap(d1, df)), "mean": sum(gap(d1, df)) / a.steps},
           "losses": {k: [round(v, 4) for v in runs[k]] for k in ("full_seed0", "full_seed1", "qlora_seed0")}}
    line = json.dumps(res)
    print(line)
    if a.out:
        Path(a.out).write_text(line + "\n")


if __name__ == "__main__":
    main()
