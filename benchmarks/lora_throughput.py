"""GPU throughput of Teamlore's LoRA SFT recipe against the plain Hugging Face recipe (issues #8, #18).

Both run in this process on the same GPU, on a Llama-3.2-1B-shaped (or 3B-shaped) model with random weights and
the same lognormal example lengths (mean 350, cap 2048, seed 1) as the reference script
(/work/shared/bench/lora_hf_baseline.py, imported from --reference-dir):

  reference  the reference script's own `run("baseline", ...)`: HF Trainer, padded batches of 8, bf16, SDPA
  teamlore   finetune.recipes.lora_sft.finetune — the function `teamlore train` runs after tokenising — with the
             recipe defaults: padding-free packing into 8192-token rows, 16384 tokens per step, flash varlen
             attention, torch.compile per decoder layer, Liger fused linear cross-entropy, fused AdamW
  losscurve  both recipes on the SAME rows in the SAME order (8 rows per step, no shuffling, linear schedule,
             lr 2e-4, same LoRA init) on learnable data; prints the two per-step loss curves and their gap
  qlora      the same recipe on a 4-bit NF4 base (finetune/qlora.py)
  qlora-curve  NF4 base vs bf16 base (LoRA seeds 0 and 1: the noise band), same learnable rows, 30 steps
  profile    torch.profiler table of 3 steady steps of the recipe (profile+lora_impl=grouped: with that option)
Sizes: 1b, 3b, 8b (Llama-3.1-8B: untied 128k head; 4096-token rows, 2048 for QLoRA, as the recipe picks for >5B).

    python benchmarks/lora_throughput.py --sizes 1b --variants teamlore,reference,losscurve --out /tmp/bench
    python benchmarks/lora_throughput.py --sizes 8b --variants teamlore,qlora,reference
    python benchmarks/lora_throughput.py --sizes 1b --variants teamlore,teamlore+lora_impl=grouped,\
        teamlore+liger_chunk_mem=8,teamlore+base_fp8=true     # one option at a time (#18)
    python benchmarks/lora_throughput.py --sizes 1b --variants losscurve+base_fp8=true   # bf16 and FP8 base vs HF
    python benchmarks/lora_throughput.py --sizes 1b --variants losscurve+base_fp8=true+fp8_fast_accum=false,\
        losscurve+base_fp8=true+compile=off   # the FP8 curve without fast accumulation / without torch.compile
"""
from __future__ import annotations

import argparse
import gc
import json
import os
import random
import re
import sys
import tempfile
import time
import traceback
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHAPES = {"1b": dict(hidden_size=2048, intermediate_size=8192, num_hidden_layers=16, num_attention_heads=32,
                     num_key_value_heads=8, tie_word_embeddings=True),
          "3b": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=28, num_attention_heads=24,
                     num_key_value_heads=8, tie_word_embeddings=True),
          # Llama-3.1-8B: untied 128k embeddings and LM head
          "8b": dict(hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32,
                     num_key_value_heads=8, tie_word_embeddings=False, rope_theta=500000.0)}
# Recipe settings per shape (what `teamlore train` would be given for a model of that size on one 80 GB GPU):
# the 8B shape's activations at 8192-token rows would pass 40 GiB, so its rows are 4096 tokens (same tokens per
# step by accumulation); QLoRA's 4-bit base leaves ~14 GiB for activations under its 20 GiB goal.
SIZE_DEFAULTS = {"8b": {"micro_batch_tokens": 4096}}
QLORA_DEFAULTS = {"8b": {"micro_batch_tokens": 2048}}
PEAK_BF16 = 989e12  # H100 SXM dense bf16, the reference script's MFU denominator


def log(obj, fh=None):
    line = json.dumps(obj, default=str)
    print(line, flush=True)
    if fh:
        fh.write(line + "\n")
        fh.flush()


def free():
    gc.collect()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()


def llama_config(size):
    from transformers import LlamaConfig
    cfg = LlamaConfig(vocab_size=128256, max_position_embeddings=8192, **SHAPES[size])
    cfg._attn_implementation = "sdpa"
    return cfg


