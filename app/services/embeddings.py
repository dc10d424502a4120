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


def active_pointer(settings: Settings) -> Path:
    """Where the retriever adaptation records the adapted model in use (models/embeddings/ACTIVE.json)."""
    return settings.models_dir / "embeddings" / "ACTIVE.json"


def adapted_model(settings: Settings) -> str | None:
    """The adapted embedding model published for the configured one (None: use the configured model). A pointer
    made for another configured model is ignored, so changing TEAMLORE_EMBEDDING_MODEL still takes effect."""
    import json
    p = active_pointer(settings)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("adapted_from") != settings.embedding_model or not Path(data.get("path", "")).is_dir():
        return None
    return str(data["path"])


def embedding_model_path(settings: Settings) -> str:
    """The adapted model when one was published for the configured model; else the configured model. A relative
    model path is relative to the data directory (where adapted models are saved)."""
    adapted = adapted_model(settings)
    if adapted:
        return adapted
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


def get_token_counter(settings: Settings) -> Callable[[str], int]:
    """Counts text in the embedding model's tokens (usage of extractive answers)."""
    emb = get_embedder_for(settings)

    def count(text: str) -> int:
        with emb.tokenizer_lock:
            return len(emb.tokenizer(text, add_special_tokens=False)["input_ids"])
    return count
