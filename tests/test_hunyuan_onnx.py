"""Optional ONNX Runtime path for the visual encoders: export, parity, swap-in."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from foley_engine.backends.hunyuan.backend import HunyuanBackend  # noqa: E402
from foley_engine.backends.hunyuan.onnx_encoders import OnnxSiglip, OnnxSynchformer  # noqa: E402
from foley_engine.backends.hunyuan.pipeline import HunyuanFoleyPipeline  # noqa: E402
from hunyuan_tiny import make_tiny_models  # noqa: E402


def test_onnx_visual_encoders_match_pytorch(tmp_path):
    folder = make_tiny_models(tmp_path / "models", size="xl", seed=4)
    reference = HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu")
    backend = HunyuanBackend(pipeline=HunyuanFoleyPipeline.from_folder(folder, "xl", device="cpu"), steps=1,
                             onnx=True, onnx_cache=str(tmp_path / "onnx"))
    pipe = backend.pipeline
    assert isinstance(pipe.synchformer, OnnxSynchformer) and isinstance(pipe.siglip, OnnxSiglip)
    names = {r.name: r for r in backend.onnx_reports}
    assert set(names) == {"synchformer", "siglip2"}
    assert all(r.max_abs_error < 1e-4 and r.provider == "CPUExecutionProvider" for r in names.values())
    assert sorted(p.name for p in (tmp_path / "onnx").iterdir()) == ["siglip_32.onnx", "synchformer_32_128.onnx"]

    rng = np.random.default_rng(0)
    siglip_frames = rng.integers(0, 255, (6, 32, 32, 3), dtype=np.uint8)
    sync_frames = rng.integers(0, 255, (30, 32, 32, 3), dtype=np.uint8)
    got = pipe.encode_conditions(siglip_frames, sync_frames, "rain", "noisy")
    ref = reference.encode_conditions(siglip_frames, sync_frames, "rain", "noisy")
    torch.testing.assert_close(got.clip, ref.clip, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(got.sync, ref.sync, atol=1e-4, rtol=1e-4)
    assert backend.describe()["onnx"][0]["name"] == "synchformer"
