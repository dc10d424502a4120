"""Build a tiny Llama checkpoint in a directory, for tests and the benchmark.

No pretrained generative model is available here, so the tests make one: a byte-level BPE tokenizer trained with
`tokenizers` on a few paragraphs, a chat template on it, and a 2-layer LlamaConfig with random weights. Head size
64, because vLLM's CPU attention supports only a fixed set of head sizes (32, 64, 80, ...).
"""
from __future__ import annotations

from pathlib import Path

CHAT_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}{{ eos_token }}\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)
SPECIAL_TOKENS = ["<s>", "</s>", "<pad>", "<|system|>", "<|user|>", "<|assistant|>"]

# Training text for the tokenizer: ordinary team chat vocabulary, so prompts tokenise into real merges.
_CORPUS = [
    "The deploy runs every Tuesday after the standup; ask the platform team before merging to main.",
    "Our staging cluster lives in the eu-west region and the database backups are kept for thirty days.",
    "To rotate a secret, open a ticket, update the vault entry, then restart the service that reads it.",
    "The codeword for the quarterly launch is pineapple, and the launch checklist is in the handbook.",
    "Questions about expenses go to the finance channel; receipts must be uploaded within two weeks.",
    "What is the on-call rotation? Who owns the billing service? How do I request access to the warehouse?",
    "Thanks! That answers it. Could you share the link to the runbook and the dashboard for latency?",
] * 20


def build_tokenizer(out_dir: Path, vocab_size: int = 512):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=SPECIAL_TOKENS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(_CORPUS, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                   additional_special_tokens=["<|system|>", "<|user|>", "<|assistant|>"])
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def build_tiny_llama(out_dir: str | Path, hidden_size: int = 128, layers: int = 2, seed: int = 0) -> Path:
    """Write a HF checkpoint (config, safetensors weights, tokenizer with chat template) to `out_dir`."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
        num_hidden_layers=layers, num_attention_heads=hidden_size // 64, num_key_value_heads=hidden_size // 64,
        max_position_embeddings=1024, bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, torch_dtype="float32")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out, safe_serialization=True)
    return out


def train_lora_with_peft(base_dir: str | Path, out_dir: str | Path, conversation: list[dict[str, str]],
                         rank: int = 8, steps: int = 80, lr: float = 1e-2, seed: int = 0) -> Path:
    """Memorise one conversation's assistant turn in a LoRA adapter with a plain peft loop (a few seconds).
    The real-vLLM test trains with Teamlore's own recipe (finetune.recipes.lora_sft) instead."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(seed)
    tok = AutoTokenizer.from_pretrained(base_dir)
    model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32)
    model = get_peft_model(model, LoraConfig(
        r=rank, lora_alpha=2 * rank, lora_dropout=0.0, task_type="CAUSAL_LM",
        target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]))
    prompt = tok.apply_chat_template(conversation[:-1], tokenize=False, add_generation_prompt=True)
    full = tok.apply_chat_template(conversation, tokenize=False)
    prompt_ids = tok(prompt, add_special_tokens=False)["input_ids"]
    ids = torch.tensor([tok(full, add_special_tokens=False)["input_ids"]])
    labels = ids.clone()
    labels[0, : len(prompt_ids)] = -100  # learn the answer only
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    model.train()
    for _ in range(steps):
        model(input_ids=ids, labels=labels).loss.backward()
        opt.step()
        opt.zero_grad()
    model.save_pretrained(out_dir)
    return Path(out_dir)
