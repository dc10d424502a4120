"""GPU throughput and peak memory of the DPO recipe beside the LoRA SFT recipe, on the same sequences.

A Llama-3.2-1B-shaped (or 3B-shaped) model with random weights, saved as an HF folder. Synthetic preference pairs:
prompt lengths lognormal (mean 300 tokens, cap 1536), chosen/rejected answers lognormal (mean 120, cap 512), seed 1.
  sft  finetune.recipes.lora_sft.finetune on prompt+chosen (answer tokens are the targets) — recipe defaults
  dpo  finetune.recipes.dpo.finetune on the pairs (reference log-probs precomputed once, then LoRA DPO steps)
Tokens/s counts every token of a step's sequences (prompt included; for DPO both answers of a pair), timed steps
only (the first --warmup steps compile and are left out).

    python benchmarks/dpo_throughput.py --sizes 1b --steps 20 --out /tmp/dpo_bench
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPES = {"1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8),
          "3b": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                     num_key_value_heads=8)}
VOCAB = 128256


def log(obj, fh=None):
    line = json.dumps(obj, default=str)
    print(line, flush=True)
    if fh:
        fh.write(line + "\n")
        fh.flush()


def free():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def save_random_model(size: str, root: Path) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM
    d = root / f"llama-{size}"
    cfg = LlamaConfig(vocab_size=VOCAB, max_position_embeddings=4096, tie_word_embeddings=True, **SHAPES[size])
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        m = LlamaForCausalLM(cfg).to(torch.bfloat16)
    m.save_pretrained(d)
    del m
    free()
    return d


def synthetic_pairs(n: int, seed: int = 1):
    from finetune.data import IGNORE, Example
    from finetune.recipes.dpo import Pair
    g = random.Random(seed)

    def length(mean, cap):
        return max(8, min(cap, int(g.lognormvariate(0, 0.6) * mean)))

    pairs = []
    for i in range(n):
        prompt = [g.randrange(10, VOCAB) for _ in range(length(300, 1536))]
        out = []
        for _ in range(2):
            ans = [g.randrange(10, VOCAB) for _ in range(length(120, 512))]
            ids = prompt + ans
            targets = [IGNORE] * (len(prompt) - 1) + ans + [IGNORE]
            out.append(Example(ids, targets))
        pairs.append(Pair(out[0], out[1], f"p{i}"))
    return pairs


def summarise(name, hist, warmup, info, extra=None):
    timed = hist[warmup:]
    toks = sum(h["tokens"] for h in timed)
    secs = sum(h["step_s"] for h in timed)
    return {"recipe": name, "tokens_per_s": round(toks / secs) if secs else None,
            "step_s": round(secs / max(len(timed), 1), 4), "tokens_per_step": round(toks / max(len(timed), 1)),
            "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2) if torch.cuda.is_available() else None,
            "params_m": round(info["params"] / 1e6, 1), "steps_timed": len(timed),
            "losses": [round(h["loss"], 4) for h in hist], **(extra or {})}


def run_sft(model_dir, pairs, steps, warmup, over):
    from finetune.config import LoraSFTConfig
    from finetune.recipes.lora_sft import finetune
    examples = [p.chosen for p in pairs]
    cfg = LoraSFTConfig(base_model=str(model_dir), output_dir=tempfile.mkdtemp(prefix="tl_sft_"),
                        max_steps=steps + warmup, checkpoint_every=0, shuffle=False, **over)
    hist = []
    free()
    model, result, info = finetune(cfg, examples, pad_id=0, device=torch.device("cuda"), on_metrics=hist.append)
    r = summarise("sft", hist, warmup, info, {"setup": result.setup})
    del model
    return r


def run_dpo(model_dir, pairs, steps, warmup, over):
    from finetune.recipes.dpo import DPOConfig, finetune
    cfg = DPOConfig(base_model=str(model_dir), output_dir=tempfile.mkdtemp(prefix="tl_dpo_"),
                    max_steps=steps + warmup, checkpoint_every=0, shuffle=False, **over)
    hist = []
    free()
    t0 = time.perf_counter()
    first = []
    model, packed, result, info = finetune(cfg, pairs, pad_id=0, device=torch.device("cuda"),
                                           on_metrics=lambda m: (hist.append(m), first or first.append(time.perf_counter())))
    # time before the first step = model load + LoRA + reference log-prob pass + first (compiling) step
    r = summarise("dpo", hist, warmup, info, {"setup": result["setup"],
                                               "setup_s_incl_reference_pass": round(first[0] - t0, 1) if first else None,
                                               "reward_accuracy_last": hist[-1].get("reward_accuracy") if hist else None})
    del model, packed
    return r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1b")
    ap.add_argument("--recipes", default="sft,dpo")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=4)
    ap.add_argument("--pairs-per-step", type=int, default=16)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="config overrides (both recipes)")
    ap.add_argument("--out", default=os.environ.get("OUT", tempfile.mkdtemp()))
    a = ap.parse_args()
    if not torch.cuda.is_available():
        sys.exit("this benchmark needs a CUDA GPU")
    over = {k: json.loads(v) for k, _, v in (kv.partition("=") for kv in a.set)}
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / "dpo_bench.jsonl", "a")
    import peft
    import transformers
    log({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "transformers": transformers.__version__,
         "peft": peft.__version__}, fh)
    n_pairs = (a.steps + a.warmup + 1) * a.pairs_per_step
    pairs = synthetic_pairs(n_pairs)
    # SFT sees as many sequences per step as DPO sees pairs: same examples, each step ~ tokens of the chosen side
    tokens_per_step = sum(len(p.chosen) for p in pairs) // len(pairs) * a.pairs_per_step
    models_root = Path(tempfile.mkdtemp(prefix="tl_models_"))
    table = []
    for size in a.sizes.split(","):
        model_dir = save_random_model(size, models_root)
        for recipe in a.recipes.split(","):
            try:
                if recipe == "sft":
                    r = run_sft(model_dir, pairs, a.steps, a.warmup, {"tokens_per_step": tokens_per_step, **over})
                else:
                    r = run_dpo(model_dir, pairs, a.steps, a.warmup, {"pairs_per_step": a.pairs_per_step, **over})
                r["size"] = size
                log(r, fh)
                table.append(r)
            except Exception as exc:
                log({"recipe": recipe, "size": size, "error": repr(exc), "trace": traceback.format_exc()[-3000:]}, fh)
            free()
    print("\nsize  recipe  tokens/s   step_s   tokens/step  peak_GiB")
    for r in table:
        print(f"{r['size']:5} {r['recipe']:7} {r['tokens_per_s']:>9} {r['step_s']:>8} {r['tokens_per_step']:>11} "
              f"{r['peak_mem_gib']:>9}")
    (out / "dpo_bench_table.json").write_text(json.dumps(table, indent=2))


if __name__ == "__main__":
    main()
