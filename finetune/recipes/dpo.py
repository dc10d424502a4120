"""Direct Preference Optimisation (DPO, Rafailov et al. 2023) with LoRA on preference pairs.

    python -m finetune.recipes.dpo --base PATH_OR_HUB_ID --dataset var/datasets/<version> --out var/runs/x

A pair is one line of `preference.train.jsonl` (TRL's conversational preference format):
    {"prompt": [{"role": "user", "content": "..."}], "chosen": [{"role": "assistant", "content": "..."}],
     "rejected": [{"role": "assistant", "content": "..."}], "id": "...", "meta": {...}}
(`chosen`/`rejected` may also be plain strings). Held-out pairs come from `preference.validation.jsonl` or
`preference.test.jsonl`.

The loss, for policy pi (base + LoRA) and reference pi_ref (the policy as it starts, frozen):
    margin = (log pi(chosen) - log pi_ref(chosen)) - (log pi(rejected) - log pi_ref(rejected))
    loss   = -log sigmoid(beta * margin)                       (+ sft_weight * NLL(chosen) per token, optional)
The policy starts from a new LoRA adapter (then pi_ref is the bare base model) or, with `init_adapter`, from a
parent version's adapter — the usual DPO-after-SFT: the policy continues from the SFT adapter and pi_ref is that
SFT model, frozen. Reference log-probabilities (train and held-out pairs) are computed once before the first step
(one model in memory, as TRL's `precompute_ref_log_probs`). Sequences are packed padding-free like the SFT recipe (finetune/data.py); only the
final assistant turn of each sequence is scored, and a pair's two sequences always share a packed row.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from finetune import checkpoint as ckpt
from finetune.config import LoraSFTConfig, from_dict, parse_overrides, to_dict
from finetune.data import (IGNORE, DatasetError, Example, collate_packed, ensure_chat_template, epoch_order,
                           jsonl_objects, pack_in_order, tokenize_conversation, _normalise_messages)
from finetune.evaluate import heldout_loss
from finetune.loop import (TrainingError, apply_step, autocast_dtype, block_causal_mask, causal_lm_of, decoder_of,
                           lr_lambda, make_optimizer, pick_device, prepare_model, resolve_precision, setup_distributed)
from finetune.metrics import Monitor
from finetune.models import check_base_model, count_params, load_causal_lm, load_tokenizer, lora_for

PAIR_FILES = {"train": "preference.train.jsonl", "validation": "preference.validation.jsonl",
              "test": "preference.test.jsonl"}


@dataclass
class DPOConfig(LoraSFTConfig):
    beta: float = 0.1                     # strength of the KL anchor to the reference model
    label_smoothing: float = 0.0          # conservative DPO (cDPO): assumed fraction of flipped labels
    sft_weight: float = 0.0               # add this times the chosen answers' token NLL (RPO-style)
    pairs_per_step: int = 16              # preference pairs per optimizer step
    lr: float = 5e-5
    micro_batch_tokens: int = 4096        # tokens of one packed row (a pair's two sequences never split)
    min_train_examples: int = 4           # pairs
    min_train_tokens: int = 0


@dataclass
class Pair:
    chosen: Example      # targets: the chosen answer's tokens only
    rejected: Example
    pair_id: str = ""

    def __len__(self) -> int:
        return len(self.chosen) + len(self.rejected)


# --- data ------------------------------------------------------------------------------------------

def _turns(value, where: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": "assistant", "content": value}]
    turns = _normalise_messages(value, where)
    if turns[-1]["role"] != "assistant":
        raise DatasetError(f"{where}: the last message of a chosen/rejected answer must be the assistant's")
    return turns


def read_pairs(path: str | Path) -> list[dict]:
    """Read one split of preference pairs; malformed lines raise with their line number."""
    path = Path(path)
    out = []
    needs = "a preference pair needs 'prompt', 'chosen' and 'rejected'"
    for lineno, where, obj in jsonl_objects(path, needs):
        if not {"prompt", "chosen", "rejected"} <= set(obj):
            raise DatasetError(f"{where}: {needs}")
        prompt = obj["prompt"]
        prompt = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else _normalise_messages(prompt, where)
        chosen, rejected = _turns(obj["chosen"], where), _turns(obj["rejected"], where)
        if chosen == rejected:
            raise DatasetError(f"{where}: chosen and rejected are the same answer")
        out.append({"id": str(obj.get("id", f"{path.stem}:{lineno}")), "prompt": prompt, "chosen": chosen,
                    "rejected": rejected})
    return out


def last_turn_only(ex: Example) -> Example:
    """Keep the targets of the final assistant turn (earlier assistant turns are the prompt's history)."""
    t = list(ex.targets)
    end = max((i for i, v in enumerate(t) if v != IGNORE), default=-1)
    start = end
    while start > 0 and t[start - 1] != IGNORE:
        start -= 1
    return Example(ex.input_ids, [v if start <= i <= end else IGNORE for i, v in enumerate(t)])


def tokenize_pairs(tokenizer, pairs: list[dict], max_seq_len: int) -> tuple[list[Pair], int]:
    """-> (pairs, dropped): a pair is dropped when truncation leaves either answer without a token."""
    out, dropped = [], 0
    for p in pairs:
        c = tokenize_conversation(tokenizer, p["prompt"] + p["chosen"], max_seq_len)
        r = tokenize_conversation(tokenizer, p["prompt"] + p["rejected"], max_seq_len)
        if c is None or r is None:
            dropped += 1
            continue
        out.append(Pair(last_turn_only(c), last_turn_only(r), p["id"]))
    return out, dropped


def load_pairs(cfg: DPOConfig, tokenizer) -> dict[str, list[Pair]]:
    root = Path(cfg.dataset_dir)
    if not (root / PAIR_FILES["train"]).is_file():
        raise DatasetError(f"{root} has no {PAIR_FILES['train']}: build preference pairs from feedback first "
                           "(the feedback dataset builder writes them)")
    ensure_chat_template(tokenizer, cfg.chat_template)
    out, dropped = {}, {}
    for split, name in PAIR_FILES.items():
        if (root / name).is_file():
            out[split], dropped[split] = tokenize_pairs(tokenizer, read_pairs(root / name), cfg.max_seq_len)
    if len(out["train"]) < cfg.min_train_examples:
        cut = f" ({dropped['train']} dropped: max_seq_len={cfg.max_seq_len} cuts their answers off)" \
            if dropped.get("train") else ""
        raise DatasetError(f"{root / PAIR_FILES['train']} has {len(out['train'])} usable pairs{cut}; DPO needs at "
                           f"least {cfg.min_train_examples}")
    return out


# --- the loss --------------------------------------------------------------------------------------

def _chunk_logps(h, w, t):
    return -F.cross_entropy(F.linear(h, w).float(), t, reduction="none")


def sequence_logps(packed, examples: list[Example], device: torch.device, pad_to: int | None = None,
                   pad_id: int = 0) -> torch.Tensor:
    """Summed log-probability of each example's target tokens, [len(examples)], from one packed row."""
    b = collate_packed(examples, pad_to=pad_to, pad_id=pad_id).to(device)
    causal = causal_lm_of(packed.model)
    kw = {}
    if packed.attention == "sdpa":
        kw["attention_mask"] = block_causal_mask(b.position_ids)
    else:
        kw = {"cu_seq_lens_q": b.cu_seqlens, "cu_seq_lens_k": b.cu_seqlens,
              "max_length_q": pad_to or b.max_seqlen, "max_length_k": pad_to or b.max_seqlen}
    hidden = decoder_of(causal)(input_ids=b.input_ids, position_ids=b.position_ids, use_cache=False,
                                **kw).last_hidden_state[0]
    weight = causal.get_output_embeddings().weight
    lengths = torch.tensor([len(e) for e in examples], device=device)
    doc = torch.repeat_interleave(torch.arange(len(examples), device=device), lengths)
    targets = b.targets[0, :len(doc)]
    idx = (targets != IGNORE).nonzero(as_tuple=True)[0]
    h, t, d = hidden.index_select(0, idx), targets.index_select(0, idx), doc.index_select(0, idx)
    out = torch.zeros(len(examples), device=device, dtype=torch.float32)
    step = packed.chunk_tokens
    for s in range(0, h.shape[0], step):  # never the logits of the whole row at once
        hc, tc = h[s:s + step], t[s:s + step]
        part = checkpoint(_chunk_logps, hc, weight, tc, use_reentrant=False) if torch.is_grad_enabled() \
            else _chunk_logps(hc, weight, tc)
        out = out.index_add(0, d[s:s + step], part)
    return out


def dpo_loss(pc: torch.Tensor, pr: torch.Tensor, rc: torch.Tensor, rr: torch.Tensor, beta: float,
             label_smoothing: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-pair DPO loss and implicit reward margin, from policy (p) and reference (r) log-probs of the
    chosen (c) and rejected (r) answers."""
    margin = (pc - rc) - (pr - rr)
    loss = -F.logsigmoid(beta * margin) * (1 - label_smoothing) - F.logsigmoid(-beta * margin) * label_smoothing
    return loss, beta * margin.detach()


def pair_rows(pairs: list[Pair], order: list[int], capacity: int) -> list[list[int]]:
    """Pack pairs (both sequences together) into rows of at most `capacity` tokens."""
    rows = pack_in_order([len(pairs[i]) for i in order], capacity)
    return [[order[i] for i in row] for row in rows]


def flat(pairs: list[Pair], row: list[int]) -> list[Example]:
    return [e for i in row for e in (pairs[i].chosen, pairs[i].rejected)]


@torch.no_grad()
def pair_logps(packed, pairs: list[Pair], device, capacity: int, amp=None) -> torch.Tensor:
    """[n, 2] summed log-probs (chosen, rejected) of every pair, no gradient."""
    out = torch.zeros(len(pairs), 2)
    was = packed.training
    packed.eval()
    for row in pair_rows(pairs, list(range(len(pairs))), max(capacity, max((len(p) for p in pairs), default=1))):
        with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
            lp = sequence_logps(packed, flat(pairs, row), device).float().cpu().view(-1, 2)
        out[row] = lp
    packed.train(was)
    return out


def margins(packed, model, pairs: list[Pair], device, capacity: int, amp=None,
            ref: torch.Tensor | None = None) -> dict:
    """Held-out comparison: mean log-prob margin (chosen - rejected) of the policy and of the reference
    (`ref`: the reference's [n, 2] log-probs computed before training; None: the base, adapter switched off)."""
    if not pairs:
        return {"pairs": 0}
    pol = pair_logps(packed, pairs, device, capacity, amp)
    if ref is None:
        with model.disable_adapter():
            ref = pair_logps(packed, pairs, device, capacity, amp)
    pm, rm = pol[:, 0] - pol[:, 1], ref[:, 0] - ref[:, 1]
    return {"pairs": len(pairs), "policy_margin": round(float(pm.mean()), 4),
            "reference_margin": round(float(rm.mean()), 4),
            "margin_gain": round(float((pm - rm).mean()), 4),
            "reward_accuracy": round(float(((pm - rm) > 0).float().mean()), 4),
            "policy_prefers_chosen": round(float((pm > 0).float().mean()), 4)}


# --- training --------------------------------------------------------------------------------------

def train_dpo(cfg: DPOConfig, model, pairs: list[Pair], *, device: torch.device, pad_id: int = 0,
              on_metrics: Callable[[dict], None] | None = None, should_cancel: Callable[[], bool] | None = None,
              ref_logps: torch.Tensor | None = None, heldout: list[Pair] | None = None):
    """Optimise the LoRA weights of `model` (a PeftModel) on `pairs`. The reference is the model as it is
    handed in (a new adapter adds nothing: the base; a parent's adapter: the parent). Returns (LoopResult-like
    dict, packed); the dict's "heldout_ref_logps" are the reference's log-probs of `heldout`."""
    from peft import get_peft_model_state_dict, set_peft_model_state_dict
    precision = resolve_precision(cfg.precision, device)
    amp = autocast_dtype(precision)
    torch.manual_seed(cfg.seed)
    packed, setup = prepare_model(model, cfg, device)
    setup["precision"] = precision
    cap = max(cfg.micro_batch_tokens, max(len(p) for p in pairs))
    if ref_logps is None:
        ref_logps = pair_logps(packed, pairs, device, cap, amp)   # the policy before its first step
    heldout_ref = pair_logps(packed, heldout, device, cap, amp) if heldout else None
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError("the model has no trainable parameters")
    optimizer = make_optimizer(trainable, cfg, device)
    per_epoch = max(1, len(pairs) // cfg.pairs_per_step)
    total = cfg.max_steps if cfg.max_steps is not None else max(1, round(per_epoch * cfg.epochs))
    plan: list[list[int]] = []
    epoch = 0
    while len(plan) < total:
        order = epoch_order(len(pairs), cfg.seed, epoch, cfg.shuffle)
        plan += [order[s:s + cfg.pairs_per_step] for s in range(0, per_epoch * cfg.pairs_per_step,
                                                                 cfg.pairs_per_step)]
        epoch += 1
    plan = plan[:total]
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total))
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    monitor = Monitor(cfg.spike_factor, cfg.stall_steps, on_metrics)

    ckpt_dir = Path(cfg.output_dir) / "checkpoints"
    start, resumed_from = 0, None
    found = ckpt.latest(ckpt_dir)
    if found is not None:
        blob = ckpt.load(found, map_location=device)
        st = blob["state"]
        if st.get("plan_len") != len(plan) or st.get("recipe") != "dpo":
            raise TrainingError(f"checkpoint {found} belongs to another run; use a new output_dir")
        set_peft_model_state_dict(model, blob["weights"])
        optimizer.load_state_dict(blob["optimizer"])
        scheduler.load_state_dict(st["scheduler"])
        ckpt.set_rng_state(st["rng"])
        monitor.load_state_dict(st["monitor"])
        monitor.history = list(st.get("history", []))
        start = resumed_from = st["step"]

    def save(step: int) -> None:
        weights = {k: v.detach().cpu().clone() for k, v in get_peft_model_state_dict(model).items()}
        ckpt.save(ckpt_dir, step, weights=weights, optimizer=optimizer.state_dict(),
                  state={"step": step, "recipe": "dpo", "scheduler": scheduler.state_dict(), "rng": ckpt.rng_state(),
                         "monitor": monitor.state_dict(), "history": monitor.history, "plan_len": len(plan)})

    status, step = "done", start
    packed.train()
    monitor.reset_clock()
    t_start = time.perf_counter()
    tokens_seen = 0
    for step in range(start, total):
        if should_cancel is not None and should_cancel():
            status = "cancelled"
            break
        ids = plan[step]
        n = len(ids)
        loss_sum, reward_sum, acc, step_tokens = 0.0, 0.0, 0, 0
        for row in pair_rows(pairs, ids, cap):
            with torch.autocast(device.type, dtype=amp, enabled=amp is not None):
                lp = sequence_logps(packed, flat(pairs, row), device).view(-1, 2)
            ref = ref_logps[row].to(device)
            loss, reward = dpo_loss(lp[:, 0], lp[:, 1], ref[:, 0], ref[:, 1], cfg.beta, cfg.label_smoothing)
            total_loss = loss.sum() / n
            if cfg.sft_weight:
                n_tok = sum(pairs[i].chosen.n_targets for i in row)
                total_loss = total_loss - cfg.sft_weight * lp[:, 0].sum() / max(n_tok, 1) * (len(row) / n)
            (scaler.scale(total_loss) if scaler is not None else total_loss).backward()
            loss_sum += float(loss.detach().sum())
            reward_sum += float(reward.sum())
            acc += int((reward > 0).sum())
            step_tokens += sum(len(pairs[i]) for i in row)
        if scaler is not None:
            scaler.unscale_(optimizer)
        grad_norm = float(torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip if cfg.grad_clip > 0 else math.inf))
        step_loss = loss_sum / n
        lr = apply_step(optimizer, scaler, scheduler, step_loss, grad_norm)
        tokens_seen += step_tokens
        monitor.step(step + 1, loss=step_loss, lr=lr, grad_norm=grad_norm, tokens=step_tokens,
                     extra={"progress": round((step + 1) / total, 4), "reward_margin": round(reward_sum / n, 4),
                            "reward_accuracy": round(acc / n, 4)})
        if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < total:
            save(step + 1)
    else:
        step = total
    done = step if status == "cancelled" else total
    save(done)
    elapsed = time.perf_counter() - t_start
    result = {"status": status, "steps": done, "tokens": tokens_seen, "history": monitor.history,
              "final_loss": monitor.history[-1]["loss"] if monitor.history else float("nan"),
              "alerts": monitor.alerts, "resumed_from": resumed_from, "heldout_ref_logps": heldout_ref,
              "setup": setup | {"tokens_per_s": round(tokens_seen / elapsed, 1) if elapsed > 0 else None}}
    return result, packed


def finetune(cfg: DPOConfig, pairs: list[Pair], *, pad_id: int, device: torch.device, on_metrics=None,
             should_cancel=None, heldout: list[Pair] | None = None, before: Callable | None = None):
    """Base model + LoRA (new, or cfg.init_adapter's to continue) + DPO on already tokenised pairs (benchmarks
    call this with synthetic pairs). `before(model)` runs on the policy before training (the reference)."""
    precision = resolve_precision(cfg.precision, device)
    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision, torch.float32)
    base = load_causal_lm(cfg.base_model, dtype=dtype, device=device, quantize_4bit=cfg.quantize_4bit,
                          base_fp8=cfg.base_fp8)
    torch.manual_seed(cfg.seed)
    model = lora_for(base, cfg)
    total, trainable = count_params(model)
    before_out = before(model) if before is not None else None
    result, packed = train_dpo(cfg, model, pairs, device=device, pad_id=pad_id, on_metrics=on_metrics,
                               should_cancel=should_cancel, heldout=heldout)
    result["before"] = before_out
    return model, packed, result, {"precision": precision, "params": total, "trainable_params": trainable}


