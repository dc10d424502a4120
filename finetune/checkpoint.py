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
        (tmp / COMPLETE).write_text(str(step))
        for f in tmp.iterdir():
            with open(f, "rb") as fh:
                os.fsync(fh.fileno())
        if final.exists():  # a rerun of the same step (resume): replace it
            shutil.rmtree(final)
        os.replace(tmp, final)
        _fsync_dir(root)
        latest_tmp = root / ".LATEST.tmp"
        latest_tmp.write_text(name)
        os.replace(latest_tmp, root / "LATEST")
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)
        good = latest(root)
        raise CheckpointError(f"writing checkpoint {name} failed ({exc}); "
                              f"last good checkpoint: {good.name if good else 'none'} — free disk space and resume"
                              ) from exc
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    complete = sorted(p for p in root.glob("step-*") if (p / COMPLETE).is_file())
    for old in complete[:-keep] if keep > 0 else []:
        shutil.rmtree(old, ignore_errors=True)
    return final


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
