"""Composition root: the ONE place that builds the answer engine, the searcher and the generator for a model
version. The API (app/api/main.py), the Slack bot (app/slack/bot.py), the training gate
(app/workflows/training.py) and the benchmarks all get them from here.

    generator_for(settings, model_version)  -> Choice      which generator answers for a model version
    GeneratorProvider(settings)                            resolves a requested model name, caches generators
    searcher_for(settings)                  -> Searcher    the process-wide searcher of the index directory
    build_engine(settings, generators=None) -> AnswerEngine
    fixed_engine(settings, choice)          -> AnswerEngine  always answers with one generator (evaluation)
    lazy(factory)                                          a thread-safe build-once accessor
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, TypeVar

from sqlalchemy import select

from app.answering.engine import AnswerEngine, SearchBackend
from app.answering.generators import (Choice, ExtractiveGenerator, FixedChoice, GeneratorChooser, ModelGenerator,
                                      UnknownModel)
from app.db import session_scope
from app.db.models import ModelVersion
from app.services.embeddings import get_encoder, get_token_counter
from app.services.registry import live_version
from app.services.search import Searcher, get_searcher
from app.settings import Settings
from model.base import Generator, GeneratorUnavailable
from model.extractive import ExtractiveAnswerer, Weights
from retrieval.chat_terms import expand_chat

T = TypeVar("T")
log = logging.getLogger(__name__)


def lazy(factory: Callable[[], T]) -> Callable[[], T]:
    """A thread-safe, build-once accessor (the index, models and queue load on first use, not at import)."""
    lock, box = threading.Lock(), []

    def get() -> T:
        if not box:
            with lock:
                if not box:
                    box.append(factory())
        return box[0]
    return get


# --- generators -------------------------------------------------------------------------------------------------

def _model_generator(settings: Settings, generator: Generator, adapter: str | None = None) -> ModelGenerator:
    gate = (ExtractiveAnswerer(get_encoder(settings), extractive_weights(settings), idf=corpus_idf(settings),
                               expand=chat_expander(settings))
            if settings.answer_gate_generative else None)
    return ModelGenerator(generator, system_prompt=settings.system_prompt, context_window=settings.context_window,
                          adapter=adapter, gate=gate)


def serving_backend(settings: Settings, model_version: ModelVersion | None) -> str:
    """Which backend answers for `model_version` under the configured `generator` setting.

    auto (the default): a model version is served where it can be — by the OpenAI-compatible server (vLLM, with the
    version's adapter hot-loaded) when openai_base_url is set, else by transformers on this machine (base +
    adapter); with no version, the configured model (openai_base_url, model_path) or else extractive answers."""
    backend = settings.generator
    if backend != "auto":
        return backend
    if settings.openai_base_url:
        return "openai"
    if model_version is not None or settings.model_path:
        return "transformers"
    return "extractive"


def generator_for(settings: Settings, model_version: ModelVersion | None) -> Choice:
    """The generator that answers for `model_version` (None: no version; the configured model, if any) on the
    configured backend. Loads the model: callers cache the result (`GeneratorProvider` does)."""
    mv = model_version
    backend = serving_backend(settings, mv)
    if backend == "extractive":
        return extractive_choice(settings)
    if backend == "openai":
        from model.openai_generator import OpenAIGenerator
        if not settings.openai_base_url:
            raise GeneratorUnavailable("TEAMLORE_OPENAI_BASE_URL is not set for the openai generator")
        gen = OpenAIGenerator(base_url=settings.openai_base_url, model=settings.openai_model,
                              api_key=settings.openai_api_key)
        # vLLM serves each LoRA adapter under the version's name (hot-loaded on promote): asked per request
        adapter = mv.name if mv is not None and mv.adapter_path else None
        return Choice(_model_generator(settings, gen, adapter), mv.name if mv else settings.openai_model)
    # transformers: the version's base + adapter, else the configured model path
    if mv is not None:
        base, adapter_path, version = mv.base_model, mv.adapter_path, mv.name
    elif settings.model_path:
        base, adapter_path, version = settings.model_path, None, None
    else:
        raise GeneratorUnavailable("no live model version and TEAMLORE_MODEL_PATH is not set")
    from model.transformers_generator import TransformersGenerator
    gen = TransformersGenerator(base, adapter_path=adapter_path, name=version)
    return Choice(_model_generator(settings, gen), version or base)


def model_choice(settings: Settings, generator: Generator, version: str) -> Choice:
    """A choice for a model that is not (yet) a registered version: the training gate's candidate."""
    return Choice(_model_generator(settings, generator), version)


def extractive_weights(settings: Settings) -> Weights:
    return Weights(lexical=settings.answer_lexical_weight, heading=settings.answer_heading_weight,
                   rank=settings.answer_rank_weight, margin=settings.answer_margin,
                   max_units=settings.answer_max_sentences, abstain_below=settings.answer_abstain_below,
                   missing_weight=settings.answer_missing_weight, rare_idf=settings.answer_rare_idf,
                   coverage_of=settings.answer_coverage_of, synonym_cos=settings.answer_synonym_cos,
                   type_weight=settings.answer_type_weight, lexical_idf=settings.answer_lexical_idf,
                   specific_weight=settings.answer_specific_weight, specific_terms=settings.answer_specific_terms,
                   focus_weight=settings.answer_focus_weight, focus_terms=settings.answer_focus_terms,
                   focus_of=settings.answer_focus_of, normalise=settings.answer_normalise)


def chat_expander(settings: Settings) -> Callable[..., str] | None:
    """Retrieval's chat-shorthand expander for the extractive answerer's scoring, when TEAMLORE_QUERY_CHAT_TERMS is
    on (the engine expands the search query with the same setting)."""
    return expand_chat if settings.query_chat_terms else None


