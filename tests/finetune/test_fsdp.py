"""FSDP2 (`fully_shard`) under torchrun on 2 CPU processes (gloo): the same per-step losses as one process on the
same rows, sharded checkpoints (torch.distributed.checkpoint) that survive a kill and resume on another number of
processes, for LoRA and for pretraining."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finetune import checkpoint as ckpt
from finetune.recipes import pretrain
from finetune.recipes.lora_sft import run

from .train_worker import losses_of, make_config, make_pretrain_config

WORKER = Path(__file__).with_name("train_worker.py")
pytestmark = pytest.mark.slow


def _env():
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    return env


def _torchrun(*args):
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(WORKER),
            *map(str, args)]


def _descendants(pid: int) -> list[int]:
    """Every process below `pid` (torchrun starts its ranks in their own sessions, so a process-group kill misses
    them): from /proc's parent links."""
    parent = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                stat = (d / "stat").read_text()
            except OSError:
                continue
            parent[int(d.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def _kill_after_first_checkpoint(cmd, out: Path) -> int:
    proc = subprocess.Popen(cmd, env=_env(), start_new_session=True)
    deadline = time.time() + 240
    while ckpt.latest(out / "checkpoints") is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    for pid in [proc.pid, *_descendants(proc.pid)]:   # torchrun and both ranks, no clean shutdown
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait()
    time.sleep(0.5)
    assert not (out / "summary.json").exists(), "the run finished before it could be killed"
    at = ckpt.latest(out / "checkpoints")
    assert at is not None and ckpt.is_sharded(at), "no sharded checkpoint was written"
    assert (at / "dcp" / ".metadata").is_file() and len(list((at / "dcp").glob("*.distcp"))) == 2  # one per rank
    return int(at.name.split("-")[1])


def test_fsdp_lora_matches_one_process_and_resumes_on_one_process(tiny_model_dir, dataset_dir, tmp_path):
    steps = 6
    reference = losses_of(run(make_config(tiny_model_dir, dataset_dir, tmp_path / "one", steps, dropout=0.0)))
    out = tmp_path / "fsdp"
    at = _kill_after_first_checkpoint(_torchrun(tiny_model_dir, dataset_dir, out, steps, 0.8, 0.0, "fsdp"), out)
    assert 0 < at < steps
    # resume the 2-rank FSDP checkpoint in ONE process: DCP reshards the adapter and AdamW state on load
    subprocess.run([sys.executable, str(WORKER), tiny_model_dir, dataset_dir, out, str(steps), "0", "0.0"],
                   check=True, env=_env(), timeout=300)
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["resumed_from"] == at
    # steps 1..at were trained by 2 FSDP ranks, the rest by one process: one trajectory, to float precision
    assert len(resumed["losses"]) == len(reference["losses"]) == steps
    for a, b in zip(resumed["losses"], reference["losses"]):
        assert abs(a - b) < 1e-4, (resumed["losses"], reference["losses"])
    assert (out / "adapter" / "adapter_model.safetensors").is_file()


def test_fsdp_lora_two_ranks_end_to_end(tiny_model_dir, dataset_dir, tmp_path):
    """Uninterrupted FSDP run: parity, the gathered adapter is the one-process adapter, evaluation on all ranks."""
    steps = 4
    reference = losses_of(run(make_config(tiny_model_dir, dataset_dir, tmp_path / "one", steps, dropout=0.0)))
    out = tmp_path / "two"
    subprocess.run(_torchrun(tiny_model_dir, dataset_dir, out, steps, 0, 0.0, "fsdp"), check=True, env=_env(),
                   timeout=300)
    two = json.loads((out / "summary.json").read_text())
    assert two["setup"]["parallel"] == "fsdp"
    for a, b in zip(two["losses"], reference["losses"]):
        assert abs(a - b) < 1e-4, (two["losses"], reference["losses"])
    assert abs(two["eval"]["adapter"]["loss"] - reference["eval"]["adapter"]["loss"]) < 1e-4
    from safetensors.torch import load_file
    a = load_file(out / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "one" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and a
    for k in a:
        assert a[k].shape == b[k].shape and (a[k] - b[k]).abs().max() < 1e-4, k


def test_fsdp_grouped_lora_matches_one_process_peft(tiny_model_dir, dataset_dir, tmp_path):
    """lora_impl="grouped" under FSDP2 (the grouped A product reads the layer's unsharded LoRA weights): the same
    losses and gathered adapter as one process with PEFT's own per-projection forward."""
    steps = 4
    reference = losses_of(run(make_config(tiny_model_dir, dataset_dir, tmp_path / "one", steps, dropout=0.0)))
    out = tmp_path / "two"
    subprocess.run(_torchrun(tiny_model_dir, dataset_dir, out, steps, 0, 0.0, "fsdp", "grouped"), check=True,
                   env=_env(), timeout=300)
    two = json.loads((out / "summary.json").read_text())
    assert two["setup"]["parallel"] == "fsdp"
    assert len(two["losses"]) == steps
    for a, b in zip(two["losses"], reference["losses"]):
        assert abs(a - b) < 1e-4, (two["losses"], reference["losses"])
    from safetensors.torch import load_file
    a = load_file(out / "adapter" / "adapter_model.safetensors")
    b = load_file(tmp_path / "one" / "adapter" / "adapter_model.safetensors")
    assert a.keys() == b.keys() and a
    for k in a:
        assert (a[k] - b[k]).abs().max() < 1e-4, k


def _corpus(root: Path) -> Path:
    from .conftest import make_conversations
    root.mkdir(parents=True, exist_ok=True)
    text = "\n\n".join(m["content"] for c in make_conversations(400, 5) for m in c["messages"])
    (root / "corpus.txt").write_text(text)
    return root


def test_fsdp_pretraining_matches_one_process_and_resumes_on_two_ranks(tmp_path):
    corpus = _corpus(tmp_path / "corpus")
    steps = 6
    reference = losses_of(pretrain.run(make_pretrain_config(corpus, tmp_path / "one", steps)))
    out = tmp_path / "fsdp"
    at = _kill_after_first_checkpoint(_torchrun("--pretrain", corpus, out, steps, 0.8, "fsdp"), out)
    subprocess.run(_torchrun("--pretrain", corpus, out, steps, 0, "fsdp"), check=True, env=_env(), timeout=300)
    resumed = json.loads((out / "summary.json").read_text())
    assert resumed["resumed_from"] == at and resumed["setup"]["parallel"] == "fsdp"
    for a, b in zip(resumed["losses"], reference["losses"]):
        assert abs(a - b) < 1e-4, (resumed["losses"], reference["losses"])
    from transformers import AutoModelForCausalLM
    model = AutoModelForCausalLM.from_pretrained(out / "model")   # the gathered, unsharded model loads
    assert sum(p.numel() for p in model.parameters()) > 0
