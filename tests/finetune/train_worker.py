"""Subprocess entry for the resume, DDP and FSDP tests:
    train_worker.py MODEL DATASET OUT STEPS [SLEEP_S [DROPOUT [FSDP [LORA_IMPL]]]]   (LoRA SFT)
    train_worker.py --pretrain CORPUS OUT STEPS [SLEEP_S [FSDP]]                (pretraining)"""
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from finetune.config import LoraSFTConfig, PretrainConfig  # noqa: E402
from finetune.recipes import pretrain  # noqa: E402
from finetune.recipes.lora_sft import run  # noqa: E402


def make_config(model, dataset, out, steps, dropout=0.1, fsdp=False, lora_impl="peft") -> LoraSFTConfig:
    return LoraSFTConfig(base_model=str(model), dataset_dir=str(dataset), output_dir=str(out), max_steps=int(steps),
                         tokens_per_step=600, micro_batch_tokens=256, lr=5e-3, checkpoint_every=2,
                         lora_dropout=dropout, fsdp=fsdp, lora_impl=lora_impl)


def make_pretrain_config(corpus, out, steps, fsdp=False) -> PretrainConfig:
    return PretrainConfig(corpus=[str(corpus)], output_dir=str(out), max_steps=int(steps), size="demo",
                          tokens_per_step=1024, micro_batch_tokens=256, max_seq_len=128, vocab_size=400,
                          checkpoint_every=2, fsdp=fsdp)


def losses_of(summary) -> dict:
    return {"losses": [h["loss"] for h in summary["history"]], "final_loss": summary["final_loss"],
            "resumed_from": summary["resumed_from"], "setup": {k: v for k, v in summary["setup"].items()
                                                              if isinstance(v, (str, int, float, bool))},
            "eval": summary.get("eval")}


if __name__ == "__main__":
    args = sys.argv[1:]
    if args[0] == "--pretrain":
        corpus, out, steps = args[1:4]
        sleep_s = float(args[4]) if len(args) > 4 else 0.0
        fsdp = len(args) > 5 and args[5] == "fsdp"
        summary = pretrain.run(make_pretrain_config(corpus, out, steps, fsdp),
                               on_metrics=lambda m: time.sleep(sleep_s))
    else:
        model, dataset, out, steps = args[0:4]
        sleep_s = float(args[4]) if len(args) > 4 else 0.0
        dropout = float(args[5]) if len(args) > 5 else 0.1
        fsdp = len(args) > 6 and args[6] == "fsdp"
        lora_impl = args[7] if len(args) > 7 else "peft"
        summary = run(make_config(model, dataset, out, steps, dropout, fsdp, lora_impl),
                      on_metrics=lambda m: time.sleep(sleep_s))  # slow steps so the test can kill mid-run
    if os.environ.get("RANK", "0") == "0":
        Path(out, "summary.json").write_text(json.dumps(losses_of(summary)))
