"""The one interface every generator implements, and the typed answer that leaves the answer engine:
`Passage` (what a generator reads), `Citation` (what an answer points back to) and `Answer`."""
from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Iterator, Literal, Mapping, Protocol, runtime_checkable


@dataclass
class GenerationParams:
    max_new_tokens: int = 256
    # the client's own cap on the answer (OpenAI max_tokens / max_completion_tokens), None: not given. Models stop
    # at max_new_tokens; an extractive answer (quoted, not generated) is cut to this many tokens.
    max_tokens: int | None = None
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    adapter: str | None = None  # name of a LoRA adapter (model version) to use, if the backend supports it


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


def count_prompt_tokens(generator: Generator, messages: list[dict[str, str]]) -> int:
    """Prompt tokens of `messages` as `generator` sends them: its own count of the rendered chat template where it
    has one (`count_prompt_tokens`), else its tokenizer over each message plus a few tokens of role markup."""
    own = getattr(generator, "count_prompt_tokens", None)
    if callable(own):
        return int(own(messages))
    return sum(generator.count_tokens(m.get("content") or "") + 4 for m in messages) + 2


# --- the answer contract (API, Slack bot, UI client and evaluation all speak these) ----------------------------

@dataclass
class Passage:
    """One retrieved chunk as a generator sees it: numbered for citing as [n]."""
    n: int
    title: str
    text: str
    source: str = "document"  # document | slack
    heading: str | None = None  # heading path inside the document ("Leave › Sick leave")
    channel: str | None = None  # Slack channel name
    date: str | None = None  # YYYY-MM-DD of the message or the document version, for people
    ts: float | None = None  # the same as a number, for "newer wins"
    origin: str | None = None  # which document or Slack thread it comes from (chunks of one origin share it)


@dataclass(frozen=True)
class Citation:
    """A source an answer cites: passage number `n` and where a reader can open it."""
    n: int
    chunk_id: int
    title: str
    snippet: str
    source: Literal["slack", "document"]
    url: str | None = None  # the Slack permalink or the document's link
    channel: str | None = None  # Slack channel name, without '#'
    page: int | None = None
    heading: str | None = None  # heading path joined with ' › '
    document_id: int | None = None
    score: float | None = None
    file: str | None = None  # a document's file name (never the server's folders)
    date: str | None = None  # YYYY-MM-DD: the Slack message's day, or the document version's

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Citation":
        """From stored JSON (older rows may lack optional fields, or carry fields no longer used)."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in data.items() if k in known}
        values.setdefault("chunk_id", 0)
        values.setdefault("title", "")
        values.setdefault("snippet", "")
        values.setdefault("source", "document")
        values.setdefault("n", 0)
        return cls(**values)


AnswerMode = Literal["generative", "extractive", "no_answer"]


@dataclass
class Answer:
    """What the answer engine returns after the streamed text: the whole text, how it was made, its citations,
    the chunks retrieved, the model version that answered, latency figures and (once stored) the ids."""
    text: str
    mode: AnswerMode
    citations: list[Citation]
    chunk_ids: list[int]
    model_version: str | None
    latency: dict[str, float]
    conversation_id: int | None = None
    message_id: int | None = None
    extras: dict[str, Any] = field(default_factory=dict)
