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
from ..gpu import cuda_memory, missing_packages, missing_weights, release_gpu_cache, sampling
from .checkpoints.layout import check_size, download_hint, gib, hunyuan_dir, missing, require_files
from .memory import OVERLAP as MEMORY_OVERLAP
from .offload import Offload, parse_offload

#: the model was trained on clips of up to 15 s; users report the best quality at 8-10 s
NATIVE_WINDOW = Fraction(10)
#: overlap handed back as ``previous_tail``: conditioning context and crossfade length (the planner's too)
OVERLAP = MEMORY_OVERLAP
SIGLIP_FPS = Fraction(8)
SYNC_FPS = Fraction(25)
CONTINUITY_MODES = ("inpaint", "crossfade")
SIZES = ("xxl", "xl")
WEIGHTS = ("bf16", "fp8")


def _frame_specs(siglip_size: int = 512, sync_size: int = 224) -> tuple[FrameSpec, ...]:
    return (
        # SigLIP2: stretched to a square, as the reference's Resize((512, 512)).
        FrameSpec("siglip", SIGLIP_FPS, siglip_size, siglip_size, "rgb24", "stretch", "BILINEAR"),
        # Synchformer: short side to 224 (bicubic), centre crop.
        FrameSpec("sync", SYNC_FPS, sync_size, sync_size, "rgb24", "cover", "BICUBIC"),
    )


#: what the backend imports to run
PACKAGES = ("torch", "transformers", "diffusers", "huggingface_hub")


def _device_check(device: str, size: str, offload=None, weights: Optional[str] = None,
                  memory: Optional[str] = None) -> Optional[str]:
    """Why ``device`` cannot hold the model, or None (judged by the memory plan against the card's total)."""
    import torch

    from . import memory as planner

    dev = torch.device(device)
    if dev.type == "cpu":
        return None
    if dev.type != "cuda":
        return f"device {device} is not supported (use cuda:N or cpu)"
    total = cuda_memory(dev, device, "very slowly")
    if isinstance(total, str):
        return total
    try:
        if memory:
            planner.choose(size, total, weights, offload)
        else:
            plan = planner.predict(size, weights or "bf16", offload)
            planner.refuse_unless_fits(plan, total, device)
    except BackendError as exc:
        return str(exc)
    return None


def _window(value) -> Fraction:
    """Window seconds, exactly (``Fraction("7.5")``); the model was trained on clips up to 15 s."""
    try:
        seconds = Fraction(str(value))
    except (ValueError, ZeroDivisionError):
        raise BackendError(f"window must be a number of seconds, got {value!r}") from None
    if not 2 <= seconds <= 15:
        raise BackendError(f"window must be 2 to 15 seconds (the model was trained on clips up to 15 s), got {value}")
    return seconds


