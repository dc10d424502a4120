"""Near-duplicate detection with MinHash LSH (datasketch): repeated announcements and pasted boilerplate among
Slack messages (ingestion), repeated examples in a training dataset (ingest/datasets/quality.py). One index, two
uses: each names its words (what a shingle is built from), threshold and size.

Short texts are never called duplicates: two people both writing "thanks!" are two messages, not boilerplate.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache

from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"\w+", re.U)


def own_words(text: str) -> list[str]:
    """Words the author wrote: quoted lines ("> …") repeat someone else and must not make a reply a duplicate."""
    return _WORD.findall("\n".join(ln for ln in text.lower().splitlines() if not ln.lstrip().startswith(">")))


def shingles(words: list[str], k: int = 3) -> set[bytes]:
    """Word k-grams; a text of fewer than k words is one shingle."""
    if len(words) < k:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + k]).encode() for i in range(len(words) - k + 1)}


@lru_cache(maxsize=32)
def bands_for(threshold: float, num_perm: int) -> tuple[int, int]:
    """LSH bands × rows whose S-curve midpoint (1/b)^(1/r) is nearest the threshold. datasketch finds its own by
    numeric integration, which costs seconds per index; candidates are confirmed by their Jaccard anyway."""
    return min(((b, num_perm // b) for b in range(1, num_perm + 1)),
               key=lambda br: abs((1 / br[0]) ** (1 / br[1]) - threshold))


# 0.7 Jaccard on word 3-grams: one changed word (a date) in a 25-word announcement still counts as a repeat,
# while two different answers on the same topic stay far below it.
class NearDuplicateIndex:
    """Feed texts in order; `add` returns the key of an earlier near-duplicate, or None for a new text.

    `words` turns a text into the words its shingles are made of (default: the author's own words, lower-cased);
    a text with fewer than `min_words` of them is never a duplicate. `bands` fixes the LSH bands × rows (None:
    datasketch's optimum for the threshold)."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 128, min_words: int = 8,
                 words: Callable[[str], list[str]] = own_words, bands: tuple[int, int] | None = None):
        self.threshold = threshold
        self.num_perm = num_perm
        self.min_words = min_words
        self.words = words
        self.lsh = (MinHashLSH(num_perm=num_perm, params=bands) if bands
                    else MinHashLSH(threshold=threshold, num_perm=num_perm))
        self.hashes: dict[str, MinHash] = {}
        # Generating the permutations costs more than hashing a message: make them once, share them.
        template = MinHash(num_perm=num_perm)
        self._permutations, self._scheme = template.permutations, template.scheme

    def _minhash(self, words: list[str]) -> MinHash:
        mh = MinHash(num_perm=self.num_perm, permutations=self._permutations, scheme=self._scheme)
        mh.update_batch(list(shingles(words)))
        return mh

    def add(self, key: str, text: str) -> str | None:
        words = self.words(text)
        if len(words) < self.min_words:
            return None
        mh = self._minhash(words)
        for other in self.lsh.query(mh):
            # LSH is probabilistic: confirm with the estimated Jaccard similarity itself.
            if self.hashes[other].jaccard(mh) >= self.threshold:
                return other
        if key not in self.hashes:
            self.lsh.insert(key, mh)
            self.hashes[key] = mh
        return None


def find_near_duplicates(items: Iterable[tuple[str, str]], threshold: float = 0.7,
                         min_words: int = 8) -> dict[str, str]:
    """{key: key of the first earlier near-duplicate} for every item that repeats an earlier one."""
    index = NearDuplicateIndex(threshold=threshold, min_words=min_words)
    dupes = {}
    for key, text in items:
        first = index.add(key, text)
        if first is not None:
            dupes[key] = first
    return dupes
