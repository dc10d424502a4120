"""The same recipe under torchrun: 2 CPU processes (gloo, DDP) follow the single-process trajectory exactly, since
each step's loss is normalised by the global target count and rows are dealt across ranks."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from finetune.recipes.lora_sft import run

from .train_worker import losses_of, make_config

WORKER = Path(__file__).with_name("train_worker.py")


@pytest.mark.slow
def test_two_process_ddp_matches_one_process(tiny_model_dir, dataset_dir, tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1", HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(k, None)
    args = [str(tiny_model_dir), str(dataset_dir)]
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                    str(WORKER), *args, str(tmp_path / "two"), "4", "0", "0.0"], check=True, env=env, timeout=300)
    one = losses_of(run(make_config(tiny_model_dir, dataset_dir, tmp_path / "one", 4, dropout=0.0)))
    two = json.loads((tmp_path / "two" / "summary.json").read_text())
    assert len(one["losses"]) == len(two["losses"]) == 4
    for a, b in zip(one["losses"], two["losses"]):
        assert abs(a - b) < 1e-4, (one["losses"], two["losses"])
    assert (tmp_path / "two" / "adapter" / "adapter_config.json").is_file()
