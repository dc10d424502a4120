"""Versioned, atomically published FAISS + BM25 index snapshots.

Layout under the index directory:
    versions/v000007/   manifest.json, vectors.faiss, records.json (acl + filter fields per id), bm25/
    current             symlink -> versions/v000007  (swapped with os.replace: readers see old or new, never half)

Vectors are keyed by chunk id (IndexIDMap2 over IndexFlatIP, or IndexIVFFlat with ids above a size threshold), so
chunks can be added and removed incrementally. A snapshot records the embedding model's fingerprint and backend; a
different model never gets mixed in (`IndexMismatch`), the caller rebuilds instead.
"""
from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

FORMAT_VERSION = 1
DEFAULT_IVF_THRESHOLD = 250_000


class IndexError_(RuntimeError):
    """Base class (named with a trailing underscore so it does not shadow the builtin IndexError)."""


class IndexMissing(IndexError_):
    pass


class IndexCorrupt(IndexError_):
    pass


class IndexMismatch(IndexError_):
    """The published index was built with another embedding model / backend / dimension."""


@dataclass
class Manifest:
    version: int
    embedding_model: str
    model_version: str  # fingerprint-backend: identity of the vector space
    dim: int
    count: int
    kind: str  # flat | ivf
    params: dict[str, Any] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    last_full_rebuild: float | None = None
    format: int = FORMAT_VERSION
    stats: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "Manifest":
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def ivf_params(n: int) -> dict[str, int]:
    """nlist ~ 4*sqrt(n) (a power of two); nprobe chosen so ~2% of lists are scanned, which keeps recall@10 high
    on embedding data (measured in benchmarks/retrieval_ann.py)."""
    nlist = 1 << max(6, int(round(math.log2(4 * math.sqrt(max(n, 1))))))
    return {"nlist": nlist, "nprobe": max(16, nlist // 48)}


def _faiss():
    import faiss
    return faiss


class VectorIndex:
    """Inner-product index over normalised vectors with int64 ids (= chunks.id)."""

    def __init__(self, dim: int, kind: str = "flat", params: dict[str, Any] | None = None, index=None):
        faiss = _faiss()
        self.dim, self.kind, self.params = dim, kind, dict(params or {})
        if index is not None:
            self.index = index
        elif kind == "flat":
            self.index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
        elif kind == "ivf":
            quantizer = faiss.IndexFlatIP(dim)
            self.index = faiss.IndexIVFFlat(quantizer, dim, int(self.params["nlist"]), faiss.METRIC_INNER_PRODUCT)
        else:
            raise ValueError(f"unknown index kind {kind!r} (flat | ivf)")
        if kind == "ivf":
            self.index.nprobe = int(self.params.get("nprobe", 32))
            if index is None:  # id -> vector lookups (dense scores of BM25-only hits) and removals
                self.index.set_direct_map_type(faiss.DirectMap.Hashtable)

    @classmethod
    def build(cls, ids: np.ndarray, vectors: np.ndarray, *, ivf_threshold: int = DEFAULT_IVF_THRESHOLD,
              kind: str | None = None, params: dict[str, Any] | None = None, seed: int = 7) -> "VectorIndex":
        n, dim = vectors.shape if vectors.ndim == 2 else (0, vectors.shape[-1])
        kind = kind or ("ivf" if n >= ivf_threshold else "flat")
        if kind == "ivf":
            params = params or ivf_params(n)
            params.setdefault("train_size", min(n, params["nlist"] * 64))
        vi = cls(dim, kind, params)
        if kind == "ivf":
            rng = np.random.default_rng(seed)
            sample = vectors[rng.choice(n, size=int(params["train_size"]), replace=False)]
            vi.index.train(np.ascontiguousarray(sample, dtype=np.float32))
        vi.add(ids, vectors)
        return vi

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids) == 0:
            return
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        if vectors.shape[1] != self.dim:
            raise IndexMismatch(f"vector dimension {vectors.shape[1]} != index dimension {self.dim}")
        self.index.add_with_ids(vectors, np.ascontiguousarray(ids, dtype=np.int64))

    def remove(self, ids: Sequence[int]) -> int:
        if len(ids) == 0:
            return 0
        return int(self.index.remove_ids(np.asarray(list(ids), dtype=np.int64)))

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        k = max(1, min(k, len(self))) if len(self) else 1
        if len(self) == 0:
            n = len(vectors)
            return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
        scores, ids = self.index.search(np.ascontiguousarray(vectors, dtype=np.float32), k)
        return scores, ids

    def vector(self, chunk_id: int) -> np.ndarray | None:
        try:
            return self.index.reconstruct(int(chunk_id))
        except RuntimeError:
            return None

    def all_vectors(self) -> tuple[np.ndarray, np.ndarray]:
        """(ids, vectors) of everything stored, to re-index into another kind without re-embedding."""
        faiss = _faiss()
        if self.kind == "flat":
            ids = faiss.vector_to_array(self.index.id_map).astype(np.int64)
            return ids, self.index.index.reconstruct_n(0, len(ids))
        invlists = self.index.invlists
        ids = np.concatenate([faiss.rev_swig_ptr(invlists.get_ids(i), invlists.list_size(i)).copy()
                              for i in range(invlists.nlist)] or [np.zeros(0, np.int64)]).astype(np.int64)
        return ids, np.stack([self.index.reconstruct(int(i)) for i in ids]) if len(ids) else \
            np.zeros((0, self.dim), np.float32)

    def save(self, path: Path) -> None:
        _faiss().write_index(self.index, str(path))

    @classmethod
    def load(cls, path: Path, dim: int, kind: str, params: dict[str, Any]) -> "VectorIndex":
        try:
            index = _faiss().read_index(str(path))
        except Exception as exc:  # noqa: BLE001 - faiss raises RuntimeError with C++ text
            raise IndexCorrupt(f"cannot read {path}: {str(exc).splitlines()[0] if str(exc) else exc}") from exc
        if index.d != dim:
            raise IndexCorrupt(f"{path}: dimension {index.d} but manifest says {dim}")
        return cls(dim, kind, params, index=index)

    def copy(self) -> "VectorIndex":
        faiss = _faiss()
        return VectorIndex(self.dim, self.kind, self.params,
                           index=faiss.deserialize_index(faiss.serialize_index(self.index)))


@dataclass
class Snapshot:
    """One published, immutable version of the index, loaded into memory."""
    path: Path
    manifest: Manifest
    vectors: VectorIndex
    records: dict[int, dict[str, Any]]  # id -> {acl, source, channel, ts, origin_kind, origin_key}
    bm25: Any  # retrieval.bm25.BM25Index

    @property
    def version(self) -> int:
        return self.manifest.version


class IndexStore:
    """Reads and publishes snapshots under `root` (the data directory's index/)."""

    def __init__(self, root: str | Path, keep_versions: int = 3):
        self.root = Path(root)
        self.versions = self.root / "versions"
        self.current = self.root / "current"
        self.keep_versions = keep_versions

    def current_path(self) -> Path | None:
        if not self.current.is_symlink() and not self.current.exists():
            return None
        target = self.current.resolve()
        return target if target.is_dir() else None

    def read_manifest(self, path: Path | None = None) -> Manifest:
        path = path or self.current_path()
        if path is None:
            raise IndexMissing(f"no published index under {self.root}")
        try:
            data = json.loads((path / "manifest.json").read_text())
            manifest = Manifest.from_dict(data)
        except (OSError, ValueError, TypeError) as exc:
            raise IndexCorrupt(f"{path / 'manifest.json'} is unreadable: {exc}") from exc
        if manifest.format != FORMAT_VERSION:
            raise IndexCorrupt(f"{path}: index format {manifest.format}, this Teamlore reads {FORMAT_VERSION}")
        return manifest

    def load(self, expected_model_version: str | None = None) -> Snapshot:
        from retrieval.bm25 import BM25Index
        path = self.current_path()
        if path is None:
            raise IndexMissing(f"no published index under {self.root}")
        manifest = self.read_manifest(path)
        if expected_model_version and manifest.model_version != expected_model_version:
            raise IndexMismatch(f"index was built with {manifest.embedding_model} ({manifest.model_version}); "
                                f"configured model is {expected_model_version}")
        vectors = VectorIndex.load(path / "vectors.faiss", manifest.dim, manifest.kind, manifest.params)
        try:
            raw = json.loads((path / "records.json").read_text())
            records = {int(k): v for k, v in raw.items()}
            bm25 = BM25Index.load(path)
        except (OSError, ValueError, KeyError) as exc:
            raise IndexCorrupt(f"{path}: records or BM25 files unreadable: {exc}") from exc
        if len(vectors) != manifest.count or len(records) != manifest.count:
            raise IndexCorrupt(f"{path}: manifest says {manifest.count} chunks, vectors hold {len(vectors)}, "
                               f"records {len(records)}")
        return Snapshot(path, manifest, vectors, records, bm25)

    def next_version(self) -> int:
        nums = [int(p.name[1:]) for p in self.versions.glob("v*") if p.name[1:].isdigit()] if self.versions.is_dir() \
            else []
        return max(nums, default=0) + 1

    def publish(self, *, manifest: Manifest, vectors: VectorIndex, records: dict[int, dict[str, Any]],
                bm25_texts: Sequence[str] | None = None, bm25_ids: Sequence[int] | None = None,
                bm25=None) -> Path:
        """Write a complete snapshot aside, then swap `current` to it in one rename. A crash at any point leaves
        the previous snapshot serving; a leftover temp folder is cleaned by the next publish."""
        from retrieval.bm25 import BM25Index
        self.versions.mkdir(parents=True, exist_ok=True)
        for stale in self.versions.glob(".tmp-*"):
            shutil.rmtree(stale, ignore_errors=True)
        manifest.version = self.next_version()
        manifest.count = len(vectors)
        if len(records) != len(vectors):
            raise IndexError_(f"refusing to publish: {len(vectors)} vectors but {len(records)} records")
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=self.versions))
        try:
            vectors.save(tmp / "vectors.faiss")
            (tmp / "records.json").write_text(json.dumps({str(k): v for k, v in records.items()}))
            if bm25 is None:
                bm25 = BM25Index().build(list(bm25_ids or []), list(bm25_texts or []))
            bm25.save(tmp)
            (tmp / "manifest.json").write_text(json.dumps(asdict(manifest), indent=1))
            final = self.versions / f"v{manifest.version:06d}"
            os.replace(tmp, final)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        link_tmp = self.root / f".current-{os.getpid()}-{time.monotonic_ns()}"
        os.symlink(os.path.relpath(final, self.root), link_tmp)
        os.replace(link_tmp, self.current)  # the atomic swap
        self._prune(keep=final)
        return final

    def _prune(self, keep: Path) -> None:
        """Drop old versions beyond `keep_versions` (readers holding an old one already have it in memory)."""
        olds = sorted((p for p in self.versions.glob("v*") if p.is_dir() and p != keep), key=lambda p: p.name)
        for p in olds[:max(0, len(olds) - (self.keep_versions - 1))]:
            shutil.rmtree(p, ignore_errors=True)
