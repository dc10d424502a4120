"""Prepare a tiny dataset version and a small random-weight Llama base under a data dir, so that the unchanged
`teamlore train` command can be run on a CUDA machine (BENCHMARKS.md, "Training": the same command on a GPU).

    python benchmarks/train_gpu_demo.py --data-dir /tmp/tl-gpu/var
    TEAMLORE_DATA_DIR=/tmp/tl-gpu/var teamlore train --dataset demo-v1 --base /tmp/tl-gpu/var/base-model --steps 40
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "finetune"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--examples", type=int, default=2000)
    a = ap.parse_args()
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from conftest import make_conversations, write_dataset  # the same synthetic Q&A the CPU tests use
    from finetune.tokenizer import train_bpe
    root = Path(a.data_dir)
    ds = write_dataset(root / "datasets" / "demo-v1", n_train=a.examples, n_val=100, n_test=100)
    texts = [m["content"] for c in make_conversations(2000, 42) for m in c["messages"]]
    tok = train_bpe(texts, vocab_size=2000)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=512, intermediate_size=1408, num_hidden_layers=8,
                      num_attention_heads=8, num_key_value_heads=4, max_position_embeddings=2048,
                      tie_word_embeddings=True, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id)
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(root / "base-model")
    tok.save_pretrained(root / "base-model")
    print(json.dumps({"dataset": str(ds), "base": str(root / "base-model")}))


if __name__ == "__main__":
    main()
