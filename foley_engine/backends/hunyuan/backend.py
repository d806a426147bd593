"""The ``hunyuan`` backend: HunyuanVideo-Foley through the long-form scheduler.

Importable without torch: ``availability`` must be able to say "torch is
not installed" rather than fail to import.
"""
from __future__ import annotations

import importlib.util
from fractions import Fraction
from typing import Optional

import numpy as np

from ...errors import BackendError
from ...timebase import SAMPLE_RATE
from ..base import STEMS_BY_PASSES, Availability, Backend, BackendOption, FrameSpec, WindowRequest
from .checkpoints.layout import (
    check_size, download_hint, estimate_bytes, estimate_offload_bytes, gib, hunyuan_dir, missing, require_files,
)

#: the model was trained on clips of up to 15 s; users report the best quality at 8-10 s
NATIVE_WINDOW = Fraction(10)
#: overlap handed back as ``previous_tail``: conditioning context and crossfade length
OVERLAP = Fraction(1)
SIGLIP_FPS = Fraction(8)
SYNC_FPS = Fraction(25)
CONTINUITY_MODES = ("inpaint", "crossfade")
SIZES = ("xxl", "xl")


def _frame_specs(siglip_size: int = 512, sync_size: int = 224) -> tuple[FrameSpec, ...]:
    return (
        # SigLIP2: stretched to a square, as the reference's Resize((512, 512)).
        FrameSpec("siglip", SIGLIP_FPS, siglip_size, siglip_size, "rgb24", "stretch", "BILINEAR"),
        # Synchformer: short side to 224 (bicubic), centre crop.
        FrameSpec("sync", SYNC_FPS, sync_size, sync_size, "rgb24", "cover", "BICUBIC"),
    )


def _missing_packages() -> list[str]:
    return [name for name in ("torch", "transformers", "diffusers", "huggingface_hub")
            if importlib.util.find_spec(name) is None]


def _device_check(device: str, size: str, offload: bool) -> Optional[str]:
    """Why ``device`` cannot hold the model, or None."""
    import torch

    dev = torch.device(device)
    if dev.type == "cpu":
        return None
    if dev.type != "cuda":
        return f"device {device} is not supported (use cuda:N or cpu)"
    if not torch.cuda.is_available():
        return f"no CUDA for device {device} (this torch build or machine has no usable GPU; --device cpu runs, very slowly)"
    index = dev.index or 0
    if index >= torch.cuda.device_count():
        return f"no CUDA device {device}: {torch.cuda.device_count()} visible"
    total = torch.cuda.get_device_properties(index).total_memory
    need = estimate_offload_bytes(size) if offload else estimate_bytes(size)
    if total < need:
        hint = "" if offload else "; try --offload"
        hint += "" if size == "xl" else " or --size xl"
        return (f"{device} has {gib(total)}, HunyuanVideo-Foley {size.upper()} needs about "
                f"{gib(need)}{' with offload' if offload else ''}{hint}")
    return None


