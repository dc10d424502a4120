"""Subprocess entry for the resume and DDP tests: train_worker.py MODEL DATASET OUT STEPS [SLEEP_S [DROPOUT]]."""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from finetune.config import LoraSFTConfig  # noqa: E402
from finetune.recipes.lora_sft import run  # noqa: E402


def make_config(model, dataset, out, steps, dropout=0.1) -> LoraSFTConfig:
    return LoraSFTConfig(base_model=str(model), dataset_dir=str(dataset), output_dir=str(out), max_steps=int(steps),
                         tokens_per_step=600, micro_batch_tokens=256, lr=5e-3, checkpoint_every=2,
                         lora_dropout=dropout)


def losses_of(summary) -> dict:
    return {"losses": [h["loss"] for h in summary["history"]], "final_loss": summary["final_loss"],
            "resumed_from": summary["resumed_from"]}


if __name__ == "__main__":
    model, dataset, out, steps = sys.argv[1:5]
    sleep_s = float(sys.argv[5]) if len(sys.argv) > 5 else 0.0
    dropout = float(sys.argv[6]) if len(sys.argv) > 6 else 0.1
    summary = run(make_config(model, dataset, out, steps, dropout),
                  on_metrics=lambda m: time.sleep(sleep_s))  # slow steps so the test can kill mid-run
    if os.environ.get("RANK", "0") == "0":
        Path(out, "summary.json").write_text(json.dumps(losses_of(summary)))
