"""Generator for any OpenAI-compatible chat server: vLLM above all, also TGI, llama.cpp's server, hosted APIs.

Streaming chat completions through the official `openai` client. A LoRA adapter is chosen per request by
model name (vLLM serves each loaded adapter as its own model id), so `params.adapter` becomes `model=`.

Token counting: exact with the model's own tokenizer when its files are on this machine (given as
`tokenizer_path`, or found as the `root` path vLLM reports for the served model); otherwise a conservative
estimate that over-counts (see `estimate_tokens`), so a prompt budget built on it never overflows the window.
"""
from __future__ import annotations

import logging
import math
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import openai

from model.base import CancelToken, GenerationParams, GeneratorUnavailable

log = logging.getLogger(__name__)

# The HTTP library the installed `openai` client is built on: `httpx` up to openai 2.x, `httpx2` from 3.x. Its
# errors can surface mid-stream, so catch them by the library the client really uses, not by the one we import.


def _http_library() -> Any:
    """The module (httpx or httpx2) whose Client `openai.DefaultHttpxClient` (public in every release) extends."""
    for cls in openai.DefaultHttpxClient.__mro__:
        module = sys.modules.get(cls.__module__.split(".")[0])
        if module is not None and module is not openai and hasattr(module, "TransportError"):
            return module
    raise ImportError(f"cannot tell which HTTP library openai {openai.__version__} is built on")


_http = _http_library()
_HTTP_TRANSPORT_ERROR: type[Exception] = _http.TransportError
_HTTP_ERROR: type[Exception] = _http.HTTPError

DEFAULT_CONTEXT_WINDOW = 2048
_CANCEL_POLL_S = 0.02
_DISCOVERY_RETRY_S = 30.0
_PIECES = re.compile(r"[A-Za-z]+|[0-9]|\n|[ \t]+|[^\sA-Za-z0-9]")


def estimate_tokens(text: str) -> int:
    """Token count estimate for when no tokenizer is available; errs high, never (on our tests) low.

    Per piece: a lower-case or Capitalised word ~1 token per 4 letters (common words are one token), an
    ALL-CAPS run 1 per 1.5 letters and a mixed-case run (ids, hashes, camelCase) 1 per 2, since sub-word
    vocabularies split those finely; each digit, newline and punctuation mark 1 (Llama splits digits); a
    non-ASCII character 1 per 2 UTF-8 bytes; then 5 % and one token of margin. Checked against a WordPiece
    (30k) and a tiktoken-style BPE (131k) vocabulary on real handbook pages, abstracts and Slack messages:
    never under, about 1.5x over in total.
    """
    if not text:
        return 0
    n = 0
    for match in _PIECES.finditer(text):
        s = match.group()
        c = s[0]
        if c.isascii() and c.isalpha():
            if s.islower() or (c.isupper() and s[1:].islower()):
                n += math.ceil(len(s) / 4)
            elif s.isupper():
                n += math.ceil(len(s) / 1.5)
            else:
                n += math.ceil(len(s) / 2)
        elif c == "\n" or c.isdigit():
            n += 1
        elif c in " \t":
            n += (len(s) - 1) // 4  # one space joins the next word; long indents cost a little
        elif c.isascii():
            n += 1
        else:
            n += math.ceil(len(c.encode("utf-8")) / 2)
    return math.ceil(n * 1.05) + 1


def api_root(base_url: str) -> str:
    """`http://host:8000`, `http://host:8000/`, `http://host:8000/v1` -> `http://host:8000/v1`."""
    url = base_url.strip().rstrip("/")
    if not re.match(r"^https?://", url):
        raise ValueError(f"OpenAI base URL must start with http:// or https://, got {base_url!r}")
    return url if url.endswith("/v1") else url + "/v1"


@dataclass(frozen=True)
class ServedModel:
    """One entry of GET /v1/models. vLLM adds `root` (where the weights live), `parent` (the base model of a
    LoRA adapter) and `max_model_len`; other servers may leave them out."""
    id: str
    root: str | None = None
    parent: str | None = None
    max_model_len: int | None = None

    @classmethod
    def from_json(cls, entry: dict[str, Any]) -> "ServedModel":
        mml = entry.get("max_model_len")
        return cls(id=str(entry["id"]), root=entry.get("root"), parent=entry.get("parent"),
                   max_model_len=int(mml) if isinstance(mml, (int, float)) and mml > 0 else None)