def _truthy(value) -> bool:
    """A bool option given in-process (True) or through the engine (the string "true")."""
    return value is True or str(value).strip().lower() in ("true", "1", "yes", "on")


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
        BackendOption("offload", str, "what waits in CPU memory: none (default), model (each component moves to "
                      "the GPU while it works), blocks[:N] (the DiT streams its blocks, N kept on the GPU; the "
                      "encoders and VAE move as with model); --offload alone means model", scope="load",
                      metavar="none|model|blocks[:N]", alone="model"),
        BackendOption("weights", str, "DiT weights: bf16 (as released, default) or fp8 (float8 block weights, "
                      "half the memory; a copy is saved in the models folder on first use)", choices=WEIGHTS,
                      scope="load"),
        BackendOption("memory", str, "auto: pick the fastest plan (weights, offload, window) that fits the free GPU "
                      "memory, or a budget such as 8GB; says which it chose (`foley models plan` lists them)",
                      scope="load", metavar="auto|SIZE"),
        BackendOption("window", Fraction, "window length in seconds (default 10; shorter needs less memory, "
                      "runs slower)", scope="load", metavar="SECONDS"),
        BackendOption("compile", bool, "torch.compile the DiT blocks (slow first window; kernels cached)",
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
                 offload=None, steps: Optional[int] = None, guidance: Optional[float] = None,
                 continuity: Optional[str] = None, onnx: bool = False, onnx_cache: Optional[str] = None, pipeline=None,
                 weights: Optional[str] = None, memory: Optional[str] = None, window=None, compile=False,
                 **options):
        from .pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, HunyuanFoleyPipeline

        if continuity is not None and continuity not in CONTINUITY_MODES:
            raise BackendError(f"continuity must be one of {', '.join(CONTINUITY_MODES)}, got {continuity!r}")
        self.size = check_size(size)
        self.steps, self.guidance = sampling(steps, guidance, DEFAULT_STEPS, DEFAULT_GUIDANCE)
        self.options = dict(options)
        self.load_notices = []
        if weights is not None and weights not in WEIGHTS:
            raise BackendError(f"weights must be one of {', '.join(WEIGHTS)}, got {weights!r}")
        if pipeline is None:
            self.device = device or "cuda:0"
            folder = hunyuan_dir(models_dir)
            require_files(folder, self.size, models_dir)
            self.plan = self._memory_plan(weights, offload, memory, window)  # before anything loads
            pipeline = HunyuanFoleyPipeline.from_folder(folder, self.size, self.device, offload=self.plan.offload,
                                                        weights=self.plan.weights)
        else:
            self.device = str(pipeline.device)
            self.plan = None
            if window is not None:
                self.native_window = _window(window)
        self.pipeline = pipeline
        if _truthy(compile):
            from .compile import compile_blocks

            compile_blocks(pipeline.dit)
            self.load_notices.append("DiT blocks compiled with torch.compile (the first window is slow)")
        if pipeline.sample_rate != self.sample_rate:
            raise BackendError(f"the audio VAE runs at {pipeline.sample_rate} Hz, expected {self.sample_rate}")
        self.frame_specs = _frame_specs(pipeline.siglip.image_size, pipeline.synchformer.config.image_size)
        self.load_notices += [line for part in (pipeline.dit, pipeline.vae, pipeline.synchformer)
                              for line in getattr(part, "load_notices", [])]
        self.continuity = self._resolve_continuity(continuity)
        self.onnx_reports = []
        if _truthy(onnx):  # True in-process, "true" through the engine (a string "false" is not on)
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

    def _memory_plan(self, weights, offload, memory, window):
        """The plan to load: asked for (refused in one line when it cannot fit the free memory) or, with
        ``memory`` (auto, or a budget), the fastest that fits; the choice is told as a load notice."""
        import torch

        from . import memory as planner

        offload = None if offload is None else parse_offload(offload)
        window = None if window is None else _window(window)
        budget, where = None, self.device
        if memory not in (None, "", "auto"):
            budget, where = planner.parse_memory(memory), "the --memory budget"
        if self.device.startswith("cuda") and torch.cuda.is_available():
            free, _ = torch.cuda.mem_get_info(torch.device(self.device))
            budget = free if budget is None else min(budget, free)
        if budget is None:  # a CPU: no device memory to plan for
            if memory:
                self.load_notices.append(f"--memory {memory}: {self.device} is not a GPU, nothing to plan")
            return planner.predict(self.size, weights or "bf16", offload or Offload(), window or NATIVE_WINDOW)
        if memory:
            plan = planner.choose(self.size, budget, weights, offload, window, where)
            self.load_notices.append(f"memory plan for {gib(budget)} on {where}: {plan.describe()}")
        else:
            plan = planner.predict(self.size, weights or "bf16", offload or Offload(), window or NATIVE_WINDOW)
            planner.refuse_unless_fits(plan, budget, where)
        if plan.window != NATIVE_WINDOW:
            self.native_window = plan.window
        return plan

    @classmethod
    def availability(cls, **options) -> Availability:
        if options.get("pipeline") is not None:
            return Availability(True)
        reason = missing_packages(PACKAGES)
        if reason:
            return Availability(False, reason)
        try:
            size = check_size(options.get("size", "xxl"))
        except BackendError as exc:
            return Availability(False, str(exc))
        folder = hunyuan_dir(options.get("models_dir"))
        reason = missing_weights(folder, missing(folder, size), download_hint(size, options.get("models_dir")))
        if reason:
            return Availability(False, reason)
        try:
            offload = parse_offload(options.get("offload"))
        except BackendError as exc:
            return Availability(False, str(exc))
        reason = _device_check(options.get("device") or "cuda:0", size, offload, options.get("weights"),
                               options.get("memory"))
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
        release_gpu_cache()

    def describe(self) -> dict:
        out = super().describe()
        out.update(size=self.size, steps=self.steps, guidance=self.guidance, continuity=self.continuity,
                   offload=str(getattr(self.pipeline, "offload", "none")),
                   weights=getattr(self.pipeline, "weights", "bf16"), window=str(self.native_window),
                   plan=self.plan.to_dict() if self.plan is not None else None,
                   onnx=[r.to_dict() for r in self.onnx_reports], load_notices=list(self.load_notices))
        return out
