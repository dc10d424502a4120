"""The embedding model the settings name, loaded once per process: for indexing, search and other stages (the
extractive answerer ranks sentences with it)."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from app.settings import Settings
from retrieval.embedder import Embedder, get_embedder


def embedding_backend(settings: Settings) -> str:
    return settings.embedding_backend


def embedding_model_path(settings: Settings) -> str:
    """A relative model path is relative to the data directory (where adapted models are saved)."""
    name = settings.embedding_model
    candidate = settings.data_dir / name
    if not Path(name).is_absolute() and candidate.is_dir():
        return str(candidate)
    return name


def get_embedder_for(settings: Settings) -> Embedder:
    return get_embedder(embedding_model_path(settings), backend=embedding_backend(settings),
                        cache_dir=settings.embedding_cache_dir or settings.models_dir / "onnx")


def get_encoder(settings: Settings) -> Callable[[list[str]], np.ndarray]:
    """Sentence encoder (normalised vectors) for other stages, e.g. the extractive answerer."""
    emb = get_embedder_for(settings)
    return lambda texts: emb.encode(list(texts))
