"""The ``mmaudio`` backend: MMAudio (Cheng et al., CVPR 2025) through the long-form scheduler.

Importable without torch, so ``availability`` can say what is missing.  Windows are the model's native
8 s; consecutive windows overlap by 1 s and are crossfaded by the scheduler.  They are independent
(each depends only on its own request: same prompt, a seed from (job seed, window index)), so the
windows of one long item may run on several slots and still stitch bit-identically.
"""
from __future__ import annotations

from fractions import Fraction
from typing import Optional

import numpy as np

from ...errors import BackendError
from ...timebase import SAMPLE_RATE
from ..base import STEMS_BY_PASSES, Availability, Backend, BackendOption, FrameSpec, WindowRequest
from ..gpu import cuda_memory, missing_packages, missing_weights, release_gpu_cache, sampling
from .files import (
    CLIP_FPS, CLIP_SIZE, CODE_LICENCE, DEFAULT_SIZE, LICENCE_LINE, NATIVE_WINDOW, SIZES, SYNC_FPS, SYNC_SIZE,
    WEIGHTS_LICENCE, check_size, download_hint, missing, mmaudio_dir, require_files,
)

#: overlap between windows: the crossfade length (windows do not see each other)
OVERLAP = Fraction(1)
#: memory to hold a size in 16-bit on an accelerator (weights of every component + working room), bytes
GPU_BYTES = {"small_16k": 6 * 2**30, "small_44k": 6 * 2**30, "medium_44k": 7 * 2**30, "large_44k": 8 * 2**30,
             "large_44k_v2": 8 * 2**30}
DEVICES = ("auto", "cuda", "cuda:N", "mps", "cpu")


def frame_specs(clip_size: int = CLIP_SIZE, sync_size: int = SYNC_SIZE) -> tuple[FrameSpec, ...]:
    return (
        # CLIP: stretched to a square (the reference's Resize((384, 384)), bicubic).
        FrameSpec("clip", CLIP_FPS, clip_size, clip_size, "rgb24", "stretch", "BICUBIC"),
        # Synchformer: short side to 224 (bicubic), centre crop.
        FrameSpec("sync", SYNC_FPS, sync_size, sync_size, "rgb24", "cover", "BICUBIC"),
    )


#: what the backend imports to run
PACKAGES = ("torch", "transformers", "huggingface_hub", "soxr")


