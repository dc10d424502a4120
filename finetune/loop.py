"""The training loop shared by every recipe, in one readable function (nanoGPT-style plainness).

One optimizer step = a few packed rows ("micro-batches") holding ~tokens_per_step real tokens in total. The loss of
a step is the sum of token cross-entropies divided by the number of target tokens of the whole step (all ranks,
all micro-batches), so accumulation and data parallelism give exactly the gradient of one big batch.
"""
from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

from finetune import checkpoint as ckpt
from finetune.config import TrainConfig
from finetune.data import Example, collate_packed, epoch_order, plan_steps
from finetune.metrics import Monitor
from finetune.ops import (check_liger_chunk_mem, choose_attention, choose_ce, linear_cross_entropy_sum,
                          set_attention)


class TrainingError(RuntimeError):
    """Training cannot go on; the message says what to change."""


# --- environment -----------------------------------------------------------------------------------

@dataclass
class Dist:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """Join the process group torchrun describes in the environment (no-op for a single process)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(local)
        dist.init_process_group(backend=backend)
    return Dist(rank, world, local)


def pick_device(d: Dist) -> torch.device:
    if torch.cuda.is_available():
        return torch.device("cuda", d.local_rank)
    return torch.device("cpu")


def resolve_precision(requested: str, device: torch.device) -> str:
    if requested != "auto":
        if requested not in {"bf16", "fp16", "fp32"}:
            raise ValueError(f"precision must be auto, bf16, fp16 or fp32, not {requested!r}")
        if device.type == "cpu" and requested == "fp16":
            raise ValueError("fp16 needs a CUDA GPU; use fp32 or bf16 on CPU")
        return requested
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    return "fp32"


def autocast_dtype(precision: str):
    return {"bf16": torch.bfloat16, "fp16": torch.float16}.get(precision)


# --- the packed LM --------------------------------------------------------------------------------

def causal_lm_of(model: nn.Module) -> nn.Module:
    """The transformers *ForCausalLM inside a PeftModel (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def decoder_of(causal: nn.Module) -> nn.Module:
    get_dec = getattr(causal, "get_decoder", None)
    dec = get_dec() if callable(get_dec) else None
    return dec if dec is not None else causal.model


def block_causal_mask(position_ids: torch.Tensor) -> torch.Tensor:
    """[B, 1, T, T] bool mask for SDPA: causal, and only within the example a token belongs to (examples start where
    position_ids restart at 0). Built explicitly because transformers' own packed-sequence detection is not applied
    on every version/path, and a silent leak across examples would change what is learned."""
    seg = (position_ids == 0).cumsum(-1)
    t = position_ids.shape[-1]
    causal = torch.ones(t, t, dtype=torch.bool, device=position_ids.device).tril()
    return ((seg[:, :, None] == seg[:, None, :]) & causal)[:, None]


class PackedCausalLM(nn.Module):
    """forward(packed row) -> summed token loss. The LM head runs inside the fused/chunked loss, so full logits
    never exist. This module is what DDP wraps, so gradient sync hooks see every forward."""

    def __init__(self, model: nn.Module, attention: str, ce: str, chunk_tokens: int, liger_chunk_mem: int = 1):
        super().__init__()
        self.model = model
        self.attention, self.ce, self.chunk_tokens = attention, ce, chunk_tokens
        self.liger_chunk_mem = liger_chunk_mem

    def forward(self, input_ids, position_ids, targets, cu_seqlens=None, max_seqlen=None, loss_index=None):
        causal = causal_lm_of(self.model)
        kw = {}
        if self.attention == "sdpa":
            kw["attention_mask"] = block_causal_mask(position_ids)
        if self.attention == "varlen":
            kw = {"cu_seq_lens_q": cu_seqlens, "cu_seq_lens_k": cu_seqlens,
                  "max_length_q": max_seqlen, "max_length_k": max_seqlen}
        out = decoder_of(causal)(input_ids=input_ids, position_ids=position_ids, use_cache=False, **kw)
        weight = causal.get_output_embeddings().weight
        return linear_cross_entropy_sum(out.last_hidden_state, weight, targets, self.ce, self.chunk_tokens,
                                        index=loss_index, liger_chunk_mem=self.liger_chunk_mem)


def prepare_model(model: nn.Module, cfg: TrainConfig, device: torch.device) -> tuple[PackedCausalLM, dict]:
    """Attention kind, CE kind, gradient checkpointing and torch.compile, resolved for this hardware."""
    attention = choose_attention(cfg.attention, device)
    ce = choose_ce(cfg.fused_ce, device)
    check_liger_chunk_mem(cfg.liger_chunk_mem, ce)
    causal = causal_lm_of(model)
    set_attention(causal, attention)
    if cfg.gradient_checkpointing:
        causal.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
    use_compile = cfg.compile == "on" or (cfg.compile == "auto" and device.type == "cuda")
    if use_compile:
        import torch._dynamo
        # identical layers share graphs, but each packed-row layout adds guards: leave room before eager fallback
        torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
        # Per decoder layer: the layers are identical, so one compiled graph is reused 16-28 times, and the
        # data-dependent parts (packing metadata, row selection for the loss) stay in eager code.
        for layer in decoder_of(causal).layers:
            layer.compile()
    return PackedCausalLM(model, attention, ce, cfg.loss_chunk_tokens, cfg.liger_chunk_mem), {
        "attention": attention, "fused_ce": ce, "compile": use_compile, "liger_chunk_mem": cfg.liger_chunk_mem}


# --- optimizer and schedule -----------------------------------------------------------------------

def make_optimizer(params: list[nn.Parameter], cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    decay = [p for p in params if p.ndim >= 2]
    no_decay = [p for p in params if p.ndim < 2]
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    groups = [g for g in groups if g["params"]]
    fused = device.type == "cuda"
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=cfg.betas, fused=fused)


def lr_lambda(cfg: TrainConfig, total_steps: int) -> Callable[[int], float]:
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else max(0, int(0.05 * total_steps))

    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if cfg.schedule == "constant":
            return 1.0
        progress = min(1.0, (step - warmup) / max(1, total_steps - warmup))
        if cfg.schedule == "linear":
            return 1.0 - progress
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    return f


# --- the loop --------------------------------------------------------------------------------------

@dataclass
class LoopResult:
    status: str                      # done | cancelled
    steps: int
    tokens: int
    final_loss: float
    history: list[dict] = field(default_factory=list)
    alerts: list[dict] = field(default_factory=list)
    resumed_from: int | None = None
    setup: dict = field(default_factory=dict)
    module: nn.Module | None = None   # what the loop ran (the FSDP root under FSDP): evaluate through it


def build_plan(examples: list[Example], cfg: TrainConfig, world_size: int) -> tuple[list[list[list[int]]], int]:
    """All optimizer steps of the run as lists of packed rows of example indices (deterministic from the seed, so
    a resumed run replays exactly the same data)."""
    plan: list[list[list[int]]] = []
    epochs = max(1, math.ceil(cfg.epochs)) if cfg.max_steps is None else 10**6
    first = None
    for epoch in range(epochs):
        order = epoch_order(len(examples), cfg.seed, epoch, cfg.shuffle)
        steps = plan_steps([examples[i] for i in order], cfg.tokens_per_step, cfg.micro_batch_tokens, world_size,
                           cfg.examples_per_step)
        steps = [[[order[i] for i in row] for row in step] for step in steps]
        if not steps:
            raise TrainingError(f"{len(examples)} examples make no full step for {world_size} rank(s); "
                                "add data or lower tokens_per_step")
        first = first or len(steps)
        plan += steps
        if cfg.max_steps is not None and len(plan) >= cfg.max_steps:
            break
    total = cfg.max_steps if cfg.max_steps is not None else max(1, round(first * cfg.epochs))
    return plan[:total], total


def train(cfg: TrainConfig, model: nn.Module, examples: list[Example], *, pad_id: int,
          trainable_state: Callable[[], dict], load_trainable: Callable[[dict], None],
          device: torch.device, d: Dist | None = None, on_metrics: Callable[[dict], None] | None = None,
          should_cancel: Callable[[], bool] | None = None) -> LoopResult:
    d = d or Dist()
    precision = resolve_precision(cfg.precision, device)
    amp_dtype = autocast_dtype(precision)
    torch.manual_seed(cfg.seed)

    packed, setup = prepare_model(model, cfg, device)
    setup["precision"] = precision
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise TrainingError("the model has no trainable parameters")
    runner: nn.Module = packed
    if d.enabled and getattr(causal_lm_of(model), "is_nf4_quantized", False):
        raise TrainingError("QLoRA (4-bit base) trains on one device; drop quantize_4bit for DDP/FSDP runs")
    if d.enabled and getattr(causal_lm_of(model), "is_fp8_base", False):
        raise TrainingError("base_fp8 trains on one device (its weights are not sharded or synced); drop base_fp8 "
                            "for DDP/FSDP runs")
    if d.enabled:
        if cfg.fsdp:
            from torch.distributed.fsdp import fully_shard
            # FSDP2: each decoder layer is one all-gather/reduce-scatter unit, the rest (embeddings, norm, head)
            # belongs to the root; parameters become DTensor shards
            for layer in decoder_of(causal_lm_of(model)).layers:
                fully_shard(layer)
            fully_shard(packed)
            trainable = [p for p in model.parameters() if p.requires_grad]
            setup["parallel"] = "fsdp"
        else:
            runner = nn.parallel.DistributedDataParallel(
                packed, device_ids=[device.index] if device.type == "cuda" else None)
            setup["parallel"] = "ddp"
    optimizer = make_optimizer(trainable, cfg, device)
    plan, total_steps = build_plan(examples, cfg, d.world_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(cfg, total_steps))
    scaler = torch.amp.GradScaler("cuda") if precision == "fp16" else None
    monitor = Monitor(cfg.spike_factor, cfg.stall_steps, on_metrics if d.is_main else None)
    pad_to = None
    if cfg.pad_to_multiple == "auto" and setup["compile"]:
        pad_to = cfg.micro_batch_tokens  # static shapes: one compiled graph for every row

    ckpt_dir = Path(cfg.output_dir) / "checkpoints"
    sharded = setup.get("parallel") == "fsdp"
    start_step, resumed_from = 0, None
    found = ckpt.latest(ckpt_dir)
    if found is not None:
        if ckpt.is_sharded(found):
            # any layout: FSDP on another number of ranks, DDP or one process (DCP reshards on load)
            st = ckpt.load_sharded(found, model=model, optimizer=optimizer)
        elif sharded:
            raise TrainingError(f"checkpoint {found} was written without FSDP; resume it without --fsdp")
        else:
            blob = ckpt.load(found, map_location=device)
            load_trainable(blob["weights"])
            optimizer.load_state_dict(blob["optimizer"])
            st = blob["state"]
        scheduler.load_state_dict(st["scheduler"])
        if scaler is not None and st.get("scaler"):
            scaler.load_state_dict(st["scaler"])
        rng = st["rng"]
        if isinstance(rng, list):
            # one state per rank; on another number of ranks, rank r continues from saved rank r mod n
            rng = rng[d.rank % len(rng)]
        ckpt.set_rng_state(rng)
        monitor.load_state_dict(st["monitor"])
        monitor.history = list(st.get("history", []))
        start_step = resumed_from = st["step"]
        if st.get("plan_len") not in (None, len(plan)):
            raise TrainingError(f"checkpoint {found} was made for a run of {st['plan_len']} steps, this run has "
                                f"{len(plan)}; use a new output_dir or the same settings")

    def save_checkpoint(step: int) -> None:
        rng = ckpt.rng_state()
        if d.enabled:
            every = [None] * d.world_size
            dist.all_gather_object(every, rng)
            rng = every
        state = {"step": step, "scheduler": scheduler.state_dict(),
                 "scaler": scaler.state_dict() if scaler is not None else None,
                 "rng": rng, "monitor": monitor.state_dict(), "history": monitor.history,
                 "plan_len": len(plan), "world_size": d.world_size,
                 "config": {k: v for k, v in vars(cfg).items()}}
        if sharded:
            ckpt.save_sharded(ckpt_dir, step, model=model, optimizer=optimizer, state=state)
            return
        weights = trainable_state()
        if d.is_main:
            ckpt.save(ckpt_dir, step, weights=weights, optimizer=optimizer.state_dict(), state=state)
        if d.enabled:
            dist.barrier()

    tokens_seen = sum(h.get("tokens", 0) for h in monitor.history)
    runner.train()
    status = "done"
    pin = device.type == "cuda"
    bucket = pad_to is not None and setup["attention"] == "varlen" and cfg.seqlen_buckets

    def step_batches(step: int) -> list:
        """This rank's packed rows of a step, collated on the host and queued for the device without waiting."""
        return [collate_packed([examples[i] for i in row], pad_to=pad_to, pad_id=pad_id,
                               bucket_seqlen=bucket).to(device, pin=pin)
                for row in plan[step][d.rank::d.world_size]]

    monitor.reset_clock()
    step = start_step
    upcoming = step_batches(start_step) if start_step < total_steps else []
    try:
        for step in range(start_step, total_steps):
            if should_cancel is not None and should_cancel():
                status = "cancelled"
                break
            rows = plan[step]
            step_targets = sum(examples[i].n_targets for row in rows for i in row)
            step_tokens = sum(len(examples[i]) for row in rows for i in row)
            batches = upcoming
            loss_sum = torch.zeros((), device=device)
            for k, batch in enumerate(batches):
                if pad_to is not None and not bucket:
                    # an upper bound is valid for flash varlen and keeps the int constant: no recompiles
                    batch.max_seqlen = pad_to
                last = k == len(batches) - 1
                if sharded:
                    runner.set_requires_gradient_sync(last)   # reduce-scatter once per step, not per row
                sync = contextlib.nullcontext() if last or not isinstance(runner, nn.parallel.DistributedDataParallel) \
                    else runner.no_sync()
                with sync:
                    with torch.autocast(device.type, dtype=amp_dtype, enabled=amp_dtype is not None):
                        s = runner(batch.input_ids, batch.position_ids, batch.loss_targets, batch.cu_seqlens,
                                   batch.max_seqlen, batch.loss_index)
                    # sum over ranks / global target count; DDP averages gradients, hence * world_size
                    loss = s * (d.world_size / max(step_targets, 1))
                    (scaler.scale(loss) if scaler is not None else loss).backward()
                loss_sum += s.detach()
            # the next step's rows are collated and queued while this step's backward still runs on the device
            upcoming = step_batches(step + 1) if step + 1 < total_steps else []
            if d.enabled:
                dist.all_reduce(loss_sum)
            if scaler is not None:
                scaler.unscale_(optimizer)
            grad_norm = torch.nn.utils.clip_grad_norm_(trainable, cfg.grad_clip if cfg.grad_clip > 0 else float("inf"))
            if hasattr(grad_norm, "full_tensor"):   # FSDP: a DTensor
                grad_norm = grad_norm.full_tensor()
            # one device->host sync per step, for both numbers
            loss_total, grad_norm_f = torch.stack([loss_sum.float(), grad_norm.float().to(loss_sum.device)]).tolist()
            step_loss = loss_total / max(step_targets, 1)
            lr = apply_step(optimizer, scaler, scheduler, step_loss, grad_norm_f)
            tokens_seen += step_tokens
            monitor.step(step + 1, loss=step_loss, lr=lr, grad_norm=grad_norm_f, tokens=step_tokens,
                         extra={"progress": round((step + 1) / total_steps, 4)})
            nonfinite = [h for h in monitor.history[-3:] if not math.isfinite(h["loss"])]
            if len(nonfinite) == 3:
                raise TrainingError(f"loss was not finite for 3 steps in a row (step {step + 1}); lower lr "
                                    f"(now {cfg.lr}) or use precision='fp32'/'bf16'")
            if cfg.checkpoint_every and (step + 1) % cfg.checkpoint_every == 0 and step + 1 < total_steps:
                save_checkpoint(step + 1)
        else:
            step = total_steps
    except torch.OutOfMemoryError as exc:
        peak = torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else 0
        raise TrainingError(
            f"out of GPU memory (peak {peak:.1f} GiB) with micro_batch_tokens={cfg.micro_batch_tokens}: lower "
            f"micro_batch_tokens (tokens_per_step={cfg.tokens_per_step} is kept by accumulation), or set "
            "gradient_checkpointing=True, or quantize_4bit=True for LoRA") from exc
    done_steps = step if status == "cancelled" else total_steps
    save_checkpoint(done_steps)
    losses = [h["loss"] for h in monitor.history[-5:] if math.isfinite(h["loss"])]
    return LoopResult(status=status, steps=done_steps, tokens=tokens_seen,
                      final_loss=monitor.history[-1]["loss"] if monitor.history else float("nan"),
                      history=monitor.history, alerts=monitor.alerts, resumed_from=resumed_from,
                      setup=setup | {"recent_mean_loss": sum(losses) / len(losses) if losses else None},
                      module=packed)


def apply_step(optimizer, scaler, scheduler, step_loss: float, grad_norm: float) -> float:
    """Take the optimizer step only on a finite loss (and a finite grad norm without a scaler: the scaler skips
    non-finite steps itself), clear the gradients and advance the schedule; returns the learning rate used."""
    if math.isfinite(step_loss) and (scaler is not None or math.isfinite(grad_norm)):
        if scaler is not None:
            scaler.step(optimizer)
            scaler.update()
        else:
            optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    lr = scheduler.get_last_lr()[0]
    scheduler.step()
    return lr
