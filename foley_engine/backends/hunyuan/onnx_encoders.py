"""Optional ONNX Runtime path for the two visual encoders (Synchformer and SigLIP2).

``enable_onnx(pipeline, cache_dir)`` exports both encoders once (float32,
dynamic batch, cached next to the weights), opens them with ONNX Runtime's
CUDA provider when the pipeline runs on CUDA and that provider is installed
(``onnxruntime-gpu``), the CPU provider otherwise, checks them against
PyTorch on the same inputs (max abs error) and times both, then swaps them
into the pipeline.  The DiT, the VAE and CLAP stay in PyTorch.

Needs ``onnxruntime`` (or ``onnxruntime-gpu``) and ``onnx`` (the exporter).
"""
from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from plugin_host.atomic import atomic_path

from ...models.synchformer import encode_in_segments
from .models.encoders import normalise_frames

#: a converted encoder must agree with PyTorch to this (features are O(1))
MAX_ABS_ERROR = 1e-3


@dataclass(frozen=True)
class OnnxReport:
    name: str
    provider: str
    max_abs_error: float
    torch_seconds: float
    onnx_seconds: float

    @property
    def speedup(self) -> float:
        return self.torch_seconds / self.onnx_seconds if self.onnx_seconds else float("inf")

    def to_dict(self) -> dict:
        return {**asdict(self), "speedup": round(self.speedup, 3)}


def providers_for(device: torch.device) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    if device.type == "cuda" and "CUDAExecutionProvider" in available:
        return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]
    return ["CPUExecutionProvider"]


def _export(module: torch.nn.Module, example: torch.Tensor, path: Path, names: tuple[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Grad mode on: in no-grad eval mode torch swaps in its fused encoder-layer
    # kernel, which has no ONNX export.
    with atomic_path(path, suffix=".onnx") as tmp, warnings.catch_warnings(), torch.enable_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter announces its deprecation
        torch.onnx.export(module.float().cpu().eval(), (example.float().cpu(),), str(tmp), dynamo=False,
                          input_names=[names[0]], output_names=[names[1]], opset_version=17,
                          dynamic_axes={names[0]: {0: "batch"}, names[1]: {0: "batch"}})


class _SiglipImageFeatures(torch.nn.Module):
    """The pooled SigLIP image embedding as a plain module (what gets exported)."""

    def __init__(self, model):
        super().__init__()
        self.model = model

    def forward(self, pixels):
        feats = self.model.get_image_features(pixel_values=pixels)
        return feats if isinstance(feats, torch.Tensor) else feats.pooler_output


class OnnxSynchformer:
    """Stands in for :class:`Synchformer` in the pipeline (``config``, ``encode_frames``)."""

    def __init__(self, session, config):
        self.session, self.config = session, config

    def to(self, device):
        return self

    def eval(self):
        return self

    def __call__(self, segments: torch.Tensor) -> torch.Tensor:
        out = self.session.run(None, {"segments": segments.detach().float().cpu().numpy()})[0]
        return torch.from_numpy(out).to(segments.device)

    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor, batch_size: int = 16) -> torch.Tensor:
        return encode_in_segments(self, self.config, frames, batch_size)


class OnnxSiglip:
    """Stands in for :class:`SiglipVisionEncoder` (``image_size``, ``__call__``)."""

    def __init__(self, session, image_size: int, batch_size: int = 32):
        self.session, self.image_size, self.batch_size = session, image_size, batch_size

    def to(self, device):
        return self

    def __call__(self, images: np.ndarray) -> torch.Tensor:
        pixels = normalise_frames(images, "cpu", torch.float32).numpy()
        out = [self.session.run(None, {"pixels": pixels[i: i + self.batch_size]})[0]
               for i in range(0, pixels.shape[0], self.batch_size)]
        return torch.from_numpy(np.concatenate(out)).float()[None]


def _timed(fn, repeats: int = 3) -> tuple[np.ndarray, float]:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return out, best


def _compare(name, torch_fn, onnx_fn, provider) -> OnnxReport:
    ref, t_torch = _timed(torch_fn)
    got, t_onnx = _timed(onnx_fn)
    return OnnxReport(name, provider, float(np.abs(np.asarray(ref) - np.asarray(got)).max()), t_torch, t_onnx)


def enable_onnx(pipeline, cache_dir, check: bool = True) -> list[OnnxReport]:
    """Export (once), check and swap in ONNX Runtime versions of the visual encoders."""
    import onnxruntime as ort

    cache = Path(cache_dir)
    device = pipeline.device
    providers = providers_for(device)
    provider = providers[0] if isinstance(providers[0], str) else providers[0][0]
    sync_model, siglip = pipeline.synchformer, pipeline.siglip
    cfg = sync_model.config
    size = siglip.image_size
    sync_example = torch.zeros(2, cfg.segment_frames, 3, cfg.image_size, cfg.image_size)
    pixel_example = torch.zeros(2, 3, size, size)
    sync_path = cache / f"synchformer_{cfg.image_size}_{cfg.embed_dim}.onnx"
    siglip_path = cache / f"siglip_{size}.onnx"
    if not sync_path.is_file():
        _export(sync_model, sync_example, sync_path, ("segments", "tokens"))
        sync_model.to("cpu" if pipeline.offload.parts_offloaded else device)
    if not siglip_path.is_file():
        _export(_SiglipImageFeatures(siglip.model), pixel_example, siglip_path, ("pixels", "embeddings"))
        siglip.to("cpu" if pipeline.offload.parts_offloaded else device)
    onnx_sync = OnnxSynchformer(ort.InferenceSession(str(sync_path), providers=providers), cfg)
    onnx_siglip = OnnxSiglip(ort.InferenceSession(str(siglip_path), providers=providers), size)

    reports = []
    if check:
        gen = torch.Generator().manual_seed(0)
        frames = torch.rand(cfg.segment_frames + cfg.segment_frames // 2, 3, cfg.image_size, cfg.image_size,
                            generator=gen) * 2 - 1
        images = (torch.rand(4, size, size, 3, generator=gen) * 255).to(torch.uint8).numpy()
        with pipeline._on_device(sync_model) as model:
            reports.append(_compare("synchformer", lambda: model.encode_frames(frames.to(device)).float().cpu().numpy(),
                                    lambda: onnx_sync.encode_frames(frames).numpy(), provider))
        with pipeline._on_device(siglip) as enc:
            reports.append(_compare("siglip2", lambda: enc(images).cpu().numpy(), lambda: onnx_siglip(images).numpy(),
                                    provider))
        bad = [r for r in reports if not r.max_abs_error <= MAX_ABS_ERROR]
        if bad:
            raise RuntimeError("ONNX export disagrees with PyTorch: " +
                               ", ".join(f"{r.name} max abs error {r.max_abs_error:.2e}" for r in bad))
    pipeline.synchformer, pipeline.siglip = onnx_sync, onnx_siglip
    return reports
