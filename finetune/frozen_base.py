"""The walk shared by the quantised frozen bases (NF4 in qlora.py, FP8 in fp8.py): every nn.Linear of a model but
the skipped ones (the LM head) is replaced in place, one at a time, by its quantised counterpart."""
from __future__ import annotations

from typing import Callable

from torch import nn


def replace_linears(model: nn.Module, quantize: Callable[[nn.Linear], nn.Linear | None], kind: type[nn.Linear],
                    *, skip: tuple[nn.Module, ...] = ()) -> tuple[int, int, int]:
    """Replace each nn.Linear of `model` that is not already a `kind` and not in `skip` by `quantize(linear)`; a
    linear for which `quantize` returns None (a shape the format cannot take) stays dense. Only one dense weight is
    referenced by the walk at a time. Returns (replaced, kept dense, elements of the replaced dense weights)."""
    skip_ids = {id(m) for m in skip}
    replaced = kept = dense_numel = 0
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear) and not isinstance(child, kind) and id(child) not in skip_ids:
                q = quantize(child)
                if q is None:
                    kept += 1
                    continue
                dense_numel += child.weight.numel()
                setattr(parent, name, q)
                replaced += 1
                del child
    return replaced, kept, dense_numel