def run(cfg: DPOConfig, *, on_metrics: Callable[[dict], None] | None = None,
        should_cancel: Callable[[], bool] | None = None) -> dict:
    """Train, save the adapter atomically, and report held-out margins and (when the folder has chat splits)
    held-out loss of base and adapter — the same summary shape as lora_sft.run."""
    d = setup_distributed()
    if d.enabled:
        raise TrainingError("the DPO recipe runs in one process (one GPU); start it without torchrun")
    device = pick_device(d)
    check_base_model(cfg.base_model)
    tokenizer = load_tokenizer(cfg.base_model)
    data = load_pairs(cfg, tokenizer)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    held = "validation" if data.get("validation") else ("test" if data.get("test") else None)
    from finetune.data import read_chat_jsonl, split_files, tokenize_conversations
    try:
        files = split_files(cfg.dataset_dir)
    except DatasetError:
        files = {}
    chat_ex = (tokenize_conversations(tokenizer, read_chat_jsonl(files["validation"]), cfg.max_seq_len)
               if "validation" in files else None)

    def reference_loss(model):  # held-out chat loss of the reference (the parent's adapter) before training
        if chat_ex is None or not cfg.init_adapter:
            return None
        return heldout_loss(model, chat_ex, device, micro_batch_tokens=cfg.micro_batch_tokens)

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()
    model, packed, result, info = finetune(cfg, data["train"], pad_id=pad_id, device=device, on_metrics=on_metrics,
                                           should_cancel=should_cancel, heldout=data[held] if held else None,
                                           before=reference_loss)
    summary = {**{k: result[k] for k in ("status", "steps", "tokens", "final_loss", "alerts", "resumed_from",
                                         "setup", "history")},
               "recipe": "dpo", "params": info["params"], "trainable_params": info["trainable_params"],
               "precision": info["precision"], "train_examples": len(data["train"]),
               "train_tokens": sum(len(p) for p in data["train"]), "config": to_dict(cfg)}
    if torch.cuda.is_available():
        summary["peak_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 3)
    if result["status"] != "done":
        return summary
    out_dir = Path(cfg.output_dir)
    summary["adapter_dir"] = str(ckpt.save_pretrained_atomic(model, tokenizer, out_dir / "adapter"))
    amp = autocast_dtype(info["precision"])
    reference = "parent_adapter" if cfg.init_adapter else "base"
    if held:
        summary["preference_eval"] = {"split": held, "reference": reference,
                                      **margins(packed, model, data[held], device, cfg.micro_batch_tokens, amp,
                                                ref=result["heldout_ref_logps"])}
    if chat_ex is not None:
        summary["eval"] = {"split": "validation", "adapter": heldout_loss(model, chat_ex, device,
                                                                         micro_batch_tokens=cfg.micro_batch_tokens)}
        with model.disable_adapter():
            summary["eval"]["base"] = heldout_loss(model, chat_ex, device, micro_batch_tokens=cfg.micro_batch_tokens)
        if result.get("before") is not None:
            summary["eval"]["parent"] = result["before"]
    return summary


def parse_args(argv=None) -> DPOConfig:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--base", required=True, help="HF model directory or hub id (or an SFT-merged model)")
    ap.add_argument("--init-adapter", default=None, help="continue from this LoRA adapter (e.g. the SFT run's): "
                    "the policy starts from it and the reference is it, frozen")
    ap.add_argument("--dataset", required=True, help="folder with preference.train.jsonl (+ validation/test)")
    ap.add_argument("--out", required=True, help="run directory (checkpoints, adapter)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=JSON",
                    help="any DPOConfig field, e.g. --set beta=0.2 --set lr=1e-4")
    a = ap.parse_args(argv)
    extra = parse_overrides(a.set)
    return from_dict(DPOConfig, {"base_model": a.base, "dataset_dir": a.dataset, "output_dir": a.out,
                                 "max_steps": a.steps, "epochs": a.epochs, "init_adapter": a.init_adapter, **extra})


def main(argv=None) -> None:
    cfg = parse_args(argv)
    summary = run(cfg, on_metrics=lambda m: print(json.dumps(
        {k: m.get(k) for k in ("step", "loss", "reward_margin", "reward_accuracy", "tokens_per_s")}), flush=True))
    if setup_distributed().is_main:  # the process group run() joined
        print(json.dumps({k: v for k, v in summary.items() if k not in ("history", "config")}, default=str))


if __name__ == "__main__":
    main()