class HunyuanBackend(Backend):
    #: one model, one mix: a stem is its own generation with a class prompt (Backend.stem_prompts)
    stems = STEMS_BY_PASSES
    name = "hunyuan"
    description = "HunyuanVideo-Foley (Tencent), 48 kHz neural Foley from video + text; GPU, local weights"
    licence = ("code Apache-2.0 (ours); weights: Tencent Hunyuan Community License, not licensed in the EU, "
               "the UK or South Korea")
    sample_rate = SAMPLE_RATE
    channels = 1  # the VAE decodes mono
    native_window = NATIVE_WINDOW
    overlap = OVERLAP
    frame_specs = _frame_specs()
    device = "cuda:0"
    options = (
        BackendOption("size", str, "HunyuanVideo-Foley size (default xxl)", choices=SIZES, scope="load"),
        BackendOption("models_dir", str, "models folder (default: $FOLEY_MODELS_DIR or the per-user data folder)",
                      scope="load", metavar="DIR"),
        BackendOption("offload", bool, "keep idle components in CPU memory (for 16-24 GB cards; slower)",
                      scope="load"),
        BackendOption("steps", int, "sampling steps (default 50)", metavar="N"),
        BackendOption("guidance", float, "classifier-free guidance scale (default 4.5; 1 disables)",
                      metavar="SCALE"),
        BackendOption("continuity", str, "how windows continue each other (default inpaint; crossfade when the "
                      "VAE file has no encoder)",
                      choices=CONTINUITY_MODES, scope="load"),
        BackendOption("onnx", bool, "run the visual encoders with ONNX Runtime (exported once, checked against "
                      "PyTorch)", scope="load"),
    )

    def __init__(self, device: Optional[str] = None, size: str = "xxl", models_dir: Optional[str] = None,
                 offload: bool = False, steps: Optional[int] = None, guidance: Optional[float] = None,
                 continuity: Optional[str] = None, onnx: bool = False, onnx_cache: Optional[str] = None, pipeline=None,
                 **options):
        from .pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, HunyuanFoleyPipeline

        if continuity is not None and continuity not in CONTINUITY_MODES:
            raise BackendError(f"continuity must be one of {', '.join(CONTINUITY_MODES)}, got {continuity!r}")
        self.size = check_size(size)
        self.steps = int(steps) if steps is not None else DEFAULT_STEPS
        self.guidance = float(guidance) if guidance is not None else DEFAULT_GUIDANCE
        if self.steps < 1:
            raise BackendError(f"steps must be at least 1, got {self.steps}")
        self.options = dict(options)
        if pipeline is None:
            self.device = device or "cuda:0"
            folder = hunyuan_dir(models_dir)
            require_files(folder, self.size, models_dir)
            self._check_free_memory(offload)
            pipeline = HunyuanFoleyPipeline.from_folder(folder, self.size, self.device, offload=offload)
        else:
            self.device = str(pipeline.device)
        self.pipeline = pipeline
        if pipeline.sample_rate != self.sample_rate:
            raise BackendError(f"the audio VAE runs at {pipeline.sample_rate} Hz, expected {self.sample_rate}")
        self.frame_specs = _frame_specs(pipeline.siglip.image_size, pipeline.synchformer.config.image_size)
        self.load_notices = [line for part in (pipeline.dit, pipeline.vae, pipeline.synchformer)
                             for line in getattr(part, "load_notices", [])]
        self.continuity = self._resolve_continuity(continuity)
        self.onnx_reports = []
        if onnx:
            self._enable_onnx(onnx_cache or hunyuan_dir(models_dir) / "onnx")

    def _resolve_continuity(self, asked: Optional[str]) -> str:
        """``inpaint`` (the default) needs the VAE encoder, which a repacked VAE file may lack."""
        if self.pipeline.vae.has_encoder:
            return asked or "inpaint"
        if asked == "inpaint":
            raise BackendError("--continuity inpaint encodes the previous window's audio, but the audio VAE file "
                               "has no encoder; use --continuity crossfade or the released vae_128d_48k.pth")
        if asked is None:
            self.load_notices.append("the audio VAE has no encoder: windows continue by crossfade, not inpainting")
        return "crossfade"

    def _enable_onnx(self, cache) -> None:
        missing = [m for m in ("onnxruntime", "onnx") if importlib.util.find_spec(m) is None]
        if missing:
            raise BackendError(f"--onnx needs {' and '.join(missing)} (pip install onnxruntime-gpu onnx)")
        from .onnx_encoders import enable_onnx

        try:
            self.onnx_reports = enable_onnx(self.pipeline, cache)
        except RuntimeError as exc:
            raise BackendError(str(exc)) from None

    def _check_free_memory(self, offload: bool) -> None:
        import torch

        if not self.device.startswith("cuda") or not torch.cuda.is_available():
            return
        free, _ = torch.cuda.mem_get_info(torch.device(self.device))
        need = estimate_offload_bytes(self.size) if offload else estimate_bytes(self.size)
        if free < need:
            raise BackendError(f"{self.device} has {gib(free)} free, HunyuanVideo-Foley {self.size.upper()} "
                               f"needs about {gib(need)}; close other GPU programs"
                               f"{'' if offload else ', or use --offload'}")

    @classmethod
    def availability(cls, **options) -> Availability:
        if options.get("pipeline") is not None:
            return Availability(True)
        gone = _missing_packages()
        if gone:
            return Availability(False, f"needs {', '.join(gone)} (pip install 'foley-engine[gpu]')")
        try:
            size = check_size(options.get("size", "xxl"))
        except BackendError as exc:
            return Availability(False, str(exc))
        folder = hunyuan_dir(options.get("models_dir"))
        gone = missing(folder, size)
        if gone:
            return Availability(False, f"no weights found at {folder} (missing {', '.join(gone)}); "
                                       f"run `{download_hint(size, options.get('models_dir'))}`")
        reason = _device_check(options.get("device") or "cuda:0", size, bool(options.get("offload")))
        return Availability(False, reason) if reason else Availability(True)

    @property
    def independent_windows(self) -> bool:
        """With ``continuity=crossfade`` a window never sees its predecessor: windows may run in parallel."""
        return self.continuity != "inpaint"

    def generate(self, request: WindowRequest) -> np.ndarray:
        if request.sample_rate != self.sample_rate:
            raise BackendError(f"hunyuan renders at {self.sample_rate} Hz, got a request at {request.sample_rate} Hz")
        from .pipeline import DEFAULT_NEGATIVE_PROMPT

        opts = request.options
        tail = request.previous_tail if self.continuity == "inpaint" else None
        audio = self.pipeline.generate(
            request.frames["siglip"].images,
            request.frames["sync"].images,
            request.num_samples,
            request.prompt,
            request.negative_prompt or DEFAULT_NEGATIVE_PROMPT,
            seed=request.seed,
            steps=int(opts.get("steps", self.steps)),
            guidance=float(opts.get("guidance", self.guidance)),
            previous_audio=tail,
        )
        return audio[:, None].astype(np.float32)

    def close(self) -> None:
        self.pipeline = None
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:
            pass

    def describe(self) -> dict:
        out = super().describe()
        out.update(size=self.size, steps=self.steps, guidance=self.guidance, continuity=self.continuity,
                   offload=bool(getattr(self.pipeline, "offload", False)),
                   onnx=[r.to_dict() for r in self.onnx_reports], load_notices=list(self.load_notices))
        return out
