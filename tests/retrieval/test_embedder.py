from __future__ import annotations

import numpy as np
import pytest

from retrieval.embedder import Embedder, EmbedderError, model_fingerprint, resolve_model_path

TEXTS = ["How do I rotate my VPN password?", "Deploys run from the release branch after CI passes.",
         "short", "A much longer passage about leave policy, travel booking and laptop refresh cycles. " * 12]


def test_torch_embedder_normalised_and_ordered(embedder):
    v = embedder.encode(TEXTS)
    assert v.shape == (4, 384) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    single = embedder.encode([TEXTS[1]])[0]
    assert float(single @ v[1]) > 0.9999  # length-sorted batching keeps input order
    assert embedder.encode([]).shape == (0, 384)


def test_unknown_backend_and_model():
    with pytest.raises(EmbedderError, match="unknown embedding backend"):
        Embedder(backend="tensorrt")
    with pytest.raises(EmbedderError, match="cannot load embedding model"):
        Embedder("/nonexistent/model-dir")


def test_fingerprint_is_content_based(tmp_path):
    import shutil
    src = resolve_model_path("all-MiniLM-L6-v2")
    dst = tmp_path / "copy"
    shutil.copytree(src, dst)
    assert model_fingerprint(str(dst)) == model_fingerprint(src)
    (dst / "config.json").write_text((dst / "config.json").read_text().replace("}", ', "x": 1}', 1))
    assert model_fingerprint(str(dst)) != model_fingerprint(src)


@pytest.mark.slow
def test_onnx_int8_backend_matches_fp32(embedder, tmp_path):
    """The default backend: exported from the local weights (offline), cached, close to fp32."""
    int8 = Embedder("all-MiniLM-L6-v2", backend="onnx-int8", cache_dir=tmp_path)
    assert int8.version != embedder.version and int8.version.endswith("onnx-int8")
    cos = (int8.encode(TEXTS) * embedder.encode(TEXTS)).sum(1)
    assert cos.min() > 0.97, cos
    assert (tmp_path / f"{int8.fingerprint}-onnx-int8" / "model.onnx").is_file()
    # a damaged cached export is detected and re-exported
    (tmp_path / f"{int8.fingerprint}-onnx-int8" / "model.onnx").write_bytes(b"broken")
    again = Embedder("all-MiniLM-L6-v2", backend="onnx-int8", cache_dir=tmp_path)
    assert float(again.encode(TEXTS[:1])[0] @ int8.encode(TEXTS[:1])[0]) > 0.999
