"""Checkpoints: a killed run resumes exactly; a failing write (full disk) leaves the last good checkpoint."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from finetune import checkpoint as ckpt
from finetune.recipes.lora_sft import run

from .train_worker import losses_of, make_config

WORKER = Path(__file__).with_name("train_worker.py")


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("WORLD_SIZE", None)
    return env


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_final_loss(tiny_model_dir, dataset_dir, tmp_path):
    steps = "6"
    # the uninterrupted run, in this process (same config, same seed)
    reference = losses_of(run(make_config(tiny_model_dir, dataset_dir, tmp_path / "full", steps)))

    killed = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(WORKER), str(tiny_model_dir), str(dataset_dir), str(killed), steps,
                             "0.7"], env=_env())
    deadline = time.time() + 240
    while ckpt.latest(killed / "checkpoints") is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "summary.json").exists(), "the run finished before it could be killed"
    at = ckpt.latest(killed / "checkpoints")
    assert at is not None and int(at.name.split("-")[1]) < int(steps)

    subprocess.run([sys.executable, str(WORKER), str(tiny_model_dir), str(dataset_dir), str(killed), steps],
                   check=True, env=_env(), timeout=300)
    resumed = json.loads((killed / "summary.json").read_text())
    assert resumed["resumed_from"] == int(at.name.split("-")[1])
    # same data, same RNG (dropout is on), same optimizer state: the same trajectory to float precision
    assert len(resumed["losses"]) == len(reference["losses"]) == int(steps)
    assert abs(resumed["final_loss"] - reference["final_loss"]) < 1e-5
    for a, b in zip(resumed["losses"], reference["losses"]):
        assert abs(a - b) < 1e-5


def test_failed_write_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    root = tmp_path / "checkpoints"
    w1 = {"w": torch.ones(3)}
    ckpt.save(root, 2, weights=w1, optimizer={"o": 1}, state={"step": 2})
    real_save = torch.save
    calls = {"n": 0}

    def flaky_save(obj, path, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second file of the next checkpoint: a half-written checkpoint on disk
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(obj, path, *a, **k)

    monkeypatch.setattr(torch, "save", flaky_save)
    with pytest.raises(ckpt.CheckpointError, match="last good checkpoint: step-000002"):
        ckpt.save(root, 4, weights={"w": torch.zeros(3)}, optimizer={"o": 2}, state={"step": 4})
    monkeypatch.setattr(torch, "save", real_save)
    good = ckpt.latest(root)
    assert good is not None and good.name == "step-000002"
    assert torch.equal(ckpt.load(good)["weights"]["w"], w1["w"])
    assert not (root / "step-000004").exists()
    assert [p.name for p in root.iterdir() if p.name.startswith(".step")] == []  # temp dir cleaned up
    # the next successful save replaces it and prunes the old one
    ckpt.save(root, 6, weights={"w": torch.zeros(3)}, optimizer={}, state={"step": 6})
    assert ckpt.latest(root).name == "step-000006" and not (root / "step-000002").exists()


def test_a_full_disk_is_named_when_torch_reports_it_as_a_runtime_error(tmp_path, monkeypatch):
    """On a full tmpfs, torch.save raised "RuntimeError: [enforce fail at inline_container.cc:672] . unexpected pos
    54080 vs 53968" — not an OSError — and the training job failed with only that line."""
    root = tmp_path / "checkpoints"
    ckpt.save(root, 2, weights={"w": torch.ones(3)}, optimizer={}, state={"step": 2})

    def full_disk(obj, path, *a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 54080 vs 53968")
    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(ckpt.CheckpointError, match=r"probably no space left on the device \(.* MiB free") as err:
        ckpt.save(root, 4, weights={"w": torch.zeros(3)}, optimizer={}, state={"step": 4})
    assert "last good checkpoint: step-000002" in str(err.value) and "free disk space and resume" in str(err.value)
    assert [p.name for p in root.iterdir() if p.name.startswith(".step")] == []

    def other_bug(obj, path, *a, **k):
        raise RuntimeError("cannot pickle a lambda")
    monkeypatch.setattr(torch, "save", other_bug)  # not a write failure: not dressed up as one
    with pytest.raises(RuntimeError, match="cannot pickle") as err:
        ckpt.save(root, 6, weights={}, optimizer={}, state={})
    assert not isinstance(err.value, ckpt.CheckpointError)


def test_incomplete_checkpoint_is_ignored(tmp_path):
    root = tmp_path / "c"
    ckpt.save(root, 1, weights={}, optimizer={}, state={"step": 1})
    (root / "step-000009").mkdir()  # a directory without COMPLETE (e.g. copied by hand, interrupted)
    (root / "LATEST").write_text("step-000009")
    assert ckpt.latest(root).name == "step-000001"
