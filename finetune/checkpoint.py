"""Atomic, resumable checkpoints.

Layout under a run directory:
    checkpoints/step-000050/   weights.pt, optimizer.pt, state.pt (scheduler, scaler, RNG, data position), COMPLETE
    checkpoints/LATEST         name of the newest complete checkpoint (replaced atomically)

A checkpoint is written into a temporary sibling and renamed into place only once every file is on disk, so a crash
or a full disk mid-write leaves the previous checkpoint untouched; older ones are removed only after the new one is
complete. Resume reads LATEST, falling back to the newest directory with a COMPLETE marker.
"""
from __future__ import annotations

import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

COMPLETE = "COMPLETE"


class CheckpointError(RuntimeError):
    pass


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def rng_state() -> dict[str, Any]:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save(ckpt_root: str | Path, step: int, *, weights: dict[str, torch.Tensor], optimizer: dict, state: dict,
         keep: int = 1) -> Path:
    """Write one checkpoint atomically; keep the newest `keep` complete ones."""
    root = Path(ckpt_root)
    root.mkdir(parents=True, exist_ok=True)
    name = f"step-{step:06d}"
    final = root / name
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}.", dir=root))
    try:
        torch.save(weights, tmp / "weights.pt")
        torch.save(optimizer, tmp / "optimizer.pt")
        torch.save(state, tmp / "state.pt")
        _publish(root, tmp, final, step)
    except (OSError, RuntimeError) as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        if not isinstance(exc, OSError) and not _write_failure(exc):
            raise
        good = latest(root)
        raise CheckpointError(f"writing checkpoint {name} to {root} failed ({_why(exc, root)}); "
                              f"last good checkpoint: {good.name if good else 'none'} — free disk space and resume"
                              ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _prune(root, keep)
    return final


def _write_failure(exc: BaseException) -> bool:
    """torch.save on a full (or failing) disk raises RuntimeError from its zip writer, not OSError."""
    text = str(exc)
    return "inline_container" in text or "unexpected pos" in text or "file write failed" in text


def _why(exc: BaseException, root: Path) -> str:
    try:
        free = shutil.disk_usage(root).free
    except OSError:
        free = None
    where = f"{free / 2**20:.1f} MiB free on its disk" if free is not None else "free space unknown"
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}; {where}"
    return f"the file could not be written, probably no space left on the device ({where}): {exc}"


def _publish(root: Path, tmp: Path, final: Path, step: int) -> None:
    """Mark the written checkpoint folder `tmp` complete, make it durable, rename it to `final` (replacing a
    rerun of the same step, on resume) and point LATEST at it."""
    (tmp / COMPLETE).write_text(str(step))
    for f in tmp.rglob("*"):
        if f.is_file():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _fsync_dir(root)
    latest_tmp = root / ".LATEST.tmp"
    latest_tmp.write_text(final.name)
    os.replace(latest_tmp, root / "LATEST")


def _prune(root: Path, keep: int) -> None:
    """Keep the newest `keep` complete checkpoints (all of them when keep <= 0)."""
    complete = sorted(p for p in root.glob("step-*") if (p / COMPLETE).is_file())
    for old in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)


def latest(ckpt_root: str | Path) -> Path | None:
    root = Path(ckpt_root)
    if not root.is_dir():
        return None
    pointer = root / "LATEST"
    if pointer.is_file():
        cand = root / pointer.read_text().strip()
        if (cand / COMPLETE).is_file():
            return cand
    complete = sorted(p for p in root.glob("step-*") if (p / COMPLETE).is_file())
    return complete[-1] if complete else None


def load(path: str | Path, map_location="cpu") -> dict[str, Any]:
    path = Path(path)
    if not (path / COMPLETE).is_file():
        raise CheckpointError(f"{path} is not a complete checkpoint")
    return {"weights": torch.load(path / "weights.pt", map_location=map_location, weights_only=False),
            "optimizer": torch.load(path / "optimizer.pt", map_location=map_location, weights_only=False),
            "state": torch.load(path / "state.pt", map_location="cpu", weights_only=False)}


