"""DPO recipe on a tiny Llama built here: the loss, packed log-probs against a plain forward, bad pair files, and
the end-to-end claim — after DPO the policy's log-prob margin (chosen - rejected) on HELD-OUT pairs rises over
the reference model's."""
from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import torch

from .conftest import make_conversations

WRONG = ["I have no idea, try turning it off and on.", "Nobody knows that, sorry.",
         "Just ignore it, it will go away.", "Ask someone else, not my problem."]


def test_dpo_loss_matches_the_formula():
    from finetune.recipes.dpo import dpo_loss
    pc, pr, rc, rr = (torch.tensor([v]) for v in (-3.0, -5.0, -4.0, -4.0))
    loss, reward = dpo_loss(pc, pr, rc, rr, beta=0.5)
    margin = (-3 + 4) - (-5 + 4)  # 2
    assert loss.item() == pytest.approx(-math.log(1 / (1 + math.exp(-0.5 * margin))), rel=1e-6)
    assert reward.item() == pytest.approx(1.0)
    zero, _ = dpo_loss(rc, rr, rc, rr, beta=0.1)  # policy == reference: log 2
    assert zero.item() == pytest.approx(math.log(2), rel=1e-6)


def test_packed_logps_equal_a_plain_forward(tiny_model_dir):
    from transformers import AutoModelForCausalLM

    from finetune.config import TrainConfig
    from finetune.loop import prepare_model
    from finetune.models import load_tokenizer
    from finetune.recipes.dpo import sequence_logps, tokenize_pairs
    tok = load_tokenizer(str(tiny_model_dir))
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    pairs = [{"id": "a", "prompt": [{"role": "user", "content": "How do I fix vpn?"},
                                    {"role": "assistant", "content": "Which vpn?"},
                                    {"role": "user", "content": "The office one."}],
              "chosen": [{"role": "assistant", "content": "Run the vpn runbook step 2."}],
              "rejected": [{"role": "assistant", "content": "No idea."}]}]
    (p,), dropped = tokenize_pairs(tok, pairs, 512)
    assert dropped == 0
    packed, _ = prepare_model(model, TrainConfig(compile="off"), torch.device("cpu"))
    with torch.no_grad():
        got = sequence_logps(packed, [p.chosen, p.rejected], torch.device("cpu"))
        for k, ex in enumerate([p.chosen, p.rejected]):
            logits = model(torch.tensor([ex.input_ids])).logits[0].float()
            lp = torch.log_softmax(logits, -1)
            want = sum(lp[i, t] for i, t in enumerate(ex.targets) if t != -100)
            assert got[k].item() == pytest.approx(float(want), abs=1e-4)
    # only the final assistant turn is scored: "Which vpn?" (history) is not a target
    answer = tok("Run the vpn runbook step 2.", add_special_tokens=False)["input_ids"]
    assert p.chosen.n_targets <= len(answer) + 3


def test_bad_pair_files_are_refused_with_the_line(tmp_path, tiny_model_dir):
    from finetune.data import DatasetError
    from finetune.recipes.dpo import DPOConfig, load_pairs, read_pairs
    f = tmp_path / "preference.train.jsonl"
    f.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q", "chosen": "a"}\n')
    with pytest.raises(DatasetError, match="preference.train.jsonl:2"):
        read_pairs(f)
    f.write_text('{"prompt": "q", "chosen": "same", "rejected": "same"}\n')
    with pytest.raises(DatasetError, match="the same answer"):
        read_pairs(f)
    f.write_text('\n["q", "a", "b"]\n')  # a blank line is skipped; an array is not a pair
    with pytest.raises(DatasetError, match=r"preference.train.jsonl:2: a preference pair needs 'prompt'"):
        read_pairs(f)
    f.write_text('{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": \n')
    with pytest.raises(DatasetError, match="preference.train.jsonl:2: not valid JSON"):
        read_pairs(f)
    from finetune.models import load_tokenizer
    with pytest.raises(DatasetError, match="no preference.train.jsonl"):
        load_pairs(DPOConfig(dataset_dir=str(tmp_path / "nothing")), load_tokenizer(str(tiny_model_dir)))


def feedback_pairs_dataset(root: Path, n: int = 72) -> Path:
    """Preference pairs built the way the app builds them: 👎 answers an admin corrected."""
    from ingest.datasets.feedback import FeedbackOptions, RatedAnswer, Rating, build_feedback_dataset
    g = random.Random(5)
    rated = []
    for i, c in enumerate(make_conversations(n, 11)):
        user = next(m for m in c["messages"] if m["role"] == "user")["content"]
        good = next(m for m in c["messages"] if m["role"] == "assistant")["content"]
        rated.append(RatedAnswer(i + 1, f"{user} (case {i})", g.choice(WRONG),
                                 [Rating(-1, f"u{i % 3}", None, "web", "2026-12-01T00:00:00")],
                                 correction=good, corrected_by="admin"))
    res = build_feedback_dataset(rated, root, options=FeedbackOptions(split_fractions=(0.7, 0.3, 0.0)))
    return res.path


