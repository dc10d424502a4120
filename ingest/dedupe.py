"""Near-duplicate detection with MinHash LSH (datasketch): repeated announcements, pasted boilerplate.

Short texts are never called duplicates: two people both writing "thanks!" are two messages, not boilerplate.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

from datasketch import MinHash, MinHashLSH

_WORD = re.compile(r"\w+", re.U)


def _own_words(text: str) -> list[str]:
    """Words the author wrote: quoted lines ("> …") repeat someone else and must not make a reply a duplicate."""
    return _WORD.findall("\n".join(ln for ln in text.lower().splitlines() if not ln.lstrip().startswith(">")))


def shingles(text: str, k: int = 3) -> set[bytes]:
    words = _own_words(text)
    if len(words) < k:
        return {" ".join(words).encode()}
    return {" ".join(words[i:i + k]).encode() for i in range(len(words) - k + 1)}


# 0.7 Jaccard on word 3-grams: one changed word (a date) in a 25-word announcement still counts as a repeat,
# while two different answers on the same topic stay far below it.
class NearDuplicateIndex:
    """Feed texts in order; `add` returns the key of an earlier near-duplicate, or None for a new text."""

    def __init__(self, threshold: float = 0.7, num_perm: int = 128, min_words: int = 8):
        self.threshold = threshold
        self.num_perm = num_perm
        self.min_words = min_words
        self.lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
        self.hashes: dict[str, MinHash] = {}
        # Generating the permutations costs more than hashing a message: make them once, share them.
        template = MinHash(num_perm=num_perm)
        self._permutations, self._scheme = template.permutations, template.scheme

    def _minhash(self, text: str) -> MinHash:
        mh = MinHash(num_perm=self.num_perm, permutations=self._permutations, scheme=self._scheme)
        mh.update_batch(list(shingles(text)))
        return mh

    def add(self, key: str, text: str) -> str | None:
        if len(_own_words(text)) < self.min_words:
            return None
        mh = self._minhash(text)
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

