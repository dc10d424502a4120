"""The recipe (packed rows, chunked CE, accumulation) learns exactly what a plain unpacked HF loop learns on the
same data order: per-step losses agree to float precision."""
from __future__ import annotations

import torch
from transformers import AutoTokenizer, LlamaForCausalLM

from finetune.config import LoraSFTConfig
from finetune.data import IGNORE
from finetune.loop import build_plan, lr_lambda
from finetune.models import apply_lora
from finetune.recipes.lora_sft import finetune, load_examples


def _plain_hf_losses(cfg, model_dir, examples, plan, pad_id):
    """Padded batches through the HF forward (its own shift and loss), token-weighted mean per step."""
    base = LlamaForCausalLM.from_pretrained(model_dir, attn_implementation="sdpa")
    torch.manual_seed(cfg.seed)
    model = apply_lora(base, r=cfg.lora_r, alpha=cfg.lora_alpha, dropout=cfg.lora_dropout, targets=cfg.lora_targets)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW([{"params": [p for p in params if p.ndim >= 2], "weight_decay": cfg.weight_decay},
                             {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0}],
                            lr=cfg.lr, betas=cfg.betas)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg, len(plan)))
    losses = []
    for rows in plan:
        idx = [i for row in rows for i in row]
        batch = [examples[i] for i in idx]
        t = max(len(e) for e in batch)
        ids = torch.full((len(batch), t), pad_id)
        att = torch.zeros(len(batch), t, dtype=torch.long)
        labels = torch.full((len(batch), t), IGNORE)
        for r, e in enumerate(batch):
            ids[r, :len(e)] = torch.tensor(e.input_ids)
            att[r, :len(e)] = 1
            # unshifted labels: HF shifts them itself
            labels[r, 1:len(e)] = torch.tensor(e.targets[:-1])
        n = int((labels != IGNORE).sum())
        out = model(input_ids=ids, attention_mask=att, labels=labels, num_items_in_batch=n)
        out.loss.backward()
        losses.append(out.loss.item())
        torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        opt.step()
        sched.step()
        opt.zero_grad()
    return losses


def test_recipe_matches_plain_hf_loop(tiny_model_dir, dataset_dir, tmp_path):
    cfg = LoraSFTConfig(base_model=str(tiny_model_dir), dataset_dir=str(dataset_dir), output_dir=str(tmp_path / "r"),
                        max_steps=5, tokens_per_step=600, micro_batch_tokens=256, lr=5e-3, checkpoint_every=0,
                        shuffle=True, lora_dropout=0.0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    examples = load_examples(cfg, tok)["train"]
    plan, _ = build_plan(examples, cfg, 1)
    assert all(len(rows) >= 2 for rows in plan)  # accumulation over several packed rows is exercised
    _, result, _ = finetune(cfg, examples, pad_id=tok.pad_token_id, device=torch.device("cpu"))
    recipe = [h["loss"] for h in result.history]
    plain = _plain_hf_losses(cfg, tiny_model_dir, examples, plan, tok.pad_token_id)
    assert len(recipe) == len(plain) == 5
    for a, b in zip(recipe, plain):
        assert abs(a - b) < 1e-4, (recipe, plain)
    assert recipe[-1] < recipe[0]  # and it learns