def test_dpo_on_feedback_pairs_raises_the_heldout_margin_over_the_reference(tmp_path, tiny_model_dir):
    from finetune.recipes.dpo import DPOConfig, read_pairs, run
    ds = feedback_pairs_dataset(tmp_path / "prefs")
    n_val = len(read_pairs(ds / "preference.validation.jsonl"))
    assert n_val >= 10
    cfg = DPOConfig(base_model=str(tiny_model_dir), dataset_dir=str(ds), output_dir=str(tmp_path / "run"),
                    max_steps=12, pairs_per_step=8, lr=5e-3, beta=0.1, micro_batch_tokens=1024,
                    compile="off", checkpoint_every=0)
    seen = []
    summary = run(cfg, on_metrics=seen.append)
    assert summary["status"] == "done" and summary["steps"] == 12 and len(seen) == 12
    ev = summary["preference_eval"]
    assert ev["split"] == "validation" and ev["pairs"] == n_val  # questions the policy never trained on
    # the reference is the untrained base; the policy must prefer the chosen answers clearly more
    assert ev["policy_margin"] > ev["reference_margin"] + 1.0, ev
    assert ev["reward_accuracy"] >= 0.8, ev
    assert seen[-1]["reward_accuracy"] >= seen[0]["reward_accuracy"]
    assert (Path(summary["adapter_dir"]) / "adapter_config.json").is_file()
    # the corrections are SFT examples too: the held-out loss of base and adapter is reported for the gate
    assert summary["eval"]["adapter"]["loss"] > 0 and summary["eval"]["base"]["loss"] > 0
    # a second run in the same folder resumes from the final checkpoint instead of training again
    again = run(cfg)
    assert again["resumed_from"] == 12 and again["steps"] == 12


def test_dpo_after_sft_continues_from_the_parent_adapter_and_beats_its_heldout_margin(tmp_path, tiny_model_dir):
    """DPO after SFT: the policy starts from the SFT adapter and the reference is that adapter, frozen (not the
    bare base). On held-out feedback pairs the policy's margin rises over the SFT model's."""
    import json as _json

    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    from finetune.config import LoraSFTConfig, TrainConfig
    from finetune.loop import prepare_model
    from finetune.models import load_tokenizer
    from finetune.recipes import lora_sft
    from finetune.recipes.dpo import DPOConfig, pair_logps, read_pairs, run, tokenize_pairs
    from .conftest import write_dataset
    sft = lora_sft.run(LoraSFTConfig(base_model=str(tiny_model_dir), dataset_dir=str(write_dataset(tmp_path / "sft")),
                                     output_dir=str(tmp_path / "sft-run"), max_steps=8, lr=5e-3, lora_r=4,
                                     lora_alpha=8, tokens_per_step=1024, micro_batch_tokens=1024, compile="off",
                                     checkpoint_every=0))
    parent = Path(sft["adapter_dir"])
    ds = feedback_pairs_dataset(tmp_path / "prefs")
    cfg = DPOConfig(base_model=str(tiny_model_dir), dataset_dir=str(ds), output_dir=str(tmp_path / "dpo-run"),
                    max_steps=12, pairs_per_step=8, lr=5e-3, beta=0.1, micro_batch_tokens=1024, compile="off",
                    checkpoint_every=0, init_adapter=str(parent))
    summary = run(cfg)
    ev = summary["preference_eval"]
    assert summary["status"] == "done" and ev["reference"] == "parent_adapter" and ev["pairs"] >= 10

    # the reference figures are the SFT model's: recompute them from base + the parent adapter, loaded afresh
    tok = load_tokenizer(str(tiny_model_dir))
    held, _ = tokenize_pairs(tok, read_pairs(ds / "preference.validation.jsonl"), cfg.max_seq_len)
    dev = torch.device("cpu")

    def margin_of(model):
        packed, _ = prepare_model(model, TrainConfig(compile="off"), dev)
        lp = pair_logps(packed, held, dev, 1024)
        return float((lp[:, 0] - lp[:, 1]).mean())
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    base_margin = margin_of(base)
    sft_margin = margin_of(PeftModel.from_pretrained(base, str(parent)))
    print(_json.dumps({"heldout": ev, "base_margin": round(base_margin, 4)}))  # the figures BENCHMARKS.md quotes
    assert ev["reference_margin"] == pytest.approx(sft_margin, abs=1e-3), (ev, sft_margin)
    assert abs(sft_margin - base_margin) > 1e-2  # the parent is not the base: the reference really moved
    assert ev["policy_margin"] > ev["reference_margin"] + 1.0, ev
    # the adapter continued (the parent's rank, not DPOConfig's default 16) and its held-out loss is reported
    assert _json.loads((Path(summary["adapter_dir"]) / "adapter_config.json").read_text())["r"] == 4
    assert summary["eval"]["parent"]["loss"] > 0


def test_a_parent_adapter_of_another_base_model_is_refused(tmp_path, tiny_model_dir):
    from finetune.models import ModelLoadError, continue_lora
    from transformers import AutoModelForCausalLM
    (tmp_path / "not-an-adapter").mkdir()
    base = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    with pytest.raises(ModelLoadError, match="not a LoRA adapter"):
        continue_lora(base, tmp_path / "not-an-adapter")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "adapter_config.json").write_text(
        '{"peft_type": "LORA", "r": 4, "lora_alpha": 8, "target_modules": ["c_attn"], "task_type": "CAUSAL_LM"}')
    with pytest.raises(ModelLoadError, match="another base model"):
        continue_lora(base, tmp_path / "other")
