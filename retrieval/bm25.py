"""BM25 keyword index (bm25s, English Snowball stemmer, English stopwords) over chunk ids."""
from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Sequence

import numpy as np


class BM25Index:
    def __init__(self, k1: float = 1.2, b: float = 0.75):
        import bm25s
        import Stemmer
        self._bm25s = bm25s
        self.k1, self.b = k1, b
        self.stemmer = Stemmer.Stemmer("english")
        self.model = None
        self.ids = np.zeros(0, dtype=np.int64)
        self._lock = threading.Lock()  # the stemmer is not thread-safe
        self._df: np.ndarray | None = None

    def _tokenize(self, texts: Sequence[str]):
        with self._lock:
            return self._bm25s.tokenize(list(texts), stopwords="en", stemmer=self.stemmer, show_progress=False)

    def build(self, ids: Sequence[int], texts: Sequence[str]) -> "BM25Index":
        self.ids = np.asarray(ids, dtype=np.int64)
        if len(texts):
            self.model = self._bm25s.BM25(k1=self.k1, b=self.b)
            self.model.index(self._tokenize(texts), show_progress=False)
        else:
            self.model = None
        return self

    def __len__(self) -> int:
        return len(self.ids)

    def search(self, query: str, k: int) -> list[tuple[int, float]]:
        if self.model is None or not len(self.ids):
            return []
        tokens = self._tokenize([query])
        if not tokens.ids or not tokens.ids[0]:
            return []  # every query word is a stopword or unknown: keyword search has nothing to say
        k = min(k, len(self.ids))
        docs, scores = self.model.retrieve(tokens, k=k, show_progress=False, n_threads=1)
        return [(int(self.ids[d]), float(s)) for d, s in zip(docs[0], scores[0]) if s > 0]

    def idf(self, word: str) -> float:
        """Inverse document frequency of `word` (stemmed as the index stems) over the indexed chunks, BM25's
        formula: rare terms high, common ones near 0; a word the index has never seen gets the highest value."""
        n = len(self.ids)
        df = 0
        if self.model is not None and n:
            if self._df is None:
                indptr = np.asarray(self.model.scores["indptr"])
                self._df = np.diff(indptr)  # chunks holding each vocabulary term
            with self._lock:
                term = self.stemmer.stemWord(word.lower())
            i = self.model.vocab_dict.get(term)
            if i is not None and i < len(self._df):
                df = int(self._df[i])
        return float(np.log((n - df + 0.5) / (df + 0.5) + 1.0))

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / "bm25_ids.npy", self.ids)
        (folder / "bm25_params.json").write_text(json.dumps({"k1": self.k1, "b": self.b}))
        if self.model is not None:
            self.model.save(str(folder / "bm25"))

    @classmethod
    def load(cls, folder: Path) -> "BM25Index":
        params = json.loads((folder / "bm25_params.json").read_text())
        idx = cls(**params)
        idx.ids = np.load(folder / "bm25_ids.npy")
        if (folder / "bm25").is_dir():
            idx.model = idx._bm25s.BM25.load(str(folder / "bm25"))
        return idx
