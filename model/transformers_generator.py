"""Generator over any local Hugging Face causal LM (or hub id where the network allows), optional LoRA adapter.

Each request gets its own streamer and its own generation thread, so concurrent requests neither interleave
nor wait for one another (PyTorch releases the GIL inside its kernels).
"""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Iterator

import torch
from transformers import (AutoConfig, AutoModelForCausalLM, AutoTokenizer, StoppingCriteria,
                          StoppingCriteriaList, TextIteratorStreamer)

from model.base import CancelToken, GenerationParams, GeneratorUnavailable

# Used only when a tokenizer ships without a chat template (e.g. a freshly pretrained demo model).
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class _StopOnCancel(StoppingCriteria):
    def __init__(self, cancel: CancelToken):
        self.cancel = cancel

    def __call__(self, input_ids, scores, **kwargs) -> bool:
        return self.cancel.cancelled


def pick_device(device: str | None = None) -> str:
    if device:
        return device
    return "cuda" if torch.cuda.is_available() else "cpu"


def pick_dtype(device: str) -> torch.dtype:
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


class TransformersGenerator:
    def __init__(self, model_path: str, adapter_path: str | None = None, device: str | None = None,
                 name: str | None = None, cpu_threads: int | None = 1):
        self.name = name or Path(model_path).name
        self.device = pick_device(device)
        if self.device == "cpu" and cpu_threads:
            # Serving runs one generate() thread per request: intra-op threads on top of that oversubscribe the
            # cores (measured: 32 clients on 2 cores, see BENCHMARKS.md "Answer engine under load").
            torch.set_num_threads(cpu_threads)
        try:
            config = AutoConfig.from_pretrained(model_path)
        except (OSError, ValueError) as exc:
            raise GeneratorUnavailable(f"cannot load model config from {model_path!r}: {exc}") from exc
        if not any(a.endswith("ForCausalLM") for a in (config.architectures or [])) and not config.is_decoder \
                and getattr(config, "model_type", "") not in ("llama", "gpt2", "mistral", "qwen2", "gemma", "phi3"):
            raise GeneratorUnavailable(f"{model_path!r} is not a causal language model ({config.architectures})")
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        if not self.tokenizer.chat_template:
            self.tokenizer.chat_template = CHATML_TEMPLATE
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=pick_dtype(self.device))
        if adapter_path:
            from peft import PeftModel
            model = PeftModel.from_pretrained(model, adapter_path)
            model = model.merge_and_unload()  # serving: fold the adapter in, no per-token LoRA cost
        self.model = model.to(self.device).eval()
        self.adapter_path = adapter_path
        self._context = int(getattr(config, "max_position_embeddings", 2048) or 2048)

    @property
    def context_window(self) -> int:
        return self._context

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """The prompt exactly as `stream` feeds it: chat template and generation prompt included."""
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])

    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: CancelToken | None = None) -> Iterator[str]:
        cancel = cancel or CancelToken()
        prompt = self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        inputs = self.tokenizer(prompt, return_tensors="pt", add_special_tokens=False).to(self.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=300)
        room = max(1, min(params.max_new_tokens, self._context - inputs["input_ids"].shape[1]))
        kwargs = dict(**inputs, streamer=streamer, max_new_tokens=room,
                      stopping_criteria=StoppingCriteriaList([_StopOnCancel(cancel)]),
                      pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id)
        if params.temperature > 0:
            kwargs.update(do_sample=True, temperature=params.temperature, top_p=params.top_p)
        else:
            kwargs.update(do_sample=False)
        error: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced to the consumer below
                error.append(exc)
                streamer.end()

        thread = threading.Thread(target=run, daemon=True, name="teamlore-generate")
        thread.start()
        buffer = ""
        try:
            for piece in streamer:
                if cancel.cancelled:
                    break
                if params.stop:
                    start = len(buffer)
                    buffer += piece
                    cut = min((buffer.find(s) for s in params.stop if s in buffer), default=-1)
                    if cut >= 0:
                        if cut > start:
                            yield buffer[start:cut]
                        break
                if piece:
                    yield piece
        finally:
            cancel.cancel()  # the consumer stopped early or finished: let generate() return
            thread.join(timeout=30)
        if error:
            raise GeneratorUnavailable(f"generation failed: {error[0]}") from error[0]