def resolve_device(device: Optional[str]) -> str:
    """``auto`` (the default): the first CUDA GPU, else Apple's ``mps``, else the CPU."""
    import torch

    if device and device != "auto":
        return device
    if torch.cuda.is_available():
        return "cuda:0"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def device_problem(device: str, size: str) -> Optional[str]:
    """Why ``device`` cannot run ``size``, or None."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        return f"device {device!r} is not a device (use one of {', '.join(DEVICES)})"
    if dev.type == "cpu":
        return None
    if dev.type == "mps":
        return None if torch.backends.mps.is_available() else "no Apple GPU (mps) on this machine; use --device cpu"
    if dev.type != "cuda":
        return f"device {device} is not supported (use one of {', '.join(DEVICES)})"
    total = cuda_memory(dev, device, "slowly")
    if isinstance(total, str):
        return total
    if total < GPU_BYTES[size]:
        return f"{device} has {total / 2**30:.1f} GiB, MMAudio {size} needs about {GPU_BYTES[size] / 2**30:.0f} GiB"
    return None


def dtype_for(device: str, precision: Optional[str]):
    """bf16 on CUDA where supported (else fp16), fp16 on mps, fp32 on the CPU, unless ``precision`` says."""
    import torch

    names = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    if precision:
        if precision not in names:
            raise BackendError(f"precision must be one of {', '.join(names)}, got {precision!r}")
        return names[precision]
    kind = torch.device(device).type
    if kind == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float16 if kind == "mps" else torch.float32


class MMAudioBackend(Backend):
    name = "mmaudio"
    description = "MMAudio (CVPR 2025), neural Foley from video + text, 8-s windows resampled to 48 kHz; local weights"
    licence = (f"code Apache-2.0 (ours; the reference's is {CODE_LICENCE}); weights {WEIGHTS_LICENCE}, "
               f"no territorial exclusion")
    licence_notice = LICENCE_LINE
    stems = STEMS_BY_PASSES
    sample_rate = SAMPLE_RATE
    channels = 1  # the vocoders are mono
    native_window = NATIVE_WINDOW
    overlap = OVERLAP
    independent_windows = True
    frame_specs = frame_specs()
    device = "auto"
    options = (
        BackendOption("size", str, f"MMAudio model (default {DEFAULT_SIZE})", choices=SIZES, scope="load"),
        BackendOption("models_dir", str, "models folder (default: $FOLEY_MODELS_DIR or the per-user data folder)",
                      scope="load", metavar="DIR"),
        BackendOption("precision", str, "weights and activations: bf16/fp16 (GPU default), fp32 (CPU default)",
                      choices=("bf16", "fp16", "fp32"), scope="load"),
        BackendOption("steps", int, "Euler flow steps (default 25)", metavar="N"),
        BackendOption("guidance", float, "classifier-free guidance strength (default 4.5; below 1 disables)",
                      metavar="SCALE"),
    )

    def __init__(self, device: Optional[str] = None, size: Optional[str] = None, models_dir: Optional[str] = None,
                 precision: Optional[str] = None, steps: Optional[int] = None, guidance: Optional[float] = None,
                 pipeline=None, **options):
        from .pipeline import DEFAULT_GUIDANCE, DEFAULT_STEPS, MMAudioPipeline

        self.size = check_size(size)
        self.steps, self.guidance = sampling(steps, guidance, DEFAULT_STEPS, DEFAULT_GUIDANCE)
        self.options = dict(options)
        if pipeline is None:
            self.device = resolve_device(device)
            problem = device_problem(self.device, self.size)
            if problem:
                raise BackendError(problem)
            folder = mmaudio_dir(models_dir)
            require_files(folder, self.size, models_dir)
            pipeline = MMAudioPipeline.from_folder(folder, self.size, self.device, dtype_for(self.device, precision))
        else:
            self.device = str(pipeline.device)
        self.pipeline = pipeline
        self.frame_specs = frame_specs(pipeline.clip.image_size, pipeline.synchformer.config.image_size)
        self.load_notices = [line for part in (pipeline.network, pipeline.vae, pipeline.vocoder, pipeline.synchformer)
                             for line in getattr(part, "load_notices", [])]

    @classmethod
    def availability(cls, **options) -> Availability:
        if options.get("pipeline") is not None:
            return Availability(True)
        reason = missing_packages(PACKAGES)
        if reason:
            return Availability(False, reason)
        try:
            size = check_size(options.get("size"))
        except BackendError as exc:
            return Availability(False, str(exc))
        folder = mmaudio_dir(options.get("models_dir"))
        reason = missing_weights(folder, missing(folder, size), download_hint(size, options.get("models_dir")))
        if reason:
            return Availability(False, reason)
        reason = device_problem(resolve_device(options.get("device")), size)
        return Availability(False, reason) if reason else Availability(True)

    def generate(self, request: WindowRequest) -> np.ndarray:
        if request.sample_rate != self.sample_rate:
            raise BackendError(f"mmaudio renders at {self.sample_rate} Hz, got a request at {request.sample_rate} Hz")
        opts = request.options
        audio = self.pipeline.generate(
            request.frames["clip"].images, request.frames["sync"].images, request.num_samples,
            request.prompt, request.negative_prompt, seed=request.seed,
            steps=int(opts.get("steps", self.steps)), guidance=float(opts.get("guidance", self.guidance)),
            out_rate=self.sample_rate)
        return audio[:, None]

    def close(self) -> None:
        self.pipeline = None
        release_gpu_cache()

    def describe(self) -> dict:
        out = super().describe()
        pipeline = self.pipeline
        out.update(size=self.size, steps=self.steps, guidance=self.guidance, licence=self.licence,
                   model_rate=getattr(pipeline, "sample_rate", None),
                   dtype=str(getattr(pipeline, "dtype", "")).removeprefix("torch."),
                   load_notices=list(self.load_notices))
        return out