def save_random_model(size, root: Path) -> Path:
    """Random weights saved as an HF directory, so Teamlore loads it the way `teamlore train --base` does."""
    from transformers import LlamaForCausalLM
    d = root / f"llama-{size}"
    if (d / "config.json").is_file():
        return d
    torch.manual_seed(0)
    with torch.device("cuda"):   # initialised on the GPU in bf16 (an 8B fp32 init on the host takes minutes)
        m = LlamaForCausalLM._from_config(llama_config(size), dtype=torch.bfloat16)
    m.save_pretrained(d)
    del m
    free()
    return d


def teamlore_run(model_dir, rows, *, steps, warmup, cfg_over=None, on_step=None):
    from finetune.config import LoraSFTConfig
    from finetune.data import Example, shift
    from finetune import fp8 as fp8_base
    from finetune.recipes.lora_sft import finetune
    examples = [Example(list(r), shift(list(r))) for r in rows]
    out = tempfile.mkdtemp(prefix="tl_bench_")
    cfg_over = dict(cfg_over or {})
    # not a recipe option: "+fp8_fast_accum=false" runs the FP8 base's forward product without fast accumulation
    fp8_base.FORWARD_FAST_ACCUM = bool(cfg_over.pop("fp8_fast_accum", True))
    cfg = LoraSFTConfig(base_model=str(model_dir), dataset_dir="", output_dir=out, max_steps=steps + warmup,
                        checkpoint_every=0, shuffle=False, lr=2e-4, **cfg_over)
    hist = []
    free()
    t0 = time.perf_counter()
    def on_metrics(m):
        hist.append(m)
        print(f"  step {m['step']} loss {m['loss']:.4f} {m['step_s']:.3f}s {m.get('gpu_mem_gib')} GiB", flush=True)
        if on_step:
            on_step(m)
    try:
        model, result, info = finetune(cfg, examples, pad_id=0, device=torch.device("cuda"), on_metrics=on_metrics)
    finally:
        fp8_base.FORWARD_FAST_ACCUM = True
    wall = time.perf_counter() - t0
    timed = hist[warmup:]
    toks = sum(h["tokens"] for h in timed)
    secs = sum(h["step_s"] for h in timed)
    tps = toks / secs
    n_params = info["params"]
    res = {"recipe": "teamlore", "tokens_per_s": round(tps), "step_s": round(secs / len(timed), 4),
           "tokens_per_step": round(toks / len(timed)), "peak_mem_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2),
           "params_m": round(n_params / 1e6, 1), "approx_mfu": round(tps * 4 * n_params / PEAK_BF16, 3),
           "setup": result.setup, "wall_s_incl_compile": round(wall, 1), "steps_timed": len(timed),
           "first_steps_s": [h["step_s"] for h in hist[:warmup]], "timed_steps_s": [h["step_s"] for h in timed],
           "losses": [round(h["loss"], 4) for h in hist], "grad_norms": [round(h["grad_norm"], 4) for h in hist],
           "micro_batch_tokens": cfg.micro_batch_tokens,
           "tokens_per_step_target": cfg.tokens_per_step, "qlora": bool(cfg.quantize_4bit)}
    del model
    free()
    return res


def reference_run(ref, size, steps, warmup):
    """The reference script's own run(); its model is built directly on the GPU in bf16 (same weights layout and
    Trainer; only the initialisation is not done in fp32 on the host first, which would take minutes at 8B)."""
    from transformers import LlamaForCausalLM
    orig = ref.LlamaForCausalLM

    class OnGPU:
        def __new__(cls, cfg):
            with torch.device("cuda"):
                return LlamaForCausalLM._from_config(cfg, dtype=torch.bfloat16)
    ref.LlamaForCausalLM = OnGPU
    try:
        return ref.run("baseline", llama_config(size), steps, warmup, 8, 2048, 350)
    finally:
        ref.LlamaForCausalLM = orig


