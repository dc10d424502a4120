"""The one interface every generator implements."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Iterator, Protocol, runtime_checkable


@dataclass
class GenerationParams:
    max_new_tokens: int = 256
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    adapter: str | None = None  # name of a LoRA adapter (model version) to use, if the backend supports it


class Cancelled(Exception):
    pass


class CancelToken:
    """Set by the caller (client went away, user pressed stop); generators check it between tokens."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()


class GeneratorUnavailable(RuntimeError):
    """The backend cannot be reached or loaded; the message says what to fix."""


@runtime_checkable
class Generator(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]], params: GenerationParams,
               cancel: CancelToken | None = None) -> Iterator[str]:
        """Yield text pieces for the chat `messages` ({"role", "content"}); stop early when `cancel` is set."""
        ...

    def count_tokens(self, text: str) -> int:
        ...

    @property
    def context_window(self) -> int:
        ...
