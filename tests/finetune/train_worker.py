"""Subprocess entry for the resume and DDP tests: train_worker.py MODEL DATASET OUT STEPS [SLEEP_S [DROPOUT]]."""
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from finetune.config import LoraSFTConfig  # noqa: E402
from finetune.recipes.lora_sft import run  # noqa: E402

model, dataset, out, steps = sys.argv[1:5]
sleep_s = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
dropout = float(sys.argv[6]) if len(sys.argv) > 6 else 0.1
cfg = LoraSFTConfig(base_model=model, dataset_dir=dataset, output_dir=out, max_steps=int(steps),
                    tokens_per_step=600, micro_batch_tokens=256, lr=5e-3, checkpoint_every=2, lora_dropout=dropout)
summary = run(cfg, on_metrics=lambda m: time.sleep(sleep_s))  # slow steps so the test can kill mid-run
import os  # noqa: E402
if os.environ.get("RANK", "0") == "0":
    Path(out, "summary.json").write_text(json.dumps({"losses": [h["loss"] for h in summary["history"]],
                                                     "final_loss": summary["final_loss"],
                                                     "resumed_from": summary["resumed_from"]}))