def qlora_curves(model_dir, size, steps, out_fh, lens):
    """bf16-LoRA (LoRA init seeds 0 and 1: the seed-to-seed gap is the noise band) and QLoRA (seed 0) on the same
    learnable rows in the same order, 8 rows per step, eager (compile does not change the arithmetic)."""
    rows = structured_rows(lens)
    common = {"examples_per_step": 8, "schedule": "linear", "warmup_steps": 0, "compile": "off",
              **SIZE_DEFAULTS.get(size, {})}
    runs = {}
    for name, over in (("qlora_seed0", {"seed": 0, "quantize_4bit": True, **QLORA_DEFAULTS.get(size, {})}),
                       ("bf16_seed0", {"seed": 0}), ("bf16_seed1", {"seed": 1})):
        r = teamlore_run(model_dir, rows, steps=steps, warmup=0, cfg_over={**common, **over})
        runs[name] = r
        log({"variant": "qlora-curve", "size": size, "run": name, "losses": r["losses"],
             "peak_mem_gib": r["peak_mem_gib"], "tokens_per_s": r["tokens_per_s"]}, out_fh)
    a, b, q = (runs[k]["losses"] for k in ("bf16_seed0", "bf16_seed1", "qlora_seed0"))
    n = min(len(a), len(b), len(q))
    gap = lambda x, y: [abs(u - v) for u, v in zip(x[:n], y[:n])]  # noqa: E731
    res = {"variant": "qlora-curve-summary", "size": size, "steps": n,
           "qlora_vs_bf16_max": round(max(gap(q, a)), 4), "qlora_vs_bf16_mean": round(sum(gap(q, a)) / n, 4),
           "seed_noise_max": round(max(gap(b, a)), 4), "seed_noise_mean": round(sum(gap(b, a)) / n, 4),
           "first_last_bf16": [a[0], a[n - 1]], "first_last_qlora": [q[0], q[n - 1]],
           "mean_last10_bf16": round(sum(a[n - 10:n]) / 10, 4), "mean_last10_qlora": round(sum(q[n - 10:n]) / 10, 4)}
    log(res, out_fh)
    return res


def structured_rows(lens, seed=7, alphabet=512, vocab_size=128256):
    """Learnable rows: tokens from a 512-token subset, so a random-weight model's loss falls from ~ln(128k)
    towards ~ln(512) as LoRA learns the subset — a curve with shape, unlike uniform random tokens."""
    g = random.Random(seed)
    vocab = g.sample(range(3, vocab_size), alphabet)
    return [[g.choice(vocab) for _ in range(n)] for n in lens]


