"""Is the FP8 base (finetune/fp8.py) training the same problem as the bf16 base? A CPU check (issue #18).

A random-weight Llama of a small shape (bf16, tied embeddings), the learnable rows of lora_throughput.py's
losscurve (tokens from a 512-token subset, lognormal lengths mean 350, 8 rows a step, fixed order), and the
recipe's own code paths (load_causal_lm, lora_for, prepare_model, the packed loss; `finetune` for the curves):

  step 1   the LoRA gradients of one step, bf16 base against: the FP8 base; FP8 forward only (exact backward
           through the dequantised weight); FP8 backward only (exact forward); "+compile": under torch.compile
           (inductor on the CPU) — cosine and norm ratio per tensor, the trainable parameter set, the gradient
           norm the clipping sees
  --curve  30 steps of the recipe (linear schedule, lr 2e-4), bf16 base and FP8 base: losses and gradient norms

    python benchmarks/fp8_check_cpu.py --hidden 256 --layers 4 --vocab 32768 --curve
    python benchmarks/fp8_check_cpu.py --hidden 2048 --layers 2 --vocab 128256 --modes fp8   # the 1B width
    python benchmarks/fp8_check_cpu.py --modes dense+compile,fp8+compile
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks.lora_throughput import structured_rows  # noqa: E402
from benchmarks.qlora_curve_cpu import lengths  # noqa: E402


def save_model(root: Path, hidden: int, layers: int, vocab: int) -> Path:
    from transformers import LlamaConfig, LlamaForCausalLM
    cfg = LlamaConfig(vocab_size=vocab, hidden_size=hidden, intermediate_size=4 * hidden, num_hidden_layers=layers,
                      num_attention_heads=max(8, hidden // 64), num_key_value_heads=max(2, hidden // 256),
                      max_position_embeddings=4096, tie_word_embeddings=True)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).to(torch.bfloat16).save_pretrained(root / "base")
    return root / "base"


_ORIG: dict = {}


def _patch_fp8(mode: str) -> None:
    """fp8: the module as it is; fp8_fwd: its forward, an exact backward through the dequantised W^T copy;
    fp8_bwd: an exact forward through the dequantised W, its backward; exact: both exact (weight error only)."""
    import finetune.fp8 as f8
    fn = f8._FP8Matmul
    _ORIG.setdefault("fb", (fn.__dict__["forward"], fn.__dict__["backward"]))
    fn.forward, fn.backward = _ORIG["fb"]

    def exact_fwd(ctx, x, w8, s_w, wt8, s_wt):
        ctx.save_for_backward(wt8, s_wt)
        ctx.x_dtype = x.dtype
        return (x.float() @ (w8.float() * s_w.t()).t()).to(torch.bfloat16).to(x.dtype)

    def exact_bwd(ctx, dy):
        wt8, s_wt = ctx.saved_tensors
        dx = dy.float() @ (wt8.float() * s_wt.t()).t()
        return dx.to(torch.bfloat16).to(ctx.x_dtype), None, None, None, None
    if mode in ("fp8_bwd", "exact"):
        fn.forward = staticmethod(exact_fwd)
    if mode in ("fp8_fwd", "exact"):
        fn.backward = staticmethod(exact_bwd)


def step1_grads(model_dir: Path, examples, mode: str) -> dict:
    from finetune.config import LoraSFTConfig
    from finetune.data import collate_packed
    from finetune.fp8 import FP8Linear
    from finetune.loop import build_plan, causal_lm_of, prepare_model
    from finetune.models import load_causal_lm, lora_for
    mode, _, compiled = mode.partition("+")     # "fp8+compile": the decoder layers under torch.compile (inductor)
    _patch_fp8(mode)
    fp8 = mode != "dense"
    cfg = LoraSFTConfig(base_model=str(model_dir), dataset_dir="", output_dir=tempfile.mkdtemp(), shuffle=False,
                        examples_per_step=8, compile="on" if compiled else "off", precision="bf16", base_fp8=fp8,
                        seed=0)
    base = load_causal_lm(str(model_dir), dtype=torch.bfloat16, device=torch.device("cpu"), base_fp8=fp8)
    torch.manual_seed(cfg.seed)
    model = lora_for(base, cfg)
    packed, _ = prepare_model(model, cfg, torch.device("cpu"))
    plan, _ = build_plan(examples, cfg, 1)
    n_targets = sum(examples[i].n_targets for row in plan[0] for i in row)
    loss = 0.0
    for row in plan[0]:
        b = collate_packed([examples[i] for i in row])
        with torch.autocast("cpu", dtype=torch.bfloat16):
            s = packed(b.input_ids, b.position_ids, b.loss_targets, b.cu_seqlens, b.max_seqlen, b.loss_index)
        (s / n_targets).backward()
        loss += s.item()
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    causal = causal_lm_of(model)
    _patch_fp8("fp8")
    return {"loss": loss / n_targets, "grads": {n: p.grad.float().clone() for n, p in trainable.items()},
            "trainable": sorted(f"{n}:{p.dtype}" for n, p in trainable.items()),
            "grad_norm": torch.cat([p.grad.float().flatten() for p in trainable.values()]).norm().item(),
            "fp8_linears": sum(isinstance(m, FP8Linear) for m in model.modules()),
            "head_is_fp8": isinstance(causal.get_output_embeddings(), FP8Linear)}


def compare(dense: dict, other: dict) -> dict:
    cos = torch.nn.functional.cosine_similarity
    per = {}
    for n, g in dense["grads"].items():
        if g.abs().sum() == 0:        # lora_A: zero at step 1 (lora_B starts at zero)
            continue
        h = other["grads"][n]
        short = n.replace("base_model.model.model.", "").replace(".default.weight", "")
        per[short] = (round(cos(g.flatten(), h.flatten(), dim=0).item(), 4), round((h.norm() / g.norm()).item(), 4))
    return {"loss": round(other["loss"], 5), "loss_dense": round(dense["loss"], 5),
            "same_trainable_set": other["trainable"] == dense["trainable"], "n_trainable": len(other["trainable"]),
            "grad_norm_ratio": round(other["grad_norm"] / dense["grad_norm"], 4),
            "grad_norm_dense": round(dense["grad_norm"], 4), "fp8_linears": other["fp8_linears"],
            "head_is_fp8": other["head_is_fp8"],
            "cos_min_mean": [min(c for c, _ in per.values()), round(sum(c for c, _ in per.values()) / len(per), 4)],
            "norm_ratio_min_max": [min(r for _, r in per.values()), max(r for _, r in per.values())],
            "per_tensor_cos_norm_ratio": per}


def curve(model_dir: Path, examples, steps: int, fp8: bool) -> dict:
    from finetune.config import LoraSFTConfig
    from finetune.recipes.lora_sft import finetune
    hist = []
    cfg = LoraSFTConfig(base_model=str(model_dir), dataset_dir="", output_dir=tempfile.mkdtemp(), max_steps=steps,
                        checkpoint_every=0, shuffle=False, lr=2e-4, examples_per_step=8, schedule="linear",
                        warmup_steps=0, seed=0, compile="off", precision="bf16", base_fp8=fp8)
    finetune(cfg, examples, pad_id=0, device=torch.device("cpu"), on_metrics=hist.append)
    losses = [round(h["loss"], 4) for h in hist]
    return {"base": "fp8" if fp8 else "bf16", "losses": losses, "grad_norms": [round(h["grad_norm"], 4) for h in hist],
            "drop_step1_to_last10": round(losses[0] - sum(losses[-10:]) / 10, 4)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hidden", type=int, default=256)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--vocab", type=int, default=32768)
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--modes", default="fp8,fp8_fwd,fp8_bwd,exact")
    ap.add_argument("--curve", action="store_true")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    from finetune.data import Example, shift
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model_dir = save_model(Path(tempfile.mkdtemp(prefix="fp8_cpu_")), a.hidden, a.layers, a.vocab)
    rows = structured_rows(lengths(a.steps * 8, 350, 2048, seed=3), vocab_size=a.vocab)
    examples = [Example(list(r), shift(list(r))) for r in rows]
    out = open(a.out, "a") if a.out else None
    shape = {"hidden": a.hidden, "layers": a.layers, "vocab": a.vocab}

    def log(obj):
        line = json.dumps({"shape": shape, **obj})
        print(line, flush=True)
        if out:
            out.write(line + "\n")
    dense = step1_grads(model_dir, examples[:8], "dense")
    for mode in a.modes.split(","):
        log({"step1": mode, **compare(dense, step1_grads(model_dir, examples[:8], mode))})
    if a.curve:
        runs = []
        for fp8 in (False, True):
            t0 = time.time()
            runs.append(curve(model_dir, examples, a.steps, fp8))
            log({**runs[-1], "s": round(time.time() - t0)})
        gaps = [abs(u - v) for u, v in zip(runs[0]["losses"], runs[1]["losses"])]
        log({"curve_gap_fp8_vs_bf16": {"max": round(max(gaps), 4), "mean": round(sum(gaps) / len(gaps), 4)},
             "drop_ratio_fp8_over_bf16": round(runs[1]["drop_step1_to_last10"] / runs[0]["drop_step1_to_last10"], 3)})


if __name__ == "__main__":
    main()