def _unavailable(base_url: str, exc: Exception) -> GeneratorUnavailable:
    """Turn a client error into a message that says what to check."""
    if isinstance(exc, (openai.APIConnectionError, _HTTP_TRANSPORT_ERROR)):
        return GeneratorUnavailable(
            f"cannot reach the OpenAI-compatible server at {base_url} ({type(exc).__name__}: {exc}); "
            f"is it running, and is TEAMLORE_OPENAI_BASE_URL right?")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return GeneratorUnavailable(f"the server at {base_url} rejected the API key "
                                    f"(HTTP {exc.status_code}); check TEAMLORE_OPENAI_API_KEY")
    if isinstance(exc, openai.APIStatusError):
        return GeneratorUnavailable(f"the server at {base_url} failed (HTTP {exc.status_code}): {_detail(exc)}")
    return GeneratorUnavailable(f"the server at {base_url} failed: {type(exc).__name__}: {exc}")


def _detail(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if body.get("message"):
            return str(body["message"])
    return str(exc.message)


class OpenAIGenerator:
    """Streams chat completions from an OpenAI-compatible server.

    base_url: server root or its /v1 URL. model: the served model id; None discovers it from /v1/models (the
    first base model, i.e. one that is not a LoRA adapter). tokenizer_path: a local tokenizer directory for
    exact token counts. context_window: overrides what the server reports (vLLM's `max_model_len`);
    default_context_window is used when neither is known. One instance is safe to share between threads.
    """

    name = "openai"

    def __init__(self, base_url: str, model: str | None = None, api_key: str | None = None, *,
                 tokenizer_path: str | Path | None = None, context_window: int | None = None,
                 default_context_window: int = DEFAULT_CONTEXT_WINDOW, connect_timeout_s: float = 5.0,
                 read_timeout_s: float = 120.0, max_retries: int = 0) -> None:
        self.base_url = api_root(base_url)
        if context_window is not None and context_window < 1:
            raise ValueError(f"context_window must be positive, got {context_window}")
        self._model = model
        self._context_override = context_window
        self._default_context = default_context_window
        # Retries are off by default: a chat user is better served by a fast, clear failure than by backoff.
        self._client = openai.OpenAI(
            base_url=self.base_url, api_key=api_key or "EMPTY", max_retries=max_retries,
            timeout=openai.Timeout(read_timeout_s, connect=connect_timeout_s))  # httpx or httpx2, as openai uses
        self._lock = threading.Lock()
        self._served: list[ServedModel] | None = None
        self._tokenizer: Any = None
        self._tokenizer_checked = False
        self._tokenizer_retry_at = 0.0
        self._tokenizer_path = Path(tokenizer_path) if tokenizer_path else None
        if self._tokenizer_path is not None and not self._tokenizer_path.exists():
            raise ValueError(f"tokenizer_path {self._tokenizer_path} does not exist")

    # ---- discovery -------------------------------------------------------------------------------------
    def served_models(self, refresh: bool = False) -> list[ServedModel]:
        """GET /v1/models (cached; `refresh=True` re-reads it, e.g. after an adapter was hot-loaded)."""
        with self._lock:
            if self._served is not None and not refresh:
                return self._served
        try:
            page = self._client.models.list()
            served = [ServedModel.from_json(m.model_dump()) for m in page.data]
        except openai.OpenAIError as exc:
            raise _unavailable(self.base_url, exc) from exc
        with self._lock:
            self._served = served
        return served

    @property
    def model(self) -> str:
        """The base model id requests go to when no adapter is asked for."""
        if self._model is None:
            served = self.served_models()
            bases = [m for m in served if m.parent is None] or served
            if not bases:
                raise GeneratorUnavailable(f"the server at {self.base_url} serves no model")
            self._model = bases[0].id
        return self._model

    def _served_entry_or_raise(self, model_id: str) -> ServedModel | None:
        return next((m for m in self.served_models() if m.id == model_id), None)

    def _served_entry(self, model_id: str) -> ServedModel | None:
        try:
            return self._served_entry_or_raise(model_id)
        except GeneratorUnavailable:
            return None

    @property
    def context_window(self) -> int:
        if self._context_override is not None:
            return self._context_override
        try:
            entry = self._served_entry(self.model)
        except GeneratorUnavailable:
            entry = None
        if entry is not None and entry.max_model_len:
            return entry.max_model_len
        return self._default_context

    # ---- tokens ----------------------------------------------------------------------------------------
    def _load_tokenizer(self) -> Any:
        with self._lock:
            if self._tokenizer_checked or time.monotonic() < self._tokenizer_retry_at:
                return self._tokenizer
        path = self._tokenizer_path
        if path is None:
            # vLLM reports where it loaded the model from; when that is a directory here, its tokenizer is exact.
            try:
                entry = self._served_entry_or_raise(self.model)
            except GeneratorUnavailable:
                # Server down: estimate for now, look again in a while (not on every count of a prompt build).
                with self._lock:
                    self._tokenizer_retry_at = time.monotonic() + _DISCOVERY_RETRY_S
                return None
            if entry is not None and entry.root and Path(entry.root).is_dir():
                path = Path(entry.root)
        tokenizer = None
        if path is not None:
            from transformers import AutoTokenizer
            try:
                tokenizer = AutoTokenizer.from_pretrained(str(path))
            except (OSError, ValueError) as exc:
                if self._tokenizer_path is not None:
                    raise ValueError(f"cannot load a tokenizer from {path}: {exc}") from exc
                log.warning("no usable tokenizer at %s (%s); estimating token counts", path, exc)
        with self._lock:
            self._tokenizer, self._tokenizer_checked = tokenizer, True
        return tokenizer

    @property
    def exact_token_counts(self) -> bool:
        """True when count_tokens uses the model's tokenizer rather than the estimate."""
        return self._load_tokenizer() is not None

    def count_tokens(self, text: str) -> int:
        tokenizer = self._load_tokenizer()
        if tokenizer is None:
            return estimate_tokens(text)
        return len(tokenizer.encode(text, add_special_tokens=False))

    # ---- generation ------------------------------------------------------------------------------------
    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: CancelToken | None = None) -> Iterator[str]:
        _check_messages(messages)
        model = params.adapter or self.model
        request: dict[str, Any] = dict(model=model, messages=messages, stream=True,
                                       max_tokens=params.max_new_tokens, temperature=params.temperature,
                                       top_p=params.top_p)
        if params.stop:
            request["stop"] = list(params.stop)
        if cancel is not None and cancel.cancelled:
            return
        try:
            response = self._client.chat.completions.create(**request)
        except openai.NotFoundError as exc:
            what = f"adapter {model!r}" if params.adapter else f"model {model!r}"
            try:
                names = ", ".join(m.id for m in self.served_models(refresh=True))
            except GeneratorUnavailable:
                names = "?"
            raise GeneratorUnavailable(f"the server at {self.base_url} does not serve {what} "
                                       f"(it serves: {names}): {_detail(exc)}") from exc
        except (openai.BadRequestError, openai.UnprocessableEntityError) as exc:
            # The request itself is wrong (e.g. the prompt exceeds the context window): the caller's fault.
            raise ValueError(f"the server at {self.base_url} rejected the request: {_detail(exc)}") from exc
        except openai.OpenAIError as exc:
            raise _unavailable(self.base_url, exc) from exc

        watcher = _CancelWatcher(response, cancel) if cancel is not None else None
        try:
            for chunk in response:
                if cancel is not None and cancel.cancelled:
                    return
                if not chunk.choices:
                    continue  # usage-only or keep-alive chunk
                piece = chunk.choices[0].delta.content
                if piece:
                    yield piece
        except (openai.OpenAIError, _HTTP_ERROR, OSError) as exc:
            if cancel is not None and cancel.cancelled:
                return  # our watcher cut the connection: a cancel, not a failure
            raise _unavailable(self.base_url, exc) from exc
        finally:
            if watcher is not None:
                watcher.stop()
            # Closing mid-stream drops the connection, which makes vLLM abort the request and free its slot.
            response.close()

    def close(self) -> None:
        self._client.close()


class _CancelWatcher:
    """Cuts the HTTP connection as soon as the token is cancelled, even while the reader waits for the first
    token (queueing, prefill): shutdown() wakes a blocked recv() where close() from another thread would not."""

    def __init__(self, response: Any, cancel: CancelToken) -> None:
        self._response = response
        self._cancel = cancel
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="openai-cancel-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._done.wait(_CANCEL_POLL_S):
            if self._cancel.cancelled:
                self._cut()
                return

    def _cut(self) -> None:
        http_response = getattr(self._response, "response", None)
        stream = http_response.extensions.get("network_stream") if http_response is not None else None
        sock = stream.get_extra_info("socket") if stream is not None else None
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass  # already closed

    def stop(self) -> None:
        self._done.set()


def _check_messages(messages: list[dict[str, str]]) -> None:
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {'role', 'content'} dicts")
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in ("system", "user", "assistant") \
                or not isinstance(m.get("content"), str):
            raise ValueError(f"messages[{i}] must be {{'role': system|user|assistant, 'content': str}}, got {m!r}")