def losscurve(ref, model_dir, size, steps, out_fh, variants=None):
    """Reference Trainer and Teamlore recipe on identical rows, order, batch composition, schedule, LoRA init.
    "losscurve+key=value": the recipe's defaults and the recipe with that option, both against the same reference
    curve (one reference run), e.g. losscurve+base_fp8=true."""
    from peft import LoraConfig, get_peft_model
    from torch.utils.data import SequentialSampler
    from transformers import LlamaForCausalLM, Trainer, TrainerCallback, TrainingArguments
    batch = 8
    lens = ref.lengths(steps * batch, 350, 2048, seed=3)
    rows = structured_rows(lens)

    class Ds(torch.utils.data.Dataset):
        def __len__(self):
            return len(rows)

        def __getitem__(self, i):
            return {"input_ids": rows[i], "labels": rows[i]}

    def collate(feats):
        m = max(len(f["input_ids"]) for f in feats)
        ids = torch.zeros(len(feats), m, dtype=torch.long)
        att = torch.zeros(len(feats), m, dtype=torch.long)
        lab = torch.full((len(feats), m), -100, dtype=torch.long)
        for i, f in enumerate(feats):
            n = len(f["input_ids"])
            ids[i, :n] = torch.tensor(f["input_ids"])
            att[i, :n] = 1
            lab[i, :n] = torch.tensor(f["labels"])
        return {"input_ids": ids, "attention_mask": att, "labels": lab}

    class InOrder(Trainer):
        def _get_train_sampler(self, *a, **k):
            return SequentialSampler(self.train_dataset)

    losses = []

    class Rec(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kw):
            if logs and "loss" in logs:
                losses.append(round(float(logs["loss"]), 4))

    free()
    model = LlamaForCausalLM.from_pretrained(model_dir, dtype=torch.bfloat16, attn_implementation="sdpa").cuda()
    torch.manual_seed(0)
    model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, task_type="CAUSAL_LM",
                                             target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                             "up_proj", "down_proj"]))
    args = TrainingArguments(output_dir=tempfile.mkdtemp(), per_device_train_batch_size=batch, max_steps=steps,
                             bf16=True, learning_rate=2e-4, logging_steps=1, save_strategy="no", report_to=[],
                             remove_unused_columns=False, disable_tqdm=True, lr_scheduler_type="linear")
    InOrder(model=model, args=args, train_dataset=Ds(), data_collator=collate, callbacks=[Rec()]).train()
    del model
    free()
    results = []
    for label, extra in (variants or {"teamlore": {}}).items():
        tl = teamlore_run(model_dir, rows, steps=steps, warmup=0,
                          cfg_over={"examples_per_step": batch, "schedule": "linear", "warmup_steps": 0, "seed": 0,
                                    **extra})
        tl_losses = tl["losses"]
        n = min(len(losses), len(tl_losses))
        diffs = [abs(a - b) for a, b in zip(losses[:n], tl_losses[:n])]
        res = {"variant": "losscurve", "recipe": label, "size": size, "steps": n, "reference_losses": losses[:n],
               "teamlore_losses": tl_losses[:n], "teamlore_grad_norms": tl["grad_norms"][:n],
               "max_abs_diff": round(max(diffs), 4),
               "mean_abs_diff": round(sum(diffs) / n, 4),
               "first_last_reference": [losses[0], losses[n - 1]],
               "first_last_teamlore": [tl_losses[0], tl_losses[n - 1]]}
        log(res, out_fh)
        results.append(res)
    return results


