"""Which generator answers: the live model version (or a requested one) on the configured backend."""
from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select

from app.db import session_scope
from app.db.models import ModelVersion
from app.services.registry import live_version
from app.settings import Settings
from model.base import Generator, GeneratorUnavailable


@dataclass
class Choice:
    generator: Generator | None  # None: extractive answers
    version: str | None  # model version name that answers, if any
    adapter: str | None = None  # adapter name to request per call (vLLM LoRA)


class GeneratorProvider:
    """Loads generators lazily and keeps one per model version (loading a model is the slow part)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._cache: dict[str, Generator] = {}
        self._lock = threading.Lock()

    def _version(self, requested: str | None) -> ModelVersion | None:
        with session_scope(self.settings.db_url) as s:
            if requested and requested != "teamlore":
                mv = s.scalar(select(ModelVersion).where(ModelVersion.name == requested))
                if mv is None:
                    raise LookupError(f"unknown model {requested!r}: see GET /v1/models")
                return mv
            return live_version(s)

    def choose(self, requested: str | None = None) -> Choice:
        backend = self.settings.generator
        if backend == "extractive":
            if requested and requested != "teamlore":
                self._version(requested)  # still reject unknown names
            return Choice(None, None)
        mv = self._version(requested)
        if backend == "openai":
            from model.openai_generator import OpenAIGenerator
            if not self.settings.openai_base_url:
                raise GeneratorUnavailable("TEAMLORE_OPENAI_BASE_URL is not set for the openai generator")
            gen = self._cached("openai", lambda: OpenAIGenerator(
                base_url=self.settings.openai_base_url, model=self.settings.openai_model,
                api_key=self.settings.openai_api_key))
            adapter = mv.name if mv is not None and mv.adapter_path else None
            return Choice(gen, mv.name if mv else self.settings.openai_model, adapter)
        # transformers: the live version's base + adapter, else the configured model path
        if mv is not None:
            key = f"mv:{mv.name}"
            base, adapter_path, version = mv.base_model, mv.adapter_path, mv.name
        elif self.settings.model_path:
            key, base, adapter_path, version = f"path:{self.settings.model_path}", self.settings.model_path, None, None
        else:
            raise GeneratorUnavailable("no live model version and TEAMLORE_MODEL_PATH is not set")
        from model.transformers_generator import TransformersGenerator
        gen = self._cached(key, lambda: TransformersGenerator(base, adapter_path=adapter_path, name=version))
        return Choice(gen, version or base)

    def _cached(self, key: str, factory) -> Generator:
        with self._lock:
            if key not in self._cache:
                self._cache[key] = factory()
            return self._cache[key]

    def forget(self) -> None:
        """Drop loaded generators (after promote/rollback the next request loads the new live version)."""
        with self._lock:
            self._cache.clear()
