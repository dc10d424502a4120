"""The answer generators the engine can use, all behind one interface (`AnswerGenerator`).

- `ExtractiveGenerator`: no generative model; quotes the passages' best sentences (model/extractive.py).
- `ModelGenerator`: a `model.base.Generator` (transformers, or an OpenAI-compatible server such as vLLM) behind
  the fenced prompt of model/prompts.py.

Which generator answers for a model version is decided in app/wiring.py (`generator_for`); the engine only sees a
`Choice`: the generator and the model version name it speaks for.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable, Iterator, Protocol

import numpy as np

from model.base import AnswerMode, CancelToken, GenerationParams, Generator, Passage, count_prompt_tokens
from model.extractive import GENERIC, Extract, ExtractiveAnswerer, Weights, content_words
from model.prompts import build_messages


@dataclass
class AnswerRequest:
    """What every generator gets: the question, the query retrieval used, the passages, the conversation so far."""
    question: str
    query: str
    passages: list[Passage]
    history: list[dict[str, str]] = field(default_factory=list)


@dataclass
class Grounding:
    """What a generator may yield after its text: which passages the answer cites (in the order of its citation
    numbers 1..m) and whether it declined to answer ("I don't know"), with its evidence score."""
    cited: list[int]
    abstained: bool = False
    confidence: float | None = None
    sources_disagree: bool = False


@dataclass
class Usage:
    """Tokens of one answer, counted with the tokenizer in use: the model's for generated answers (the prompt as
    sent, chat template included where the generator can render it), the embedding model's for extractive ones
    (the question and passages read; the answer given)."""
    prompt_tokens: int
    completion_tokens: int
    cut: bool = False  # the answer ended at the token cap, not by itself (OpenAI's finish_reason "length")

    def to_dict(self) -> dict[str, int]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens}


_PARTIAL_MARKER = re.compile(r"\[\d*$")  # "[", "[1" of a citation marker "[12]" cut in the middle


def cut_to_tokens(text: str, max_tokens: int | None, count_tokens: Callable[[str], int] | None) -> tuple[str, bool]:
    """(`text` cut to at most `max_tokens` tokens as `count_tokens` counts them, whether it was cut). It is cut at
    the end of a word (inside the first word only if that word alone is too long), without a half citation marker
    ("... 25 days [1" loses the "[1") or trailing space. No counter: words are counted."""
    count = count_tokens or (lambda t: len(t.split()))
    if max_tokens is None or count(text) <= max_tokens:
        return text, False
    ends = [m.end() for m in re.finditer(r"\S+", text)]
    if not ends or count(text[:ends[0]]) > max_tokens:
        ends = list(range(1, (ends[0] if ends else len(text)) + 1))
    lo, hi = 0, len(ends)  # the longest prefix ending at ends[i - 1] that fits (counts grow with the prefix)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if count(text[:ends[mid - 1]]) <= max_tokens:
            lo = mid
        else:
            hi = mid - 1
    kept = text[:ends[lo - 1]] if lo else ""
    return _PARTIAL_MARKER.sub("", kept).rstrip(), True


def capped(ex: Extract, params: GenerationParams,
           count_tokens: Callable[[str], int] | None) -> tuple[str, list[int], bool]:
    """An extractive answer within the client's `max_tokens`: (text, the passages it still cites, whether it was
    cut). Its citation numbers run 1..m in the order of `ex.cited`; a cut drops the ones after the last left."""
    text, cut = cut_to_tokens(ex.text, params.max_tokens, count_tokens)
    if not cut:
        return text, ex.cited, False
    left = [int(n) for n in re.findall(r"\[(\d+)\]", text)]
    return text, ex.cited[:max(left, default=0)], True


class AnswerGenerator(Protocol):
    name: str
    mode: AnswerMode  # how the answer is made: "generative" or "extractive"

    def stream(self, request: AnswerRequest, params: GenerationParams,
               cancel: CancelToken) -> Iterator[str | Grounding]:
        """Yield the answer's text pieces for `request`, optionally ending with a `Grounding`; nothing at all means
        "no answer in these passages"."""
        ...


def _own_terms(question: str) -> set[str]:
    """The specific words of a question (no stopwords, no generic chat words such as "need", "long", "days")."""
    return {w for w in content_words(question) if w not in GENERIC}


def extract(answerer: ExtractiveAnswerer, request: AnswerRequest, said: str = "") -> Extract:
    """The extractive answer to `request`, for the extractive generator and the generative mode's gate alike.
    A follow-up with words of its own ("and is alcohol included?") is answered by those words from the passages
    its rewritten query retrieved; the previous question's words would pick last turn's sentences again. One that
    leans on the context ("until when?", "and for contractors?"), or whose own words find nothing, keeps it."""
    if request.query != request.question and len(_own_terms(request.question)) >= 2:
        ex = answerer.answer(request.question, request.passages, said)
        if not ex.abstained:
            return ex
    return answerer.answer(request.query, request.passages, said)


class ExtractiveGenerator:
    """Quotes the passages' most relevant sentences; ranks them with the retrieval embedding model (`encode`)."""
    mode: AnswerMode = "extractive"

    def __init__(self, encode: Callable[[list[str]], np.ndarray], weights: Weights | None = None,
                 count_tokens: Callable[[str], int] | None = None, idf: Callable[[str], float] | None = None,
                 expand: Callable[..., str] | None = None):
        self.answerer = ExtractiveAnswerer(encode, weights, idf=idf, expand=expand)
        self.name = self.answerer.name
        self.count_tokens = count_tokens

    def stream(self, request: AnswerRequest, params: GenerationParams,
               cancel: CancelToken) -> Iterator[str | Grounding]:
        # a follow-up wants something new: what the last answer already quoted is left out
        said = " ".join(m["content"] for m in request.history[-2:] if m.get("role") == "assistant")
        ex = extract(self.answerer, request, said)
        text, cited, cut = capped(ex, params, self.count_tokens)
        # "I don't know — the closest sources are …" is a complete answer too: it names (and cites) them
        parts = text.split("\n\n")
        for i, part in enumerate(parts):  # one piece per quote: the client shows them as they come
            yield part + ("\n\n" if i < len(parts) - 1 else "")
        yield Grounding(cited=cited, abstained=ex.abstained, confidence=round(ex.confidence, 4),
                        sources_disagree=ex.conflict)
        if self.count_tokens is not None:
            read = self.count_tokens(request.query) + sum(self.count_tokens(p.text) for p in request.passages)
            yield Usage(prompt_tokens=read, completion_tokens=self.count_tokens(text), cut=cut)
        elif cut:
            yield Usage(prompt_tokens=0, completion_tokens=0, cut=True)


