"""Bad input gets a clear refusal: small datasets (with the numbers), missing or non-causal base models, wrong
LoRA targets, malformed JSONL, out-of-memory (with the setting to change)."""
from __future__ import annotations

import json

import pytest
import torch

from finetune.config import LoraSFTConfig, from_dict, parse_overrides
from finetune.data import DatasetError, read_chat_jsonl, split_files
from finetune.loop import TrainingError
from finetune.models import ModelLoadError
from finetune.recipes import lora_sft

from .conftest import write_dataset


def _cfg(model, ds, tmp_path, **kw):
    return LoraSFTConfig(base_model=str(model), dataset_dir=str(ds), output_dir=str(tmp_path / "run"), max_steps=2,
                         tokens_per_step=300, micro_batch_tokens=256, **kw)


def test_too_small_dataset_is_refused_with_numbers(tiny_model_dir, tmp_path):
    ds = write_dataset(tmp_path / "small", n_train=3, n_val=1, n_test=1)
    with pytest.raises(lora_sft.DatasetTooSmall, match=r"3 usable training examples \(\d+ tokens\).*at least 8"):
        lora_sft.run(_cfg(tiny_model_dir, ds, tmp_path))


def test_missing_base_model(dataset_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        lora_sft.run(_cfg(tmp_path / "nope", dataset_dir, tmp_path))


def test_not_a_causal_lm(dataset_dir, tmp_path):
    from transformers import BertConfig
    d = tmp_path / "bert"
    BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
               intermediate_size=8, architectures=["BertForMaskedLM"]).save_pretrained(d)
    with pytest.raises(ModelLoadError, match="not a causal language model"):
        lora_sft.run(_cfg(d, dataset_dir, tmp_path))


def test_incompatible_lora_targets(tiny_model_dir, dataset_dir, tmp_path):
    with pytest.raises(ModelLoadError, match=r"\['query_key_value'\] are not linear layers.*q_proj"):
        lora_sft.run(_cfg(tiny_model_dir, dataset_dir, tmp_path, lora_targets=["query_key_value"]))


def test_malformed_jsonl_names_the_line(tmp_path):
    p = tmp_path / "train.jsonl"
    p.write_text(json.dumps({"messages": [{"role": "user", "content": "hi"}]}) + "\n{not json\n")
    with pytest.raises(DatasetError, match="train.jsonl:2: not valid JSON"):
        read_chat_jsonl(p)
    p.write_text(json.dumps({"messages": [{"role": "wizard", "content": "hi"}]}) + "\n")
    with pytest.raises(DatasetError, match="role 'wizard'"):
        read_chat_jsonl(p)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no train.jsonl"):
        split_files(tmp_path / "empty")


def test_unknown_config_option_is_named():
    with pytest.raises(ValueError, match="unknown LoraSFTConfig option.*lora_rank"):
        from_dict(LoraSFTConfig, {"lora_rank": 8})


def test_set_overrides_read_json_keep_plain_strings_and_refuse_a_missing_equals_sign():
    # the one parser of `--set KEY=VALUE` for the recipes' command lines and `teamlore train`
    assert parse_overrides(["lr=1e-4", "lora_r=32", "fsdp=true", "betas=[0.9, 0.95]", "lora_impl=peft", "x=a=b"]) \
        == {"lr": 1e-4, "lora_r": 32, "fsdp": True, "betas": [0.9, 0.95], "lora_impl": "peft", "x": "a=b"}
    with pytest.raises(ValueError, match="KEY=VALUE, got 'lr'"):
        parse_overrides(["lr"])
    with pytest.raises(ValueError, match="unknown LoraSFTConfig option"):
        lora_sft.parse_args(["--base", "b", "--dataset", "d", "--out", "o", "--set", "lrr=1"])
    cfg = lora_sft.parse_args(["--base", "b", "--dataset", "d", "--out", "o", "--set", "lr=0.5", "--set", "lora_r=4"])
    assert (cfg.lr, cfg.lora_r) == (0.5, 4)


def test_out_of_memory_is_reported_with_the_setting_to_change(tiny_model_dir, dataset_dir, tmp_path, monkeypatch):
    from finetune import loop

    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 6.00 GiB")
    monkeypatch.setattr(loop.PackedCausalLM, "forward", oom)
    with pytest.raises(TrainingError, match="lower micro_batch_tokens.*gradient_checkpointing"):
        lora_sft.run(_cfg(tiny_model_dir, dataset_dir, tmp_path))


@pytest.mark.parametrize("bad", [0, -2, 1.5, "8", True])
def test_liger_chunk_mem_must_be_a_positive_integer(tiny_model_dir, dataset_dir, tmp_path, bad):
    with pytest.raises(ValueError, match="liger_chunk_mem must be a positive integer"):
        lora_sft.run(_cfg(tiny_model_dir, dataset_dir, tmp_path, liger_chunk_mem=bad))


def test_unknown_lora_impl_is_refused(tiny_model_dir, dataset_dir, tmp_path):
    with pytest.raises(ModelLoadError, match="lora_impl must be one of peft, grouped, auto"):
        lora_sft.run(_cfg(tiny_model_dir, dataset_dir, tmp_path, lora_impl="fast"))
