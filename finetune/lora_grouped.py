"""Grouped LoRA: fewer, larger low-rank products for projections that read the same input.

PEFT runs every LoRA projection on its own: for q/k/v (and gate/up) it reads the same activation x three (two)
times for three (two) thin products x @ A_i^T, and backward writes as many [tokens, hidden] input gradients that
are then summed. At r=16 those products are memory-bound, so their count, not their FLOPs, is what costs.

`lora_impl="grouped"` keeps PEFT's model, modules and parameters exactly as they are (so state dicts, the saved
adapter, checkpoints, FSDP sharding, `disable_adapter()` and the NF4 base are untouched) and only changes how the
members of a group compute their outputs:

    h = x @ cat(A_q, A_k, A_v)^T           one product, one read of x (backward: one product for dA reading x
                                           once, one for dx writing one [tokens, hidden] gradient instead of three)
    y_i = base_i(x) + (h[:, slice_i] @ B_i^T) * scaling_i          as PEFT, per member

The first member a parent module calls computes the whole group for its input and leaves the other members'
outputs in a slot keyed by that very input tensor; a member called with another tensor (or after something else)
computes its own output the PEFT way, so a model whose projections do not share their input stays correct, just
not faster. Members must be vanilla LoRA (no DoRA, no dropout, one adapter); `enable_grouped_lora` refuses
otherwise.
"""
from __future__ import annotations

import types

import torch
import torch.nn.functional as F
from torch import nn

# Sibling projections that read the same input in Llama/Mistral/Qwen-style blocks.
SHARED_INPUT_GROUPS = (("q_proj", "k_proj", "v_proj"), ("gate_proj", "up_proj"))


class GroupedLoraError(ValueError):
    """The model cannot use grouped LoRA; the message says why."""


def _lora_linear_cls():
    from peft.tuners.lora.layer import Linear
    return Linear


class _Group:
    """Members (PEFT lora.Linear modules sharing one input) and the slot that hands the followers their outputs."""

    def __init__(self, names: list[str], members: list[nn.Module], adapter: str):
        self.names = names
        self.members = members
        self.adapter = adapter
        ranks = [m.r[adapter] for m in members]
        bounds = [0]
        for r in ranks:
            bounds.append(bounds[-1] + r)
        self.slices = list(zip(bounds[:-1], bounds[1:]))
        self.slot: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def compute(self, x: torch.Tensor) -> list[torch.Tensor]:
        ad = self.adapter
        a = torch.cat([m.lora_A[ad].weight for m in self.members])          # [R, in]
        h = F.linear(x, a)                                                   # [..., R]: one read of x
        outs = []
        for m, (s, e) in zip(self.members, self.slices):
            base = m.base_layer(x)
            # PEFT's own expression (result + lora_B(h) * scaling), so torch.compile fuses the add and the
            # scaling into whatever reads the output next (the SwiGLU product, the rotary embedding)
            y = base + F.linear(h[..., s:e], m.lora_B[ad].weight) * m.scaling[ad]
            outs.append(y.to(base.dtype))
        return outs


def _grouped_forward(self, x: torch.Tensor, *args, **kwargs) -> torch.Tensor:
    """Instance forward of a group member: serve the group's result, else fall back to PEFT's own forward."""
    group: _Group = self._tl_group
    name: str = self._tl_name
    if (args or kwargs or self.disable_adapters or self.merged
            or list(self.active_adapters) != [group.adapter]):
        return type(self).forward(self, x, *args, **kwargs)
    entry = group.slot.pop(name, None)
    if entry is not None and entry[0] is x:
        return entry[1]
    group.slot.clear()
    outs = group.compute(x)
    mine = None
    for n, y in zip(group.names, outs):
        if n == name:
            mine = y
        else:
            group.slot[n] = (x, y)
    return mine


def _check_member(name: str, m: nn.Module) -> str:
    if not isinstance(m, _lora_linear_cls()):
        raise GroupedLoraError(f"lora_impl='grouped': {name} is a {type(m).__name__}, not a PEFT LoRA Linear")
    adapters = list(m.lora_A.keys())
    if len(adapters) != 1:
        raise GroupedLoraError(f"lora_impl='grouped' needs exactly one adapter per layer; {name} has {adapters}")
    ad = adapters[0]
    if ad in getattr(m, "lora_variant", {}):
        raise GroupedLoraError(f"lora_impl='grouped' supports plain LoRA only; {name} uses a variant (e.g. DoRA)")
    if not isinstance(m.lora_dropout[ad], nn.Identity):
        raise GroupedLoraError("lora_impl='grouped' needs lora_dropout=0 (one shared input for the group's A "
                               f"matrices); {name} has dropout {m.lora_dropout[ad]}")
    if m.lora_A[ad].bias is not None or m.lora_B[ad].bias is not None:
        raise GroupedLoraError(f"lora_impl='grouped': {name} has a LoRA bias, which this path does not add")
    if getattr(m, "fan_in_fan_out", False):
        raise GroupedLoraError(f"lora_impl='grouped': {name} is fan_in_fan_out (Conv1D), not supported")
    return ad


def enable_grouped_lora(model: nn.Module, groups=SHARED_INPUT_GROUPS) -> dict:
    """Group the LoRA projections of every module that has all members of a group as children. Returns a report
    ({"groups": n, "members": n, "ungrouped": [...]}); raises GroupedLoraError when no group is found or a member
    is not plain LoRA."""
    lora_cls = _lora_linear_cls()
    found = []   # checked first, patched after: a refusal leaves the model untouched
    for pname, parent in model.named_modules():
        for names in groups:
            members = [getattr(parent, n, None) for n in names]
            if any(not isinstance(m, lora_cls) for m in members):
                continue
            adapters = {_check_member(f"{pname}.{n}", m) for n, m in zip(names, members)}
            if len(adapters) != 1:
                raise GroupedLoraError(f"lora_impl='grouped': {pname} mixes adapters {sorted(adapters)}")
            if len({m.in_features for m in members}) != 1:
                continue
            found.append((list(names), members, adapters.pop()))
    grouped_ids = set()
    for names, members, adapter in found:
        g = _Group(names, members, adapter)
        for n, m in zip(names, members):
            m._tl_group, m._tl_name = g, n
            m.forward = types.MethodType(_grouped_forward, m)
            grouped_ids.add(id(m))
    n_groups, n_members = len(found), sum(len(f[1]) for f in found)
    if n_groups == 0:
        raise GroupedLoraError("lora_impl='grouped' found no group of LoRA projections sharing an input "
                               f"(looked for {', '.join('/'.join(g) for g in groups)} all among the LoRA targets); "
                               "use lora_impl='peft'")
    ungrouped = sorted({n.rsplit(".", 1)[-1] for n, m in model.named_modules()
                        if isinstance(m, lora_cls) and id(m) not in grouped_ids})
    return {"groups": n_groups, "members": n_members, "ungrouped": ungrouped}


def disable_grouped_lora(model: nn.Module) -> None:
    """Back to PEFT's per-projection forward (the parameters were never touched)."""
    for m in model.modules():
        if getattr(m, "_tl_group", None) is not None:
            m._tl_group.slot.clear()
            del m.forward
            m._tl_group = None
