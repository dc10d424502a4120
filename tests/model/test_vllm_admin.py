"""vllm_admin's request shapes and error paths against the loopback fake (the real server: test_vllm_integration)."""
from __future__ import annotations

import pytest

from model.base import GeneratorUnavailable
from model.vllm_admin import VLLMAdminError, list_models, load_lora_adapter, unload_lora_adapter
from model.vllm_server import free_port
from tests.model.fake_openai_server import FakeOpenAIServer


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


@pytest.fixture
def adapter_dir(tmp_path):
    d = tmp_path / "adapter"
    d.mkdir()
    (d / "adapter_config.json").write_text('{"r": 8}')
    return d


def test_load_sends_name_and_absolute_path_and_returns_the_entry(fake, adapter_dir):
    entry = load_lora_adapter(fake.url, "team-v1", adapter_dir, api_key="k")
    assert (entry.id, entry.parent, entry.root) == ("team-v1", "base", str(adapter_dir.resolve()))
    req = fake.requests[-1]
    assert req["path"] == "/v1/load_lora_adapter" and req["auth"] == "Bearer k"
    assert req["body"] == {"lora_name": "team-v1", "lora_path": str(adapter_dir.resolve())}
    assert [m.id for m in list_models(fake.url)] == ["base", "team-v1"]


def test_reloading_is_a_no_op_and_a_name_stands_for_one_version(fake, adapter_dir, tmp_path):
    load_lora_adapter(fake.url, "team-v1", adapter_dir)
    posts = len(fake.requests)
    load_lora_adapter(fake.url, "team-v1", adapter_dir)
    assert len(fake.requests) == posts
    other = tmp_path / "other"
    other.mkdir()
    (other / "adapter_config.json").write_text("{}")
    with pytest.raises(VLLMAdminError, match="already served from"):
        load_lora_adapter(fake.url, "team-v1", other)


def test_unload_and_missing_ok(fake, adapter_dir):
    load_lora_adapter(fake.url, "team-v1", adapter_dir)
    unload_lora_adapter(fake.url, "team-v1")
    assert [m.id for m in list_models(fake.url)] == ["base"]
    unload_lora_adapter(fake.url, "team-v1", missing_ok=True)
    with pytest.raises(VLLMAdminError, match="cannot be found"):
        unload_lora_adapter(fake.url, "team-v1")


def test_server_without_runtime_lora_says_how_to_start_it(fake, adapter_dir):
    fake.lora_routes = False
    for call in (lambda: load_lora_adapter(fake.url, "team-v1", adapter_dir),
                 lambda: unload_lora_adapter(fake.url, "team-v1", missing_ok=True)):
        with pytest.raises(VLLMAdminError, match="VLLM_ALLOW_RUNTIME_LORA_UPDATING=True"):
            call()


def test_bad_input_is_refused_before_any_request(fake, tmp_path):
    not_adapter = tmp_path / "plain"
    not_adapter.mkdir()
    with pytest.raises(ValueError, match="not a peft adapter directory"):
        load_lora_adapter(fake.url, "x", not_adapter)
    for name in ("", " x", "a b"):
        with pytest.raises(ValueError, match="adapter name"):
            load_lora_adapter(fake.url, name, tmp_path)
    assert fake.requests == []


def test_unreachable_server_is_generator_unavailable(adapter_dir):
    url = f"http://127.0.0.1:{free_port()}"
    for call in (lambda: list_models(url), lambda: load_lora_adapter(url, "a", adapter_dir),
                 lambda: unload_lora_adapter(url, "a")):
        with pytest.raises(GeneratorUnavailable, match="cannot reach the vLLM server"):
            call()