def corpus_idf(settings: Settings) -> Callable[[str], float]:
    """A term's IDF over the index now served (BM25's document frequencies): the extractive answerer's
    coverage signal weighs the question's rare terms by it."""
    def idf(word: str) -> float:
        return get_searcher(settings).current().snapshot.bm25.idf(word)
    return idf


def extractive_choice(settings: Settings) -> Choice:
    return Choice(ExtractiveGenerator(get_encoder(settings), extractive_weights(settings),
                                      count_tokens=get_token_counter(settings), idf=corpus_idf(settings),
                                      expand=chat_expander(settings)), None)


class GeneratorProvider:
    """Resolves the requested model name (None or "teamlore": the live version) and keeps one generator per model
    version (loading a model is the slow part)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._cache: dict[str, Choice] = {}
        self._lock = threading.Lock()
        self._degraded: dict[str, str] = {}  # broken live version -> what happened and who answers instead

    def _version(self, requested: str | None) -> ModelVersion | None:
        with session_scope(self.settings.db_url) as s:
            if requested and requested != "teamlore":
                mv = s.scalar(select(ModelVersion).where(ModelVersion.name == requested))
                if mv is None:
                    raise UnknownModel(f"unknown model {requested!r}: see GET /v1/models")
                return mv
            return live_version(s)

    def choose(self, requested: str | None = None) -> Choice:
        """The live version answers (or the version asked for by name); extractive when there is none."""
        if self.settings.generator == "extractive":
            if requested and requested != "teamlore":
                self._version(requested)  # still reject unknown names
            return self._cached("extractive", None)
        mv = self._version(requested)
        key = self._key(mv)
        live = not requested or requested == "teamlore"
        if live and mv is not None:
            with self._lock:
                if f"instead-of:{mv.name}" in self._cache:  # found broken already: do not load it per request
                    return self._cache[f"instead-of:{mv.name}"]
        try:
            return self._cached(key, mv)
        except Exception as exc:  # noqa: BLE001 - a version whose files are gone or unreadable
            if mv is None:
                raise
            # callers (any key: /v1/models, a 503) see the kind of failure; the log also gets its text, which
            # names server paths
            reason = f"model version {mv.name} cannot be loaded ({type(exc).__name__})"
            log.error("%s: %s", reason, exc)
            if not live:
                raise GeneratorUnavailable(reason) from exc
            # the live version is broken: the last version that was live before it answers (as a rollback would
            # choose), else extractive; the answer names who answered. Remembered, so every request does not try
            # to load it again (promote/rollback forget it); asked by name, it is tried again (and refused).
            fallback = self._last_good(mv, reason)
            with self._lock:
                self._cache[f"instead-of:{mv.name}"] = fallback
                self._degraded[mv.name] = f"{reason}; {fallback.version or 'extractive'} answers instead"
            return fallback

    def degraded(self, name: str) -> str | None:
        """Why the live version `name` does not answer (and who does), once a request found it broken."""
        with self._lock:
            return self._degraded.get(name)

    def _key(self, mv: ModelVersion | None) -> str:
        backend = serving_backend(self.settings, mv)
        if backend == "extractive":
            return "extractive"
        if backend == "openai":
            return f"openai:{mv.name if mv is not None else ''}"
        return f"mv:{mv.name}" if mv is not None else f"path:{self.settings.model_path}"

    def _last_good(self, broken: ModelVersion, reason: str) -> Choice:
        with session_scope(self.settings.db_url) as s:
            earlier = s.scalars(select(ModelVersion)
                                .where(ModelVersion.deployment == broken.deployment, ModelVersion.id != broken.id,
                                       ModelVersion.status == "retired", ModelVersion.promoted_at.is_not(None))
                                .order_by(ModelVersion.promoted_at.desc())).all()
            for mv in earlier:
                s.expunge(mv)
        for mv in earlier:
            try:
                choice = self._cached(self._key(mv), mv)
            except Exception as exc:  # noqa: BLE001 - broken too: try the one before
                log.error("%s; the earlier version %s cannot be loaded either (%s)", reason, mv.name, exc)
                continue
            log.error("%s; the last good version %s answers instead until an admin promotes or rolls back",
                      reason, mv.name)
            return choice
        log.error("%s; no earlier version can be loaded: extractive answers instead", reason)
        with self._lock:
            return self._cache.setdefault("extractive", extractive_choice(self.settings))

    def _cached(self, key: str, mv: ModelVersion | None) -> Choice:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = generator_for(self.settings, mv)
            return self._cache[key]

    def forget(self) -> None:
        """Drop loaded generators (after promote/rollback the next request loads the new live version)."""
        with self._lock:
            self._cache.clear()
            self._degraded.clear()


# --- search and the engine ---------------------------------------------------------------------------------------

def searcher_for(settings: Settings) -> Searcher:
    """The process-wide searcher of this index directory (it reloads when a newer index is published)."""
    return get_searcher(settings)


def build_engine(settings: Settings, generators: GeneratorChooser | None = None, *,
                 searcher: Callable[[], SearchBackend] | None = None) -> AnswerEngine:
    """The answer engine on the process-wide searcher (or `searcher`, benchmarks) with the generator provider."""
    return AnswerEngine(settings, searcher or (lambda: searcher_for(settings)),
                        generators or GeneratorProvider(settings))


def fixed_engine(settings: Settings, choice: Choice, searcher: Searcher | None = None) -> AnswerEngine:
    """An engine that always answers with `choice` (the training gate: candidate and extractive side by side)."""
    searcher = searcher or searcher_for(settings)
    return AnswerEngine(settings, lambda: searcher, FixedChoice(choice))