class ModelGenerator:
    """A language model answering from the fenced passages; `adapter` selects a LoRA adapter per call (vLLM)."""
    mode: AnswerMode = "generative"

    def __init__(self, generator: Generator, *, system_prompt: str, context_window: int, adapter: str | None = None,
                 gate: ExtractiveAnswerer | None = None):
        self.generator = generator
        self.name = generator.name
        self.system_prompt = system_prompt
        self.context_window = context_window
        self.adapter = adapter
        # The extractive answerer's abstention policy, applied before the model is asked: weak evidence gets the
        # same "I don't know — the closest sources are …" in both modes (the model is never shown passages that
        # don't answer, where it would be tempted to make something up).
        self.gate = gate

    def stream(self, request: AnswerRequest, params: GenerationParams, cancel: CancelToken) -> Iterator[str | Grounding]:
        gen = self.generator
        if self.gate is not None:
            ex = extract(self.gate, request)
            if ex.abstained:
                text, cited, cut = capped(ex, params, gen.count_tokens)
                yield text
                yield Grounding(cited=cited, abstained=True, confidence=round(ex.confidence, 4))
                yield Usage(prompt_tokens=0, completion_tokens=0, cut=cut)  # the model was not asked
                return
        if self.adapter:
            params.adapter = self.adapter
        messages, _ = build_messages(
            system_prompt=self.system_prompt, question=request.question, passages=request.passages,
            history=request.history, count_tokens=gen.count_tokens,
            context_window=min(self.context_window, gen.context_window), max_new_tokens=params.max_new_tokens)
        yield from self._with_usage(gen, messages, params, cancel)

    @staticmethod
    def _with_usage(gen: Generator, messages: list[dict[str, str]], params: GenerationParams,
                    cancel: CancelToken) -> Iterator[str | Usage]:
        pieces: list[str] = []
        for piece in gen.stream(messages, params, cancel):
            pieces.append(piece)
            yield piece
        completion = gen.count_tokens("".join(pieces))
        # the model stops at max_new_tokens: an answer that long ended there, not by itself
        yield Usage(prompt_tokens=count_prompt_tokens(gen, messages), completion_tokens=completion,
                    cut=not cancel.cancelled and completion >= params.max_new_tokens)


class UnknownModel(LookupError):
    """The requested model name is neither "teamlore" nor a registered model version."""


@dataclass
class Choice:
    generator: AnswerGenerator
    version: str | None  # model version name that answers, if any (None: extractive)


class GeneratorChooser(Protocol):
    """Resolves a requested model name to the generator that answers (app/wiring.py: `GeneratorProvider`)."""

    def choose(self, requested: str | None = None) -> Choice:
        ...

    def forget(self) -> None:
        ...


class FixedChoice:
    """Always answers with one choice (evaluation: the candidate model, or extractive, on the same questions)."""

    def __init__(self, choice: Choice):
        self.choice = choice

    def choose(self, requested: str | None = None) -> Choice:
        return self.choice

    def forget(self) -> None:
        pass