def atomic_copy_dir(src: str | Path, dst: str | Path) -> Path:
    """Copy a directory so that `dst` appears complete or not at all."""
    src, dst = Path(src), Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", dir=dst.parent))
    try:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
        if dst.exists():
            old = dst.with_name(f".{dst.name}.old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(dst, old)
            os.replace(tmp, dst)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return dst


def save_pretrained_atomic(model, tokenizer, dst: Path, state_dict: dict | None = None) -> Path:
    """`save_pretrained` of the model (or adapter; `state_dict`: the gathered one under FSDP) and the tokenizer into
    a staging folder beside `dst`, then copied into place complete or not at all."""
    staging = dst.with_name(dst.name + ".staging")
    model.save_pretrained(str(staging), **({"state_dict": state_dict} if state_dict is not None else {}))
    tokenizer.save_pretrained(str(staging))
    atomic_copy_dir(staging, dst)
    shutil.rmtree(staging, ignore_errors=True)
    return dst


# --- sharded checkpoints (FSDP) ----------------------------------------------------------------------
# Under FSDP every rank holds a shard of each parameter and of its optimizer state; torch.distributed.checkpoint
# (DCP) writes each rank's shards in parallel plus one metadata file, and reads them back into whatever layout the
# loading run has: FSDP on another number of ranks, or a single process. Frozen weights (the LoRA base) are left
# out: the base model is read from its own directory on resume. Same atomic layout as above:
#   checkpoints/step-000050/   dcp/ (shards + .metadata), state.pt (rank 0: scheduler, monitor, per-rank RNG), COMPLETE

def _barrier() -> None:
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def _dist_rank() -> int:
    import torch.distributed as dist
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def _state_options(full: bool = False, strict: bool = True):
    from torch.distributed.checkpoint.state_dict import StateDictOptions
    return StateDictOptions(ignore_frozen_params=True, full_state_dict=full, cpu_offload=full, strict=strict)


def save_sharded(ckpt_root: str | Path, step: int, *, model, optimizer, state: dict, keep: int = 1) -> Path:
    """Collective: every rank calls it. Shards are written into a temporary sibling; rank 0 renames it into place
    once every rank has finished (the shared directory must be visible to all ranks, as for the output)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict
    root = Path(ckpt_root)
    name = f"step-{step:06d}"
    final, tmp = root / name, root / f".{name}.partial"
    rank = _dist_rank()
    if rank == 0:
        root.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
    _barrier()
    msd, osd = get_state_dict(model, optimizer, options=_state_options())
    try:
        dcp.save({"model": msd, "optim": osd}, checkpoint_id=str(tmp / "dcp"))
    except OSError as exc:
        good = latest(root)
        raise CheckpointError(f"writing sharded checkpoint {name} failed ({exc}); last good checkpoint: "
                              f"{good.name if good else 'none'} — free disk space and resume") from exc
    _barrier()
    if rank == 0:
        torch.save(state, tmp / "state.pt")
        _publish(root, tmp, final, step)
        _prune(root, keep)
    _barrier()
    return final


def is_sharded(path: str | Path) -> bool:
    return (Path(path) / "dcp").is_dir()


def load_sharded(path: str | Path, *, model, optimizer) -> dict:
    """Collective under a process group (single process too): fill the model's trainable weights and the
    optimizer from the shards, resharded to this run's layout; return the rank-0 state (scheduler, RNG, ...)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict
    path = Path(path)
    if not (path / COMPLETE).is_file():
        raise CheckpointError(f"{path} is not a complete checkpoint")
    msd, osd = get_state_dict(model, optimizer, options=_state_options())
    state = {"model": msd, "optim": osd}
    dcp.load(state, checkpoint_id=str(path / "dcp"))
    # not strict: the frozen base is not in the checkpoint; every trainable key is (dcp.load fails otherwise)
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optim"],
                   options=_state_options(strict=False))
    return torch.load(path / "state.pt", map_location="cpu", weights_only=False)


def full_trainable_state(model, *, frozen_too: bool = False) -> dict[str, torch.Tensor]:
    """Collective under FSDP: the unsharded weights on the host (trainable only unless frozen_too), for saving the
    final adapter or model from rank 0."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
    return get_model_state_dict(model, options=StateDictOptions(ignore_frozen_params=not frozen_too,
                                                                full_state_dict=True, cpu_offload=True))