def profile(model_dir, rows, warmup, out, fh, cfg_over=None, name="profile_1b.txt"):
    """CUDA time by kernel over 3 steady-state steps of the Teamlore recipe (after compile warm-up); "profile+k=v"
    profiles the recipe with that option (written to profile_1b_k_v.txt)."""
    from torch.profiler import ProfilerActivity, profile as tprofile, schedule
    prof = tprofile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA],
                    schedule=schedule(wait=warmup, warmup=1, active=3, repeat=1))
    prof.start()
    teamlore_run(model_dir, rows, steps=5, warmup=warmup, cfg_over=cfg_over, on_step=lambda m: prof.step())
    prof.stop()
    table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=70)
    (out / name).write_text(table)
    print(table[:6000], flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1b")
    ap.add_argument("--variants", default="teamlore,reference,losscurve")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=6)
    ap.add_argument("--ref-steps", type=int, default=40)
    ap.add_argument("--ref-warmup", type=int, default=8)
    ap.add_argument("--curve-steps", type=int, default=30)
    ap.add_argument("--reference-dir", default=str(REPO.parent / "shared" / "bench"))
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON", help="LoraSFTConfig overrides")
    ap.add_argument("--out", default=os.environ.get("OUT", tempfile.mkdtemp()))
    a = ap.parse_args()
    sys.path.insert(0, a.reference_dir)
    import lora_hf_baseline as ref
    over = {}
    for kv in a.set:
        k, _, v = kv.partition("=")
        over[k] = json.loads(v)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    fh = open(out / "bench.jsonl", "a")
    import peft
    import transformers
    try:
        import liger_kernel
        liger = getattr(liger_kernel, "__version__", "installed")
    except ImportError:
        liger = None
    try:
        import torchao
        tao = torchao.__version__
    except Exception:
        tao = None
    from importlib.metadata import PackageNotFoundError, version
    try:
        liger = version("liger-kernel")
    except PackageNotFoundError:
        pass
    log({"gpu": torch.cuda.get_device_name(), "torch": torch.__version__, "transformers": transformers.__version__,
         "peft": peft.__version__, "liger_kernel": liger, "torchao": tao, "cuda": torch.version.cuda}, fh)
    models_root = Path(tempfile.mkdtemp(prefix="tl_models_"))
    table = []
    for size in a.sizes.split(","):
        model_dir = save_random_model(size, models_root)
        for v in a.variants.split(","):
            try:
                if v.split("+")[0] in ("teamlore", "qlora", "profile"):
                    # "teamlore+compile=off+fused_ce=chunked": an ablation of one recipe option at a time
                    name, *pairs = v.split("+")
                    vo = {**SIZE_DEFAULTS.get(size, {}), **over}
                    if name == "qlora":
                        vo.update({"quantize_4bit": True, **QLORA_DEFAULTS.get(size, {})})
                    for kv in pairs:
                        k, _, val = kv.partition("=")
                        try:
                            vo[k] = json.loads(val)
                        except json.JSONDecodeError:
                            vo[k] = val
                    n_rows = (a.steps + a.warmup + 2) * 64
                    rows = ref.Rows(ref.lengths(n_rows, 350, 2048), 128256).rows
                    if name == "profile":
                        profile(model_dir, rows, a.warmup, out, fh, cfg_over=vo,
                                name=f"profile_{size}" + re.sub(r"\W+", "_", v[len("profile"):]) + ".txt")
                        continue
                    steps = a.steps if not pairs else max(8, a.steps // 2)
                    r = teamlore_run(model_dir, rows, steps=steps, warmup=a.warmup, cfg_over=vo)
                    r.update(size=size, recipe=v)
                    log(r, fh)
                    table.append(r)
                elif v == "reference":
                    free()
                    r = reference_run(ref, size, a.ref_steps, a.ref_warmup)
                    r.update(recipe="reference", size=size)
                    log(r, fh)
                    table.append(r)
                elif v.split("+")[0] == "losscurve":
                    extra = {}
                    for kv in v.split("+")[1:]:
                        k, _, val = kv.partition("=")
                        try:
                            extra[k] = json.loads(val)
                        except json.JSONDecodeError:
                            extra[k] = val
                    runs = {"teamlore": dict(over)}
                    if extra:
                        runs[v.replace("losscurve", "teamlore", 1)] = {**over, **extra}
                    losscurve(ref, model_dir, size, a.curve_steps, fh, runs)
                elif v == "qlora-curve":
                    qlora_curves(model_dir, size, a.curve_steps, fh, ref.lengths(a.curve_steps * 8, 350, 2048, seed=3))
            except Exception as exc:
                err = {"variant": v, "size": size, "error": repr(exc)[:400], "trace": traceback.format_exc()[-3000:]}
                log(err, fh)
                if v == "reference" or v.split("+")[0] in ("teamlore", "qlora"):
                    table.append({"size": size, "recipe": v, "error": repr(exc)[:160]})
            free()
    print("\nsize  " + "recipe".ljust(60) + " tokens/s   step_s   peak_GiB  MFU")
    for r in table:
        if "error" in r:
            print(f"{r['size']:5} {r['recipe'][:60]:60} failed: {r['error']}")
            continue
        print(f"{r['size']:5} {r['recipe'][:60]:60} {r['tokens_per_s']:9} {r['step_s']:8} {r['peak_mem_gib']:9} "
              f"{r['approx_mfu']}")
    for size in a.sizes.split(","):
        t = [r for r in table if r["size"] == size and r["recipe"] == "teamlore" and "error" not in r]
        b = [r for r in table if r["size"] == size and r["recipe"] == "reference" and "error" not in r]
        if t and b:
            log({"size": size, "speedup": round(t[0]["tokens_per_s"] / b[0]["tokens_per_s"], 2),
                 "memory_ratio": round(t[0]["peak_mem_gib"] / b[0]["peak_mem_gib"], 3)}, fh)


if __name__ == "__main__":
    main()
